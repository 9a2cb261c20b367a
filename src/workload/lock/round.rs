//! One lock grabber's round: pick a lock key, acquire it (bounded retries
//! with jittered backoff), run the critical section under the holder
//! registry's eye, release. Every Redis call is timed into the grabber's
//! recorder through its [`GrabberCtx`]; every acknowledged step is journaled.

use super::ops::{self, Fenced, LockKeys};
use super::registry::HolderRegistry;
use super::{holder_name, KindState, LockWorkload};
use crate::audit::journal::JournalOp;
use crate::metrics::recorder::{LockStep, OpKind};
use crate::metrics::EventKind;
use crate::workload::grabber::GrabberCtx;
use crate::workload::LockKind;
use rand::Rng;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// The retry backoff doubles from `retry_ms` up to this many times it.
pub const MAX_BACKOFF_FACTOR: u64 = 32;

/// How one round of a lock grabber ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockRound {
    /// Held the lock and ran the critical section (`wrote`: its write was
    /// acknowledged; false when the fenced resource refused it as stale).
    Done { wrote: bool },
    /// Gave up after `max_wait_ms` of refused attempts.
    GaveUp,
    /// Naive lock: died between SETNX and EXPIRE. The grabber is dead: later
    /// rounds do nothing.
    Died,
    /// The run was cancelled mid-round.
    Cancelled,
    /// A Redis error ended the round (recorded and classified by the ctx);
    /// a held lock is left to its TTL.
    Failed,
}

/// A lock grabber's own state: its kind, owner token and liveness. Owned by
/// its task; the shared parts live in [`LockWorkload`].
pub struct LockGrabber {
    pub(super) slot: usize,
    /// Owner token written into the lock: host:pid:g<task id>:<random>.
    pub(super) owner: String,
    pub(super) dead: bool,
    pub(super) rounds: u64,
}

impl LockGrabber {
    /// The owner token this grabber writes into its locks.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Rounds completed (acquired or gave up).
    pub fn rounds(&self) -> u64 {
        self.rounds
    }
}

/// Leaves the registry when dropped: on the normal path, on an error, and
/// when the round's future is dropped by a cancellation.
struct Inside<'a> {
    registry: &'a HolderRegistry,
    key: usize,
    holder: u32,
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.registry.leave(self.key, self.holder);
    }
}

/// Counts a waiter for as long as it lives.
struct Waiting<'a>(&'a AtomicI64);

impl<'a> Waiting<'a> {
    fn new(gauge: &'a AtomicI64) -> Waiting<'a> {
        gauge.fetch_add(1, Ordering::Relaxed);
        Waiting(gauge)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What an acquisition returned that the rest of the round needs.
enum Held {
    Lock,
    /// Fenced lock: the fencing token.
    Fence(u64),
}

/// A Redis error in a round, already recorded in the ctx.
struct RoundError;

/// Runs one lock call (`|conn| future`) on the ctx's connection, recording
/// its latency under the kind's `step`, or the classified error (which also
/// tells the pool and ends the round with [`RoundError`]). A macro rather
/// than a function taking a closure, so the future stays provably `Send`.
macro_rules! lock_call {
    ($ctx:expr, $state:expr, $step:expr, $write:expr, |$c:ident| $body:expr) => {{
        let op = OpKind::Lock($state.kind, $step);
        let started = Instant::now();
        let result = {
            let $c = $ctx.conn();
            $body.await
        };
        match result {
            Ok(v) => {
                $ctx.record_ok(op, started.elapsed(), $write);
                Ok(v)
            }
            Err(e) => {
                $ctx.record_err(op, started.elapsed(), &e);
                $state.errors.fetch_add(1, Ordering::Relaxed);
                Err(RoundError)
            }
        }
    }};
}

impl LockWorkload {
    /// One round: pick a lock key, acquire it (retrying with backoff for at
    /// most `max_wait_ms`), run the critical section, release.
    pub async fn round(&self, ctx: &mut GrabberCtx, me: &mut LockGrabber) -> LockRound {
        if me.dead {
            return LockRound::Died;
        }
        match self.try_round(ctx, me).await {
            Ok(r) => {
                if matches!(r, LockRound::Done { .. } | LockRound::GaveUp) {
                    me.rounds += 1;
                }
                r
            }
            Err(RoundError) => LockRound::Failed,
        }
    }

    async fn try_round(
        &self,
        ctx: &mut GrabberCtx,
        me: &mut LockGrabber,
    ) -> Result<LockRound, RoundError> {
        let state = &self.kinds[me.slot];
        let config = &self.config;
        let kind = state.kind;
        let key = ctx.rng.random_range(0..state.keys.len());
        let keys = &state.keys[key];

        // Acquire, bounded in time.
        let waiting = Waiting::new(&state.waiters);
        let wait_start = Instant::now();
        let max_wait = Duration::from_millis(config.max_wait_ms);
        let mut backoff = config.retry_ms.max(1);
        let (held, sent) = loop {
            // The TTL starts when Redis runs the acquire, after this instant.
            let sent = Instant::now();
            state.attempts.fetch_add(1, Ordering::Relaxed);
            if let Some(held) = self.try_acquire(ctx, me, state, key).await? {
                break (held, sent);
            }
            if me.dead {
                return Ok(LockRound::Died);
            }
            state.refused.fetch_add(1, Ordering::Relaxed);
            let pause = Duration::from_millis(ctx.rng.random_range(backoff.div_ceil(2)..=backoff));
            if wait_start.elapsed() + pause > max_wait {
                state.failed.fetch_add(1, Ordering::Relaxed);
                ctx.record_timing(OpKind::Lock(kind, LockStep::Wait), wait_start.elapsed());
                return Ok(LockRound::GaveUp);
            }
            if !ctx.sleep(pause).await {
                return Ok(LockRound::Cancelled);
            }
            backoff = (backoff * 2).min(config.retry_ms.max(1) * MAX_BACKOFF_FACTOR);
        };
        drop(waiting);
        ctx.record_timing(OpKind::Lock(kind, LockStep::Wait), wait_start.elapsed());
        state.acquired.fetch_add(1, Ordering::Relaxed);
        let acquired_value = match held {
            Held::Fence(token) => token as i64,
            Held::Lock => 1,
        };
        ctx.journal(
            JournalOp::LockAcquired(kind),
            key as u64,
            ctx.id as u64,
            acquired_value,
            0,
        )
        .await;

        // The critical section, watched by the registry.
        let entered = Instant::now();
        let holder = ctx.id as u32;
        let others = state.registry.enter(key, holder);
        let inside = Inside {
            registry: &state.registry,
            key,
            holder,
        };
        if !others.is_empty() {
            self.violation(ctx, state, key, &others, ctx.id);
        }
        let wrote = match self.critical_section(ctx, me, state, keys, &held).await? {
            Some(wrote) => wrote,
            None => return Ok(LockRound::Cancelled),
        };
        if let Some(value) = wrote {
            ctx.journal(
                JournalOp::ResourceWrite(kind),
                key as u64,
                ctx.id as u64,
                value,
                0,
            )
            .await;
        }
        // Leave before releasing: once the release is sent a successor may
        // enter, and that must not look like an overlap.
        drop(inside);
        ctx.record_timing(OpKind::Lock(kind, LockStep::Hold), entered.elapsed());

        let released = self.release(ctx, me, state, keys).await?;
        if released {
            ctx.journal(
                JournalOp::LockReleased(kind),
                key as u64,
                ctx.id as u64,
                1,
                0,
            )
            .await;
        } else {
            state.expired_before_release.fetch_add(1, Ordering::Relaxed);
            if sent.elapsed() >= Duration::from_millis(config.ttl_ms) {
                state.ttl_expired_while_held.fetch_add(1, Ordering::Relaxed);
            } else if kind != LockKind::Naive {
                // Sooner than the TTL after the acquire was sent: Redis
                // cannot have expired it, so the grant itself is gone. (A
                // naive lock can also be deleted by another holder's
                // GET-then-DEL release: no evidence against Redis there.)
                state
                    .vanished
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((key as u64, ctx.id as u64, ctx.now_ms()));
            }
        }
        Ok(LockRound::Done {
            wrote: wrote.is_some(),
        })
    }

    /// One acquire attempt: `Some` when the lock is ours. A naive grabber
    /// chosen to die returns `None` with `me.dead` set.
    async fn try_acquire(
        &self,
        ctx: &mut GrabberCtx,
        me: &mut LockGrabber,
        state: &KindState,
        key: usize,
    ) -> Result<Option<Held>, RoundError> {
        let ttl = self.config.ttl_ms;
        let keys = &state.keys[key];
        let owner = me.owner.as_str();
        match state.kind {
            LockKind::Naive => {
                let taken = lock_call!(ctx, state, LockStep::Acquire, true, |c| ops::naive_setnx(
                    c, &keys.lock, owner
                ))?;
                if !taken {
                    return Ok(None);
                }
                if self.config.die_between > 0
                    && ctx.rng.random_bool(self.config.die_probability)
                    && self.take_death()
                {
                    // The grabber "crashes" here: EXPIRE is never sent.
                    me.dead = true;
                    state.died.fetch_add(1, Ordering::Relaxed);
                    ctx.journal(
                        JournalOp::LockAcquired(state.kind),
                        key as u64,
                        ctx.id as u64,
                        0,
                        0,
                    )
                    .await;
                    tracing::info!(grabber = ctx.id, lock = %keys.lock, "naive grabber died between SETNX and EXPIRE");
                    ctx.bus.emit(
                        "locks",
                        EventKind::Note {
                            text: format!(
                                "{} died between SETNX and EXPIRE on {}: that lock has no TTL and will never be released",
                                holder_name(ctx.id),
                                keys.lock
                            ),
                        },
                    );
                    return Ok(None);
                }
                lock_call!(ctx, state, LockStep::Acquire, true, |c| ops::naive_expire(
                    c, &keys.lock, ttl
                ))?;
                Ok(Some(Held::Lock))
            }
            LockKind::Safe => {
                let taken =
                    lock_call!(ctx, state, LockStep::Acquire, true, |c| ops::safe_acquire(
                        c, &keys.lock, owner, ttl
                    ))?;
                Ok(taken.then_some(Held::Lock))
            }
            LockKind::Reentrant => {
                let count = lock_call!(ctx, state, LockStep::Acquire, true, |c| {
                    ops::reentrant_acquire(c, &keys.lock, owner, ttl)
                })?;
                Ok((count >= 1).then_some(Held::Lock))
            }
            LockKind::Fenced => {
                let token =
                    lock_call!(
                        ctx,
                        state,
                        LockStep::Acquire,
                        true,
                        |c| ops::fenced_acquire(c, keys, owner, ttl)
                    )?;
                Ok(token.map(Held::Fence))
            }
        }
    }

    /// The read-modify-write on the protected counter, holding for `hold_ms`
    /// between read and write. `Some(Some(value))` when the write of `value`
    /// was acknowledged, `Some(None)` when the fence refused it, `None` when
    /// cancelled during the hold.
    async fn critical_section(
        &self,
        ctx: &mut GrabberCtx,
        me: &LockGrabber,
        state: &KindState,
        keys: &LockKeys,
        held: &Held,
    ) -> Result<Option<Option<i64>>, RoundError> {
        let hold = Duration::from_millis(self.config.hold_ms);
        let ttl = self.config.ttl_ms;
        let owner = me.owner.as_str();
        match held {
            Held::Fence(token) => {
                let token = *token;
                let read =
                    lock_call!(ctx, state, LockStep::Resource, false, |c| ops::fenced_read(
                        c, keys, token
                    ))?;
                let Fenced::Served(value) = read else {
                    state.stale.fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(None));
                };
                if !ctx.sleep(hold).await {
                    return Ok(None);
                }
                let write =
                    lock_call!(ctx, state, LockStep::Resource, true, |c| ops::fenced_write(
                        c,
                        keys,
                        token,
                        value + 1
                    ))?;
                if write != Fenced::Served(()) {
                    state.stale.fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(None));
                }
                Ok(Some(Some(value + 1)))
            }
            Held::Lock => {
                if state.kind == LockKind::Reentrant {
                    // Re-enter the lock we hold, as nested code would.
                    let count = lock_call!(ctx, state, LockStep::Acquire, true, |c| {
                        ops::reentrant_acquire(c, &keys.lock, owner, ttl)
                    })?;
                    if count == 2 {
                        state.reentries.fetch_add(1, Ordering::Relaxed);
                    }
                    if count >= 1 {
                        lock_call!(ctx, state, LockStep::Release, true, |c| {
                            ops::reentrant_release(c, &keys.lock, owner, ttl)
                        })?;
                    }
                }
                let value =
                    lock_call!(ctx, state, LockStep::Resource, false, |c| ops::counter_get(
                        c, keys
                    ))?;
                if !ctx.sleep(hold).await {
                    return Ok(None);
                }
                lock_call!(ctx, state, LockStep::Resource, true, |c| ops::counter_set(
                    c,
                    keys,
                    value + 1
                ))?;
                Ok(Some(Some(value + 1)))
            }
        }
    }

    /// Releases the lock; false when it was no longer ours.
    async fn release(
        &self,
        ctx: &mut GrabberCtx,
        me: &LockGrabber,
        state: &KindState,
        keys: &LockKeys,
    ) -> Result<bool, RoundError> {
        let ttl = self.config.ttl_ms;
        let owner = me.owner.as_str();
        match state.kind {
            LockKind::Naive => {
                lock_call!(ctx, state, LockStep::Release, true, |c| ops::naive_release(
                    c, &keys.lock, owner
                ))
            }
            LockKind::Safe | LockKind::Fenced => {
                lock_call!(ctx, state, LockStep::Release, true, |c| {
                    ops::compare_and_delete(c, &keys.lock, owner)
                })
            }
            LockKind::Reentrant => {
                let left = lock_call!(ctx, state, LockStep::Release, true, |c| {
                    ops::reentrant_release(c, &keys.lock, owner, ttl)
                })?;
                Ok(left.is_some())
            }
        }
    }
}
