//! The throughput panel: successful operations per second over the last
//! minutes as a bar chart (one column a second, newest on the right), errors
//! per second beneath it, and a row marking the moments faults were injected
//! (`F`), the failover windows (`═`) and the master switches (`S`), so the
//! dip in the chart lines up with its cause.

use super::panel;
use crate::metrics::{ErrorClass, EventKind};
use crate::tui::app::App;
use crate::words::{count, short};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

const EIGHTHS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const GUTTER: usize = 7;

/// When, in run seconds, faults hit, failovers ran and masters switched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    pub faults: Vec<u64>,
    /// Inclusive (first second, last second) of each failover.
    pub windows: Vec<(u64, u64)>,
    pub switches: Vec<u64>,
}

fn is_breaking(fault: &str) -> bool {
    !matches!(fault, "restart" | "resume" | "heal")
}

/// Reads the marks from the timeline. A failover window opens at the
/// latest breaking fault before Sentinel first flags the master down (or
/// at that flag, without a fault) and closes at `+switch-master`; a window
/// still open while a failover runs extends to now.
pub fn marks(app: &App) -> Marks {
    let mut m = Marks::default();
    let mut last_fault: Option<u64> = None;
    let mut open: Option<u64> = None;
    for e in &app.events {
        let s = e.at_ms / 1000;
        match &e.kind {
            EventKind::FaultInjected { fault, .. } if is_breaking(fault) => {
                m.faults.push(s);
                last_fault = Some(s);
            }
            EventKind::Sentinel { name, payload } => match name.as_str() {
                "+sdown" | "+odown" | "+try-failover"
                    if open.is_none() && (name != "+sdown" || payload.starts_with("master ")) =>
                {
                    let start = last_fault.filter(|f| s.saturating_sub(*f) <= 60);
                    open = Some(start.unwrap_or(s));
                }
                "+switch-master" => {
                    m.switches.push(s);
                    m.windows.push((open.take().unwrap_or(s), s));
                    last_fault = None;
                }
                _ => {}
            },
            _ => {}
        }
    }
    if let Some(start) = open {
        if app.failover_in_progress() {
            m.windows.push((start, app.snapshot.elapsed_ms / 1000));
        }
    }
    m
}

/// Error classes in few letters, for a crowded line.
fn short_class(c: ErrorClass) -> &'static str {
    match c {
        ErrorClass::ConnectionRefused => "refused",
        ErrorClass::ConnectionReset => "reset",
        other => other.name(),
    }
}

/// `refused 340, timeout 12` for the classes seen this interval.
fn errors_now(app: &App) -> String {
    let mut classes: Vec<(ErrorClass, f64)> = app
        .snapshot
        .errors_per_s
        .iter()
        .filter(|(_, v)| **v >= 0.5)
        .map(|(k, v)| (*k, *v))
        .collect();
    classes.sort_by(|a, b| b.1.total_cmp(&a.1));
    if classes.is_empty() {
        return "none".to_string();
    }
    classes
        .iter()
        .map(|(k, v)| format!("{} {}", short_class(*k), count(v.round() as u64)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn bar_cell(value: u64, max: u64, rows: usize, row_from_bottom: usize) -> char {
    if max == 0 || value == 0 {
        return ' ';
    }
    let eighths = ((value as f64 / max as f64) * (rows * 8) as f64).round() as usize;
    let eighths = eighths.max(1);
    let here = eighths.saturating_sub(row_from_bottom * 8).min(8);
    EIGHTHS[here]
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let inner_w = area.width.saturating_sub(2) as usize;
    let inner_h = area.height.saturating_sub(2) as usize;
    let points = &app.snapshot.throughput;
    let peak = points.iter().map(|p| p.ok).max().unwrap_or(0);
    let failing = app.snapshot.errors_per_s.values().any(|v| *v >= 0.5);
    let mut head = vec![
        Span::styled(
            format!("{} ops/s", count(app.snapshot.ops_per_s.round() as u64)),
            theme.title(),
        ),
        Span::raw(format!(" · peak {}", short(peak))),
    ];
    let errors = Span::styled(
        format!("err/s {}", errors_now(app)),
        if failing { theme.warn() } else { Style::new() },
    );
    // Errors get their own line while they happen: the classes matter then.
    let mut lines = if failing && inner_h >= 6 {
        vec![Line::from(head), Line::from(errors)]
    } else {
        head.push(Span::raw(" · "));
        head.push(errors);
        vec![Line::from(head)]
    };
    let summary_rows = lines.len();
    let columns = inner_w.saturating_sub(GUTTER);
    if inner_h >= 2 && columns >= 4 {
        // Rows: summary, chart, errors, marks, axis; the chart gets the rest.
        let extra = match inner_h {
            7.. => 3,
            4..=6 => 2,
            _ => 0,
        };
        let chart_rows = inner_h.saturating_sub(summary_rows + extra).max(1);
        let shown = &points[points.len().saturating_sub(columns)..];
        let pad = columns - shown.len();
        let max_ok = shown.iter().map(|p| p.ok).max().unwrap_or(0);
        for row in 0..chart_rows {
            let from_bottom = chart_rows - 1 - row;
            let label = if row == 0 {
                format!("{:>6}┤", short(max_ok))
            } else if from_bottom == 0 {
                format!("{:>6}┤", "0")
            } else {
                format!("{:>6}│", "")
            };
            let mut bars = " ".repeat(pad);
            bars.extend(
                shown
                    .iter()
                    .map(|p| bar_cell(p.ok, max_ok, chart_rows, from_bottom)),
            );
            lines.push(Line::from(vec![
                Span::styled(label, theme.dim()),
                Span::styled(bars, theme.bar()),
            ]));
        }
        if extra > 0 {
            // Errors share a scale with the ops (floored at a tenth of the
            // peak) so three timeouts do not look like an outage.
            let max_err = shown
                .iter()
                .map(|p| p.errors)
                .max()
                .unwrap_or(0)
                .max(max_ok / 10);
            let mut errs = " ".repeat(pad);
            errs.extend(shown.iter().map(|p| bar_cell(p.errors, max_err, 1, 0)));
            lines.push(Line::from(vec![
                Span::styled(format!("{:>6}│", "errors"), theme.dim()),
                Span::styled(errs, theme.bad()),
            ]));
            let m = marks(app);
            let mut row: Vec<char> = vec![' '; columns];
            for (i, p) in shown.iter().enumerate() {
                let col = pad + i;
                if m.windows.iter().any(|(a, b)| (*a..=*b).contains(&p.t_s)) {
                    row[col] = '═';
                }
                if m.faults.contains(&p.t_s) {
                    row[col] = 'F';
                }
                if m.switches.contains(&p.t_s) {
                    row[col] = 'S';
                }
            }
            lines.push(Line::from(vec![
                Span::styled(format!("{:>6}│", "events"), theme.dim()),
                Span::styled(row.into_iter().collect::<String>(), theme.warn()),
            ]));
        }
        if extra > 2 {
            let left = format!("-{columns}s");
            let legend = "F fault  ═ failover  S master switch";
            let right = "now";
            let room = columns.saturating_sub(left.len() + right.len());
            let middle = if room >= legend.chars().count() + 2 {
                let l = legend.chars().count();
                let before = (room - l) / 2;
                format!(
                    "{}{legend}{}",
                    " ".repeat(before),
                    " ".repeat(room - l - before)
                )
            } else {
                " ".repeat(room)
            };
            lines.push(Line::from(Span::styled(
                format!("{:>6}└{left}{middle}{right}", ""),
                theme.dim(),
            )));
        }
    }
    frame.render_widget(
        Paragraph::new(lines).block(panel("Throughput", theme)),
        area,
    );
}
