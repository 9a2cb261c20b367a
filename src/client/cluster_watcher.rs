//! The cluster watcher: Redis Cluster publishes nothing like Sentinel's
//! channels, so the lab asks every node for its view (`CLUSTER INFO` and
//! `CLUSTER NODES`, through the admin layer) every [`POLL_INTERVAL`] and
//! records on the run's [`EventBus`] what changed between two polls:
//! a node flagging another PFAIL or FAIL (or clearing it), a shard whose
//! master changed (a promotion, with the epochs before and after), the
//! cluster refusing or serving again, an old master that rejoined as a
//! replica. The failover rows and the losses are measured from these
//! events ([`crate::metrics::failover`]), as from Sentinel's in Sentinel
//! mode; [`ClusterWatch::observe`] is the pure part, tested on parsed text.
//!
//! Shard K is the one whose master was `redis-K` at start: the group of
//! nodes that started in it, found in every later view by the one rule
//! ([`cluster::shard_master`]), so a reshard (slots moving between
//! shards) changes no shard's master and a failover does. Nodes are named by
//! their cluster id (each answering node's `myself` line ties its id to its
//! name), else by address.

use crate::metrics::{EventBus, EventKind};
use crate::topology::admin::cluster::{self, ClusterView, SlotRange, SLOTS};
use crate::topology::plan::name_order;
use crate::topology::Topology;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often every node is asked: well under a node-timeout, so that PFAIL,
/// FAIL and the promotion each land in their own poll.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Time one node gets to answer a poll.
const POLL_TIMEOUT: Duration = Duration::from_millis(300);

/// What one node flags another as, in its `CLUSTER NODES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flag {
    None,
    Pfail,
    Fail,
}

/// What the watcher remembers between two polls.
pub struct ClusterWatch {
    /// The run: which shard each node belongs to.
    topology: Topology,
    /// Cluster id to node name, learnt from each node's `myself` line.
    ids: BTreeMap<String, String>,
    /// (observer, node) to what the observer flags the node as.
    flags: BTreeMap<(String, String), Flag>,
    /// Each shard's master in the last poll that agreed on one.
    masters: Vec<Option<String>>,
    /// Nodes last seen as masters by their own view.
    own_master: BTreeSet<String>,
    /// The last cluster state recorded: ok, the nodes saying fail, the
    /// slots without a live master (None: none yet).
    state: Option<(bool, Vec<String>, String)>,
    /// Each shard's master's config epoch in the last poll that named it.
    epochs: Vec<u64>,
}

impl ClusterWatch {
    pub fn new(topology: &Topology) -> ClusterWatch {
        let shards = topology.shard_count();
        ClusterWatch {
            topology: topology.clone(),
            masters: vec![None; shards],
            epochs: vec![0; shards],
            ids: BTreeMap::new(),
            flags: BTreeMap::new(),
            own_master: BTreeSet::new(),
            state: None,
        }
    }

    /// The name of the node a view's line describes.
    fn name(&self, id: &str, addr: &str, port: u16) -> String {
        if let Some(n) = self.ids.get(id) {
            return n.clone();
        }
        let t = &self.topology;
        t.node_by_addr(addr)
            .or_else(|| t.redis_nodes().find(|n| n.host_addr.port() == port))
            .map(|n| n.name.clone())
            .unwrap_or_else(|| addr.to_string())
    }

    /// Compares one poll (each data node's view, `None` when it did not
    /// answer) with the last and returns what changed, as (source, event).
    pub fn observe(&mut self, views: &[(String, Option<ClusterView>)]) -> Vec<(String, EventKind)> {
        let mut out = Vec::new();
        for (name, view) in views {
            if let Some(me) = view.as_ref().and_then(ClusterView::myself) {
                self.ids.insert(me.id.clone(), name.clone());
            }
        }
        let answering: Vec<(&String, &ClusterView)> = views
            .iter()
            .filter_map(|(n, v)| v.as_ref().map(|v| (n, v)))
            .collect();
        if answering.is_empty() {
            return out;
        }

        // Flags, observer by observer.
        for (observer, view) in &answering {
            for n in view.nodes.iter().filter(|n| !n.flags.myself) {
                let flag = if n.flags.fail {
                    Flag::Fail
                } else if n.flags.pfail {
                    Flag::Pfail
                } else {
                    Flag::None
                };
                let node = self.name(&n.id, &n.addr, n.port);
                let before = self
                    .flags
                    .insert(((*observer).clone(), node.clone()), flag)
                    .unwrap_or(Flag::None);
                if before == flag {
                    continue;
                }
                let word = match flag {
                    Flag::Pfail => "pfail",
                    Flag::Fail => "fail",
                    Flag::None => "cleared",
                };
                out.push((
                    (*observer).clone(),
                    EventKind::ClusterFlagged {
                        node,
                        flag: word.into(),
                    },
                ));
            }
        }

        // Each shard's master, by the one rule, with its config epoch.
        let views: Vec<ClusterView> = answering.iter().map(|(_, v)| (*v).clone()).collect();
        let member = |n: &crate::topology::admin::cluster::ClusterNode| {
            cluster::member_shard(&self.topology, n)
        };
        let owners: Vec<Option<crate::topology::admin::cluster::ClusterNode>> =
            (1..=self.masters.len())
                .map(|k| cluster::shard_master(&views, k, member).cloned())
                .collect();
        for (k, owner) in owners.iter().enumerate() {
            let Some(owner) = owner else {
                continue;
            };
            let now = self.name(&owner.id, &owner.addr, owner.port);
            let epoch = owner.config_epoch;
            if let Some(old) = self.masters[k].as_ref().filter(|old| **old != now) {
                out.push((
                    "cluster".into(),
                    EventKind::ClusterPromoted {
                        shard: k + 1,
                        old: old.clone(),
                        new: now.clone(),
                        slots: ranges_text(&owner.slots),
                        epoch_before: self.epochs[k],
                        epoch_after: epoch,
                    },
                ));
            }
            self.masters[k] = Some(now);
            self.epochs[k] = epoch;
        }

        // Old masters that now say they replicate another.
        for (name, view) in &answering {
            let Some(me) = view.myself() else { continue };
            if me.flags.master {
                self.own_master.insert((*name).clone());
            } else if me.flags.replica && self.own_master.remove(*name) {
                let master = me
                    .master_id
                    .as_deref()
                    .and_then(|id| view.by_id(id))
                    .map(|m| self.name(&m.id, &m.addr, m.port))
                    .unwrap_or_else(|| "an unknown master".into());
                out.push((
                    (*name).clone(),
                    EventKind::ClusterRejoined {
                        node: (*name).clone(),
                        master,
                    },
                ));
            }
        }

        // The cluster's state, as every answering node says it.
        let mut failing: Vec<String> = answering
            .iter()
            .filter(|(_, v)| !v.info.state_ok)
            .map(|(n, _)| (*n).clone())
            .collect();
        failing.sort_by(|a, b| name_order(a, b));
        let ok = failing.is_empty();
        // The slots without a live master, as the first failing node sees
        // them (else the first answering node: with full coverage off the
        // nodes stay ok while a shard is down).
        let uncovered = answering
            .iter()
            .find(|(n, _)| failing.contains(n))
            .or_else(|| answering.first())
            .map(|(_, v)| ranges_text(&uncovered_slots(v)))
            .unwrap_or_default();
        let state = (ok, failing.clone(), uncovered.clone());
        let news = match &self.state {
            Some(before) => *before != state,
            None => !ok || !uncovered.is_empty(),
        };
        if news {
            out.push((
                "cluster".into(),
                EventKind::ClusterState {
                    ok,
                    failing_nodes: failing,
                    uncovered,
                    full_coverage: self.topology.spec.require_full_coverage,
                },
            ));
        }
        self.state = Some(state);
        out
    }
}

/// The slots a view sees no live master for: unassigned, or served by a
/// master it flags FAIL.
fn uncovered_slots(view: &ClusterView) -> Vec<SlotRange> {
    let mut covered = vec![false; SLOTS as usize];
    for n in view
        .nodes
        .iter()
        .filter(|n| n.flags.master && !n.flags.fail)
    {
        for r in &n.slots {
            for s in r.start..=r.end {
                covered[s as usize] = true;
            }
        }
    }
    let mut out: Vec<SlotRange> = Vec::new();
    for (s, c) in covered.iter().enumerate() {
        if *c {
            continue;
        }
        let s = s as u16;
        match out.last_mut() {
            Some(r) if r.end + 1 == s => r.end = s,
            _ => out.push(SlotRange { start: s, end: s }),
        }
    }
    out
}

/// Slot ranges as people read them: `0–5460, 10923–16383`.
pub fn ranges_text(ranges: &[SlotRange]) -> String {
    ranges
        .iter()
        .map(SlotRange::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Polls every data node of `topology` every [`POLL_INTERVAL`] and records
/// what changed on `bus` (see the module doc). The task ends when `cancel`
/// fires.
pub fn watch_cluster(
    topology: &Topology,
    bus: EventBus,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let mut watch = ClusterWatch::new(topology);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let views = crate::topology::cluster::views_within(&watch.topology, POLL_TIMEOUT).await;
            for (source, kind) in watch.observe(&views) {
                bus.emit(source, kind);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::fixtures::cluster_topology;
    use crate::topology::admin::cluster::{parse_nodes, ClusterInfo};

    /// One node's view: `lines` are (id digit, port, flags, master digit, slots).
    fn view(me: u8, ok: bool, epoch: u64, lines: &[(u8, u16, &str, u8, &str)]) -> ClusterView {
        let id = |d: u8| format!("{:040}", d);
        let text: String = lines
            .iter()
            .map(|(d, port, flags, master, slots)| {
                let flags = if *d == me {
                    format!("myself,{flags}")
                } else {
                    flags.to_string()
                };
                let master = if *master == 0 {
                    "-".into()
                } else {
                    id(*master)
                };
                format!(
                    "{} 127.0.0.1:{port}@1{port} {flags} {master} 0 0 {} connected {slots}\n",
                    id(*d),
                    // redis-4 won its election in epoch 7; the rest keep epoch 1.
                    if *d == 4 && flags.contains("master") {
                        7
                    } else {
                        1
                    }
                )
            })
            .collect();
        ClusterView {
            info: ClusterInfo {
                state_ok: ok,
                current_epoch: epoch,
                ..Default::default()
            },
            nodes: parse_nodes(&text).unwrap(),
        }
    }

    const START: [(u8, u16, &str, u8, &str); 6] = [
        (1, 7001, "master", 0, "0-5461"),
        (2, 7002, "master", 0, "5462-10922"),
        (3, 7003, "master", 0, "10923-16383"),
        (4, 7004, "slave", 1, ""),
        (5, 7005, "slave", 2, ""),
        (6, 7006, "slave", 3, ""),
    ];

    fn poll(views: Vec<(u8, ClusterView)>) -> Vec<(String, Option<ClusterView>)> {
        (1..=6u8)
            .map(|i| {
                (
                    format!("redis-{i}"),
                    views.iter().find(|(n, _)| *n == i).map(|(_, v)| v.clone()),
                )
            })
            .collect()
    }

    #[test]
    fn a_failover_reads_as_pfail_fail_promotion_state_and_rejoin() {
        let t = cluster_topology();
        let mut w = ClusterWatch::new(&t);
        let all = |lines: &[(u8, u16, &str, u8, &str)], ok: bool, epoch: u64, skip: u8| {
            poll(
                (1..=6u8)
                    .filter(|i| *i != skip)
                    .map(|i| (i, view(i, ok, epoch, lines)))
                    .collect(),
            )
        };
        assert!(w.observe(&all(&START, true, 6, 0)).is_empty());

        // redis-1 crashed: redis-2 flags it PFAIL.
        let mut pfail = START;
        pfail[0].2 = "master,fail?";
        let mut views = all(&START, true, 6, 1);
        views[1].1 = Some(view(2, true, 6, &pfail));
        let ev = w.observe(&views);
        assert_eq!(
            ev,
            vec![(
                "redis-2".to_string(),
                EventKind::ClusterFlagged {
                    node: "redis-1".into(),
                    flag: "pfail".into()
                }
            )]
        );

        // FAIL agreed everywhere; the cluster refuses.
        let mut fail = START;
        fail[0].2 = "master,fail";
        let ev = w.observe(&all(&fail, false, 7, 1));
        assert_eq!(
            ev.iter()
                .filter(
                    |(_, e)| matches!(e, EventKind::ClusterFlagged { flag, .. } if flag == "fail")
                )
                .count(),
            5
        );
        let state = ev.iter().find_map(|(_, e)| match e {
            EventKind::ClusterState { ok, uncovered, .. } => Some((*ok, uncovered.clone())),
            _ => None,
        });
        assert_eq!(state, Some((false, "0\u{2013}5461".to_string())));

        // redis-4 won the election in epoch 7.
        let mut promoted = fail;
        promoted[0] = (1, 7001, "master,fail", 0, "");
        promoted[3] = (4, 7004, "master", 0, "0-5461");
        let ev = w.observe(&all(&promoted, true, 7, 1));
        assert!(ev.contains(&(
            "cluster".to_string(),
            EventKind::ClusterPromoted {
                shard: 1,
                old: "redis-1".into(),
                new: "redis-4".into(),
                slots: "0\u{2013}5461".into(),
                epoch_before: 1,
                epoch_after: 7,
            }
        )));
        assert!(ev
            .iter()
            .any(|(_, e)| matches!(e, EventKind::ClusterState { ok: true, .. })));

        // redis-1 back as a replica of redis-4.
        let mut back = promoted;
        back[0] = (1, 7001, "slave", 4, "");
        let ev = w.observe(&all(&back, true, 7, 0));
        assert!(ev.contains(&(
            "redis-1".to_string(),
            EventKind::ClusterRejoined {
                node: "redis-1".into(),
                master: "redis-4".into()
            }
        )));
        assert!(ev
            .iter()
            .all(|(_, e)| !matches!(e, EventKind::ClusterPromoted { .. })));
        assert!(w.observe(&all(&back, true, 7, 0)).is_empty());
    }

    #[test]
    fn a_reshard_is_no_promotion_and_a_failover_after_it_still_is() {
        let t = cluster_topology();
        let mut w = ClusterWatch::new(&t);
        let all = |lines: &[(u8, u16, &str, u8, &str)]| {
            poll((1..=6u8).map(|i| (i, view(i, true, 6, lines))).collect())
        };
        assert!(w.observe(&all(&START)).is_empty());
        // Shard 1 gave its first 3,000 slots to shard 2.
        let mut moved = START;
        moved[0].4 = "3000-5461";
        moved[1].4 = "0-2999 5462-10922";
        assert!(w.observe(&all(&moved)).is_empty());
        // Then shard 1 fails over: redis-4 takes what redis-1 served.
        let mut promoted = moved;
        promoted[0] = (1, 7001, "master,fail", 0, "");
        promoted[3] = (4, 7004, "master", 0, "3000-5461");
        let ev = w.observe(&all(&promoted));
        let promotions: Vec<_> = ev
            .iter()
            .filter_map(|(_, e)| match e {
                EventKind::ClusterPromoted {
                    shard,
                    old,
                    new,
                    slots,
                    ..
                } => Some((*shard, old.as_str(), new.as_str(), slots.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(promotions, [(1, "redis-1", "redis-4", "3000\u{2013}5461")]);
    }

    #[test]
    fn with_full_coverage_off_a_dead_shard_is_told_while_the_nodes_stay_ok() {
        let mut t = cluster_topology();
        t.spec.require_full_coverage = false;
        let mut w = ClusterWatch::new(&t);
        let all = |lines: &[(u8, u16, &str, u8, &str)]| {
            poll((1..=6u8).map(|i| (i, view(i, true, 6, lines))).collect())
        };
        assert!(w.observe(&all(&START)).is_empty());
        let mut fail = START;
        fail[2].2 = "master,fail";
        let ev = w.observe(&all(&fail));
        let state = ev.iter().find_map(|(_, e)| match e {
            EventKind::ClusterState {
                ok,
                uncovered,
                full_coverage,
                ..
            } => Some((*ok, uncovered.clone(), *full_coverage)),
            _ => None,
        });
        assert_eq!(state, Some((true, "10923\u{2013}16383".to_string(), false)));
        let words = crate::metrics::explain::explain(
            &crate::metrics::Event {
                at_ms: 0,
                source: "cluster".into(),
                kind: ev
                    .iter()
                    .find(|(_, e)| matches!(e, EventKind::ClusterState { .. }))
                    .unwrap()
                    .1
                    .clone(),
            },
            &t,
        );
        assert_eq!(words, "slots 10923\u{2013}16383 have no master: their keys fail while the other shards keep serving (full coverage not required)");
        // Back: ok, nothing uncovered.
        let ev = w.observe(&all(&START));
        assert!(ev.iter().any(|(_, e)| matches!(e, EventKind::ClusterState { ok: true, uncovered, .. } if uncovered.is_empty())));
    }
}
