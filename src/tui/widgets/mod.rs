//! The dashboard's panels, one file each, all pure functions from `&App` to
//! a region of the frame, and the number formats they share (so `12,345
//! ops/s`, `2.1ms` and `+0:12.3` read the same everywhere).

pub mod audit;
pub mod header;
pub mod help;
pub mod latency;
pub mod locks;
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

/// `12345` -> `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Short count for tight columns: `950`, `12.3k`, `4.5M`.
pub fn short(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// Microseconds as the shortest readable duration: `85us`, `0.42ms`, `12ms`, `1.30s`.
pub fn micros(us: u64) -> String {
    match us {
        0..=999 => format!("{us}us"),
        1_000..=9_999 => format!("{:.2}ms", us as f64 / 1e3),
        10_000..=999_999 => format!("{}ms", us / 1000),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// Milliseconds since the run started: `+0:12.3`, `+12:03.0`.
pub fn at(ms: u64) -> String {
    let tenths = ms / 100;
    format!(
        "+{}:{:02}.{}",
        tenths / 600,
        (tenths / 10) % 60,
        tenths % 10
    )
}

/// Run time for the header: `01:23`, `1:02:03`.
pub fn clock(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// Cents as yuan: `1234` -> `¥12.34`.
pub fn money(cents: f64) -> String {
    let cents = cents.max(0.0).round() as u64;
    format!("¥{}.{:02}", count(cents / 100), cents % 100)
}

/// A money total: whole yuan from ¥1,000 up, where cents are noise.
pub fn money_total(cents: u64) -> String {
    if cents >= 100_000 {
        format!("¥{}", count((cents + 50) / 100))
    } else {
        money(cents as f64)
    }
}

/// Bytes of replication lag: `0 B`, `56 B`, `12.3 KB`.
pub fn bytes(n: u64) -> String {
    match n {
        0..=9_999 => format!("{} B", count(n)),
        10_000..=9_999_999 => format!("{:.1} KB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
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
    fn numbers_read_like_a_person_writes_them() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(short(12_345), "12.3k");
        assert_eq!(short(4_500_000), "4.5M");
        assert_eq!(micros(85), "85us");
        assert_eq!(micros(420), "420us");
        assert_eq!(micros(2_100), "2.10ms");
        assert_eq!(micros(40_000), "40ms");
        assert_eq!(micros(1_300_000), "1.30s");
        assert_eq!(at(12_345), "+0:12.3");
        assert_eq!(at(723_000), "+12:03.0");
        assert_eq!(clock(83_000), "01:23");
        assert_eq!(clock(3_723_000), "1:02:03");
        assert_eq!(money(1234.0), "¥12.34");
        assert_eq!(money(123456789.0), "¥1,234,567.89");
        assert_eq!(bytes(56), "56 B");
        assert_eq!(bytes(1024), "1,024 B");
        assert_eq!(money_total(12_761_049), "¥127,610");
        assert_eq!(money_total(99_999), "¥999.99");
        assert_eq!(fit("abcdef", 3), "abc");
        assert_eq!(fit("ab", 4), "ab  ");
        assert_eq!(rfit("ab", 4), "  ab");
    }
}
