//! The timeline panel: faults, Sentinel's announcements, client re-routes
//! and safety violations as they happen, newest at the bottom, each with its
//! time since the run started and one plain-language line a class can follow
//! ("sentinel-2 thinks the master redis-1 is down; 2 of 3 sentinels must
//! agree (+sdown)"), in the same words as the report.

use super::{fit, panel};
use crate::metrics::timeline::explain;
use crate::metrics::{Event, EventKind};
use crate::tui::app::App;
use crate::words::at;
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
        "client-pause" => "CLIENT PAUSE: answers no client, its replicas still stream",
        "failover" => "a failover asked for, the master still up",
        _ => "",
    }
}

/// One plain-language line for an event: the timeline's own words
/// ([`explain`], the same as the report's), with node names as far as the
/// dashboard knows them, and what an injected fault does.
pub fn describe(event: &Event, app: &App) -> String {
    let text = explain(event, app);
    match &event.kind {
        EventKind::FaultInjected { fault, .. } if !fault_meaning(fault).is_empty() => {
            format!("{text} ({})", fault_meaning(fault))
        }
        _ => text,
    }
}

/// How an event is marked: from its kind alone (for a Sentinel event, its
/// channel and whether it is about the master), without building its words.
pub fn tone(kind: &EventKind) -> Tone {
    match kind {
        EventKind::FaultInjected { fault, .. } => match fault.as_str() {
            "restart" | "resume" | "heal" => Tone::Recovery,
            _ => Tone::Fault,
        },
        EventKind::Sentinel { name, payload } => match name.as_str() {
            "+sdown" if payload.starts_with("master ") => Tone::Alarm,
            "+odown" | "-failover-abort-no-good-slave" | "+failover-end-for-timeout" | "+tilt" => {
                Tone::Alarm
            }
            "+promoted-slave" | "+switch-master" => Tone::Switch,
            "-sdown" | "-odown" | "+failover-end" | "+convert-to-slave" | "-tilt" => Tone::Recovery,
            _ => Tone::Plain,
        },
        EventKind::FaultHealed { .. }
        | EventKind::NodeStarted { .. }
        | EventKind::ClientRerouted { .. }
        | EventKind::WritesRecovered { .. } => Tone::Recovery,
        EventKind::NodeStopped { .. } | EventKind::LockViolation { .. } => Tone::Alarm,
        EventKind::ClusterFlagged { flag, .. } => match flag.as_str() {
            "pfail" | "fail" => Tone::Alarm,
            _ => Tone::Recovery,
        },
        EventKind::ClusterPromoted { .. } => Tone::Switch,
        EventKind::ClusterState { ok: true, .. } | EventKind::ClusterRejoined { .. } => {
            Tone::Recovery
        }
        EventKind::ClusterState { ok: false, .. } => Tone::Alarm,
        EventKind::ReshardStarted { .. } => Tone::Fault,
        EventKind::ReshardProgress { .. } => Tone::Plain,
        EventKind::ReshardEnded {
            complete: true,
            error: None,
            ..
        } => Tone::Recovery,
        EventKind::ReshardEnded { .. } => Tone::Alarm,
        EventKind::ScaleStarted { .. } => Tone::Fault,
        EventKind::ScaleProgress { .. } => Tone::Plain,
        EventKind::ScaleEnded {
            complete: true,
            error: None,
            ..
        } => Tone::Recovery,
        EventKind::ScaleEnded { .. } => Tone::Alarm,
        EventKind::LoadChanged { .. } | EventKind::Note { .. } => Tone::Plain,
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

/// Whether the timeline keeps to the key events ([`EventKind::is_key`]):
/// in lesson mode, unless `a` asked for every event.
pub fn key_events_only(app: &App) -> bool {
    app.in_lesson() && !app.all_events
}

/// The panel: the newest events that fit, oldest of them on top.
pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let rows = area.height.saturating_sub(2) as usize;
    let only_key = key_events_only(app);
    let shown: Vec<&Event> = app
        .events
        .iter()
        .filter(|e| !only_key || e.kind.is_key())
        .collect();
    let lines: Vec<Line> = if shown.is_empty() {
        vec![Line::from(Span::styled(
            "nothing yet: press s to crash the master and watch Sentinel react",
            app.theme.dim(),
        ))]
    } else {
        let skip = shown.len().saturating_sub(rows);
        shown
            .iter()
            .skip(skip)
            .map(|e| {
                let mark = tone(&e.kind);
                let text = describe(e, app);
                let style = tone_style(mark, app);
                let mut spans = vec![
                    Span::styled(format!("{:<8} ", at(e.at_ms)), app.theme.dim()),
                    Span::styled(tone_mark(mark), style),
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
    let title = if only_key {
        format!(
            "Timeline ({} key event{} of {} · a: all)",
            shown.len(),
            if shown.len() == 1 { "" } else { "s" },
            app.events.len()
        )
    } else if app.in_lesson() {
        format!("Timeline (all {} events · a: key ones)", app.events.len())
    } else {
        match app.events.len() {
            1 => "Timeline (1 event)".to_string(),
            n => format!("Timeline ({n} events)"),
        }
    };
    frame.render_widget(Paragraph::new(lines).block(panel(&title, app.theme)), area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures;
    use std::sync::Arc;

    fn sentinel(channel: &str, payload: &str) -> Event {
        Event {
            at_ms: 0,
            source: "sentinel-2".to_string(),
            kind: EventKind::Sentinel {
                name: channel.to_string(),
                payload: payload.to_string(),
            },
        }
    }

    #[test]
    fn before_the_topology_is_known_lines_use_the_snapshot_names() {
        let mut app = App::default();
        app.on_snapshot(Arc::new(fixtures::healthy().snapshot));
        let down = sentinel("+sdown", "master mymaster 127.0.0.1 7001");
        assert_eq!(
            describe(&down, &app),
            "sentinel-2 thinks the master redis-1 is down (+sdown)"
        );
        assert_eq!(tone(&down.kind), Tone::Alarm);
        let vote = sentinel("+vote-for-leader", "9c1e0d2b7a4f63e8d05b 3");
        assert_eq!(
            describe(&vote, &app),
            "sentinel-2 votes for the sentinel with run id 9c1e0d2b to lead the failover (epoch 3) (+vote-for-leader)"
        );
        app.learn_topology(&fixtures::topology());
        assert_eq!(
            describe(&down, &app),
            "sentinel-2 thinks the master redis-1 is down; 2 of 3 sentinels must agree (+sdown)"
        );
    }

    #[test]
    fn tones_follow_the_kind_of_event() {
        let replica_down = sentinel(
            "+sdown",
            "slave 127.0.0.1:7002 127.0.0.1 7002 @ mymaster 127.0.0.1 7001",
        );
        assert_eq!(tone(&replica_down.kind), Tone::Plain);
        let switch = sentinel("+switch-master", "mymaster 127.0.0.1 7001 127.0.0.1 7002");
        assert_eq!(tone(&switch.kind), Tone::Switch);
        let fault = |f: &str| EventKind::FaultInjected {
            fault: f.to_string(),
            node: "redis-1".to_string(),
        };
        assert_eq!(tone(&fault("segfault")), Tone::Fault);
        assert_eq!(tone(&fault("restart")), Tone::Recovery);
    }
}
