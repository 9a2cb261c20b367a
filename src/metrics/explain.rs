//! Every event of the timeline in plain words ([`explain`]): the one place
//! a Sentinel announcement, a fault or a client move is worded, shared by
//! the dashboard, the headless runner, the scenario runner and report.md.
//! Addresses and sentinel ids become node names as far as a [`Naming`]
//! knows them; what it does not know, the sentence says less about.

use super::event::{Event, EventKind};
use crate::topology::announcement::{Instance, InstanceKind, SwitchMaster};
use crate::topology::Topology;

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
        EventKind::ClusterFlagged { node, flag } => match flag.as_str() {
            "pfail" => format!(
                "{src} has not heard from {node} within node-timeout and flags it as possibly failing (PFAIL)"
            ),
            "fail" => format!(
                "{src} marks {node} as failing (FAIL): a majority of masters agreed it is down"
            ),
            _ => format!("{src} no longer flags {node} as failing"),
        },
        EventKind::ClusterPromoted {
            shard,
            old,
            new,
            slots,
            epoch_after,
            ..
        } => format!(
            "{new}, replica of shard {shard}, won the election in epoch {epoch_after} and now serves slots {slots} in place of {old}"
        ),
        EventKind::ClusterState {
            ok,
            failing_nodes,
            uncovered,
            full_coverage,
        } => match (ok, uncovered.is_empty()) {
            (true, true) => {
                "the cluster is ok again: every answering node says cluster_state:ok".into()
            }
            (true, false) => format!(
                "slots {uncovered} have no master: their keys fail while the other shards keep serving{}",
                if *full_coverage { "" } else { " (full coverage not required)" }
            ),
            (false, false) => format!(
                "the cluster refuses every command on {}: slots {uncovered} have no master{}",
                failing_nodes.join(", "),
                if *full_coverage {
                    " (full coverage required)"
                } else {
                    ""
                }
            ),
            (false, true) => format!(
                "cluster_state:fail on {}: those nodes refuse every command (cut off from the majority of masters)",
                failing_nodes.join(", ")
            ),
        },
        EventKind::ClusterRejoined { node, master } => {
            format!("{node}, a master before, rejoined the cluster as a replica of {master}")
        }
        EventKind::ReshardStarted {
            from_shard,
            to_shard,
            from,
            to,
            slots,
            ranges,
        } => format!(
            "reshard: {slots} slots ({ranges}) start moving from shard {from_shard} ({from}) to shard {to_shard} ({to}), keys and all; clients get ASK for keys already moved, MOVED once a slot is done"
        ),
        EventKind::ReshardProgress {
            from_shard,
            to_shard,
            slots_done,
            slots_total,
            keys_moved,
        } => format!(
            "reshard {from_shard}->{to_shard}: {slots_done} of {slots_total} slots moved ({}%), {keys_moved} keys",
            u64::from(*slots_done) * 100 / u64::from((*slots_total).max(1))
        ),
        EventKind::ReshardEnded {
            from_shard,
            to_shard,
            from,
            to,
            slots_moved,
            slots_total,
            keys_moved,
            millis,
            complete,
            every_node_agrees,
            moved,
            ask,
            error,
        } => {
            let what = format!(
                "{slots_moved} of {slots_total} slots and {keys_moved} keys went from shard {from_shard} ({from}) to shard {to_shard} ({to}) in {}; the client was sent {moved} MOVED and {ask} ASK meanwhile",
                crate::words::duration(std::time::Duration::from_millis(*millis))
            );
            match (error, complete, every_node_agrees) {
                (Some(e), _, _) => format!("reshard failed: {what}; then: {e}"),
                (None, false, _) => format!("reshard stopped early: {what}"),
                (None, true, true) => format!("reshard done: {what}; every node agrees"),
                (None, true, false) => {
                    format!("reshard done: {what}; not every node names the new owner yet")
                }
            }
        }
        EventKind::ScaleStarted { action } => format!(
            "scale {action}: {}",
            if action == "add" {
                "a new shard joins the cluster and takes an even share of every master's slots, moved live with their keys"
            } else {
                "the shard's slots move to the other masters, keys and all, then its nodes leave"
            }
        ),
        EventKind::ScaleProgress { action, line } => format!("scale {action}: {line}"),
        EventKind::ScaleEnded {
            action,
            shard,
            nodes,
            slots_moved,
            keys_moved,
            millis,
            complete,
            slots_per_master,
            error,
        } => {
            let took = crate::words::duration(std::time::Duration::from_millis(*millis));
            let what = format!(
                "shard {shard} ({}) {}; {slots_moved} slots and {keys_moved} keys moved in {took}",
                nodes.join(", "),
                if action == "add" { "joined" } else { "left" }
            );
            let shares: Vec<String> = slots_per_master
                .iter()
                .map(|(m, n)| format!("{m} {n}"))
                .collect();
            match (error, complete) {
                (Some(e), _) => format!("scale {action} failed after {took}: {e}"),
                (None, false) => format!("scale {action} stopped early: {what}"),
                (None, true) => format!(
                    "scale {action} done: {what}; slots per master now: {}",
                    shares.join(", ")
                ),
            }
        }
        EventKind::Note { text } => text.clone(),
    }
}

fn explain_sentinel(src: &str, channel: &str, payload: &str, names: &dyn Naming) -> String {
    let quorum = names.quorum();
    let inst = Instance::parse(payload);
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
        InstanceKind::Master => format!("the master {node}"),
        InstanceKind::Replica => format!("replica {node}"),
        // A known sentinel's name says what it is; an address does not.
        InstanceKind::Sentinel if known.is_none() => format!("the sentinel at {node}"),
        InstanceKind::Sentinel => node.clone(),
    };
    let text = match (channel, &inst) {
        ("+sdown", Some(i)) if i.is_master() => match quorum {
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
        ("+switch-master", _) => match SwitchMaster::parse(payload) {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{sent, topology, LEADER_ID, M1};
    use super::*;

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
    fn a_scaling_ends_with_what_moved_or_why_it_failed() {
        let t = topology();
        let ended = |complete: bool, error: Option<&str>| Event {
            at_ms: 14_029,
            source: "faults".into(),
            kind: EventKind::ScaleEnded {
                action: "add".into(),
                shard: 4,
                nodes: vec!["redis-7".into(), "redis-8".into()],
                slots_moved: 4096,
                keys_moved: 743,
                millis: 8977,
                complete,
                slots_per_master: [("redis-1", 4096), ("redis-7", 4096)]
                    .map(|(m, n)| (m.to_string(), n))
                    .into(),
                error: error.map(str::to_string),
            },
        };
        assert_eq!(
            explain(&ended(true, None), &t),
            "scale add done: shard 4 (redis-7, redis-8) joined; 4096 slots and 743 keys moved in 8.977s; slots per master now: redis-1 4096, redis-7 4096"
        );
        assert!(explain(&ended(false, None), &t).starts_with("scale add stopped early: shard 4"));
        assert_eq!(
            explain(&ended(false, Some("redis-2 is not well")), &t),
            "scale add failed after 8.977s: redis-2 is not well"
        );
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
}
