//! The locks panel: per lock kind, holders, waiters, acquisitions per
//! second, contention and safety violations. A violation is never colour
//! alone: it reads `!! N` in the table and a line says who overlapped
//! (the timeline has the moment).

use super::{fit, panel, rfit, short};
use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// Failed attempts as a share of all attempts, in percent.
pub fn contention(acquired: u64, failed: u64) -> u64 {
    let total = acquired + failed;
    if total == 0 {
        0
    } else {
        ((failed as f64 / total as f64) * 100.0).round() as u64
    }
}

pub fn total_violations(app: &App) -> u64 {
    app.snapshot.locks.iter().map(|l| l.violations).sum()
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
                "{}{}{}{}{}{}",
                fit("kind", 10),
                rfit("hold", 5),
                rfit("wait", 5),
                rfit("acq/s", 6),
                rfit("cont", 5),
                rfit("viol", 6)
            ),
            theme.dim(),
        )));
        for l in locks {
            let viol = if l.violations == 0 {
                ("✓ 0".to_string(), theme.ok())
            } else {
                (format!("!! {}", l.violations), theme.bad())
            };
            lines.push(Line::from(vec![
                Span::raw(format!(
                    "{}{}{}{}{}",
                    fit(&l.kind.to_string(), 10),
                    rfit(&short(l.holders), 5),
                    rfit(&short(l.waiters), 5),
                    rfit(&short(l.acquisitions_per_s.round() as u64), 6),
                    rfit(&format!("{}%", contention(l.acquired, l.failed)), 5),
                )),
                Span::styled(rfit(&viol.0, 6), viol.1),
            ]));
        }
        let mut notes = Vec::new();
        for l in locks {
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
