//! The topology panel: every node with its role, health, replication offset
//! and lag, and each sentinel's view of who the master is. A failover in
//! progress shows in the title, in words, so it is seen from the back row.

use super::{fit, panel, rfit};
use crate::metrics::{Health, NodeView, Role};
use crate::tui::app::App;
use crate::words::{bytes, count, short};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use std::collections::BTreeMap;

/// Role as text with a symbol, so it reads without colour.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Master => "▲ MASTER",
        Role::Replica => "· replica",
        Role::Sentinel => "◆ sentinel",
        Role::Unknown => "? unknown",
    }
}

/// Health as text with a symbol; trouble is in capitals.
pub fn health_label(health: Health) -> &'static str {
    match health {
        Health::Up => "✓ up",
        Health::Sdown => "? SDOWN",
        Health::Odown => "✗ ODOWN",
        Health::Down => "✗ DOWN",
        Health::Paused => "‖ PAUSED",
        Health::Partitioned => "⌁ PARTITIONED",
    }
}

/// The style of a health: green up, yellow degraded, red down.
pub fn health_style(health: Health, app: &App) -> Style {
    match health {
        Health::Up => app.theme.ok(),
        Health::Sdown | Health::Paused | Health::Partitioned => app.theme.warn(),
        Health::Odown | Health::Down => app.theme.bad(),
    }
}

/// What the sentinels say about the master, in one line: agreement, or who
/// names whom when they disagree.
pub fn sentinel_verdict(app: &App) -> (String, bool) {
    let mut views: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut silent = Vec::new();
    let mut total = 0;
    for n in &app.snapshot.topology.nodes {
        if n.role != Role::Sentinel && n.kind != crate::topology::NodeKind::Sentinel {
            continue;
        }
        total += 1;
        match (&n.sentinel_master, n.health) {
            (Some(m), Health::Up) => views.entry(m.as_str()).or_default().push(&n.name),
            _ => silent.push(n.name.as_str()),
        }
    }
    if total == 0 {
        return ("no sentinels: nobody will fail over".to_string(), false);
    }
    let silent_note = if silent.is_empty() {
        String::new()
    } else {
        format!(" ({} silent)", silent.join(", "))
    };
    match views.len() {
        0 => (format!("no sentinel answers{silent_note}"), false),
        1 => {
            let (m, who) = views.iter().next().expect("one view");
            let named = app.snapshot.topology.nodes.iter().find(|n| n.name == *m);
            match named.map(|n| n.health) {
                Some(h) if h != Health::Up => (
                    format!(
                        "sentinels: {}/{total} still say {m} ({}){silent_note}",
                        who.len(),
                        health_label(h)
                    ),
                    false,
                ),
                _ => (
                    format!(
                        "sentinels: {}/{total} say {m} is master{silent_note}",
                        who.len()
                    ),
                    true,
                ),
            }
        }
        _ => {
            // Each sentinel's row names its choice; the line counts them.
            let parts: Vec<String> = views
                .iter()
                .map(|(m, who)| match who.len() {
                    1 => format!("1 says {m}"),
                    n => format!("{n} say {m}"),
                })
                .collect();
            (
                format!("sentinels DISAGREE: {}{silent_note}", parts.join(", ")),
                false,
            )
        }
    }
}

/// The right-hand detail of a node row: offset, lag and (when it is not
/// the current master) the node a replica follows; for a sentinel, the
/// master it names.
fn detail(n: &NodeView, app: &App, master: Option<&str>, wide: bool) -> Vec<Span<'static>> {
    let theme = app.theme;
    if n.role == Role::Sentinel || n.kind == crate::topology::NodeKind::Sentinel {
        return match &n.sentinel_master {
            Some(m) if n.health == Health::Up => {
                let agrees = master.is_none_or(|cur| cur == m);
                let style = if agrees { Style::new() } else { theme.warn() };
                let mark = if agrees { "" } else { " (!)" };
                vec![Span::styled(format!("says master: {m}{mark}"), style)]
            }
            _ => vec![Span::styled("says nothing", theme.dim())],
        };
    }
    let offset_w = if wide { 11 } else { 6 };
    let offset = match n.repl_offset {
        Some(off) if wide => count(off),
        Some(off) => short(off),
        None => "-".to_string(),
    };
    let mut spans = vec![Span::raw(rfit(&offset, offset_w))];
    if n.role == Role::Replica {
        let lag = n.lag_bytes.map_or("-".to_string(), bytes);
        let style = if n.lag_bytes.unwrap_or(0) > 0 {
            theme.warn()
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!("  {}", fit(&lag, 8)), style));
        if let Some(m) = &n.master_of_replica {
            if master != Some(m.as_str()) {
                spans.push(Span::styled(format!("<- {m}"), theme.warn()));
            }
        }
    }
    spans
}

/// Rows the panel needs: the nodes, the sentinels' verdict, a column
/// header, borders.
pub fn height(app: &App) -> u16 {
    app.snapshot.topology.nodes.len().max(1) as u16 + 4
}

/// The panel. Given fewer rows than [`height`], the column header goes
/// first, then the verdict moves into the title.
pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let wide = area.width >= 60;
    let master = app.master();
    let nodes = &app.snapshot.topology.nodes;
    let room = area.height.saturating_sub(2) as usize;
    let show_verdict = room > nodes.len();
    let show_header = room > nodes.len() + 1;
    let name_w = nodes
        .iter()
        .map(|n| n.name.chars().count())
        .max()
        .unwrap_or(8)
        .max(7)
        + 1;
    let (verdict, agreed) = sentinel_verdict(app);
    let verdict_style = if agreed { theme.ok() } else { theme.warn() };
    let mut lines = Vec::new();
    if show_verdict {
        lines.push(Line::from(Span::styled(verdict.clone(), verdict_style)));
    }
    if show_header {
        let offset_w = if wide { 11 } else { 6 };
        lines.push(Line::from(Span::styled(
            format!(
                "  {}{}{}{}  {}",
                fit("node", name_w),
                fit("role", 11),
                fit("health", 14),
                rfit("offset", offset_w),
                "lag / sees"
            ),
            theme.dim(),
        )));
    }
    for n in nodes {
        let selected = app.selected.as_deref() == Some(n.name.as_str());
        let role_style = if n.role == Role::Master {
            theme.master()
        } else {
            Style::new()
        };
        let mut spans = vec![
            Span::raw(if selected { "▶ " } else { "  " }),
            Span::styled(fit(&n.name, name_w), role_style),
            Span::styled(fit(role_label(n.role), 11), role_style),
            Span::styled(fit(health_label(n.health), 14), health_style(n.health, app)),
        ];
        spans.extend(detail(n, app, master, wide));
        let mut line = Line::from(spans);
        if selected {
            line = line.style(theme.selected());
        }
        lines.push(line);
    }
    if nodes.is_empty() {
        lines.push(Line::from(Span::styled(
            "waiting for the first reading of the nodes ...",
            theme.dim(),
        )));
    }
    let mut block = panel("Topology", theme);
    if app.failover_in_progress() {
        block = block.title(Line::from(Span::styled(
            " ⚠ FAILOVER IN PROGRESS ",
            theme.alarm(),
        )));
    } else if !nodes.is_empty() {
        let masters = nodes
            .iter()
            .filter(|n| n.role == Role::Master && n.health != Health::Down)
            .count();
        let alarm = match masters {
            0 => Some(" ✗ NO MASTER ".to_string()),
            1 => None,
            n => Some(format!(" ✗ {n} MASTERS: SPLIT BRAIN ")),
        };
        if let Some(text) = alarm {
            block = block.title(Line::from(Span::styled(text, theme.alarm())));
        }
    }
    if !show_verdict {
        block = block.title(Line::from(Span::styled(
            format!(" {verdict} "),
            verdict_style,
        )));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
