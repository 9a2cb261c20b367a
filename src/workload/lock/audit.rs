//! The lock workload's audit: what Redis holds after the run against the
//! journal of acknowledged lock steps. Works from the journal alone (for
//! `grabstorm audit DIR`); the in-process counters are added when this
//! process ran the load.

use super::ops::{self, LockKeys};
use super::LockWorkload;
use crate::audit::journal::{JournalOp, JournalRecord};
use crate::metrics::recorder::{LockStep, OpKind};
use crate::metrics::LatencySummary;
use crate::report::model::{LockReport, Report};
use crate::workload::LockKind;
use redis::aio::MultiplexedConnection;
use redis::RedisError;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

impl LockWorkload {
    /// Checks the journal against Redis and fills `report.locks`: per lock
    /// key, acknowledged resource writes against the counter Redis holds
    /// (lost updates), acknowledged writes Redis no longer holds (appended
    /// to `lost`), and lock keys left without TTL. In-process counters
    /// (violations, waits...) are written only when this process ran the load.
    pub async fn audit_journal(
        &self,
        conn: &mut MultiplexedConnection,
        journal: &[JournalRecord],
        report: &mut Report,
        lost: &mut Vec<JournalRecord>,
    ) -> Result<(), RedisError> {
        // Kinds and lock indices: the configured ones plus any in the journal.
        let mut kinds: BTreeSet<LockKind> = self.config.kinds.iter().copied().collect();
        let mut writes: BTreeMap<(LockKind, u64), Vec<&JournalRecord>> = BTreeMap::new();
        let mut locks: BTreeSet<(LockKind, u64)> = BTreeSet::new();
        let mut grants: BTreeMap<(LockKind, u64), Vec<&JournalRecord>> = BTreeMap::new();
        for k in &self.config.kinds {
            for i in 0..self.config.keys as u64 {
                locks.insert((*k, i));
            }
        }
        for rec in journal {
            match rec.op {
                JournalOp::ResourceWrite(k) => {
                    kinds.insert(k);
                    locks.insert((k, rec.round));
                    writes.entry((k, rec.round)).or_default().push(rec);
                }
                JournalOp::LockAcquired(k) | JournalOp::LockReleased(k) => {
                    kinds.insert(k);
                    locks.insert((k, rec.round));
                    grants.entry((k, rec.round)).or_default().push(rec);
                }
                _ => {}
            }
        }
        let order: Vec<(LockKind, u64)> = locks.into_iter().collect();
        let mut replies: Vec<(Option<i64>, i64)> = Vec::with_capacity(order.len());
        for chunk in order.chunks(512) {
            let mut pipe = redis::pipe();
            for (k, i) in chunk {
                let keys = LockKeys::new(&self.space, *k, *i);
                pipe.cmd("GET")
                    .arg(&keys.counter)
                    .cmd("PTTL")
                    .arg(&keys.lock);
            }
            let part: Vec<(Option<i64>, i64)> = ops::timed(pipe.query_async(conn)).await?;
            replies.extend(part);
        }

        let mut sections: BTreeMap<LockKind, LockReport> = BTreeMap::new();
        for k in &kinds {
            sections.insert(*k, report.locks.get(k).cloned().unwrap_or_default());
        }
        for s in sections.values_mut() {
            s.lost_updates = 0;
            s.counter_total = 0;
            s.increments_acked = 0;
            s.lost_acked_writes = 0;
            s.locks_without_ttl = 0;
            s.locks_without_ttl_keys.clear();
            s.locks_lost = 0;
        }
        for ((kind, index), (counter, ttl)) in order.iter().zip(replies) {
            let section = sections.entry(*kind).or_default();
            let counter = counter.unwrap_or(0);
            let acked = writes
                .get(&(*kind, *index))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            section.increments_acked += acked.len() as u64;
            section.counter_total += counter.max(0) as u64;
            section.lost_updates += (acked.len() as u64).saturating_sub(counter.max(0) as u64);
            let missing = missing_writes(acked, counter);
            section.lost_acked_writes += missing.len() as u64;
            lost.extend(missing.into_iter().cloned());
            let steps = grants
                .get(&(*kind, *index))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let vanished = vanished_grants(steps, self.config.ttl_ms);
            section.locks_lost += vanished.len() as u64;
            section.lost_acked_writes += vanished.len() as u64;
            lost.extend(vanished.into_iter().cloned());
            if ttl == -1 {
                section.locks_without_ttl += 1;
                section
                    .locks_without_ttl_keys
                    .push(LockKeys::new(&self.space, *kind, *index).lock);
            }
        }
        let ran = self.ran.load(Ordering::Relaxed);
        for (slot, s) in self.kinds.iter().enumerate() {
            let section = sections.entry(s.kind).or_default();
            self.audited_lost[slot].store(section.lost_updates, Ordering::Relaxed);
            if !section.locks_without_ttl_keys.is_empty() {
                tracing::warn!(kind = %s.kind, keys = ?section.locks_without_ttl_keys, "lock keys left without TTL");
            }
            if !ran {
                continue;
            }
            section.acquired = s.acquired.load(Ordering::Relaxed);
            section.failed = s.failed.load(Ordering::Relaxed);
            section.refused_attempts = s.refused.load(Ordering::Relaxed);
            section.violations = s.violations.load(Ordering::Relaxed);
            section.stale_tokens_refused = s.stale.load(Ordering::Relaxed);
            section.expired_before_release = s.expired_before_release.load(Ordering::Relaxed);
            section.reentries = s.reentries.load(Ordering::Relaxed);
            section.died_between_setnx_and_expire = s.died.load(Ordering::Relaxed);
            section.errors = s.errors.load(Ordering::Relaxed);
            section.violation_list = s.recent();
            for (step, field) in [
                (LockStep::Wait, &mut section.wait),
                (LockStep::Hold, &mut section.hold),
            ] {
                if let Some(op) = report.ops.get(OpKind::Lock(s.kind, step).name()) {
                    *field = LatencySummary {
                        count: op.ok,
                        p50_us: op.p50_us,
                        p90_us: op.p90_us,
                        p99_us: op.p99_us,
                        p999_us: op.p999_us,
                        max_us: op.max_us,
                    };
                }
            }
        }
        if !ran {
            // Journal only: acquisitions are the acknowledged acquires.
            for rec in journal {
                if let JournalOp::LockAcquired(k) = rec.op {
                    if let Some(s) = sections.get_mut(&k) {
                        if report.locks.get(&k).is_none_or(|r| r.acquired == 0) {
                            s.acquired += 1;
                        }
                    }
                }
            }
        }
        report.locks.extend(sections);
        Ok(())
    }
}

/// Acknowledged lock grants that vanished from Redis: a later grant of the
/// same lock to another grabber came while the earlier one was neither
/// released nor past its TTL, so the key must have disappeared (a failover
/// to a replica that never received it, or a naive release deleting a lock
/// that was no longer its own). `steps` are one lock's `LockAcquired` and
/// `LockReleased` records; the result is the earlier grants that were lost.
///
/// Journal times are stamped after the acknowledgement, so a grant can
/// look a few ms early or a release a few ms late; a margin of a fifth of
/// the TTL (at least 50 ms) keeps a normal expiry or hand-over from
/// counting.
pub fn vanished_grants<'a>(steps: &[&'a JournalRecord], ttl_ms: u64) -> Vec<&'a JournalRecord> {
    let margin = (ttl_ms / 5).max(50);
    let mut sorted: Vec<&JournalRecord> = steps.to_vec();
    sorted.sort_by_key(|r| r.at_ms);
    // Did `user` release (its grant) soon after position `from`? Its own
    // next grant ends the search: that release would be of a later lock.
    let released_by = |user: u64, from: usize, until_ms: u64| {
        for r in sorted[from..].iter().take_while(|r| r.at_ms <= until_ms) {
            if r.user != user {
                continue;
            }
            match r.op {
                JournalOp::LockReleased(_) => return true,
                JournalOp::LockAcquired(_) => return false,
                _ => {}
            }
        }
        false
    };
    let mut lost = Vec::new();
    let mut holder: Option<&JournalRecord> = None;
    for (i, r) in sorted.iter().enumerate() {
        match r.op {
            JournalOp::LockAcquired(_) => {
                if let Some(h) = holder {
                    let still_held = r.at_ms + margin < h.at_ms + ttl_ms;
                    if still_held && h.user != r.user && !released_by(h.user, i, r.at_ms + margin) {
                        lost.push(h);
                    }
                }
                holder = Some(r);
            }
            JournalOp::LockReleased(_) if holder.is_some_and(|h| h.user == r.user) => {
                holder = None;
            }
            _ => {}
        }
    }
    lost
}

/// Acknowledged writes of one counter that Redis no longer holds. The last
/// acknowledged value should be what Redis holds; when it is not, every
/// write acknowledged after the last one that wrote the value Redis holds
/// is gone (a failover rolled the counter back). A stale holder overwriting
/// a newer value is a lost update, not a lost write: its own write is the
/// last acknowledged one and Redis holds it.
pub fn missing_writes<'a>(acked: &[&'a JournalRecord], counter: i64) -> Vec<&'a JournalRecord> {
    let mut sorted: Vec<&JournalRecord> = acked.to_vec();
    sorted.sort_by_key(|r| r.at_ms);
    match sorted.last() {
        None => Vec::new(),
        Some(last) if last.value == counter => Vec::new(),
        Some(_) => {
            let after = sorted
                .iter()
                .rposition(|r| r.value == counter)
                .map_or(0, |i| i + 1);
            sorted[after..].to_vec()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(at_ms: u64, value: i64) -> JournalRecord {
        JournalRecord {
            at_ms,
            op: JournalOp::ResourceWrite(LockKind::Safe),
            key: "k".into(),
            round: 0,
            user: 0,
            value,
            pos: 0,
            node: "redis-1".into(),
        }
    }

    fn step(op: JournalOp, at_ms: u64, user: u64) -> JournalRecord {
        JournalRecord {
            op,
            user,
            ..write(at_ms, 1)
        }
    }

    const ACQ: JournalOp = JournalOp::LockAcquired(LockKind::Safe);
    const REL: JournalOp = JournalOp::LockReleased(LockKind::Safe);

    #[test]
    fn hand_overs_and_expiries_are_not_lost_grants() {
        let s = [
            step(ACQ, 0, 1),
            step(REL, 10, 1),
            step(ACQ, 11, 2),
            // 2 never releases; 3 gets the lock once the TTL (1000) ran out.
            step(ACQ, 1_011, 3),
            // 4 is journaled a hair before 3's release (stamping order).
            step(ACQ, 1_100, 4),
            step(REL, 1_102, 3),
        ];
        let refs: Vec<&JournalRecord> = s.iter().collect();
        assert!(vanished_grants(&refs, 1_000).is_empty());
    }

    #[test]
    fn a_grant_while_the_lock_should_be_held_means_it_vanished() {
        // 1 holds a 10 s lock; a failover loses it; 2 gets it 3 s later.
        // 1's release of its next lock does not count for the lost one.
        let s = [
            step(ACQ, 100, 1),
            step(ACQ, 3_100, 2),
            step(REL, 3_200, 2),
            step(ACQ, 3_300, 1),
            step(REL, 3_400, 1),
        ];
        let refs: Vec<&JournalRecord> = s.iter().collect();
        let lost = vanished_grants(&refs, 10_000);
        assert_eq!(lost.len(), 1);
        assert_eq!((lost[0].user, lost[0].at_ms), (1, 100));
    }

    #[test]
    fn writes_redis_holds_are_not_missing() {
        let w = [write(1, 1), write(2, 2), write(3, 3)];
        let acked: Vec<&JournalRecord> = w.iter().collect();
        assert!(missing_writes(&acked, 3).is_empty());
        assert!(missing_writes(&[], 0).is_empty());
    }

    #[test]
    fn a_rolled_back_counter_loses_the_writes_after_its_value() {
        let w = [write(1, 1), write(2, 2), write(3, 3), write(4, 4)];
        let acked: Vec<&JournalRecord> = w.iter().collect();
        let missing = missing_writes(&acked, 2);
        assert_eq!(
            missing.iter().map(|r| r.value).collect::<Vec<_>>(),
            vec![3, 4]
        );
        // Rolled back past every acknowledged write.
        assert_eq!(missing_writes(&acked, 0).len(), 4);
    }

    #[test]
    fn a_stale_overwrite_is_a_lost_update_not_a_lost_write() {
        // A and B both read 10; B writes 11, C reads 11 and writes 12, then
        // A (stale) writes 11: Redis holds A's acknowledged 11.
        let w = [write(1, 11), write(2, 12), write(3, 11)];
        let acked: Vec<&JournalRecord> = w.iter().collect();
        assert!(missing_writes(&acked, 11).is_empty());
    }
}
