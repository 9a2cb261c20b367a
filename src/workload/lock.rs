//! Distributed locks: the lock workload and its exact bookkeeping.
//!
//! Four lock kinds ([`LockKind`]) protect the same thing: K lock keys, each
//! guarding a counter that the critical section increments by
//! read-modify-write (GET, hold for `hold_ms`, SET value+1; through the fence
//! scripts for the fenced lock). Grabbers contend for a random key, retry with
//! a small jittered backoff for at most `max_wait_ms`, then give up.
//!
//! - `naive`: `SETNX` then `PEXPIRE`, two commands. The lab can make grabbers
//!   die between them (`die_between` of them, each acquisition dying with
//!   `die_probability` drawn from the grabber's seeded rng): such a lock has
//!   no TTL and nobody will ever release it; the audit finds it (PTTL -1).
//! - `safe`: `SET key token NX PX ttl`, released by compare-and-delete Lua.
//!   The token is host + process + grabber (task) id + a random part, as the
//!   tutorial suggests, so a release never removes someone else's lock.
//! - `reentrant`: owner and hold count in a hash (Lua); the critical section
//!   re-enters the lock it holds (count 2, then back to 1) before working.
//! - `fenced`: the acquire script issues a fencing token (`INCR`) with the
//!   lock; the resource is read and written only through scripts that refuse
//!   a token older than the highest they have served (`stale_tokens_refused`).
//!
//! # Observing overlaps exactly, cheaply
//!
//! All grabbers live in this process, so safety is observed, not inferred:
//! [`registry::HolderRegistry`] records who is inside each critical section;
//! a grabber entering while another is inside is a violation, counted with
//! its time (ms since the run started) and the holders' names, and emitted as
//! [`EventKind::LockViolation`] on the bus. The report's count is the one the
//! journal proves ([`audit::journal_violations`]), so `grabstorm audit DIR`
//! finds the same number; the registry's is kept beside it.
//!
//! A release that finds the lock gone or someone else's is classified with
//! the client's clock alone, no margin: held longer than the TTL, the TTL
//! ran out while the holder was slow (a lock-safety event, counted apart);
//! released sooner than the TTL after the acquire was *sent*, Redis cannot
//! have expired it, so the acknowledged grant vanished (a lost write). The registry's per-key mutex is
//! taken only at the two critical-section boundaries and never held across
//! an `.await`; the counters are relaxed atomics; latencies and the wait and
//! hold times go into the grabber's own recorder through [`GrabberCtx`] (no
//! lock, no allocation per operation). Every acknowledged acquire, resource
//! write and release is journaled, so the audit (lost updates, lost
//! acknowledged writes, locks granted twice, locks without TTL) works from
//! the journal alone.
//!
//! # Files
//!
//! [`config`] the flags and settings; [`ops`] the Redis side (keys, Lua,
//! one function per lock step); [`registry`] the overlap detector; [`round`]
//! one grabber's acquire / critical section / release; [`audit`] the checks
//! after the run. This file holds the shared state and the [`Workload`] impl.
//!
//! # Use
//!
//! [`LockWorkload::new`] once per run, then the engine drives it through the
//! [`Workload`] trait (`new_grabber`, `step`, `fill_snapshot`, `audit`).

pub mod audit;
pub mod config;
pub mod ops;
pub mod registry;
pub mod round;

pub use audit::{journal_violations, missing_writes, sections_of, JournalOverlaps, Section};
pub use config::{LockConfig, LockConfigError};
pub use round::{LockGrabber, LockRound};

use crate::audit::journal::JournalRecord;
use crate::metrics::recorder::{LockStep, OpKind};
use crate::metrics::{EventKind, LatencySummary, LockView, LockViolation, Snapshot};
use crate::report::model::Report;
use crate::workload::grabber::{GrabberCtx, KeySpace, Step, Workload};
pub use crate::workload::LockKind;
use ops::LockKeys;
use redis::aio::ConnectionLike;
use redis::RedisError;
use registry::HolderRegistry;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Violations kept with their details per kind (the count is exact).
pub const RECENT_VIOLATIONS: usize = 8;

/// Shared state of one kind: counters (relaxed atomics), the holder registry,
/// the keys, and the rare details of violations.
struct KindState {
    kind: LockKind,
    keys: Vec<LockKeys>,
    registry: HolderRegistry,
    attempts: AtomicU64,
    acquired: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
    violations: AtomicU64,
    stale: AtomicU64,
    expired_before_release: AtomicU64,
    /// Of those, the ones that had held the lock for longer than its TTL.
    ttl_expired_while_held: AtomicU64,
    /// Of those, the ones that found it gone before the TTL could have run
    /// out: (lock index, grabber id, ms of the release) of each, rare.
    vanished: Mutex<Vec<(u64, u64, u64)>>,
    reentries: AtomicU64,
    died: AtomicU64,
    errors: AtomicU64,
    waiters: AtomicI64,
    recent: Mutex<VecDeque<LockViolation>>,
    /// (elapsed ms, acquired) at the previous view, for the rate.
    rate_mark: Mutex<(u64, u64)>,
}

impl KindState {
    fn new(kind: LockKind, config: &LockConfig, space: &KeySpace) -> KindState {
        let keys: Vec<LockKeys> = (0..config.keys)
            .map(|i| LockKeys::new(space, kind, i as u64))
            .collect();
        KindState {
            kind,
            registry: HolderRegistry::new(keys.len()),
            keys,
            attempts: AtomicU64::new(0),
            acquired: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            violations: AtomicU64::new(0),
            stale: AtomicU64::new(0),
            expired_before_release: AtomicU64::new(0),
            ttl_expired_while_held: AtomicU64::new(0),
            vanished: Mutex::new(Vec::new()),
            reentries: AtomicU64::new(0),
            died: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            waiters: AtomicI64::new(0),
            recent: Mutex::new(VecDeque::with_capacity(RECENT_VIOLATIONS)),
            rate_mark: Mutex::new((0, 0)),
        }
    }

    fn recent(&self) -> Vec<LockViolation> {
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// The lock workload of one run, shared by all lock grabbers (`Arc`).
pub struct LockWorkload {
    config: LockConfig,
    space: KeySpace,
    kinds: Vec<KindState>,
    /// Host part of owner tokens.
    host: String,
    /// Naive lock: deaths between SETNX and EXPIRE still to happen.
    deaths_left: AtomicU64,
    /// Round-robin assignment of kinds to grabbers, exact whatever the
    /// grabber ids are (the mixed workload hands locks a strided subset).
    next_slot: AtomicUsize,
    /// Set once a grabber ran here: the in-process counters are meaningful
    /// (false in `grabstorm audit DIR`, which has only the journal).
    ran: AtomicBool,
    /// Lost updates per kind slot, from the last audit (for the live view).
    audited_lost: Vec<AtomicU64>,
}

/// Name of a grabber in violations and events.
pub fn holder_name(grabber: usize) -> String {
    format!("grabber-{grabber}")
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

impl LockWorkload {
    /// The lock workload for `config` (validated) on the run's keys.
    pub fn new(config: LockConfig, space: &KeySpace) -> Result<LockWorkload, LockConfigError> {
        config.validate()?;
        Ok(LockWorkload {
            kinds: config
                .kinds
                .iter()
                .map(|k| KindState::new(*k, &config, space))
                .collect(),
            audited_lost: config.kinds.iter().map(|_| AtomicU64::new(0)).collect(),
            deaths_left: AtomicU64::new(config.die_between),
            host: host_name(),
            next_slot: AtomicUsize::new(0),
            ran: AtomicBool::new(false),
            space: space.clone(),
            config,
        })
    }

    pub fn config(&self) -> &LockConfig {
        &self.config
    }

    /// The Redis keys of lock `index` of `kind` (None when the kind does not run).
    pub fn keys(&self, kind: LockKind, index: usize) -> Option<&LockKeys> {
        self.kinds
            .iter()
            .find(|s| s.kind == kind)
            .and_then(|s| s.keys.get(index))
    }

    /// Deletes every key the lock workload uses (runs have their own key
    /// space, so this matters only when a key space is reused). One `DEL`
    /// per key in one pipeline: on a cluster the keys live in many slots,
    /// and the client splits the pipeline per node.
    pub async fn prepare<C: ConnectionLike + Send>(&self, conn: &mut C) -> Result<(), RedisError> {
        let mut del = redis::pipe();
        for s in &self.kinds {
            for k in &s.keys {
                for key in k.all() {
                    del.cmd("DEL").arg(key).ignore();
                }
            }
        }
        let () = ops::timed(del.query_async(conn)).await?;
        Ok(())
    }

    fn make_grabber(&self, slot: usize, id: usize, random: u64) -> LockGrabber {
        self.ran.store(true, Ordering::Relaxed);
        LockGrabber {
            owner: format!(
                "{}:{}:g{}:{:016x}",
                self.host,
                std::process::id(),
                id,
                random
            ),
            slot,
            dead: false,
            rounds: 0,
        }
    }

    fn take_death(&self) -> bool {
        self.deaths_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Records a violation: `holder` entered lock `key` while `others` were inside.
    fn violation(
        &self,
        ctx: &GrabberCtx,
        state: &KindState,
        key: usize,
        others: &[u32],
        holder: usize,
    ) {
        state.violations.fetch_add(1, Ordering::Relaxed);
        let mut holders: Vec<String> = others.iter().map(|h| holder_name(*h as usize)).collect();
        holders.push(holder_name(holder));
        let lock = state.keys[key].lock.clone();
        let event = ctx.bus.emit(
            "locks",
            EventKind::LockViolation {
                lock: lock.clone(),
                holders: holders.clone(),
            },
        );
        let mut recent = state.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_VIOLATIONS {
            recent.pop_front();
        }
        recent.push_back(LockViolation {
            at_ms: event.at_ms,
            lock,
            holders,
        });
    }

    /// Views for the snapshot, one per kind. `elapsed_ms` is the run clock
    /// (rates are measured between calls); `timing` gives the whole-run
    /// summary of an operation (the wait and hold times); lost updates show
    /// the last audit (0 while the load runs).
    pub fn views(
        &self,
        elapsed_ms: u64,
        timing: impl Fn(OpKind) -> LatencySummary,
    ) -> Vec<LockView> {
        self.kinds
            .iter()
            .enumerate()
            .map(|(slot, s)| {
                let acquired = s.acquired.load(Ordering::Relaxed);
                let per_s = {
                    let mut mark = s.rate_mark.lock().unwrap_or_else(|e| e.into_inner());
                    let dt = elapsed_ms.saturating_sub(mark.0);
                    let rate = if dt == 0 {
                        0.0
                    } else {
                        acquired.saturating_sub(mark.1) as f64 * 1000.0 / dt as f64
                    };
                    if dt > 0 {
                        *mark = (elapsed_ms, acquired);
                    }
                    rate
                };
                LockView {
                    kind: s.kind,
                    holders: s.registry.holders() as u64,
                    waiters: s.waiters.load(Ordering::Relaxed).max(0) as u64,
                    attempts: s.attempts.load(Ordering::Relaxed),
                    acquired,
                    refused: s.refused.load(Ordering::Relaxed),
                    failed: s.failed.load(Ordering::Relaxed),
                    ttl_expired_while_held: s.ttl_expired_while_held.load(Ordering::Relaxed),
                    locks_lost: s.vanished.lock().unwrap_or_else(|e| e.into_inner()).len() as u64,
                    acquisitions_per_s: per_s,
                    violations: s.violations.load(Ordering::Relaxed),
                    lost_updates: self.audited_lost[slot].load(Ordering::Relaxed),
                    stale_tokens_refused: s.stale.load(Ordering::Relaxed),
                    wait: timing(OpKind::Lock(s.kind, LockStep::Wait)),
                    hold: timing(OpKind::Lock(s.kind, LockStep::Hold)),
                    last_violations: s.recent(),
                }
            })
            .collect()
    }
}

impl Workload for LockWorkload {
    type Grabber = LockGrabber;

    /// Kinds are dealt round-robin in the order grabbers first run here.
    fn new_grabber(&self, ctx: &GrabberCtx) -> LockGrabber {
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed) % self.kinds.len();
        // The owner's random part comes from the seed and the grabber id
        // (ctx is shared here, so its rng cannot be advanced).
        let random = ctx.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
            ^ (ctx.id as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.make_grabber(slot, ctx.id, random)
    }

    async fn step(&self, ctx: &mut GrabberCtx, me: &mut LockGrabber) -> Step {
        if ctx.until_done && me.rounds >= self.config.rounds {
            return Step::Done;
        }
        match self.round(ctx, me).await {
            LockRound::Died => {
                // A dead process does nothing; wake now and then so the
                // engine can stop or switch workload.
                ctx.sleep(Duration::from_millis(250)).await;
                if ctx.until_done {
                    Step::Done
                } else {
                    Step::Continue
                }
            }
            LockRound::Failed => {
                ctx.back_off().await;
                Step::Continue
            }
            LockRound::Cancelled => Step::Continue,
            LockRound::Done { .. } | LockRound::GaveUp => {
                if ctx.until_done && me.rounds >= self.config.rounds {
                    Step::Done
                } else {
                    Step::Continue
                }
            }
        }
    }

    /// Fills `snap.locks`; wait and hold summaries come from `snap.ops`
    /// (`lock.<kind>.wait` / `.hold`), so fill the ops first.
    fn fill_snapshot(&self, snap: &mut Snapshot) {
        let ops = &snap.ops;
        let views = self.views(snap.elapsed_ms, |op| {
            ops.iter()
                .find(|o| o.name == op.name())
                .map(|o| o.latency.clone())
                .unwrap_or_default()
        });
        snap.locks = views;
    }

    async fn audit<C: ConnectionLike + Send>(
        &self,
        conn: &mut C,
        journal: &[JournalRecord],
        report: &mut Report,
        lost: &mut Vec<JournalRecord>,
    ) -> anyhow::Result<()> {
        use anyhow::Context;
        self.audit_journal(conn, journal, report, lost)
            .await
            .context("auditing the lock workload against Redis")
    }
}
