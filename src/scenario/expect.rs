//! Expectations: the catalogue of names a scenario's `[expect]` table may
//! use (what each measures, its unit, which workload produces it), how a
//! value is read off a finished report ([`super::measure`]), and the verdict of each line as
//! `{name, expected, measured, ok}` for report.json.

use super::model::{Comparator, Expectation, Expected};
pub use crate::report::model::ExpectationVerdict;
use crate::workload::WorkloadKind;

/// What kind of value an expectation takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectKind {
    /// A count: `0` means exactly 0; `"> 0"`, `"<= 10"` compare.
    Count,
    /// A duration: `"6s"` means at most 6 s; `"< 6s"` compares.
    Duration,
    /// A number (milliseconds, ratio): `50` means at most 50; `"< 50"` compares.
    Number,
    /// `true` or `false`.
    Bool,
}

impl ExpectKind {
    pub fn describe(self) -> &'static str {
        match self {
            ExpectKind::Count => "a count (e.g. 0, \"> 0\", \"<= 10\")",
            ExpectKind::Duration => "a duration (e.g. \"6s\", \"< 500ms\")",
            ExpectKind::Number => "a number (e.g. 50, \"< 50\", \">= 0.9\")",
            ExpectKind::Bool => "true or false",
        }
    }
}

/// One name the `[expect]` table knows.
pub struct ExpectDef {
    pub name: &'static str,
    pub kind: ExpectKind,
    /// The workloads that produce it (empty: any).
    pub workloads: &'static [WorkloadKind],
    pub doc: &'static str,
}

const RP: &[WorkloadKind] = &[WorkloadKind::Redpacket, WorkloadKind::Mixed];
const SK: &[WorkloadKind] = &[WorkloadKind::Seckill, WorkloadKind::Mixed];
const LK: &[WorkloadKind] = &[WorkloadKind::Lock, WorkloadKind::Mixed];

macro_rules! def {
    ($name:literal, $kind:ident, $w:expr, $doc:literal) => {
        ExpectDef {
            name: $name,
            kind: ExpectKind::$kind,
            workloads: $w,
            doc: $doc,
        }
    };
}

/// Every expectation name, in the order the README documents them.
pub const CATALOGUE: &[ExpectDef] = &[
    def!("failovers", Count, &[], "failovers measured (a fault followed by +switch-master)"),
    def!("failover_within", Duration, &[], "every failover's fault-to-new-master time (switch_ms, or promoted_ms in a cluster); fails when no failover happened"),
    def!("client_recovered_within", Duration, &[], "every failover's fault-to-first-successful-write time (client_recovered_ms)"),
    def!("write_outage", Duration, &[], "the longest stretch with no successful write, over the whole run"),
    def!("old_master_rejoined", Bool, &[], "every failed-over old master came back as a replica"),
    def!("lost_acked_writes", Count, &[], "acknowledged writes missing from Redis after the run (all workloads)"),
    def!("ops_ok", Count, &[], "successful operations"),
    def!("errors", Count, &[], "failed operations, all classes"),
    def!("timeout_errors", Count, &[], "operations that timed out"),
    def!("connection_refused_errors", Count, &[], "operations refused a connection"),
    def!("connection_reset_errors", Count, &[], "operations whose connection was reset"),
    def!("readonly_errors", Count, &[], "READONLY replies (writing to a replica)"),
    def!("loading_errors", Count, &[], "LOADING replies"),
    def!("masterdown_errors", Count, &[], "MASTERDOWN replies"),
    def!("noreplicas_errors", Count, &[], "NOREPLICAS replies (min-replicas-to-write refused the write)"),
    def!("clusterdown_errors", Count, &[], "CLUSTERDOWN replies (Cluster: the slot has no master, or the whole cluster refuses)"),
    def!("other_errors", Count, &[], "errors of no other class"),
    def!("ops_per_s", Number, &[], "mean successful operations per second"),
    def!("p50_ms", Number, &[], "median latency of all operations, ms"),
    def!("p90_ms", Number, &[], "90th percentile latency, ms"),
    def!("p99_ms", Number, &[], "99th percentile latency, ms"),
    def!("p999_ms", Number, &[], "99.9th percentile latency, ms"),
    def!("max_ms", Number, &[], "slowest operation, ms"),
    def!("packets", Count, RP, "red packets sent"),
    def!("grabs_ok", Count, RP, "successful red-packet grabs"),
    def!("conservation", Bool, RP, "per packet, granted amounts plus what remains equal the total"),
    def!("duplicate_grabs", Count, RP, "users granted twice in one packet"),
    def!("lost_acked_grabs", Count, RP, "acknowledged grabs missing from Redis"),
    def!("money_created_cents", Number, RP, "amount granted minus amount sent, cents (above 0: money created)"),
    def!("gini_mean", Number, RP, "mean Gini coefficient of the amounts in a packet"),
    def!("fairness_spread", Number, RP, "largest relative gap between a grab position's mean amount and the equal mean"),
    def!("sold", Count, SK, "seckill items sold"),
    def!("oversold", Count, SK, "items sold beyond the stock"),
    def!("lost_acked_sales", Count, SK, "acknowledged sales missing from Redis"),
    def!("locks_acquired", Count, LK, "lock acquisitions, all kinds"),
    def!("lock_violations", Count, LK, "moments two grabbers held one lock, all kinds"),
    def!("lost_updates", Count, LK, "updates of the protected resource overwritten by another holder"),
    def!("stale_tokens_refused", Count, LK, "writes the fenced resource refused for an old token"),
    def!("locks_without_ttl", Count, LK, "lock keys left with no TTL (a naive holder died between SETNX and EXPIRE)"),
];

/// The definition of an expectation name.
pub fn find(name: &str) -> Option<&'static ExpectDef> {
    CATALOGUE.iter().find(|d| d.name == name)
}

/// The definition a lesson's `answer` names: an expectation name, or a
/// duration's name with `_ms` (`write_outage_ms`, as report.json spells
/// the field).
pub fn find_answer(name: &str) -> Option<&'static ExpectDef> {
    find(name).or_else(|| {
        let base = name.strip_suffix("_ms")?;
        find(base).filter(|d| d.kind == ExpectKind::Duration)
    })
}

/// A measured value in words, as the verdicts and a lesson's answers show
/// it: a duration as `2.3s`, a count whole, a reason when there is none.
pub fn show(kind: ExpectKind, measured: &Measured) -> String {
    match measured {
        Measured::Number(v) => show_number(kind, *v),
        Measured::Bool(b) => b.to_string(),
        Measured::Missing(why) => format!("unknown: {why}"),
    }
}

/// [`show`] for a class to read: a large number in whole units with
/// thousands marked (`38,380`), a small one to a tenth; the verdicts keep
/// every digit, since they compare.
pub fn show_rounded(kind: ExpectKind, measured: &Measured) -> String {
    match (kind, measured) {
        (ExpectKind::Number, Measured::Number(v)) if v.fract() != 0.0 => {
            if v.abs() >= 1000.0 {
                let whole = crate::words::count(v.abs().round() as u64);
                if *v < 0.0 {
                    format!("-{whole}")
                } else {
                    whole
                }
            } else {
                format!("{v:.1}")
            }
        }
        _ => show(kind, measured),
    }
}

fn show_number(kind: ExpectKind, v: f64) -> String {
    match kind {
        ExpectKind::Duration => {
            crate::words::duration(std::time::Duration::from_millis(v.max(0.0).round() as u64))
        }
        ExpectKind::Count => format!("{}", v.round() as i64),
        _ => {
            if v.fract() == 0.0 && v.abs() < 1e15 {
                format!("{}", v as i64)
            } else {
                format!("{v:.3}")
            }
        }
    }
}

/// A measured value, or why there is none.
#[derive(Clone, Debug, PartialEq)]
pub enum Measured {
    Number(f64),
    Bool(bool),
    Missing(String),
}

/// Checks one expectation against a measured value.
pub fn judge(e: &Expectation, measured: Measured) -> ExpectationVerdict {
    let kind = find(&e.name).map(|d| d.kind).unwrap_or(ExpectKind::Number);
    let show = |v: f64| show_number(kind, v);
    let (expected, ok, measured) = match (&e.expected, measured) {
        (Expected::Number { cmp, value }, Measured::Number(m)) => (
            format!("{} {}", cmp.symbol(), show(*value)),
            cmp.holds(m, *value),
            show(m),
        ),
        (Expected::Bool(want), Measured::Bool(m)) => (want.to_string(), *want == m, m.to_string()),
        (Expected::Number { cmp, value }, Measured::Missing(why)) => {
            (format!("{} {}", cmp.symbol(), show(*value)), false, why)
        }
        (Expected::Bool(want), Measured::Missing(why)) => (want.to_string(), false, why),
        (Expected::Number { cmp, value }, Measured::Bool(m)) => (
            format!("{} {}", cmp.symbol(), show(*value)),
            false,
            m.to_string(),
        ),
        (Expected::Bool(want), Measured::Number(m)) => (want.to_string(), false, show(m)),
    };
    ExpectationVerdict {
        name: e.name.clone(),
        expected,
        measured,
        ok,
    }
}

/// Evaluates every expectation with `measure` (name to measured value;
/// for a finished run, [`super::measure::measure`] on its report).
pub fn evaluate(
    expectations: &[Expectation],
    measure: impl Fn(&str) -> Measured,
) -> Vec<ExpectationVerdict> {
    expectations
        .iter()
        .map(|e| judge(e, measure(&e.name)))
        .collect()
}

/// The expectations every scenario has unless it says otherwise: no
/// acknowledged write lost (`lost_acked_writes = 0`). A scenario that
/// teaches a loss overrides it by naming `lost_acked_writes` itself. Listed
/// only when it fails, so a clean run's expectations read as written.
pub fn implicit(
    expectations: &[Expectation],
    measure: impl Fn(&str) -> Measured,
) -> Vec<ExpectationVerdict> {
    const LOST: &str = "lost_acked_writes";
    if expectations.iter().any(|e| e.name == LOST) {
        return Vec::new();
    }
    let e = Expectation {
        name: LOST.into(),
        expected: Expected::Number {
            cmp: Comparator::Eq,
            value: 0.0,
        },
        written: "0".into(),
        line: 0,
    };
    let mut v = judge(&e, measure(LOST));
    v.name = format!("{LOST} (implicit: set it in [expect] when the scenario expects a loss)");
    if v.ok {
        return Vec::new();
    }
    vec![v]
}

/// A `required` `wait_for` step that timed out, as a failed expectation.
/// `why` says what happened instead, e.g. "never came".
pub fn missed_wait(event: &str, step_at: &str, timeout: &str, why: &str) -> ExpectationVerdict {
    ExpectationVerdict {
        name: format!("wait_for {event} (step at {step_at})"),
        expected: format!("within {timeout}"),
        measured: why.into(),
        ok: false,
    }
}

/// The comparator a bare value means for a kind: counts and booleans are
/// exact, durations and numbers are upper bounds.
pub fn default_comparator(kind: ExpectKind) -> Comparator {
    match kind {
        ExpectKind::Count | ExpectKind::Bool => Comparator::Eq,
        ExpectKind::Duration | ExpectKind::Number => Comparator::Le,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_reads_rounded_answers_and_the_verdicts_keep_every_digit() {
        let n = |v| Measured::Number(v);
        assert_eq!(show_rounded(ExpectKind::Number, &n(38379.623)), "38,380");
        assert_eq!(show_rounded(ExpectKind::Number, &n(0.3436)), "0.3");
        assert_eq!(show_rounded(ExpectKind::Number, &n(12.0)), "12");
        assert_eq!(
            show_rounded(ExpectKind::Duration, &n(2222.0)),
            show(ExpectKind::Duration, &n(2222.0))
        );
        assert_eq!(show(ExpectKind::Number, &n(38379.623)), "38379.623");
        assert!(show_rounded(
            ExpectKind::Count,
            &Measured::Missing("no failover happened".into())
        )
        .starts_with("unknown: "));
    }

    fn exp(name: &str, expected: Expected) -> Expectation {
        Expectation {
            name: name.into(),
            expected,
            written: String::new(),
            line: 1,
        }
    }

    #[test]
    fn catalogue_names_are_unique() {
        let mut names: Vec<_> = CATALOGUE.iter().map(|d| d.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
    }

    #[test]
    fn judge_compares_and_renders_in_the_expectation_unit() {
        let r = judge(
            &exp(
                "failover_within",
                Expected::Number {
                    cmp: Comparator::Le,
                    value: 6000.0,
                },
            ),
            Measured::Number(2450.0),
        );
        assert_eq!(
            (r.expected.as_str(), r.measured.as_str(), r.ok),
            ("<= 6s", "2.45s", true)
        );
        let r = judge(
            &exp(
                "lost_acked_writes",
                Expected::Number {
                    cmp: Comparator::Gt,
                    value: 0.0,
                },
            ),
            Measured::Number(0.0),
        );
        assert_eq!(
            (r.expected.as_str(), r.measured.as_str(), r.ok),
            ("> 0", "0", false)
        );
        let r = judge(
            &exp("conservation", Expected::Bool(true)),
            Measured::Bool(true),
        );
        assert!(r.ok);
        let r = judge(
            &exp("conservation", Expected::Bool(true)),
            Measured::Missing("no red packets in this run".into()),
        );
        assert!(!r.ok);
        assert_eq!(r.measured, "no red packets in this run");
    }
}
