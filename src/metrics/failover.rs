//! The per-fault measurement of what a failover cost ([`Failover`]), read
//! from the run's timeline: when Sentinel noticed, agreed, elected and
//! switched; when the client wrote again; why there was no failover; what
//! was lost, by the attribution of [`super::losses`].

use super::event::{Event, EventKind};
use super::explain::{name_of, votes_needed};
use super::snapshot::ThroughputPoint;
use crate::topology::announcement::{Instance, SwitchMaster};
use crate::topology::{NodeKind, Topology};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Acknowledged writes the audit found missing, for attributing them to failovers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LostAckedWrites {
    /// How many in all.
    pub total: u64,
    /// When each was acknowledged (ms since run start), as far as known
    /// (the audit may list only the first ones).
    pub at_ms: Vec<u64>,
    /// The master that acknowledged each (as `at_ms`, from the journal);
    /// where unknown, the master Sentinel had elected at that time.
    pub nodes: Vec<String>,
}

/// What one fault on the master cost. Times are milliseconds after the
/// fault (`fault_ms` is 0); `at_ms` places the fault in the run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Failover {
    /// The fault, e.g. `segfault`.
    pub fault: String,
    /// The fault's place among every fault injected in the run (0-based),
    /// as `losses[].fault_index` names it.
    pub fault_index: usize,
    /// Milliseconds since the run started when the fault was injected.
    pub at_ms: u64,
    pub fault_ms: u64,
    /// First `+sdown` of the master, by any sentinel.
    pub sdown_ms: Option<u64>,
    /// First `+odown` (quorum agreed).
    pub odown_ms: Option<u64>,
    /// `+elected-leader`: a sentinel won the vote.
    pub elected_ms: Option<u64>,
    /// First `+switch-master`.
    pub switch_ms: Option<u64>,
    /// The client moved its connections to the new master.
    pub client_rerouted_ms: Option<u64>,
    /// First successful write after the outage (or the reroute, when the
    /// load does not report recoveries).
    pub client_recovered_ms: Option<u64>,
    /// Longest stretch with no successful write after the fault.
    pub write_outage_ms: Option<u64>,
    /// Longest stretch after the fault with no acknowledged write that
    /// survived the audit (writes a stale master took count as none).
    pub durable_outage_ms: Option<u64>,
    /// Acknowledged writes lost with this fault: the sum of its `losses`
    /// (None when the audit could not be made).
    pub lost_acked_writes: Option<u64>,
    pub old_master: String,
    pub new_master: Option<String>,
    /// Whether a new master was switched to.
    pub failed_over: bool,
    /// Sentinels that announced the switch (every one of them, when they agree).
    pub sentinels_switched: Vec<String>,
    /// Whether the old master rejoined as a replica: its own `ROLE` once
    /// the run settled, or any poll after the switch that read it as a
    /// replica (it may have been promoted again since); when it answered
    /// neither, `+convert-to-slave`.
    pub old_master_rejoined_as_replica: bool,
    /// When Sentinel turned the old master into a replica (`+convert-to-slave`).
    pub old_master_rejoined_ms: Option<u64>,
    /// Who made the old master a replica: `sentinel` (+convert-to-slave
    /// seen) or `unknown`; grabstorm itself never sends REPLICAOF.
    pub old_master_rejoined_by: Option<String>,
    /// What the old master said of itself once the run settled, e.g.
    /// "replica of redis-2" (None: not asked, or it did not answer).
    pub old_master_role: Option<String>,
    /// Why the fault did not lead to a failover.
    pub reason: Option<String>,
    /// Cluster mode: the shard whose master was hit (shard K started with
    /// `redis-K` as master).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<usize>,
    /// Cluster mode: first node flagging the old master PFAIL (or FAIL,
    /// when no poll caught it in PFAIL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pfail_ms: Option<u64>,
    /// Cluster mode: first node marking it FAIL (a majority of masters agreed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_ms: Option<u64>,
    /// Cluster mode: the shard's replica serves its slots (most nodes say so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted_ms: Option<u64>,
    /// Cluster mode: every answering node says `cluster_state:ok` again
    /// after the fault (None: it never said otherwise, or never again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_ok_ms: Option<u64>,
    /// Cluster mode: the shard master's config epoch before the promotion
    /// (the old master's) and after it (the epoch of the election it won).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch_before: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch_after: Option<u64>,
}

impl Failover {
    /// When the new master took over: Sentinel's switch or the Cluster's promotion.
    pub fn replaced_ms(&self) -> Option<u64> {
        self.switch_ms.or(self.promoted_ms)
    }
}

/// A master replaced by another, however the topology announced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MasterSwitch {
    pub old: String,
    pub new: String,
}

/// The master switch `e` announces: Sentinel's `+switch-master` (its
/// addresses named by `topology`) or a Cluster shard's promotion. The one
/// reader of "a master was replaced" for the failover rows and the losses.
pub(crate) fn master_switch(e: &Event, topology: &Topology) -> Option<MasterSwitch> {
    match &e.kind {
        EventKind::ClusterPromoted { old, new, .. } => Some(MasterSwitch {
            old: old.clone(),
            new: new.clone(),
        }),
        _ => {
            let s = e
                .sentinel_payload("+switch-master")
                .and_then(SwitchMaster::parse)?;
            Some(MasterSwitch {
                old: name_of(topology, &s.old),
                new: name_of(topology, &s.new),
            })
        }
    }
}

/// Who elects a new master, in the words of a loss's explanation.
pub(crate) fn elector(topology: &Topology) -> &'static str {
    if topology.spec.is_cluster() {
        "the cluster"
    } else {
        "Sentinel"
    }
}

/// Fault kinds that take a node away (the others bring one back).
pub(super) fn takes_node_away(fault: &str) -> bool {
    matches!(
        fault,
        "segfault"
            | "shutdown"
            | "shutdown-save"
            | "kill"
            | "pause"
            | "partition"
            | "slow"
            | "client-pause"
    )
}

/// Cluster mode's `CLUSTER FAILOVER` faults, sent to the replica that is
/// to take over: each is a failover row of the master it replaces.
pub(super) fn is_manual_failover(fault: &str) -> bool {
    fault.starts_with("failover")
}

/// Whether `payload` is an announcement about the master at `addr`
/// (`master <name> <ip> <port> ...`).
fn about_master(payload: &str, topology: &Topology, node: &str) -> bool {
    Instance::parse(payload).is_some_and(|i| i.is_master() && name_of(topology, &i.addr) == node)
}

/// One entry per fault that hit the master: the phases of the failover it
/// caused, or why there was none. `events` is the run's timeline,
/// `throughput` its per-second series (a fallback for the outage when the
/// load reported no recoveries), `lost` what the audit found missing.
pub fn failovers(
    events: &[Event],
    throughput: &[ThroughputPoint],
    topology: &Topology,
    lost: &LostAckedWrites,
) -> Vec<Failover> {
    failovers_and_losses(events, throughput, topology, lost).0
}

/// [`failovers`], and every lost write attributed to a cause
/// ([`super::losses::attribute`]): each row's `lost_acked_writes` is the
/// sum of its losses.
pub fn failovers_and_losses(
    events: &[Event],
    throughput: &[ThroughputPoint],
    topology: &Topology,
    lost: &LostAckedWrites,
) -> (Vec<Failover>, Vec<super::losses::Loss>) {
    let faults: Vec<(usize, &str, &str)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.kind {
            EventKind::FaultInjected { fault, node }
                if takes_node_away(fault) || is_manual_failover(fault) =>
            {
                Some((i, fault.as_str(), node.as_str()))
            }
            _ => None,
        })
        .collect();
    // Every fault's place in the run, restarts and heals included.
    let ordinal = |idx: usize| {
        events[..idx]
            .iter()
            .filter(|e| matches!(e.kind, EventKind::FaultInjected { .. }))
            .count()
    };
    let mut out = Vec::new();
    for (k, &(idx, fault, node)) in faults.iter().enumerate() {
        let at = events[idx].at_ms;
        let end = faults.get(k + 1).map_or(events.len(), |f| f.0);
        let window = &events[idx..end];
        // Sentinel mode's SENTINEL FAILOVER is sent to a sentinel: its row
        // is the master's, as if the master had been hit, with no
        // +sdown/+odown to wait for.
        let sentinel_asked;
        let node = if is_manual_failover(fault) && !topology.spec.is_cluster() {
            sentinel_asked = master_at(events, idx, topology);
            sentinel_asked.as_str()
        } else {
            node
        };
        let x = FaultAt {
            fault,
            node,
            at,
            window,
            all: events,
            idx,
            throughput,
            topology,
        };
        if is_manual_failover(fault) && topology.spec.is_cluster() {
            let mut f = super::cluster_failover::manual(x);
            f.fault_index = ordinal(idx);
            out.push(f);
            continue;
        }
        let is_redis = topology
            .node(node)
            .is_some_and(|n| n.kind == NodeKind::Redis);
        if !is_redis || !masters_at(events, idx, topology).iter().any(|m| m == node) {
            continue;
        }
        let mut f = if topology.spec.is_cluster() {
            super::cluster_failover::measure(x)
        } else {
            measure(x)
        };
        f.fault_index = ordinal(idx);
        out.push(f);
    }
    let writes = lost_writes(lost, events, topology);
    let losses = super::losses::attribute(&writes, events, &mut out, topology);
    (out, losses)
}

/// The lost writes with their acknowledging master; those the list leaves
/// out (beyond `at_ms`) are placed at the last one listed.
fn lost_writes(
    lost: &LostAckedWrites,
    events: &[Event],
    topology: &Topology,
) -> Vec<super::losses::LostWrite> {
    let initial = master_at(events, 0, topology);
    let elected_at = |t: u64| {
        events
            .iter()
            .take_while(|e| e.at_ms <= t)
            .filter_map(|e| master_switch(e, topology))
            .last()
            .map_or(initial.clone(), |s| s.new)
    };
    let mut out: Vec<super::losses::LostWrite> = lost
        .at_ms
        .iter()
        .enumerate()
        .map(|(i, &at_ms)| super::losses::LostWrite {
            at_ms,
            node: lost
                .nodes
                .get(i)
                .cloned()
                .unwrap_or_else(|| elected_at(at_ms)),
        })
        .collect();
    if let Some(last) = out.last().cloned() {
        let unlisted = lost.total.saturating_sub(out.len() as u64);
        out.extend((0..unlisted).map(|_| last.clone()));
    }
    out
}

/// Every master just before event `idx`: Sentinel mode's one
/// ([`master_at`]); in Cluster mode each shard's, shard 1 first (`redis-K`
/// at start, then whoever each promotion named).
pub(crate) fn masters_at(events: &[Event], idx: usize, topology: &Topology) -> Vec<String> {
    if !topology.spec.is_cluster() {
        return vec![master_at(events, idx, topology)];
    }
    let mut masters: Vec<String> = (1..=topology.spec.masters as usize)
        .map(|k| format!("redis-{k}"))
        .collect();
    for e in &events[..idx] {
        if let EventKind::ClusterPromoted { shard, new, .. } = &e.kind {
            if let Some(m) = masters.get_mut(shard.saturating_sub(1)) {
                *m = new.clone();
            }
        }
    }
    masters
}

/// The master just before event `idx`: the newest switch before it; else
/// what the first later announcement says the master was; else `redis-1`.
/// In Cluster mode, shard 1's master.
pub(crate) fn master_at(events: &[Event], idx: usize, topology: &Topology) -> String {
    if topology.spec.is_cluster() {
        return masters_at(events, idx, topology).swap_remove(0);
    }
    let switch = |e: &Event| {
        e.sentinel_payload("+switch-master")
            .and_then(SwitchMaster::parse)
    };
    if let Some(s) = events[..idx]
        .iter()
        .rev()
        .find_map(|e| master_switch(e, topology))
    {
        return s.new;
    }
    for e in &events[idx..] {
        if let Some(s) = switch(e) {
            return name_of(topology, &s.old);
        }
        if let EventKind::Sentinel { payload, .. } = &e.kind {
            if let Some(i) = Instance::parse(payload) {
                if i.is_master() {
                    return name_of(topology, &i.addr);
                }
            }
        }
    }
    "redis-1".to_string()
}

/// One fault on the timeline, and what measuring its row needs: the fault
/// on `node` at event `idx` of `all`, stamped `at`; `window` runs from it
/// to the next fault that can make a row.
#[derive(Clone, Copy)]
pub(super) struct FaultAt<'a> {
    pub fault: &'a str,
    pub node: &'a str,
    pub at: u64,
    pub window: &'a [Event],
    pub all: &'a [Event],
    pub idx: usize,
    pub throughput: &'a [ThroughputPoint],
    pub topology: &'a Topology,
}

/// The row of a fault on Sentinel mode's master.
fn measure(x: FaultAt<'_>) -> Failover {
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
    let first = |channel: &str| {
        window
            .iter()
            .find(|e| {
                e.sentinel_payload(channel)
                    .is_some_and(|p| about_master(p, topology, node))
            })
            .map(rel)
    };
    let mut f = Failover {
        fault: fault.to_string(),
        at_ms: at,
        old_master: node.to_string(),
        sdown_ms: first("+sdown"),
        odown_ms: first("+odown"),
        elected_ms: first("+elected-leader"),
        ..Default::default()
    };
    let switches: Vec<(&Event, SwitchMaster)> = window
        .iter()
        .filter_map(|e| {
            let s = e
                .sentinel_payload("+switch-master")
                .and_then(SwitchMaster::parse)?;
            (name_of(topology, &s.old) == node).then_some((e, s))
        })
        .collect();
    if let Some((e, s)) = switches.first() {
        f.failed_over = true;
        f.switch_ms = Some(rel(e));
        f.new_master = Some(name_of(topology, &s.new));
        let agreeing: BTreeSet<String> = switches.iter().map(|(e, _)| e.source.clone()).collect();
        f.sentinels_switched = agreeing.into_iter().collect();
    }
    measure_client(&mut f, window, throughput);
    if f.failed_over {
        // The old master's fate: Sentinel converts it when it is back.
        let switch_at = at + f.switch_ms.unwrap_or(0);
        let rejoin = all[idx..].iter().find(|e| {
            e.at_ms >= switch_at
                && e.sentinel_payload("+convert-to-slave").is_some_and(|p| {
                    Instance::parse(p).is_some_and(|i| name_of(topology, &i.addr) == node)
                })
        });
        if let Some(e) = rejoin {
            f.old_master_rejoined_as_replica = true;
            f.old_master_rejoined_ms = Some(rel(e));
        }
    } else {
        f.reason = Some(why_no_failover(&f, node, window, all, idx, topology));
    }
    f
}

/// What the client saw after the fault (`f.at_ms`): when it moved its
/// connections, when it wrote again, its longest stretch without a
/// successful write. The same for both kinds of topology.
pub(super) fn measure_client(f: &mut Failover, window: &[Event], throughput: &[ThroughputPoint]) {
    let at = f.at_ms;
    let rel = |e: &Event| e.at_ms.saturating_sub(at);
    f.client_rerouted_ms = window
        .iter()
        .find(|e| matches!(e.kind, EventKind::ClientRerouted { .. }))
        .map(rel);
    let anchor = f.client_rerouted_ms.or(f.replaced_ms()).unwrap_or(0);
    let recovered = window
        .iter()
        .find(|e| matches!(e.kind, EventKind::WritesRecovered { .. }) && rel(e) >= anchor);
    f.client_recovered_ms = recovered.map(rel).or(f.client_rerouted_ms);
    let outage_from_events = window
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::WritesRecovered { outage_ms } => Some(outage_ms),
            _ => None,
        })
        .max();
    f.write_outage_ms =
        outage_from_events.or_else(|| outage_from_throughput(throughput, at, window));
}

/// Longest run of whole seconds with no successful write, from the fault's second on.
fn outage_from_throughput(
    throughput: &[ThroughputPoint],
    at: u64,
    window: &[Event],
) -> Option<u64> {
    let from_s = at / 1000;
    let until_s = window.last().map_or(u64::MAX, |e| e.at_ms / 1000 + 1);
    let points: Vec<&ThroughputPoint> = throughput
        .iter()
        .filter(|p| p.t_s >= from_s && p.t_s <= until_s)
        .collect();
    if points.is_empty() {
        return None;
    }
    let (mut best, mut run) = (0u64, 0u64);
    for p in points {
        run = if p.writes_ok == 0 { run + 1 } else { 0 };
        best = best.max(run);
    }
    Some(best * 1000)
}

/// The sentinels that were down or cut off when event `idx` happened.
pub(super) fn sentinels_unreachable(
    all: &[Event],
    idx: usize,
    topology: &Topology,
) -> BTreeSet<String> {
    let mut down = BTreeSet::new();
    for e in &all[..idx] {
        let (node, away) = match &e.kind {
            EventKind::NodeStopped { node } => (node, true),
            EventKind::NodeStarted { node } => (node, false),
            EventKind::FaultInjected { fault, node }
                if matches!(fault.as_str(), "pause" | "partition") =>
            {
                (node, true)
            }
            EventKind::FaultHealed { node, .. } => (node, false),
            _ => continue,
        };
        if topology
            .node(node)
            .is_some_and(|n| n.kind == NodeKind::Sentinel)
        {
            if away {
                down.insert(node.clone());
            } else {
                down.remove(node);
            }
        }
    }
    down
}

fn why_no_failover(
    f: &Failover,
    node: &str,
    window: &[Event],
    all: &[Event],
    idx: usize,
    topology: &Topology,
) -> String {
    let spec = &topology.spec;
    let total = topology.sentinels().count();
    if total == 0 {
        return "no sentinels: nothing fails the master over".into();
    }
    let no_good_replica = window.iter().any(|e| {
        e.sentinel_payload("-failover-abort-no-good-slave")
            .is_some()
    });
    if is_manual_failover(&f.fault) {
        return if no_good_replica {
            "SENTINEL FAILOVER found no replica fit to promote (-failover-abort-no-good-slave)"
        } else {
            "SENTINEL FAILOVER was accepted, but no +switch-master followed before the next fault or the end of the run"
        }
        .into();
    }
    let reachable = total - sentinels_unreachable(all, idx, topology).len();
    let majority = votes_needed(spec.quorum, total as u16) as usize;
    let quorum = spec.quorum as usize;
    if reachable < quorum {
        return format!("no quorum: {reachable} of {total} sentinels reachable, quorum {quorum}");
    }
    let flagged: BTreeSet<&str> = window
        .iter()
        .filter(|e| {
            e.sentinel_payload("+sdown")
                .is_some_and(|p| about_master(p, topology, node))
        })
        .map(|e| e.source.as_str())
        .collect();
    if f.odown_ms.is_some() && reachable < majority {
        return format!(
            "no leader: the master was agreed down, but only {reachable} of {total} sentinels are reachable and {majority} must vote for one leader (a majority, and at least the quorum)"
        );
    }
    if f.sdown_ms.is_none() {
        let back = window.iter().find(|e| {
            matches!(&e.kind, EventKind::FaultHealed { node: n, .. } | EventKind::NodeStarted { node: n } if n == node)
        });
        return match back {
            Some(e) => format!(
                "{node} was back after {} ms, before down-after ({} ms) expired: no sentinel flagged it down",
                e.at_ms.saturating_sub(f.at_ms),
                spec.down_after_ms
            ),
            None => format!(
                "no sentinel flagged {node} down (down-after {} ms)",
                spec.down_after_ms
            ),
        };
    }
    if f.odown_ms.is_none() {
        return format!(
            "no quorum: only {} sentinel(s) flagged {node} down ({}), quorum {quorum}",
            flagged.len(),
            flagged.iter().copied().collect::<Vec<_>>().join(", ")
        );
    }
    if no_good_replica {
        return "no replica was fit to promote (-failover-abort-no-good-slave)".into();
    }
    if f.elected_ms.is_none() {
        return format!(
            "the master was agreed down, but no sentinel won the {majority} votes of {total} needed to lead the failover"
        );
    }
    "a failover started but no +switch-master followed before the next fault or the end of the run"
        .into()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{ev, fault, sent, topology, M1};
    use super::*;

    #[test]
    fn a_sentinel_failover_asked_of_a_sentinel_is_the_masters_row() {
        let t = topology();
        let sw = "mymaster 172.18.0.1 6379 172.18.0.2 6379";
        let events = vec![
            fault(1000, "failover", "sentinel-2"),
            sent(1100, "sentinel-2", "+elected-leader", M1),
            sent(1900, "sentinel-2", "+switch-master", sw),
            sent(
                2500,
                "sentinel-2",
                "+convert-to-slave",
                "slave 172.18.0.1:6379 172.18.0.1 6379 @ mymaster 172.18.0.2 6379",
            ),
        ];
        let f = failovers(&events, &[], &t, &LostAckedWrites::default());
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert_eq!(f.fault, "failover");
        assert_eq!(f.old_master, "redis-1");
        assert_eq!(f.new_master.as_deref(), Some("redis-2"));
        assert_eq!((f.sdown_ms, f.odown_ms), (None, None), "nothing was down");
        assert_eq!(f.switch_ms, Some(900));
        assert!(f.old_master_rejoined_as_replica);
        let unanswered = failovers(&events[..1], &[], &t, &LostAckedWrites::default());
        assert!(
            unanswered[0]
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with("SENTINEL FAILOVER was accepted")),
            "{:?}",
            unanswered[0].reason
        );
    }

    #[test]
    fn a_segfault_failover_is_measured_phase_by_phase() {
        let t = topology();
        let sw = "mymaster 172.18.0.1 6379 172.18.0.2 6379";
        let events = vec![
            fault(1000, "segfault", "redis-1"),
            sent(2010, "sentinel-1", "+sdown", M1),
            sent(2020, "sentinel-2", "+sdown", M1),
            sent(
                2100,
                "sentinel-1",
                "+odown",
                "master mymaster 172.18.0.1 6379 #quorum 2/2",
            ),
            sent(2150, "sentinel-1", "+elected-leader", M1),
            sent(3000, "sentinel-1", "+switch-master", sw),
            ev(
                3005,
                "client",
                EventKind::ClientRerouted {
                    from: "redis-1".into(),
                    to: "redis-2".into(),
                },
            ),
            sent(3010, "sentinel-2", "+switch-master", sw),
            ev(3007, "load", EventKind::WritesRecovered { outage_ms: 2006 }),
            sent(3020, "sentinel-3", "+switch-master", sw),
            fault(9000, "restart", "redis-1"),
            sent(
                12000,
                "sentinel-2",
                "+convert-to-slave",
                "slave 172.18.0.1:6379 172.18.0.1 6379 @ mymaster 172.18.0.2 6379",
            ),
        ];
        let lost = LostAckedWrites {
            total: 3,
            at_ms: vec![990, 995, 999],
            ..Default::default()
        };
        let f = failovers(&events, &[], &t, &lost);
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert!(f.failed_over);
        assert_eq!(
            (f.sdown_ms, f.odown_ms, f.elected_ms, f.switch_ms),
            (Some(1010), Some(1100), Some(1150), Some(2000))
        );
        assert_eq!(f.client_rerouted_ms, Some(2005));
        assert_eq!(f.client_recovered_ms, Some(2007));
        assert_eq!(f.write_outage_ms, Some(2006));
        assert_eq!(f.new_master.as_deref(), Some("redis-2"));
        assert_eq!(f.sentinels_switched.len(), 3);
        assert_eq!(f.lost_acked_writes, Some(3));
        assert!(f.old_master_rejoined_as_replica);
        assert_eq!(f.old_master_rejoined_ms, Some(11000));
    }

    #[test]
    fn no_failover_without_quorum_says_why() {
        let t = topology();
        let events = vec![
            fault(100, "kill", "sentinel-1"),
            ev(
                101,
                "lab",
                EventKind::NodeStopped {
                    node: "sentinel-1".into(),
                },
            ),
            fault(200, "kill", "sentinel-2"),
            ev(
                201,
                "lab",
                EventKind::NodeStopped {
                    node: "sentinel-2".into(),
                },
            ),
            fault(1000, "kill", "redis-1"),
            sent(2010, "sentinel-3", "+sdown", M1),
        ];
        let f = failovers(&events, &[], &t, &LostAckedWrites::default());
        assert_eq!(f.len(), 1);
        assert!(!f[0].failed_over);
        assert_eq!(
            f[0].reason.as_deref(),
            Some("no quorum: 1 of 3 sentinels reachable, quorum 2")
        );
        // No failover, nothing lost: its row still says how much (none).
        assert_eq!(f[0].lost_acked_writes, Some(0));
    }

    #[test]
    fn faults_on_replicas_are_not_failovers_and_the_master_is_tracked() {
        let t = topology();
        let events = vec![
            fault(100, "kill", "redis-3"),
            sent(
                1200,
                "sentinel-1",
                "+sdown",
                "slave 172.18.0.3:6379 172.18.0.3 6379 @ mymaster 172.18.0.1 6379",
            ),
            fault(2000, "segfault", "redis-1"),
            sent(
                5000,
                "sentinel-1",
                "+switch-master",
                "mymaster 172.18.0.1 6379 172.18.0.2 6379",
            ),
            fault(8000, "segfault", "redis-2"),
        ];
        let f = failovers(&events, &[], &t, &LostAckedWrites::default());
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].old_master, "redis-1");
        assert_eq!(f[1].old_master, "redis-2");
        assert!(!f[1].failed_over);
    }

    fn lost_on(writes: &[(u64, &str)]) -> LostAckedWrites {
        LostAckedWrites {
            total: writes.len() as u64,
            at_ms: writes.iter().map(|w| w.0).collect(),
            nodes: writes.iter().map(|w| w.1.to_string()).collect(),
        }
    }

    fn causes(losses: &[super::super::losses::Loss]) -> Vec<(String, Option<usize>, String, u64)> {
        losses
            .iter()
            .map(|l| {
                (
                    l.cause.to_string(),
                    l.fault_index,
                    l.node.clone(),
                    l.lost_acked_writes,
                )
            })
            .collect()
    }

    #[test]
    fn losses_are_attributed_by_who_acknowledged_them_and_when() {
        let t = topology();
        let events = vec![
            fault(1000, "shutdown", "redis-1"),
            sent(
                3000,
                "sentinel-1",
                "+switch-master",
                "mymaster 172.18.0.1 6379 172.18.0.2 6379",
            ),
            // The promoted replica is itself marked down under load.
            sent(
                4000,
                "sentinel-1",
                "+switch-master",
                "mymaster 172.18.0.2 6379 172.18.0.3 6379",
            ),
        ];
        let lost = lost_on(&[
            (900, "redis-1"),
            (950, "redis-1"),
            (3200, "redis-1"),
            (3500, "redis-2"),
        ]);
        let (f, losses) = failovers_and_losses(&events, &[], &t, &lost);
        assert_eq!(
            causes(&losses),
            vec![
                ("failover".into(), Some(0), "redis-1".into(), 2),
                ("split_brain".into(), Some(0), "redis-1".into(), 1),
                ("second_failover".into(), Some(0), "redis-2".into(), 1),
            ]
        );
        assert_eq!(f[0].lost_acked_writes, Some(4));
        assert!(losses[2].explanation.contains("without a fault of its own"));
    }

    #[test]
    fn an_empty_restart_owns_what_the_master_had_before() {
        let t = topology();
        let events = vec![
            fault(1000, "kill", "redis-1"),
            fault(2000, "restart", "redis-1"),
        ];
        let lost = lost_on(&[(500, "redis-1"), (900, "redis-1"), (5000, "redis-1")]);
        let (f, losses) = failovers_and_losses(&events, &[], &t, &lost);
        assert_eq!(f.len(), 1);
        assert!(!f[0].failed_over);
        assert_eq!(
            causes(&losses),
            vec![
                ("empty_restart".into(), Some(0), "redis-1".into(), 2),
                ("unexplained".into(), Some(0), "redis-1".into(), 1),
            ]
        );
        assert_eq!(f[0].lost_acked_writes, Some(3));
    }

    #[test]
    fn a_later_empty_restart_explains_what_an_earlier_failover_kept() {
        let t = topology();
        let events = vec![
            fault(5000, "segfault", "redis-1"),
            sent(
                7300,
                "sentinel-2",
                "+switch-master",
                "mymaster 172.18.0.1 6379 172.18.0.3 6379",
            ),
            fault(25_000, "segfault", "redis-3"),
            fault(33_000, "restart", "redis-3"),
        ];
        let lost = lost_on(&[(100, "redis-1"), (8000, "redis-3")]);
        let (f, losses) = failovers_and_losses(&events, &[], &t, &lost);
        assert_eq!(f.len(), 2);
        assert_eq!(
            causes(&losses),
            vec![
                ("empty_restart".into(), Some(1), "redis-1".into(), 1),
                ("empty_restart".into(), Some(1), "redis-3".into(), 1),
            ]
        );
        assert_eq!(
            (f[0].lost_acked_writes, f[1].lost_acked_writes),
            (Some(0), Some(2))
        );
    }

    #[test]
    fn the_durable_outage_runs_until_a_write_that_survived() {
        let mut rows = vec![Failover {
            at_ms: 1000,
            ..Default::default()
        }];
        // Survivors before the fault, then one at 4 s, then none to the end (10 s).
        super::super::losses::durable_outages(&mut rows, &[500, 900, 4000], 10_000);
        assert_eq!(rows[0].durable_outage_ms, Some(6000));
    }

    #[test]
    fn outage_falls_back_to_the_throughput_series() {
        let points: Vec<ThroughputPoint> = [5, 0, 0, 0, 7]
            .iter()
            .enumerate()
            .map(|(i, &w)| ThroughputPoint {
                t_s: i as u64,
                writes_ok: w,
                ..Default::default()
            })
            .collect();
        let window = [fault(500, "kill", "redis-1"), fault(4500, "x", "y")];
        assert_eq!(outage_from_throughput(&points, 500, &window), Some(3000));
    }
}
