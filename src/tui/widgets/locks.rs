//! The locks panel: per lock kind, the counts kept apart so that "attempts
//! are not acquisitions" is visible: acquire attempts, acquisitions,
//! refusals (someone held it) and safety violations in the table; then who
//! holds and waits now, and TTL expiries while a holder still held the lock. A violation
//! is never colour alone: it reads `!! N` in the table and a line says who
//! overlapped (the timeline has the moment).

use super::{fit, panel, rfit};
use crate::tui::app::App;
use crate::words::{count, short};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// The panel's width in the full layout: the table's columns plus borders.
pub const WIDTH: u16 = 39;

pub fn total_violations(app: &App) -> u64 {
    app.snapshot.locks.iter().map(|l| l.violations).sum()
}

/// Acquisitions and attempts over all lock kinds.
pub fn acquired_of_attempts(app: &App) -> (u64, u64) {
    app.snapshot.locks.iter().fold((0, 0), |(got, tries), l| {
        (got + l.acquired, tries + l.attempts)
    })
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let inner_h = area.height.saturating_sub(2) as usize;
    let locks = &app.snapshot.locks;
    let mut lines = Vec::new();
    if locks.is_empty() {
        lines.push(Line::from(Span::styled(
            "no lock workload running (w cycles workloads)",
            theme.dim(),
        )));
    } else {
        lines.push(Line::from(Span::styled(
            format!(
                "{}{}{}{}{}",
                fit("kind", 9),
                rfit("attempts", 8),
                rfit("got", 6),
                rfit("refused", 8),
                rfit("viol", 6)
            ),
            theme.dim(),
        )));
        for l in locks {
            let viol = if l.violations == 0 {
                ("✓ 0".to_string(), theme.ok())
            } else {
                (format!("!! {}", short(l.violations)), theme.bad())
            };
            lines.push(Line::from(vec![
                Span::raw(format!(
                    "{}{}{}{}",
                    fit(&l.kind.to_string(), 9),
                    rfit(&short(l.attempts), 8),
                    rfit(&short(l.acquired), 6),
                    rfit(&short(l.refused), 8),
                )),
                Span::styled(rfit(&viol.0, 6), viol.1),
            ]));
        }
        let holding: u64 = locks.iter().map(|l| l.holders).sum();
        let waiting: u64 = locks.iter().map(|l| l.waiters).sum();
        let rate: f64 = locks.iter().map(|l| l.acquisitions_per_s).sum();
        lines.push(Line::from(format!(
            "now {} held, {} waiting, {} got/s",
            count(holding),
            count(waiting),
            count(rate.round() as u64)
        )));
        // TTL expiries while held: a slow holder, not lost data; a zero is
        // said too, so that "none" is not mistaken for "not counted".
        if locks.iter().all(|l| l.ttl_expired_while_held == 0) {
            lines.push(Line::from(Span::styled(
                "✓ no TTL ran out while held",
                theme.ok(),
            )));
        }
        let mut notes = Vec::new();
        for l in locks {
            if l.ttl_expired_while_held > 0 {
                notes.push(format!(
                    "{}: TTL ran out while held {}x",
                    l.kind,
                    short(l.ttl_expired_while_held)
                ));
            }
            if l.locks_lost > 0 {
                notes.push(format!(
                    "{}: {} grants lost before TTL",
                    l.kind,
                    short(l.locks_lost)
                ));
            }
            if l.lost_updates > 0 {
                notes.push(format!(
                    "{}: {} lost updates",
                    l.kind,
                    short(l.lost_updates)
                ));
            }
            if l.stale_tokens_refused > 0 {
                notes.push(format!(
                    "{}: {} stale tokens refused",
                    l.kind,
                    short(l.stale_tokens_refused)
                ));
            }
        }
        for n in notes {
            lines.push(Line::from(Span::styled(n, theme.warn())));
        }
        // Who overlapped, newest first, as many as fit.
        let mut violations: Vec<_> = locks
            .iter()
            .flat_map(|l| l.last_violations.iter().map(move |v| (l.kind, v)))
            .collect();
        violations.sort_by_key(|v| std::cmp::Reverse(v.1.at_ms));
        for (kind, v) in violations {
            if lines.len() >= inner_h {
                break;
            }
            lines.push(Line::from(Span::styled(
                format!("!! {kind} {} {}", v.lock, v.holders.join("+")),
                theme.bad(),
            )));
        }
    }
    let total = total_violations(app);
    let mut block = panel("Locks", theme);
    if total > 0 {
        block = block.title(Line::from(Span::styled(
            format!(
                " !! {total} VIOLATION{} ",
                if total == 1 { "" } else { "S" }
            ),
            theme
                .bad()
                .patch(Style::new().add_modifier(ratatui::style::Modifier::REVERSED)),
        )));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
