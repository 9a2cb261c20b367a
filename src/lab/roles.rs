//! The roles the lab saw during the run: every topology poll's role, master
//! and replication offset of each Redis node, stamped with the run's clock.
//! The settled `ROLE` says what a node is at the end; this log says what it
//! was in between, so that the audit can state, from Redis's own answers,
//! that an old master rejoined as a replica and was promoted again later,
//! or that a replica was promoted although its replication had stalled.

use crate::topology::view::{Role, TopologyView};
use std::sync::{Arc, Mutex};

/// How long a replica's offset must have stood still, while its master's
/// advanced, for its promotion to be called one of a stalled replica. Ten
/// polls: a replica that merely lags by one poll is never named.
pub const STALLED_LINK_MS: u64 = 2_000;

/// Readings kept at most (a poll every 500 ms of a few nodes: hours of run).
const MAX_READINGS: usize = 200_000;

/// What one Redis node said of itself in one poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleReading {
    pub at_ms: u64,
    pub node: String,
    pub role: Role,
    /// For a replica: the node it replicates from.
    pub master: Option<String>,
    /// Its own replication offset.
    pub offset: Option<u64>,
}

/// The readings of the run, shared by the poll (writer) and the audit.
#[derive(Clone, Default)]
pub struct RoleLog(Arc<Mutex<Vec<RoleReading>>>);

/// A promotion of a replica whose replication had not advanced for a while.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StalledPromotion {
    pub node: String,
    /// When it was promoted (the switch).
    pub promoted_ms: u64,
    /// Its last reading whose offset had advanced (or its first reading).
    pub stalled_since_ms: u64,
    /// The master it replicated from, and how many bytes of that master's
    /// replication stream it lacked at the last readings before the switch.
    pub master: String,
    pub lacked_bytes: u64,
}

impl RoleLog {
    /// Records every Redis node of one poll that answered.
    pub fn record(&self, at_ms: u64, view: &TopologyView) {
        let mut log = self.0.lock().expect("role log");
        for n in &view.nodes {
            if !matches!(n.role, Role::Master | Role::Replica) || log.len() >= MAX_READINGS {
                continue;
            }
            log.push(RoleReading {
                at_ms,
                node: n.name.clone(),
                role: n.role,
                master: n.master_of_replica.clone(),
                offset: n.repl_offset,
            });
        }
    }

    /// Every reading, in time order.
    pub fn readings(&self) -> Vec<RoleReading> {
        self.0.lock().expect("role log").clone()
    }
}

/// The first reading of `node` as a replica after `after_ms`.
pub fn replica_after<'a>(
    readings: &'a [RoleReading],
    node: &str,
    after_ms: u64,
) -> Option<&'a RoleReading> {
    readings
        .iter()
        .find(|r| r.node == node && r.at_ms > after_ms && r.role == Role::Replica)
}

/// Whether `node` was promoted at `promoted_ms` after its replication had
/// stood still while its master went on advancing for at least
/// [`STALLED_LINK_MS`].
/// Judged only from readings: `None` when they do not show it.
pub fn stalled_promotion(
    readings: &[RoleReading],
    node: &str,
    promoted_ms: u64,
) -> Option<StalledPromotion> {
    let before: Vec<&RoleReading> = readings
        .iter()
        .filter(|r| r.node == node && r.at_ms < promoted_ms && r.role == Role::Replica)
        .collect();
    let last = *before.last()?;
    let master = last.master.clone()?;
    let offset = last.offset?;
    // The first reading of the last run of readings at today's offset.
    let stalled_since_ms = before
        .iter()
        .rev()
        .take_while(|r| r.offset == Some(offset))
        .last()
        .map_or(last.at_ms, |r| r.at_ms);
    // What the master had at its last reading before the switch. Only a
    // master that went on advancing for a while after the replica stood
    // still shows a stalled link: a crashed master stops both at once.
    let (master_ms, master_offset) = readings
        .iter()
        .filter(|r| r.node == master && r.at_ms < promoted_ms && r.role == Role::Master)
        .filter_map(|r| Some((r.at_ms, r.offset?)))
        .next_back()?;
    if master_ms.saturating_sub(stalled_since_ms) < STALLED_LINK_MS {
        return None;
    }
    let lacked_bytes = master_offset.checked_sub(offset).filter(|b| *b > 0)?;
    Some(StalledPromotion {
        node: node.to_string(),
        promoted_ms,
        stalled_since_ms,
        master,
        lacked_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(at_ms: u64, node: &str, role: Role, master: Option<&str>, offset: u64) -> RoleReading {
        RoleReading {
            at_ms,
            node: node.into(),
            role,
            master: master.map(String::from),
            offset: Some(offset),
        }
    }

    /// 20 polls 500 ms apart: redis-1 master advancing 100 bytes a poll,
    /// redis-2 its replica at `replica(i)` in poll `i`.
    fn polls(replica: impl Fn(u64) -> u64) -> Vec<RoleReading> {
        (0..20u64)
            .flat_map(|i| {
                [
                    r(i * 500, "redis-1", Role::Master, None, 1_000 + i * 100),
                    r(
                        i * 500,
                        "redis-2",
                        Role::Replica,
                        Some("redis-1"),
                        replica(i),
                    ),
                ]
            })
            .collect()
    }

    #[test]
    fn a_replica_whose_offset_stood_still_is_named_with_what_it_lacked() {
        // redis-2 follows until 3 s, then stands still at 1,600.
        let log = polls(|i| 1_000 + i.min(6) * 100);
        let s = stalled_promotion(&log, "redis-2", 10_000).unwrap();
        assert_eq!(s.stalled_since_ms, 3_000);
        assert_eq!(s.master, "redis-1");
        // The master's last reading before 10 s: 1,000 + 19 × 100.
        assert_eq!(s.lacked_bytes, 2_900 - 1_600);
    }

    #[test]
    fn a_replica_that_kept_up_is_not_named() {
        let log = polls(|i| 1_000 + i * 100);
        assert_eq!(stalled_promotion(&log, "redis-2", 10_000), None);
        // Standing still while the master also stood still lacks nothing.
        let idle: Vec<_> = (0..20u64)
            .flat_map(|i| {
                [
                    r(i * 500, "redis-1", Role::Master, None, 5_000),
                    r(i * 500, "redis-2", Role::Replica, Some("redis-1"), 5_000),
                ]
            })
            .collect();
        assert_eq!(stalled_promotion(&idle, "redis-2", 10_000), None);
        // A master that crashed at 3 s: the replica stands still from then
        // on, as every replica of a dead master does; that is no stall.
        let crashed: Vec<_> = (0..20u64)
            .flat_map(|i| {
                let master =
                    (i <= 6).then(|| r(i * 500, "redis-1", Role::Master, None, 1_000 + i * 100));
                let replica = r(
                    i * 500,
                    "redis-2",
                    Role::Replica,
                    Some("redis-1"),
                    1_000 + i.min(6) * 100 - 50,
                );
                master.into_iter().chain([replica])
            })
            .collect();
        assert_eq!(stalled_promotion(&crashed, "redis-2", 10_000), None);
    }

    #[test]
    fn a_rejoin_is_the_first_replica_reading_after_the_switch() {
        let log = vec![
            r(1_000, "redis-1", Role::Master, None, 10),
            r(9_000, "redis-1", Role::Replica, Some("redis-2"), 10),
            r(20_000, "redis-1", Role::Master, None, 90),
        ];
        assert_eq!(replica_after(&log, "redis-1", 5_000).unwrap().at_ms, 9_000);
        assert_eq!(replica_after(&log, "redis-1", 9_000), None);
    }
}
