//! The cluster panel (Cluster mode, in place of the topology panel): a
//! line on the cluster as a whole (`cluster_state` on every node, the
//! current epoch, MOVED/s and ASK/s the client gets), then one row per
//! shard: its slots drawn on a bar of the 16,384 slots, its config epoch
//! and answered commands per second, and its nodes (master first) with
//! role, health and the PFAIL/FAIL flags the other nodes put on them.
//!
//! The bar is drawn from the slot ranges the shard's master serves, never
//! from the shard's number, so a range moved by resharding shows where it
//! is. Given the rows, a shard takes two lines (bar, then nodes); short of
//! rows, one.

use super::topology::{health_label, health_style};
use super::{fit, panel, rfit};
use crate::metrics::{Health, NodeView, Role};
use crate::topology::admin::cluster::{SlotRange, SLOTS};
use crate::topology::cluster::{ClusterStatus, FailFlag};
use crate::tui::app::{App, ShardRow};
use crate::words::{count, short};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// Columns of a two-line shard row's first line besides the bar: the shard
/// number, the slot ranges and the epoch and rate.
const RANGES_W: usize = 14;
const RIGHT_W: usize = 19;

/// Rows the panel needs: borders, the cluster line, each shard in two
/// lines (`two_lines`) or one, and a line of nodes in no shard if any.
pub fn height(app: &App, two_lines: bool) -> u16 {
    let (shards, strays) = app
        .shard_rows()
        .map_or((0, 0), |(rows, strays)| (rows.len(), strays.len()));
    let per = if two_lines { 2 } else { 1 };
    (3 + per * shards.max(1) + usize::from(strays > 0)) as u16
}

/// How the nodes see the cluster, in parts of one line: `cluster_state`
/// (ok, or fail on which nodes), the current epoch, who does not answer;
/// and whether all is well.
pub fn state_parts(status: &ClusterStatus) -> (Vec<String>, bool) {
    let answering: Vec<_> = status.nodes.iter().filter(|n| n.answered).collect();
    let silent: Vec<&str> = status
        .nodes
        .iter()
        .filter(|n| !n.answered)
        .map(|n| n.name.as_str())
        .collect();
    let failing: Vec<&str> = answering
        .iter()
        .filter(|n| !n.state_ok)
        .map(|n| n.name.as_str())
        .collect();
    let mut parts = vec![if answering.is_empty() {
        "? no node answers".to_string()
    } else if failing.is_empty() {
        "✓ cluster_state ok".to_string()
    } else if failing.len() == answering.len() {
        "✗ cluster_state FAIL on every node".to_string()
    } else {
        format!("✗ cluster_state FAIL on {}", failing.join(", "))
    }];
    let epochs = answering.iter().map(|n| n.current_epoch);
    if let (Some(lo), Some(hi)) = (epochs.clone().min(), epochs.max()) {
        parts.push(if lo == hi {
            format!("epoch {hi}")
        } else {
            format!("epochs {lo}–{hi}")
        });
    }
    if !silent.is_empty() {
        parts.push(format!("silent: {}", silent.join(", ")));
    }
    (parts, !answering.is_empty() && failing.is_empty())
}

/// `parts` joined by " · " into lines of `width`, at most `max_lines`
/// (the last one then holds the rest, cut by the panel's edge).
fn pack(parts: &[String], width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for p in parts {
        let full = lines.len() >= max_lines;
        match lines.last_mut() {
            Some(l) if full || l.chars().count() + 3 + p.chars().count() <= width => {
                l.push_str(" · ");
                l.push_str(p);
            }
            _ => lines.push(p.clone()),
        }
    }
    lines
}

/// A scale under the slot bars: slot 0 at the bar's start, 16383 at its
/// end, 8192 in the middle when there is room.
fn axis(bar_w: usize) -> String {
    let end = (SLOTS - 1).to_string();
    let mid = (SLOTS / 2).to_string();
    let mut line = format!("   0{}", " ".repeat(bar_w.saturating_sub(1 + end.len())));
    line.push_str(&end);
    if bar_w >= 24 {
        let at = 3 + bar_w / 2 - mid.len() / 2;
        line.replace_range(at..at + mid.len(), &mid);
    }
    line
}

/// The flag the other nodes put on `name`: FAIL when any says so (it is
/// agreed), else PFAIL with how many nodes lost it.
pub fn flag_on(status: &ClusterStatus, name: &str) -> Option<String> {
    let flags: Vec<FailFlag> = status
        .nodes
        .iter()
        .filter(|n| n.answered && n.name != name)
        .filter_map(|n| n.flags.get(name).copied())
        .collect();
    if flags.contains(&FailFlag::Fail) {
        Some("FAIL".to_string())
    } else if flags.is_empty() {
        None
    } else {
        Some(format!("PFAIL({})", flags.len()))
    }
}

/// The slot bar: `width` cells over the 16,384 slots; a cell is full when
/// the ranges hold most of its slots, half (on the side they are) when
/// some, a thin mark when a few, so that a one-slot range still shows.
pub fn slot_bar(ranges: &[SlotRange], width: usize) -> Vec<(String, bool)> {
    let total = u64::from(SLOTS);
    (0..width as u64)
        .map(|i| {
            let lo = i * total / width as u64;
            let hi = ((i + 1) * total / width as u64).max(lo + 1);
            let (mut owned, mut weighted) = (0u64, 0f64);
            for r in ranges {
                let a = u64::from(r.start).max(lo);
                let b = (u64::from(r.end) + 1).min(hi);
                if a < b {
                    owned += b - a;
                    weighted += (a + b) as f64 / 2.0 * (b - a) as f64;
                }
            }
            if owned == 0 {
                return ("─".to_string(), false);
            }
            let share = owned as f64 / (hi - lo) as f64;
            let left = weighted / owned as f64 <= (lo + hi) as f64 / 2.0;
            let cell = match (share, left) {
                (s, _) if s >= 0.75 => "█",
                (s, true) if s >= 0.25 => "▌",
                (s, false) if s >= 0.25 => "▐",
                (_, true) => "▏",
                (_, false) => "▕",
            };
            (cell.to_string(), true)
        })
        .collect()
}

/// `0–5460`, or the first range and how many more.
fn ranges_text(ranges: &[SlotRange]) -> String {
    match ranges {
        [] => "no slots".to_string(),
        [r] => r.to_string(),
        [r, more @ ..] => format!("{r} +{}", more.len()),
    }
}

/// One node as a shard row lists it: selection mark, role mark, name,
/// health (`short`: the symbol alone when up) and the flag others put on it.
fn node_spans(app: &App, status: &ClusterStatus, name: &str, short: bool) -> Vec<Span<'static>> {
    let theme = app.theme;
    let view: Option<&NodeView> = app.snapshot.topology.nodes.iter().find(|n| n.name == name);
    let role = view.map_or(Role::Unknown, |v| v.role);
    let selected = app.selected.as_deref() == Some(name);
    let pick = |style: Style| {
        if selected {
            style.patch(theme.selected())
        } else {
            style
        }
    };
    let mark = match role {
        Role::Master => "▲",
        Role::Replica => "·",
        _ => "?",
    };
    let name_style = if role == Role::Master {
        theme.master()
    } else {
        Style::new()
    };
    let mut spans = vec![
        Span::raw(if selected { "▶" } else { " " }),
        Span::styled(format!("{mark} {name} "), pick(name_style)),
    ];
    match view.map(|v| v.health) {
        Some(Health::Up) if short => spans.push(Span::styled("✓", pick(theme.ok()))),
        Some(h) => spans.push(Span::styled(health_label(h), pick(health_style(h, app)))),
        None => spans.push(Span::styled("?", pick(theme.dim()))),
    }
    if let Some(flag) = flag_on(status, name) {
        let style = if flag == "FAIL" {
            theme.bad()
        } else {
            theme.warn()
        };
        spans.push(Span::styled(format!(" {flag}"), pick(style)));
    }
    spans
}

fn nodes_line(
    app: &App,
    status: &ClusterStatus,
    indent: &str,
    names: &[&str],
    short: bool,
) -> Vec<Span<'static>> {
    let mut spans = vec![Span::raw(indent.to_string())];
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(if short { " " } else { "  " }));
        }
        spans.extend(node_spans(app, status, name, short));
    }
    spans
}

/// A shard's slot bar, coloured as the shard.
fn bar_spans(app: &App, row: &ShardRow, width: usize) -> Vec<Span<'static>> {
    slot_bar(&row.shard.slots, width)
        .into_iter()
        .map(|(cell, owned)| {
            let style = if owned {
                app.theme.shard(row.shard.shard)
            } else {
                app.theme.dim()
            };
            Span::styled(cell, style)
        })
        .collect()
}

/// The slot bar's width in a two-line shard row of `width` columns.
fn bar_width(width: usize) -> usize {
    width.saturating_sub(3 + 1 + RANGES_W + RIGHT_W).max(8)
}

/// The lines of one shard: two (bar with ranges, epoch and rate; then the
/// nodes) or one (bar and nodes).
fn shard_lines(
    app: &App,
    status: &ClusterStatus,
    row: &ShardRow,
    width: usize,
    two_lines: bool,
) -> Vec<Line<'static>> {
    let theme = app.theme;
    let shard = row.shard;
    let number = Span::styled(format!("{:>2} ", shard.shard), theme.shard(shard.shard));
    let no_master = shard.master.is_none();
    if !two_lines {
        let bar_w = (width / 3).clamp(8, 32);
        let mut spans = vec![number];
        spans.extend(bar_spans(app, row, bar_w));
        if no_master {
            spans.push(Span::styled(" ✗ NO MASTER", theme.bad()));
        }
        spans.extend(nodes_line(app, status, " ", &row.nodes, true));
        return vec![Line::from(spans)];
    }
    let bar_w = bar_width(width);
    let rate = app
        .snapshot
        .shards
        .iter()
        .find(|s| usize::from(s.shard) == shard.shard)
        .map_or("-".to_string(), |s| short(s.replies_per_s.round() as u64));
    let epoch = shard.config_epoch.map_or("-".to_string(), count);
    let mut first = vec![number];
    first.extend(bar_spans(app, row, bar_w));
    if no_master {
        first.push(Span::styled(fit(" ✗ NO MASTER", 1 + RANGES_W), theme.bad()));
    } else {
        first.push(Span::raw(format!(
            " {}",
            fit(&ranges_text(&shard.slots), RANGES_W)
        )));
    }
    first.push(Span::styled(
        format!("epoch {} {}/s", fit(&epoch, 3), rfit(&rate, 6)),
        theme.dim(),
    ));
    let second = nodes_line(app, status, "  ", &row.nodes, false);
    vec![Line::from(first), Line::from(second)]
}

/// The panel: two lines a shard when `area` has [`height`]`(app, true)`
/// rows, else one.
pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let mut block = panel("Cluster", theme);
    let Some((status, (rows, strays))) =
        app.snapshot.topology.cluster.as_ref().zip(app.shard_rows())
    else {
        let lines = vec![Line::from(Span::styled(
            "waiting for the first reading of the nodes ...",
            theme.dim(),
        ))];
        frame.render_widget(Paragraph::new(lines).block(block), area);
        return;
    };
    let two_lines = area.height >= height(app, true);
    let width = area.width.saturating_sub(2) as usize;
    // Rows beyond the panel's need: the state line wraps into them, then
    // a scale goes under the bars.
    let spare = area.height.saturating_sub(height(app, two_lines)) as usize;
    let (parts, ok) = state_parts(status);
    let state = pack(&parts, width, 1 + spare);
    let spare = spare + 1 - state.len();
    let style = if ok { theme.ok() } else { theme.bad() };
    let mut lines: Vec<Line> = state
        .into_iter()
        .map(|l| Line::from(Span::styled(l, style)))
        .collect();
    for row in &rows {
        lines.extend(shard_lines(app, status, row, width, two_lines));
    }
    if two_lines && spare > 0 {
        lines.push(Line::from(Span::styled(
            axis(bar_width(width)),
            theme.dim(),
        )));
    }
    if !strays.is_empty() {
        let mut spans = vec![Span::styled("no shard:", theme.dim())];
        spans.extend(nodes_line(app, status, "", &strays, !two_lines));
        lines.push(Line::from(spans));
    }
    if let Some((moved, ask)) = app.redirects_per_s() {
        let style = if moved + ask > 0.0 {
            theme.warn()
        } else {
            Style::new()
        };
        let text = format!(
            " MOVED {}/s · ASK {}/s ",
            short(moved.round() as u64),
            short(ask.round() as u64)
        );
        block = block.title(Line::from(Span::styled(text, style)).right_aligned());
    }
    let unserved: Vec<String> = rows
        .iter()
        .filter(|r| r.shard.master.is_none())
        .map(|r| r.shard.shard.to_string())
        .collect();
    let failing: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.shard.master.as_deref())
        .filter(|m| flag_on(status, m).is_some_and(|f| f == "FAIL"))
        .collect();
    let alarm = if !unserved.is_empty() {
        Some(format!(" ✗ NO MASTER FOR SHARD {} ", unserved.join(", ")))
    } else if !failing.is_empty() {
        Some(format!(" ⚠ MASTER FAILED: {} ", failing.join(", ")))
    } else {
        None
    };
    if let Some(text) = alarm {
        block = block.title(Line::from(Span::styled(text, theme.alarm())));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures;

    fn range(start: u16, end: u16) -> SlotRange {
        SlotRange { start, end }
    }

    fn drawn(ranges: &[SlotRange], width: usize) -> String {
        slot_bar(ranges, width)
            .into_iter()
            .map(|(c, _)| c)
            .collect()
    }

    #[test]
    fn the_slot_bar_is_drawn_from_the_ranges_wherever_they_are() {
        // 16 cells of 1,024 slots.
        assert_eq!(drawn(&[range(0, 16383)], 16), "█".repeat(16));
        assert_eq!(drawn(&[], 16), "─".repeat(16));
        assert_eq!(drawn(&[range(0, 5461)], 16), "█████▌──────────");
        // Shard 2 after resharding: its own range, and 100 slots moved to
        // it from the start of shard 1's range; the one slot 16383 too.
        assert_eq!(
            drawn(&[range(0, 99), range(5462, 10922), range(16383, 16383)], 16),
            "▏────▐████▌────▕"
        );
        // Every cell of the bar is owned by exactly one shard of an even
        // split, at any width, as far as full cells go.
        for width in [8, 25, 44, 100] {
            let split = crate::topology::admin::cluster::even_split(3);
            for i in 0..width {
                let full = split
                    .iter()
                    .filter(|r| slot_bar(&[**r], width)[i].0 == "█")
                    .count();
                assert!(full <= 1, "width {width}, cell {i}");
            }
        }
    }

    #[test]
    fn flags_and_state_say_who_sees_what() {
        let st = fixtures::cluster_master_failed();
        let status = st.snapshot.topology.cluster.unwrap();
        assert_eq!(flag_on(&status, "redis-1").as_deref(), Some("FAIL"));
        assert_eq!(flag_on(&status, "redis-4"), None);
        let (parts, ok) = state_parts(&status);
        assert!(!ok);
        assert_eq!(
            parts,
            [
                "✗ cluster_state FAIL on redis-2, redis-3, redis-5",
                "epoch 6",
                "silent: redis-1"
            ]
        );
        // Only PFAIL so far, from two nodes.
        let mut status = status;
        for n in &mut status.nodes {
            n.flags.clear();
        }
        for n in [2, 3] {
            status.nodes[n - 1]
                .flags
                .insert("redis-1".into(), FailFlag::Pfail);
        }
        assert_eq!(flag_on(&status, "redis-1").as_deref(), Some("PFAIL(2)"));
        status.nodes[3].current_epoch = 7;
        assert_eq!(state_parts(&status).0[1], "epochs 6–7");
        assert_eq!(
            pack(&state_parts(&status).0, 40, 3),
            [
                "✗ cluster_state FAIL on redis-2, redis-3, redis-5",
                "epochs 6–7 · silent: redis-1"
            ]
        );
        assert_eq!(pack(&state_parts(&status).0, 40, 1).len(), 1);
    }
}
