//! The latency panel: p50/p90/p99/p99.9/max of the last interval and of the
//! whole run, and the whole run's histogram, one bar per (merged) bucket, so
//! the failover's long tail is visible next to the fast body.

use super::{fit, panel, rfit};
use crate::metrics::{LatencyBucket, LatencySummary};
use crate::tui::app::App;
use crate::words::{latency, short};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

fn percentiles(label: &str, s: &LatencySummary) -> String {
    if s.count == 0 {
        return format!("{label:<4}{:>7}", "no ops");
    }
    format!(
        "{label:<4}{}{}{}{}{}",
        rfit(&latency(s.p50_us), 7),
        rfit(&latency(s.p90_us), 7),
        rfit(&latency(s.p99_us), 7),
        rfit(&latency(s.p999_us), 7),
        rfit(&latency(s.max_us), 7),
    )
}

/// Merges adjacent buckets until at most `rows` remain, dropping empty
/// buckets at both ends.
pub fn merge_buckets(buckets: &[LatencyBucket], rows: usize) -> Vec<LatencyBucket> {
    let first = buckets.iter().position(|b| b.count > 0);
    let last = buckets.iter().rposition(|b| b.count > 0);
    let (Some(first), Some(last)) = (first, last) else {
        return Vec::new();
    };
    let used = &buckets[first..=last];
    if rows == 0 {
        return Vec::new();
    }
    let per_row = used.len().div_ceil(rows);
    used.chunks(per_row)
        .map(|c| LatencyBucket {
            upper_us: c.last().map_or(0, |b| b.upper_us),
            count: c.iter().map(|b| b.count).sum(),
        })
        .collect()
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let lat = &app.snapshot.latency;
    let inner_w = area.width.saturating_sub(2) as usize;
    let inner_h = area.height.saturating_sub(2) as usize;
    let mut lines = vec![
        Line::from(Span::styled(
            format!(
                "{:<4}{:>7}{:>7}{:>7}{:>7}{:>7}",
                "", "p50", "p90", "p99", "p99.9", "max"
            ),
            theme.dim(),
        )),
        Line::from(percentiles("last", &lat.interval)),
        Line::from(percentiles("run", &lat.total)),
    ];
    let rows = inner_h.saturating_sub(lines.len());
    let bars = merge_buckets(&lat.buckets, rows);
    let label_w = 8;
    let count_w = 7;
    let bar_w = inner_w.saturating_sub(label_w + count_w + 1);
    let max = bars.iter().map(|b| b.count).max().unwrap_or(0);
    for b in &bars {
        let len = if max == 0 {
            0
        } else {
            ((b.count as f64 / max as f64) * bar_w as f64).round() as usize
        };
        let bar = if len == 0 && b.count > 0 {
            "▏".to_string()
        } else {
            "█".repeat(len)
        };
        lines.push(Line::from(vec![
            Span::styled(
                fit(&format!("≤{}", latency(b.upper_us)), label_w),
                theme.dim(),
            ),
            Span::styled(fit(&bar, bar_w), theme.bar()),
            Span::raw(rfit(&short(b.count), count_w + 1)),
        ]));
    }
    frame.render_widget(Paragraph::new(lines).block(panel("Latency", theme)), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_merge_to_fit_and_empty_ends_drop() {
        let b = |upper_us, count| LatencyBucket { upper_us, count };
        let buckets = vec![
            b(100, 0),
            b(200, 5),
            b(400, 3),
            b(800, 0),
            b(1600, 2),
            b(3200, 0),
        ];
        assert_eq!(
            merge_buckets(&buckets, 10),
            vec![b(200, 5), b(400, 3), b(800, 0), b(1600, 2)]
        );
        assert_eq!(merge_buckets(&buckets, 2), vec![b(400, 8), b(1600, 2)]);
        assert_eq!(merge_buckets(&buckets, 0), vec![]);
        assert_eq!(merge_buckets(&[b(100, 0)], 4), vec![]);
    }
}
