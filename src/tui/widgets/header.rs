//! The header line (what runs, for how long, under which load) and the
//! footer (what the last key did, and the keys).

use crate::metrics::Role;
use crate::tui::app::{App, MessageKind};
use crate::words::{clock, count};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn render_header(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let s = &app.snapshot;
    let mut spans = vec![Span::styled(" GRABSTORM ", theme.alarm()), Span::raw(" ")];
    let mut facts = Vec::new();
    if !s.run_id.is_empty() {
        facts.push(format!("run {}", s.run_id));
    }
    if !s.backend.is_empty() {
        facts.push(s.backend.clone());
    }
    facts.push(clock(s.elapsed_ms));
    facts.push(format!(
        "{} × {} grabbers",
        app.workload(),
        count(app.grabbers() as u64)
    ));
    if let Some(sc) = &app.scenario {
        facts.push(format!("scenario {sc}"));
    }
    if area.width >= 100 {
        facts.push(format!("seed {}", s.seed));
    }
    spans.push(Span::raw(facts.join(" · ")));
    if app.failover_in_progress() {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(" ⚠ FAILOVER ", theme.alarm()));
    }
    if s.load.done {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(" ■ LOAD FINISHED ", theme.warn()));
    } else if app.load_paused() {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(" ‖ LOAD PAUSED ", theme.warn()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The keys, as many as fit in `width`.
fn key_hints(app: &App, width: u16) -> Line<'static> {
    let theme = app.theme;
    let cluster = app.is_cluster();
    let long: &[(&str, &str)] = &[
        ("s", "segfault"),
        ("x", "shutdown"),
        ("k", "kill"),
        ("p", "pause"),
        ("n", "partition"),
        ("r", "restart"),
        ("Tab", "node"),
        ("w", "workload"),
        ("+/-", "grabbers"),
        ("Space", "load"),
        ("?", "help"),
        ("q", "quit"),
    ];
    let cluster_long: &[(&str, &str)] = &[
        ("s", "segfault"),
        ("k", "kill"),
        ("p", "pause"),
        ("n", "partition"),
        ("r", "restart"),
        ("f", "failover"),
        ("Tab", "node"),
        ("w", "workload"),
        ("+/-", "grabbers"),
        ("Space", "load"),
        ("?", "help"),
        ("q", "quit"),
    ];
    let short: &[(&str, &str)] = &[
        (
            if cluster {
                "s x k p n r f"
            } else {
                "s x k p n r"
            },
            "faults",
        ),
        ("Tab", "select"),
        ("w + - Space", "load"),
        ("?", "help"),
        ("q", "quit"),
    ];
    let end: &[(&str, &str)] = &[("↑/↓", "scroll"), ("q", "leave")];
    // Lesson mode: the teacher's keys first.
    let lesson_long: &[(&str, &str)] = &[
        ("Space", "stop/go clock"),
        ("n", "next step"),
        ("a", "all events"),
        ("l", "lesson off"),
        ("s", "segfault"),
        ("r", "restart"),
        ("?", "help"),
        ("q", "quit"),
    ];
    let lesson_short: &[(&str, &str)] = &[
        ("Space", "clock"),
        ("n", "next step"),
        ("a", "all"),
        ("l", "lesson"),
        ("?", "help"),
        ("q", "quit"),
    ];
    let lesson = app.report.is_none() && app.in_lesson();
    let long = match (app.report.is_some(), cluster) {
        (true, _) => end,
        _ if lesson => lesson_long,
        (false, true) => cluster_long,
        (false, false) => long,
    };
    let short = if lesson { lesson_short } else { short };
    let long_len: usize = long.iter().map(|(k, d)| k.len() + d.len() + 2).sum();
    // The short list has room to breathe: two spaces between groups.
    let (keys, gap) = if long_len <= width as usize {
        (long, " ")
    } else {
        (short, "  ")
    };
    let mut spans = Vec::new();
    for (k, d) in keys {
        spans.push(Span::styled(format!("{gap}{k}"), theme.key()));
        spans.push(Span::raw(format!(" {d}")));
    }
    Line::from(spans)
}

pub fn render_footer(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    if app.report.is_some() {
        let first = Line::from(vec![
            Span::styled(" the run is over ", theme.selected()),
            Span::styled(" report.json and report.md have it all", theme.dim()),
        ]);
        let lines = vec![first, key_hints(app, area.width)];
        frame.render_widget(Paragraph::new(lines), area);
        return;
    }
    // In Cluster mode `master` is shard 1's.
    let master = if app.is_cluster() {
        "master-1"
    } else {
        "master"
    };
    let target = match &app.selected {
        Some(n) => format!("target {n}"),
        None => match app.master() {
            Some(m) => format!("target {master} ({m})"),
            None => format!("target {master}"),
        },
    };
    let mut first = vec![
        Span::styled(format!(" {target} "), theme.selected()),
        Span::raw(" "),
    ];
    if let Some(m) = &app.message {
        let (mark, style) = match m.kind {
            MessageKind::Pending => ("…", Style::new()),
            MessageKind::Done => ("✓", theme.ok()),
            MessageKind::Failed => ("✗", theme.bad()),
            MessageKind::Info => ("·", theme.dim()),
        };
        first.push(Span::styled(format!("{mark} {}", m.text), style));
    } else if app
        .snapshot
        .topology
        .nodes
        .iter()
        .any(|n| n.role == Role::Master)
    {
        first.push(Span::styled(
            "press s to crash the master, ? for every key",
            theme.dim(),
        ));
    }
    let lines = vec![Line::from(first), key_hints(app, area.width)];
    frame.render_widget(Paragraph::new(lines), area);
}
