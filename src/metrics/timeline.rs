//! The failover timeline: every sentinel's own announcements (`PSUBSCRIBE *`)
//! fed into the [`EventBus`], a plain-language explanation of each event
//! ([`explain`]: the one the report, the headless runner and the dashboard
//! share) with addresses and sentinel ids turned into node names as far as a
//! [`Naming`] knows them, and the per-fault measurement
//! of what a failover cost ([`Failover`]: when Sentinel noticed, agreed,
//! elected, switched; when the client wrote again; what was lost, by the
//! attribution of [`super::losses`]).

use super::event::{Event, EventBus, EventKind};
use super::snapshot::ThroughputPoint;
use crate::client::{subscribe, Auth, Subscription};
use crate::topology::{NodeKind, Topology};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Pause before trying a sentinel that went away again.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(250);

/// Subscribes to every channel (`PSUBSCRIBE *`) of every sentinel of
/// `topology` and records each announcement on `bus` as
/// [`EventKind::Sentinel`] with the sentinel's node name as source. A
/// sentinel that dies is subscribed to again when it comes back. The
/// returned task ends when `cancel` fires.
pub fn watch_sentinels(
    topology: &Topology,
    bus: EventBus,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let sentinels: Vec<(String, SocketAddr)> = topology
        .sentinels()
        .map(|n| (n.name.clone(), n.host_addr))
        .collect();
    let auth = topology.auth();
    tokio::spawn(async move {
        let watchers = sentinels.into_iter().map(|(name, addr)| {
            let bus = bus.clone();
            let cancel = cancel.clone();
            watch_one(name, addr, auth.clone(), bus, cancel)
        });
        futures::future::join_all(watchers).await;
    })
}

async fn watch_one(
    name: String,
    addr: SocketAddr,
    auth: Auth,
    bus: EventBus,
    cancel: CancellationToken,
) {
    let mut was_connected = false;
    loop {
        let subscribed = tokio::select! {
            _ = cancel.cancelled() => return,
            r = subscribe(addr, &auth, Subscription::Pattern("*")) => r,
        };
        match subscribed {
            Ok(mut stream) => {
                if was_connected {
                    tracing::info!(sentinel = %name, "sentinel events: subscribed again");
                }
                was_connected = true;
                loop {
                    let msg = tokio::select! {
                        _ = cancel.cancelled() => return,
                        m = stream.next() => m,
                    };
                    let Some(msg) = msg else { break };
                    let channel = msg.get_channel_name().to_string();
                    if channel.starts_with("__sentinel__") {
                        continue;
                    }
                    let payload: String = msg.get_payload().unwrap_or_default();
                    bus.emit(
                        name.clone(),
                        EventKind::Sentinel {
                            name: channel,
                            payload,
                        },
                    );
                }
                tracing::debug!(sentinel = %name, "sentinel events: subscription ended");
            }
            Err(e) => {
                tracing::debug!(sentinel = %name, error = %format!("{e:#}"), "sentinel events: not subscribed")
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(RESUBSCRIBE_DELAY) => {}
        }
    }
}

/// A Sentinel announcement split into its parts:
/// `<type> <name> <ip> <port> [@ <master-name> <master-ip> <master-port>] [rest]`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Instance<'a> {
    kind: &'a str,
    addr: String,
    master_addr: Option<String>,
    rest: Vec<&'a str>,
}

fn parse_instance(payload: &str) -> Option<Instance<'_>> {
    // Split on single spaces: an instance whose hostname Sentinel lost has
    // an empty ip field (`slave :6379  6379 @ ...`), which must stay a field.
    let w: Vec<&str> = payload.trim().split(' ').collect();
    if w.len() < 4 || !matches!(w[0], "master" | "slave" | "sentinel") {
        return None;
    }
    let addr = format!("{}:{}", w[2], w[3]);
    let (master_addr, rest) = if w.len() >= 8 && w[4] == "@" {
        (Some(format!("{}:{}", w[6], w[7])), w[8..].to_vec())
    } else {
        (None, w[4..].to_vec())
    };
    Some(Instance {
        kind: w[0],
        addr,
        master_addr,
        rest,
    })
}

/// What [`explain`] knows about the run to put names in its sentences.
/// Every piece may be unknown (the dashboard before the topology record
/// arrives); the sentence then says less: the address instead of the name,
/// no "2 of 3 sentinels must agree".
pub trait Naming {
    /// The node Sentinel means by `addr` (`ip:port`, internal or host).
    fn node_at(&self, addr: &str) -> Option<&str>;
    /// (quorum, number of sentinels).
    fn quorum(&self) -> Option<(u16, u16)>;
    /// The sentinel whose own id (`SENTINEL MYID`) is `id`.
    fn sentinel_with_id(&self, id: &str) -> Option<&str>;
}

impl Naming for Topology {
    fn node_at(&self, addr: &str) -> Option<&str> {
        self.node_by_addr(addr).map(|n| n.name.as_str())
    }

    fn quorum(&self) -> Option<(u16, u16)> {
        Some((self.spec.quorum, self.sentinels().count() as u16))
    }

    fn sentinel_with_id(&self, id: &str) -> Option<&str> {
        self.sentinel_by_id(id).map(|n| n.name.as_str())
    }
}

/// Knows nothing: every name is unknown, so the words keep the addresses
/// Sentinel gave (a report read without its topology).
pub struct NoNames;

impl Naming for NoNames {
    fn node_at(&self, _: &str) -> Option<&str> {
        None
    }
    fn quorum(&self) -> Option<(u16, u16)> {
        None
    }
    fn sentinel_with_id(&self, _: &str) -> Option<&str> {
        None
    }
}

/// The node name for an address as Sentinel gives it, or the address; an
/// address without a host is one Sentinel could no longer resolve.
pub(crate) fn name_of(names: &dyn Naming, addr: &str) -> String {
    match names.node_at(addr) {
        Some(name) => name.to_string(),
        None if addr.starts_with(':') => format!(
            "an instance whose hostname Sentinel could not resolve (port {})",
            &addr[1..]
        ),
        None => addr.to_string(),
    }
}

/// Votes a sentinel needs to lead a failover: a majority of all the
/// sentinels, and never fewer than the quorum.
pub fn votes_needed(quorum: u16, sentinels: u16) -> u16 {
    (sentinels / 2 + 1).max(quorum)
}

/// One event in plain words, e.g. "sentinel-2 thinks the master redis-1 is
/// down; 2 of 3 sentinels must agree (+sdown)". Addresses become node names
/// and sentinel ids sentinel names, as far as `names` knows them.
pub fn explain(event: &Event, names: &dyn Naming) -> String {
    let src = &event.source;
    match &event.kind {
        EventKind::Sentinel { name, payload } => explain_sentinel(src, name, payload, names),
        EventKind::FaultInjected { fault, node } => format!("fault injected: {fault} on {node}"),
        EventKind::FaultHealed { fault, node } => format!("fault ended: {fault} on {node}"),
        EventKind::NodeStarted { node } => format!("{node} started"),
        EventKind::NodeStopped { node } => format!("{node} stopped"),
        EventKind::ClientRerouted { from, to } => {
            format!("the client moved all its connections from {from} to {to}")
        }
        EventKind::WritesRecovered { outage_ms } => {
            format!("writes succeed again after {outage_ms} ms without a successful write")
        }
        EventKind::LoadChanged { what } => format!("load changed: {what}"),
        EventKind::LockViolation { lock, holders } => format!(
            "lock violation on {lock}: held by {} at once",
            holders.join(" and ")
        ),
        EventKind::Note { text } => text.clone(),
    }
}

fn explain_sentinel(src: &str, channel: &str, payload: &str, names: &dyn Naming) -> String {
    let quorum = names.quorum();
    let inst = parse_instance(payload);
    let known = inst.as_ref().and_then(|i| names.node_at(&i.addr));
    let node = known
        .map(str::to_string)
        .or_else(|| inst.as_ref().map(|i| name_of(names, &i.addr)))
        .unwrap_or_default();
    let master = inst
        .as_ref()
        .and_then(|i| i.master_addr.as_deref())
        .map(|a| name_of(names, a))
        .unwrap_or_default();
    let what = |i: &Instance| match i.kind {
        "master" => format!("the master {node}"),
        "slave" => format!("replica {node}"),
        // A known sentinel's name says what it is; an address does not.
        _ if known.is_none() => format!("the sentinel at {node}"),
        _ => node.clone(),
    };
    let text = match (channel, &inst) {
        ("+sdown", Some(i)) if i.kind == "master" => match quorum {
            Some((q, total)) => format!(
                "{src} thinks the master {node} is down; {q} of {total} sentinels must agree"
            ),
            None => format!("{src} thinks the master {node} is down"),
        },
        ("+sdown", Some(i)) => format!("{src} thinks {} is down", what(i)),
        ("-sdown", Some(i)) => format!("{src} sees {} again", what(i)),
        ("+odown", Some(i)) => {
            let votes = i
                .rest
                .iter()
                .find_map(|w| w.strip_prefix("#quorum "))
                .or_else(|| i.rest.get(1).copied())
                .filter(|v| !v.is_empty());
            let detail: Vec<String> = quorum
                .map(|(q, _)| format!("quorum {q}"))
                .into_iter()
                .chain(votes.map(|v| format!("votes {v}")))
                .collect();
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", detail.join(", "))
            };
            format!("{src}: enough sentinels agree the master {node} is down{detail}")
        }
        ("-odown", Some(_)) => format!("{src}: the master {node} is no longer agreed to be down"),
        ("+new-epoch", _) => format!("{src} moved to configuration epoch {payload}"),
        ("+try-failover", Some(_)) => format!(
            "{src} starts a failover of {node} and asks the other sentinels for votes"
        ),
        ("+vote-for-leader", _) => {
            let mut w = payload.split_whitespace();
            let id = w.next().unwrap_or("?");
            let epoch = w.next().unwrap_or("?");
            let leader = match names.sentinel_with_id(id) {
                Some(name) if name == src => "itself".to_string(),
                Some(name) => name.to_string(),
                None => format!("the sentinel with run id {}", &id[..id.len().min(8)]),
            };
            format!("{src} votes for {leader} to lead the failover (epoch {epoch})")
        }
        ("+elected-leader", Some(_)) => match quorum {
            Some((q, total)) => format!(
                "{src} won the vote and leads the failover of {node} ({} votes are needed: a majority of {total} sentinels, and at least the quorum {q})",
                votes_needed(q, total)
            ),
            None => format!("{src} won the vote and leads the failover of {node}"),
        },
        ("+failover-state-select-slave", Some(_)) => {
            format!("{src} is choosing a replica of {node} to promote")
        }
        ("+selected-slave", Some(_)) => {
            format!("{src} picked {node} to become the new master")
        }
        ("+failover-state-send-slaveof-noone", Some(_)) => {
            format!("{src} tells {node} to stop replicating (REPLICAOF NO ONE)")
        }
        ("+failover-state-wait-promotion", Some(_)) => {
            format!("{src} waits for {node} to report itself master")
        }
        ("+promoted-slave", Some(_)) => format!("{node} is now a master"),
        ("+failover-state-reconf-slaves", Some(_)) => {
            format!("{src} points the other replicas at the new master")
        }
        ("+slave-reconf-sent", Some(_)) => {
            format!("{src} told {node} to replicate from the new master")
        }
        ("+slave-reconf-inprog", Some(_)) => format!("{node} is syncing with the new master"),
        ("+slave-reconf-done", Some(_)) => format!("{node} is in sync with the new master"),
        ("+failover-end", Some(_)) => format!("{src}: the failover of {node} is over"),
        ("+failover-end-for-timeout", Some(_)) => format!(
            "{src}: the failover of {node} hit failover-timeout; remaining replicas are reconfigured anyway"
        ),
        ("+switch-master", _) => match crate::client::SwitchMaster::parse(payload) {
            Some(s) => format!(
                "{src} now names {} as master instead of {}: clients should move",
                name_of(names, &s.new),
                name_of(names, &s.old)
            ),
            None => format!("{src} switched master: {payload}"),
        },
        ("+convert-to-slave", Some(_)) => format!(
            "{src} turns {node} into a replica of {master}: whatever it accepted alone is dropped"
        ),
        ("+fix-slave-config", Some(_)) => {
            format!("{src} points {node} back at the right master {master}")
        }
        ("+slave", Some(_)) => format!("{src} knows {node} as a replica of {master}"),
        ("+config-update-from", Some(i)) => {
            format!("{src} takes the new configuration from {}", what(i))
        }
        ("+sentinel", Some(i)) => format!("{src} discovered {}", what(i)),
        ("+reboot", Some(i)) => format!("{src} saw {} restart", what(i)),
        ("+role-change", Some(i)) => format!("{src} sees {} change role", what(i)),
        ("+tilt", _) => format!(
            "{src} entered TILT mode (its clock jumped or it was frozen): it will not act for 30 s"
        ),
        ("-tilt", _) => format!("{src} left TILT mode"),
        ("-failover-abort-no-good-slave", Some(_)) => {
            format!("{src} gives up the failover of {node}: no replica is fit to promote")
        }
        ("-failover-abort-not-elected", Some(_)) => {
            format!("{src} lost the vote for leading the failover of {node}")
        }
        _ => {
            let translated: Vec<String> = match &inst {
                Some(i) => {
                    let mut v = vec![what(i)];
                    if !master.is_empty() {
                        v.push(format!("of {master}"));
                    }
                    v.extend(i.rest.iter().map(|s| s.to_string()));
                    v
                }
                None => vec![payload.to_string()],
            };
            format!("{src}: {}", translated.join(" "))
        }
    };
    format!("{text} ({channel})")
}

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
    /// Whether the old master is a replica of the new one: from its own
    /// `ROLE` once the run settled, else from `+convert-to-slave`.
    pub old_master_rejoined_as_replica: bool,
    /// When Sentinel turned the old master into a replica (`+convert-to-slave`).
    pub old_master_rejoined_ms: Option<u64>,
    /// Who made the old master a replica: `sentinel` (+convert-to-slave)
    /// or `grabstorm` (its restart sent REPLICAOF).
    pub old_master_rejoined_by: Option<String>,
    /// What the old master said of itself once the run settled, e.g.
    /// "replica of redis-2" (None: not asked, or it did not answer).
    pub old_master_role: Option<String>,
    /// Why the fault did not lead to a failover.
    pub reason: Option<String>,
}

/// Fault kinds that take a node away (the others bring one back).
fn takes_node_away(fault: &str) -> bool {
    matches!(
        fault,
        "segfault" | "shutdown" | "shutdown-save" | "kill" | "pause" | "partition" | "slow"
    )
}

pub(crate) fn sentinel_payload<'a>(e: &'a Event, channel: &str) -> Option<&'a str> {
    match &e.kind {
        EventKind::Sentinel { name, payload } if name == channel => Some(payload),
        _ => None,
    }
}

/// Whether `payload` is an announcement about the master at `addr`
/// (`master <name> <ip> <port> ...`).
fn about_master(payload: &str, topology: &Topology, node: &str) -> bool {
    parse_instance(payload)
        .is_some_and(|i| i.kind == "master" && name_of(topology, &i.addr) == node)
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
            EventKind::FaultInjected { fault, node } if takes_node_away(fault) => {
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
        let is_redis = topology
            .node(node)
            .is_some_and(|n| n.kind == NodeKind::Redis);
        if !is_redis || master_at(events, idx, topology) != node {
            continue;
        }
        let end = faults.get(k + 1).map_or(events.len(), |f| f.0);
        let window = &events[idx..end];
        let mut f = measure(fault, node, at, window, events, idx, throughput, topology);
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
            .filter_map(|e| {
                sentinel_payload(e, "+switch-master").and_then(crate::client::SwitchMaster::parse)
            })
            .last()
            .map_or(initial.clone(), |s| name_of(topology, &s.new))
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

/// The master just before event `idx`: the newest `+switch-master` before
/// it; else what the first later announcement says the master was; else `redis-1`.
pub(crate) fn master_at(events: &[Event], idx: usize, topology: &Topology) -> String {
    let switch = |e: &Event| {
        sentinel_payload(e, "+switch-master").and_then(crate::client::SwitchMaster::parse)
    };
    if let Some(s) = events[..idx].iter().rev().find_map(switch) {
        return name_of(topology, &s.new);
    }
    for e in &events[idx..] {
        if let Some(s) = switch(e) {
            return name_of(topology, &s.old);
        }
        if let EventKind::Sentinel { payload, .. } = &e.kind {
            if let Some(i) = parse_instance(payload) {
                if i.kind == "master" {
                    return name_of(topology, &i.addr);
                }
            }
        }
    }
    "redis-1".to_string()
}

#[allow(clippy::too_many_arguments)]
fn measure(
    fault: &str,
    node: &str,
    at: u64,
    window: &[Event],
    all: &[Event],
    idx: usize,
    throughput: &[ThroughputPoint],
    topology: &Topology,
) -> Failover {
    let rel = |e: &Event| e.at_ms.saturating_sub(at);
    let first = |channel: &str| {
        window
            .iter()
            .find(|e| sentinel_payload(e, channel).is_some_and(|p| about_master(p, topology, node)))
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
    let switches: Vec<(&Event, crate::client::SwitchMaster)> = window
        .iter()
        .filter_map(|e| {
            let s = sentinel_payload(e, "+switch-master")
                .and_then(crate::client::SwitchMaster::parse)?;
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
    f.client_rerouted_ms = window
        .iter()
        .find(|e| matches!(e.kind, EventKind::ClientRerouted { .. }))
        .map(rel);
    let anchor = f.client_rerouted_ms.or(f.switch_ms).unwrap_or(0);
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
    if f.failed_over {
        // The old master's fate: Sentinel converts it when it is back.
        let switch_at = at + f.switch_ms.unwrap_or(0);
        let rejoin = all[idx..].iter().find(|e| {
            e.at_ms >= switch_at
                && sentinel_payload(e, "+convert-to-slave").is_some_and(|p| {
                    parse_instance(p).is_some_and(|i| name_of(topology, &i.addr) == node)
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
fn sentinels_unreachable(all: &[Event], idx: usize, topology: &Topology) -> BTreeSet<String> {
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
    let reachable = total - sentinels_unreachable(all, idx, topology).len();
    let majority = votes_needed(spec.quorum, total as u16) as usize;
    let quorum = spec.quorum as usize;
    if reachable < quorum {
        return format!("no quorum: {reachable} of {total} sentinels reachable, quorum {quorum}");
    }
    let flagged: BTreeSet<&str> = window
        .iter()
        .filter(|e| sentinel_payload(e, "+sdown").is_some_and(|p| about_master(p, topology, node)))
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
    if window
        .iter()
        .any(|e| sentinel_payload(e, "-failover-abort-no-good-slave").is_some())
    {
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
    use super::*;
    use crate::topology::{BackendKind, Node, TopologySpec};

    fn topology() -> Topology {
        let node = |name: &str, kind, port: u16| Node {
            name: name.into(),
            kind,
            host_addr: format!("127.0.0.1:{port}").parse().unwrap(),
            internal_addr: format!("172.18.0.{}:6379", port - 40000),
            handle: String::new(),
        };
        Topology {
            run_id: "t".into(),
            backend: BackendKind::Docker,
            spec: TopologySpec::default(),
            nodes: vec![
                node("redis-1", NodeKind::Redis, 40001),
                node("redis-2", NodeKind::Redis, 40002),
                node("redis-3", NodeKind::Redis, 40003),
                node("sentinel-1", NodeKind::Sentinel, 40011),
                node("sentinel-2", NodeKind::Sentinel, 40012),
                node("sentinel-3", NodeKind::Sentinel, 40013),
            ],
            image: None,
            network_id: None,
            run_dir: "/tmp".into(),
            aliases: Default::default(),
            sentinel_ids: [(LEADER_ID.to_string(), "sentinel-2".to_string())].into(),
            password: None,
        }
    }

    /// sentinel-2's own id (`SENTINEL MYID`).
    const LEADER_ID: &str = "9c1e0d2b7a4f63e8d05b1c9a7e2f48d6b3a0c1f9";

    fn ev(at_ms: u64, source: &str, kind: EventKind) -> Event {
        Event {
            at_ms,
            source: source.into(),
            kind,
        }
    }

    fn sent(at_ms: u64, source: &str, channel: &str, payload: &str) -> Event {
        ev(
            at_ms,
            source,
            EventKind::Sentinel {
                name: channel.into(),
                payload: payload.into(),
            },
        )
    }

    fn fault(at_ms: u64, fault: &str, node: &str) -> Event {
        ev(
            at_ms,
            "lab",
            EventKind::FaultInjected {
                fault: fault.into(),
                node: node.into(),
            },
        )
    }

    const M1: &str = "master mymaster 172.18.0.1 6379";

    #[test]
    fn explanations_name_nodes_and_the_quorum() {
        let t = topology();
        let e = sent(5, "sentinel-2", "+sdown", M1);
        assert_eq!(
            explain(&e, &t),
            "sentinel-2 thinks the master redis-1 is down; 2 of 3 sentinels must agree (+sdown)"
        );
        let s = sent(
            9,
            "sentinel-1",
            "+switch-master",
            "mymaster 172.18.0.1 6379 172.18.0.3 6379",
        );
        assert_eq!(
            explain(&s, &t),
            "sentinel-1 now names redis-3 as master instead of redis-1: clients should move (+switch-master)"
        );
        let c = sent(
            9,
            "sentinel-3",
            "+convert-to-slave",
            "slave 172.18.0.1:6379 172.18.0.1 6379 @ mymaster 172.18.0.3 6379",
        );
        assert!(explain(&c, &t).starts_with("sentinel-3 turns redis-1 into a replica of redis-3"));
    }

    #[test]
    fn a_vote_names_the_sentinel_voted_for() {
        let t = topology();
        let vote = |src: &str, id: &str| sent(7, src, "+vote-for-leader", &format!("{id} 4"));
        assert_eq!(
            explain(&vote("sentinel-1", LEADER_ID), &t),
            "sentinel-1 votes for sentinel-2 to lead the failover (epoch 4) (+vote-for-leader)"
        );
        assert_eq!(
            explain(&vote("sentinel-2", LEADER_ID), &t),
            "sentinel-2 votes for itself to lead the failover (epoch 4) (+vote-for-leader)"
        );
        assert_eq!(
            explain(&vote("sentinel-3", "0123456789abcdef"), &t),
            "sentinel-3 votes for the sentinel with run id 01234567 to lead the failover (epoch 4) (+vote-for-leader)"
        );
    }

    #[test]
    fn unknown_names_degrade_to_addresses_without_the_quorum() {
        let e = sent(5, "sentinel-2", "+sdown", M1);
        assert_eq!(
            explain(&e, &NoNames),
            "sentinel-2 thinks the master 172.18.0.1:6379 is down (+sdown)"
        );
        let o = sent(6, "sentinel-2", "+odown", &format!("{M1} #quorum 2/2"));
        assert_eq!(
            explain(&o, &NoNames),
            "sentinel-2: enough sentinels agree the master 172.18.0.1:6379 is down (votes 2/2) (+odown)"
        );
        let s = sent(
            9,
            "sentinel-1",
            "+switch-master",
            "mymaster 172.18.0.1 6379 172.18.0.3 6379",
        );
        assert_eq!(
            explain(&s, &NoNames),
            "sentinel-1 now names 172.18.0.3:6379 as master instead of 172.18.0.1:6379: clients should move (+switch-master)"
        );
        let p = sent(
            9,
            "sentinel-1",
            "+sdown",
            "sentinel 9c1e0d2b 172.18.0.12 6379 @ mymaster 172.18.0.1 6379",
        );
        assert_eq!(
            explain(&p, &NoNames),
            "sentinel-1 thinks the sentinel at 172.18.0.12:6379 is down (+sdown)"
        );
        // An address the topology does not know stays an address.
        let t = topology();
        let r = sent(
            9,
            "sentinel-1",
            "+sdown",
            "slave 10.0.0.9:6379 10.0.0.9 6379 @ mymaster 172.18.0.1 6379",
        );
        assert_eq!(
            explain(&r, &t),
            "sentinel-1 thinks replica 10.0.0.9:6379 is down (+sdown)"
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
    fn the_election_needs_the_quorum_when_it_exceeds_the_majority() {
        assert_eq!(votes_needed(3, 3), 3);
        assert_eq!(votes_needed(2, 3), 2);
        assert_eq!(votes_needed(1, 5), 3);
    }

    #[test]
    fn a_replica_without_a_hostname_is_said_in_words() {
        let t = topology();
        let e = sent(
            9,
            "sentinel-2",
            "+slave",
            "slave :6379  6379 @ mymaster 172.18.0.2 6379",
        );
        let said = explain(&e, &t);
        assert!(!said.contains(":@"), "{said}");
        assert!(said.contains("could not resolve"), "{said}");
        assert!(said.contains("replica of redis-2"), "{said}");
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
