//! The red-packet panel: packets in flight and done, whether the money adds
//! up (granted + remaining == sent for every packet), duplicate grabs, and
//! fairness by grab position: each position's mean against the equal-mean
//! line (`┃`), its spread, and how often it was the luck king. Seckill's
//! stock and oversell line goes at the bottom when that workload runs.

use super::{panel, rfit};
use crate::metrics::RedPacketView;
use crate::tui::app::App;
use crate::words::{count, money, money_total};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// A bar for `mean` on a scale where `expected` sits in the middle of
/// `width` cells, with the equal-mean mark `┃` drawn over it.
pub fn fairness_bar(mean: f64, expected: f64, width: usize) -> String {
    if width < 3 {
        return String::new();
    }
    let mark = width / 2;
    let scale = if expected > 0.0 {
        mark as f64 / expected
    } else {
        0.0
    };
    // Past the mark, skip its cell: twice the mean fills the bar.
    let len = (mean * scale).round() as usize;
    let len = if len > mark { len + 1 } else { len }.min(width);
    (0..width)
        .map(|i| {
            if i == mark {
                '┃'
            } else if i < len {
                '█'
            } else {
                ' '
            }
        })
        .collect()
}

fn money_lines(rp: &RedPacketView, app: &App) -> Vec<Line<'static>> {
    let theme = app.theme;
    let amounts = format!(
        "granted {} of {} sent",
        money_total(rp.amount_granted_cents),
        money_total(rp.amount_sent_cents)
    );
    if rp.conservation_ok {
        vec![
            Line::from(Span::styled("money ✓ conserved", theme.ok())),
            Line::from(amounts),
        ]
    } else {
        vec![
            Line::from(Span::styled(
                "money !! NOT CONSERVED: granted + left ≠ sent",
                theme.bad(),
            )),
            Line::from(Span::styled(amounts, theme.bad())),
        ]
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let inner_w = area.width.saturating_sub(2) as usize;
    let inner_h = area.height.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    match &app.snapshot.redpacket {
        None => lines.push(Line::from(Span::styled(
            "no red-packet workload running",
            theme.dim(),
        ))),
        Some(rp) => {
            let in_flight = rp.packets.saturating_sub(rp.packets_done);
            lines.push(Line::from(format!(
                "packets {}: {} open, {} done",
                count(rp.packets),
                count(in_flight),
                count(rp.packets_done)
            )));
            lines.extend(money_lines(rp, app));
            let dup_style = if rp.duplicate_grabs > 0 {
                theme.bad()
            } else {
                theme.ok()
            };
            let dup = if rp.duplicate_grabs > 0 {
                format!("!! {} duplicate grabs", count(rp.duplicate_grabs))
            } else {
                "✓ no duplicate grabs".to_string()
            };
            lines.push(Line::from(vec![
                Span::styled(dup, dup_style),
                Span::raw(format!(" · Gini {:.2}", rp.gini_mean)),
            ]));
            let reserve = usize::from(app.snapshot.seckill.is_some());
            let rows = inner_h.saturating_sub(lines.len() + 1 + reserve);
            if rows > 0 && !rp.by_position.is_empty() {
                let bar_w = inner_w.saturating_sub(3 + 8 + 7 + 1 + 6).clamp(3, 20);
                lines.push(Line::from(Span::styled(
                    format!(
                        "pos{}{} {}{}",
                        rfit("mean", 8),
                        rfit("±sd", 7),
                        super::fit(&format!("┃={}", money(rp.expected_mean_cents)), bar_w),
                        rfit("king", 6)
                    ),
                    theme.dim(),
                )));
                for p in rp.by_position.iter().take(rows) {
                    lines.push(Line::from(vec![
                        Span::raw(format!(
                            "#{:<2}{}{} ",
                            p.position,
                            rfit(&money(p.mean_cents), 8),
                            rfit(&money(p.stdev_cents), 7)
                        )),
                        Span::styled(
                            fairness_bar(p.mean_cents, rp.expected_mean_cents, bar_w),
                            theme.bar(),
                        ),
                        Span::raw(rfit(&format!("{:.0}%", p.luck_king_share * 100.0), 6)),
                    ]));
                }
            }
        }
    }
    if let Some(sk) = &app.snapshot.seckill {
        let (text, style) = if sk.oversold > 0 {
            (format!("!! OVERSOLD {}", count(sk.oversold)), theme.bad())
        } else {
            ("✓ not oversold".to_string(), theme.ok())
        };
        lines.push(Line::from(vec![
            Span::raw(format!("seckill {}/{} ", count(sk.sold), count(sk.stock))),
            Span::styled(text, style),
        ]));
    }
    let title = if app.snapshot.seckill.is_some() {
        "Red packets · seckill"
    } else {
        "Red packets"
    };
    frame.render_widget(Paragraph::new(lines).block(panel(title, theme)), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fairness_bar_puts_the_equal_mean_mark_in_the_middle() {
        assert_eq!(fairness_bar(100.0, 100.0, 9), "████┃    ");
        assert_eq!(fairness_bar(50.0, 100.0, 9), "██  ┃    ");
        assert_eq!(fairness_bar(200.0, 100.0, 9), "████┃████");
        assert_eq!(fairness_bar(150.0, 100.0, 9), "████┃██  ");
        assert_eq!(fairness_bar(0.0, 0.0, 9), "    ┃    ");
    }
}
