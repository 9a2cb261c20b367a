//! Numbers in words: counts with thousands separators, short counts for
//! tight columns, money, shares and byte sizes.

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

/// Cents as a bare amount of yuan for tables whose header names the unit:
/// `1100` -> `11.00`.
pub fn yuan(cents: f64) -> String {
    format!("{:.2}", cents / 100.0)
}

/// A share (0.5) as a percentage with one decimal: `50.0%`.
pub fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// Bytes: `0 B`, `56 B`, `12.3 KB`, `4.5 MB`.
pub fn bytes(n: u64) -> String {
    match n {
        0..=9_999 => format!("{} B", count(n)),
        10_000..=9_999_999 => format!("{:.1} KB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
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
        assert_eq!(money(1234.0), "¥12.34");
        assert_eq!(money(123456789.0), "¥1,234,567.89");
        assert_eq!(money_total(12_761_049), "¥127,610");
        assert_eq!(money_total(99_999), "¥999.99");
        assert_eq!(yuan(1100.0), "11.00");
        assert_eq!(percent(0.5), "50.0%");
        assert_eq!(bytes(56), "56 B");
        assert_eq!(bytes(1024), "1,024 B");
    }
}
