//! Events of the timeline: faults, Sentinel's own announcements, node and
//! client changes, each stamped with the time since the run started.

use super::timeline::Timeline;
use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A fault was injected (`fault` is e.g. "segfault", target the node name).
    FaultInjected {
        fault: String,
        node: String,
    },
    /// A fault ended (thaw, heal).
    FaultHealed {
        fault: String,
        node: String,
    },
    /// A Sentinel event as published on its `+...`/`-...` channels, e.g. `+switch-master`.
    Sentinel {
        name: String,
        payload: String,
    },
    NodeStarted {
        node: String,
    },
    NodeStopped {
        node: String,
    },
    /// The client moved its connections to a new master.
    ClientRerouted {
        from: String,
        to: String,
    },
    /// The first successful write after a stretch of failures.
    WritesRecovered {
        outage_ms: u64,
    },
    /// The load changed: grabbers, workload, paused/resumed.
    LoadChanged {
        what: String,
    },
    /// A lock safety violation: two holders at once.
    LockViolation {
        lock: String,
        holders: Vec<String>,
    },
    /// A Cluster node (`source`) flags `node` in its `CLUSTER NODES`:
    /// `pfail` (it alone has not heard from it within node-timeout), `fail`
    /// (a majority of masters agreed), or `cleared` (neither any more).
    ClusterFlagged {
        node: String,
        flag: String,
    },
    /// Shard `shard` has a new master: `new` serves the slots `old` served,
    /// as most answering nodes' `CLUSTER NODES` say. `epoch_before` is the
    /// old master's config epoch, `epoch_after` the new one's: the epoch of
    /// the election it won.
    ClusterPromoted {
        shard: usize,
        old: String,
        new: String,
        slots: String,
        epoch_before: u64,
        epoch_after: u64,
    },
    /// Whether every answering node says `cluster_state:ok`, which nodes
    /// say `fail`, and the slots without a live master (with full coverage
    /// off the nodes stay ok while those slots fail).
    ClusterState {
        ok: bool,
        failing_nodes: Vec<String>,
        uncovered: String,
        /// The run's `cluster-require-full-coverage`.
        #[serde(default)]
        full_coverage: bool,
    },
    /// A node that had been a master now replicates `master` (its own
    /// `CLUSTER NODES` line says so).
    ClusterRejoined {
        node: String,
        master: String,
    },
    /// Cluster mode: a reshard began: `slots` slots (`ranges`) leave shard
    /// `from_shard`, whose master is `from`, for shard `to_shard`'s master `to`.
    ReshardStarted {
        from_shard: usize,
        to_shard: usize,
        from: String,
        to: String,
        slots: u32,
        ranges: String,
    },
    /// How far a reshard has come (about every tenth of the way, or every
    /// second when slots move slowly).
    ReshardProgress {
        from_shard: usize,
        to_shard: usize,
        slots_done: u32,
        slots_total: u32,
        keys_moved: u64,
    },
    /// A reshard ended: what moved, how long it took, whether it was
    /// stopped early (`complete` false) or failed (`error`), and the MOVED
    /// and ASK replies the run's client got while it ran.
    ReshardEnded {
        from_shard: usize,
        to_shard: usize,
        from: String,
        to: String,
        slots_moved: u32,
        slots_total: u32,
        keys_moved: u64,
        millis: u64,
        complete: bool,
        every_node_agrees: bool,
        moved: u64,
        ask: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Cluster mode: a scaling began (`action` is `add` or `remove K`).
    ScaleStarted {
        action: String,
    },
    /// A step of a scaling, as `topology::scale` says it (nodes started,
    /// joined, slots moved from one master to another, nodes forgotten).
    ScaleProgress {
        action: String,
        line: String,
    },
    /// A scaling ended: the shard added or removed, the slots and keys
    /// moved, how long it took, the slots each master serves now; stopped
    /// early (`complete` false) or failed (`error`).
    ScaleEnded {
        action: String,
        shard: usize,
        nodes: Vec<String>,
        slots_moved: u32,
        keys_moved: u64,
        millis: u64,
        complete: bool,
        slots_per_master: std::collections::BTreeMap<String, u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Free text from the lab (scenario steps, warnings).
    Note {
        text: String,
    },
}

/// One entry of the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Milliseconds since the run started.
    pub at_ms: u64,
    /// Who reported it: a node name (`sentinel-2`), `client`, `lab`.
    pub source: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// The payload, when this is a Sentinel announcement on `channel`
    /// (e.g. `+switch-master`).
    pub fn sentinel_payload(&self, channel: &str) -> Option<&str> {
        match &self.kind {
            EventKind::Sentinel { name, payload } if name == channel => Some(payload),
            _ => None,
        }
    }
}

impl EventKind {
    /// Whether this is one of the events a class follows (lesson mode's
    /// timeline): faults and heals, a master flagged down (`+sdown`,
    /// `+odown` of the master), the leader elected, `+switch-master`, the
    /// client moved, writes back, the old master converted (or rejoined
    /// its shard), Cluster mode's FAIL, promotion and state, reshards and
    /// scalings begun and ended, and notes (scenario steps, losses found).
    /// Sub-steps (`+failover-state-*`, votes, `-role-change`, progress)
    /// are not.
    pub fn is_key(&self) -> bool {
        match self {
            EventKind::Sentinel { name, payload } => match name.as_str() {
                "+sdown" | "+odown" => payload.starts_with("master "),
                "+elected-leader" | "+switch-master" | "+convert-to-slave" => true,
                _ => false,
            },
            EventKind::ClusterFlagged { flag, .. } => flag == "fail",
            EventKind::FaultInjected { .. }
            | EventKind::FaultHealed { .. }
            | EventKind::ClientRerouted { .. }
            | EventKind::WritesRecovered { .. }
            | EventKind::ClusterPromoted { .. }
            | EventKind::ClusterState { .. }
            | EventKind::ClusterRejoined { .. }
            | EventKind::ReshardStarted { .. }
            | EventKind::ReshardEnded { .. }
            | EventKind::ScaleStarted { .. }
            | EventKind::ScaleEnded { .. }
            | EventKind::Note { .. } => true,
            // A lock held twice comes in bursts of dozens around a
            // failover; the locks panel and the report count them.
            EventKind::LockViolation { .. }
            | EventKind::NodeStarted { .. }
            | EventKind::NodeStopped { .. }
            | EventKind::LoadChanged { .. }
            | EventKind::ReshardProgress { .. }
            | EventKind::ScaleProgress { .. } => false,
        }
    }
}

/// Where events go: a broadcast for live readers (dashboard, scenario
/// `wait_for`) and the full timeline kept for the report. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    start: std::time::Instant,
    tx: tokio::sync::broadcast::Sender<Event>,
    log: std::sync::Arc<std::sync::Mutex<Timeline>>,
}

impl EventBus {
    /// A bus whose clock starts now.
    pub fn new() -> EventBus {
        Self::starting_at(std::time::Instant::now())
    }

    /// A bus whose clock started at `start` (the run's start).
    pub fn starting_at(start: std::time::Instant) -> EventBus {
        let (tx, _) = tokio::sync::broadcast::channel(4096);
        EventBus {
            start,
            tx,
            log: Default::default(),
        }
    }

    /// When the run started.
    pub fn start(&self) -> std::time::Instant {
        self.start
    }

    /// Milliseconds since the run started.
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Records an event stamped now; returns it.
    pub fn emit(&self, source: impl Into<String>, kind: EventKind) -> Event {
        let event = Event {
            at_ms: self.now_ms(),
            source: source.into(),
            kind,
        };
        self.push(event.clone());
        event
    }

    /// Records an event with its own time stamp.
    pub fn push(&self, event: Event) {
        tracing::info!(at_ms = event.at_ms, source = %event.source, kind = ?event.kind, "event");
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(event.clone());
        // No live reader is fine: the log keeps it.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Every event so far, in time order (ties in the order recorded).
    pub fn all(&self) -> Vec<Event> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .events()
            .to_vec()
    }

    /// The last `n` events.
    pub fn recent(&self, n: usize) -> Vec<Event> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .recent(n)
            .to_vec()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_events_are_the_phases_a_class_follows() {
        let sentinel = |name: &str, payload: &str| EventKind::Sentinel {
            name: name.into(),
            payload: payload.into(),
        };
        let m = "master mymaster 127.0.0.1 7001";
        let replica = "slave 127.0.0.1:7002 127.0.0.1 7002 @ mymaster 127.0.0.1 7001";
        assert!(sentinel("+sdown", m).is_key());
        assert!(!sentinel("+sdown", replica).is_key());
        assert!(sentinel("+odown", &format!("{m} #quorum 2/2")).is_key());
        assert!(sentinel("+elected-leader", m).is_key());
        assert!(sentinel("+switch-master", "mymaster 127.0.0.1 7001 127.0.0.1 7002").is_key());
        assert!(sentinel("+convert-to-slave", replica).is_key());
        for sub in [
            "+failover-state-select-slave",
            "+vote-for-leader",
            "-role-change",
            "+slave-reconf-sent",
            "+new-epoch",
            "+try-failover",
        ] {
            assert!(!sentinel(sub, m).is_key(), "{sub}");
        }
        assert!(EventKind::WritesRecovered { outage_ms: 1 }.is_key());
        assert!(EventKind::Note { text: "x".into() }.is_key());
        assert!(!EventKind::LoadChanged { what: "x".into() }.is_key());
        let twice = EventKind::LockViolation {
            lock: "l".into(),
            holders: vec!["a".into(), "b".into()],
        };
        assert!(!twice.is_key());
        let flag = |f: &str| EventKind::ClusterFlagged {
            node: "redis-1".into(),
            flag: f.into(),
        };
        assert!(flag("fail").is_key());
        assert!(!flag("pfail").is_key());
    }

    #[test]
    fn an_event_stamped_earlier_takes_its_place_in_time_order() {
        let bus = EventBus::new();
        let note = |at_ms, text: &str| Event {
            at_ms,
            source: "test".into(),
            kind: EventKind::Note { text: text.into() },
        };
        bus.push(note(100, "a"));
        bus.push(note(300, "c"));
        bus.push(note(300, "d"));
        bus.push(note(200, "b"));
        bus.push(note(300, "e"));
        let order: Vec<String> = bus
            .all()
            .into_iter()
            .map(|e| match e.kind {
                EventKind::Note { text } => text,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, ["a", "b", "c", "d", "e"]);
    }
}
