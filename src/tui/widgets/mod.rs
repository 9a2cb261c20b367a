//! The dashboard's panels, one file each, all pure functions from `&App` to
//! a region of the frame, and the fitting of text into their columns. The
//! numbers in them are written by [`crate::words`], as everywhere else.

pub mod audit;
pub mod cluster;
pub mod header;
pub mod help;
pub mod latency;
pub mod lesson;
pub mod locks;
pub mod phases;
pub mod redpacket;
pub mod summary;
pub mod throughput;
pub mod timeline;
pub mod topology;

use super::theme::Theme;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};

/// A bordered panel with a bold title.
pub fn panel(title: &str, theme: Theme) -> Block<'static> {
    Block::bordered()
        .border_type(BorderType::Plain)
        .title(Line::from(Span::styled(
            format!(" {title} "),
            theme.title(),
        )))
}

/// Pads or cuts `s` to exactly `width` display columns (all our text is
/// single-width).
pub fn fit(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n >= width {
        s.chars().take(width).collect()
    } else {
        let mut out = String::with_capacity(width);
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', width - n));
        out
    }
}

/// Right-aligns `s` in `width` columns.
pub fn rfit(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n >= width {
        s.chars().take(width).collect()
    } else {
        format!("{}{s}", " ".repeat(width - n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fits_its_column() {
        assert_eq!(fit("abcdef", 3), "abc");
        assert_eq!(fit("ab", 4), "ab  ");
        assert_eq!(rfit("ab", 4), "  ab");
    }
}
