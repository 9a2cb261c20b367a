//! Lesson mode's failover phase strip: while a failover runs, its phases
//! in the order they happen (fault → +sdown → +odown → leader elected →
//! +switch-master → client writing again → old master converted; in
//! Cluster mode PFAIL → FAIL → replica promoted → writing again → cluster
//! ok), each marked `[x]` with its time since the fault once it happened
//! and `[ ]` while pending, so nothing rests on colour. The phases are the
//! report's own measurement ([`failovers`]), read from the dashboard's
//! timeline: the strip and report.md cannot disagree.

use super::panel;
use crate::metrics::failover::{failovers, Failover, LostAckedWrites};
use crate::tui::app::App;
use crate::words::{at, secs};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

/// How long a failover stays on the strip once every phase happened.
const LINGER_MS: u64 = 15_000;
/// How long a failover with phases still pending stays on the strip.
const PENDING_MS: u64 = 120_000;

/// The failover the strip shows: the last fault on a master, while it is
/// recent (phases pending, or the last one not long ago). Measured again
/// only when the timeline or the snapshot changed since the last frame.
pub fn current(app: &App) -> Option<Failover> {
    let key = (
        app.events.len(),
        app.events.back().map(|e| e.at_ms),
        app.snapshot.elapsed_ms,
    );
    if let Some((measured_at, row)) = &*app.phase_strip.borrow() {
        if *measured_at == key {
            return row.clone();
        }
    }
    let row = measure(app);
    *app.phase_strip.borrow_mut() = Some((key, row.clone()));
    row
}

/// [`current`], measured from the dashboard's timeline.
fn measure(app: &App) -> Option<Failover> {
    let topology = app.topology.as_deref()?;
    let events: Vec<_> = app.events.iter().cloned().collect();
    let row = failovers(
        &events,
        &app.snapshot.throughput,
        topology,
        &LostAckedWrites::default(),
    )
    .pop()?;
    let now = app
        .snapshot
        .elapsed_ms
        .max(events.last().map_or(0, |e| e.at_ms));
    let since = now.saturating_sub(row.at_ms);
    let list = phases(&row, app.is_cluster());
    let all_done = list.iter().all(|(_, ms)| ms.is_some());
    let last = list.iter().filter_map(|(_, ms)| *ms).max().unwrap_or(0);
    let shown = if all_done {
        since < last + LINGER_MS
    } else {
        since < PENDING_MS
    };
    shown.then_some(row)
}

/// The phases of `f` with their times since the fault (None: pending).
pub fn phases(f: &Failover, cluster: bool) -> Vec<(&'static str, Option<u64>)> {
    if cluster {
        vec![
            ("fault", Some(0)),
            ("PFAIL", f.pfail_ms),
            ("FAIL", f.fail_ms),
            ("replica promoted", f.promoted_ms),
            ("writing again", f.client_recovered_ms),
            ("cluster ok", f.state_ok_ms),
        ]
    } else {
        vec![
            ("fault", Some(0)),
            ("+sdown", f.sdown_ms),
            ("+odown", f.odown_ms),
            ("leader elected", f.elected_ms),
            ("+switch-master", f.switch_ms),
            ("writing again", f.client_recovered_ms),
            ("old master converted", f.old_master_rejoined_ms),
        ]
    }
}

/// The strip's lines at `width` columns: each phase kept whole on a line.
fn lines(app: &App, f: &Failover, width: u16) -> Vec<Line<'static>> {
    let theme = app.theme;
    let width = usize::from(width.max(20));
    let mut lines = Vec::new();
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for (i, (name, ms)) in phases(f, app.is_cluster()).into_iter().enumerate() {
        let (text, style) = match ms {
            Some(ms) => (format!("[x] {name} {}", secs(ms)), theme.ok()),
            None => (format!("[ ] {name}"), theme.dim()),
        };
        let arrow = if i > 0 { " → " } else { "" };
        let len = arrow.chars().count() + text.chars().count();
        if used > 0 && used + len > width {
            lines.push(Line::from(std::mem::take(&mut spans)));
            used = 0;
        }
        if used > 0 {
            spans.push(Span::styled(arrow, theme.dim()));
            used += arrow.chars().count();
        }
        used += text.chars().count();
        spans.push(Span::styled(text, style));
    }
    lines.push(Line::from(spans));
    // No "why no failover" line: mid-run it would be said as if the run
    // had ended; a pending phase says "not yet" instead.
    lines
}

fn paragraph(app: &App, f: &Failover, width: u16) -> Paragraph<'static> {
    Paragraph::new(lines(app, f, width)).wrap(Wrap { trim: true })
}

/// Rows the strip of `f` ([`current`]) wants at `width`.
pub fn height(app: &App, f: &Failover, width: u16) -> u16 {
    let inner = width.saturating_sub(2);
    paragraph(app, f, inner).line_count(inner) as u16 + 2
}

/// The strip of `f` ([`current`]).
pub fn render(app: &App, f: &Failover, frame: &mut Frame, area: Rect) {
    let title = format!(
        "Failover of {} ({} at {})",
        f.old_master,
        f.fault,
        at(f.at_ms)
    );
    frame.render_widget(
        paragraph(app, f, area.width.saturating_sub(2)).block(panel(&title, app.theme)),
        area,
    );
}
