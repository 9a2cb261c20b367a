//! The four distributed locks against a real redis-server: each lock
//! algorithm step by step, then the lock workload with tens of grabbers and
//! TTLs of 50-200 ms, asserting on what the in-process registry observed and
//! on what Redis holds afterwards.

use crate::support::StandaloneRedis;
use grabstorm::audit::journal::{self, Journal, JournalNaming, JournalOp, JournalRecord};
use grabstorm::client::{Auth, MasterPool};
use grabstorm::metrics::recorder::{LockStep, OpKind, Sample, SampleBatch, SampleSink};
use grabstorm::metrics::{Event, EventBus, EventKind};
use grabstorm::report::model::{LockReport, Report};
use grabstorm::workload::grabber::{GrabberCtx, GrabberSetup, KeySpace, Step, Workload};
use grabstorm::workload::lock::ops::{self, Fenced, LockKeys};
use grabstorm::workload::lock::{LockConfig, LockWorkload};
use grabstorm::workload::LockKind;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use redis::aio::MultiplexedConnection;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// Upper bound for any one workload run in these tests.
const RUN_LIMIT: Duration = Duration::from_secs(30);

async fn conn(redis: &StandaloneRedis) -> MultiplexedConnection {
    grabstorm::client::connect(redis.addr, &Auth::none())
        .await
        .unwrap()
}

/// Journal lines name keys from the run's key space and the node by address.
struct Naming(KeySpace);

impl JournalNaming for Naming {
    fn key(&self, op: JournalOp, round: u64) -> String {
        self.0.journal_key(op, round)
    }
    fn node(&self, addr: SocketAddr) -> String {
        addr.to_string()
    }
}

/// Everything one workload run leaves behind.
struct Outcome {
    report: Report,
    events: Vec<Event>,
    samples: Vec<Sample>,
    journal: Vec<JournalRecord>,
    lost: Vec<JournalRecord>,
    space: KeySpace,
    config: LockConfig,
}

impl Outcome {
    fn kind(&self, kind: LockKind) -> &LockReport {
        &self.report.locks[&kind]
    }

    /// Hold-time samples (µs) of one kind.
    fn holds_us(&self, kind: LockKind) -> Vec<u32> {
        self.samples
            .iter()
            .filter(|s| s.op() == OpKind::Lock(kind, LockStep::Hold))
            .map(|s| s.us)
            .collect()
    }

    fn journaled(&self, op: JournalOp) -> usize {
        self.journal.iter().filter(|r| r.op == op).count()
    }
}

fn drain(rx: &mut UnboundedReceiver<SampleBatch>) -> Vec<Sample> {
    let mut all = Vec::new();
    while let Ok(batch) = rx.try_recv() {
        all.extend(batch);
    }
    all
}

/// Runs `grabbers` lock grabbers the way the engine does (a `GrabberCtx`
/// each, `Workload::step` until done, `rounds` rounds each), then closes the
/// journal and runs the workload's audit against Redis.
async fn run_workload(
    redis: &StandaloneRedis,
    config: LockConfig,
    grabbers: usize,
    rounds: u64,
) -> Outcome {
    let seed = 0x5eed;
    let bus = EventBus::new();
    let space = KeySpace::new(&format!("locktest-{}", crate::support::free_port()));
    let config = LockConfig { rounds, ..config };
    let workload = Arc::new(LockWorkload::new(config.clone(), &space).unwrap());
    let pool = MasterPool::fixed(redis.addr, &Auth::none(), 2)
        .await
        .unwrap();
    let (sink, mut rx) = SampleSink::new(bus.start());
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::start(
        &journal::in_dir(dir.path()),
        Arc::new(Naming(space.clone())),
    )
    .unwrap();
    let cancel = CancellationToken::new();
    let tasks: Vec<_> = (0..grabbers)
        .map(|id| {
            let mut ctx = GrabberCtx::new(GrabberSetup {
                id,
                user: id as u64,
                rng: ChaCha8Rng::seed_from_u64(seed ^ (id as u64) << 20),
                seed,
                keys: space.clone(),
                cancel: cancel.clone(),
                bus: bus.clone(),
                until_done: true,
                pool: pool.clone(),
                recorder: sink.recorder(),
                journal: journal.sender.clone(),
            });
            let workload = workload.clone();
            tokio::spawn(async move {
                let mut me = workload.new_grabber(&ctx);
                while !ctx.cancel.is_cancelled() {
                    if workload.step(&mut ctx, &mut me).await == Step::Done {
                        break;
                    }
                }
                me.rounds()
            })
        })
        .collect();
    let joined = tokio::time::timeout(RUN_LIMIT, futures::future::join_all(tasks)).await;
    cancel.cancel();
    let done: u64 = joined
        .expect("lock workload did not finish in time")
        .into_iter()
        .map(|r| r.unwrap())
        .sum();
    assert!(done > 0, "no round completed");
    journal.close(CancellationToken::new()).await.unwrap();
    let records = journal::read(&journal::in_dir(dir.path())).unwrap();
    let mut report = Report::default();
    let mut lost = Vec::new();
    let mut c = conn(redis).await;
    workload
        .audit(&mut c, &records, &mut report, &mut lost)
        .await
        .unwrap();
    Outcome {
        report,
        events: bus.all(),
        samples: drain(&mut rx),
        journal: records,
        lost,
        space,
        config,
    }
}

#[tokio::test]
async fn compare_and_delete_never_removes_another_owners_lock() {
    let redis = StandaloneRedis::start();
    let mut c = conn(&redis).await;
    let key = "t:cad";
    assert!(ops::safe_acquire(&mut c, key, "owner-a", 5_000)
        .await
        .unwrap());
    assert!(!ops::safe_acquire(&mut c, key, "owner-b", 5_000)
        .await
        .unwrap());
    assert!(!ops::compare_and_delete(&mut c, key, "owner-b")
        .await
        .unwrap());
    let holder: Option<String> = redis::cmd("GET")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(holder.as_deref(), Some("owner-a"));
    let ttl = ops::pttl(&mut c, key).await.unwrap().unwrap();
    assert!(ttl > 0 && ttl <= 5_000, "SET NX PX gives a TTL, got {ttl}");
    assert!(ops::compare_and_delete(&mut c, key, "owner-a")
        .await
        .unwrap());
    assert_eq!(ops::pttl(&mut c, key).await.unwrap(), None);

    // A's lock expires and B takes it: A's late release must leave B's lock.
    assert!(ops::safe_acquire(&mut c, key, "owner-a", 50).await.unwrap());
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(ops::safe_acquire(&mut c, key, "owner-b", 5_000)
        .await
        .unwrap());
    assert!(!ops::compare_and_delete(&mut c, key, "owner-a")
        .await
        .unwrap());
    let holder: Option<String> = redis::cmd("GET")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(holder.as_deref(), Some("owner-b"));

    // The script survives a SCRIPT FLUSH (EVALSHA falls back to EVAL on NOSCRIPT).
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(ops::compare_and_delete(&mut c, key, "owner-b")
        .await
        .unwrap());
}

#[tokio::test]
async fn reentrant_lock_counts_reentries_and_refuses_other_owners() {
    let redis = StandaloneRedis::start();
    let mut c = conn(&redis).await;
    let key = "t:reentrant";
    let count = |c: &mut MultiplexedConnection| {
        let mut c = c.clone();
        async move {
            let n: Option<u64> = redis::cmd("HGET")
                .arg(key)
                .arg("owner-a")
                .query_async(&mut c)
                .await
                .unwrap();
            n
        }
    };
    assert_eq!(
        ops::reentrant_acquire(&mut c, key, "owner-a", 5_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        ops::reentrant_acquire(&mut c, key, "owner-a", 5_000)
            .await
            .unwrap(),
        2
    );
    assert_eq!(count(&mut c).await, Some(2));
    assert_eq!(
        ops::reentrant_acquire(&mut c, key, "owner-b", 5_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        ops::reentrant_release(&mut c, key, "owner-b", 5_000)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        ops::reentrant_release(&mut c, key, "owner-a", 5_000)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(count(&mut c).await, Some(1));
    assert_eq!(
        ops::reentrant_acquire(&mut c, key, "owner-b", 5_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        ops::reentrant_release(&mut c, key, "owner-a", 5_000)
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(
        ops::pttl(&mut c, key).await.unwrap(),
        None,
        "released at count 0"
    );
    assert_eq!(
        ops::reentrant_acquire(&mut c, key, "owner-b", 5_000)
            .await
            .unwrap(),
        1
    );

    // The workload re-enters on every acquisition and stays safe.
    let config = LockConfig {
        kinds: vec![LockKind::Reentrant],
        keys: 2,
        ttl_ms: 200,
        hold_ms: 3,
        ..LockConfig::default()
    };
    let out = run_workload(&redis, config, 12, 4).await;
    let r = out.kind(LockKind::Reentrant);
    assert_eq!(r.acquired, 12 * 4, "{r:?}");
    assert_eq!(r.reentries, r.acquired, "{r:?}");
    assert_eq!(r.violations, Some(0), "{r:?}");
    assert_eq!(r.lost_updates, 0, "{r:?}");
    assert_eq!(r.counter_total, 12 * 4, "{r:?}");
    assert_eq!(r.locks_without_ttl, 0, "{r:?}");
}

#[tokio::test]
async fn fenced_resource_refuses_an_older_token() {
    let redis = StandaloneRedis::start();
    let mut c = conn(&redis).await;
    let keys = LockKeys::new(&KeySpace::new("t"), LockKind::Fenced, 0);
    let a = ops::fenced_acquire(&mut c, &keys, "owner-a", 50)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ops::fenced_acquire(&mut c, &keys, "owner-b", 50)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        ops::fenced_read(&mut c, &keys, a).await.unwrap(),
        Fenced::Served(0)
    );
    tokio::time::sleep(Duration::from_millis(80)).await; // A's lock expires mid-hold
    let b = ops::fenced_acquire(&mut c, &keys, "owner-b", 5_000)
        .await
        .unwrap()
        .unwrap();
    assert!(b > a, "fencing tokens grow: {a} then {b}");
    assert_eq!(
        ops::fenced_read(&mut c, &keys, b).await.unwrap(),
        Fenced::Served(0)
    );
    // A comes back from its pause and writes what it computed: refused.
    assert_eq!(
        ops::fenced_write(&mut c, &keys, a, 1).await.unwrap(),
        Fenced::Stale { highest: b }
    );
    assert_eq!(
        ops::fenced_read(&mut c, &keys, a).await.unwrap(),
        Fenced::Stale { highest: b }
    );
    assert_eq!(
        ops::fenced_write(&mut c, &keys, b, 1).await.unwrap(),
        Fenced::Served(())
    );
    assert_eq!(
        ops::fenced_read(&mut c, &keys, b).await.unwrap(),
        Fenced::Served(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_lock_with_hold_below_ttl_has_no_violation_and_no_lost_update() {
    let redis = StandaloneRedis::start();
    let config = LockConfig {
        kinds: vec![LockKind::Safe],
        keys: 2,
        ttl_ms: 200,
        hold_ms: 3,
        max_wait_ms: 10_000,
        ..LockConfig::default()
    };
    let started = Instant::now();
    let out = run_workload(&redis, config, 20, 5).await;
    let r = out.kind(LockKind::Safe);
    assert_eq!(r.acquired, 100, "{r:?}");
    assert_eq!(r.failed, 0, "{r:?}");
    assert!(
        r.refused_attempts > 0,
        "20 grabbers on 2 keys contend: {r:?}"
    );
    assert_eq!(r.violations, Some(0), "{r:?}");
    assert_eq!(r.lost_updates, 0, "{r:?}");
    assert_eq!(r.increments_acked, 100, "{r:?}");
    assert_eq!(r.counter_total, 100, "{r:?}");
    assert_eq!(r.expired_before_release, 0, "{r:?}");
    assert_eq!(r.errors, 0, "{r:?}");
    assert!(!out
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::LockViolation { .. })));
    let holds = out.holds_us(LockKind::Safe);
    assert_eq!(holds.len(), 100);
    assert!(holds.iter().all(|us| *us >= 3_000), "hold >= hold_ms");
    eprintln!("safe, hold < ttl: 100 rounds in {:?}", started.elapsed());

    // Every acknowledged step is journaled, and Redis holds every write.
    assert_eq!(out.journaled(JournalOp::LockAcquired(LockKind::Safe)), 100);
    assert_eq!(out.journaled(JournalOp::ResourceWrite(LockKind::Safe)), 100);
    assert_eq!(out.journaled(JournalOp::LockReleased(LockKind::Safe)), 100);
    assert_eq!(r.lost_acked_writes, 0, "{r:?}");
    assert_eq!(r.locks_lost, 0, "{r:?}");
    assert!(out.lost.is_empty());

    // Roll counter 0 back by 3, as a failover to a lagging replica would,
    // and audit again from the journal alone (as `grabstorm audit DIR` does).
    let mut c = conn(&redis).await;
    let counter = out.space.resource(LockKind::Safe, 0);
    let value: i64 = redis::cmd("GET")
        .arg(&counter)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(value >= 3, "key 0 got {value} increments");
    let _: () = redis::cmd("SET")
        .arg(&counter)
        .arg(value - 3)
        .query_async(&mut c)
        .await
        .unwrap();
    let fresh = LockWorkload::new(out.config.clone(), &out.space).unwrap();
    let mut report = Report::default();
    let mut lost = Vec::new();
    fresh
        .audit(&mut c, &out.journal, &mut report, &mut lost)
        .await
        .unwrap();
    let r = &report.locks[&LockKind::Safe];
    assert_eq!(r.acquired, 100, "from the journal: {r:?}");
    assert_eq!(r.lost_updates, 3, "{r:?}");
    assert_eq!(r.lost_acked_writes, 3, "{r:?}");
    assert_eq!(lost.len(), 3);
    assert!(lost.iter().all(|w| w.key == counter && w.value > value - 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_above_ttl_breaks_the_safe_lock_and_the_fence_saves_the_resource() {
    let redis = StandaloneRedis::start();
    let config = LockConfig {
        kinds: vec![LockKind::Safe, LockKind::Fenced],
        keys: 1,
        ttl_ms: 50,
        hold_ms: 120,
        ..LockConfig::default()
    };
    let started = Instant::now();
    let out = run_workload(&redis, config, 20, 3).await;
    let safe = out.kind(LockKind::Safe);
    let fenced = out.kind(LockKind::Fenced);
    eprintln!(
        "safe: {safe:?}\nfenced: {fenced:?}\nin {:?}",
        started.elapsed()
    );

    assert!(safe.violations > Some(0), "{safe:?}");
    assert!(safe.lost_updates > 0, "{safe:?}");
    assert_eq!(
        safe.lost_updates,
        safe.increments_acked - safe.counter_total,
        "{safe:?}"
    );
    assert!(safe.expired_before_release > 0, "{safe:?}");
    // A stale holder overwriting a newer value is a lost update, not a
    // write Redis lost: the last acknowledged write is what Redis holds.
    assert_eq!(safe.lost_acked_writes, 0, "{safe:?}");
    assert_eq!(safe.locks_lost, 0, "expiry is not loss: {safe:?}");

    // Same timing: two holders happen, but the stale one is refused.
    assert!(fenced.violations > Some(0), "{fenced:?}");
    assert!(fenced.stale_tokens_refused > 0, "{fenced:?}");
    assert_eq!(fenced.lost_updates, 0, "{fenced:?}");
    assert_eq!(fenced.counter_total, fenced.increments_acked, "{fenced:?}");
    assert_eq!(fenced.lost_acked_writes, 0, "{fenced:?}");
    assert_eq!(fenced.locks_lost, 0, "{fenced:?}");
    assert!(out.lost.is_empty());
    assert_eq!(
        fenced.increments_acked + fenced.stale_tokens_refused,
        fenced.acquired,
        "every fenced holder either wrote or was refused: {fenced:?}"
    );

    // Violations reach the bus with both holders, and the report keeps the last ones.
    let on_bus = out
        .events
        .iter()
        .filter(
            |e| matches!(&e.kind, EventKind::LockViolation { holders, .. } if holders.len() >= 2),
        )
        .count() as u64;
    // The bus carries what the registry saw; the report's count is what
    // the journal proves of it.
    let observed = safe.violations_observed.unwrap() + fenced.violations_observed.unwrap();
    assert_eq!(on_bus, observed);
    assert!(safe.violations.unwrap() + fenced.violations.unwrap() <= observed);
    let last = safe.violation_list.last().unwrap();
    assert_eq!(last.lock, out.space.lock(LockKind::Safe, 0));
    assert!(last.holders.len() >= 2 && last.holders[0] != last.holders[1]);
    assert!(last.at_ms > 0);
    assert!(out.holds_us(LockKind::Safe).iter().all(|us| *us >= 120_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_grabber_dying_between_setnx_and_expire_leaves_a_lock_without_ttl() {
    let redis = StandaloneRedis::start();
    let config = LockConfig {
        kinds: vec![LockKind::Naive, LockKind::Safe],
        keys: 2,
        ttl_ms: 100,
        hold_ms: 2,
        die_between: 1,
        max_wait_ms: 300,
        ..LockConfig::default()
    };
    let out = run_workload(&redis, config, 16, 4).await;
    let naive = out.kind(LockKind::Naive);
    let safe = out.kind(LockKind::Safe);
    eprintln!("naive: {naive:?}\nsafe: {safe:?}");
    assert_eq!(naive.died_between_setnx_and_expire, 1, "{naive:?}");
    assert_eq!(naive.locks_without_ttl, 1, "{naive:?}");
    let stuck = &naive.locks_without_ttl_keys[0];
    assert!(
        stuck.starts_with(&format!("{}:lock:naive:", out.space.prefix())),
        "{stuck}"
    );
    // The dead grabber's SETNX was acknowledged: journaled with value 0.
    assert_eq!(
        out.journal
            .iter()
            .filter(|r| r.op == JournalOp::LockAcquired(LockKind::Naive) && r.value == 0)
            .count(),
        1
    );
    // Checked from outside too: the key is there, without TTL, and stays.
    let mut c = conn(&redis).await;
    tokio::time::sleep(Duration::from_millis(150)).await; // > ttl_ms
    assert_eq!(ops::pttl(&mut c, stuck).await.unwrap(), Some(-1));
    // Grabbers that picked the stuck key gave up waiting for it.
    assert!(naive.failed > 0, "{naive:?}");
    // The safe lock has no such state: its TTL comes with the lock.
    assert_eq!(safe.died_between_setnx_and_expire, 0);
    assert_eq!(safe.locks_without_ttl, 0, "{safe:?}");
    assert_eq!(safe.violations, Some(0), "{safe:?}");
    assert!(out.events.iter().any(|e| matches!(&e.kind,
        EventKind::Note { text } if text.contains("between SETNX and EXPIRE"))));
}

/// A lock key that vanishes while held (what a failover to a replica that
/// never got it does) is granted again: the registry sees two holders and
/// the audit finds the acknowledged grant Redis lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_that_vanishes_while_held_is_granted_twice_and_reported() {
    let redis = StandaloneRedis::start();
    let config = LockConfig {
        kinds: vec![LockKind::Safe],
        keys: 1,
        ttl_ms: 5_000,
        hold_ms: 100,
        ..LockConfig::default()
    };
    // The run's key space is only known inside run_workload, so the
    // "failover" deletes every lock key of the test's key prefix.
    let stop = CancellationToken::new();
    let mut c = conn(&redis).await;
    let deleter = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut deleted = 0u64;
            while !stop.is_cancelled() {
                tokio::time::sleep(Duration::from_millis(130)).await;
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg("gs:locktest-*:lock:safe:*")
                    .query_async(&mut c)
                    .await
                    .unwrap();
                for k in keys {
                    let n: u64 = redis::cmd("DEL").arg(&k).query_async(&mut c).await.unwrap();
                    deleted += n;
                }
            }
            deleted
        })
    };
    let out = run_workload(&redis, config, 6, 3).await;
    stop.cancel();
    let deleted = deleter.await.unwrap();
    let r = out.kind(LockKind::Safe);
    eprintln!("deleted {deleted} held locks: {r:?}");
    assert!(deleted > 0);
    assert!(r.violations > Some(0), "{r:?}");
    assert!(r.locks_lost > 0, "{r:?}");
    assert!(r.locks_lost <= deleted, "{r:?}");
    assert_eq!(
        out.lost
            .iter()
            .filter(|w| w.op == JournalOp::LockAcquired(LockKind::Safe))
            .count() as u64,
        r.locks_lost
    );
    // The holders whose lock vanished could not release it.
    assert!(r.expired_before_release > 0, "{r:?}");
}

#[test]
fn lock_args_default_to_the_safe_lock_and_parse_kind_lists() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        locks: grabstorm::cli::LockArgs,
    }
    let defaults = Cli::parse_from(["x"]).locks;
    assert_eq!(defaults, grabstorm::cli::LockArgs::default());
    assert_eq!(defaults.config(), LockConfig::default());
    let cli = Cli::parse_from([
        "x",
        "--lock-kinds",
        "naive,fenced",
        "--lock-keys",
        "3",
        "--lock-ttl-ms",
        "50",
        "--lock-hold-ms",
        "120",
        "--lock-die-between",
        "2",
    ]);
    let c = cli.locks.config();
    assert_eq!(c.kinds, vec![LockKind::Naive, LockKind::Fenced]);
    assert_eq!(
        (c.keys, c.ttl_ms, c.hold_ms, c.die_between),
        (3, 50, 120, 2)
    );
    assert!(c.validate().is_ok());
    // The same in the flags' duration forms, named like the scenario keys.
    let new = Cli::parse_from([
        "x",
        "--locks",
        "naive,fenced",
        "--lock-keys",
        "3",
        "--lock-ttl",
        "50ms",
        "--lock-hold",
        "120ms",
        "--lock-die-between",
        "2",
    ]);
    assert_eq!(new.locks.config(), c);
    let dup = LockConfig {
        kinds: vec![LockKind::Safe, LockKind::Safe],
        ..LockConfig::default()
    };
    assert!(dup.validate().is_err());
}
