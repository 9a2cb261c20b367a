//! The end screen's audit panel: once the run is audited, what the report
//! says about the data: whether Redis was checked at all (and why not),
//! the acknowledged writes lost, each loss with its cause in plain words
//! (the report's own sentences: `cause_words` and each loss's
//! explanation, never a second wording), the topology as it settled, and
//! a scenario's expectations and the verdict's findings. The title says
//! PASS or FAIL as the command line does: a scenario on its expectations,
//! a plain run on the audit. In lesson mode the lesson's questions come
//! first, each with the answer the run measured. Every state is spelled
//! out: `✓`/`!!`/`?` marks and words carry it, colour only repeats it.

use super::panel;
use crate::metrics::losses::cause_words;
use crate::report::model::Report;
use crate::tui::app::App;
use crate::words::count;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

/// The panel's lines for `report`, before wrapping.
pub fn lines(app: &App, report: &Report) -> Vec<Line<'static>> {
    let theme = app.theme;
    let audit = &report.audit;
    let mut lines = Vec::new();
    // A lesson ends on its questions, answered by what the run measured.
    if app.lesson_on && !report.questions.is_empty() {
        lines.push(Line::from(Span::styled(
            "the lesson's questions, answered by this run:",
            theme.title(),
        )));
        for q in &report.questions {
            lines.push(Line::from(format!("? {}", q.question)));
            let (mark, style) = if q.known {
                (
                    "→",
                    theme.ok().patch(Style::new().add_modifier(Modifier::BOLD)),
                )
            } else {
                ("→ ?", theme.warn())
            };
            lines.push(Line::from(vec![
                Span::styled(format!("  {mark} {}", q.answer), style),
                Span::styled(format!(" ({})", q.measure), theme.dim()),
            ]));
        }
        lines.push(Line::raw(""));
    }
    if audit.checked {
        let node = if audit.checked_node.is_empty() {
            String::new()
        } else {
            format!(" against {}", audit.checked_node)
        };
        lines.push(Line::from(Span::styled(
            format!(
                "audit ✓ checked{node}: {} acknowledged writes read back",
                count(audit.journal_records)
            ),
            theme.ok(),
        )));
        if let Some(why) = &audit.reason {
            lines.push(Line::from(format!("  {why}")));
        }
        for (node, missing) in &audit.nodes_checked {
            lines.push(Line::from(format!(
                "  {node} lacked {} acknowledged writes",
                count(*missing)
            )));
        }
        let lost = audit.lost_acked_writes;
        lines.push(if lost == 0 {
            Line::from(Span::styled("lost acknowledged writes: ✓ 0", theme.ok()))
        } else {
            Line::from(Span::styled(
                format!("lost acknowledged writes: !! {}", count(lost)),
                theme.bad(),
            ))
        });
    } else {
        lines.push(Line::from(Span::styled(
            format!(
                "audit ? NOT CHECKED: {}",
                audit.reason.as_deref().unwrap_or("no reason recorded")
            ),
            theme.bad(),
        )));
        lines.push(Line::from(Span::styled(
            "lost acknowledged writes: unknown (Redis was not read)",
            theme.warn(),
        )));
    }
    for l in &report.losses {
        lines.push(Line::from(vec![
            Span::styled(
                format!("!! {} {}", count(l.lost_acked_writes), cause_words(l.cause)),
                theme.bad(),
            ),
            Span::styled(format!(" ({})", l.cause), theme.dim()),
        ]));
        lines.push(Line::from(format!("   {}", l.explanation)));
    }
    if !report.topology_findings.is_empty() {
        lines.push(Line::from(Span::styled(
            "topology once the run settled:",
            theme.title(),
        )));
        for t in &report.topology_findings {
            lines.push(Line::from(Span::styled(format!("!! {t}"), theme.warn())));
        }
    }
    for e in &report.expectations {
        lines.push(Line::from(Span::styled(
            format!(
                "{} {}: expected {}, measured {}",
                if e.ok { "✓ PASS" } else { "✗ FAIL" },
                e.name,
                e.expected,
                e.measured
            ),
            if e.ok { theme.ok() } else { theme.bad() },
        )));
    }
    if !report.verdict.findings.is_empty() {
        lines.push(Line::from(Span::styled("findings:", theme.title())));
        for f in &report.verdict.findings {
            lines.push(Line::from(format!("· {f}")));
        }
    }
    lines
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(report) = app.report.as_deref() else {
        return;
    };
    let theme = app.theme;
    // A scenario passes on its expectations (as `grabstorm run` prints
    // it: some expect violations); a plain run on the audit's checks.
    let (what, ok) = if report.expectations.is_empty() {
        ("", report.verdict.ok)
    } else {
        ("SCENARIO: ", report.expectations.iter().all(|e| e.ok))
    };
    let verdict = if ok {
        Span::styled(format!(" ✓ {what}PASS "), theme.ok())
    } else {
        Span::styled(
            format!(" ✗ {what}FAIL "),
            theme
                .bad()
                .patch(Style::new().add_modifier(Modifier::REVERSED)),
        )
    };
    let block = panel("Audit", theme).title(Line::from(verdict));
    let text = Paragraph::new(lines(app, report)).wrap(Wrap { trim: false });
    // Lines once wrapped to the panel's inner width, so that scrolling
    // stops with the last line at the bottom instead of an empty panel.
    let inner = block.inner(area);
    let total = text.line_count(inner.width);
    let max = total.saturating_sub(usize::from(inner.height));
    app.report_scroll_max
        .set(u16::try_from(max).unwrap_or(u16::MAX));
    let text = text
        .block(block)
        .scroll((app.report_scroll.min(app.report_scroll_max.get()), 0));
    frame.render_widget(text, area);
}
