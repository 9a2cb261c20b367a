//! Lesson mode's panel, always on screen while a class follows a scenario:
//! what the scenario teaches (before its first step), then the current
//! step's note, wrapped and emphasised so the back row can read it; what
//! comes next and when, counted in the run's clock; and whether the
//! teacher stopped the clock or a step waits for `n`, in words. The step
//! that is current is the last one the clock has passed, so a note stays
//! up however many events the timeline scrolls past.

use super::panel;
use crate::metrics::snapshot::ClockView;
use crate::metrics::EventKind;
use crate::report::model::{Script, ScriptStep};
use crate::tui::app::App;
use crate::words::clock;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

/// Where the lesson stands on the run's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The step played last (index into the steps), None before the first.
    pub current: Option<usize>,
    /// The step to come, None after the last.
    pub next: Option<usize>,
}

/// The steps the clock has passed and the one it comes to next. A held
/// clock (`--step`) stands at the step it holds, which is not played yet
/// (the clock says which: two steps may be due at one time).
pub fn progress(steps: &[ScriptStep], clock: ClockView) -> Progress {
    let passed = match clock.held_step {
        Some(step) if clock.held => step,
        _ => steps.iter().take_while(|s| s.at_ms <= clock.now_ms).count(),
    };
    let passed = passed.min(steps.len());
    Progress {
        current: passed.checked_sub(1),
        next: (passed < steps.len()).then_some(passed),
    }
}

/// Whole seconds until `at_ms`, rounded up: "in 12 s" never says 0 before it comes.
fn seconds_until(at_ms: u64, now_ms: u64) -> u64 {
    at_ms.saturating_sub(now_ms).div_ceil(1000)
}

/// The state of the clock in words, when it is not simply running.
pub fn clock_marker(app: &App) -> Option<&'static str> {
    if app.snapshot.clock.held {
        Some("⏸ HELD")
    } else if app.clock_paused() {
        Some("‖ PAUSED")
    } else {
        None
    }
}

/// The panel's lines, before wrapping.
pub fn lines(app: &App, script: &Script) -> Vec<Line<'static>> {
    let theme = app.theme;
    let clock_now = app.snapshot.clock;
    let steps = &script.steps;
    let at = progress(steps, clock_now);
    let emphasis = theme
        .title()
        .patch(Style::new().add_modifier(Modifier::BOLD));
    let mut out = Vec::new();
    // A wait's note says what its event meant: it shows once the event
    // came (the runner says it then); until then the step before stays up.
    let mut shown = at.current;
    let mut waiting = None;
    if let Some(i) = at.current {
        let step = &steps[i];
        if step.sentence.starts_with("wait for ")
            && step.note.as_deref().is_some_and(|n| !said(app, n))
        {
            waiting = Some(step.sentence.clone());
            shown = i.checked_sub(1);
        }
    }
    match shown {
        None => {
            out.push(Line::from(vec![
                Span::styled("this lesson: ", theme.dim()),
                Span::styled(
                    if script.teaches.is_empty() {
                        script.title.clone()
                    } else {
                        script.teaches.clone()
                    },
                    emphasis,
                ),
            ]));
        }
        Some(i) => {
            let step = &steps[i];
            let mut head = format!("step {} of {} at {}", i + 1, steps.len(), clock(step.at_ms));
            // A narration step's sentence ("note") says nothing more.
            if step.sentence != "note" {
                head = format!("{head}: {}", step.sentence);
            }
            match &step.note {
                Some(note) if !note.is_empty() => {
                    out.push(Line::from(Span::styled(head, theme.dim())));
                    out.push(Line::from(Span::styled(format!("» {note}"), emphasis)));
                }
                _ => out.push(Line::from(Span::styled(format!("» {head}"), emphasis))),
            }
        }
    }
    if let Some(w) = waiting {
        out.push(Line::from(Span::styled(format!("now: {w}"), theme.dim())));
    }
    let mut next = vec![];
    match at.next {
        Some(n) => {
            let step = &steps[n];
            // A narration step's sentence is just "note".
            let what = if step.sentence == "note" {
                "a note"
            } else {
                step.sentence.as_str()
            };
            next.push(Span::raw(format!("next: {what}")));
            if clock_now.held {
                next.push(Span::raw(" · "));
                next.push(Span::styled(
                    "⏸ HELD: waiting for n to play it",
                    theme.alarm(),
                ));
            } else if app.clock_paused() {
                next.push(Span::raw(" · "));
                next.push(Span::styled(
                    "‖ PAUSED: clock stopped, Space to go on",
                    theme.alarm(),
                ));
            } else {
                next.push(Span::raw(format!(
                    " in {} s",
                    seconds_until(step.at_ms, clock_now.now_ms)
                )));
            }
        }
        None => {
            next.push(Span::raw("last step played"));
            if let Some(end) = app.lesson_end_ms {
                next.push(Span::raw(format!(
                    "; the run ends in {} s",
                    seconds_until(end, clock_now.now_ms)
                )));
            }
            if app.clock_paused() {
                next.push(Span::raw(" · "));
                next.push(Span::styled(
                    "‖ PAUSED: clock stopped, Space to go on",
                    theme.alarm(),
                ));
            }
        }
    }
    next.push(Span::styled(
        format!(" · clock {}", clock(clock_now.now_ms)),
        theme.dim(),
    ));
    out.push(Line::from(next));
    out
}

/// Whether the scenario has said `note` (the runner says a wait's note
/// when its event comes).
fn said(app: &App, note: &str) -> bool {
    app.events.iter().any(|e| {
        e.source == "scenario" && matches!(&e.kind, EventKind::Note { text } if text == note)
    })
}

fn paragraph(app: &App) -> Option<Paragraph<'static>> {
    let script = app.lesson.as_deref()?;
    Some(Paragraph::new(lines(app, script)).wrap(Wrap { trim: true }))
}

/// Rows the panel wants at `width`: its lines once wrapped, and the border.
pub fn height(app: &App, width: u16) -> u16 {
    paragraph(app).map_or(0, |p| {
        p.line_count(width.saturating_sub(2)).min(12) as u16 + 2
    })
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(p) = paragraph(app) else {
        return;
    };
    let title = app
        .lesson
        .as_deref()
        .map_or("Lesson".to_string(), |s| format!("Lesson: {}", s.title));
    let mut block = panel(&title, app.theme);
    if let Some(marker) = clock_marker(app) {
        block = block.title(
            Line::from(Span::styled(format!(" {marker} "), app.theme.alarm())).right_aligned(),
        );
    }
    frame.render_widget(p.block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(at_ms: u64) -> ScriptStep {
        ScriptStep {
            at_ms,
            sentence: format!("step at {at_ms}"),
            ..Default::default()
        }
    }

    fn clock(now_ms: u64, held_step: Option<usize>) -> ClockView {
        ClockView {
            now_ms,
            paused: false,
            held: held_step.is_some(),
            held_step,
        }
    }

    #[test]
    fn the_current_step_is_the_last_the_clock_has_passed() {
        let steps = [step(1000), step(3000), step(9000)];
        let p = |now| progress(&steps, clock(now, None));
        assert_eq!(
            p(0),
            Progress {
                current: None,
                next: Some(0)
            }
        );
        assert_eq!(
            p(3000),
            Progress {
                current: Some(1),
                next: Some(2)
            }
        );
        // Held at a step (a few ms past its time): it is not played yet.
        assert_eq!(
            progress(&steps, clock(3004, Some(1))),
            Progress {
                current: Some(0),
                next: Some(1)
            }
        );
        // Two steps due at one time: the clock says which it holds.
        assert_eq!(
            progress(&steps, clock(3004, Some(2))),
            Progress {
                current: Some(1),
                next: Some(2)
            }
        );
        assert_eq!(
            p(9500),
            Progress {
                current: Some(2),
                next: None
            }
        );
        assert_eq!(seconds_until(9000, 3000), 6);
        assert_eq!(seconds_until(9000, 8999), 1);
        assert_eq!(seconds_until(9000, 9500), 0);
    }
}
