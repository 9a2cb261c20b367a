//! How fast the dashboard draws, for `grabstorm bench --tui` and the quality
//! bar (at least 20 frames/s with 10,000 grabbers on 2 cores). Frames are
//! drawn into ratatui's `TestBackend`, so the number is the cost of building
//! the frame, without the terminal's own output.

use super::app::App;
use super::run::{self, Feeds, Outcome};
use super::theme::Theme;
use super::ui;
use crate::metrics::{Event, Snapshot};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Frames drawn in a measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameRate {
    pub frames: u64,
    pub elapsed: Duration,
    /// Mean time to build one frame.
    pub mean_frame: Duration,
    pub frames_per_s: f64,
}

/// Draws the same snapshot `frames` times at `cols`x`rows` as fast as it
/// can: the ceiling of the dashboard's frame rate for that state.
pub fn frame_rate(
    snapshot: Arc<Snapshot>,
    events: &[Event],
    cols: u16,
    rows: u16,
    frames: u64,
) -> FrameRate {
    let mut app = App::new(Theme::default());
    app.on_snapshot(snapshot);
    for e in events {
        app.on_event(e.clone());
    }
    app.on_resize(cols, rows);
    let mut terminal =
        Terminal::new(TestBackend::new(cols, rows)).expect("TestBackend never fails");
    let started = Instant::now();
    for _ in 0..frames {
        terminal
            .draw(|f| ui::draw(&app, f))
            .expect("TestBackend never fails");
    }
    let elapsed = started.elapsed();
    FrameRate {
        frames,
        elapsed,
        mean_frame: elapsed / frames.max(1) as u32,
        frames_per_s: frames as f64 / elapsed.as_secs_f64().max(1e-9),
    }
}

/// Runs the real dashboard loop against a live lab's feeds for `duration`
/// into a `TestBackend` (no keys pressed), capped at `fps`: the frames it
/// kept up with while the engine ran, and the time spent drawing.
pub async fn live(
    feeds: Feeds,
    cols: u16,
    rows: u16,
    fps: u32,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let mut terminal = Terminal::new(TestBackend::new(cols, rows))?;
    let (input_tx, input_rx) = mpsc::channel(1);
    // Closing the input ends the loop, as a lost terminal would.
    let close_input = async move {
        tokio::time::sleep(duration).await;
        drop(input_tx);
    };
    let app = App::new(Theme::default());
    let (outcome, ()) = tokio::join!(
        run::run(&mut terminal, app, feeds, input_rx, fps),
        close_input
    );
    outcome
}

/// What the dashboard costs the load: the same run headless and with the
/// dashboard drawing, side by side.
#[derive(Clone, Debug, PartialEq)]
pub struct DashboardCost {
    /// Mean of the headless runs before and after the dashboard run, so a
    /// warming (or filling) Redis does not bias the comparison.
    pub headless_ops_per_s: f64,
    pub dashboard_ops_per_s: f64,
    /// Frames the dashboard drew per second while the load ran.
    pub frames_per_s: f64,
    /// Mean time to build one frame during the run.
    pub mean_frame: Duration,
}

impl DashboardCost {
    /// Throughput lost to the dashboard, in percent of the headless run.
    pub fn cost_percent(&self) -> f64 {
        if self.headless_ops_per_s <= 0.0 {
            return 0.0;
        }
        (1.0 - self.dashboard_ops_per_s / self.headless_ops_per_s) * 100.0
    }
}

fn ops_per_s(report: &crate::report::model::Report) -> f64 {
    let ok: u64 = report.ops.values().map(|o| o.ok).sum();
    ok as f64 / report.duration_s.max(1e-3)
}

/// Runs `config` (which must have a duration) three times: headless, with
/// the dashboard drawing into a `TestBackend` at `fps`, headless again.
/// For `grabstorm bench --tui`; each run audits and cleans up as usual.
pub async fn dashboard_cost(
    config: crate::lab::LabConfig,
    cols: u16,
    rows: u16,
    fps: u32,
) -> anyhow::Result<DashboardCost> {
    use crate::lab::Lab;
    let duration = config
        .duration
        .ok_or_else(|| anyhow::anyhow!("the dashboard bench needs a run duration"))?;
    let headless = |config: crate::lab::LabConfig| async move {
        let lab = Lab::start(config).await?;
        lab.wait_end().await;
        let report = lab.finish().await?;
        anyhow::Ok(ops_per_s(&report))
    };
    let before = headless(config.clone()).await?;
    let lab = Lab::start(config.clone()).await?;
    let feeds = Feeds {
        snapshots: lab.snapshots(),
        timeline: Some(lab.bus().subscribe()),
        controls: run::Controls::from_fn(|_| async { anyhow::Ok(String::new()) }),
    };
    let (outcome, _) = tokio::join!(live(feeds, cols, rows, fps, duration), lab.wait_end());
    let outcome = outcome?;
    let with_dashboard = ops_per_s(&lab.finish().await?);
    let after = headless(config).await?;
    Ok(DashboardCost {
        headless_ops_per_s: (before + after) / 2.0,
        dashboard_ops_per_s: with_dashboard,
        frames_per_s: outcome.frames_per_s(),
        mean_frame: outcome.draw_time / outcome.frames.max(1) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures;

    #[test]
    fn a_busy_frame_draws_well_above_the_quality_bar() {
        let state = fixtures::after_failover();
        let rate = frame_rate(Arc::new(state.snapshot), &state.events, 120, 40, 50);
        eprintln!("frame rate at 120x40 (debug build): {rate:?}");
        // The bar is 20 frames/s; building a frame must take a small part
        // of that budget even in a debug build on a busy machine.
        assert!(rate.frames_per_s > 40.0, "{rate:?}");
    }
}
