//! The layout: a pure function from `&App` to a frame. Large terminals get
//! every panel; small ones (down to 80x24) keep the topology, throughput, a
//! one-line-per-topic "now" panel and the timeline, and drop the detail.
//! In Cluster mode the cluster panel takes the topology panel's place.
//! Lesson mode has its own layout at every size: the lesson panel and the
//! failover phase strip on top, then the nodes and the timeline.
//! Once the run is audited, the end screen replaces the live panels.

use super::app::App;
use super::widgets::{
    audit, cluster, header, help, latency, lesson, locks, phases, redpacket, summary, throughput,
    timeline, topology,
};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::Frame;

/// The smallest terminal that gets every panel.
pub const FULL_LAYOUT_MIN: (u16, u16) = (118, 34);

/// Draws the whole dashboard.
pub fn draw(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(2),
    ])
    .areas(area);
    header::render_header(app, frame, head);
    if app.report.is_some() {
        end_screen(app, frame, body);
    } else if app.in_lesson() {
        lesson_screen(app, frame, body);
    } else if area.width >= FULL_LAYOUT_MIN.0 && area.height >= FULL_LAYOUT_MIN.1 {
        full(app, frame, body);
    } else {
        compact(app, frame, body);
    }
    header::render_footer(app, frame, foot);
    if app.show_help {
        help::render(app, frame, area);
    }
}

/// Rows the nodes' panel (topology, or cluster) wants in full.
fn nodes_height(app: &App) -> u16 {
    if app.is_cluster() {
        cluster::height(app, true)
    } else {
        topology::height(app)
    }
}

/// The nodes' panel: the cluster panel in Cluster mode, else the topology.
fn render_nodes(app: &App, frame: &mut Frame, area: Rect) {
    if app.is_cluster() {
        cluster::render(app, frame, area);
    } else {
        topology::render(app, frame, area);
    }
}

fn full(app: &App, frame: &mut Frame, body: Rect) {
    let top_h = nodes_height(app).max(11);
    let [top, mid, bottom] = Layout::vertical([
        Constraint::Length(top_h),
        Constraint::Length(12),
        Constraint::Min(4),
    ])
    .areas(body);
    // The cluster panel's slot bars grow with the terminal.
    let nodes_w = if app.is_cluster() {
        (body.width / 2 + 4).max(64)
    } else {
        64
    };
    let [topo, thru] =
        Layout::horizontal([Constraint::Length(nodes_w), Constraint::Min(30)]).areas(top);
    render_nodes(app, frame, topo);
    throughput::render(app, frame, thru);
    let [lat, lock, rp] = Layout::horizontal([
        Constraint::Length(41),
        Constraint::Length(locks::WIDTH),
        Constraint::Min(30),
    ])
    .areas(mid);
    latency::render(app, frame, lat);
    locks::render(app, frame, lock);
    redpacket::render(app, frame, rp);
    timeline::render(app, frame, bottom);
}

/// The run is over and audited: the audit's word on the data, under the
/// topology as it ended when the terminal has room for both.
fn end_screen(app: &App, frame: &mut Frame, body: Rect) {
    if body.height >= nodes_height(app) + 20 {
        let [top, rest] =
            Layout::vertical([Constraint::Length(nodes_height(app)), Constraint::Min(0)])
                .areas(body);
        render_nodes(app, frame, top);
        audit::render(app, frame, rest);
    } else {
        audit::render(app, frame, body);
    }
}

/// Lesson mode, at any size: the lesson panel on top, the failover phase
/// strip under it while a failover runs, then the nodes, the throughput
/// when there is room, and the timeline (key events) in the rest. The
/// lesson and the nodes come before everything else a small screen gives up.
fn lesson_screen(app: &App, frame: &mut Frame, body: Rect) {
    let lesson_h = lesson::height(app, body.width);
    // The report's measurement of the failover, made once per frame.
    let strip = phases::current(app);
    let phase_h = strip
        .as_ref()
        .map_or(0, |f| phases::height(app, f, body.width));
    let rest = body.height.saturating_sub(lesson_h + phase_h);
    // The nodes in full when the timeline keeps a few rows; else their
    // smallest form: a cluster's shards on one line each, or the data
    // nodes alone (the sentinels' verdict moves into the panel's title).
    let nodes_min = if app.is_cluster() {
        cluster::height(app, false)
    } else {
        let data = app.snapshot.topology.nodes.iter();
        data.filter(|n| n.kind == crate::topology::NodeKind::Redis)
            .count()
            .max(1) as u16
            + 2
    };
    let nodes_h = if nodes_height(app) + 5 <= rest {
        nodes_height(app)
    } else {
        nodes_min
    };
    let left = rest.saturating_sub(nodes_h);
    let mid_h = if left >= 8 + 7 {
        8
    } else if left >= 6 + 7 {
        6
    } else {
        0
    };
    let [les, pha, nodes, mid, bottom] = Layout::vertical([
        Constraint::Length(lesson_h),
        Constraint::Length(phase_h),
        Constraint::Length(nodes_h),
        Constraint::Length(mid_h),
        Constraint::Min(3),
    ])
    .areas(body);
    lesson::render(app, frame, les);
    if let Some(f) = &strip {
        phases::render(app, f, frame, pha);
    }
    render_nodes(app, frame, nodes);
    if mid_h > 0 {
        let [thru, now] =
            Layout::horizontal([Constraint::Min(30), Constraint::Length(summary::WIDTH)])
                .areas(mid);
        throughput::render(app, frame, thru);
        summary::render(app, frame, now);
    }
    timeline::render(app, frame, bottom);
}

fn compact(app: &App, frame: &mut Frame, body: Rect) {
    // The column header is the first thing a small screen gives up; a
    // cluster's shards go to one line each when two would leave the
    // throughput and the timeline too little.
    let top_h = if app.is_cluster() {
        let two = cluster::height(app, true);
        if body.height >= two + 6 + 5 {
            two
        } else {
            cluster::height(app, false)
        }
    } else if body.height >= 26 {
        topology::height(app) - 1
    } else {
        topology::height(app) - 2
    };
    let mid_h = if body.height.saturating_sub(top_h) >= 16 {
        8
    } else {
        6
    };
    let [top, mid, bottom] = Layout::vertical([
        Constraint::Length(top_h),
        Constraint::Length(mid_h),
        Constraint::Min(3),
    ])
    .areas(body);
    render_nodes(app, frame, top);
    let [thru, now] =
        Layout::horizontal([Constraint::Min(30), Constraint::Length(summary::WIDTH)]).areas(mid);
    throughput::render(app, frame, thru);
    summary::render(app, frame, now);
    timeline::render(app, frame, bottom);
}

#[cfg(test)]
mod tests {
    //! Rendered states as text snapshots: what the screen shows, reviewed
    //! by eye (`cargo insta review`). Fed from constructed snapshots, not a
    //! live cluster.

    use super::*;
    use crate::tui::fixtures::{self, State};
    use crate::tui::theme::Theme;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use std::sync::Arc;

    fn app_for(state: State, theme: Theme) -> App {
        let mut app = App::new(theme);
        app.learn_topology(&state.topology);
        for earlier in state.earlier {
            app.on_snapshot(Arc::new(earlier));
        }
        app.on_snapshot(Arc::new(state.snapshot));
        for e in state.events {
            app.on_event(e);
        }
        app
    }

    fn terminal(app: &App, cols: u16, rows: u16) -> Terminal<TestBackend> {
        let mut t = Terminal::new(TestBackend::new(cols, rows)).unwrap();
        t.draw(|f| draw(app, f)).unwrap();
        t
    }

    /// The screen as plain text, one line per row, trailing blanks trimmed.
    fn screen(app: &App, cols: u16, rows: u16) -> String {
        let t = terminal(app, cols, rows);
        let buf = t.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            let mut line = String::new();
            for x in 0..buf.area.width {
                line.push_str(buf[(x, y)].symbol());
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn healthy_120x40() {
        let app = app_for(fixtures::healthy(), Theme::default());
        insta::assert_snapshot!(screen(&app, 120, 40));
    }

    #[test]
    fn failover_in_progress_120x40() {
        let mut app = app_for(fixtures::failover_in_progress(), Theme::default());
        app.handle_key(key('s'));
        app.on_control_result(Ok(
            "segfault redis-1: DEBUG SEGFAULT sent, the process crashed".into(),
        ));
        insta::assert_snapshot!(screen(&app, 120, 40));
    }

    #[test]
    fn after_failover_with_lost_writes_and_lock_violations_120x40() {
        let app = app_for(fixtures::after_failover(), Theme::default());
        insta::assert_snapshot!(screen(&app, 120, 40));
    }

    #[test]
    fn failover_in_progress_80x24() {
        let app = app_for(fixtures::failover_in_progress(), Theme::default());
        insta::assert_snapshot!(screen(&app, 80, 24));
    }

    #[test]
    fn after_failover_80x24_with_a_selected_node_and_a_refused_fault() {
        let mut app = app_for(fixtures::after_failover(), Theme::default());
        app.handle_key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
        app.handle_key(key('n'));
        app.on_control_result(Err(
            "partition redis-1: the local backend cannot partition; use --backend docker".into(),
        ));
        insta::assert_snapshot!(screen(&app, 80, 24));
    }

    #[test]
    fn help_overlay_80x24() {
        let mut app = app_for(fixtures::healthy(), Theme::default());
        app.handle_key(key('?'));
        insta::assert_snapshot!(screen(&app, 80, 24));
    }

    fn ended(report: crate::report::model::Report, theme: Theme) -> App {
        let mut app = app_for(fixtures::after_failover(), theme);
        app.on_report(Arc::new(report));
        app
    }

    #[test]
    fn end_screen_with_losses_of_two_causes_80x24() {
        let app = ended(fixtures::report_with_losses(), Theme::default());
        insta::assert_snapshot!(screen(&app, 80, 24));
    }

    #[test]
    fn end_screen_with_losses_of_two_causes_100x30() {
        let app = ended(fixtures::report_with_losses(), Theme::default());
        insta::assert_snapshot!(screen(&app, 100, 30));
    }

    #[test]
    fn end_screen_with_losses_of_two_causes_120x40() {
        let app = ended(fixtures::report_with_losses(), Theme::default());
        insta::assert_snapshot!(screen(&app, 120, 40));
    }

    #[test]
    fn end_screen_of_an_unchecked_audit_80x24() {
        let app = ended(fixtures::report_unchecked(), Theme::default());
        insta::assert_snapshot!(screen(&app, 80, 24));
    }

    #[test]
    fn the_end_screen_says_each_cause_in_the_reports_own_words() {
        use crate::metrics::losses::{cause_words, LossCause};
        let report = fixtures::report_with_losses();
        let causes: Vec<LossCause> = report.losses.iter().map(|l| l.cause).collect();
        assert_eq!(causes, vec![LossCause::Failover, LossCause::SplitBrain]);
        let lost: Vec<u64> = report.losses.iter().map(|l| l.lost_acked_writes).collect();
        assert_eq!(lost, vec![37, 12]);
        let app = ended(report.clone(), Theme { color: false });
        // Unwrapped, so that each sentence is checked whole.
        let text: Vec<String> = crate::tui::widgets::audit::lines(&app, &report)
            .iter()
            .map(|l| l.to_string())
            .collect();
        let text = text.join("\n");
        assert!(text.contains("lost acknowledged writes: !! 49"), "{text}");
        for l in &report.losses {
            assert!(text.contains(cause_words(l.cause)), "{text}");
            assert!(text.contains(&l.explanation), "{text}");
        }
        assert!(text.contains(&report.topology_findings[0]), "{text}");
        // Nothing said by colour alone.
        assert_eq!(
            screen(&app, 100, 30),
            screen(&ended(report, Theme::default()), 100, 30)
        );

        // A scenario that expects the loss passes, as `grabstorm run` says.
        let mut scenario = fixtures::report_with_losses();
        scenario.expectations = vec![crate::report::model::ExpectationVerdict {
            name: "lost_acked_writes".into(),
            expected: "> 0".into(),
            measured: "49".into(),
            ok: true,
        }];
        let s = screen(&ended(scenario, Theme { color: false }), 100, 30);
        assert!(s.contains("✓ SCENARIO: PASS"), "{s}");
        assert!(
            s.contains("✓ PASS lost_acked_writes: expected > 0, measured 49"),
            "{s}"
        );

        let unchecked = fixtures::report_unchecked();
        let s = screen(&ended(unchecked, Theme { color: false }), 80, 24);
        assert!(
            s.contains("audit ? NOT CHECKED: no data node answered"),
            "{s}"
        );
        assert!(s.contains("unknown"), "{s}");
        assert!(!s.contains("writes: ✓ 0"), "{s}");
        assert!(s.contains("Audit ─ ✗ FAIL"), "{s}");
    }

    #[test]
    fn the_end_screen_scrolls_and_q_leaves() {
        use crate::tui::app::Action;
        let mut app = ended(fixtures::report_with_losses(), Theme::default());
        // Smaller than the report, so that there is something to scroll.
        let top = screen(&app, 80, 16);
        assert_eq!(
            app.handle_key(key('s')),
            None,
            "no fault once the run is over"
        );
        app.handle_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
        app.handle_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
        assert_eq!(app.report_scroll, 2);
        assert_ne!(screen(&app, 80, 16), top);
        app.handle_key(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE));
        assert_eq!(app.report_scroll, 1);
        assert_eq!(app.handle_key(key('q')), Some(Action::Quit));
    }

    #[test]
    fn the_end_screen_scrolls_no_further_than_its_last_line() {
        let mut app = ended(fixtures::report_with_losses(), Theme::default());
        let _ = screen(&app, 70, 16);
        for _ in 0..500 {
            app.handle_key(KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE));
        }
        let max = app.report_scroll;
        assert!(max > 0 && max < 500, "scrolled to {max}");
        let bottom = screen(&app, 70, 16);
        // The last line of the report is on screen, and one more key press
        // changes nothing.
        assert!(
            bottom.contains("findings") || bottom.contains("·"),
            "{bottom}"
        );
        app.handle_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
        assert_eq!(app.report_scroll, max);
        assert_eq!(screen(&app, 70, 16), bottom);
        // One key up moves the view at once (no hidden overshoot to undo).
        app.handle_key(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE));
        assert_eq!(app.report_scroll, max - 1);
        assert_ne!(screen(&app, 70, 16), bottom);
    }

    #[test]
    fn the_locks_panel_keeps_attempts_and_acquisitions_apart() {
        let app = app_for(fixtures::after_failover(), Theme { color: false });
        let s = screen(&app, 120, 40);
        assert!(s.contains("kind     attempts   got refused  viol"), "{s}");
        // naive: 179,610 attempts, 48,210 acquired, 131,400 refused, 2 violations.
        assert!(s.contains("naive      179.6k 48.2k  131.4k  !! 2"), "{s}");
        assert!(s.contains("naive: TTL ran out while held 5x"), "{s}");
        assert!(s.contains("safe: 1 grants lost before TTL"), "{s}");
        // The compact layout says it in one line.
        let app = app_for(fixtures::healthy(), Theme { color: false });
        let s = screen(&app, 80, 24);
        assert!(s.contains("locks ✓ got 191.8k of 712.1k"), "{s}");
    }

    #[test]
    fn no_color_sets_no_colour_anywhere() {
        use ratatui::style::Color;
        let app = app_for(fixtures::after_failover(), Theme { color: false });
        let t = terminal(&app, 120, 40);
        let buf = t.backend().buffer();
        for cell in buf.content() {
            assert_eq!(
                cell.fg,
                Color::Reset,
                "cell {:?} has a colour",
                cell.symbol()
            );
            assert_eq!(
                cell.bg,
                Color::Reset,
                "cell {:?} has a colour",
                cell.symbol()
            );
        }
        // Same words with and without colour: nothing is said by colour alone.
        let coloured = app_for(fixtures::after_failover(), Theme::default());
        assert_eq!(screen(&app, 120, 40), screen(&coloured, 120, 40));
    }

    /// `state` in lesson mode with the run's clock at its elapsed time,
    /// maybe stopped by the teacher or held at a step.
    fn lesson_app(state: State, theme: Theme, paused: bool, held: bool) -> App {
        let mut state = state;
        let script = fixtures::lesson_script();
        let now_ms = state.snapshot.elapsed_ms;
        state.snapshot.clock = crate::metrics::snapshot::ClockView {
            now_ms,
            paused,
            held,
            // Held at the step due now, as the runner holds it.
            held_step: held.then(|| script.steps.iter().take_while(|s| s.at_ms < now_ms).count()),
        };
        let mut app = app_for(state, theme);
        app.lesson = Some(Arc::new(script));
        app.lesson_on = true;
        app.lesson_end_ms = Some(150_000);
        app
    }

    #[test]
    fn lesson_before_the_crash_80x24() {
        let app = lesson_app(fixtures::healthy(), Theme::default(), false, false);
        insta::assert_snapshot!(screen(&app, 80, 24));
    }

    #[test]
    fn lesson_before_the_crash_100x30() {
        let app = lesson_app(fixtures::healthy(), Theme::default(), false, false);
        insta::assert_snapshot!(screen(&app, 100, 30));
    }

    #[test]
    fn lesson_before_its_first_step_says_what_it_teaches_100x30() {
        let mut state = fixtures::healthy();
        state.snapshot.elapsed_ms = 41_300;
        let app = lesson_app(state, Theme::default(), false, false);
        insta::assert_snapshot!(screen(&app, 100, 30));
    }

    #[test]
    fn lesson_mid_failover_80x24() {
        let app = lesson_app(
            fixtures::failover_in_progress(),
            Theme::default(),
            false,
            false,
        );
        insta::assert_snapshot!(screen(&app, 80, 24));
    }

    #[test]
    fn lesson_mid_failover_100x30() {
        let app = lesson_app(
            fixtures::failover_in_progress(),
            Theme::default(),
            false,
            false,
        );
        insta::assert_snapshot!(screen(&app, 100, 30));
    }

    #[test]
    fn lesson_mid_failover_120x40() {
        let app = lesson_app(
            fixtures::failover_in_progress(),
            Theme::default(),
            false,
            false,
        );
        insta::assert_snapshot!(screen(&app, 120, 40));
    }

    #[test]
    fn lesson_paused_80x24() {
        let app = lesson_app(
            fixtures::failover_in_progress(),
            Theme::default(),
            true,
            false,
        );
        insta::assert_snapshot!(screen(&app, 80, 24));
    }

    /// After the failover, the clock held at the restart step (120 s).
    fn held_at_the_restart() -> State {
        let mut state = fixtures::after_failover();
        state.snapshot.elapsed_ms = 120_000;
        state.events.retain(|e| e.at_ms <= 120_000);
        state.snapshot.events.retain(|e| e.at_ms <= 120_000);
        state
    }

    #[test]
    fn lesson_held_at_a_step_100x30() {
        let app = lesson_app(held_at_the_restart(), Theme::default(), false, true);
        insta::assert_snapshot!(screen(&app, 100, 30));
    }

    #[test]
    fn lesson_after_its_last_step_100x30() {
        let app = lesson_app(fixtures::after_failover(), Theme::default(), false, false);
        insta::assert_snapshot!(screen(&app, 100, 30));
    }

    fn lesson_ended() -> App {
        let mut report = fixtures::report_with_losses();
        report.questions = fixtures::lesson_questions();
        let mut app = lesson_app(fixtures::after_failover(), Theme::default(), false, false);
        app.on_report(Arc::new(report));
        app
    }

    #[test]
    fn lesson_end_screen_with_its_questions_80x24() {
        insta::assert_snapshot!(screen(&lesson_ended(), 80, 24));
    }

    #[test]
    fn lesson_end_screen_with_its_questions_100x30() {
        insta::assert_snapshot!(screen(&lesson_ended(), 100, 30));
    }

    #[test]
    fn lesson_help_overlay_80x24() {
        let mut app = lesson_app(fixtures::healthy(), Theme::default(), false, false);
        app.handle_key(key('?'));
        insta::assert_snapshot!(screen(&app, 80, 24));
    }

    #[test]
    fn lesson_cluster_master_failed_100x30() {
        let app = lesson_app(
            fixtures::cluster_master_failed(),
            Theme::default(),
            false,
            false,
        );
        insta::assert_snapshot!(screen(&app, 100, 30));
    }

    #[test]
    fn lesson_mode_says_nothing_by_colour_alone() {
        use ratatui::style::Color;
        // (state, clock stopped, clock held)
        type Case = (fn() -> State, bool, bool);
        let states: [Case; 5] = [
            (fixtures::healthy, false, false),
            (fixtures::failover_in_progress, false, false),
            (fixtures::failover_in_progress, true, false),
            (held_at_the_restart, false, true),
            (fixtures::after_failover, false, false),
        ];
        for (state, paused, held) in states {
            let plain = lesson_app(state(), Theme { color: false }, paused, held);
            let coloured = lesson_app(state(), Theme::default(), paused, held);
            for (cols, rows) in [(80, 24), (100, 30)] {
                assert_eq!(screen(&plain, cols, rows), screen(&coloured, cols, rows));
                let t = terminal(&plain, cols, rows);
                for cell in t.backend().buffer().content() {
                    assert_eq!(cell.fg, Color::Reset, "{:?} has a colour", cell.symbol());
                    assert_eq!(cell.bg, Color::Reset, "{:?} has a colour", cell.symbol());
                }
            }
            let s = screen(&plain, 80, 24);
            // Stopped and held are said in words, on a small screen too.
            assert_eq!(
                s.contains("‖ PAUSED: clock stopped, Space to go on"),
                paused,
                "{s}"
            );
            assert_eq!(s.contains("⏸ HELD: waiting for n to play it"), held, "{s}");
        }
    }

    #[test]
    fn lesson_keys_show_every_event_and_switch_lesson_mode_off() {
        let mut app = lesson_app(
            fixtures::failover_in_progress(),
            Theme::default(),
            false,
            false,
        );
        let key_only = screen(&app, 120, 40);
        assert!(
            key_only.contains("Timeline (7 key events of 16 · a: all)"),
            "{key_only}"
        );
        assert!(!key_only.contains("(+try-failover)"), "{key_only}");
        assert_eq!(app.handle_key(key('a')), None);
        let all = screen(&app, 120, 40);
        assert!(
            all.contains("Timeline (all 16 events · a: key ones)"),
            "{all}"
        );
        assert!(
            all.contains("(+failover-state-send-slaveof-noone)"),
            "{all}"
        );
        app.handle_key(key('a'));
        assert_eq!(screen(&app, 120, 40), key_only);
        // `l`: the dashboard as without a lesson; `l` again brings it back.
        app.handle_key(key('l'));
        assert!(!app.in_lesson());
        let plain = screen(&app, 120, 40);
        assert!(!plain.contains("Lesson:"), "{plain}");
        assert!(plain.contains("Timeline (16 events)"), "{plain}");
        app.handle_key(key('l'));
        assert!(app.in_lesson());
        app.message = None;
        assert_eq!(screen(&app, 120, 40), key_only);
    }

    #[test]
    fn a_waits_note_shows_once_its_event_came() {
        use crate::metrics::{Event, EventKind};
        use crate::report::model::ScriptStep;
        let mut script = fixtures::lesson_script();
        // The crash at 97 s, then a wait for the switch due at the same time.
        script.steps.insert(
            2,
            ScriptStep {
                at_ms: 97_000,
                sentence: "wait for +switch-master (at most 20s)".into(),
                note: Some("A replica was promoted: writes flow again.".into()),
                question: None,
            },
        );
        let mut app = lesson_app(
            fixtures::failover_in_progress(),
            Theme { color: false },
            false,
            false,
        );
        app.lesson = Some(Arc::new(script));
        let s = screen(&app, 100, 30);
        assert!(s.contains("» The master crashes."), "{s}");
        assert!(
            s.contains("now: wait for +switch-master (at most 20s)"),
            "{s}"
        );
        assert!(!s.contains("A replica was promoted"), "{s}");
        // The runner says the wait's note when the switch comes.
        app.on_event(Event {
            at_ms: 100_300,
            source: "scenario".into(),
            kind: EventKind::Note {
                text: "A replica was promoted: writes flow again.".into(),
            },
        });
        let s = screen(&app, 100, 30);
        assert!(
            s.contains("step 3 of 5 at 01:37: wait for +switch-master"),
            "{s}"
        );
        assert!(
            s.contains("» A replica was promoted: writes flow again."),
            "{s}"
        );
        assert!(!s.contains("now: wait for"), "{s}");
    }

    #[test]
    fn the_phase_strip_is_the_reports_measurement() {
        use crate::metrics::timeline::{failovers, LostAckedWrites};
        let state = fixtures::after_failover();
        let expected = failovers(
            &state.events,
            &state.snapshot.throughput,
            &state.topology,
            &LostAckedWrites::default(),
        )
        .pop()
        .unwrap();
        let app = lesson_app(state, Theme { color: false }, false, false);
        let shown = crate::tui::widgets::phases::current(&app).unwrap();
        assert_eq!(shown, expected);
        let s = screen(&app, 100, 30);
        for (name, ms) in crate::tui::widgets::phases::phases(&expected, false) {
            let ms = ms.expect("every phase happened in this run");
            let lit = format!("[x] {name} {}", crate::words::secs(ms));
            assert!(s.contains(&lit), "{lit} missing:\n{s}");
        }
        // Measured once per change: a later snapshot measures it again
        // (the strip goes away long after the failover).
        let mut app = app;
        let mut snap = (*app.snapshot).clone();
        snap.elapsed_ms = 400_000;
        app.snapshot = Arc::new(snap);
        assert_eq!(crate::tui::widgets::phases::current(&app), None);
        // Long after the failover the strip goes away.
        let mut later = fixtures::after_failover();
        later.snapshot.elapsed_ms = 400_000;
        let app = lesson_app(later, Theme { color: false }, false, false);
        assert_eq!(crate::tui::widgets::phases::current(&app), None);
        assert!(!screen(&app, 100, 30).contains("Failover of"));
    }

    #[test]
    fn a_split_brain_and_a_partition_are_spelled_out() {
        use crate::metrics::{Health, Role};
        let mut state = fixtures::after_failover();
        let nodes = &mut state.snapshot.topology.nodes;
        // The old master, cut off, still thinks it is master.
        nodes[0].role = Role::Master;
        nodes[0].health = Health::Partitioned;
        nodes[2].health = Health::Paused;
        nodes[3].sentinel_master = Some("redis-1".into());
        let app = app_for(state, Theme::default());
        let s = screen(&app, 120, 40);
        assert!(s.contains("✗ 2 MASTERS: SPLIT BRAIN"), "{s}");
        assert!(s.contains("redis-1    ▲ MASTER   ⌁ PARTITIONED"), "{s}");
        assert!(s.contains("redis-3    · replica  ‖ PAUSED"), "{s}");
        assert!(
            s.contains("sentinels DISAGREE: 1 says redis-1, 2 say redis-2"),
            "{s}"
        );
    }

    #[test]
    fn cluster_healthy_80x24() {
        let app = app_for(fixtures::cluster_healthy(), Theme::default());
        insta::assert_snapshot!(screen(&app, 80, 24));
    }

    #[test]
    fn cluster_healthy_120x40() {
        let app = app_for(fixtures::cluster_healthy(), Theme::default());
        insta::assert_snapshot!(screen(&app, 120, 40));
    }

    #[test]
    fn cluster_master_failed_80x24_with_a_replica_selected_for_failover() {
        let mut app = app_for(fixtures::cluster_master_failed(), Theme::default());
        // Tab visits shard 1's master, then its replica.
        for _ in 0..2 {
            app.handle_key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
        }
        assert_eq!(app.selected.as_deref(), Some("redis-4"));
        app.handle_key(KeyEvent::new(KeyCode::Char('F'), KeyModifiers::SHIFT));
        insta::assert_snapshot!(screen(&app, 80, 24));
    }

    #[test]
    fn cluster_master_failed_120x40() {
        let app = app_for(fixtures::cluster_master_failed(), Theme::default());
        insta::assert_snapshot!(screen(&app, 120, 40));
    }

    #[test]
    fn cluster_after_promotion_80x24() {
        let app = app_for(fixtures::cluster_after_promotion(), Theme::default());
        insta::assert_snapshot!(screen(&app, 80, 24));
    }

    #[test]
    fn cluster_after_promotion_120x40() {
        let app = app_for(fixtures::cluster_after_promotion(), Theme::default());
        insta::assert_snapshot!(screen(&app, 120, 40));
    }

    #[test]
    fn cluster_help_overlay_80x24() {
        let mut app = app_for(fixtures::cluster_healthy(), Theme::default());
        app.handle_key(key('?'));
        insta::assert_snapshot!(screen(&app, 80, 24));
    }

    #[test]
    fn a_short_terminal_gets_one_line_per_shard() {
        let app = app_for(fixtures::cluster_master_failed(), Theme { color: false });
        let s = screen(&app, 80, 18);
        assert!(
            s.contains("│ 1 ████████▌─────────────────  ? redis-1 ✗ DOWN FAIL  · redis-4 ✓ "),
            "{s}"
        );
        assert!(
            s.contains("│ 3 ─────────────────▐████████  ▲ redis-3 ✓  · redis-6 ✓ "),
            "{s}"
        );
        assert!(s.contains("Timeline"), "{s}");
    }

    #[test]
    fn tiny_and_odd_sizes_do_not_panic_and_keep_the_header() {
        let app = app_for(fixtures::after_failover(), Theme::default());
        let cluster = app_for(fixtures::cluster_master_failed(), Theme::default());
        for (c, r) in [
            (20, 5),
            (40, 12),
            (80, 24),
            (100, 30),
            (117, 34),
            (118, 34),
            (200, 60),
        ] {
            for app in [&app, &cluster] {
                let s = screen(app, c, r);
                assert!(s.starts_with(" GRABSTORM"), "{c}x{r}:\n{s}");
            }
        }
    }
}
