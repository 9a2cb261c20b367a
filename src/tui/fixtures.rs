//! Constructed dashboard states shaped like recorded runs of the default
//! topology (3 Redis nodes, 3 sentinels, quorum 2, mixed load, 1,000
//! grabbers): healthy, a failover in progress, and after a failover with
//! lost writes and a lock violation; and the audited reports the end screen
//! shows (losses of two causes, an audit that could not be made); and a
//! Redis Cluster of 3 masters with a replica each, healthy, with shard 1's
//! master segfaulted and flagged FAIL, and after its replica won the
//! election. The
//! snapshot tests render them and the frame-rate test times frames on them
//! without a cluster; nothing outside the tests uses them.

use crate::metrics::timeline::LostAckedWrites;
use crate::metrics::{ClusterRedirects, ShardOps};
use crate::metrics::{
    ErrorClass, Event, EventKind, Health, LatencyBucket, LatencySummary, LatencyView, LoadView,
    LockView, LockViolation, NodeView, PositionStats, RedPacketView, Role, SeckillView, Snapshot,
    ThroughputPoint, TopologyView,
};
use crate::report::model::{AuditSummary, Report};
use crate::topology::cluster::{ClusterStatus, FailFlag, NodeClusterStatus, ShardStatus};
use crate::topology::{BackendKind, Node, NodeKind, Topology, TopologySpec};
use crate::workload::{LockKind, WorkloadKind};
use std::collections::BTreeMap;

/// A dashboard state: the run's topology record, its latest snapshot and
/// the timeline so far.
pub struct State {
    pub topology: Topology,
    /// Snapshots before `snapshot`, oldest first (the dashboard measures
    /// redirect rates between snapshots).
    pub earlier: Vec<Snapshot>,
    pub snapshot: Snapshot,
    pub events: Vec<Event>,
}

const REDIS_PORTS: [u16; 3] = [7001, 7002, 7003];
const SENTINEL_PORTS: [u16; 3] = [27001, 27002, 27003];
/// Each sentinel's own id (`SENTINEL MYID`), as `+vote-for-leader` names it.
const SENTINEL_IDS: [&str; 3] = [
    "4be8f1a03c6d92e7b5a1f04c8d3e6a9b2c7f1e05",
    "9c1e0d2b7a4f63e8d05b1c9a7e2f48d6b3a0c1f9",
    "e27a5c914d0b8f36a1c7e5d2b9f04a83c6e1d7b2",
];

/// The default topology on loopback ports.
pub fn topology() -> Topology {
    let mut nodes = Vec::new();
    for (i, port) in REDIS_PORTS.iter().enumerate() {
        nodes.push(Node {
            name: format!("redis-{}", i + 1),
            kind: NodeKind::Redis,
            host_addr: format!("127.0.0.1:{port}").parse().expect("address"),
            internal_addr: format!("127.0.0.1:{port}"),
            handle: format!("{}", 40_100 + i),
        });
    }
    for (i, port) in SENTINEL_PORTS.iter().enumerate() {
        nodes.push(Node {
            name: format!("sentinel-{}", i + 1),
            kind: NodeKind::Sentinel,
            host_addr: format!("127.0.0.1:{port}").parse().expect("address"),
            internal_addr: format!("127.0.0.1:{port}"),
            handle: format!("{}", 40_200 + i),
        });
    }
    Topology {
        run_id: "7f3a9c".to_string(),
        backend: BackendKind::Local,
        spec: TopologySpec::default(),
        nodes,
        image: None,
        network_id: None,
        run_dir: "/tmp/grabstorm/runs/7f3a9c".into(),
        aliases: BTreeMap::new(),
        password: None,
        shards: Default::default(),
        sentinel_ids: SENTINEL_IDS
            .iter()
            .enumerate()
            .map(|(i, id)| (id.to_string(), format!("sentinel-{}", i + 1)))
            .collect(),
    }
}

fn redis(
    name: &str,
    role: Role,
    health: Health,
    offset: Option<u64>,
    lag: Option<u64>,
    of: Option<&str>,
) -> NodeView {
    let port = REDIS_PORTS[name[6..].parse::<usize>().expect("redis-N") - 1];
    NodeView {
        name: name.to_string(),
        kind: NodeKind::Redis,
        role,
        health,
        host_addr: format!("127.0.0.1:{port}"),
        internal_addr: format!("127.0.0.1:{port}"),
        shard: None,
        repl_offset: offset,
        lag_bytes: lag,
        master_of_replica: of.map(str::to_string),
        sentinel_master: None,
    }
}

fn sentinel(n: usize, says: &str) -> NodeView {
    NodeView {
        name: format!("sentinel-{n}"),
        kind: NodeKind::Sentinel,
        role: Role::Sentinel,
        health: Health::Up,
        host_addr: format!("127.0.0.1:{}", SENTINEL_PORTS[n - 1]),
        internal_addr: format!("127.0.0.1:{}", SENTINEL_PORTS[n - 1]),
        shard: None,
        repl_offset: None,
        lag_bytes: None,
        master_of_replica: None,
        sentinel_master: Some(says.to_string()),
    }
}

/// Operations per second at second `t` of a steady run: ~12k with a
/// deterministic wobble, ramping up over the first seconds.
fn steady(t: u64) -> u64 {
    let wobble = [0, 310, 520, 260, -140, -380, -210, 90, 430, 170, -260, -90];
    let base = 12_000i64 + wobble[(t % 12) as usize];
    let ramp = (t + 1).min(4) as i64;
    (base * ramp / 4) as u64
}

fn throughput(until_s: u64, outage: Option<(u64, u64)>) -> Vec<ThroughputPoint> {
    (0..until_s)
        .map(|t| {
            let (ok, errors) = match outage {
                Some((a, b)) if t >= a && t <= b => {
                    // Reads of in-flight ops still land in the first second.
                    let ok = if t == a { steady(t) / 3 } else { 0 };
                    (ok, 3_000 + (t % 3) * 400)
                }
                Some((_, b)) if t == b + 1 => (steady(t) / 2, 900),
                _ => (steady(t), if t % 17 == 5 { 3 } else { 0 }),
            };
            ThroughputPoint {
                t_s: t,
                ok,
                errors,
                writes_ok: ok / 2,
                ..Default::default()
            }
        })
        .collect()
}

fn latency(tail: bool) -> LatencyView {
    let counts: [u64; 14] = [
        0,
        2_100,
        96_000,
        410_000,
        388_000,
        151_000,
        42_000,
        9_800,
        2_300,
        610,
        140,
        if tail { 2_900 } else { 30 },
        if tail { 1_850 } else { 4 },
        if tail { 420 } else { 0 },
    ];
    let buckets = counts
        .iter()
        .enumerate()
        .map(|(i, c)| LatencyBucket {
            upper_us: 50 << i,
            count: *c,
        })
        .collect();
    let interval = LatencySummary {
        count: 6_200,
        p50_us: 410,
        p90_us: 880,
        p99_us: 2_150,
        p999_us: 7_900,
        max_us: 38_000,
    };
    let total = if tail {
        LatencySummary {
            count: 1_105_000,
            p50_us: 420,
            p90_us: 930,
            p99_us: 3_300,
            p999_us: 410_000,
            max_us: 1_620_000,
        }
    } else {
        LatencySummary {
            count: 1_103_000,
            p50_us: 405,
            p90_us: 870,
            p99_us: 2_080,
            p999_us: 7_600,
            max_us: 41_000,
        }
    };
    LatencyView {
        interval,
        total,
        buckets,
        ..Default::default()
    }
}

fn locks(violations: bool) -> Vec<LockView> {
    let view = |kind, holders, waiters, acquired, failed, rate: f64| LockView {
        kind,
        holders,
        waiters,
        attempts: acquired + failed,
        acquired,
        refused: failed,
        failed,
        ttl_expired_while_held: 0,
        locks_lost: 0,
        acquisitions_per_s: rate,
        violations: 0,
        lost_updates: 0,
        stale_tokens_refused: 0,
        wait: LatencySummary::default(),
        hold: LatencySummary::default(),
        last_violations: Vec::new(),
    };
    let mut v = vec![
        view(LockKind::Naive, 1, 61, 48_210, 131_400, 512.0),
        view(LockKind::Safe, 1, 58, 47_900, 129_800, 505.0),
        view(LockKind::Reentrant, 1, 60, 47_650, 130_200, 498.0),
        view(LockKind::Fenced, 1, 57, 48_020, 128_900, 509.0),
    ];
    if violations {
        v[0].violations = 2;
        v[0].lost_updates = 3;
        v[0].last_violations = vec![
            LockViolation {
                at_ms: 102_870,
                lock: "lock:stock:7".to_string(),
                holders: vec!["g-0417".to_string(), "g-0932".to_string()],
            },
            LockViolation {
                at_ms: 102_940,
                lock: "lock:stock:2".to_string(),
                holders: vec!["g-0108".to_string(), "g-0755".to_string()],
            },
        ];
        v[1].violations = 1;
        v[1].last_violations = vec![LockViolation {
            at_ms: 103_020,
            lock: "lock:stock:4".to_string(),
            holders: vec!["g-0263".to_string(), "g-0841".to_string()],
        }];
        v[3].stale_tokens_refused = 4;
        // Slow holders under the failover's latency: the TTL ran out on them.
        v[0].ttl_expired_while_held = 5;
        v[1].ttl_expired_while_held = 2;
        v[1].locks_lost = 1;
    }
    v
}

fn redpacket(done: u64) -> RedPacketView {
    // Ten grabbers per ¥100 packet; later positions see a wider spread
    // (the double-mean method), the first rarely wins the luck king.
    let spread = [
        310.0, 380.0, 450.0, 520.0, 590.0, 660.0, 740.0, 820.0, 910.0, 1_010.0,
    ];
    let means = [
        1_003.0, 998.0, 1_001.0, 996.0, 1_004.0, 999.0, 1_002.0, 997.0, 1_000.0, 1_000.0,
    ];
    let king = [0.03, 0.05, 0.07, 0.08, 0.09, 0.10, 0.12, 0.13, 0.15, 0.18];
    RedPacketView {
        packets: done + 14,
        packets_done: done,
        grabs_ok: done * 10 + 61,
        amount_sent_cents: (done + 14) * 10_000,
        amount_granted_cents: done * 10_000 + 61 * 1_000,
        conservation_ok: true,
        duplicate_grabs: 0,
        expected_mean_cents: 1_000.0,
        by_position: (0..10)
            .map(|i| PositionStats {
                position: i + 1,
                grabs: done,
                mean_cents: means[i],
                stdev_cents: spread[i],
                luck_king_share: king[i],
            })
            .collect(),
        gini_mean: 0.31,
    }
}

fn sentinel_event(at_ms: u64, n: usize, name: &str, payload: &str) -> Event {
    Event {
        at_ms,
        source: format!("sentinel-{n}"),
        kind: EventKind::Sentinel {
            name: name.to_string(),
            payload: payload.to_string(),
        },
    }
}

fn startup_events() -> Vec<Event> {
    vec![
        Event {
            at_ms: 0,
            source: "lab".to_string(),
            kind: EventKind::Note {
                text: "topology ready: redis-1 master, 2 replicas, 3 sentinels (local)".to_string(),
            },
        },
        Event {
            at_ms: 40,
            source: "lab".to_string(),
            kind: EventKind::LoadChanged {
                what: "mixed workload, 1,000 grabbers".to_string(),
            },
        },
    ]
}

const M1: &str = "master mymaster 127.0.0.1 7001";

fn failover_events(until_ms: u64) -> Vec<Event> {
    let mut e = startup_events();
    e.push(Event {
        at_ms: 97_003,
        source: "lab".to_string(),
        kind: EventKind::FaultInjected {
            fault: "segfault".to_string(),
            node: "redis-1".to_string(),
        },
    });
    let sel = "slave 127.0.0.1:7002 127.0.0.1 7002 @ mymaster 127.0.0.1 7001";
    let seq = [
        sentinel_event(98_114, 2, "+sdown", M1),
        sentinel_event(98_131, 1, "+sdown", M1),
        sentinel_event(98_160, 3, "+sdown", M1),
        sentinel_event(98_212, 2, "+odown", &format!("{M1} #quorum 2/2")),
        sentinel_event(98_213, 2, "+new-epoch", "1"),
        sentinel_event(98_214, 2, "+try-failover", M1),
        sentinel_event(98_230, 1, "+vote-for-leader", &format!("{} 1", SENTINEL_IDS[1])),
        sentinel_event(98_231, 3, "+vote-for-leader", &format!("{} 1", SENTINEL_IDS[1])),
        sentinel_event(98_290, 2, "+elected-leader", M1),
        sentinel_event(98_291, 2, "+failover-state-select-slave", M1),
        sentinel_event(98_372, 2, "+selected-slave", sel),
        sentinel_event(98_373, 2, "+failover-state-send-slaveof-noone", sel),
        sentinel_event(98_440, 2, "+failover-state-wait-promotion", sel),
        sentinel_event(101_610, 2, "+promoted-slave", sel),
        sentinel_event(101_611, 2, "+failover-state-reconf-slaves", M1),
        sentinel_event(101_700, 2, "+slave-reconf-sent", "slave 127.0.0.1:7003 127.0.0.1 7003 @ mymaster 127.0.0.1 7001"),
        sentinel_event(102_390, 2, "+failover-end", M1),
        sentinel_event(102_391, 2, "+switch-master", "mymaster 127.0.0.1 7001 127.0.0.1 7002"),
        sentinel_event(102_402, 1, "+switch-master", "mymaster 127.0.0.1 7001 127.0.0.1 7002"),
        sentinel_event(102_405, 3, "+switch-master", "mymaster 127.0.0.1 7001 127.0.0.1 7002"),
        Event {
            at_ms: 102_480,
            source: "client".to_string(),
            kind: EventKind::ClientRerouted {
                from: "redis-1".to_string(),
                to: "redis-2".to_string(),
            },
        },
        Event {
            at_ms: 102_515,
            source: "client".to_string(),
            kind: EventKind::WritesRecovered { outage_ms: 5_512 },
        },
        Event {
            at_ms: 102_870,
            source: "locks".to_string(),
            kind: EventKind::LockViolation {
                lock: "lock:stock:7".to_string(),
                holders: vec!["g-0417".to_string(), "g-0932".to_string()],
            },
        },
        Event {
            at_ms: 120_004,
            source: "lab".to_string(),
            kind: EventKind::FaultInjected {
                fault: "restart".to_string(),
                node: "redis-1".to_string(),
            },
        },
        sentinel_event(121_350, 1, "-sdown", "slave 127.0.0.1:7001 127.0.0.1 7001 @ mymaster 127.0.0.1 7002"),
        sentinel_event(131_380, 2, "+convert-to-slave", "slave 127.0.0.1:7001 127.0.0.1 7001 @ mymaster 127.0.0.1 7002"),
        Event {
            at_ms: 131_500,
            source: "audit".to_string(),
            kind: EventKind::Note {
                text: "37 acknowledged grabs are missing from the new master: lost with redis-1's unreplicated writes".to_string(),
            },
        },
    ];
    e.extend(seq.into_iter().filter(|ev| ev.at_ms <= until_ms));
    e
}

fn base(elapsed_ms: u64) -> Snapshot {
    Snapshot {
        run_id: "7f3a9c".to_string(),
        seed: 42,
        backend: "local".to_string(),
        elapsed_ms,
        load: LoadView {
            workload: WorkloadKind::Mixed,
            grabbers: 1_000,
            paused: false,
            done: false,
            stopped: false,
        },
        ..Default::default()
    }
}

/// Everything up, sentinels agree, ~12k ops/s.
pub fn healthy() -> State {
    let mut s = base(95_400);
    s.ops_per_s = 12_480.0;
    s.throughput = throughput(95, None);
    s.latency = latency(false);
    s.errors.insert(ErrorClass::Timeout, 18);
    s.topology = TopologyView {
        nodes: vec![
            redis(
                "redis-1",
                Role::Master,
                Health::Up,
                Some(48_213_560),
                None,
                None,
            ),
            redis(
                "redis-2",
                Role::Replica,
                Health::Up,
                Some(48_213_560),
                Some(0),
                Some("redis-1"),
            ),
            redis(
                "redis-3",
                Role::Replica,
                Health::Up,
                Some(48_212_536),
                Some(1_024),
                Some("redis-1"),
            ),
            sentinel(1, "redis-1"),
            sentinel(2, "redis-1"),
            sentinel(3, "redis-1"),
        ],
        failover_in_progress: false,
        cluster: None,
    };
    s.redpacket = Some(redpacket(1_270));
    s.seckill = Some(SeckillView {
        stock: 10_000,
        sold: 6_420,
        stock_left: 3_580,
        oversold: 0,
    });
    s.locks = locks(false);
    let events = startup_events();
    s.events = events.clone();
    State {
        topology: topology(),
        earlier: Vec::new(),
        snapshot: s,
        events,
    }
}

/// 1.6 s after Sentinel flagged the segfaulted master down: odown agreed,
/// a leader elected, redis-2 selected, not yet switched; writes failing.
pub fn failover_in_progress() -> State {
    let mut st = healthy();
    let s = &mut st.snapshot;
    s.elapsed_ms = 100_400;
    s.ops_per_s = 0.0;
    s.throughput = throughput(100, Some((97, 101)));
    s.errors_per_s
        .insert(ErrorClass::ConnectionRefused, 3_412.0);
    s.errors_per_s.insert(ErrorClass::Timeout, 118.0);
    s.latency.interval = LatencySummary::default();
    s.topology = TopologyView {
        nodes: vec![
            redis("redis-1", Role::Unknown, Health::Down, None, None, None),
            redis(
                "redis-2",
                Role::Replica,
                Health::Up,
                Some(48_990_112),
                None,
                Some("redis-1"),
            ),
            redis(
                "redis-3",
                Role::Replica,
                Health::Up,
                Some(48_990_112),
                None,
                Some("redis-1"),
            ),
            sentinel(1, "redis-1"),
            sentinel(2, "redis-1"),
            sentinel(3, "redis-1"),
        ],
        failover_in_progress: true,
        cluster: None,
    };
    st.events = failover_events(100_400);
    st.snapshot.events = st.events[st.events.len().saturating_sub(20)..].to_vec();
    st
}

/// 40 s after the switch to redis-2: the old master restarted and rejoined
/// as a replica; the audit found lost grabs; naive and safe locks were held
/// twice across the switch.
pub fn after_failover() -> State {
    let mut st = healthy();
    let s = &mut st.snapshot;
    s.elapsed_ms = 140_200;
    s.ops_per_s = 12_130.0;
    s.throughput = throughput(140, Some((97, 101)));
    s.latency = latency(true);
    s.errors.insert(ErrorClass::ConnectionRefused, 15_204);
    s.errors.insert(ErrorClass::Readonly, 212);
    s.topology = TopologyView {
        nodes: vec![
            redis(
                "redis-1",
                Role::Replica,
                Health::Up,
                Some(71_502_880),
                Some(0),
                Some("redis-2"),
            ),
            redis(
                "redis-2",
                Role::Master,
                Health::Up,
                Some(71_502_880),
                None,
                None,
            ),
            redis(
                "redis-3",
                Role::Replica,
                Health::Up,
                Some(71_500_112),
                Some(2_768),
                Some("redis-2"),
            ),
            sentinel(1, "redis-2"),
            sentinel(2, "redis-2"),
            sentinel(3, "redis-2"),
        ],
        failover_in_progress: false,
        cluster: None,
    };
    s.redpacket = Some(redpacket(1_830));
    s.locks = locks(true);
    s.seckill = Some(SeckillView {
        stock: 10_000,
        sold: 9_310,
        stock_left: 690,
        oversold: 0,
    });
    st.events = failover_events(140_200);
    st.snapshot.events = st.events[st.events.len().saturating_sub(20)..].to_vec();
    st
}

/// The report's header for [`after_failover`]'s run, before the audit.
fn report_of_the_run() -> Report {
    Report {
        run_id: "7f3a9c".to_string(),
        seed: 42,
        backend: "local".to_string(),
        duration_s: 140.2,
        grabbers: 1_000,
        ..Default::default()
    }
}

/// The audited report of [`after_failover`]'s run, as the lab builds it:
/// 37 grabs acknowledged by redis-1 in the last 300 ms before the segfault
/// never reached redis-2 (a failover loss), and 12 acknowledged by redis-1
/// after redis-2 was elected, before the client moved (split brain). The
/// losses and their sentences come from the report's own attribution.
pub fn report_with_losses() -> Report {
    let state = after_failover();
    let mut at_ms: Vec<u64> = (0..37).map(|i| 96_700 + i * 8).collect();
    at_ms.extend((0..12).map(|i| 102_400 + i * 6));
    let lost = LostAckedWrites {
        total: at_ms.len() as u64,
        nodes: vec!["redis-1".to_string(); at_ms.len()],
        at_ms,
    };
    let (failovers, losses) = crate::metrics::timeline::failovers_and_losses(
        &state.events,
        &state.snapshot.throughput,
        &state.topology,
        &lost,
    );
    let mut report = report_of_the_run();
    report.events = state.events;
    report.failovers = failovers;
    report.losses = losses;
    report.topology_findings = vec![
        "redis-3 reports itself a replica of redis-2, but its link has been down since +2:11.0"
            .to_string(),
    ];
    report.audit = AuditSummary {
        checked: true,
        reason: Some("the agreed master once the run settled".to_string()),
        journal_records: 812_400,
        checked_node: "redis-2".to_string(),
        lost_acked_writes: lost.total,
        ..Default::default()
    };
    report.judge();
    report
}

/// A report whose audit could not be made: no data node answered.
pub fn report_unchecked() -> Report {
    let mut report = report_of_the_run();
    report.audit = AuditSummary {
        checked: false,
        reason: Some(
            "no data node answered: redis-1, redis-2 and redis-3 refused connections".to_string(),
        ),
        ..Default::default()
    };
    report.judge();
    report
}

const CLUSTER_PORTS: [u16; 6] = [7001, 7002, 7003, 7004, 7005, 7006];

/// A Redis Cluster of 3 masters (`redis-1..3`) with a replica each
/// (`redis-4..6`), on the local backend.
pub fn cluster_topology() -> Topology {
    let mut t = topology();
    t.spec = TopologySpec {
        mode: crate::topology::HaMode::Cluster,
        ..Default::default()
    };
    t.nodes = CLUSTER_PORTS
        .iter()
        .enumerate()
        .map(|(i, port)| Node {
            name: format!("redis-{}", i + 1),
            kind: NodeKind::Redis,
            host_addr: format!("127.0.0.1:{port}").parse().expect("address"),
            internal_addr: format!("127.0.0.1:{port}"),
            handle: format!("{}", 40_100 + i),
        })
        .collect();
    t.sentinel_ids = BTreeMap::new();
    t
}

/// A cluster node as the topology poll reads it (`INFO replication`).
fn cluster_node(name: &str, role: Role, health: Health, of: Option<&str>) -> NodeView {
    let n = name[6..].parse::<usize>().expect("redis-N");
    let port = CLUSTER_PORTS[n - 1];
    NodeView {
        name: name.to_string(),
        kind: NodeKind::Redis,
        role,
        health,
        host_addr: format!("127.0.0.1:{port}"),
        internal_addr: format!("127.0.0.1:{port}"),
        // Three masters: redis-4..6 follow redis-1..3 in shards 1..3.
        shard: Some((n - 1) % 3 + 1),
        repl_offset: (health == Health::Up).then_some(9_412_330),
        lag_bytes: of.map(|_| 0),
        master_of_replica: of.map(str::to_string),
        sentinel_master: None,
    }
}

fn shard(k: usize, master: Option<&str>, replicas: &[&str], epoch: u64) -> ShardStatus {
    ShardStatus {
        shard: k,
        master: master.map(str::to_string),
        slots: master.map_or_else(Vec::new, |_| {
            vec![crate::topology::admin::cluster::even_split(3)[k - 1]]
        }),
        replicas: replicas.iter().map(|r| r.to_string()).collect(),
        config_epoch: master.map(|_| epoch),
    }
}

/// Node `n`'s own word: `ok`, its current epoch and whom it flags.
fn said(n: usize, ok: bool, epoch: u64, flags: &[(&str, FailFlag)]) -> NodeClusterStatus {
    NodeClusterStatus {
        name: format!("redis-{n}"),
        answered: true,
        state_ok: ok,
        current_epoch: epoch,
        slots_assigned: 16_384,
        flags: flags.iter().map(|(k, f)| (k.to_string(), *f)).collect(),
    }
}

fn silent(n: usize) -> NodeClusterStatus {
    NodeClusterStatus {
        name: format!("redis-{n}"),
        answered: false,
        state_ok: false,
        current_epoch: 0,
        slots_assigned: 0,
        flags: BTreeMap::new(),
    }
}

/// The client's counts per shard (`replies` so far, the rate now) at
/// `elapsed_ms`, with redirects so far.
fn cluster_client(s: &mut Snapshot, rates: [f64; 3], redirects: (u64, u64, u64)) {
    s.shards = rates
        .iter()
        .enumerate()
        .map(|(i, r)| ShardOps {
            shard: i as u16 + 1,
            first_slot: crate::topology::admin::cluster::even_split(3)[i].start,
            master: None,
            replies: 1_200_000 + i as u64 * 3_100,
            replies_per_s: *r,
            ..Default::default()
        })
        .collect();
    s.redirects = Some(ClusterRedirects {
        moved: redirects.0,
        ask: redirects.1,
        refreshes: redirects.2,
    });
}

/// The same snapshot a second earlier, with fewer redirects.
fn a_second_before(s: &Snapshot, moved: u64, ask: u64) -> Snapshot {
    let mut e = s.clone();
    e.elapsed_ms -= 1_000;
    if let Some(r) = &mut e.redirects {
        r.moved -= moved;
        r.ask -= ask;
    }
    e
}

fn cluster_startup_events() -> Vec<Event> {
    let mut e = startup_events();
    e[0].kind = EventKind::Note {
        text: "topology ready: 3 masters, 3 replicas, cluster_state ok (local)".to_string(),
    };
    e
}

/// Three shards serving, every node ok in epoch 6, ~12k answers/s.
pub fn cluster_healthy() -> State {
    let mut s = base(95_400);
    s.ops_per_s = 12_480.0;
    s.throughput = throughput(95, None);
    s.latency = latency(false);
    s.topology = TopologyView {
        nodes: vec![
            cluster_node("redis-1", Role::Master, Health::Up, None),
            cluster_node("redis-2", Role::Master, Health::Up, None),
            cluster_node("redis-3", Role::Master, Health::Up, None),
            cluster_node("redis-4", Role::Replica, Health::Up, Some("redis-1")),
            cluster_node("redis-5", Role::Replica, Health::Up, Some("redis-2")),
            cluster_node("redis-6", Role::Replica, Health::Up, Some("redis-3")),
        ],
        failover_in_progress: false,
        cluster: Some(ClusterStatus {
            shards: vec![
                shard(1, Some("redis-1"), &["redis-4"], 1),
                shard(2, Some("redis-2"), &["redis-5"], 2),
                shard(3, Some("redis-3"), &["redis-6"], 3),
            ],
            nodes: (1..=6).map(|n| said(n, true, 6, &[])).collect(),
        }),
    };
    cluster_client(&mut s, [4_130.0, 4_205.0, 4_145.0], (0, 0, 1));
    s.redpacket = Some(redpacket(1_270));
    s.locks = locks(false);
    let events = cluster_startup_events();
    s.events = events.clone();
    State {
        topology: cluster_topology(),
        earlier: vec![a_second_before(&s, 0, 0)],
        snapshot: s,
        events,
    }
}

fn segfault_of_redis_1() -> Vec<Event> {
    let mut e = cluster_startup_events();
    e.push(Event {
        at_ms: 97_003,
        source: "lab".to_string(),
        kind: EventKind::FaultInjected {
            fault: "segfault".to_string(),
            node: "redis-1".to_string(),
        },
    });
    for (at_ms, by, flag) in [
        (99_050, 2, "pfail"),
        (99_110, 3, "pfail"),
        (99_180, 2, "fail"),
    ] {
        e.push(Event {
            at_ms,
            source: format!("redis-{by}"),
            kind: EventKind::ClusterFlagged {
                node: "redis-1".to_string(),
                flag: flag.to_string(),
            },
        });
    }
    e.push(Event {
        at_ms: 99_200,
        source: "cluster".to_string(),
        kind: EventKind::ClusterState {
            ok: false,
            failing_nodes: vec!["redis-2".into(), "redis-3".into(), "redis-5".into()],
            uncovered: "0–5461".to_string(),
            full_coverage: true,
        },
    });
    e
}

/// 2.3 s after `redis-1` (shard 1's master) was segfaulted, node-timeout
/// 2000 ms: the masters agreed it FAILs, three nodes refuse every command
/// (slots 0–5461 have no serving master), `redis-6` has only flagged it
/// PFAIL so far, `redis-4` has not won its election yet.
pub fn cluster_master_failed() -> State {
    let mut st = cluster_healthy();
    let s = &mut st.snapshot;
    s.elapsed_ms = 99_300;
    s.ops_per_s = 8_210.0;
    s.throughput = throughput(99, Some((97, 99)));
    s.errors_per_s
        .insert(ErrorClass::ConnectionRefused, 1_380.0);
    s.errors_per_s.insert(ErrorClass::ClusterDown, 2_950.0);
    s.latency.interval = LatencySummary::default();
    let topology = &mut s.topology;
    topology.nodes[0] = cluster_node("redis-1", Role::Unknown, Health::Down, None);
    let fail = [("redis-1", FailFlag::Fail)];
    topology.cluster = Some(ClusterStatus {
        shards: vec![
            shard(1, Some("redis-1"), &["redis-4"], 1),
            shard(2, Some("redis-2"), &["redis-5"], 2),
            shard(3, Some("redis-3"), &["redis-6"], 3),
        ],
        nodes: vec![
            silent(1),
            said(2, false, 6, &fail),
            said(3, false, 6, &fail),
            said(4, true, 6, &fail),
            said(5, false, 6, &fail),
            said(6, true, 6, &[("redis-1", FailFlag::Pfail)]),
        ],
    });
    cluster_client(&mut st.snapshot, [0.0, 4_104.0, 4_106.0], (3, 0, 4));
    st.earlier = vec![a_second_before(&st.snapshot, 0, 0)];
    st.events = segfault_of_redis_1();
    st.snapshot.events = st.events.clone();
    st
}

/// 6 s later: `redis-4` won the election in epoch 7 and serves slots
/// 0–5461, every node says `cluster_state:ok` again; `redis-1` is still
/// down (FAIL), in no shard now; the client is still being MOVED by
/// connections that had the old map.
pub fn cluster_after_promotion() -> State {
    let mut st = cluster_master_failed();
    let s = &mut st.snapshot;
    s.elapsed_ms = 105_600;
    s.ops_per_s = 12_020.0;
    s.throughput = throughput(105, Some((97, 101)));
    s.errors_per_s.clear();
    s.errors.insert(ErrorClass::ConnectionRefused, 4_212);
    s.latency = latency(true);
    let topology = &mut s.topology;
    topology.nodes[3] = cluster_node("redis-4", Role::Master, Health::Up, None);
    let fail = [("redis-1", FailFlag::Fail)];
    topology.cluster = Some(ClusterStatus {
        shards: vec![
            shard(1, Some("redis-4"), &[], 7),
            shard(2, Some("redis-2"), &["redis-5"], 2),
            shard(3, Some("redis-3"), &["redis-6"], 3),
        ],
        nodes: vec![
            silent(1),
            said(2, true, 7, &fail),
            said(3, true, 7, &fail),
            said(4, true, 7, &fail),
            said(5, true, 7, &fail),
            said(6, true, 7, &fail),
        ],
    });
    cluster_client(&mut st.snapshot, [3_980.0, 4_010.0, 4_030.0], (1_262, 0, 9));
    st.earlier = vec![a_second_before(&st.snapshot, 48, 0)];
    st.events.push(Event {
        at_ms: 101_240,
        source: "cluster".to_string(),
        kind: EventKind::ClusterPromoted {
            shard: 1,
            old: "redis-1".to_string(),
            new: "redis-4".to_string(),
            slots: "0–5461".to_string(),
            epoch_before: 1,
            epoch_after: 7,
        },
    });
    st.events.push(Event {
        at_ms: 101_300,
        source: "cluster".to_string(),
        kind: EventKind::ClusterState {
            ok: true,
            failing_nodes: Vec::new(),
            uncovered: String::new(),
            full_coverage: true,
        },
    });
    st.snapshot.events = st.events.clone();
    st
}

/// Lesson mode: a classroom scenario over [`healthy`], [`failover_in_progress`]
/// and [`after_failover`]'s run (its clock untouched, so clock time is run
/// time): a note at 60 s, the master's segfault at 97 s, its restart at
/// 120 s, a last note at 132 s; the run ends at 150 s.
pub fn lesson_script() -> crate::report::model::Script {
    use crate::report::model::{Script, ScriptStep};
    let step =
        |at_ms: u64, sentence: &str, note: Option<&str>, question: Option<&str>| ScriptStep {
            at_ms,
            sentence: sentence.to_string(),
            note: note.map(str::to_string),
            question: question.map(str::to_string),
        };
    Script {
        file: "scenarios/classroom-demo.toml".to_string(),
        title: "Failover in a classroom".to_string(),
        teaches: "how Sentinel notices a dead master, agrees, elects a leader and \
                  switches the clients over, and what that costs"
            .to_string(),
        topology: None,
        steps: vec![
            step(
                60_000,
                "note",
                Some("Three sentinels watch redis-1, the master; redis-2 and redis-3 copy it."),
                None,
            ),
            step(
                97_000,
                "segfault the master",
                Some(
                    "The master crashes. Watch the sentinels: one thinks it is down (+sdown), \
                     two agree (+odown), they elect a leader, and it promotes a replica.",
                ),
                Some("How long were writes failing?"),
            ),
            step(
                120_000,
                "restart redis-1",
                Some("The old master comes back: Sentinel makes it a replica of the new one."),
                None,
            ),
            step(
                132_000,
                "note",
                Some("Did every acknowledged grab survive?"),
                Some("How many acknowledged writes were lost?"),
            ),
        ],
    }
}

/// The lesson's questions answered as the run of [`report_with_losses`] measured them.
pub fn lesson_questions() -> Vec<crate::report::model::QuestionAnswer> {
    use crate::report::model::QuestionAnswer;
    vec![
        QuestionAnswer {
            at_ms: 97_000,
            question: "How long were writes failing?".to_string(),
            measure: "write_outage_ms".to_string(),
            answer: "5.5s".to_string(),
            known: true,
        },
        QuestionAnswer {
            at_ms: 132_000,
            question: "How many acknowledged writes were lost?".to_string(),
            measure: "lost_acked_writes".to_string(),
            answer: "49".to_string(),
            known: true,
        },
    ]
}
