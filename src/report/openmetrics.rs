//! The OpenMetrics text exposition of a run (what `--metrics ADDR` serves
//! at `/metrics`), rendered from a [`Snapshot`], the same value the
//! dashboard and the progress line read: operations and errors by
//! workload and operation kind, the latency histogram, the grabbers, the
//! nodes' roles, and once the run ended the failover rows and the lost
//! writes by cause. Every name starts with `grabstorm_`.

use crate::metrics::losses::LossCause;
use crate::metrics::{LatencyBucket, Snapshot};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every loss cause, for a lost-writes sample per cause (0 when none).
const LOSS_CAUSES: [LossCause; 6] = [
    LossCause::Failover,
    LossCause::SplitBrain,
    LossCause::MinorityPartition,
    LossCause::EmptyRestart,
    LossCause::SecondFailover,
    LossCause::Unexplained,
];

/// A label value, escaped as the format asks (`\`, `"` and newlines).
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// `{a="x",b="y"}` (empty for no labels).
fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// The name serde gives a value (`master`, `connection_refused`).
fn serde_name(v: &impl Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_string(),
    }
}

/// A number as the format writes it.
fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

struct Out(String);

impl Out {
    /// Opens a metric family: its TYPE, UNIT (when given) and HELP lines.
    fn family(&mut self, name: &str, kind: &str, unit: Option<&str>, help: &str) {
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
        if let Some(u) = unit {
            let _ = writeln!(self.0, "# UNIT {name} {u}");
        }
        let _ = writeln!(self.0, "# HELP {name} {}", escape(help));
    }

    fn sample(&mut self, name: &str, pairs: &[(&str, &str)], value: impl ToString) {
        let _ = writeln!(self.0, "{name}{} {}", labels(pairs), value.to_string());
    }
}

/// The workload an operation kind belongs to: `redpacket.grab` ->
/// `redpacket`, `lock.safe.acquire` -> `lock`, `setup` -> `setup`.
fn workload_of(op: &str) -> &str {
    op.split('.').next().unwrap_or(op)
}

/// The exposition of `snap`, ending with `# EOF`.
pub fn render(snap: &Snapshot) -> String {
    let mut o = Out(String::new());

    o.family(
        "grabstorm_run",
        "info",
        None,
        "The run: its id, backend and seed.",
    );
    let seed = snap.seed.to_string();
    o.sample(
        "grabstorm_run_info",
        &[
            ("run_id", &snap.run_id),
            ("backend", &snap.backend),
            ("seed", &seed),
        ],
        1,
    );
    o.family(
        "grabstorm_run_elapsed_seconds",
        "gauge",
        Some("seconds"),
        "Time since the run's clock started.",
    );
    o.sample(
        "grabstorm_run_elapsed_seconds",
        &[],
        num(snap.elapsed_ms as f64 / 1000.0),
    );

    o.family(
        "grabstorm_operations",
        "counter",
        None,
        "Operations Redis answered without an error, by workload and operation kind.",
    );
    for op in &snap.ops {
        o.sample(
            "grabstorm_operations_total",
            &[("workload", workload_of(&op.name)), ("op", &op.name)],
            op.ok,
        );
    }
    o.family(
        "grabstorm_errors",
        "counter",
        None,
        "Operations that ended in an error, by workload, operation kind and error class.",
    );
    for op in &snap.ops {
        for (class, n) in &op.errors {
            o.sample(
                "grabstorm_errors_total",
                &[
                    ("workload", workload_of(&op.name)),
                    ("op", &op.name),
                    ("class", class.name()),
                ],
                n,
            );
        }
    }

    o.family(
        "grabstorm_latency_seconds",
        "histogram",
        Some("seconds"),
        "Latency of every successful Redis operation of the run.",
    );
    let count = snap.latency.total.count;
    // Before the first tick the snapshot has no buckets yet: the same
    // bounds with nothing in them, so a series never appears late.
    let empty: Vec<LatencyBucket> = crate::metrics::aggregate::bucket_bounds()
        .into_iter()
        .map(|upper_us| LatencyBucket { upper_us, count: 0 })
        .collect();
    let buckets = if snap.latency.buckets.is_empty() {
        &empty
    } else {
        &snap.latency.buckets
    };
    let mut cumulative = 0u64;
    for b in buckets {
        // The buckets are counted on the histogram's own sub-buckets: a
        // sample at a bound can count on both sides, so the running sum is
        // capped at the count to stay a valid cumulative histogram.
        cumulative = (cumulative + b.count).min(count);
        let le = num(b.upper_us as f64 / 1e6);
        o.sample(
            "grabstorm_latency_seconds_bucket",
            &[("le", &le)],
            cumulative,
        );
    }
    o.sample("grabstorm_latency_seconds_bucket", &[("le", "+Inf")], count);
    o.sample("grabstorm_latency_seconds_count", &[], count);
    o.sample(
        "grabstorm_latency_seconds_sum",
        &[],
        num(snap.latency.sum_us as f64 / 1e6),
    );

    o.family(
        "grabstorm_operation_latency_seconds",
        "gauge",
        Some("seconds"),
        "Whole-run latency quantiles of each operation kind.",
    );
    for op in &snap.ops {
        if op.latency.count == 0 {
            continue;
        }
        for (q, us) in [
            ("0.5", op.latency.p50_us),
            ("0.9", op.latency.p90_us),
            ("0.99", op.latency.p99_us),
            ("0.999", op.latency.p999_us),
        ] {
            o.sample(
                "grabstorm_operation_latency_seconds",
                &[
                    ("workload", workload_of(&op.name)),
                    ("op", &op.name),
                    ("quantile", q),
                ],
                num(us as f64 / 1e6),
            );
        }
    }

    o.family(
        "grabstorm_grabbers",
        "gauge",
        None,
        "Grabbers (simulated users) the load runs.",
    );
    o.sample("grabstorm_grabbers", &[], snap.load.grabbers);
    o.family(
        "grabstorm_load_paused",
        "gauge",
        None,
        "1 while the load is paused.",
    );
    o.sample("grabstorm_load_paused", &[], u8::from(snap.load.paused));
    o.family(
        "grabstorm_load_stopped",
        "gauge",
        None,
        "1 once the load stopped and every grabber ended: the counters are final.",
    );
    o.sample("grabstorm_load_stopped", &[], u8::from(snap.load.stopped));

    if let Some(r) = &snap.redirects {
        o.family(
            "grabstorm_cluster_redirects",
            "counter",
            None,
            "Cluster redirects the client was sent (moved, ask).",
        );
        o.sample(
            "grabstorm_cluster_redirects_total",
            &[("kind", "moved")],
            r.moved,
        );
        o.sample(
            "grabstorm_cluster_redirects_total",
            &[("kind", "ask")],
            r.ask,
        );
    }

    o.family(
        "grabstorm_node_role",
        "gauge",
        None,
        "1 for each node with the role it has now (master, replica, sentinel, unknown).",
    );
    for n in &snap.topology.nodes {
        o.sample(
            "grabstorm_node_role",
            &[("node", &n.name), ("role", &serde_name(&n.role))],
            1,
        );
    }
    o.family(
        "grabstorm_node_health",
        "gauge",
        None,
        "1 for each node with its health now (up, sdown, odown, down, paused, partitioned).",
    );
    for n in &snap.topology.nodes {
        o.sample(
            "grabstorm_node_health",
            &[("node", &n.name), ("health", &serde_name(&n.health))],
            1,
        );
    }

    o.family(
        "grabstorm_run_ended",
        "gauge",
        None,
        "1 once the run ended and its failovers and losses are measured (the families below).",
    );
    o.sample("grabstorm_run_ended", &[], u8::from(snap.ended.is_some()));
    if let Some(end) = &snap.ended {
        o.family(
            "grabstorm_faults_measured",
            "gauge",
            None,
            "Faults on a master measured as failover rows.",
        );
        o.sample("grabstorm_faults_measured", &[], end.failovers.len());
        o.family(
            "grabstorm_failovers",
            "gauge",
            None,
            "Faults on a master that led to a new master.",
        );
        let switched = end.failovers.iter().filter(|f| f.failed_over).count();
        o.sample("grabstorm_failovers", &[], switched);
        o.family(
            "grabstorm_failover_write_outage_seconds",
            "gauge",
            Some("seconds"),
            "Longest stretch without a successful write after each fault on a master.",
        );
        for f in &end.failovers {
            if let Some(ms) = f.write_outage_ms {
                let index = f.fault_index.to_string();
                o.sample(
                    "grabstorm_failover_write_outage_seconds",
                    &[
                        ("fault_index", &index),
                        ("fault", &f.fault),
                        ("old_master", &f.old_master),
                    ],
                    num(ms as f64 / 1000.0),
                );
            }
        }
        o.family(
            "grabstorm_audit_checked",
            "gauge",
            None,
            "1 when the audit read Redis (0: the lost writes are unknown).",
        );
        o.sample("grabstorm_audit_checked", &[], u8::from(end.audited));
        if end.audited {
            o.family(
                "grabstorm_lost_writes",
                "gauge",
                None,
                "Acknowledged writes Redis lost, by cause, as the audit found them.",
            );
            let mut by_cause: BTreeMap<LossCause, u64> =
                LOSS_CAUSES.iter().map(|c| (*c, 0)).collect();
            for l in &end.losses {
                *by_cause.entry(l.cause).or_default() += l.lost_acked_writes;
            }
            for (cause, n) in by_cause {
                o.sample("grabstorm_lost_writes", &[("cause", &cause.to_string())], n);
            }
        }
    }
    o.0.push_str("# EOF\n");
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::losses::Loss;
    use crate::metrics::timeline::Failover;
    use crate::metrics::{ErrorClass, OpView, RunEndView};

    fn snapshot() -> Snapshot {
        let node = |name: &str, role| crate::metrics::NodeView {
            name: name.into(),
            kind: crate::topology::NodeKind::Redis,
            role,
            health: crate::metrics::Health::Up,
            host_addr: "127.0.0.1:7000".into(),
            internal_addr: "127.0.0.1:7000".into(),
            shard: None,
            repl_offset: None,
            lag_bytes: None,
            master_of_replica: None,
            sentinel_master: None,
        };
        let mut s = Snapshot {
            run_id: "r1".into(),
            seed: 7,
            backend: "local".into(),
            ..Default::default()
        };
        s.topology.nodes = vec![
            node("redis-1", crate::metrics::Role::Master),
            node("redis-2", crate::metrics::Role::Replica),
        ];
        s.ops = vec![
            OpView {
                name: "redpacket.grab".into(),
                ok: 900,
                errors: [(ErrorClass::Timeout, 3), (ErrorClass::Readonly, 2)].into(),
                ..Default::default()
            },
            OpView {
                name: "lock.safe.acquire".into(),
                ok: 100,
                ..Default::default()
            },
        ];
        s.latency.total.count = 1000;
        s.latency.sum_us = 412_000;
        s.latency.buckets = vec![
            LatencyBucket {
                upper_us: 100,
                count: 300,
            },
            LatencyBucket {
                upper_us: 1000,
                count: 650,
            },
            // Counted on both sides of a bound: the running sum is capped.
            LatencyBucket {
                upper_us: 5000,
                count: 60,
            },
        ];
        s
    }

    /// Every sample line's name and value, in order.
    fn samples(text: &str) -> Vec<(String, f64)> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (name, value) = l.rsplit_once(' ').expect("a sample has a value");
                (name.to_string(), value.parse().expect("a number"))
            })
            .collect()
    }

    #[test]
    fn the_exposition_is_well_formed() {
        let text = render(&snapshot());
        assert!(text.ends_with("\n# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1);
        // Every family has TYPE then HELP; every sample belongs to the
        // family declared last, whose lines are contiguous.
        let mut family: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(name.starts_with("grabstorm_"), "{line}");
                assert!(
                    ["counter", "gauge", "histogram", "info"].contains(&kind),
                    "{line}"
                );
                assert!(seen.insert(name.to_string()), "declared twice: {name}");
                let mut next = lines.next().unwrap();
                if next.starts_with("# UNIT ") {
                    assert!(name.ends_with("_seconds"), "{line}");
                    next = lines.next().unwrap();
                }
                assert!(next.starts_with(&format!("# HELP {name} ")), "{next}");
                family = Some(name.to_string());
            } else if line != "# EOF" {
                assert!(!line.starts_with('#'), "{line}");
                let f = family.as_deref().expect("a sample after its TYPE");
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(
                    name == f
                        || ["_total", "_bucket", "_count", "_sum", "_info"]
                            .iter()
                            .any(|s| name == format!("{f}{s}")),
                    "{name} outside {f}"
                );
            }
        }
        assert!(text.contains(
            "grabstorm_operations_total{workload=\"redpacket\",op=\"redpacket.grab\"} 900\n"
        ));
        assert!(text.contains(
            "grabstorm_errors_total{workload=\"redpacket\",op=\"redpacket.grab\",class=\"timeout\"} 3\n"
        ));
        assert!(text.contains(
            "grabstorm_operations_total{workload=\"lock\",op=\"lock.safe.acquire\"} 100\n"
        ));
        assert!(
            text.contains("grabstorm_node_role{node=\"redis-1\",role=\"master\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_the_count() {
        let text = render(&snapshot());
        let buckets: Vec<f64> = samples(&text)
            .into_iter()
            .filter(|(n, _)| n.starts_with("grabstorm_latency_seconds_bucket"))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(buckets, [300.0, 950.0, 1000.0, 1000.0]);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
        assert!(text.contains("grabstorm_latency_seconds_bucket{le=\"0.0001\"} 300\n"));
        assert!(text.contains("grabstorm_latency_seconds_bucket{le=\"+Inf\"} 1000\n"));
        assert!(text.contains("grabstorm_latency_seconds_count 1000\n"));
        assert!(text.contains("grabstorm_latency_seconds_sum 0.412\n"));
    }

    #[test]
    fn failovers_and_losses_appear_once_the_run_ended() {
        let mut s = snapshot();
        let live = render(&s);
        assert!(live.contains("grabstorm_run_ended 0\n"));
        assert!(!live.contains("grabstorm_lost_writes"));
        s.ended = Some(RunEndView {
            audited: true,
            failovers: vec![Failover {
                fault: "segfault".into(),
                failed_over: true,
                write_outage_ms: Some(5512),
                old_master: "redis-1".into(),
                ..Default::default()
            }],
            losses: vec![
                Loss {
                    cause: LossCause::Failover,
                    lost_acked_writes: 30,
                    ..Default::default()
                },
                Loss {
                    cause: LossCause::Failover,
                    lost_acked_writes: 7,
                    ..Default::default()
                },
            ],
        });
        let end = render(&s);
        assert!(end.contains("grabstorm_run_ended 1\n"));
        assert!(end.contains("grabstorm_failovers 1\n"));
        assert!(
            end.contains("grabstorm_lost_writes{cause=\"failover\"} 37\n"),
            "{end}"
        );
        assert!(end.contains("grabstorm_lost_writes{cause=\"split_brain\"} 0\n"));
        assert!(end.contains(
            "grabstorm_failover_write_outage_seconds{fault_index=\"0\",fault=\"segfault\",old_master=\"redis-1\"} 5.512\n"
        ));
    }

    #[test]
    fn the_first_snapshot_has_every_bucket_empty() {
        let text = render(&Snapshot::default());
        let buckets = text.matches("grabstorm_latency_seconds_bucket{").count();
        assert_eq!(
            buckets,
            crate::metrics::aggregate::bucket_bounds().len() + 1
        );
        assert!(text.contains("grabstorm_latency_seconds_bucket{le=\"+Inf\"} 0\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(labels(&[("a", "x\"y\\z\nw")]), r#"{a="x\"y\\z\nw"}"#);
    }
}
