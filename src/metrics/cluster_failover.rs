//! One fault on a Cluster master measured from the timeline the cluster
//! watcher recorded: when a node first flagged it PFAIL, when FAIL was
//! agreed, when its replica served the shard's slots (and in which epoch),
//! when every node said `cluster_state:ok` again, the client's recovery
//! (as in Sentinel mode), the old master's fate; or why there was no
//! failover. The row is the same [`Failover`] Sentinel mode fills, with
//! its Cluster fields.

use super::event::{Event, EventKind};
use super::failover::{masters_at, measure_client, Failover, FaultAt};
use crate::topology::Topology;

/// The row of `fault` on `node`, a master at event `idx` (`window`: the
/// events from the fault to the next fault on a master).
pub(super) fn measure(x: FaultAt<'_>) -> Failover {
    let FaultAt {
        fault,
        node,
        at,
        window,
        all,
        idx,
        throughput,
        topology,
    } = x;
    let rel = |e: &Event| e.at_ms.saturating_sub(at);
    let flagged = |wanted: &str| {
        window
            .iter()
            .find(|e| {
                matches!(&e.kind, EventKind::ClusterFlagged { node: n, flag } if n == node && flag == wanted)
            })
            .map(rel)
    };
    let shard = masters_at(all, idx, topology)
        .iter()
        .position(|m| m == node)
        .map(|k| k + 1);
    let mut f = Failover {
        fault: fault.to_string(),
        at_ms: at,
        old_master: node.to_string(),
        shard,
        // A node that went from nothing to FAIL between two polls had
        // flagged PFAIL first, unseen: the FAIL is then the first flag seen.
        pfail_ms: match (flagged("pfail"), flagged("fail")) {
            (Some(p), Some(f)) => Some(p.min(f)),
            (p, f) => p.or(f),
        },
        fail_ms: flagged("fail"),
        ..Default::default()
    };
    let promotion = window.iter().find_map(|e| match &e.kind {
        EventKind::ClusterPromoted {
            old,
            new,
            epoch_before,
            epoch_after,
            ..
        } if old == node => Some((e, new, *epoch_before, *epoch_after)),
        _ => None,
    });
    if let Some((e, new, before, after)) = promotion {
        f.failed_over = true;
        f.promoted_ms = Some(rel(e));
        f.new_master = Some(new.clone());
        f.epoch_before = Some(before);
        f.epoch_after = Some(after);
    }
    // The cluster ok again: the first "ok" after a "not ok" since the fault.
    let refused = window
        .iter()
        .position(|e| matches!(e.kind, EventKind::ClusterState { ok: false, .. }));
    f.state_ok_ms = refused.and_then(|i| {
        window[i..]
            .iter()
            .find(|e| matches!(e.kind, EventKind::ClusterState { ok: true, .. }))
            .map(rel)
    });
    measure_client(&mut f, window, throughput);
    if f.failed_over {
        let promoted_at = at + f.promoted_ms.unwrap_or(0);
        let rejoin = all[idx..].iter().find(|e| {
            e.at_ms >= promoted_at
                && matches!(&e.kind, EventKind::ClusterRejoined { node: n, .. } if n == node)
        });
        if let Some(e) = rejoin {
            f.old_master_rejoined_as_replica = true;
            f.old_master_rejoined_ms = Some(rel(e));
            f.old_master_rejoined_by = Some("cluster".into());
        }
    } else {
        let until = (idx + window.len()).min(all.len());
        let down = replicas_down(node, &all[..until], topology);
        f.reason = Some(why_no_failover(&f, node, window, &down, topology));
    }
    f
}

/// The row of a `CLUSTER FAILOVER` (`fault`: `failover`, `failover-force`
/// or `failover-takeover`) sent to the replica `replica`: the master it
/// replaced is the old master; no PFAIL or FAIL is expected (the old
/// master agrees to step down, or is overruled without a vote).
pub(super) fn manual(x: FaultAt<'_>) -> Failover {
    let FaultAt {
        fault,
        node: replica,
        at,
        window,
        throughput,
        ..
    } = x;
    let replaced = window.iter().find_map(|e| match &e.kind {
        EventKind::ClusterPromoted { old, new, .. } if new == replica => Some(old.clone()),
        _ => None,
    });
    match replaced {
        Some(old) => measure(FaultAt { node: &old, ..x }),
        None => {
            let mut f = Failover {
                fault: fault.to_string(),
                at_ms: at,
                old_master: format!("the master of {replica}"),
                ..Default::default()
            };
            measure_client(&mut f, window, throughput);
            f.reason = Some(format!(
                "{fault} was sent to {replica}, but no promotion of {replica} followed before the next fault or the end of the run"
            ));
            f
        }
    }
}

/// The other nodes of `node`'s shard (the replicas it started with: a
/// replica stays in its shard) with when each was last stopped, `None`
/// when it was running at the end of `events` (or never stopped).
fn replicas_down(node: &str, events: &[Event], topology: &Topology) -> Vec<(String, Option<u64>)> {
    let Some(shard) = topology.start_shard(node) else {
        return Vec::new();
    };
    topology
        .redis_nodes()
        .map(|n| n.name.as_str())
        .filter(|n| *n != node && topology.start_shard(n) == Some(shard))
        .map(|r| {
            let stopped = events
                .iter()
                .rev()
                .find_map(|e| match &e.kind {
                    EventKind::NodeStopped { node: n } if n == r => Some(Some(e.at_ms)),
                    EventKind::NodeStarted { node: n } if n == r => Some(None),
                    _ => None,
                })
                .flatten();
            (r.to_string(), stopped)
        })
        .collect()
}

/// Why a fault on a Cluster master led to no promotion, from what the
/// nodes flagged and which of its shard's replicas were down
/// ([`replicas_down`]).
fn why_no_failover(
    f: &Failover,
    node: &str,
    window: &[Event],
    replicas: &[(String, Option<u64>)],
    topology: &Topology,
) -> String {
    let timeout = topology.spec.node_timeout_ms;
    if f.pfail_ms.is_none() {
        let back = window.iter().find(|e| {
            matches!(&e.kind, EventKind::FaultHealed { node: n, .. } | EventKind::NodeStarted { node: n } if n == node)
        });
        return match back {
            Some(e) => format!(
                "{node} was back after {} ms, before node-timeout ({timeout} ms) expired: no node flagged it",
                e.at_ms.saturating_sub(f.at_ms)
            ),
            None => format!("no node flagged {node} as failing (node-timeout {timeout} ms)"),
        };
    }
    if f.fail_ms.is_none() {
        return format!(
            "nodes flagged {node} PFAIL, but no majority of masters agreed it failed (FAIL): too few masters reachable"
        );
    }
    if topology.spec.replicas_per_master == 0 || replicas.is_empty() {
        return format!("{node} was marked FAIL, but its shard has no replica to promote");
    }
    if replicas.iter().all(|(_, stopped)| stopped.is_some()) {
        // Relative to the fault: run-relative times mean nothing in a sentence.
        let when = |at: u64| {
            let d = |ms: u64| crate::words::duration(std::time::Duration::from_millis(ms));
            if at <= f.at_ms {
                format!("{} before the fault", d(f.at_ms - at))
            } else {
                format!("{} after the fault", d(at - f.at_ms))
            }
        };
        return match replicas {
            [(r, Some(at))] => format!(
                "{node} was marked FAIL, but its only replica {r} was down (stopped {}): no replica left to promote",
                when(*at)
            ),
            _ => format!(
                "{node} was marked FAIL, but every replica of its shard was down ({}): no replica left to promote",
                replicas
                    .iter()
                    .map(|(r, at)| format!("{r} stopped {}", when(at.unwrap_or(0))))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
    }
    format!(
        "{node} was marked FAIL, but none of its replicas took over its slots before the next fault or the end of the run (a replica down too, or too far behind to be elected)"
    )
}

#[cfg(test)]
mod tests {
    use super::super::failover::{failovers_and_losses, LostAckedWrites};
    use super::super::fixtures::{cluster_topology, ev, fault};
    use super::*;

    fn flag(at: u64, by: &str, node: &str, flag: &str) -> Event {
        ev(
            at,
            by,
            EventKind::ClusterFlagged {
                node: node.into(),
                flag: flag.into(),
            },
        )
    }

    fn promoted(at: u64, shard: usize, old: &str, new: &str, epochs: (u64, u64)) -> Event {
        ev(
            at,
            "cluster",
            EventKind::ClusterPromoted {
                shard,
                old: old.into(),
                new: new.into(),
                slots: "5462\u{2013}10922".into(),
                epoch_before: epochs.0,
                epoch_after: epochs.1,
            },
        )
    }

    fn state(at: u64, ok: bool) -> Event {
        ev(
            at,
            "cluster",
            EventKind::ClusterState {
                ok,
                failing_nodes: vec![],
                uncovered: String::new(),
                full_coverage: true,
            },
        )
    }

    #[test]
    fn a_cluster_failover_is_measured_phase_by_phase_and_its_losses_attributed() {
        let t = cluster_topology();
        let events = vec![
            fault(1000, "segfault", "redis-2"),
            flag(3100, "redis-1", "redis-2", "pfail"),
            flag(3300, "redis-3", "redis-2", "pfail"),
            flag(3500, "redis-1", "redis-2", "fail"),
            state(3500, false),
            promoted(4200, 2, "redis-2", "redis-5", (6, 7)),
            state(4400, true),
            ev(4450, "load", EventKind::WritesRecovered { outage_ms: 3400 }),
            fault(6000, "restart", "redis-2"),
            ev(
                7000,
                "redis-2",
                EventKind::ClusterRejoined {
                    node: "redis-2".into(),
                    master: "redis-5".into(),
                },
            ),
            // A fault on a replica is no failover row.
            fault(8000, "kill", "redis-4"),
        ];
        let lost = LostAckedWrites {
            total: 3,
            at_ms: vec![990, 995, 999],
            nodes: vec!["redis-2".into(), "redis-2".into(), "redis-2".into()],
        };
        let (rows, losses) = failovers_and_losses(&events, &[], &t, &lost);
        assert_eq!(rows.len(), 1);
        let f = &rows[0];
        assert_eq!(f.shard, Some(2));
        assert_eq!(
            (f.pfail_ms, f.fail_ms, f.promoted_ms, f.state_ok_ms),
            (Some(2100), Some(2500), Some(3200), Some(3400))
        );
        assert_eq!((f.epoch_before, f.epoch_after), (Some(6), Some(7)));
        assert_eq!(f.new_master.as_deref(), Some("redis-5"));
        assert_eq!(f.client_recovered_ms, Some(3450));
        assert!(f.old_master_rejoined_as_replica);
        assert_eq!(f.old_master_rejoined_ms, Some(6000));
        assert_eq!(f.lost_acked_writes, Some(3));
        assert_eq!(losses.len(), 1);
        assert_eq!(losses[0].cause.to_string(), "failover");
        assert!(
            losses[0].explanation.contains("which the cluster promoted"),
            "{}",
            losses[0].explanation
        );
    }

    #[test]
    fn a_minority_master_keeps_writing_and_loses_them() {
        let t = cluster_topology();
        let events = vec![
            fault(1000, "partition", "redis-1"),
            flag(3100, "redis-2", "redis-1", "pfail"),
            flag(3400, "redis-2", "redis-1", "fail"),
            promoted(4000, 1, "redis-1", "redis-4", (6, 7)),
            fault(8000, "heal", "redis-1"),
        ];
        let lost = LostAckedWrites {
            total: 4,
            at_ms: vec![500, 1500, 2900, 4100],
            nodes: vec!["redis-1".into(); 4],
        };
        let (rows, losses) = failovers_and_losses(&events, &[], &t, &lost);
        assert_eq!(rows.len(), 1);
        let by_cause: Vec<(String, u64)> = losses
            .iter()
            .map(|l| (l.cause.to_string(), l.lost_acked_writes))
            .collect();
        assert_eq!(
            by_cause,
            vec![("failover".into(), 1), ("minority_partition".into(), 3)]
        );
        assert_eq!(rows[0].lost_acked_writes, Some(4));
    }

    #[test]
    fn a_manual_failover_is_a_row_of_the_master_it_replaced() {
        let t = cluster_topology();
        let events = vec![
            fault(1000, "failover", "redis-6"),
            promoted(1400, 3, "redis-3", "redis-6", (6, 7)),
            ev(
                1900,
                "redis-3",
                EventKind::ClusterRejoined {
                    node: "redis-3".into(),
                    master: "redis-6".into(),
                },
            ),
        ];
        let (rows, losses) = failovers_and_losses(&events, &[], &t, &LostAckedWrites::default());
        assert_eq!(rows.len(), 1);
        let f = &rows[0];
        assert_eq!((f.old_master.as_str(), f.shard), ("redis-3", Some(3)));
        assert_eq!(
            (f.pfail_ms, f.fail_ms, f.promoted_ms),
            (None, None, Some(400))
        );
        assert!(f.old_master_rejoined_as_replica);
        assert_eq!(f.lost_acked_writes, Some(0));
        assert!(losses.is_empty());
    }

    #[test]
    fn a_fail_seen_without_its_pfail_counts_as_the_first_flag() {
        let mut t = cluster_topology();
        t.spec.replicas_per_master = 0;
        let events = vec![
            fault(1000, "kill", "redis-1"),
            flag(4100, "redis-2", "redis-1", "fail"),
            fault(10_000, "restart", "redis-1"),
        ];
        let rows = failovers_and_losses(&events, &[], &t, &LostAckedWrites::default()).0;
        assert_eq!(
            (rows[0].pfail_ms, rows[0].fail_ms),
            (Some(3100), Some(3100))
        );
        assert_eq!(
            rows[0].reason.as_deref(),
            Some("redis-1 was marked FAIL, but its shard has no replica to promote")
        );
    }

    #[test]
    fn no_promotion_says_why() {
        let mut t = cluster_topology();
        let events = vec![
            fault(1000, "kill", "redis-3"),
            flag(3100, "redis-1", "redis-3", "pfail"),
        ];
        let rows = failovers_and_losses(&events, &[], &t, &LostAckedWrites::default()).0;
        assert!(!rows[0].failed_over);
        assert!(rows[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("no majority of masters"));
        t.spec.replicas_per_master = 0;
        let events = vec![
            fault(1000, "kill", "redis-3"),
            flag(3100, "redis-1", "redis-3", "pfail"),
            flag(3300, "redis-1", "redis-3", "fail"),
        ];
        let rows = failovers_and_losses(&events, &[], &t, &LostAckedWrites::default()).0;
        assert_eq!(
            rows[0].reason.as_deref(),
            Some("redis-3 was marked FAIL, but its shard has no replica to promote")
        );
        // Its only replica (redis-6 follows redis-3) killed before it.
        t.spec.replicas_per_master = 1;
        let events = vec![
            fault(500, "kill", "redis-6"),
            ev(
                510,
                "lab",
                EventKind::NodeStopped {
                    node: "redis-6".into(),
                },
            ),
            fault(1000, "kill", "redis-3"),
            flag(3100, "redis-1", "redis-3", "pfail"),
            flag(3300, "redis-1", "redis-3", "fail"),
        ];
        let rows = failovers_and_losses(&events, &[], &t, &LostAckedWrites::default()).0;
        let row = rows.iter().find(|r| r.old_master == "redis-3").unwrap();
        assert_eq!(
            row.reason.as_deref(),
            Some("redis-3 was marked FAIL, but its only replica redis-6 was down (stopped 490ms before the fault): no replica left to promote")
        );
    }
}
