//! Reading an expectation's value off a finished [`Report`]: the one place
//! that knows which report field each name in the `[expect]` catalogue
//! stands for. A value the run did not produce (no red packets, no
//! failover) is `Missing` with the reason, and fails the expectation.

use super::expect::Measured;
use crate::metrics::timeline::Failover;
use crate::metrics::ErrorClass;
use crate::report::model::Report;
use crate::words::secs;

/// The failovers of the report that switched to a new master.
fn completed(report: &Report) -> Vec<&Failover> {
    report.failovers.iter().filter(|f| f.failed_over).collect()
}

fn count(n: u64) -> Measured {
    Measured::Number(n as f64)
}

fn ms(us: u64) -> Measured {
    Measured::Number(us as f64 / 1000.0)
}

/// The largest of a per-failover time; missing when no failover happened
/// or one never reached that phase.
fn worst_phase(report: &Report, phase: &str, get: fn(&Failover) -> Option<u64>) -> Measured {
    let done = completed(report);
    if done.is_empty() {
        return Measured::Missing("no failover happened".into());
    }
    let mut worst = 0u64;
    for f in done {
        match get(f) {
            Some(v) => worst = worst.max(v),
            None => {
                return Measured::Missing(format!(
                    "the failover at {} never reached {phase}",
                    secs(f.at_ms)
                ))
            }
        }
    }
    Measured::Number(worst as f64)
}

/// The longest stretch, in ms, of whole seconds with no successful write,
/// from the per-second series (the whole run, not one failover).
fn longest_write_gap_ms(report: &Report) -> Option<u64> {
    let from_failovers = report
        .failovers
        .iter()
        .filter_map(|f| f.write_outage_ms)
        .max();
    let mut longest = 0u64;
    let mut current = 0u64;
    let any_writes = report.throughput.iter().any(|p| p.writes_ok > 0);
    if any_writes {
        // Trailing seconds may be the load's own stop; only gaps that end
        // with writes again count.
        for p in &report.throughput {
            if p.writes_ok == 0 {
                current += 1000;
            } else {
                longest = longest.max(current);
                current = 0;
            }
        }
    }
    match (from_failovers, any_writes) {
        (Some(f), _) => Some(f.max(longest)),
        (None, true) => Some(longest),
        (None, false) => None,
    }
}

fn error_class(report: &Report, class: ErrorClass) -> Measured {
    count(report.errors.get(&class).copied().unwrap_or(0))
}

/// Expectations whose value the audit reads from Redis: unknown without it.
const READ_FROM_REDIS: &[&str] = &[
    "lost_acked_writes",
    "lost_acked_grabs",
    "lost_acked_sales",
    "conservation",
    "duplicate_grabs",
    "money_created_cents",
    "oversold",
    "lost_updates",
    "locks_without_ttl",
];

/// The value `name` stands for in `report`.
pub fn measure(name: &str, report: &Report) -> Measured {
    let no_rp = || Measured::Missing("the run had no red packets".into());
    let no_sk = || Measured::Missing("the run had no seckill".into());
    let no_locks = || Measured::Missing("the run took no locks".into());
    let rp = report.redpacket.as_ref();
    let sk = report.seckill.as_ref();
    let locks = || -> Option<_> { (!report.locks.is_empty()).then(|| report.locks.values()) };
    if !report.audit.checked && READ_FROM_REDIS.contains(&name) {
        return Measured::Missing(format!(
            "unknown: the audit could not be made ({})",
            report
                .audit
                .reason
                .as_deref()
                .unwrap_or("no reason recorded")
        ));
    }
    match name {
        "failovers" => count(completed(report).len() as u64),
        "failover_within" => worst_phase(
            report,
            "the new master (+switch-master, or the cluster's promotion)",
            |f| f.replaced_ms(),
        ),
        "client_recovered_within" => {
            worst_phase(report, "a successful write", |f| f.client_recovered_ms)
        }
        "write_outage" => match longest_write_gap_ms(report) {
            Some(v) => Measured::Number(v as f64),
            None => Measured::Missing("no successful write in the run".into()),
        },
        "old_master_rejoined" => {
            let done = completed(report);
            if done.is_empty() {
                Measured::Missing("no failover happened".into())
            } else {
                Measured::Bool(done.iter().all(|f| f.old_master_rejoined_as_replica))
            }
        }
        "lost_acked_writes" => count(report.lost_acked_writes()),
        "ops_ok" => count(report.ops.values().map(|o| o.ok).sum()),
        "errors" => count(report.errors.values().sum()),
        "timeout_errors" => error_class(report, ErrorClass::Timeout),
        "connection_refused_errors" => error_class(report, ErrorClass::ConnectionRefused),
        "connection_reset_errors" => error_class(report, ErrorClass::ConnectionReset),
        "readonly_errors" => error_class(report, ErrorClass::Readonly),
        "loading_errors" => error_class(report, ErrorClass::Loading),
        "masterdown_errors" => error_class(report, ErrorClass::Masterdown),
        "noreplicas_errors" => error_class(report, ErrorClass::Noreplicas),
        "clusterdown_errors" => error_class(report, ErrorClass::ClusterDown),
        "other_errors" => error_class(report, ErrorClass::Other),
        "ops_per_s" => Measured::Number(report.ops.values().map(|o| o.ops_per_s).sum()),
        "p50_ms" => ms(report.latency.p50_us),
        "p90_ms" => ms(report.latency.p90_us),
        "p99_ms" => ms(report.latency.p99_us),
        "p999_ms" => ms(report.latency.p999_us),
        "max_ms" => ms(report.latency.max_us),
        "packets" => rp.map_or_else(no_rp, |r| count(r.packets)),
        "grabs_ok" => rp.map_or_else(no_rp, |r| count(r.grabs_ok)),
        "conservation" => rp.map_or_else(no_rp, |r| Measured::Bool(r.conservation_ok)),
        "duplicate_grabs" => rp.map_or_else(no_rp, |r| count(r.duplicate_grabs)),
        "lost_acked_grabs" => rp.map_or_else(no_rp, |r| count(r.lost_acked_grabs)),
        "money_created_cents" => {
            rp.map_or_else(no_rp, |r| Measured::Number(r.money_created_cents as f64))
        }
        "gini_mean" => rp.map_or_else(no_rp, |r| Measured::Number(r.gini_mean)),
        "fairness_spread" => rp.map_or_else(no_rp, |r| {
            if r.expected_mean_cents <= 0.0 || r.by_position.is_empty() {
                return Measured::Missing("no packet was grabbed".into());
            }
            let spread = r
                .by_position
                .iter()
                .filter(|p| p.grabs > 0)
                .map(|p| (p.mean_cents - r.expected_mean_cents).abs() / r.expected_mean_cents)
                .fold(0.0, f64::max);
            Measured::Number(spread)
        }),
        "sold" => sk.map_or_else(no_sk, |s| count(s.sold)),
        "oversold" => sk.map_or_else(no_sk, |s| count(s.oversold)),
        "lost_acked_sales" => sk.map_or_else(no_sk, |s| count(s.lost_acked_sales)),
        "locks_acquired" => locks().map_or_else(no_locks, |l| count(l.map(|k| k.acquired).sum())),
        "lock_violations" => locks().map_or_else(no_locks, |_| {
            report.lock_violations().map_or_else(
                || {
                    Measured::Missing(
                        "lock violations are not recomputable from the journal".into(),
                    )
                },
                count,
            )
        }),
        "lost_updates" => locks().map_or_else(no_locks, |l| count(l.map(|k| k.lost_updates).sum())),
        "stale_tokens_refused" => {
            locks().map_or_else(no_locks, |l| count(l.map(|k| k.stale_tokens_refused).sum()))
        }
        "locks_without_ttl" => {
            locks().map_or_else(no_locks, |l| count(l.map(|k| k.locks_without_ttl).sum()))
        }
        other => Measured::Missing(format!("`{other}` is not a known expectation")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{RedPacketReport, SeckillReport};
    use crate::scenario::expect::CATALOGUE;

    #[test]
    fn every_catalogue_name_is_measured() {
        let report = Report::default();
        for def in CATALOGUE {
            if let Measured::Missing(why) = measure(def.name, &report) {
                assert!(!why.contains("not a known expectation"), "{}", def.name);
            }
        }
    }

    #[test]
    fn values_come_from_the_report_fields() {
        let report = Report {
            redpacket: Some(RedPacketReport {
                conservation_ok: false,
                duplicate_grabs: 3,
                expected_mean_cents: 1000.0,
                by_position: vec![
                    crate::metrics::PositionStats {
                        position: 1,
                        grabs: 10,
                        mean_cents: 1050.0,
                        ..Default::default()
                    },
                    crate::metrics::PositionStats {
                        position: 2,
                        grabs: 10,
                        mean_cents: 980.0,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            seckill: Some(SeckillReport {
                oversold: 7,
                ..Default::default()
            }),
            failovers: vec![Failover {
                fault: "segfault".into(),
                at_ms: 5000,
                failed_over: true,
                switch_ms: Some(2450),
                client_recovered_ms: Some(2600),
                old_master_rejoined_as_replica: true,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(measure("conservation", &report), Measured::Bool(false));
        assert_eq!(measure("duplicate_grabs", &report), Measured::Number(3.0));
        assert_eq!(measure("oversold", &report), Measured::Number(7.0));
        assert_eq!(measure("failovers", &report), Measured::Number(1.0));
        assert_eq!(
            measure("failover_within", &report),
            Measured::Number(2450.0)
        );
        assert_eq!(
            measure("old_master_rejoined", &report),
            Measured::Bool(true)
        );
        assert_eq!(measure("fairness_spread", &report), Measured::Number(0.05));
        assert!(matches!(
            measure("lock_violations", &report),
            Measured::Missing(_)
        ));
    }
}
