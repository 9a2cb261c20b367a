//! One grabber's context ([`GrabberCtx`]) and the contract a workload
//! implements to plug into the engine ([`Workload`]).
//!
//! # How a workload plugs in
//!
//! A workload (red packets, seckill, locks) is one value shared by all
//! grabbers (`Arc`), holding its configuration and live counters, plus a
//! small per-grabber state ([`Workload::Grabber`]) owned by each grabber
//! task. The engine spawns the grabber tasks; each one loops:
//!
//! ```text
//! loop {
//!     stop if cancelled, the grabber was removed, or the run is over;
//!     wait while paused;
//!     wait for a call slot (the in-flight cap; see GrabberCtx::reserve_call);
//!     pick the workload (the current kind; `mixed` splits by grabber id);
//!     workload.step(&mut ctx, &mut my_state).await   // one unit of work
//! }
//! ```
//!
//! A `step` does one unit of work (one grab, one purchase, one
//! acquire-hold-release) and returns [`Step::Continue`], or [`Step::Done`]
//! when this grabber has nothing left to do in `--until-done` runs (the run
//! ends when every grabber is done). Sleeps inside a step go through
//! [`GrabberCtx::sleep`], which returns early on cancellation.
//!
//! Every Redis call goes through [`GrabberCtx::query`] / [`GrabberCtx::invoke`]
//! (or, for hand-built calls, [`GrabberCtx::conn`] + [`GrabberCtx::record_ok`] /
//! [`GrabberCtx::record_err`]): they apply the operation timeout, record the
//! latency in the grabber's own recorder (no lock), classify errors into an
//! [`ErrorClass`] and tell the pool about failures so it can re-resolve the
//! master. Every acknowledged write is journaled with [`GrabberCtx::journal`].
//! Keys come from [`KeySpace`], so every run's keys are separate.
//!
//! A workload also fills its part of the [`Snapshot`] on the aggregator tick
//! ([`Workload::fill_snapshot`], must be cheap: read atomics) and, after the
//! run, checks the journal against Redis ([`Workload::audit`]), writing its
//! section of the [`Report`] (which must work from a journal alone, for
//! `grabstorm audit DIR`).

use crate::audit::journal::{Ack, JournalOp, JournalRecord, JournalSender};
use crate::client::{Generation, LabConn, MasterPool};
use crate::metrics::recorder::{OpKind, Recorder};
use crate::metrics::{ErrorClass, EventBus, Snapshot};
use crate::report::model::Report;
use crate::topology::admin::errors::{classify, ConnectionFate, RedisFailure};
use crate::workload::rounds::GrabberRng;
use crate::workload::LockKind;
use redis::aio::ConnectionLike;
use redis::{FromRedisValue, RedisError};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Longest a single Redis call may take before it counts as a timeout.
pub const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// What a step tells the grabber loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Continue,
    /// This grabber has nothing left to do (`--until-done`).
    Done,
}

/// The contract of a workload; see the module doc.
pub trait Workload: Send + Sync + 'static {
    /// Per-grabber state, created lazily the first time a grabber runs this workload.
    type Grabber: Send + 'static;

    fn new_grabber(&self, ctx: &GrabberCtx) -> Self::Grabber;

    /// One unit of work.
    fn step(
        &self,
        ctx: &mut GrabberCtx,
        me: &mut Self::Grabber,
    ) -> impl Future<Output = Step> + Send;

    /// Writes this workload's live view into the snapshot (`redpacket`,
    /// `seckill` or `locks`). Called on the aggregator tick; must not block.
    fn fill_snapshot(&self, snap: &mut Snapshot);

    /// After the run settled: checks `journal` (this run's acknowledged
    /// writes, all ops) against what Redis holds through `conn`, and writes
    /// this workload's section of `report`, including the lost
    /// acknowledged writes it found (appended to `lost`).
    fn audit<C: ConnectionLike + Send>(
        &self,
        conn: &mut C,
        journal: &[JournalRecord],
        report: &mut Report,
        lost: &mut Vec<JournalRecord>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The prefix of every key a run touches unless `--prefix` says otherwise.
pub const DEFAULT_PREFIX: &str = "gs";

/// Checks a user's key prefix: 1 to 64 printable characters, no spaces
/// and no braces (a brace would turn part of the prefix into the hash
/// tag, and every key of a run into one slot).
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > 64 {
        return Err(format!("{prefix:?}: a key prefix has 1 to 64 characters"));
    }
    if let Some(c) = prefix
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '{' | '}'))
    {
        return Err(format!(
            "{prefix:?}: {c:?} is not allowed in a key prefix (no spaces, control characters or braces)"
        ));
    }
    Ok(())
}

/// The keys of one run: every key starts with `<prefix>:<run id>:`, the
/// prefix `gs` unless the user chose one (`--prefix`): nothing outside
/// it is ever written, read or deleted. With hash
/// tags (cluster mode's default) the part that names one packet, item or
/// lock is wrapped in `{...}`, so the keys one script touches share a slot
/// while packets, items and locks spread over all slots; without them a
/// multi-key script on a cluster fails with CROSSSLOT. Sentinel mode keeps
/// the untagged names.
#[derive(Clone, Debug)]
pub struct KeySpace {
    prefix: Arc<str>,
    hash_tags: bool,
}

impl KeySpace {
    /// Untagged keys (Sentinel mode, a fixed address).
    pub fn new(run_id: &str) -> KeySpace {
        KeySpace::with_hash_tags(run_id, false)
    }

    /// Keys with hash tags when `hash_tags`, under the default prefix.
    pub fn with_hash_tags(run_id: &str, hash_tags: bool) -> KeySpace {
        KeySpace::of(DEFAULT_PREFIX, run_id, hash_tags)
    }

    /// Keys under `prefix` (empty: [`DEFAULT_PREFIX`]) for run `run_id`.
    pub fn of(prefix: &str, run_id: &str, hash_tags: bool) -> KeySpace {
        let prefix = if prefix.is_empty() {
            DEFAULT_PREFIX
        } else {
            prefix
        };
        KeySpace {
            prefix: format!("{prefix}:{run_id}").into(),
            hash_tags,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether keys carry hash tags.
    pub fn hash_tags(&self) -> bool {
        self.hash_tags
    }

    /// `gs:<run>:<kind>:<id>`, the id tagged as `{<id>}` with hash tags.
    fn key(&self, kind: &str, id: impl std::fmt::Display) -> String {
        if self.hash_tags {
            format!("{}:{kind}:{{{id}}}", self.prefix)
        } else {
            format!("{}:{kind}:{id}", self.prefix)
        }
    }

    /// Red packet `p`: hash {total, count, remaining_cents, remaining_count}.
    pub fn packet(&self, p: u64) -> String {
        self.key("rp", p)
    }
    /// Red packet `p`: hash user -> amount granted.
    pub fn packet_grabs(&self, p: u64) -> String {
        format!("{}:grabs", self.packet(p))
    }
    /// Red packet `p`: list of "position:user:amount" in grab order.
    pub fn packet_order(&self, p: u64) -> String {
        format!("{}:order", self.packet(p))
    }
    /// Seckill item `i`: the stock counter.
    pub fn stock(&self, i: u64) -> String {
        format!("{}:stock", self.key("sk", i))
    }
    /// Seckill item `i`: hash user -> order number.
    pub fn orders(&self, i: u64) -> String {
        format!("{}:orders", self.key("sk", i))
    }
    /// Lock `i` of kind `k`.
    pub fn lock(&self, k: LockKind, i: u64) -> String {
        self.key("lock", format_args!("{k}:{i}"))
    }
    /// The resource protected by lock `i` of kind `k`.
    pub fn resource(&self, k: LockKind, i: u64) -> String {
        self.key("res", format_args!("{k}:{i}"))
    }
    /// The fencing counter / highest accepted token of lock `i` of kind `k`.
    pub fn fence(&self, k: LockKind, i: u64) -> String {
        self.key("fence", format_args!("{k}:{i}"))
    }

    /// The key a journal line names for `op` on `round`.
    pub fn journal_key(&self, op: JournalOp, round: u64) -> String {
        match op {
            JournalOp::RedpacketGrab => self.packet(round),
            JournalOp::SeckillSale => self.orders(round),
            JournalOp::LockAcquired(k) | JournalOp::LockReleased(k) => self.lock(k, round),
            JournalOp::ResourceWrite(k) => self.resource(k, round),
        }
    }
}

/// A request [`GrabberCtx`] sends: a command, a pipeline or a script
/// invocation (EVALSHA with the NOSCRIPT fallback).
enum Request<'r, 's> {
    Cmd(&'r redis::Cmd),
    Pipe(&'r redis::Pipeline),
    Script(&'r redis::ScriptInvocation<'s>),
}

/// Everything one grabber task needs. Owned by the task; never shared.
pub struct GrabberCtx {
    /// Grabber number, `0..grabbers`.
    pub id: usize,
    /// The user this grabber acts for (red packets, seckill). Equal to `id`
    /// unless the run has fewer users than grabbers.
    pub user: u64,
    /// This grabber's random numbers, derived from the run seed and `id`.
    pub rng: GrabberRng,
    /// The run's seed (for values that must not depend on who runs them).
    pub seed: u64,
    pub keys: KeySpace,
    /// Fires when the run stops or this grabber is removed.
    pub cancel: CancellationToken,
    pub bus: EventBus,
    /// True in `--until-done` runs: workloads with an end return [`Step::Done`].
    pub until_done: bool,
    pool: MasterPool,
    generation: watch::Receiver<Arc<Generation>>,
    gen: Arc<Generation>,
    conn: LabConn,
    recorder: Recorder,
    journal: JournalSender,
    inflight: Option<Arc<Semaphore>>,
    /// The last error said this grabber's connection is dead: the next
    /// [`GrabberCtx::back_off`] waits for the pool's next generation.
    conn_dead: bool,
    /// A permit taken ahead of a step ([`GrabberCtx::reserve_call`]), used
    /// by the step's first Redis call.
    reserved: Option<OwnedSemaphorePermit>,
}

/// What [`GrabberCtx::new`] needs besides the grabber's own numbers.
/// `rng` may be any seeded generator: the grabber keeps a small
/// [`GrabberRng`] seeded from it (see [`crate::workload::rounds::grabber_rng`]).
pub struct GrabberSetup<R = GrabberRng> {
    pub id: usize,
    pub user: u64,
    pub rng: R,
    pub seed: u64,
    pub keys: KeySpace,
    pub cancel: CancellationToken,
    pub bus: EventBus,
    pub until_done: bool,
    pub pool: MasterPool,
    pub recorder: Recorder,
    pub journal: JournalSender,
}

/// A generator a grabber can be set up with: its own [`GrabberRng`] as is,
/// or a ChaCha generator (tests) that seeds one from its first number.
pub trait IntoGrabberRng {
    fn into_grabber_rng(self) -> GrabberRng;
}

impl IntoGrabberRng for GrabberRng {
    fn into_grabber_rng(self) -> GrabberRng {
        self
    }
}

impl IntoGrabberRng for rand_chacha::ChaCha8Rng {
    fn into_grabber_rng(mut self) -> GrabberRng {
        use rand::RngCore;
        GrabberRng::from_seed(self.next_u64())
    }
}

impl GrabberCtx {
    pub fn new<R: IntoGrabberRng>(s: GrabberSetup<R>) -> GrabberCtx {
        let mut generation = s.pool.subscribe();
        let gen = generation.borrow_and_update().clone();
        let conn = gen.conn(s.id);
        GrabberCtx {
            id: s.id,
            user: s.user,
            rng: s.rng.into_grabber_rng(),
            seed: s.seed,
            keys: s.keys,
            cancel: s.cancel,
            bus: s.bus,
            until_done: s.until_done,
            pool: s.pool,
            generation,
            gen,
            conn,
            recorder: s.recorder,
            journal: s.journal,
            inflight: None,
            conn_dead: false,
            reserved: None,
        }
    }

    /// Bounds the Redis calls in flight across all grabbers sharing
    /// `limit`: a call waits for a permit first, so 100,000 grabbers queue
    /// in the process (cheaply) instead of in the connections' pipelines,
    /// where they would run into the client's response timeout. The
    /// recorded latency includes that wait: it is what the user waits.
    pub fn with_inflight_limit(mut self, limit: Arc<Semaphore>) -> GrabberCtx {
        self.inflight = Some(limit);
        self
    }

    /// Waits, before a step, for the permit its first Redis call will use;
    /// false when cancelled first. Queued grabbers thus wait here, outside
    /// the step, and the engine builds (boxes) a step's state only for
    /// grabbers that can run it: at 100,000 grabbers most of them wait.
    pub async fn reserve_call(&mut self) -> bool {
        if self.reserved.is_none() {
            match self.permit().await {
                Ok(p) => self.reserved = p,
                Err(_) => return false,
            }
        }
        true
    }

    /// A permit for one Redis call (None: no limit, or cancelled while waiting).
    async fn permit(&mut self) -> Result<Option<OwnedSemaphorePermit>, ErrorClass> {
        if let Some(p) = self.reserved.take() {
            return Ok(Some(p));
        }
        let Some(limit) = &self.inflight else {
            return Ok(None);
        };
        // Fast path: a free permit, without registering on the semaphore's
        // or the cancellation token's waiter lists (both take a lock).
        if let Ok(p) = limit.clone().try_acquire_owned() {
            return Ok(Some(p));
        }
        let limit = limit.clone();
        tokio::select! {
            biased;
            p = limit.acquire_owned() => Ok(p.ok()),
            // Stopping: the caller backs off and sees the cancellation.
            _ = self.cancel.cancelled() => Err(ErrorClass::Other),
        }
    }

    /// The connection to the current master (cluster mode: to the
    /// cluster, routing by slot); moves to the new master's connections when
    /// the pool changed generation (one atomic check).
    pub fn conn(&mut self) -> &mut LabConn {
        if self.generation.has_changed().unwrap_or(false) {
            self.gen = self.generation.borrow_and_update().clone();
            self.conn = self.gen.conn(self.id);
        }
        &mut self.conn
    }

    /// Host address of the master the current connection talks to
    /// (cluster mode: the node that answered the last command).
    pub fn master(&self) -> SocketAddr {
        self.conn.acked_by().unwrap_or(self.gen.master)
    }

    /// Milliseconds since the run started.
    pub fn now_ms(&self) -> u64 {
        self.bus.now_ms()
    }

    /// Records a successful operation.
    #[inline]
    pub fn record_ok(&mut self, op: OpKind, latency: Duration, write: bool) {
        self.recorder.ok(op, latency, write);
    }

    /// Records a failed operation: classifies it, counts it and tells the
    /// pool (which may re-resolve the master). Returns the class.
    pub fn record_err(&mut self, op: OpKind, latency: Duration, e: &RedisError) -> ErrorClass {
        let failure = classify(e);
        self.recorder.err(op, latency, failure.class);
        self.pool.report_failure(&failure);
        // A cluster connection reaches every master and re-routes by itself:
        // one dead node must not park the grabber until the pool's next
        // generation (the other shards keep serving meanwhile).
        self.conn_dead = failure.connection_dead() && self.conn.single().is_some();
        failure.class
    }

    /// Records a duration that is not a Redis call (lock wait and hold).
    #[inline]
    pub fn record_timing(&mut self, op: OpKind, d: Duration) {
        self.recorder.timing(op, d);
    }

    /// Hands buffered samples to the aggregator now (before a long sleep).
    pub fn flush_metrics(&mut self) {
        self.recorder.flush();
    }

    /// Runs `cmd` against the master with the operation timeout, recording
    /// latency and outcome under `op` (`write`: counts as a successful write).
    pub async fn query<T: FromRedisValue>(
        &mut self,
        op: OpKind,
        write: bool,
        cmd: &redis::Cmd,
    ) -> Result<T, ErrorClass> {
        self.call(op, write, Request::Cmd(cmd)).await
    }

    /// Runs a pipeline (for naive multi-command steps that still want one
    /// round trip), like [`GrabberCtx::query`].
    pub async fn query_pipe<T: FromRedisValue>(
        &mut self,
        op: OpKind,
        write: bool,
        pipe: &redis::Pipeline,
    ) -> Result<T, ErrorClass> {
        self.call(op, write, Request::Pipe(pipe)).await
    }

    /// Invokes a Lua script (EVALSHA, loading it on NOSCRIPT), like [`GrabberCtx::query`].
    pub async fn invoke<T: FromRedisValue>(
        &mut self,
        op: OpKind,
        write: bool,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<T, ErrorClass> {
        self.call(op, write, Request::Script(inv)).await
    }

    /// The one path of every Redis call: in-flight permit, current master,
    /// operation timeout, recording.
    async fn call<T: FromRedisValue>(
        &mut self,
        op: OpKind,
        write: bool,
        req: Request<'_, '_>,
    ) -> Result<T, ErrorClass> {
        let started = Instant::now();
        let _permit = self.permit().await?;
        let conn = self.conn();
        let r = match req {
            Request::Cmd(c) => tokio::time::timeout(OP_TIMEOUT, c.query_async::<T>(conn)).await,
            Request::Pipe(p) => tokio::time::timeout(OP_TIMEOUT, p.query_async::<T>(conn)).await,
            Request::Script(i) => tokio::time::timeout(OP_TIMEOUT, i.invoke_async::<T>(conn)).await,
        };
        self.finish(op, write, started, r)
    }

    fn finish<T>(
        &mut self,
        op: OpKind,
        write: bool,
        started: Instant,
        r: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, ErrorClass> {
        let latency = started.elapsed();
        match r {
            Ok(Ok(v)) => {
                self.record_ok(op, latency, write);
                Ok(v)
            }
            Ok(Err(e)) => Err(self.record_err(op, latency, &e)),
            Err(_) => {
                // The operation timeout: what the classifier says of a timed-out call.
                let failure = RedisFailure {
                    class: ErrorClass::Timeout,
                    connection: ConnectionFate::TimedOut,
                };
                self.recorder.err(op, latency, failure.class);
                self.pool.report_failure(&failure);
                Err(failure.class)
            }
        }
    }

    /// Journals an acknowledged write (stamped now, with the current master).
    pub async fn journal(&mut self, op: JournalOp, round: u64, user: u64, value: i64, pos: u32) {
        let ack = Ack {
            at_ms: self.now_ms(),
            op,
            round,
            user,
            value,
            pos,
            master: self.master(),
        };
        self.journal.send(ack).await;
    }

    /// Sleeps for `d` unless cancelled first; returns false when cancelled.
    pub async fn sleep(&mut self, d: Duration) -> bool {
        // A reserved call slot is not kept through a sleep (lock hold times).
        self.reserved = None;
        if d >= Duration::from_millis(50) {
            self.recorder.flush();
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.cancel.cancelled() => false,
        }
    }

    /// A back-off after an error, so a dead master is not hammered in a hot
    /// loop: 20-50 ms, drawn from this grabber's rng. After a dead
    /// connection (every later call on it fails at once), waits instead for
    /// the pool's next generation (at most
    /// [`crate::client::DEAD_CONNECTION_WAIT`]): writes resume as soon as the
    /// pool has reconnected, and failures stay few meanwhile.
    pub async fn back_off(&mut self) -> bool {
        use rand::Rng;
        if std::mem::take(&mut self.conn_dead) {
            let gen = tokio::select! {
                g = crate::client::await_next_generation(&mut self.generation) => g,
                _ = self.cancel.cancelled() => return false,
            };
            self.conn = gen.conn(self.id);
            self.gen = gen;
            return true;
        }
        let ms = self.rng.random_range(20..50);
        self.sleep(Duration::from_millis(ms)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tags_keep_each_scripts_keys_in_one_slot() {
        use crate::topology::admin::cluster::key_slot;
        let slot = |k: String| key_slot(k.as_bytes());
        let k = KeySpace::with_hash_tags("r1", true);
        assert_eq!(k.packet(3), "gs:r1:rp:{3}");
        assert_eq!(k.packet_grabs(3), "gs:r1:rp:{3}:grabs");
        assert_eq!(k.orders(5), "gs:r1:sk:{5}:orders");
        assert_eq!(k.lock(LockKind::Safe, 2), "gs:r1:lock:{safe:2}");
        assert_eq!(slot(k.packet(3)), slot(k.packet_grabs(3)));
        assert_eq!(slot(k.packet(3)), slot(k.packet_order(3)));
        assert_eq!(slot(k.stock(5)), slot(k.orders(5)));
        let f = LockKind::Fenced;
        assert_eq!(slot(k.lock(f, 7)), slot(k.resource(f, 7)));
        assert_eq!(slot(k.lock(f, 7)), slot(k.fence(f, 7)));
        // Still spread: 1,000 packets land in hundreds of slots.
        let slots: std::collections::BTreeSet<u16> = (0..1000).map(|p| slot(k.packet(p))).collect();
        assert!(slots.len() > 900, "{}", slots.len());
        // Untagged, a packet's keys hash apart (the CROSSSLOT demo).
        let plain = KeySpace::new("r1");
        assert_ne!(slot(plain.packet(3)), slot(plain.packet_grabs(3)));
    }

    #[test]
    fn keys_of_one_run_share_a_prefix() {
        let k = KeySpace::new("r1");
        assert_eq!(k.packet(3), "gs:r1:rp:3");
        assert_eq!(k.lock(LockKind::Safe, 2), "gs:r1:lock:safe:2");
        assert_eq!(
            k.journal_key(JournalOp::ResourceWrite(LockKind::Fenced), 0),
            "gs:r1:res:fenced:0"
        );
    }
}
#[cfg(test)]
mod size_tests {
    /// At 100,000 grabbers every byte of a context counts 100,000 times
    /// (it was ~590 bytes with a ChaCha generator in it).
    #[test]
    fn a_grabber_context_stays_small() {
        let size = std::mem::size_of::<super::GrabberCtx>();
        assert!(size <= 320, "GrabberCtx is {size} bytes");
        assert_eq!(std::mem::size_of::<super::GrabberRng>(), 8);
    }
}
