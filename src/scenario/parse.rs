//! The scenario parser: TOML text to a checked [`Scenario`], or diagnostics
//! that read like a compiler's: `file:line:col: error: ...`, the source line
//! with a caret under the culprit, and a "did you mean ...?" for typos.
//!
//! The file is parsed into toml's spanned tree and walked by hand rather than
//! through serde, so that every error (unknown key, wrong type, bad
//! duration, unknown fault, target or expectation, steps out of order, an
//! impossible topology) points at the exact key or value, and so that all of
//! a file's errors are reported at once.

use super::expect::{self, ExpectKind};
use super::model::{
    Action, ClientMode, Comparator, Expectation, Expected, Scenario, Step, WorkloadSpec,
};
use super::names::{closest, LAB_EVENTS, SENTINEL_EVENTS};
use crate::faults::{parse_any_duration, parse_duration, FaultKind, FaultRequest, Target};
use crate::limits::{self, Limit, Refused};
use crate::topology::select::BackendChoice;
use crate::topology::{Persistence, SpecError, TopologySpec};
use crate::workload::{LockKind, Mode, WorkloadKind};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One error in a scenario file, located by line and column (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// The first line only: `file:line:col: error: message`.
    pub fn headline(&self) -> String {
        format!(
            "{}:{}:{}: error: {}",
            self.file, self.line, self.col, self.message
        )
    }
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

/// Reads and checks a scenario file. The file name in diagnostics is the
/// path as given.
pub fn parse_file(path: &Path) -> Result<Scenario, ParseErrors> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, &name),
        Err(e) => Err(ParseErrors(vec![Diagnostic {
            file: name,
            line: 1,
            col: 1,
            message: format!("cannot read the file: {e}"),
            help: None,
            source_line: String::new(),
            width: 1,
        }])),
    }
}

/// Checks scenario text; `file` names it in diagnostics.
pub fn parse_str(text: &str, file: &str) -> Result<Scenario, ParseErrors> {
    let mut p = Parser {
        file: file.to_string(),
        src: text,
        errors: Vec::new(),
    };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = format!("invalid TOML: {}", e.message().trim_end());
            p.error(span, message, None);
            return Err(ParseErrors(p.errors));
        }
    };
    let scenario = p.scenario(root.get_ref());
    match scenario {
        Some(s) if p.errors.is_empty() => Ok(s),
        _ => {
            p.errors.sort_by_key(|d| (d.line, d.col));
            Err(ParseErrors(p.errors))
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "title", "teaches", "seed", "duration", "settle", "backend", "topology", "workload", "step",
    "expect",
];
const TOPOLOGY_KEYS: &[&str] = &[
    "master_name",
    "replicas",
    "sentinels",
    "quorum",
    "down_after_ms",
    "failover_timeout_ms",
    "parallel_syncs",
    "persistence",
    "min_replicas_to_write",
    "min_replicas_max_lag",
];
const WORKLOAD_KEYS: &[&str] = &[
    "kind",
    "grabbers",
    "users",
    "connections",
    "mode",
    "client",
    "until_done",
    "packets",
    "packet_amount_cents",
    "packet_count",
    "stock",
    "items",
    "naive_delay",
    "think",
    "locks",
    "lock_keys",
    "lock_ttl",
    "lock_hold",
    "lock_die_between",
];
/// The keys that make a step do something; a step has exactly one.
const STEP_ACTIONS: &[&str] = &[
    "fault", "heal", "resume", "restart", "grabbers", "workload", "load", "wait_for", "sleep",
    "stop",
];
const STEP_KEYS: &[&str] = &[
    "at", "fault", "target", "for", "from", "heal", "resume", "restart", "grabbers", "workload",
    "load", "wait_for", "timeout", "required", "sleep", "stop", "note",
];

/// The workload names a file may write, for `kind` and a `workload` step.
fn workload_names() -> [(&'static str, WorkloadKind); 4] {
    WorkloadKind::ALL.map(|k| (k.name(), k))
}

const LOAD_NAMES: &[(&str, bool)] = &[("pause", true), ("resume", false)];

/// Default for `settle`: the longest wait for the topology to agree on one
/// master before the audit.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(30);

/// Default for a `wait_for` step's `timeout`.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(30);

type Entry<'t, 'i> = (
    &'t Spanned<std::borrow::Cow<'i, str>>,
    &'t Spanned<DeValue<'i>>,
);

struct Parser<'s> {
    file: String,
    src: &'s str,
    errors: Vec<Diagnostic>,
}

/// Keys are written with `_` or `-`; both mean the same.
fn normalise(key: &str) -> String {
    key.replace('-', "_")
}

fn type_name(v: &DeValue<'_>) -> &'static str {
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

fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'s> Parser<'s> {
    /// Records an error at a byte span of the source.
    fn error(&mut self, span: Range<usize>, message: impl Into<String>, help: Option<String>) {
        let start = span.start.min(self.src.len());
        let before = &self.src[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = self.src[line_start..start].chars().count() + 1;
        let line_end = self.src[line_start..]
            .find('\n')
            .map(|i| line_start + i)
            .unwrap_or(self.src.len());
        let source_line = self.src[line_start..line_end].trim_end_matches('\r');
        let end = span.end.clamp(start, line_end);
        let width = self.src[start..end].chars().count().max(1);
        self.errors.push(Diagnostic {
            file: self.file.clone(),
            line,
            col,
            message: message.into(),
            help,
            source_line: source_line.to_string(),
            width,
        });
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        self.src[..span.start.min(self.src.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// The table's entries in source order, after reporting unknown keys.
    fn entries<'t, 'i>(
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

    fn wrong_type(&mut self, key: &str, v: &Spanned<DeValue<'_>>, expected: &str) {
        self.error(
            v.span(),
            format!(
                "wrong type for `{key}`: found {}, expected {expected}",
                type_name(v.get_ref())
            ),
            None,
        );
    }

    fn string(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(key, v, "a string");
                None
            }
        }
    }

    fn boolean(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(key, v, "true or false");
                None
            }
        }
    }

    /// An integer in `lo..=hi`.
    fn integer(&mut self, key: &str, v: &Spanned<DeValue<'_>>, lo: i64, hi: i64) -> Option<i64> {
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

    fn float(&mut self, key: &str, v: &Spanned<DeValue<'_>>, lo: f64, hi: f64) -> Option<f64> {
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

    fn duration(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<Duration> {
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
    fn limited(&mut self, key: &str, v: &Spanned<DeValue<'_>>, limit: Limit<u64>) -> Option<u64> {
        let hi = i64::try_from(limit.max).unwrap_or(i64::MAX);
        self.integer(key, v, limit.min as i64, hi).map(|n| n as u64)
    }

    /// A duration within `limit`.
    fn limited_duration(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        limit: Limit<Duration>,
    ) -> Option<Duration> {
        let s = self.duration_string(key, v)?;
        self.refused_or(key, v, &s, limit.parse(&s), "")
    }

    /// A duration whose milliseconds are within `limit` (the flag is in ms).
    fn limited_ms(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        limit: Limit<u64>,
    ) -> Option<Duration> {
        let s = self.duration_string(key, v)?;
        self.refused_or(key, v, &s, limit.parse_millis(&s), " milliseconds")
    }

    fn refused_or<T>(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        given: &str,
        r: Result<T, Refused>,
        unit: &str,
    ) -> Option<T> {
        let message = match r {
            Ok(x) => return Some(x),
            Err(e @ Refused::OutOfRange(_)) => {
                format!("`{key}` = {given:?} is out of range: it {e}{unit}")
            }
            // Not a duration at all: say what is wrong with the text.
            Err(e) => match parse_any_duration(given) {
                Err(why) => format!("bad duration for `{key}`: {why}"),
                Ok(_) => format!("bad duration for `{key}`: {given:?} {e}{unit}"),
            },
        };
        self.error(v.span(), message, None);
        None
    }

    /// One of a fixed set of names, with a suggestion for a typo.
    fn choice<T: Copy>(
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

    fn table<'t, 'i>(&mut self, key: &str, v: &'t Spanned<DeValue<'i>>) -> Option<&'t DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong_type(key, v, &format!("a table (`[{key}]`)"));
                None
            }
        }
    }

    fn scenario(&mut self, root: &DeTable<'_>) -> Option<Scenario> {
        let entries = self.entries(root, TOP_KEYS, "the scenario");
        let mut title = None;
        let mut teaches = None;
        let mut seed = 1u64;
        let mut duration = Duration::from_secs(30);
        let mut duration_span = None;
        let mut settle = DEFAULT_SETTLE;
        let mut backend = BackendChoice::Auto;
        let mut backend_span = None;
        let mut topology = TopologySpec::default();
        let mut topology_spans = Vec::new();
        let mut workload = WorkloadSpec::default();
        let mut workload_changes = Vec::new();
        let mut steps_value = None;
        let mut expect_value = None;
        for (k, v) in &entries {
            let key = normalise(k.get_ref());
            match key.as_str() {
                "title" => title = self.string("title", v),
                "teaches" => teaches = self.string("teaches", v),
                "seed" => {
                    if let Some(n) = self.integer("seed", v, 0, i64::MAX) {
                        seed = n as u64;
                    }
                }
                "duration" => {
                    if let Some(d) = self.limited_duration("duration", v, limits::DURATION) {
                        duration = d;
                        duration_span = Some(v.span());
                    }
                }
                "settle" => {
                    if let Some(d) = self.limited_duration("settle", v, limits::SETTLE_TIMEOUT) {
                        settle = d;
                    }
                }
                "backend" => {
                    let names = BackendChoice::ALL.map(|b| (b.name(), b));
                    if let Some(b) = self.choice("backend", v, &names) {
                        backend = b;
                        backend_span = Some(v.span());
                    }
                }
                "topology" => {
                    if let Some(t) = self.table("topology", v) {
                        topology_spans = self.topology(t, &mut topology, k.span());
                    }
                }
                "workload" => {
                    if let Some(t) = self.table("workload", v) {
                        self.workload(t, &mut workload);
                    }
                }
                "step" => steps_value = Some(*v),
                "expect" => expect_value = Some((*k, *v)),
                // Unknown keys were reported by `entries`; an allowed key
                // without an arm here would be silently ignored.
                other => debug_assert!(
                    !TOP_KEYS.contains(&other),
                    "`{other}` is allowed but not read"
                ),
            }
        }
        let root_span = 0..0;
        if title.is_none()
            && !entries
                .iter()
                .any(|(k, _)| normalise(k.get_ref()) == "title")
        {
            self.error(
                root_span.clone(),
                "missing `title`: every scenario needs a title = \"...\"",
                None,
            );
        }
        if teaches.is_none()
            && !entries
                .iter()
                .any(|(k, _)| normalise(k.get_ref()) == "teaches")
        {
            self.error(
                root_span,
                "missing `teaches`: say in one sentence what the scenario shows",
                None,
            );
        }
        let _ = topology_spans;
        let steps = match steps_value {
            Some(v) => self.steps(v, &topology, backend, backend_span, duration, duration_span),
            None => Vec::new(),
        };
        for s in &steps {
            if let Action::SetWorkload { workload: w } = s.action {
                workload_changes.push(w);
            }
        }
        let expect = match expect_value {
            Some((_, v)) => self.expectations(v, workload.kind, &workload_changes),
            None => Vec::new(),
        };
        Some(Scenario {
            file: self.file.clone(),
            title: title.unwrap_or_default(),
            teaches: teaches.unwrap_or_default(),
            seed,
            duration,
            settle,
            backend,
            topology,
            workload,
            steps,
            expect,
        })
    }

    /// Fills `spec` from `[topology]` and validates it; returns the spans of
    /// the keys given, so a spec error points at the right one.
    fn topology(
        &mut self,
        t: &DeTable<'_>,
        spec: &mut TopologySpec,
        header: Range<usize>,
    ) -> Vec<(String, Range<usize>)> {
        let entries = self.entries(t, TOPOLOGY_KEYS, "[topology]");
        let mut spans = Vec::new();
        let mut ok = true;
        for (k, v) in &entries {
            let key = normalise(k.get_ref());
            spans.push((key.clone(), v.span()));
            let u16_field = |p: &mut Self, limit: Limit<u64>| -> Option<u16> {
                p.limited(&key, v, limit).map(|n| n as u16)
            };
            let before = self.errors.len();
            match key.as_str() {
                "master_name" => {
                    if let Some(s) = self.string(&key, v) {
                        spec.master_name = s;
                    }
                }
                "replicas" => {
                    spec.replicas = u16_field(self, limits::REPLICAS).unwrap_or(spec.replicas)
                }
                "sentinels" => {
                    spec.sentinels = u16_field(self, limits::SENTINELS).unwrap_or(spec.sentinels)
                }
                "quorum" => spec.quorum = u16_field(self, limits::QUORUM).unwrap_or(spec.quorum),
                "down_after_ms" => {
                    if let Some(n) = self.limited(&key, v, limits::DOWN_AFTER_MS) {
                        spec.down_after_ms = n;
                    }
                }
                "failover_timeout_ms" => {
                    if let Some(n) = self.limited(&key, v, limits::FAILOVER_TIMEOUT_MS) {
                        spec.failover_timeout_ms = n;
                    }
                }
                "parallel_syncs" => {
                    spec.parallel_syncs =
                        u16_field(self, limits::PARALLEL_SYNCS).unwrap_or(spec.parallel_syncs)
                }
                "persistence" => {
                    if let Some(p) = self.choice(&key, v, &Persistence::ALL.map(|p| (p.name(), p)))
                    {
                        spec.persistence = p;
                    }
                }
                "min_replicas_to_write" => {
                    spec.min_replicas_to_write = u16_field(self, limits::MIN_REPLICAS_TO_WRITE)
                        .unwrap_or(spec.min_replicas_to_write)
                }
                "min_replicas_max_lag" => {
                    if let Some(n) = self.limited(&key, v, limits::MIN_REPLICAS_MAX_LAG_S) {
                        spec.min_replicas_max_lag_s = n as u32;
                    }
                }
                // Unknown keys were reported by `entries`; an allowed key
                // without an arm here would be silently ignored.
                other => debug_assert!(
                    !TOPOLOGY_KEYS.contains(&other),
                    "`{other}` is allowed but not read"
                ),
            }
            ok &= self.errors.len() == before;
        }
        if ok {
            if let Err(e) = spec.validate() {
                let field = match &e {
                    SpecError::QuorumZero | SpecError::QuorumAboveSentinels { .. } => {
                        "quorum".to_string()
                    }
                    SpecError::OutOfRange { field, .. } => normalise(field),
                    SpecError::MinReplicasAboveReplicas { .. } => {
                        "min_replicas_to_write".to_string()
                    }
                    SpecError::BadMasterName(_) => "master_name".to_string(),
                };
                // Point at the key that makes the spec impossible; if it was
                // left at its default, at the other half of the conflict.
                let partner = match field.as_str() {
                    "quorum" => "sentinels",
                    "min_replicas_to_write" => "replicas",
                    _ => "",
                };
                let span = spans
                    .iter()
                    .find(|(k, _)| *k == field)
                    .or_else(|| spans.iter().find(|(k, _)| k == partner))
                    .map(|(_, s)| s.clone())
                    .unwrap_or(header);
                self.error(span, format!("impossible topology: {e}"), None);
            }
        }
        spans
    }

    fn workload(&mut self, t: &DeTable<'_>, w: &mut WorkloadSpec) {
        let entries = self.entries(t, WORKLOAD_KEYS, "[workload]");
        for (k, v) in &entries {
            let key = normalise(k.get_ref());
            match key.as_str() {
                "kind" => {
                    w.kind = self
                        .choice("workload", v, &workload_names())
                        .unwrap_or(w.kind)
                }
                "grabbers" => {
                    if let Some(n) = self.limited(&key, v, limits::GRABBERS) {
                        w.grabbers = n as usize;
                    }
                }
                "users" => w.users = self.limited(&key, v, limits::USERS),
                "connections" => {
                    w.connections = self
                        .limited(&key, v, limits::CONNECTIONS)
                        .map(|n| n as usize)
                }
                "mode" => {
                    w.mode = self
                        .choice("mode", v, &Mode::ALL.map(|m| (m.name(), m)))
                        .unwrap_or(w.mode)
                }
                "client" => {
                    w.client = self
                        .choice("client", v, &ClientMode::ALL.map(|c| (c.name(), c)))
                        .unwrap_or(w.client)
                }
                "until_done" => w.until_done = self.boolean(&key, v).unwrap_or(false),
                "packets" => w.packets = self.limited(&key, v, limits::PACKETS),
                "packet_amount_cents" => {
                    w.packet_amount_cents = self.limited(&key, v, limits::PACKET_CENTS)
                }
                "packet_count" => w.packet_count = self.limited(&key, v, limits::PACKET_COUNT),
                "stock" => w.stock = self.limited(&key, v, limits::STOCK),
                "items" => w.items = self.limited(&key, v, limits::ITEMS),
                "naive_delay" => w.naive_delay = self.limited_ms(&key, v, limits::NAIVE_DELAY_MS),
                "think" => w.think = self.limited_ms(&key, v, limits::THINK_MS),
                "locks" => {
                    let DeValue::Array(items) = v.get_ref() else {
                        self.wrong_type(
                            &key,
                            v,
                            "an array of lock kinds, e.g. [\"safe\", \"fenced\"]",
                        );
                        continue;
                    };
                    w.locks.clear();
                    for item in items.iter() {
                        if let Some(l) =
                            self.choice("lock kind", item, &LockKind::ALL.map(|l| (l.name(), l)))
                        {
                            if !w.locks.contains(&l) {
                                w.locks.push(l);
                            }
                        }
                    }
                }
                "lock_keys" => w.lock_keys = self.limited(&key, v, limits::LOCK_KEYS),
                "lock_ttl" => w.lock_ttl = self.limited_ms(&key, v, limits::LOCK_TTL_MS),
                "lock_hold" => w.lock_hold = self.limited_ms(&key, v, limits::LOCK_HOLD_MS),
                "lock_die_between" => {
                    w.lock_die_between = self.limited(&key, v, limits::LOCK_DIE_BETWEEN)
                }
                // Unknown keys were reported by `entries`; an allowed key
                // without an arm here would be silently ignored.
                other => debug_assert!(
                    !WORKLOAD_KEYS.contains(&other),
                    "`{other}` is allowed but not read"
                ),
            }
        }
        if let (Some(amount), Some(count)) = (w.packet_amount_cents, w.packet_count) {
            if amount < count {
                let span = entries
                    .iter()
                    .find(|(k, _)| normalise(k.get_ref()) == "packet_amount_cents")
                    .map(|(_, v)| v.span())
                    .unwrap_or(0..0);
                self.error(
                    span,
                    format!("a packet of {amount} cents cannot be split into {count} grabs of at least 1 cent: expected packet_amount_cents >= packet_count"),
                    None,
                );
            }
        }
    }

    /// Node names and target words valid for this topology.
    fn target_names(topology: &TopologySpec) -> Vec<String> {
        let mut names = vec![
            "master".to_string(),
            "replica".to_string(),
            "all".to_string(),
        ];
        names.extend((1..=topology.replicas).map(|i| format!("replica-{i}")));
        names.extend(Self::node_names(topology));
        names
    }

    fn node_names(topology: &TopologySpec) -> Vec<String> {
        let mut names: Vec<String> = (1..=topology.redis_count())
            .map(|i| format!("redis-{i}"))
            .collect();
        names.extend((1..=topology.sentinels).map(|i| format!("sentinel-{i}")));
        names
    }

    fn target(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        topology: &TopologySpec,
    ) -> Option<Target> {
        let s = self.string(key, v)?;
        let valid = Self::target_names(topology);
        let unknown = |p: &mut Self, why: String| {
            let help = closest(&s, valid.iter().map(String::as_str))
                .map(|c| format!("did you mean `{c}`?"));
            p.error(v.span(), why, help);
        };
        match s.parse::<Target>() {
            Ok(t) => {
                let exists = match &t {
                    Target::Replica(n) => *n <= topology.replicas as usize,
                    Target::Sentinel(n) => *n <= topology.sentinels as usize,
                    Target::Node(name) => Self::node_names(topology).contains(name),
                    Target::AnyReplica => topology.replicas > 0,
                    Target::Master | Target::All => true,
                };
                if exists {
                    Some(t)
                } else {
                    unknown(
                        self,
                        format!(
                            "unknown target {s:?}: this topology has {} replica(s) and {} sentinel(s)",
                            topology.replicas, topology.sentinels
                        ),
                    );
                    None
                }
            }
            Err(_) => {
                unknown(
                    self,
                    format!(
                        "unknown target {s:?}: expected master, replica, replica-N, sentinel-N, redis-N or all"
                    ),
                );
                None
            }
        }
    }

    fn steps(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        topology: &TopologySpec,
        backend: BackendChoice,
        backend_span: Option<Range<usize>>,
        duration: Duration,
        duration_span: Option<Range<usize>>,
    ) -> Vec<Step> {
        let DeValue::Array(items) = v.get_ref() else {
            self.wrong_type("step", v, "an array of tables, each one written `[[step]]`");
            return Vec::new();
        };
        let mut steps: Vec<Step> = Vec::new();
        let mut last_at: Option<(Duration, usize)> = None;
        for item in items.iter() {
            let DeValue::Table(t) = item.get_ref() else {
                self.wrong_type("step", item, "a table written `[[step]]`");
                continue;
            };
            let line = self.line_of(&item.span());
            let entries = self.entries(t, STEP_KEYS, "a [[step]]");
            let get = |name: &str| {
                entries
                    .iter()
                    .find(|(k, _)| normalise(k.get_ref()) == name)
                    .copied()
            };
            let before = self.errors.len();
            let at = match get("at") {
                Some((_, v)) => self.duration("at", v),
                None => {
                    self.error(
                        item.span(),
                        "this step has no `at`: expected at = \"5s\" (time since the start)",
                        None,
                    );
                    None
                }
            };
            if let (Some(at), Some((_, at_v))) = (at, get("at")) {
                if let Some((prev, prev_line)) = last_at {
                    if at < prev {
                        self.error(
                            at_v.span(),
                            format!(
                                "step at {} comes after the step at {} (line {prev_line}): steps must be in time order",
                                super::model::duration_text(at),
                                super::model::duration_text(prev)
                            ),
                            None,
                        );
                    }
                }
                if at > duration {
                    let help = duration_span
                        .as_ref()
                        .map(|_| "raise `duration` or move the step earlier".to_string())
                        .or_else(|| Some("the default duration is 30s; set `duration`".into()));
                    self.error(
                        at_v.span(),
                        format!(
                            "step at {} is after the end of the run (duration {})",
                            super::model::duration_text(at),
                            super::model::duration_text(duration)
                        ),
                        help,
                    );
                }
                last_at = Some((at, line));
            }
            let actions: Vec<Entry<'_, '_>> = entries
                .iter()
                .filter(|(k, _)| STEP_ACTIONS.contains(&normalise(k.get_ref()).as_str()))
                .copied()
                .collect();
            let note = get("note").and_then(|(_, v)| self.string("note", v));
            if actions.len() > 1 {
                self.error(
                    actions[1].0.span(),
                    format!(
                        "a step does one thing, but this one has both `{}` and `{}`: split it into two steps",
                        actions[0].0.get_ref(),
                        actions[1].0.get_ref()
                    ),
                    None,
                );
                continue;
            }
            // Keys that belong to one action only.
            let action_name = actions
                .first()
                .map(|(k, _)| normalise(k.get_ref()))
                .unwrap_or_else(|| "note".into());
            for (key, owner) in [
                ("target", "fault"),
                ("for", "fault"),
                ("from", "fault"),
                ("timeout", "wait_for"),
                ("required", "wait_for"),
            ] {
                if let Some((k, _)) = get(key) {
                    if action_name != owner {
                        self.error(
                            k.span(),
                            format!("`{key}` belongs to a `{owner}` step, but this step is `{action_name}`"),
                            None,
                        );
                    }
                }
            }
            let action = match actions.first() {
                None => {
                    if note.is_none() {
                        self.error(
                            item.span(),
                            format!(
                                "this step does nothing: expected one of {} (or a `note`)",
                                quoted_list(STEP_ACTIONS)
                            ),
                            None,
                        );
                    }
                    Some(Action::Note)
                }
                Some((_, v)) => {
                    match action_name.as_str() {
                        "fault" => self.fault_step(v, &get, topology, backend, &backend_span),
                        "heal" | "resume" | "restart" => {
                            let kind = match action_name.as_str() {
                                "heal" => FaultKind::Heal,
                                "resume" => FaultKind::Resume,
                                _ => FaultKind::Restart,
                            };
                            self.target(&action_name, v, topology).map(|target| {
                                Action::Fault(FaultRequest {
                                    kind,
                                    target,
                                    duration: None,
                                    from: Vec::new(),
                                })
                            })
                        }
                        "grabbers" => self.limited("grabbers", v, limits::GRABBERS).map(|n| {
                            Action::SetGrabbers {
                                grabbers: n as usize,
                            }
                        }),
                        "workload" => self
                            .choice("workload", v, &workload_names())
                            .map(|w| Action::SetWorkload { workload: w }),
                        "load" => self
                            .choice("load", v, LOAD_NAMES)
                            .map(|paused| Action::PauseLoad { paused }),
                        "wait_for" => self.wait_step(v, &get),
                        "sleep" => self
                            .duration("sleep", v)
                            .map(|d| Action::Sleep { duration: d }),
                        "stop" => match self.boolean("stop", v) {
                            Some(true) => Some(Action::Stop),
                            Some(false) => {
                                self.error(v.span(), "`stop = false` does nothing: expected `stop = true` or no step", None);
                                None
                            }
                            None => None,
                        },
                        _ => None,
                    }
                }
            };
            if let (Some(at), Some(action), true) = (at, action, self.errors.len() == before) {
                steps.push(Step {
                    at,
                    action,
                    note,
                    line,
                });
            }
        }
        steps
    }

    fn fault_step<'t, 'i>(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        get: &dyn Fn(&str) -> Option<Entry<'t, 'i>>,
        topology: &TopologySpec,
        backend: BackendChoice,
        backend_span: &Option<Range<usize>>,
    ) -> Option<Action> {
        let kinds: Vec<(&str, FaultKind)> = FaultKind::ALL.iter().map(|k| (k.name(), *k)).collect();
        let kind = self.choice("fault", v, &kinds);
        let target = match get("target") {
            Some((_, t)) => self.target("target", t, topology),
            None => Some(if kind == Some(FaultKind::Restart) {
                Target::All
            } else {
                Target::Master
            }),
        };
        let mut duration = None;
        if let Some((k, d)) = get("for") {
            duration = self.duration("for", d);
            if let Some(kind) = kind {
                if !matches!(
                    kind,
                    FaultKind::Pause | FaultKind::Partition | FaultKind::Slow
                ) {
                    self.error(
                        k.span(),
                        format!("`for` applies to pause, partition and slow, not to {kind}"),
                        None,
                    );
                }
            }
        }
        let mut from = Vec::new();
        if let Some((k, f)) = get("from") {
            if kind.is_some() && kind != Some(FaultKind::Partition) {
                self.error(k.span(), "`from` applies to partition only", None);
            }
            let nodes = Self::node_names(topology);
            match f.get_ref() {
                DeValue::Array(items) => {
                    for item in items.iter() {
                        let Some(name) = self.string("from", item) else {
                            continue;
                        };
                        if nodes.contains(&name) {
                            from.push(name);
                        } else {
                            let help = closest(&name, nodes.iter().map(String::as_str))
                                .map(|c| format!("did you mean `{c}`?"));
                            self.error(
                                item.span(),
                                format!(
                                    "unknown node {name:?} in `from`: expected one of {}",
                                    nodes.join(", ")
                                ),
                                help,
                            );
                        }
                    }
                }
                _ => self.wrong_type(
                    "from",
                    f,
                    "an array of node names, e.g. [\"redis-2\", \"sentinel-1\"]",
                ),
            }
        }
        if kind == Some(FaultKind::Partition) && backend == BackendChoice::Local {
            self.error(
                v.span(),
                "partition needs the Docker backend, but this scenario says backend = \"local\"",
                backend_span
                    .as_ref()
                    .map(|_| "set backend = \"docker\" (or \"auto\")".to_string()),
            );
            return None;
        }
        Some(Action::Fault(FaultRequest {
            kind: kind?,
            target: target?,
            duration,
            from,
        }))
    }

    fn wait_step<'t, 'i>(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        get: &dyn Fn(&str) -> Option<Entry<'t, 'i>>,
    ) -> Option<Action> {
        let event = self.string("wait_for", v)?;
        let known = SENTINEL_EVENTS.contains(&event.as_str())
            || LAB_EVENTS.contains(&normalise(&event).as_str());
        let timeout = match get("timeout") {
            Some((_, t)) => self.duration("timeout", t)?,
            None => DEFAULT_WAIT_TIMEOUT,
        };
        let required = match get("required") {
            Some((_, r)) => self.boolean("required", r)?,
            None => true,
        };
        if !known {
            let all = SENTINEL_EVENTS.iter().chain(LAB_EVENTS.iter()).copied();
            let help = closest(&event, all).map(|c| format!("did you mean `{c}`?"));
            self.error(
                v.span(),
                format!(
                    "unknown event {event:?}: expected a Sentinel event such as \"+switch-master\" or \"+odown\", or a lab event: {}",
                    LAB_EVENTS.join(", ")
                ),
                help,
            );
            return None;
        }
        Some(Action::WaitFor {
            event: if event.starts_with(['+', '-']) {
                event
            } else {
                normalise(&event)
            },
            timeout,
            required,
        })
    }

    fn expectations(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        workload: WorkloadKind,
        later: &[WorkloadKind],
    ) -> Vec<Expectation> {
        let Some(t) = self.table("expect", v) else {
            return Vec::new();
        };
        let names: Vec<&str> = expect::CATALOGUE.iter().map(|d| d.name).collect();
        let mut entries: Vec<Entry<'_, '_>> = t.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        let mut out = Vec::new();
        for (k, v) in entries {
            let name = normalise(k.get_ref());
            let Some(def) = expect::find(&name) else {
                let help = closest(&name, names.iter().copied())
                    .map(|c| format!("did you mean `{c}`?"))
                    .or_else(|| Some("see scenarios/README.md for every expectation".into()));
                self.error(
                    k.span(),
                    format!(
                        "unknown expectation `{}`: no report field has that name",
                        k.get_ref()
                    ),
                    help,
                );
                continue;
            };
            if !def.workloads.is_empty()
                && !def.workloads.contains(&workload)
                && !later.iter().any(|w| def.workloads.contains(w))
            {
                let wanted: Vec<String> = def.workloads.iter().map(|w| w.to_string()).collect();
                self.error(
                    k.span(),
                    format!(
                        "`{name}` is measured only by the {} workload, but this scenario runs {workload}",
                        wanted.join(" or ")
                    ),
                    None,
                );
                continue;
            }
            if let Some(expected) = self.expected(&name, def.kind, v) {
                let written = match v.get_ref() {
                    DeValue::String(s) => s.to_string(),
                    DeValue::Integer(i) => i.as_str().to_string(),
                    DeValue::Float(f) => f.as_str().to_string(),
                    DeValue::Boolean(b) => b.to_string(),
                    _ => String::new(),
                };
                out.push(Expectation {
                    name,
                    expected,
                    written,
                    line: self.line_of(&k.span()),
                });
            }
        }
        out
    }

    /// Reads an expectation's value: a bare value, or `"OP VALUE"`.
    fn expected(
        &mut self,
        name: &str,
        kind: ExpectKind,
        v: &Spanned<DeValue<'_>>,
    ) -> Option<Expected> {
        let bad = |p: &mut Self, what: String| {
            p.error(
                v.span(),
                format!(
                    "bad value for `{name}`: {what}; expected {}",
                    kind.describe()
                ),
                None,
            );
        };
        let default_cmp = expect::default_comparator(kind);
        match (kind, v.get_ref()) {
            (ExpectKind::Bool, DeValue::Boolean(b)) => Some(Expected::Bool(*b)),
            (ExpectKind::Bool, other) => {
                bad(self, format!("found {}", type_name(other)));
                None
            }
            (ExpectKind::Count | ExpectKind::Number, DeValue::Integer(_) | DeValue::Float(_)) => {
                let n = self.float(name, v, f64::MIN, f64::MAX)?;
                if kind == ExpectKind::Count && (n < 0.0 || n.fract() != 0.0) {
                    bad(self, format!("found {n}"));
                    return None;
                }
                Some(Expected::Number {
                    cmp: default_cmp,
                    value: n,
                })
            }
            (_, DeValue::String(s)) => {
                let s = s.trim();
                let (cmp, rest) = Comparator::ALL
                    .iter()
                    .find_map(|c| s.strip_prefix(c.symbol()).map(|r| (*c, r.trim())))
                    .unwrap_or((default_cmp, s));
                let value = if kind == ExpectKind::Duration {
                    match parse_duration(rest) {
                        Ok(d) => d.as_secs_f64() * 1000.0,
                        Err(_) => {
                            bad(self, format!("found {s:?}"));
                            return None;
                        }
                    }
                } else {
                    match rest.parse::<f64>() {
                        Ok(n) if n.is_finite() => n,
                        _ => {
                            bad(self, format!("found {s:?}"));
                            return None;
                        }
                    }
                };
                Some(Expected::Number { cmp, value })
            }
            (_, other) => {
                bad(self, format!("found {}", type_name(other)));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "title = \"t\"\nteaches = \"x\"\n";

    fn first_error(text: &str) -> Diagnostic {
        parse_str(text, "f.toml").unwrap_err().0.remove(0)
    }

    #[test]
    fn a_minimal_file_takes_every_default() {
        let s = parse_str(MINIMAL, "f.toml").unwrap();
        assert_eq!(s.topology, TopologySpec::default());
        assert_eq!(s.duration, Duration::from_secs(30));
        assert_eq!(s.seed, 1);
        assert!(s.steps.is_empty());
    }

    #[test]
    fn a_fault_typo_points_at_the_value_and_suggests() {
        let text = format!("{MINIMAL}[[step]]\nat = \"5s\"\nfault = \"segfalt\"\n");
        let d = first_error(&text);
        assert_eq!((d.line, d.col), (5, 9));
        assert!(
            d.message.contains("unknown fault \"segfalt\""),
            "{}",
            d.message
        );
        assert_eq!(d.help.as_deref(), Some("did you mean `segfault`?"));
        let shown = d.to_string();
        assert!(shown.starts_with("f.toml:5:9: error: "), "{shown}");
        assert!(shown.contains("        ^^^^^^^^^"), "{shown}");
    }

    #[test]
    fn unknown_keys_are_errors_with_suggestions() {
        let d = first_error(&format!("{MINIMAL}[topology]\nreplicsa = 2\n"));
        assert_eq!((d.line, d.col), (4, 1));
        assert_eq!(d.help.as_deref(), Some("did you mean `replicas`?"));
    }

    #[test]
    fn every_allowed_key_is_read() {
        let text = format!(
            "{MINIMAL}seed = 3\nduration = \"20s\"\nsettle = \"5s\"\nbackend = \"local\"\n\
             [topology]\nmaster_name = \"m\"\nreplicas = 2\nsentinels = 3\nquorum = 2\n\
             down_after_ms = 500\nfailover_timeout_ms = 5000\nparallel_syncs = 2\n\
             persistence = \"rdb\"\nmin_replicas_to_write = 1\nmin_replicas_max_lag = 3\n\
             [workload]\nkind = \"mixed\"\ngrabbers = 10\nusers = 5\nconnections = 2\n\
             mode = \"naive\"\nclient = \"naive\"\nuntil_done = true\nthink = \"1ms\"\n\
             naive_delay = \"2ms\"\npackets = 3\npacket_amount_cents = 500\npacket_count = 5\n\
             stock = 9\nitems = 2\nlocks = [\"naive\"]\nlock_keys = 2\nlock_ttl = \"1s\"\n\
             lock_hold = \"3ms\"\nlock_die_between = 1\n"
        );
        let s = parse_str(&text, "all.toml").unwrap();
        let w = &s.workload;
        assert_eq!(
            (s.seed, s.settle, s.backend),
            (3, Duration::from_secs(5), BackendChoice::Local)
        );
        assert_eq!(
            (
                s.topology.master_name.as_str(),
                s.topology.min_replicas_max_lag_s
            ),
            ("m", 3)
        );
        assert_eq!(
            (w.users, w.connections, w.items, w.stock),
            (Some(5), Some(2), Some(2), Some(9))
        );
        assert_eq!(
            (w.think, w.naive_delay),
            (
                Some(Duration::from_millis(1)),
                Some(Duration::from_millis(2))
            )
        );
        assert_eq!(
            (w.packets, w.packet_amount_cents, w.packet_count),
            (Some(3), Some(500), Some(5))
        );
        assert_eq!((w.lock_keys, w.lock_die_between), (Some(2), Some(1)));
        assert_eq!(
            (w.mode, w.client, w.until_done),
            (Mode::Naive, ClientMode::Naive, true)
        );
    }

    #[test]
    fn kebab_and_snake_keys_are_the_same() {
        let s = parse_str(
            &format!("{MINIMAL}[topology]\ndown-after-ms = 2000\nmin_replicas_to_write = 1\n"),
            "f",
        )
        .unwrap();
        assert_eq!(s.topology.down_after_ms, 2000);
        assert_eq!(s.topology.min_replicas_to_write, 1);
    }

    #[test]
    fn steps_must_be_in_time_order() {
        let text = format!(
            "{MINIMAL}[[step]]\nat = \"10s\"\nnote = \"a\"\n[[step]]\nat = \"5s\"\nnote = \"b\"\n"
        );
        let d = first_error(&text);
        assert_eq!((d.line, d.col), (7, 6));
        assert!(d.message.contains("time order"));
    }

    #[test]
    fn expectations_parse_bare_and_compared_values() {
        let text = format!(
            "{MINIMAL}[expect]\nfailover_within = \"6s\"\nlost_acked_writes = \"> 0\"\np99_ms = 50\nconservation = true\n"
        );
        let s = parse_str(&text, "f").unwrap();
        let by: Vec<_> = s
            .expect
            .iter()
            .map(|e| (e.name.as_str(), e.expected.clone()))
            .collect();
        assert_eq!(
            by[0],
            (
                "failover_within",
                Expected::Number {
                    cmp: Comparator::Le,
                    value: 6000.0
                }
            )
        );
        assert_eq!(
            by[1],
            (
                "lost_acked_writes",
                Expected::Number {
                    cmp: Comparator::Gt,
                    value: 0.0
                }
            )
        );
        assert_eq!(
            by[2],
            (
                "p99_ms",
                Expected::Number {
                    cmp: Comparator::Le,
                    value: 50.0
                }
            )
        );
        assert_eq!(by[3], ("conservation", Expected::Bool(true)));
    }

    #[test]
    fn impossible_topology_points_at_the_quorum() {
        let d = first_error(&format!("{MINIMAL}[topology]\nsentinels = 3\nquorum = 4\n"));
        assert_eq!((d.line, d.col), (5, 10));
        assert!(d.message.contains("impossible topology"));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let d = first_error("title = \"t\nteaches = 1\n");
        assert_eq!(d.line, 1);
        assert!(d.message.starts_with("invalid TOML"));
    }
}
