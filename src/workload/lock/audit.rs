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
use redis::aio::ConnectionLike;
use redis::RedisError;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

impl LockWorkload {
    /// Checks the journal against Redis and fills `report.locks`: per lock
    /// key, acknowledged resource writes against the counter Redis holds
    /// (lost updates, writes provably gone), lock keys left without TTL,
    /// and the violations the journal proves. The in-process counters
    /// (attempts, waits, TTL expiries, grants that vanished...) are written
    /// only when this process ran the load; otherwise the sections already
    /// in `report` (the run's own report) keep them.
    pub async fn audit_journal<C: ConnectionLike + Send>(
        &self,
        conn: &mut C,
        journal: &[JournalRecord],
        report: &mut Report,
        lost: &mut Vec<JournalRecord>,
    ) -> Result<(), RedisError> {
        // Kinds and lock indices: the configured ones plus any in the journal.
        let mut kinds: BTreeSet<LockKind> = self.config.kinds.iter().copied().collect();
        let mut steps: BTreeMap<(LockKind, u64), Vec<&JournalRecord>> = BTreeMap::new();
        for k in &self.config.kinds {
            for i in 0..self.config.keys as u64 {
                steps.entry((*k, i)).or_default();
            }
        }
        for rec in journal {
            if let JournalOp::ResourceWrite(k)
            | JournalOp::LockAcquired(k)
            | JournalOp::LockReleased(k) = rec.op
            {
                kinds.insert(k);
                steps.entry((k, rec.round)).or_default().push(rec);
            }
        }
        let order: Vec<(LockKind, u64)> = steps.keys().copied().collect();
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
            s.violations_journal = Some(0);
            s.violations_proven = 0;
        }
        for ((kind, index), (counter, ttl)) in order.iter().zip(replies) {
            let section = sections.entry(*kind).or_default();
            let lock = sections_of(&steps[&(*kind, *index)]);
            let writes = lock.iter().filter(|s| s.write.is_some()).count() as u64;
            section.increments_acked += writes;
            section.counter_total += counter.unwrap_or(0).max(0) as u64;
            section.lost_updates += writes.saturating_sub(counter.unwrap_or(0).max(0) as u64);
            let missing = missing_writes(&lock, counter);
            section.lost_acked_writes += missing.len() as u64;
            lost.extend(missing.into_iter().cloned());
            let overlaps = journal_violations(&lock);
            section.violations_proven += overlaps.proven;
            section.violations_journal = section
                .violations_journal
                .zip(overlaps.exact())
                .map(|(a, b)| a + b);
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
            section.violations_observed = Some(s.violations.load(Ordering::Relaxed));
            section.attempts = s.attempts.load(Ordering::Relaxed);
            section.acquired = s.acquired.load(Ordering::Relaxed);
            section.failed = s.failed.load(Ordering::Relaxed);
            section.refused_attempts = s.refused.load(Ordering::Relaxed);
            section.stale_tokens_refused = s.stale.load(Ordering::Relaxed);
            section.expired_before_release = s.expired_before_release.load(Ordering::Relaxed);
            section.ttl_expired_while_held = s.ttl_expired_while_held.load(Ordering::Relaxed);
            section.reentries = s.reentries.load(Ordering::Relaxed);
            section.died_between_setnx_and_expire = s.died.load(Ordering::Relaxed);
            section.errors = s.errors.load(Ordering::Relaxed);
            section.violation_list = s.recent();
            let vanished = s.vanished.lock().unwrap_or_else(|e| e.into_inner()).clone();
            section.locks_lost = vanished.len() as u64;
            section.lost_grants = vanished
                .iter()
                .filter_map(|(index, grabber, release_ms)| {
                    steps.get(&(s.kind, *index))?.iter().rev().find(|r| {
                        r.op == JournalOp::LockAcquired(s.kind)
                            && r.user == *grabber
                            && r.at_ms <= *release_ms
                    })
                })
                .map(|r| (*r).clone())
                .take(1000)
                .collect();
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
        for section in sections.values_mut() {
            // The run's own count is the registry's exact observation; an
            // audit from the journal alone recounts what the journal proves.
            section.violations = if ran {
                section.violations_observed
            } else {
                section.violations_journal
            };
            // Only the run saw the releases that found a grant gone; an
            // audit from the journal reports what the run recorded.
            section.lost_acked_writes += section.locks_lost;
            lost.extend(section.lost_grants.iter().cloned());
        }
        if !ran {
            // Journal only, and no run report to keep: acquisitions are the
            // acknowledged acquires.
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

/// One critical section of one lock, from the journal: a grabber's
/// acknowledged acquisition and, if acknowledged, its write of the resource.
#[derive(Clone, Copy, Debug)]
pub struct Section<'a> {
    pub acquired: &'a JournalRecord,
    pub write: Option<&'a JournalRecord>,
    /// The holder's own release confirmed it still held the lock.
    pub released: bool,
}

/// The critical sections of one lock from its journal records (any order),
/// sorted by acquisition. A naive grabber that died between SETNX and
/// EXPIRE (acquisition value 0) never entered one.
pub fn sections_of<'a>(steps: &[&'a JournalRecord]) -> Vec<Section<'a>> {
    let mut sorted: Vec<&JournalRecord> = steps.to_vec();
    sorted.sort_by_key(|r| r.at_ms);
    let mut out: Vec<Section> = Vec::new();
    // The open section of each grabber (index into `out`).
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for r in sorted {
        match r.op {
            JournalOp::LockAcquired(k) => {
                open.remove(&r.user);
                if k == LockKind::Naive && r.value == 0 {
                    continue;
                }
                open.insert(r.user, out.len());
                out.push(Section {
                    acquired: r,
                    write: None,
                    released: false,
                });
            }
            JournalOp::ResourceWrite(_) => {
                if let Some(i) = open.get(&r.user) {
                    out[*i].write.get_or_insert(r);
                }
            }
            JournalOp::LockReleased(_) => {
                if let Some(i) = open.remove(&r.user) {
                    out[i].released = true;
                }
            }
            _ => {}
        }
    }
    out
}

/// What the journal tells of one lock's overlaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalOverlaps {
    /// Moments two grabbers held the lock that the journal proves.
    pub proven: u64,
    /// False when a section with no known end (no acknowledged write nor
    /// release: refused by the fence, failed, cancelled) was followed by
    /// another grabber's acquisition: they may have overlapped, so
    /// `proven` is then only a lower bound.
    pub complete: bool,
}

impl JournalOverlaps {
    /// The exact count, when the journal can give it.
    pub fn exact(self) -> Option<u64> {
        self.complete.then_some(self.proven)
    }
}

/// Moments two grabbers held one lock, as the journal proves them: a
/// grabber's acquisition acknowledged (stamped) strictly before an earlier
/// holder's write of the resource was acknowledged. Both then believed they
/// held the lock at that instant. Counted once per entering grabber, as the
/// holder registry counts.
pub fn journal_violations(sections: &[Section]) -> JournalOverlaps {
    let mut open_until = 0u64;
    // The holder of a section with no known end, until its next section.
    let mut endless: Option<u64> = None;
    let mut out = JournalOverlaps {
        proven: 0,
        complete: true,
    };
    for s in sections {
        if endless.is_some_and(|u| u != s.acquired.user) {
            out.complete = false;
        }
        endless = None;
        if s.acquired.at_ms < open_until {
            out.proven += 1;
        }
        match s.write {
            Some(w) => open_until = open_until.max(w.at_ms),
            None if !s.released => endless = Some(s.acquired.user),
            None => {}
        }
    }
    out
}

/// Acknowledged writes of one counter that Redis provably no longer holds.
/// `counter` is what Redis holds (`None`: the key is gone). Let X be the
/// section of the last acknowledged write of the value Redis holds: a write
/// whose lock was acquired after X's write was acknowledged ran after X's
/// in Redis, so Redis holding X's value means it lost that write. In the
/// same millisecond as X's write, only when X then released its own lock
/// (X held it without a break until that release, so the later holder's
/// acquire ran after it) or the section is X's own grabber's next one. Writes that overlapped X's section may have run
/// before it: a stale holder overwriting a newer value is a lost update
/// (counted apart), never a lost write. A key that is gone lost every
/// acknowledged write; a value nobody was acknowledged for proves nothing.
pub fn missing_writes<'a>(
    sections: &[Section<'a>],
    counter: Option<i64>,
) -> Vec<&'a JournalRecord> {
    let writes = || sections.iter().filter_map(|s| Some((s, s.write?)));
    let Some(counter) = counter else {
        return writes().map(|(_, w)| w).collect();
    };
    let Some((x, x_write)) = writes()
        .filter(|(_, w)| w.value == counter)
        .max_by_key(|(_, w)| w.at_ms)
    else {
        return Vec::new();
    };
    writes()
        .filter(|(s, w)| {
            // X's own grabber runs its sections one after the other.
            let same_holder = s.acquired.user == x.acquired.user;
            let after = s.acquired.at_ms > x_write.at_ms
                || (s.acquired.at_ms == x_write.at_ms
                    && (x.released || same_holder)
                    && !std::ptr::eq(s.acquired, x.acquired));
            after && w.value != counter
        })
        .map(|(_, w)| w)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(op: JournalOp, at_ms: u64, user: u64, value: i64) -> JournalRecord {
        JournalRecord {
            at_ms,
            op,
            key: "k".into(),
            round: 0,
            user,
            value,
            pos: 0,
            node: "redis-1".into(),
        }
    }

    const ACQ: JournalOp = JournalOp::LockAcquired(LockKind::Safe);
    const REL: JournalOp = JournalOp::LockReleased(LockKind::Safe);
    const WRITE: JournalOp = JournalOp::ResourceWrite(LockKind::Safe);

    /// (acquired at, written at, value, user) per section, one lock.
    fn journal(s: &[(u64, u64, i64, u64)]) -> Vec<JournalRecord> {
        s.iter()
            .flat_map(|(a, w, v, u)| {
                [
                    rec(ACQ, *a, *u, 1),
                    rec(WRITE, *w, *u, *v),
                    rec(REL, *w, *u, 1),
                ]
            })
            .collect()
    }

    fn check(j: &[JournalRecord], counter: Option<i64>) -> (u64, Vec<i64>) {
        let refs: Vec<&JournalRecord> = j.iter().collect();
        let s = sections_of(&refs);
        (
            journal_violations(&s).exact().unwrap(),
            missing_writes(&s, counter)
                .iter()
                .map(|r| r.value)
                .collect(),
        )
    }

    #[test]
    fn hand_overs_in_the_same_millisecond_are_not_violations() {
        let j = journal(&[(0, 10, 1, 1), (10, 20, 2, 2), (20, 20, 3, 3)]);
        assert_eq!(check(&j, Some(3)), (0, vec![]));
    }

    #[test]
    fn an_acquisition_before_the_holder_wrote_is_a_violation() {
        // 2 gets the lock at 50 while 1 (acquired at 0) writes only at 80;
        // 3 enters at 60 too: two violations, whoever wrote last.
        let j = journal(&[(0, 80, 1, 1), (50, 90, 1, 2), (60, 95, 2, 3)]);
        assert_eq!(check(&j, Some(2)).0, 2);
        // A section without an acknowledged write, followed by another
        // holder: the journal cannot tell whether they overlapped.
        let j = [rec(ACQ, 0, 1, 1), rec(ACQ, 5, 2, 1)];
        let refs: Vec<&JournalRecord> = j.iter().collect();
        assert_eq!(journal_violations(&sections_of(&refs)).exact(), None);
        // Released without a write (a refused fence): it ended before.
        let j = [rec(ACQ, 0, 1, 1), rec(REL, 3, 1, 1), rec(ACQ, 5, 2, 1)];
        let refs: Vec<&JournalRecord> = j.iter().collect();
        assert_eq!(journal_violations(&sections_of(&refs)).exact(), Some(0));
    }

    #[test]
    fn a_rolled_back_counter_loses_the_writes_acquired_after_its_value() {
        let j = journal(&[(0, 1, 1, 1), (2, 3, 2, 2), (4, 5, 3, 3), (6, 7, 4, 4)]);
        assert_eq!(check(&j, Some(2)).1, vec![3, 4]);
        assert_eq!(check(&j, Some(4)).1, Vec::<i64>::new());
        // The key is gone: every acknowledged write with it.
        assert_eq!(check(&j, None).1.len(), 4);
        // A value nobody was acknowledged for proves nothing.
        assert!(check(&j, Some(0)).1.is_empty());
        // Hand-overs in the millisecond of the write: after a release, or
        // by the same grabber, the next write ran later.
        let j = journal(&[(0, 5, 1, 1), (5, 6, 2, 2), (6, 6, 3, 2), (6, 9, 4, 3)]);
        assert_eq!(check(&j, Some(1)).1, vec![2, 3, 4]);
    }

    #[test]
    fn a_stale_overwrite_is_a_lost_update_not_a_lost_write() {
        // A (slow, its TTL ran out) and B both read 10; B writes 11, C
        // writes 12, then A writes its stale 11: Redis holds A's 11, and
        // C's 12 overlapped A's section, so it may have run first.
        let j = journal(&[(0, 300, 11, 1), (100, 110, 11, 2), (120, 130, 12, 3)]);
        assert_eq!(check(&j, Some(11)).1, Vec::<i64>::new());
        assert_eq!(check(&j, Some(11)).0, 2);
    }

    #[test]
    fn a_naive_grabber_that_died_never_entered() {
        let naive = JournalOp::LockAcquired(LockKind::Naive);
        let j = [rec(naive, 0, 1, 0), rec(naive, 5, 2, 1)];
        let refs: Vec<&JournalRecord> = j.iter().collect();
        assert_eq!(sections_of(&refs).len(), 1);
    }
}
