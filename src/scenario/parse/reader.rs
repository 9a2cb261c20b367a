//! The spanned-TOML reader: walks toml's spanned tree and reads typed values
//! (strings, numbers within limits, durations, one of a set of names,
//! tables), recording a [`Diagnostic`] at the exact key or value for every
//! one that is wrong and reading on, so that a file's errors are reported
//! at once. The sections of a scenario are read by the files beside this
//! one, each adding its methods to [`Reader`].

use super::diagnostic::{self, Diagnostic};
use crate::faults::{parse_any_duration, parse_duration};
use crate::limits::{Limit, Refused};
use crate::scenario::names::closest;
use std::borrow::Cow;
use std::ops::Range;
use std::time::Duration;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A key and its value, both with their spans in the source.
pub(super) type Entry<'t, 'i> = (&'t Spanned<Cow<'i, str>>, &'t Spanned<DeValue<'i>>);

/// Reads one file's text, collecting its diagnostics.
pub(super) struct Reader<'s> {
    pub(super) file: String,
    pub(super) src: &'s str,
    pub(super) errors: Vec<Diagnostic>,
}

/// Keys are written with `_` or `-`; both mean the same.
pub(super) fn normalise(key: &str) -> String {
    key.replace('-', "_")
}

/// The entry whose key is `name` (either spelling).
pub(super) fn entry<'t, 'i>(entries: &[Entry<'t, 'i>], name: &str) -> Option<Entry<'t, 'i>> {
    entries
        .iter()
        .find(|(k, _)| normalise(k.get_ref()) == name)
        .copied()
}

/// What a value is, in the words of a "found ..." message.
pub(super) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Names as a message lists them: `` `a`, `b`, `c` ``.
pub(super) fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'s> Reader<'s> {
    pub(super) fn new(text: &'s str, file: &str) -> Reader<'s> {
        Reader {
            file: file.to_string(),
            src: text,
            errors: Vec::new(),
        }
    }

    /// Records an error at a byte span of the source.
    pub(super) fn error(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let d = Diagnostic::at(&self.file, self.src, span, message.into(), help);
        self.errors.push(d);
    }

    /// The 1-based line a span starts on.
    pub(super) fn line_of(&self, span: &Range<usize>) -> usize {
        diagnostic::line_of(self.src, span)
    }

    /// The table's entries in source order, after reporting unknown keys.
    pub(super) fn entries<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        allowed: &[&str],
        where_: &str,
    ) -> Vec<Entry<'t, 'i>> {
        let mut entries: Vec<Entry<'t, 'i>> = table.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        let mut seen: Vec<String> = Vec::new();
        for (k, _) in &entries {
            let name = normalise(k.get_ref());
            if !allowed.contains(&name.as_str()) {
                let help = closest(&name, allowed.iter().copied())
                    .map(|c| format!("did you mean `{c}`?"))
                    .or_else(|| Some(format!("{where_} takes: {}", quoted_list(allowed))));
                self.error(
                    k.span(),
                    format!("unknown key `{}` in {where_}", k.get_ref()),
                    help,
                );
            } else if seen.contains(&name) {
                self.error(
                    k.span(),
                    format!(
                        "`{}` is given twice in {where_} (`-` and `_` spell the same key)",
                        k.get_ref()
                    ),
                    None,
                );
            }
            seen.push(name);
        }
        entries
    }

    pub(super) fn wrong_type(&mut self, key: &str, v: &Spanned<DeValue<'_>>, expected: &str) {
        self.error(
            v.span(),
            format!(
                "wrong type for `{key}`: found {}, expected {expected}",
                type_name(v.get_ref())
            ),
            None,
        );
    }

    pub(super) fn string(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(key, v, "a string");
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(key, v, "true or false");
                None
            }
        }
    }

    /// An integer in `lo..=hi`.
    pub(super) fn integer(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        lo: i64,
        hi: i64,
    ) -> Option<i64> {
        let expected = if hi == i64::MAX {
            format!("an integer from {lo}")
        } else {
            format!("an integer from {lo} to {hi}")
        };
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) if (lo..=hi).contains(&n) => Some(n),
                _ => {
                    self.error(
                        v.span(),
                        format!(
                            "`{key}` = {} is out of range: expected {expected}",
                            i.as_str()
                        ),
                        None,
                    );
                    None
                }
            },
            _ => {
                self.wrong_type(key, v, &expected);
                None
            }
        }
    }

    /// A number (float or integer) in `lo..=hi`.
    pub(super) fn float(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        lo: f64,
        hi: f64,
    ) -> Option<f64> {
        let n = match v.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|n| n as f64),
            _ => {
                self.wrong_type(key, v, &format!("a number from {lo} to {hi}"));
                return None;
            }
        };
        match n {
            Some(n) if (lo..=hi).contains(&n) => Some(n),
            _ => {
                self.error(
                    v.span(),
                    format!("`{key}` is out of range: expected a number from {lo} to {hi}"),
                    None,
                );
                None
            }
        }
    }

    pub(super) fn duration(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<Duration> {
        let s = self.duration_string(key, v)?;
        match parse_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(v.span(), format!("bad duration for `{key}`: {e}"), None);
                None
            }
        }
    }

    fn duration_string(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(
                    key,
                    v,
                    "a duration string such as \"500ms\", \"5s\" or \"2m\"",
                );
                None
            }
        }
    }

    /// An integer within `limit` (the same limit as the matching flag).
    pub(super) fn limited(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        limit: Limit<u64>,
    ) -> Option<u64> {
        let hi = i64::try_from(limit.max).unwrap_or(i64::MAX);
        self.integer(key, v, limit.min as i64, hi).map(|n| n as u64)
    }

    /// Whole seconds within `limit`: an integer number of seconds, or a
    /// duration (`"10s"`, `"1m"`) as the matching flag takes it.
    pub(super) fn limited_secs(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        limit: Limit<u64>,
    ) -> Option<u64> {
        match v.get_ref() {
            DeValue::String(s) => {
                let s = s.to_string();
                self.refused_or(key, v, &s, limit.parse_secs::<u64>(&s))
            }
            _ => self.limited(key, v, limit),
        }
    }

    /// A duration within `limit`.
    pub(super) fn limited_duration(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        limit: Limit<Duration>,
    ) -> Option<Duration> {
        let s = self.duration_string(key, v)?;
        self.refused_or(key, v, &s, limit.parse(&s))
    }

    /// A duration whose milliseconds are within `limit` (the engine counts
    /// it in milliseconds).
    pub(super) fn limited_ms(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        limit: Limit<u64>,
    ) -> Option<Duration> {
        let s = self.duration_string(key, v)?;
        self.refused_or(key, v, &s, limit.parse_millis(&s))
    }

    fn refused_or<T>(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        given: &str,
        r: Result<T, Refused>,
    ) -> Option<T> {
        let message = match r {
            Ok(x) => return Some(x),
            Err(e @ Refused::OutOfRange(_)) => {
                format!("`{key}` = {given:?} is out of range: it {e}")
            }
            // Not a duration at all: say what is wrong with the text.
            Err(e) => match parse_any_duration(given) {
                Err(why) => format!("bad duration for `{key}`: {why}"),
                Ok(_) => format!("bad duration for `{key}`: {given:?} {e}"),
            },
        };
        self.error(v.span(), message, None);
        None
    }

    /// One of a fixed set of names, with a suggestion for a typo.
    pub(super) fn choice<T: Copy>(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        options: &[(&str, T)],
    ) -> Option<T> {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let s = match v.get_ref() {
            DeValue::String(s) => s.to_string(),
            _ => {
                self.wrong_type(key, v, &format!("one of {}", quoted_list(&names)));
                return None;
            }
        };
        if let Some((_, t)) = options.iter().find(|(n, _)| *n == s) {
            return Some(*t);
        }
        let help = closest(&s, names.iter().copied()).map(|c| format!("did you mean `{c}`?"));
        self.error(
            v.span(),
            format!(
                "unknown {key} {s:?}: expected one of {}",
                quoted_list(&names)
            ),
            help,
        );
        None
    }

    pub(super) fn table<'t, 'i>(
        &mut self,
        key: &str,
        v: &'t Spanned<DeValue<'i>>,
    ) -> Option<&'t DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong_type(key, v, &format!("a table (`[{key}]`)"));
                None
            }
        }
    }
}
