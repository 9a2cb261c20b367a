//! The compact "now" panel used when the terminal is small (80x24): one line
//! each for throughput, latency, locks, money and seckill, in words.

use super::panel;
use crate::tui::app::App;
use crate::words::{count, latency, short};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// The panel's width in the compact layout: its longest line plus borders.
pub const WIDTH: u16 = 32;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let s = &app.snapshot;
    let errors: f64 = s.errors_per_s.values().sum();
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{} ops/s", count(s.ops_per_s.round() as u64)),
            theme.title(),
        ),
        Span::styled(
            format!("  {} err/s", count(errors.round() as u64)),
            if errors >= 0.5 {
                theme.warn()
            } else {
                theme.dim()
            },
        ),
    ])];
    let l = &s.latency.interval;
    lines.push(Line::from(if l.count > 0 {
        format!("p99 {}  max {}", latency(l.p99_us), latency(l.max_us))
    } else {
        "p99 -  (no ops now)".to_string()
    }));
    if !s.locks.is_empty() {
        let v = super::locks::total_violations(app);
        let (got, tries) = super::locks::acquired_of_attempts(app);
        lines.push(if v == 0 {
            // Attempts are not acquisitions: both, side by side.
            Line::from(Span::styled(
                format!("locks ✓ got {} of {}", short(got), short(tries)),
                theme.ok(),
            ))
        } else {
            Line::from(Span::styled(
                format!("locks !! {v} VIOLATIONS"),
                theme.bad(),
            ))
        });
    }
    if let Some(rp) = &s.redpacket {
        lines.push(if rp.conservation_ok && rp.duplicate_grabs == 0 {
            Line::from(Span::styled("money ✓ conserved", theme.ok()))
        } else {
            Line::from(Span::styled("money !! NOT CONSERVED", theme.bad()))
        });
    }
    if let Some(sk) = &s.seckill {
        lines.push(if sk.oversold == 0 {
            Line::from(Span::styled(
                format!("seckill ✓ {} sold", count(sk.sold)),
                theme.ok(),
            ))
        } else {
            Line::from(Span::styled(
                format!("seckill !! OVERSOLD {}", count(sk.oversold)),
                theme.bad(),
            ))
        });
    }
    frame.render_widget(Paragraph::new(lines).block(panel("Now", theme)), area);
}
