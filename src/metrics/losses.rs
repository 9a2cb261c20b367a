//! Every lost acknowledged write attributed to what lost it. The audit says
//! which writes Redis no longer holds (server-side evidence); the journal
//! says which master acknowledged each one and when; the timeline says who
//! was elected when. From those three, each loss gets a cause
//! ([`LossCause`]), the fault row it belongs to and a sentence in plain
//! words. Also here: the durable outage of a failover (no acknowledged
//! write that survived the audit), measured from the same journal.

use super::event::{Event, EventKind};
use super::failover::{elector, master_switch, Failover};
use crate::topology::{Persistence, Topology};
use crate::words::secs;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Why acknowledged writes were lost.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LossCause {
    /// Acknowledged by the old master, never replicated to the promoted one.
    Failover,
    /// Acknowledged by an isolated or demoted master after another was elected.
    SplitBrain,
    /// Cluster mode: acknowledged by a master cut off on the minority side
    /// of a partition, whose shard the majority then gave to its replica.
    MinorityPartition,
    /// A master without persistence came back empty (or with the RDB file
    /// of its last full sync as a replica) and its replicas copied it.
    EmptyRestart,
    /// Acknowledged by a promoted master that was itself failed over later,
    /// without a fault of its own.
    SecondFailover,
    /// None of the above fits the timeline.
    #[default]
    Unexplained,
}

impl fmt::Display for LossCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LossCause::Failover => "failover",
            LossCause::SplitBrain => "split_brain",
            LossCause::MinorityPartition => "minority_partition",
            LossCause::EmptyRestart => "empty_restart",
            LossCause::SecondFailover => "second_failover",
            LossCause::Unexplained => "unexplained",
        })
    }
}

/// One group of lost acknowledged writes with one cause, on one node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Loss {
    pub cause: LossCause,
    /// The fault row (`failovers[].fault_index`) the loss belongs to.
    pub fault_index: Option<usize>,
    /// The master that acknowledged the lost writes.
    pub node: String,
    /// First and last acknowledgement of a lost write, ms since the run started.
    pub from_ms: u64,
    pub to_ms: u64,
    pub lost_acked_writes: u64,
    /// What happened, in plain words.
    pub explanation: String,
}

/// A lost write as the audit and the journal give it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostWrite {
    /// When it was acknowledged, ms since the run started.
    pub at_ms: u64,
    /// The master that acknowledged it.
    pub node: String,
}

/// A `+switch-master` as the first sentinel announced it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Switch {
    at_ms: u64,
    old: String,
    new: String,
}

fn switches(events: &[Event], topology: &Topology) -> Vec<Switch> {
    let mut out: Vec<Switch> = Vec::new();
    for e in events {
        let Some(s) = master_switch(e, topology) else {
            continue;
        };
        // Every sentinel announces the same switch: keep the first.
        if out.last().is_some_and(|l| l.old == s.old && l.new == s.new) {
            continue;
        }
        out.push(Switch {
            at_ms: e.at_ms,
            old: s.old,
            new: s.new,
        });
    }
    out
}

/// Attributes every lost write to a cause and a fault row, and sets each
/// row's `lost_acked_writes` to the sum of its losses. The losses' total
/// is `lost.len()`, whatever the timeline says (`unexplained` takes the rest).
pub fn attribute(
    lost: &[LostWrite],
    events: &[Event],
    failovers: &mut [Failover],
    topology: &Topology,
) -> Vec<Loss> {
    let switches = switches(events, topology);
    let cluster = topology.spec.is_cluster();
    let restarts: Vec<(u64, &str)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FaultInjected { fault, node } if fault == "restart" => {
                Some((e.at_ms, node.as_str()))
            }
            _ => None,
        })
        .collect();
    // The row of the fault whose failover was `s`.
    let row_of_switch = |s: &Switch| {
        failovers.iter().position(|f| {
            f.failed_over
                && f.old_master == s.old
                && f.at_ms + f.replaced_ms().unwrap_or(0) == s.at_ms
        })
    };
    // The newest fault row at or before `t`.
    let row_before = |t: u64| failovers.iter().rposition(|f| f.at_ms <= t);

    // A master that went down with no failover and was restarted: what it
    // came back with is what its replicas copied. (row, restart, node)
    let wipes: Vec<(usize, u64, &str)> = failovers
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.failed_over)
        .filter_map(|(i, f)| {
            let &(at, node) = restarts
                .iter()
                .find(|(at, node)| *node == f.old_master && *at >= f.at_ms)?;
            // A failover of it in between would have kept the data on the promoted replica.
            let switched = switches
                .iter()
                .any(|s| s.old == f.old_master && s.at_ms >= f.at_ms && s.at_ms <= at);
            (!switched).then_some((i, at, node))
        })
        .collect();

    type Group = (LossCause, Option<usize>, String);
    let mut groups: BTreeMap<Group, (u64, u64, u64, String)> = BTreeMap::new();
    for w in lost {
        // Deposed: the newest switch involving its node, at or before the
        // write, replaced it (in Cluster mode other shards' switches do
        // not count).
        let deposed = switches
            .iter()
            .rev()
            .find(|s| s.at_ms <= w.at_ms && (s.old == w.node || s.new == w.node))
            .filter(|s| s.old == w.node);
        // Cluster mode: acknowledged on the minority side of a partition
        // of its node that a promotion then replaced.
        let minority = cluster
            .then(|| {
                failovers.iter().rposition(|f| {
                    f.fault == "partition"
                        && f.old_master == w.node
                        && f.at_ms <= w.at_ms
                        && switches
                            .iter()
                            .any(|s| s.old == w.node && s.at_ms >= f.at_ms)
                })
            })
            .flatten();
        let replaced_later = switches
            .iter()
            .find(|s| s.at_ms >= w.at_ms && s.old == w.node);
        // The first wipe after the write: the lineage's data went with it.
        let wiped = wipes
            .iter()
            .find(|(_, restart_at, _)| w.at_ms <= *restart_at);
        let (cause, row, why) = if let Some(row) = minority {
            let f = &failovers[row];
            let why = format!(
                "{} was cut off from the majority at {} and kept acknowledging writes until node-timeout made it refuse; the cluster gave its slots to {} on the majority side, which never received them",
                w.node,
                secs(f.at_ms),
                f.new_master.as_deref().unwrap_or("another node"),
            );
            (LossCause::MinorityPartition, Some(row), why)
        } else if let Some(s) = deposed {
            let row = row_of_switch(s).or_else(|| row_before(s.at_ms));
            let why = format!(
                "{} kept acknowledging writes after {} had elected {} at {} (an isolated or demoted master); they were dropped when it rejoined as a replica",
                w.node,
                elector(topology),
                s.new,
                secs(s.at_ms)
            );
            (LossCause::SplitBrain, row, why)
        } else if let Some(&(row, at, node)) = wiped {
            let data = match topology.spec.persistence {
                // Not necessarily empty: a node that once full-synced as a
                // replica loads the RDB file that sync left on disk.
                Persistence::None => "without persistence it came back with no more than the RDB file of its last full sync as a replica (empty if it never had one)".to_string(),
                p => format!(
                    "it came back with only what its persistence ({p:?}) had written to disk"
                ),
            };
            let down = secs(failovers[row].at_ms);
            let whose = if w.node == node {
                format!("acknowledged by {node}, which went down at {down}")
            } else {
                format!(
                    "acknowledged by {} and held by {node}, the master when it went down at {down}",
                    w.node
                )
            };
            let why = format!(
                "{whose} and was restarted at {} with no failover in between; {data}, and its replicas copied that dataset",
                secs(at)
            );
            (LossCause::EmptyRestart, Some(row), why)
        } else if let Some(s) = replaced_later {
            match row_of_switch(s) {
                Some(row) => {
                    let why = format!(
                        "acknowledged by {} but never replicated to {}, which {} promoted at {}",
                        w.node,
                        s.new,
                        elector(topology),
                        secs(s.at_ms)
                    );
                    (LossCause::Failover, Some(row), why)
                }
                None => {
                    let why = format!(
                        "acknowledged by {}, itself a promoted master, which {} failed over to {} at {} without a fault of its own (marked down under load); {} never had them",
                        w.node,
                        elector(topology),
                        s.new,
                        secs(s.at_ms),
                        s.new
                    );
                    (LossCause::SecondFailover, row_before(s.at_ms), why)
                }
            }
        } else {
            let why = format!(
                "acknowledged by {} and missing from Redis, with no failover, split brain or restart of {} after it on the timeline",
                w.node, w.node
            );
            (LossCause::Unexplained, row_before(w.at_ms), why)
        };
        let g = groups
            .entry((cause, row, w.node.clone()))
            .or_insert((u64::MAX, 0, 0, why));
        g.0 = g.0.min(w.at_ms);
        g.1 = g.1.max(w.at_ms);
        g.2 += 1;
    }
    let losses: Vec<Loss> = groups
        .into_iter()
        .map(|((cause, row, node), (from, to, n, why))| Loss {
            cause,
            fault_index: row.map(|r| failovers[r].fault_index),
            node,
            from_ms: from,
            to_ms: to,
            lost_acked_writes: n,
            explanation: format!(
                "{n} acknowledged write(s) from {} to {}: {why}",
                secs(from),
                secs(to)
            ),
        })
        .collect();
    for f in failovers.iter_mut() {
        f.lost_acked_writes = Some(
            losses
                .iter()
                .filter(|l| l.fault_index == Some(f.fault_index))
                .map(|l| l.lost_acked_writes)
                .sum(),
        );
    }
    losses
}

/// Sets each row's `durable_outage_ms`: the longest stretch, from the fault
/// to the next fault row (or the end of the load at `end_ms`), without an
/// acknowledged write that survived the audit. `survived` holds the
/// acknowledgement times of those writes, sorted.
pub fn durable_outages(failovers: &mut [Failover], survived: &[u64], end_ms: u64) {
    let starts: Vec<u64> = failovers.iter().map(|f| f.at_ms).collect();
    for (i, f) in failovers.iter_mut().enumerate() {
        let until = starts.get(i + 1).copied().unwrap_or(end_ms).max(f.at_ms);
        let from = survived.partition_point(|&t| t < f.at_ms);
        let to = survived.partition_point(|&t| t <= until);
        let mut last = f.at_ms;
        let mut best = 0;
        for &t in &survived[from..to] {
            best = best.max(t - last);
            last = t;
        }
        best = best.max(until - last);
        f.durable_outage_ms = Some(best);
    }
}

/// The cause in plain words, for report.md and the dashboard.
pub fn cause_words(cause: LossCause) -> &'static str {
    match cause {
        LossCause::Failover => "lost in the failover: the old master acknowledged them and never replicated them to the promoted replica",
        LossCause::SplitBrain => "lost to split brain: an isolated or demoted master acknowledged them after another master was elected",
        LossCause::MinorityPartition => "lost on the minority side: a master cut off from the majority acknowledged them before node-timeout stopped it, and its shard went to its replica",
        LossCause::EmptyRestart => "lost in a restart: the master came back without them and its replicas copied its dataset",
        LossCause::SecondFailover => "lost in a second failover: the promoted master was itself failed over before its writes reached a replica",
        LossCause::Unexplained => "lost for a reason the timeline does not show",
    }
}
