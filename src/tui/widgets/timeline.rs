//! The timeline panel: faults, Sentinel's announcements, client re-routes
//! and safety violations as they happen, newest at the bottom, each with its
//! time since the run started and one plain-language line a class can follow
//! ("sentinel-2 thinks the master redis-1 is down (+sdown); 2 of 3 must agree").

use super::{at, fit, panel};
use crate::metrics::{Event, EventKind};
use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// How an event line is marked and styled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Something the user broke.
    Fault,
    /// A new master: `+switch-master`, `+promoted-slave`.
    Switch,
    /// Things getting better: switch done, writes back, node healed.
    Recovery,
    /// A safety violation or a master going down.
    Alarm,
    /// Everything else.
    Plain,
}

/// What a fault does, in a few words.
fn fault_meaning(fault: &str) -> &'static str {
    match fault {
        "segfault" => "DEBUG SEGFAULT: the process crashes",
        "shutdown" => "SHUTDOWN NOSAVE: it stops at once",
        "shutdown-save" => "SHUTDOWN SAVE: it saves, then stops",
        "kill" => "SIGKILL: gone without a word",
        "pause" => "frozen: alive but silent",
        "resume" => "thawed",
        "partition" => "cut off from its peers; clients still reach it",
        "heal" => "connected to its peers again",
        "restart" => "started again with its config",
        "slow" => "stalls on DEBUG SLEEP",
        _ => "",
    }
}

/// One plain-language line for an event, and its tone. With the run's
/// topology known, the words are the timeline's own
/// ([`crate::metrics::timeline::explain`], the same as the report's);
/// without it, the dashboard's fallback below.
pub fn describe(event: &Event, app: &App) -> (String, Tone) {
    let (fallback, tone) = describe_fallback(event, app);
    let Some(topology) = &app.topology else {
        return (fallback, tone);
    };
    let mut text = crate::metrics::timeline::explain(event, topology);
    match &event.kind {
        EventKind::FaultInjected { fault, .. } if !fault_meaning(fault).is_empty() => {
            text = format!("{text} ({})", fault_meaning(fault));
        }
        _ => {}
    }
    (text, tone)
}

/// The dashboard's own words, used until the topology record is known.
pub fn describe_fallback(event: &Event, app: &App) -> (String, Tone) {
    let src = event.source.as_str();
    match &event.kind {
        EventKind::FaultInjected { fault, node } => {
            let meaning = fault_meaning(fault);
            let text = if meaning.is_empty() {
                format!("fault: {fault} {node}")
            } else {
                format!("fault: {fault} {node} ({meaning})")
            };
            let tone = if matches!(fault.as_str(), "restart" | "resume" | "heal") {
                Tone::Recovery
            } else {
                Tone::Fault
            };
            (text, tone)
        }
        EventKind::FaultHealed { fault, node } => {
            (format!("{node}: {fault} undone"), Tone::Recovery)
        }
        EventKind::Sentinel { name, payload } => sentinel_line(src, name, payload, app),
        EventKind::NodeStarted { node } => (format!("{node} is running"), Tone::Recovery),
        EventKind::NodeStopped { node } => (format!("{node} stopped"), Tone::Alarm),
        EventKind::ClientRerouted { from, to } => (
            format!("clients moved their connections from {from} to {to}"),
            Tone::Recovery,
        ),
        EventKind::WritesRecovered { outage_ms } => (
            format!(
                "writes succeed again after {:.1}s without a successful write",
                *outage_ms as f64 / 1000.0
            ),
            Tone::Recovery,
        ),
        EventKind::LoadChanged { what } => (format!("load: {what}"), Tone::Plain),
        EventKind::LockViolation { lock, holders } => (
            format!(
                "LOCK VIOLATION: {lock} held by {} at once",
                holders.join(" and ")
            ),
            Tone::Alarm,
        ),
        EventKind::Note { text } => (text.clone(), Tone::Plain),
    }
}

/// Splits a Sentinel payload `<type> <name> <ip> <port> @ <master> <ip> <port>`
/// into the instance type and its node name (or address when unknown).
fn instance(payload: &str, app: &App) -> (String, String) {
    let words: Vec<&str> = payload.split_whitespace().collect();
    let kind = words.first().copied().unwrap_or("").to_string();
    let node = match words.as_slice() {
        [_, _, ip, port, ..] => app.node_name(&format!("{ip}:{port}")),
        [_, name, ..] => name.to_string(),
        _ => payload.to_string(),
    };
    (kind, node)
}

fn sentinel_line(src: &str, name: &str, payload: &str, app: &App) -> (String, Tone) {
    let (kind, node) = instance(payload, app);
    let what = match kind.as_str() {
        "master" => format!("the master {node}"),
        "slave" => format!("replica {node}"),
        "sentinel" => format!("sentinel {node}"),
        _ => node.clone(),
    };
    let agree = match app.quorum {
        Some((q, n)) => format!("; {q} of {n} must agree"),
        None => String::new(),
    };
    match name {
        "+sdown" if kind == "master" => (
            format!("{src} thinks {what} is down (+sdown){agree}"),
            Tone::Alarm,
        ),
        "+sdown" => (format!("{src} thinks {what} is down (+sdown)"), Tone::Plain),
        "-sdown" => (format!("{src} sees {what} again (-sdown)"), Tone::Recovery),
        "+odown" => (
            format!("enough sentinels agree {what} is down (+odown): a failover can start"),
            Tone::Alarm,
        ),
        "-odown" => (
            format!("{what} is no longer agreed down (-odown)"),
            Tone::Recovery,
        ),
        "+new-epoch" => (
            format!(
                "{src} opens election round {} (+new-epoch)",
                payload.split_whitespace().next().unwrap_or("?")
            ),
            Tone::Plain,
        ),
        "+try-failover" => (
            format!("{src} tries to lead the failover (+try-failover)"),
            Tone::Plain,
        ),
        "+vote-for-leader" => (
            format!("{src} casts its vote for a failover leader (+vote-for-leader)"),
            Tone::Plain,
        ),
        "+elected-leader" => (
            format!("{src} won the vote and runs the failover (+elected-leader)"),
            Tone::Plain,
        ),
        "+failover-state-select-slave" => (
            format!("{src} is choosing a replica to promote"),
            Tone::Plain,
        ),
        "-failover-abort-no-good-slave" => (
            format!("{src} found no replica fit to promote: failover aborted"),
            Tone::Alarm,
        ),
        "+selected-slave" => (
            format!("{src} picked {node} to become the new master (+selected-slave)"),
            Tone::Plain,
        ),
        "+failover-state-send-slaveof-noone" => (
            format!("{src} tells {node} to stop replicating (REPLICAOF NO ONE)"),
            Tone::Plain,
        ),
        "+failover-state-wait-promotion" => (
            format!("{src} waits for {node} to report itself master"),
            Tone::Plain,
        ),
        "+promoted-slave" => (
            format!("{node} is promoted to master (+promoted-slave)"),
            Tone::Switch,
        ),
        "+failover-state-reconf-slaves" => (
            format!("{src} points the other replicas at the new master"),
            Tone::Plain,
        ),
        "+slave-reconf-sent" | "+slave-reconf-inprog" | "+slave-reconf-done" => (
            format!("{node} is being moved to follow the new master ({name})"),
            Tone::Plain,
        ),
        "+failover-end" => (
            format!("{src}: failover finished (+failover-end)"),
            Tone::Recovery,
        ),
        "+failover-end-for-timeout" => (
            format!("{src}: failover timed out (+failover-end-for-timeout)"),
            Tone::Alarm,
        ),
        "+switch-master" => {
            // `<master-name> <old-ip> <old-port> <new-ip> <new-port>`
            let w: Vec<&str> = payload.split_whitespace().collect();
            let (old, new) = match w.as_slice() {
                [_, oi, op, ni, np, ..] => (
                    app.node_name(&format!("{oi}:{op}")),
                    app.node_name(&format!("{ni}:{np}")),
                ),
                _ => ("?".to_string(), payload.to_string()),
            };
            (
                format!("{src}: the master is now {new}, was {old} (+switch-master): clients must follow"),
                Tone::Switch,
            )
        }
        "+convert-to-slave" => (
            format!("{node} (an old master) is back and turned into a replica (+convert-to-slave)"),
            Tone::Recovery,
        ),
        "+slave" => (format!("{src} discovered replica {node}"), Tone::Plain),
        "+sentinel" => (format!("{src} discovered sentinel {node}"), Tone::Plain),
        "+reboot" => (format!("{what} restarted (+reboot)"), Tone::Plain),
        "+tilt" => (
            format!("{src} entered TILT mode: its clock jumped, it stops acting for 30s"),
            Tone::Alarm,
        ),
        "-tilt" => (format!("{src} left TILT mode"), Tone::Recovery),
        _ => (format!("{src}: {name} {payload}"), Tone::Plain),
    }
}

/// The marker column: the same letters as the throughput chart's marks.
fn tone_mark(tone: Tone) -> &'static str {
    match tone {
        Tone::Fault => "F ",
        Tone::Switch => "S ",
        Tone::Alarm => "!!",
        Tone::Recovery => "✓ ",
        Tone::Plain => "  ",
    }
}

fn tone_style(tone: Tone, app: &App) -> Style {
    match tone {
        Tone::Fault => app.theme.warn(),
        Tone::Switch => app.theme.master(),
        Tone::Recovery => app.theme.ok(),
        Tone::Alarm => app.theme.bad(),
        Tone::Plain => Style::new(),
    }
}

/// The panel: the newest events that fit, oldest of them on top.
pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let rows = area.height.saturating_sub(2) as usize;
    let lines: Vec<Line> = if app.events.is_empty() {
        vec![Line::from(Span::styled(
            "nothing yet: press s to crash the master and watch Sentinel react",
            app.theme.dim(),
        ))]
    } else {
        let skip = app.events.len().saturating_sub(rows);
        app.events
            .iter()
            .skip(skip)
            .map(|e| {
                let (text, tone) = describe(e, app);
                let style = tone_style(tone, app);
                let mut spans = vec![
                    Span::styled(format!("{:<8} ", at(e.at_ms)), app.theme.dim()),
                    Span::styled(tone_mark(tone), style),
                    Span::raw(" "),
                ];
                // "sentinel-2 thinks ..." already names its source.
                if !text.starts_with(e.source.as_str()) {
                    // At least 8 columns so the texts line up; longer names keep a space.
                    let width = e.source.chars().count().max(7) + 1;
                    spans.push(Span::raw(fit(&e.source, width)));
                }
                spans.push(Span::styled(text, style));
                Line::from(spans)
            })
            .collect()
    };
    let title = match app.events.len() {
        1 => "Timeline (1 event)".to_string(),
        n => format!("Timeline ({n} events)"),
    };
    frame.render_widget(Paragraph::new(lines).block(panel(&title, app.theme)), area);
}
