//! The help overlay: every key and what the symbols mean (with Cluster
//! mode's own key and marks in Cluster mode).

use crate::tui::app::App;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

/// Every key the dashboard answers, with what it does.
pub const KEYS: &[(&str, &str)] = &[
    ("s", "segfault the target (DEBUG SEGFAULT)"),
    ("x", "shut the target down (SHUTDOWN NOSAVE)"),
    ("k", "kill the target (SIGKILL)"),
    ("p", "pause the target / thaw a paused node"),
    ("n", "partition the target / heal (Docker only)"),
    ("r", "restart dead nodes (or the selected one)"),
    ("Tab ↓ ↑", "select a node; faults then act on it"),
    ("Esc", "clear the selection: target the master"),
    ("w", "cycle the workload"),
    ("+ / -", "double / halve the grabbers"),
    ("Space", "pause / resume the load"),
    ("?", "this help (any key closes it)"),
    ("q Ctrl-C", "quit: stop the load, remove the topology"),
];

/// Lesson mode's keys (a scenario plays), after the general ones: Space
/// and `n` mean something else there.
pub const LESSON_KEYS: &[(&str, &str)] = &[
    ("l", "lesson mode on / off"),
    (
        "Space",
        "in a lesson: stop / restart the clock and the load",
    ),
    ("n", "in a lesson: play the next step now (not partition)"),
    ("a", "in a lesson: every event / the key events only"),
];

/// Cluster mode's own keys, after the Tab line.
pub const CLUSTER_KEYS: &[(&str, &str)] =
    &[("f / F", "CLUSTER FAILOVER the selected replica (F: FORCE)")];

const CLUSTER_LEGEND: &[&str] = &[
    "bar: the shard's slots of 0-16383   epoch: its config epoch",
    "PFAIL(n): n nodes lost it   FAIL: agreed down   /s: answered",
];

const LEGEND: &[&str] = &[
    "▲ MASTER  · replica  ◆ sentinel   ✓ up  ? SDOWN (one sentinel)",
    "✗ ODOWN (agreed)  ✗ DOWN  ‖ PAUSED  ⌁ PARTITIONED",
    "!! a safety violation   F fault  ═ failover  S master switch",
];

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let cluster = app.is_cluster();
    let mut lines = Vec::new();
    for (i, (k, what)) in KEYS.iter().enumerate() {
        lines.push(Line::from(vec![
            Span::styled(format!(" {k:<9}"), theme.key()),
            Span::raw(*what),
        ]));
        // Cluster keys right after the faults and the selection.
        if cluster && KEYS.get(i + 1).is_some_and(|(k, _)| *k == "Esc") {
            for (k, what) in CLUSTER_KEYS {
                lines.push(Line::from(vec![
                    Span::styled(format!(" {k:<9}"), theme.key()),
                    Span::raw(*what),
                ]));
            }
        }
    }
    if app.lesson.is_some() {
        for (k, what) in LESSON_KEYS {
            lines.push(Line::from(vec![
                Span::styled(format!(" {k:<9}"), theme.key()),
                Span::raw(*what),
            ]));
        }
    }
    lines.push(Line::raw(""));
    let legend: Vec<&str> = if cluster {
        LEGEND.iter().chain(CLUSTER_LEGEND).copied().collect()
    } else {
        LEGEND.to_vec()
    };
    for l in &legend {
        lines.push(Line::from(Span::styled(format!(" {l}"), theme.dim())));
    }
    let widest = lines
        .iter()
        .map(|l| l.width() + 1)
        .chain(legend.iter().map(|l| l.chars().count() + 2))
        .max()
        .unwrap_or(40);
    let width = (widest as u16 + 2).min(area.width);
    let height = (lines.len() as u16 + 2).min(area.height);
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(super::panel("Keys (any key closes)", theme)),
        popup,
    );
}
