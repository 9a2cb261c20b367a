//! Tests: faults, the Sentinel-following client and the failover timeline,
//! against real `redis-server`/`redis-sentinel` processes (local backend)
//! and, for partitions and split brain, real containers.
//!
//! The load here is a small bounded write loop through the client's
//! `MasterPool` (unique keys, each acknowledged write journaled in memory),
//! so lost acknowledged writes are counted independently: journal versus
//! the keys the final master holds.

use crate::support::{grabstorm_bin, grabstorm_in as grabstorm, state_dir};
use grabstorm::client::watcher::watch_sentinels;
use grabstorm::client::{Auth, MasterPool};
use grabstorm::faults::{FaultKind, FaultRequest, Injector, Target};
use grabstorm::metrics::timeline::{self, Failover, LostAckedWrites};
use grabstorm::metrics::{Event, EventBus, EventKind};
use grabstorm::topology::guard::{self, StartOptions, TopologyGuard};
use grabstorm::topology::local::LocalBackend;
use grabstorm::topology::{Backend, Topology, TopologySpec};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------- the lab

/// A started topology with a bus, the sentinel watcher and an injector.
struct Lab {
    guard: Option<TopologyGuard>,
    topology: Topology,
    bus: EventBus,
    injector: Injector,
    cancel: CancellationToken,
    _state: tempfile::TempDir,
}

impl Lab {
    async fn start(backend: Arc<dyn Backend>, spec: TopologySpec, state: tempfile::TempDir) -> Lab {
        let guard = guard::start(backend.clone(), &spec, &StartOptions::new(state.path()))
            .await
            .expect("topology starts");
        let topology = guard.topology().clone();
        let bus = EventBus::new();
        let cancel = CancellationToken::new();
        watch_sentinels(&topology, bus.clone(), cancel.clone());
        let injector = Injector::new(
            backend,
            Arc::new(tokio::sync::Mutex::new(topology.clone())),
            bus.clone(),
        );
        // Let every watcher subscribe before anything happens.
        tokio::time::sleep(Duration::from_millis(400)).await;
        Lab {
            guard: Some(guard),
            topology,
            bus,
            injector,
            cancel,
            _state: state,
        }
    }

    async fn local(spec: TopologySpec) -> Lab {
        let dir = state_dir();
        let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(dir.path()));
        Lab::start(backend, spec, dir).await
    }

    async fn inject(&self, kind: FaultKind, target: Target) -> anyhow::Result<String> {
        self.inject_for(kind, target, None).await
    }

    async fn inject_for(
        &self,
        kind: FaultKind,
        target: Target,
        duration: Option<Duration>,
    ) -> anyhow::Result<String> {
        self.injector
            .inject(&FaultRequest {
                kind,
                target,
                duration,
                from: vec![],
                reshard: None,
                scale: None,
            })
            .await
    }

    /// The topology as the injector sees it now (restart may change handles).
    async fn topology_now(&self) -> Topology {
        self.injector.topology().lock().await.clone()
    }

    fn addr(&self, node: &str) -> SocketAddr {
        self.topology.node(node).unwrap().host_addr
    }

    /// Waits until an event matches, up to `within`; panics with the timeline.
    async fn wait_event(&self, what: &str, within: Duration, f: impl Fn(&Event) -> bool) -> Event {
        self.wait_event_since(0, what, within, f).await
    }

    /// [`wait_event`](Self::wait_event) among the events from index `since` on.
    async fn wait_event_since(
        &self,
        since: usize,
        what: &str,
        within: Duration,
        f: impl Fn(&Event) -> bool,
    ) -> Event {
        let deadline = Instant::now() + within;
        loop {
            if let Some(e) = self.bus.all().into_iter().skip(since).find(|e| f(e)) {
                return e;
            }
            if Instant::now() > deadline {
                panic!(
                    "no {what} within {within:?}; timeline:\n{}",
                    self.timeline()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn timeline(&self) -> String {
        self.bus
            .all()
            .iter()
            .map(|e| {
                format!(
                    "{:>6} {:<11} {}",
                    e.at_ms,
                    e.source,
                    timeline::explain(e, &self.topology)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn teardown(mut self) {
        self.cancel.cancel();
        self.injector.shutdown().await;
        if let Some(g) = self.guard.take() {
            g.teardown().await.expect("teardown");
        }
    }
}

fn sentinel_event(e: &Event, channel: &str) -> bool {
    matches!(&e.kind, EventKind::Sentinel { name, .. } if name == channel)
}

/// How many distinct sentinels announced `+switch-master` away from `old`
/// among the events from index `since` on.
fn switched_by(bus: &EventBus, since: usize, topology: &Topology, old: &str) -> usize {
    let mut who: Vec<String> = bus
        .all()
        .into_iter()
        .skip(since)
        .filter(|e| match &e.kind {
            EventKind::Sentinel { name, payload } if name == "+switch-master" => {
                grabstorm::topology::announcement::SwitchMaster::parse(payload)
                    .and_then(|s| topology.node_by_addr(&s.old).map(|n| n.name.clone()))
                    .as_deref()
                    == Some(old)
            }
            _ => false,
        })
        .map(|e| e.source)
        .collect();
    who.sort();
    who.dedup();
    who.len()
}

fn fast_spec() -> TopologySpec {
    TopologySpec {
        down_after_ms: 1000,
        failover_timeout_ms: 5000,
        ..Default::default()
    }
}

// ---------------------------------------------------------------- the load

/// One acknowledged write: its key and when it was acknowledged.
type Ack = (String, u64);

/// A bounded write loop: `grabbers` tasks writing unique keys through the
/// pool, journaling what was acknowledged, and reporting the first success
/// after a stretch of failures as `WritesRecovered`.
struct WriteLoop {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<Vec<Ack>>>,
    ok: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
}

/// What a writer does after a failed write.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnError {
    /// Waits up to 20 ms for the pool to move.
    Pause,
    /// Like the engine's grabbers: on a dead connection, waits for the
    /// pool's next generation (bounded); otherwise backs off 30 ms.
    LikeAGrabber,
}

impl WriteLoop {
    fn start(pool: &MasterPool, bus: &EventBus, grabbers: usize, prefix: &str) -> WriteLoop {
        WriteLoop::start_with(pool, bus, grabbers, prefix, OnError::Pause)
    }

    fn start_with(
        pool: &MasterPool,
        bus: &EventBus,
        grabbers: usize,
        prefix: &str,
        on_error: OnError,
    ) -> WriteLoop {
        let stop = CancellationToken::new();
        let ok = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let last_ok = Arc::new(AtomicU64::new(bus.now_ms()));
        let failing = Arc::new(AtomicBool::new(false));
        let tasks = (0..grabbers)
            .map(|i| {
                let (pool, bus, stop, ok, errors, last_ok, failing) = (
                    pool.clone(),
                    bus.clone(),
                    stop.clone(),
                    ok.clone(),
                    errors.clone(),
                    last_ok.clone(),
                    failing.clone(),
                );
                let prefix = prefix.to_string();
                tokio::spawn(async move {
                    let mut acked = Vec::new();
                    let mut rx = pool.subscribe();
                    let mut conn = rx.borrow_and_update().conn(i);
                    let mut seq = 0u64;
                    // Bounded: the loop stops when told, or after 3 minutes.
                    let deadline = Instant::now() + Duration::from_secs(180);
                    while !stop.is_cancelled() && Instant::now() < deadline {
                        if rx.has_changed().unwrap_or(false) {
                            conn = rx.borrow_and_update().conn(i);
                        }
                        let key = format!("{prefix}:{i}:{seq}");
                        let r = redis::cmd("SET")
                            .arg(&key)
                            .arg(seq)
                            .query_async::<()>(&mut conn)
                            .await;
                        match r {
                            Ok(()) => {
                                let now = bus.now_ms();
                                acked.push((key, now));
                                seq += 1;
                                ok.fetch_add(1, Ordering::Relaxed);
                                let prev = last_ok.swap(now, Ordering::AcqRel);
                                if failing.swap(false, Ordering::AcqRel)
                                    && now.saturating_sub(prev) >= 50
                                {
                                    bus.emit(
                                        "load",
                                        EventKind::WritesRecovered {
                                            outage_ms: now - prev,
                                        },
                                    );
                                }
                                tokio::time::sleep(Duration::from_millis(2)).await;
                            }
                            Err(e) => {
                                failing.store(true, Ordering::Release);
                                errors.fetch_add(1, Ordering::Relaxed);
                                let failure = grabstorm::topology::admin::errors::classify(&e);
                                pool.report_failure(&failure);
                                if on_error == OnError::LikeAGrabber {
                                    if failure.connection_dead() {
                                        conn = grabstorm::client::await_next_generation(&mut rx)
                                            .await
                                            .conn(i);
                                    } else {
                                        tokio::time::sleep(Duration::from_millis(30)).await;
                                    }
                                    continue;
                                }
                                // Wait for the pool to move, or retry shortly.
                                let moved =
                                    tokio::time::timeout(Duration::from_millis(20), rx.changed())
                                        .await;
                                if matches!(moved, Ok(Ok(()))) {
                                    conn = rx.borrow_and_update().conn(i);
                                }
                            }
                        }
                    }
                    acked
                })
            })
            .collect();
        WriteLoop {
            stop,
            tasks,
            ok,
            errors,
        }
    }

    fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    async fn finish(self) -> Vec<Ack> {
        self.stop.cancel();
        let mut all = Vec::new();
        for t in self.tasks {
            all.extend(t.await.unwrap());
        }
        all
    }
}

/// The acknowledged writes `addr` does not hold: the independent audit.
async fn missing_on(addr: SocketAddr, auth: &Auth, acked: &[Ack]) -> Vec<Ack> {
    let mut conn = grabstorm::client::connect(addr, auth).await.unwrap();
    let mut missing = Vec::new();
    for chunk in acked.chunks(500) {
        let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.as_str()).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .unwrap();
        for (ack, v) in chunk.iter().zip(values) {
            if v.is_none() {
                missing.push(ack.clone());
            }
        }
    }
    missing
}

fn lost(missing: &[Ack]) -> LostAckedWrites {
    LostAckedWrites {
        total: missing.len() as u64,
        at_ms: missing.iter().map(|(_, t)| *t).collect(),
        ..Default::default()
    }
}

async fn info_field(addr: SocketAddr, auth: &Auth, field: &str) -> Option<String> {
    let mut conn = grabstorm::client::connect(addr, auth).await.ok()?;
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut conn)
        .await
        .ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

/// Waits until `node` is a replica of `master` with its link up.
async fn wait_replica_of(lab: &Lab, node: &str, master: &str, within: Duration) {
    let t = lab.topology_now().await;
    let addr = t.node(node).unwrap().host_addr;
    let master_port = t
        .node(master)
        .unwrap()
        .internal_addr
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    let deadline = Instant::now() + within;
    loop {
        let role = info_field(addr, &t.auth(), "role").await;
        let port = info_field(addr, &t.auth(), "master_port").await;
        let link = info_field(addr, &t.auth(), "master_link_status").await;
        if role.as_deref() == Some("slave")
            && port.as_deref() == Some(&master_port)
            && link.as_deref() == Some("up")
        {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{node} is not a replica of {master} after {within:?} (role {role:?}, master_port {port:?}, link {link:?}); timeline:\n{}",
                lab.timeline()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each sentinel's answer for the master, as node names.
async fn sentinel_masters(t: &Topology) -> Vec<String> {
    let set = grabstorm::client::SentinelSet::from_topology(t);
    let (answers, _) = set.ask_all().await;
    answers
        .iter()
        .map(|a| {
            t.node_by_addr(&a.internal)
                .map(|n| n.name.clone())
                .unwrap_or(a.internal.clone())
        })
        .collect()
}

/// Waits until `count` sentinels answer and all name `master`.
async fn wait_sentinels_agree(t: &Topology, master: &str, count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let answers = sentinel_masters(t).await;
        if answers.len() == count && answers.iter().all(|m| m == master) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sentinels do not agree on {master}: {answers:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Segfaults the master under load, waits for the switch and the client's
/// recovery, and returns the measured failover and the independent audit.
async fn segfault_failover(
    lab: &Lab,
    pool: &MasterPool,
    prefix: &str,
) -> (Failover, Vec<Ack>, usize) {
    let before = lab.bus.all().len();
    let load = WriteLoop::start(pool, &lab.bus, 8, prefix);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(load.ok() > 0, "the load writes before the fault");
    let old = pool.current().master;
    let old_name = lab
        .topology
        .node_by_addr(&old.to_string())
        .unwrap()
        .name
        .clone();
    let done = lab
        .inject(FaultKind::Segfault, Target::Master)
        .await
        .unwrap();
    assert!(done.contains(&old_name), "{done}");
    lab.wait_event_since(
        before,
        "client reroute",
        Duration::from_secs(20),
        |e| matches!(&e.kind, EventKind::ClientRerouted { from, .. } if *from == old_name),
    )
    .await;
    // Let the load run on the new master, then let every sentinel catch up.
    let deadline = Instant::now() + Duration::from_secs(10);
    while switched_by(&lab.bus, before, &lab.topology, &old_name) < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ok_before = load.ok();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(load.ok() > ok_before, "writes go on after the failover");
    let acked = load.finish().await;
    let new = pool.current().master;
    assert_ne!(new, old, "the client follows the new master");
    let missing = missing_on(new, &lab.topology.auth(), &acked).await;
    let events: Vec<Event> = lab.bus.all()[before..].to_vec();
    let mut f = timeline::failovers(&events, &[], &lab.topology, &lost(&missing));
    assert_eq!(f.len(), 1, "one failover; timeline:\n{}", lab.timeline());
    (
        f.remove(0),
        missing,
        switched_by(&lab.bus, before, &lab.topology, &old_name),
    )
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segfault_master_fails_over_the_client_follows_and_the_old_master_rejoins() {
    let lab = Lab::local(fast_spec()).await;
    let pool = MasterPool::sentinel(&lab.topology, 4, lab.bus.clone(), lab.cancel.clone())
        .await
        .unwrap();
    let (f, missing, sentinels) = segfault_failover(&lab, &pool, "seg").await;
    let timeline = lab.timeline();
    assert!(f.failed_over, "{f:?}\n{timeline}");
    assert_eq!(f.old_master, "redis-1");
    let new_master = f.new_master.clone().unwrap();
    assert_ne!(new_master, "redis-1");
    // Every sentinel agrees, in events and when asked.
    assert_eq!(sentinels, 3, "{timeline}");
    assert_eq!(f.sentinels_switched.len(), 3, "{f:?}");
    assert_eq!(
        sentinel_masters(&lab.topology).await,
        vec![new_master.clone(); 3]
    );
    // Phases in order.
    let (sdown, odown, switch, recovered) = (
        f.sdown_ms.unwrap(),
        f.odown_ms.unwrap(),
        f.switch_ms.unwrap(),
        f.client_recovered_ms.unwrap(),
    );
    assert!(
        sdown <= odown && odown <= switch && switch <= recovered + 50,
        "{f:?}\n{timeline}"
    );
    // Sentinel flags a master down after down-after of silence; a loaded
    // machine can stall the master before the crash, so the silence may
    // begin before the fault's stamp: only "after the fault" is asserted.
    assert!(sdown > 0, "sdown after the fault: {f:?}");
    assert!(f.elected_ms.unwrap() <= switch);
    assert!(
        recovered.saturating_sub(switch) < 1000,
        "the client writes to the new master soon after +switch-master: {f:?}\n{timeline}"
    );
    assert!(
        f.write_outage_ms.unwrap() >= sdown.saturating_sub(100),
        "{f:?}"
    );
    // Lost acknowledged writes: the timeline's figure is the audit's.
    assert_eq!(f.lost_acked_writes, Some(missing.len() as u64), "{f:?}");

    // Restart the old master: it comes back with its own config, as a
    // master, and Sentinel (not grabstorm) makes it a replica of the new one.
    let done = lab
        .inject(FaultKind::Restart, Target::Node("redis-1".into()))
        .await
        .unwrap();
    assert!(
        done.contains("started again as master") && done.contains("Sentinel will convert it"),
        "{done}"
    );
    lab.wait_event("+convert-to-slave", Duration::from_secs(30), |e| {
        sentinel_event(e, "+convert-to-slave")
    })
    .await;
    // With down-after at 1 s a loaded machine can make the sentinels fail
    // the new master over once more: the old master must then follow
    // whoever they all name, never itself.
    let master = agreed_master(&lab, Duration::from_secs(30)).await;
    assert_ne!(master, "redis-1", "{}", lab.timeline());
    if master != new_master {
        eprintln!("a second failover moved the master from {new_master} to {master}");
    }
    wait_replica_of(&lab, "redis-1", &master, Duration::from_secs(30)).await;
    assert_eq!(sentinel_masters(&lab.topology).await, vec![master; 3]);
    pool.close().await;
    lab.teardown().await;
}

/// The master every sentinel names, once they all name the same one.
async fn agreed_master(lab: &Lab, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let named = sentinel_masters(&lab.topology).await;
        if named.len() == 3 && named.iter().all(|m| *m == named[0]) {
            return named[0].clone();
        }
        if Instant::now() > deadline {
            panic!(
                "the sentinels never agreed on a master: {named:?}\n{}",
                lab.timeline()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sentinel_down_still_fails_over_two_down_do_not_and_the_report_says_why() {
    let lab = Lab::local(fast_spec()).await;
    lab.inject(FaultKind::Kill, Target::Sentinel(1))
        .await
        .unwrap();
    let before = lab.bus.all().len();
    lab.inject(FaultKind::Kill, Target::Master).await.unwrap();
    lab.wait_event("+switch-master", Duration::from_secs(20), |e| {
        sentinel_event(e, "+switch-master")
    })
    .await;
    let f = timeline::failovers(
        &lab.bus.all()[before..],
        &[],
        &lab.topology,
        &LostAckedWrites::default(),
    );
    assert!(f[0].failed_over, "{f:?}\n{}", lab.timeline());
    let new_master = f[0].new_master.clone().unwrap();
    // The surviving sentinels must both know the new master before one more
    // goes (they learn it from the leader within a couple of seconds).
    wait_sentinels_agree(&lab.topology, &new_master, 2, Duration::from_secs(10)).await;
    // The leader already names the promoted replica while it still
    // reconfigures the other replicas, but it monitors the new master only
    // from its own +switch-master on: wait for that of both survivors, or a
    // kill of the new master would be seen as a replica going down.
    for survivor in ["sentinel-2", "sentinel-3"] {
        lab.wait_event_since(
            before,
            &format!("+switch-master from {survivor}"),
            Duration::from_secs(20),
            |e| sentinel_event(e, "+switch-master") && e.source == survivor,
        )
        .await;
    }

    // Two of three sentinels down: the remaining one may flag the master
    // down, but no quorum forms, so no failover.
    lab.inject(FaultKind::Kill, Target::Sentinel(2))
        .await
        .unwrap();
    let before = lab.bus.all().len();
    lab.inject(FaultKind::Kill, Target::Master).await.unwrap();
    lab.wait_event_since(
        before,
        "+sdown of the new master",
        Duration::from_secs(15),
        |e| {
            sentinel_event(e, "+sdown")
                && matches!(&e.kind, EventKind::Sentinel { payload, .. } if payload.starts_with("master"))
        },
    )
    .await;
    // Give Sentinel time it would need to fail over (it cannot).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let events = lab.bus.all();
    let all = timeline::failovers(&events, &[], &lab.topology, &LostAckedWrites::default());
    let last = all.last().unwrap();
    assert_eq!(last.old_master, new_master);
    assert!(!last.failed_over, "{last:?}\n{}", lab.timeline());
    assert_eq!(
        last.reason.as_deref(),
        Some("no quorum: 1 of 3 sentinels reachable, quorum 2"),
        "{}",
        lab.timeline()
    );
    assert!(!events[before..]
        .iter()
        .any(|e| sentinel_event(e, "+switch-master")));
    lab.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_the_master_past_down_after_fails_over_and_the_thawed_master_is_converted() {
    let lab = Lab::local(fast_spec()).await;
    let pool = MasterPool::sentinel(&lab.topology, 2, lab.bus.clone(), lab.cancel.clone())
        .await
        .unwrap();
    let load = WriteLoop::start(&pool, &lab.bus, 4, "pause");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let done = lab
        .inject_for(
            FaultKind::Pause,
            Target::Master,
            Some(Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert!(done.contains("redis-1 paused"), "{done}");
    lab.wait_event("client reroute", Duration::from_secs(20), |e| {
        matches!(e.kind, EventKind::ClientRerouted { .. })
    })
    .await;
    lab.wait_event("thaw", Duration::from_secs(10), |e| {
        matches!(&e.kind, EventKind::FaultHealed { fault, node } if fault == "pause" && node == "redis-1")
    })
    .await;
    // Sentinel converts the thawed old master (it waits ~8 s, plus its 10 s INFO period).
    lab.wait_event("+convert-to-slave", Duration::from_secs(30), |e| {
        sentinel_event(e, "+convert-to-slave")
    })
    .await;
    let acked = load.finish().await;
    let new = pool.current().master;
    let missing = missing_on(new, &lab.topology.auth(), &acked).await;
    let f = timeline::failovers(&lab.bus.all(), &[], &lab.topology, &lost(&missing));
    assert_eq!(f.len(), 1);
    let f = &f[0];
    assert!(f.failed_over && f.old_master == "redis-1", "{f:?}");
    assert!(
        f.old_master_rejoined_as_replica,
        "{f:?}\n{}",
        lab.timeline()
    );
    assert!(f.old_master_rejoined_ms.unwrap() > f.switch_ms.unwrap());
    let new_master = f.new_master.clone().unwrap();
    wait_replica_of(&lab, "redis-1", &new_master, Duration::from_secs(10)).await;
    pool.close().await;
    lab.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_naive_client_keeps_its_address_and_reconnects_to_it() {
    let lab = Lab::local(fast_spec()).await;
    let pool = MasterPool::naive(&lab.topology, 2, lab.bus.clone(), lab.cancel.clone())
        .await
        .unwrap();
    let start = pool.current().master;
    assert_eq!(start, lab.addr("redis-1"));
    let load = WriteLoop::start(&pool, &lab.bus, 2, "naive");
    // Stall the master shortly (below down-after): no failover, and the
    // naive client keeps writing to it once the stall ends.
    lab.inject_for(
        FaultKind::Slow,
        Target::Master,
        Some(Duration::from_millis(400)),
    )
    .await
    .unwrap();
    lab.wait_event(
        "end of the stall",
        Duration::from_secs(5),
        |e| matches!(&e.kind, EventKind::FaultHealed { fault, .. } if fault == "slow"),
    )
    .await;
    let ok = load.ok();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(load.ok() > ok);
    load.finish().await;
    assert_eq!(pool.current().master, start);
    assert!(!lab
        .bus
        .all()
        .iter()
        .any(|e| matches!(e.kind, EventKind::ClientRerouted { .. })));
    let f = timeline::failovers(
        &lab.bus.all(),
        &[],
        &lab.topology,
        &LostAckedWrites::default(),
    );
    assert_eq!(f.len(), 1);
    assert!(!f[0].failed_over);
    assert!(
        f[0].reason
            .as_deref()
            .unwrap()
            .contains("before down-after"),
        "{f:?}"
    );
    pool.close().await;
    lab.teardown().await;
}

/// Kills `master` and starts it again in place within ~300 ms, long before
/// Sentinel's down-after (5 s by then): no failover, the sentinels keep
/// naming the same node, and the client must reconnect to it (a new
/// generation at the same address) and write again within a few seconds,
/// with a bounded number of failed writes meanwhile.
async fn restart_in_place(lab: &Lab, pool: &MasterPool, master: &str, prefix: &str) {
    let addr = lab.topology_now().await.node(master).unwrap().host_addr;
    assert_eq!(pool.current().master, addr, "the client writes to {master}");
    let before = lab.bus.all().len();
    let load = WriteLoop::start_with(pool, &lab.bus, 8, prefix, OnError::LikeAGrabber);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(load.ok() > 0, "{prefix}: the load writes before the fault");
    let generation = pool.current().id;

    let done = lab.inject(FaultKind::Kill, Target::Master).await.unwrap();
    assert!(done.contains(master), "{done}");
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_millis(250)).await;
    lab.inject(FaultKind::Restart, Target::Node(master.into()))
        .await
        .unwrap();
    let restarted = Instant::now();
    let ok_at_restart = load.ok();
    let deadline = restarted + Duration::from_secs(3);
    while load.ok() <= ok_at_restart + 100 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resumed_after = restarted.elapsed();
    let (ok, errors) = (load.ok(), load.errors());
    load.finish().await;
    let now = pool.current();
    eprintln!(
        "{prefix}: {master} down {:?}, writes resumed {resumed_after:?} after the restart, {errors} failed writes, generation {generation} -> {}",
        restarted - killed,
        now.id
    );
    assert!(
        ok > ok_at_restart + 100,
        "{prefix}: no writes within 3 s of the restart ({errors} failed, generation {generation} -> {}); timeline:\n{}",
        now.id,
        lab.timeline()
    );
    assert_eq!(now.master, addr, "{prefix}: same address");
    assert!(now.id > generation, "{prefix}: a new generation");
    assert!(
        errors < 5000,
        "{prefix}: {errors} failed writes: retries spin"
    );
    // Nothing moved: no failover, no reroute.
    assert!(
        !lab.bus.all()[before..]
            .iter()
            .any(|e| sentinel_event(e, "+switch-master")
                || matches!(e.kind, EventKind::ClientRerouted { .. })),
        "{}",
        lab.timeline()
    );
    assert_eq!(sentinel_masters(&lab.topology).await, vec![master; 3]);
}

/// The scenario that broke: the Sentinel client followed a failover (its
/// `+switch-master` preempting a pending repair), then the new master died
/// and came back in place; the client never wrote again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_client_reconnects_to_a_master_restarted_in_place_after_a_failover() {
    let lab = Lab::local(fast_spec()).await;
    let pool = MasterPool::sentinel(&lab.topology, 4, lab.bus.clone(), lab.cancel.clone())
        .await
        .unwrap();
    let (f, _, _) = segfault_failover(&lab, &pool, "first").await;
    let new_master = f.new_master.clone().unwrap();
    wait_sentinels_agree(&lab.topology, &new_master, 3, Duration::from_secs(10)).await;
    // From now on a short outage must not be a failover.
    for s in lab.topology.sentinels() {
        let mut conn = grabstorm::client::connect(s.host_addr, &lab.topology.auth())
            .await
            .unwrap();
        let _: () = redis::cmd("SENTINEL")
            .arg("SET")
            .arg(&lab.topology.spec.master_name)
            .arg("down-after-milliseconds")
            .arg(5000)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    restart_in_place(&lab, &pool, &new_master, "inplace-sentinel").await;
    pool.close().await;
    lab.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_client_reconnects_to_a_master_restarted_in_place() {
    let lab = Lab::local(TopologySpec {
        down_after_ms: 5000,
        failover_timeout_ms: 10000,
        ..Default::default()
    })
    .await;
    let pool = MasterPool::naive(&lab.topology, 4, lab.bus.clone(), lab.cancel.clone())
        .await
        .unwrap();
    restart_in_place(&lab, &pool, "redis-1", "inplace-naive").await;
    pool.close().await;
    lab.teardown().await;
}

// ------------------------------------------------- bad input, through the CLI

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn bad_faults_are_refused_clearly_and_touch_nothing() {
    let state = state_dir();
    let s = state.path();
    let up = grabstorm(s, &["up", "--backend", "local", "--json"]);
    assert!(up.status.success(), "{}", text(&up.stderr));
    let status_before = text(&grabstorm(s, &["status", "--json"]).stdout);

    let cases: [(&[&str], &str); 5] = [
        (&["fault", "segfalt", "master"], "unknown fault \"segfalt\""),
        (&["fault", "kill", "leader"], "unknown target \"leader\""),
        (&["fault", "kill", "redis-9"], "no node named \"redis-9\""),
        (
            &["fault", "partition", "master"],
            "partition needs the Docker backend",
        ),
        (
            &["fault", "segfault", "sentinel-1"],
            "sentinel-1 is a sentinel",
        ),
    ];
    for (args, expected) in cases {
        let out = grabstorm(s, args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(expected),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // Nothing changed.
    let after: serde_json::Value =
        serde_json::from_str(&text(&grabstorm(s, &["status", "--json"]).stdout)).unwrap();
    let before: serde_json::Value = serde_json::from_str(&status_before).unwrap();
    let roles = |v: &serde_json::Value| -> Vec<(String, String, String)> {
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["name"].to_string(),
                    n["role"].to_string(),
                    n["health"].to_string(),
                )
            })
            .collect()
    };
    assert_eq!(roles(&before), roles(&after));

    // A fault on a node already down.
    let out = grabstorm(s, &["fault", "kill", "replica-2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let killed = text(&out.stdout);
    let node = killed.split_whitespace().next().unwrap().to_string();
    let out = grabstorm(s, &["fault", "segfault", &node]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("{node} is already down")),
        "{}",
        text(&out.stderr)
    );
    // ... and a restart brings it back with its own config (a replica),
    // written to the state file.
    let out = grabstorm(s, &["fault", "restart", &node]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("{node} started again as a replica")),
        "{}",
        text(&out.stdout)
    );
    let out = grabstorm(s, &["fault", "pause", &node, "--for", "300ms"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ended"), "{}", text(&out.stdout));
    let down = grabstorm(s, &["down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
}

/// A partition while another node is stopped: the stopped peer has no
/// namespace to enter, so it is cut on the target's side only, and the cut
/// still lands (the sentinels see the master go down). Before, the fault
/// failed on the stopped peer and cut nothing.
#[test]
fn a_partition_lands_while_a_peer_is_stopped() {
    let _cut = crate::support::one_partition_at_a_time();
    let state = state_dir();
    let s = state.path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    if rt
        .block_on(docker_or_skip(
            "a_partition_lands_while_a_peer_is_stopped",
            s,
        ))
        .is_none()
    {
        return;
    }
    let up = grabstorm(
        s,
        &[
            "up",
            "--backend",
            "docker",
            "--down-after-ms",
            "1000",
            "--json",
        ],
    );
    assert!(up.status.success(), "{}", text(&up.stderr));
    let v: serde_json::Value = serde_json::from_slice(&up.stdout).unwrap();
    let password = v["password"].as_str().map(str::to_string);
    let sentinel = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "sentinel-1")
        .unwrap()["host_addr"]
        .as_str()
        .unwrap()
        .to_string();
    let out = grabstorm(s, &["fault", "kill", "redis-3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = grabstorm(s, &["fault", "partition", "redis-1"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    // Recount from outside: sentinel-1's own view of the master's flags.
    let mut conn = redis::Client::open(crate::support::url_with(password.as_deref(), &sentinel))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let flags = loop {
        let fields: Vec<String> = redis::cmd("SENTINEL")
            .arg("MASTER")
            .arg("mymaster")
            .query(&mut conn)
            .unwrap();
        let flags = fields
            .chunks(2)
            .find(|kv| kv[0] == "flags")
            .map(|kv| kv[1].clone())
            .unwrap_or_default();
        // Either still marked down, or already failed over to redis-2.
        let ip = fields
            .chunks(2)
            .find(|kv| kv[0] == "ip")
            .map(|kv| kv[1].clone());
        if flags.contains("s_down") || std::time::Instant::now() > deadline {
            break format!("{flags} (ip {ip:?})");
        }
        let masters: Vec<String> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg("mymaster")
            .query(&mut conn)
            .unwrap();
        if !masters.is_empty() && Some(&masters[0]) != ip.as_ref() {
            break "switched".to_string();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        flags.contains("s_down") || flags == "switched",
        "the cut did not land: sentinel-1 says the master's flags are {flags}; fault said {said}"
    );
    let out = grabstorm(s, &["fault", "heal", "all"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let down = grabstorm(s, &["down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
}

// -------------------------------------------------------------- measurement

/// Five segfault failovers at down-after 1000 ms with 3 sentinels: prints
/// median and max of switch_ms, client_recovered_ms - switch_ms and
/// write_outage_ms. Not a test of values: run by hand with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_five_segfault_failovers() {
    let lab = Lab::local(fast_spec()).await;
    let pool = MasterPool::sentinel(&lab.topology, 4, lab.bus.clone(), lab.cancel.clone())
        .await
        .unwrap();
    let mut rows: Vec<Failover> = Vec::new();
    for round in 0..5 {
        let (f, _, _) = segfault_failover(&lab, &pool, &format!("m{round}")).await;
        println!(
            "round {round}: {} -> {}: sdown {:?} odown {:?} elected {:?} switch {:?} rerouted {:?} recovered {:?} outage {:?} lost {:?}",
            f.old_master,
            f.new_master.clone().unwrap_or_default(),
            f.sdown_ms,
            f.odown_ms,
            f.elected_ms,
            f.switch_ms,
            f.client_rerouted_ms,
            f.client_recovered_ms,
            f.write_outage_ms,
            f.lost_acked_writes
        );
        let old = f.old_master.clone();
        let new = f.new_master.clone().unwrap();
        rows.push(f);
        lab.inject(FaultKind::Restart, Target::Node(old.clone()))
            .await
            .unwrap();
        wait_replica_of(&lab, &old, &new, Duration::from_secs(15)).await;
        // Let Sentinel see the rejoined replica before the next crash.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let stat = |name: &str, mut v: Vec<u64>| {
        v.sort();
        println!(
            "{name}: median {} ms, max {} ms, all {v:?}",
            v[v.len() / 2],
            v[v.len() - 1]
        );
    };
    stat(
        "switch_ms",
        rows.iter().map(|f| f.switch_ms.unwrap()).collect(),
    );
    stat(
        "client_recovered_ms - switch_ms",
        rows.iter()
            .map(|f| {
                f.client_recovered_ms
                    .unwrap()
                    .saturating_sub(f.switch_ms.unwrap())
            })
            .collect(),
    );
    stat(
        "write_outage_ms",
        rows.iter().map(|f| f.write_outage_ms.unwrap()).collect(),
    );
    pool.close().await;
    lab.teardown().await;
}

// ------------------------------------------------- split brain, in Docker

/// The Docker backend, or `None` (skipped, reason printed) when no engine
/// answers outside CI; on CI (`CI=true`) a missing engine fails.
async fn docker_or_skip(test: &str, state: &Path) -> Option<Arc<dyn Backend>> {
    match grabstorm::topology::docker::DockerBackend::connect(None).await {
        Ok(d) => Some(Arc::new(d.with_state_dir(state))),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: CI=true needs a Docker engine: {e:#}")
        }
        Err(e) => {
            eprintln!("SKIPPED {test}: no Docker engine answers: {e:#}");
            None
        }
    }
}

/// What one split brain cost.
struct SplitBrain {
    /// When the partition began, ms on the lab's clock.
    partition_at: u64,
    acked: Vec<Ack>,
    missing: Vec<Ack>,
    failover: Failover,
}

/// Partitions the master from every peer while a naive client keeps
/// writing to it; Sentinel promotes a replica; heal; wait until Sentinel
/// turns the old master into a replica (which drops what it took alone);
/// audit on the new master.
async fn split_brain(lab: &Lab) -> SplitBrain {
    let pool = MasterPool::naive(&lab.topology, 2, lab.bus.clone(), lab.cancel.clone())
        .await
        .unwrap();
    assert_eq!(pool.current().master, lab.addr("redis-1"));
    let load = WriteLoop::start(&pool, &lab.bus, 4, "split");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let done = lab
        .inject(FaultKind::Partition, Target::Master)
        .await
        .unwrap();
    assert!(
        done.contains("redis-1 cut off from all its peers"),
        "{done}"
    );
    let partition_at = lab
        .bus
        .all()
        .iter()
        .find(|e| matches!(&e.kind, EventKind::FaultInjected { fault, .. } if fault == "partition"))
        .expect("the partition is on the timeline")
        .at_ms;

    // Cut off from its peers, the node still answers the host through its
    // published port.
    let mut conn = grabstorm::client::connect(lab.addr("redis-1"), &lab.topology.auth())
        .await
        .unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");

    lab.wait_event("+switch-master", Duration::from_secs(20), |e| {
        sentinel_event(e, "+switch-master")
    })
    .await;
    // The isolated old master keeps its role meanwhile.
    assert_eq!(
        info_field(lab.addr("redis-1"), &lab.topology.auth(), "role")
            .await
            .as_deref(),
        Some("master")
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let healed = lab
        .inject(FaultKind::Heal, Target::Node("redis-1".into()))
        .await
        .unwrap();
    assert!(healed.contains("redis-1 healed"), "{healed}");
    // Both sides of every cut are gone: nothing is left for `heal all`.
    let again = lab.inject(FaultKind::Heal, Target::All).await.unwrap();
    assert_eq!(again, "no node was cut off: nothing to heal");
    // Sentinel converts the old master 12-17 s after the heal.
    lab.wait_event("+convert-to-slave", Duration::from_secs(30), |e| {
        sentinel_event(e, "+convert-to-slave")
            && matches!(&e.kind, EventKind::Sentinel { payload, .. }
                if lab.topology.node_by_addr(payload.split_whitespace().nth(1).unwrap_or("")).map(|n| n.name.as_str()) == Some("redis-1"))
    })
    .await;
    let acked = load.finish().await;
    pool.close().await;
    let events = lab.bus.all();
    let probe = timeline::failovers(&events, &[], &lab.topology, &LostAckedWrites::default());
    let new_master = probe[0].new_master.clone().expect("a new master");
    wait_replica_of(lab, "redis-1", &new_master, Duration::from_secs(15)).await;
    let missing = missing_on(lab.addr(&new_master), &lab.topology.auth(), &acked).await;
    let mut f = timeline::failovers(&events, &[], &lab.topology, &lost(&missing));
    assert_eq!(f.len(), 1, "{}", lab.timeline());
    SplitBrain {
        partition_at,
        acked,
        missing,
        failover: f.remove(0),
    }
}

fn split_spec(min_replicas_to_write: u16) -> TopologySpec {
    TopologySpec {
        down_after_ms: 1000,
        failover_timeout_ms: 5000,
        min_replicas_to_write,
        min_replicas_max_lag_s: 1,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Each test has its own runtime: a blocking guard is the point.
#[allow(clippy::await_holding_lock)]
async fn split_brain_loses_acknowledged_writes_without_min_replicas() {
    let _cut = crate::support::one_partition_at_a_time();
    let state = state_dir();
    let Some(backend) = docker_or_skip("split_brain_without_min_replicas", state.path()).await
    else {
        return;
    };
    let lab = Lab::start(backend, split_spec(0), state).await;
    let s = split_brain(&lab).await;
    let f = &s.failover;
    assert!(f.failed_over && f.old_master == "redis-1", "{f:?}");
    assert!(f.old_master_rejoined_as_replica, "{f:?}");
    let after_partition = s.acked.iter().filter(|(_, t)| *t > s.partition_at).count();
    assert!(
        !s.missing.is_empty(),
        "the isolated master acknowledged {after_partition} writes after the partition; some must be lost\n{}",
        lab.timeline()
    );
    // What is lost was acknowledged by the isolated master: after the cut
    // (or in the last moment before it, not yet replicated).
    assert!(s.missing.iter().all(|(_, t)| *t + 500 >= s.partition_at));
    assert_eq!(f.lost_acked_writes, Some(s.missing.len() as u64), "{f:?}");
    eprintln!(
        "split brain without min-replicas: {} acknowledged after the partition, {} lost",
        after_partition,
        s.missing.len()
    );
    lab.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Each test has its own runtime: a blocking guard is the point.
#[allow(clippy::await_holding_lock)]
async fn split_brain_with_min_replicas_loses_at_most_the_lag_window() {
    let _cut = crate::support::one_partition_at_a_time();
    let state = state_dir();
    let Some(backend) = docker_or_skip("split_brain_with_min_replicas", state.path()).await else {
        return;
    };
    let lab = Lab::start(backend, split_spec(1), state).await;
    let s = split_brain(&lab).await;
    let f = &s.failover;
    assert!(f.failed_over && f.old_master_rejoined_as_replica, "{f:?}");
    // The isolated master refuses writes (NOREPLICAS) once its replicas are
    // older than min-replicas-max-lag (1 s).
    // Redis counts replica lag in whole seconds and refreshes its count of
    // good replicas once a second: the window is lag + 2 s, plus slack.
    let window_end = s.partition_at + 3500;
    let late: Vec<&Ack> = s.missing.iter().filter(|(_, t)| *t > window_end).collect();
    assert!(
        late.is_empty(),
        "writes lost outside the lag window: {late:?}"
    );
    let after_window = s
        .acked
        .iter()
        .filter(|(_, t)| *t > window_end && *t < s.partition_at + 6000)
        .count();
    assert_eq!(
        after_window,
        0,
        "the isolated master must refuse writes after the lag window\n{}",
        lab.timeline()
    );
    assert_eq!(f.lost_acked_writes, Some(s.missing.len() as u64), "{f:?}");
    eprintln!(
        "split brain with min-replicas-to-write 1: {} lost (all within the lag window)",
        s.missing.len()
    );
    lab.teardown().await;
}

// ------------------------- segfault during a red-packet load, on Docker

/// The red-packet grabs of a run's journal that `master` no longer holds:
/// an audit independent of the lab's own (its own reads, its own keys; the
/// journal as `grabstorm journal DIR` prints it).
fn grabs_missing_on(master: SocketAddr, password: Option<&str>, run_dir: &Path) -> u64 {
    let mut conn = redis::Client::open(crate::support::url_with(password, master))
        .unwrap()
        .get_connection()
        .unwrap();
    let mut missing = 0;
    let printed = Command::new(grabstorm_bin())
        .arg("journal")
        .arg(run_dir)
        .output()
        .unwrap();
    assert!(printed.status.success(), "{printed:?}");
    for line in String::from_utf8(printed.stdout).unwrap().lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        if r["op"] != "redpacket_grab" {
            continue;
        }
        let grabs = format!("{}:grabs", r["key"].as_str().unwrap());
        let user = r["user"].as_u64().unwrap();
        let held: Option<i64> = redis::cmd("HGET")
            .arg(&grabs)
            .arg(user)
            .query(&mut conn)
            .unwrap();
        if held != Some(r["value"].as_i64().unwrap()) {
            missing += 1;
        }
    }
    missing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segfault_during_a_redpacket_load_on_docker_fails_over_and_the_audit_agrees() {
    let state = state_dir();
    let s = state.path().to_path_buf();
    if docker_or_skip("segfault_during_a_redpacket_load_on_docker", &s)
        .await
        .is_none()
    {
        return;
    }
    let out_dir = s.join("out");
    let (s2, out2) = (s.clone(), out_dir.clone());
    // `load --attach` leaves the topology up, so the data can be compared
    // with the journal independently before `down`.
    let outcome = tokio::task::spawn_blocking(move || {
        let up = grabstorm(&s2, &["up", "--backend", "docker", "--json"]);
        assert!(up.status.success(), "up: {}", text(&up.stderr));
        let load = grabstorm(
            &s2,
            &[
                "load",
                "--attach",
                "--workload",
                "redpacket",
                "--grabbers",
                "200",
                "--duration",
                "10s",
                "--fault",
                "2s segfault master",
                "--seed",
                "5",
                "--json",
                "--out",
                out2.to_str().unwrap(),
            ],
        );
        assert!(load.status.success(), "load: {}", text(&load.stderr));
        let status = grabstorm(&s2, &["status", "--json"]);
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        let master = status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["role"] == "master")
            .unwrap_or_else(|| panic!("no master in {status}"))
            .clone();
        let addr: SocketAddr = master["host_addr"].as_str().unwrap().parse().unwrap();
        assert!(addr.ip().is_loopback(), "{master}");
        let missing = grabs_missing_on(addr, status["password"].as_str(), &out2);
        let report: serde_json::Value = serde_json::from_slice(&load.stdout).unwrap();
        (report, master, missing)
    })
    .await;
    // Whatever happened, the containers go.
    let down = grabstorm(&s, &["down"]);
    assert!(down.status.success(), "down: {}", text(&down.stderr));
    let (report, master, missing) = outcome.unwrap();

    let f = &report["failovers"][0];
    assert_eq!(f["fault"], "segfault", "{f}");
    assert_eq!(f["failed_over"], true, "{f}");
    assert_eq!(f["sentinels_switched"].as_array().unwrap().len(), 3, "{f}");
    let phase = |k: &str| f[k].as_u64().unwrap_or_else(|| panic!("{k} missing: {f}"));
    assert!(phase("sdown_ms") <= phase("odown_ms"), "{f}");
    assert!(phase("odown_ms") <= phase("switch_ms"), "{f}");
    assert!(phase("switch_ms") <= phase("client_recovered_ms"), "{f}");
    assert_eq!(master["name"], f["new_master"], "{f}");
    assert_ne!(master["name"], "redis-1");
    // The lab's count of lost acknowledged grabs is what an independent
    // comparison of journal and data gives.
    assert_eq!(
        report["redpacket"]["lost_acked_grabs"].as_u64(),
        Some(missing)
    );
    assert!(report["redpacket"]["grabs_ok"].as_u64().unwrap() > 0);
}
