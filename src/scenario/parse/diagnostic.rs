//! Diagnostics: one error in a scenario file, located by line and column
//! from a byte span of the source, and shown like a compiler's error: the
//! headline, the source line with a caret under the culprit, and a help line.

use std::fmt;
use std::ops::Range;

/// One error in a scenario file, located by line and column (1-based).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// What was found and what was expected.
    pub message: String,
    /// A suggestion, e.g. "did you mean `segfault`?".
    pub help: Option<String>,
    /// The offending source line and the width of the caret under it.
    pub source_line: String,
    pub width: usize,
}

impl Diagnostic {
    /// An error at a byte span of `src`: the span's first line and column,
    /// its line of source, and a caret as wide as the span (cut at the end
    /// of that line, at least 1).
    pub(super) fn at(
        file: &str,
        src: &str,
        span: Range<usize>,
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        let start = span.start.min(src.len());
        let before = &src[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = src[line_start..start].chars().count() + 1;
        let line_end = src[line_start..]
            .find('\n')
            .map(|i| line_start + i)
            .unwrap_or(src.len());
        let source_line = src[line_start..line_end].trim_end_matches('\r');
        let end = span.end.clamp(start, line_end);
        let width = src[start..end].chars().count().max(1);
        Diagnostic {
            file: file.to_string(),
            line,
            col,
            message,
            help,
            source_line: source_line.to_string(),
            width,
        }
    }

    /// The first line only: `file:line:col: error: message`.
    pub fn headline(&self) -> String {
        format!(
            "{}:{}:{}: error: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// The 1-based line of `src` a byte span starts on.
pub(super) fn line_of(src: &str, span: &Range<usize>) -> usize {
    src[..span.start.min(src.len())].matches('\n').count() + 1
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.headline())?;
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        writeln!(f, "{pad} |")?;
        writeln!(f, "{num} | {}", self.source_line)?;
        // The caret goes under the same characters, tabs kept as tabs.
        let lead: String = self
            .source_line
            .chars()
            .take(self.col.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "{pad} | {lead}{}", "^".repeat(self.width.max(1)))?;
        if let Some(help) = &self.help {
            write!(f, "\n{pad} = help: {help}")?;
        }
        Ok(())
    }
}

/// Every error found in one file (never empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseErrors(pub Vec<Diagnostic>);

impl ParseErrors {
    /// The first error's one-line form, `file:line:col: error: message`.
    pub fn headline(&self) -> String {
        self.0.first().map(Diagnostic::headline).unwrap_or_default()
    }
}

impl fmt::Display for ParseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(src: &str, span: Range<usize>) -> Diagnostic {
        Diagnostic::at("f.toml", src, span, "m".into(), None)
    }

    #[test]
    fn a_span_is_located_by_line_and_character_column() {
        let src = "a = 1\nkey = \"né\"\n";
        let d = at(src, 12..17);
        assert_eq!((d.line, d.col, d.width), (2, 7, 4));
        assert_eq!(d.source_line, "key = \"né\"");
    }

    #[test]
    fn the_caret_stops_at_the_end_of_the_line_and_is_never_empty() {
        let src = "x = [\n  1,\n]\r\n";
        let d = at(src, 4..src.len());
        assert_eq!((d.line, d.col, d.width), (1, 5, 1));
        assert_eq!(at(src, 12..12).width, 1);
        assert_eq!(at(src, 12..13).source_line, "]", "the \\r is not shown");
        let past_the_end = at(src, 99..120);
        assert_eq!((past_the_end.line, past_the_end.col), (4, 1));
    }

    #[test]
    fn the_caret_keeps_the_tabs_of_the_line() {
        let d = at("\tk = 1\n", 5..6);
        assert_eq!(
            d.to_string(),
            "f.toml:1:6: error: m\n  |\n1 | \tk = 1\n  | \t    ^"
        );
    }

    #[test]
    fn a_help_line_follows_the_caret() {
        let mut d = at("k = 1\n", 0..1);
        d.help = Some("did you mean `j`?".into());
        assert!(d
            .to_string()
            .ends_with("  | ^\n  = help: did you mean `j`?"));
        assert_eq!(line_of("a\nb\nc", &(4..5)), 3);
    }
}
