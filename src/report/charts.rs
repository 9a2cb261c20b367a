//! Charts of a finished run, drawn with plotters into PNG (bitmap backend)
//! and SVG from the same drawing code: throughput and errors over time with
//! fault and failover marks, the latency histogram, and red-packet fairness
//! by grab position against the equal-mean line; and the ring lab's keys
//! per server and keys moved per scheme ([`write_ring_charts`]).
//!
//! PNG text needs a font and plotters is built without fontconfig, so
//! DejaVu Sans is embedded (`assets/fonts/`, with its license) and
//! registered once as the `sans-serif` family.

use crate::metrics::event::{Event, EventKind};
use crate::metrics::snapshot::{LatencyBucket, LatencySummary, PositionStats, ThroughputPoint};
use crate::words::latency;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (1200, 600);

const OK_COLOUR: RGBColor = RGBColor(31, 119, 180);
const ERROR_COLOUR: RGBColor = RGBColor(214, 39, 40);
const FAULT_COLOUR: RGBColor = RGBColor(148, 0, 211);
const SWITCH_COLOUR: RGBColor = RGBColor(44, 160, 44);
const WINDOW_COLOUR: RGBColor = RGBColor(255, 187, 120);

/// Why a chart could not be drawn; names the file.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("drawing {file}: {message}")]
    Draw { file: PathBuf, message: String },
    #[error("the embedded chart font could not be loaded")]
    Font,
}

fn register_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ChartError::Font)
    }
}

/// A moment marked on the throughput chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub at_s: f64,
    pub label: String,
    pub kind: MarkKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// A fault injected (or healed).
    Fault,
    /// The sentinels switched the master.
    Switch,
}

/// A failover window: from the fault to `+switch-master`, shaded.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub from_s: f64,
    pub to_s: f64,
}

/// What the throughput chart shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThroughputChart {
    pub points: Vec<ThroughputPoint>,
    pub marks: Vec<Mark>,
    pub windows: Vec<Window>,
}

impl ThroughputChart {
    /// The series plus marks read off the timeline: every fault, the first
    /// `+switch-master` after it (sentinels each announce it; one mark is
    /// enough), and the window between the two.
    pub fn from_run(points: &[ThroughputPoint], events: &[Event]) -> ThroughputChart {
        let mut marks = Vec::new();
        let mut windows = Vec::new();
        let mut open_fault: Option<f64> = None;
        let mut last_switch: Option<f64> = None;
        for e in events {
            let at_s = e.at_ms as f64 / 1000.0;
            match &e.kind {
                EventKind::FaultInjected { fault, node } => {
                    marks.push(Mark {
                        at_s,
                        label: format!("{fault} {node}"),
                        kind: MarkKind::Fault,
                    });
                    if matches!(
                        fault.as_str(),
                        "segfault" | "shutdown" | "shutdown-save" | "kill" | "pause" | "partition"
                    ) {
                        open_fault.get_or_insert(at_s);
                    }
                }
                EventKind::FaultHealed { fault, node } => marks.push(Mark {
                    at_s,
                    label: format!("{fault} ended {node}"),
                    kind: MarkKind::Fault,
                }),
                EventKind::Sentinel { name, .. } if name == "+switch-master" => {
                    if last_switch.is_some_and(|t| at_s - t < 2.0) {
                        continue;
                    }
                    last_switch = Some(at_s);
                    marks.push(Mark {
                        at_s,
                        label: "+switch-master".into(),
                        kind: MarkKind::Switch,
                    });
                    if let Some(from_s) = open_fault.take() {
                        windows.push(Window { from_s, to_s: at_s });
                    }
                }
                _ => {}
            }
        }
        ThroughputChart {
            points: points.to_vec(),
            marks,
            windows,
        }
    }
}

/// What the latency chart shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencyChart {
    pub buckets: Vec<LatencyBucket>,
    pub summary: LatencySummary,
}

/// What the fairness chart shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FairnessChart {
    pub positions: Vec<PositionStats>,
    pub expected_mean_cents: f64,
}

type DrawResult<E> = Result<(), DrawingAreaErrorKind<E>>;

fn text_style(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().into()
}

fn draw_throughput<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &ThroughputChart,
) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let end_s = chart
        .points
        .iter()
        .map(|p| p.t_s as f64 + 1.0)
        .chain(chart.marks.iter().map(|m| m.at_s + 1.0))
        .fold(10.0f64, f64::max);
    let top = chart
        .points
        .iter()
        .map(|p| p.ok.max(p.errors) as f64)
        .fold(10.0f64, f64::max)
        * 1.2;
    let mut c = ChartBuilder::on(root)
        .caption("Throughput and errors over time", text_style(26.0))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..end_s, 0f64..top)?;
    c.configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("operations per second")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .axis_desc_style(text_style(18.0))
        .label_style(text_style(14.0))
        .draw()?;
    for w in &chart.windows {
        c.draw_series(std::iter::once(Rectangle::new(
            [(w.from_s, 0.0), (w.to_s, top)],
            WINDOW_COLOUR.mix(0.35).filled(),
        )))?;
    }
    let series = |f: fn(&ThroughputPoint) -> u64| -> Vec<(f64, f64)> {
        chart
            .points
            .iter()
            .map(|p| (p.t_s as f64 + 0.5, f(p) as f64))
            .collect()
    };
    c.draw_series(LineSeries::new(series(|p| p.ok), OK_COLOUR.stroke_width(2)))?
        .label("successful ops/s")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], OK_COLOUR.stroke_width(2)));
    c.draw_series(LineSeries::new(
        series(|p| p.errors),
        ERROR_COLOUR.stroke_width(2),
    ))?
    .label("errors/s")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ERROR_COLOUR.stroke_width(2)));
    if !chart.windows.is_empty() {
        c.draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
            .label("failover: fault to +switch-master")
            .legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 6), (x + 20, y + 6)],
                    WINDOW_COLOUR.mix(0.6).filled(),
                )
            });
    }
    // Labels alternate between two heights so close marks stay readable.
    for (i, m) in chart.marks.iter().enumerate() {
        let colour = match m.kind {
            MarkKind::Fault => FAULT_COLOUR,
            MarkKind::Switch => SWITCH_COLOUR,
        };
        c.draw_series(DashedLineSeries::new(
            vec![(m.at_s, 0.0), (m.at_s, top)],
            6,
            4,
            colour.stroke_width(2),
        ))?;
        let y = top * if i % 2 == 0 { 0.97 } else { 0.90 };
        // A little right of the line, so the label does not sit on it.
        c.draw_series(std::iter::once(Text::new(
            m.label.clone(),
            (m.at_s + end_s * 0.004, y),
            text_style(14.0).color(&colour),
        )))?;
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(text_style(14.0))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// A point of the log-scale latency axis (microseconds, not always whole)
/// in the words every latency is written in.
fn axis_latency(us: f64) -> String {
    latency(us.max(0.0).round() as u64)
}

fn draw_latency<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &LatencyChart,
) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    // Bars on a log10(µs) axis: bucket i spans (upper of i-1, upper of i].
    let bars: Vec<(f64, f64, u64)> = chart
        .buckets
        .iter()
        .scan(None::<u64>, |prev, b| {
            let lo = prev.unwrap_or(b.upper_us / 2).max(1);
            *prev = Some(b.upper_us);
            Some((
                (lo as f64).log10(),
                (b.upper_us.max(lo + 1) as f64).log10(),
                b.count,
            ))
        })
        .filter(|(_, _, n)| *n > 0)
        .collect();
    let (x_lo, x_hi) = bars
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), (a, b, _)| {
            (lo.min(*a), hi.max(*b))
        });
    let (x_lo, x_hi) = if bars.is_empty() {
        (1.0, 6.0)
    } else {
        (x_lo.floor(), x_hi.ceil().max(x_lo.floor() + 1.0))
    };
    let top = bars.iter().map(|b| b.2).max().unwrap_or(10).max(10) as f64 * 1.15;
    let mut c = ChartBuilder::on(root)
        .caption(
            format!("Latency of all operations ({} ops)", chart.summary.count),
            text_style(26.0),
        )
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(x_lo..x_hi, 0f64..top)?;
    let fmt_x = |x: &f64| axis_latency(10f64.powf(*x));
    c.configure_mesh()
        .x_desc("latency (log scale)")
        .y_desc("operations")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_labels(((x_hi - x_lo) as usize * 2).max(4))
        .x_label_formatter(&fmt_x)
        .axis_desc_style(text_style(18.0))
        .label_style(text_style(14.0))
        .draw()?;
    c.draw_series(bars.iter().map(|(a, b, n)| {
        Rectangle::new([(*a, 0.0), (*b, *n as f64)], OK_COLOUR.mix(0.8).filled())
    }))?;
    let s = &chart.summary;
    let lines = [
        ("p50", s.p50_us, SWITCH_COLOUR),
        ("p99", s.p99_us, FAULT_COLOUR),
        ("p99.9", s.p999_us, ERROR_COLOUR),
    ];
    for (i, (name, us, colour)) in lines.iter().enumerate() {
        if *us == 0 {
            continue;
        }
        let x = (*us as f64).log10();
        c.draw_series(DashedLineSeries::new(
            vec![(x, 0.0), (x, top)],
            6,
            4,
            colour.stroke_width(2),
        ))?;
        c.draw_series(std::iter::once(Text::new(
            format!("{name} {}", latency(*us)),
            (x + (x_hi - x_lo) * 0.005, top * (0.97 - 0.06 * i as f64)),
            text_style(15.0).color(colour),
        )))?;
    }
    Ok(())
}

fn draw_fairness<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &FairnessChart,
) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let n = chart
        .positions
        .iter()
        .map(|p| p.position)
        .max()
        .unwrap_or(1)
        .max(1);
    let yuan = |cents: f64| cents / 100.0;
    let top = chart
        .positions
        .iter()
        .map(|p| yuan(p.mean_cents + p.stdev_cents))
        .fold(yuan(chart.expected_mean_cents) * 2.0, f64::max)
        .max(0.01)
        * 1.15;
    let mut c = ChartBuilder::on(root)
        .caption(
            "Red packets: mean amount by grab position (bars: ±1 stdev)",
            text_style(26.0),
        )
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(0.5f64..(n as f64 + 0.5), 0f64..top)?;
    let fmt_x = |x: &f64| {
        if (x.fract()).abs() < 1e-9 && *x >= 1.0 {
            format!("{}", *x as i64)
        } else {
            String::new()
        }
    };
    c.configure_mesh()
        .x_desc("grab position (1 = first to grab)")
        .y_desc("amount (yuan)")
        .y_label_formatter(&|v| format!("{v:.2}"))
        .x_labels(n.min(40) + 1)
        .x_label_formatter(&fmt_x)
        .axis_desc_style(text_style(18.0))
        .label_style(text_style(14.0))
        .draw()?;
    let eq = yuan(chart.expected_mean_cents);
    c.draw_series(DashedLineSeries::new(
        vec![(0.5, eq), (n as f64 + 0.5, eq)],
        8,
        5,
        ERROR_COLOUR.stroke_width(2),
    ))?
    .label(format!("equal mean = {eq:.2}"))
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ERROR_COLOUR.stroke_width(2)));
    // Error bars: a vertical line from mean - stdev to mean + stdev with caps.
    let cap = 0.12;
    c.draw_series(chart.positions.iter().map(|p| {
        let x = p.position as f64;
        let lo = yuan((p.mean_cents - p.stdev_cents).max(0.0));
        let hi = yuan(p.mean_cents + p.stdev_cents);
        PathElement::new(
            vec![
                (x - cap, lo),
                (x + cap, lo),
                (x, lo),
                (x, hi),
                (x - cap, hi),
                (x + cap, hi),
            ],
            OK_COLOUR.stroke_width(2),
        )
    }))?
    .label("measured mean ± stdev")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], OK_COLOUR.stroke_width(2)));
    c.draw_series(chart.positions.iter().map(|p| {
        Circle::new(
            (p.position as f64, yuan(p.mean_cents)),
            5,
            OK_COLOUR.filled(),
        )
    }))?;
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(text_style(15.0))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Draws one chart into `DIR/NAME.png` and `DIR/NAME.svg`.
macro_rules! render_both {
    ($dir:expr, $name:expr, $draw:ident, $data:expr) => {{
        let png = $dir.join(format!("{}.png", $name));
        let svg = $dir.join(format!("{}.svg", $name));
        let fail = |file: &Path, e: &dyn std::fmt::Display| ChartError::Draw {
            file: file.to_path_buf(),
            message: e.to_string(),
        };
        {
            let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
            $draw(&root, $data).map_err(|e| fail(&png, &e))?;
            root.present().map_err(|e| fail(&png, &e))?;
        }
        {
            let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
            $draw(&root, $data).map_err(|e| fail(&svg, &e))?;
            root.present().map_err(|e| fail(&svg, &e))?;
        }
        Ok::<_, ChartError>(vec![png, svg])
    }};
}

/// Writes `throughput.{png,svg}`.
pub fn write_throughput(dir: &Path, chart: &ThroughputChart) -> Result<Vec<PathBuf>, ChartError> {
    register_font()?;
    render_both!(dir, "throughput", draw_throughput, chart)
}

/// Writes `latency.{png,svg}`.
pub fn write_latency(dir: &Path, chart: &LatencyChart) -> Result<Vec<PathBuf>, ChartError> {
    register_font()?;
    render_both!(dir, "latency", draw_latency, chart)
}

/// Writes `fairness.{png,svg}`.
pub fn write_fairness(dir: &Path, chart: &FairnessChart) -> Result<Vec<PathBuf>, ChartError> {
    register_font()?;
    render_both!(dir, "fairness", draw_fairness, chart)
}

// After `render_both!`: the ring lab's charts draw with it and the same look.
mod ring;
pub use ring::write_ring_charts;

/// Writes every chart a finished run has data for into `dir`: throughput
/// and latency always, fairness when the run had red packets.
pub fn write_report_charts(
    report: &crate::report::model::Report,
    dir: &Path,
) -> Result<Vec<PathBuf>, ChartError> {
    let mut files = write_throughput(
        dir,
        &ThroughputChart::from_run(&report.throughput, &report.events),
    )?;
    files.extend(write_latency(
        dir,
        &LatencyChart {
            buckets: report.latency_buckets.clone(),
            summary: report.latency.clone(),
        },
    )?);
    if let Some(rp) = report
        .redpacket
        .as_ref()
        .filter(|rp| !rp.by_position.is_empty())
    {
        files.extend(write_fairness(
            dir,
            &FairnessChart {
                positions: rp.by_position.clone(),
                expected_mean_cents: rp.expected_mean_cents,
            },
        )?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at_ms: u64, kind: EventKind) -> Event {
        Event {
            at_ms,
            source: "lab".into(),
            kind,
        }
    }

    #[test]
    fn marks_take_one_switch_per_failover_and_shade_the_window() {
        let switch = |at| {
            event(
                at,
                EventKind::Sentinel {
                    name: "+switch-master".into(),
                    payload: String::new(),
                },
            )
        };
        let events = vec![
            event(
                5000,
                EventKind::FaultInjected {
                    fault: "segfault".into(),
                    node: "redis-1".into(),
                },
            ),
            switch(7450),
            switch(7460),
            switch(7500),
        ];
        let c = ThroughputChart::from_run(&[], &events);
        assert_eq!(c.marks.len(), 2);
        assert_eq!(c.marks[0].label, "segfault redis-1");
        assert_eq!(
            c.windows,
            vec![Window {
                from_s: 5.0,
                to_s: 7.45
            }]
        );
    }

    #[test]
    fn microseconds_format_in_the_natural_unit() {
        assert_eq!(axis_latency(250.0), "250us");
        assert_eq!(axis_latency(1500.0), "1.50ms");
        assert_eq!(axis_latency(2_000_000.0), "2.00s");
        // 10^3 computed in floating point is not always exactly 1000.
        assert_eq!(axis_latency(999.999_9), "1.00ms");
    }

    /// A run shaped like a segfault failover: steady, an outage, recovery.
    fn sample() -> (ThroughputChart, LatencyChart, FairnessChart) {
        let points: Vec<ThroughputPoint> = (0..25u64)
            .map(|t| {
                let down = (5..8).contains(&t);
                ThroughputPoint {
                    t_s: t,
                    ok: if down { 40 } else { 9000 + (t * 37) % 500 },
                    errors: if down { 2500 } else { 0 },
                    writes_ok: if down { 0 } else { 9000 },
                    ..Default::default()
                }
            })
            .collect();
        let events = vec![
            Event {
                at_ms: 5000,
                source: "lab".into(),
                kind: EventKind::FaultInjected {
                    fault: "segfault".into(),
                    node: "redis-1".into(),
                },
            },
            Event {
                at_ms: 7450,
                source: "sentinel-2".into(),
                kind: EventKind::Sentinel {
                    name: "+switch-master".into(),
                    payload: String::new(),
                },
            },
        ];
        let buckets = (0..20u32)
            .map(|i| LatencyBucket {
                upper_us: 50 * 2u64.pow(i / 2) * if i % 2 == 1 { 3 } else { 2 } / 2,
                count: [
                    1, 5, 40, 300, 2000, 9000, 15000, 8000, 3000, 900, 300, 100, 40, 20, 8, 4, 2,
                    1, 0, 1,
                ][i as usize],
            })
            .collect();
        let positions = (1..=10)
            .map(|p| PositionStats {
                position: p,
                grabs: 2000,
                mean_cents: 1000.0 + (p as f64 - 5.5) * 3.0,
                stdev_cents: 300.0 + p as f64 * 40.0,
                luck_king_share: 0.1,
            })
            .collect();
        (
            ThroughputChart::from_run(&points, &events),
            LatencyChart {
                buckets,
                summary: LatencySummary {
                    count: 38721,
                    p50_us: 900,
                    p90_us: 2500,
                    p99_us: 9000,
                    p999_us: 40000,
                    max_us: 120_000,
                },
            },
            FairnessChart {
                positions,
                expected_mean_cents: 1000.0,
            },
        )
    }

    #[test]
    fn charts_are_valid_png_and_svg_with_labels_and_marks() {
        let dir = tempfile::tempdir().unwrap();
        let (t, l, f) = sample();
        let mut files = write_throughput(dir.path(), &t).unwrap();
        files.extend(write_latency(dir.path(), &l).unwrap());
        files.extend(write_fairness(dir.path(), &f).unwrap());
        assert_eq!(files.len(), 6);
        for png in files.iter().filter(|p| p.extension().unwrap() == "png") {
            let bytes = std::fs::read(png).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", png.display());
            assert!(bytes.len() > 10_000, "{} is nearly empty", png.display());
        }
        let svg = std::fs::read_to_string(dir.path().join("throughput.svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        for text in [
            "time since start (s)",
            "operations per second",
            "segfault redis-1",
            "+switch-master",
        ] {
            assert!(svg.contains(text), "throughput.svg lacks {text:?}");
        }
        let svg = std::fs::read_to_string(dir.path().join("fairness.svg")).unwrap();
        assert!(svg.contains("equal mean = 10.00"));
        let svg = std::fs::read_to_string(dir.path().join("latency.svg")).unwrap();
        assert!(svg.contains("p99 9.00ms"));
        if let Some(keep) = std::env::var_os("GRABSTORM_KEEP_CHARTS") {
            for p in &files {
                std::fs::copy(p, std::path::Path::new(&keep).join(p.file_name().unwrap())).unwrap();
            }
        }
    }
}
