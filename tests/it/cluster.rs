//! The cluster client against a real local Redis Cluster (six processes
//! started by `grabstorm up --mode cluster --backend local`, see
//! `support::UpCluster`): routing by slot, MOVED after a manual failover,
//! ASK during a slot migration, the naive client's stale map, CROSSSLOT
//! without hash tags, split pipelines. Every value is recounted with plain
//! commands on each node's own connection.

use crate::support::{wait_for, UpCluster};
use grabstorm::client::cluster::NodeAddrs;
use grabstorm::client::{ClientMode, LabConn, MasterPool};
use grabstorm::metrics::{ClusterRedirects, ErrorClass};
use grabstorm::topology::admin::cluster::key_slot;
use grabstorm::topology::admin::errors::classify;
use grabstorm::workload::grabber::KeySpace;
use redis::{RedisResult, Script};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Three masters with a replica each on the local backend; node-timeout
/// 1000 ms keeps the crash test's failover short.
fn start() -> UpCluster {
    UpCluster::up("local", &[])
}

async fn pool(cluster: &UpCluster, mode: ClientMode) -> MasterPool {
    MasterPool::cluster(
        cluster.addrs(),
        NodeAddrs::of_topology(&cluster.topology),
        &cluster.topology.auth(),
        2,
        mode,
        CancellationToken::new(),
    )
    .await
    .expect("cluster client")
}

fn redirects(p: &MasterPool) -> ClusterRedirects {
    p.redirects().expect("a cluster pool counts redirects")
}

/// Blocking helpers (the cluster's plain connections) off the runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// A key whose slot is served by the master at `master`.
fn key_on(cluster: &UpCluster, master: SocketAddr, prefix: &str) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}:{i}"))
        .find(|k| cluster.addr_of(&cluster.owner(key_slot(k.as_bytes()))) == master)
        .expect("a key on every master")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_client_routes_every_key_to_its_slots_master() {
    let cluster = blocking(start);
    let p = pool(&cluster, ClientMode::Sentinel).await;
    let mut conn = p.current().conn(0);
    assert!(matches!(conn, LabConn::Cluster(_)));

    // 300 keys through the client: every command to its slot's master.
    for i in 0..300u64 {
        let () = redis::cmd("SET")
            .arg(format!("route:{i}"))
            .arg(i)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    // Recount on each node's own connection: the key is on its slot's
    // master (CLUSTER KEYSLOT agrees with ours), and nowhere else.
    let per_master: BTreeMap<SocketAddr, u64> = blocking(|| {
        let mut per_master = BTreeMap::new();
        for i in 0..300u64 {
            let key = format!("route:{i}");
            let mut c = cluster.conn(cluster.addrs()[0]);
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(&key)
                .query(&mut c)
                .unwrap();
            assert_eq!(slot, key_slot(key.as_bytes()));
            let owner = cluster.addr_of(&cluster.owner(slot));
            let mut oc = cluster.conn(owner);
            let v: Option<u64> = redis::cmd("GET").arg(&key).query(&mut oc).unwrap();
            assert_eq!(v, Some(i), "{key} on {owner}");
            let n: u64 = redis::cmd("CLUSTER")
                .arg("COUNTKEYSINSLOT")
                .arg(slot)
                .query(&mut oc)
                .unwrap();
            assert!(n >= 1);
            *per_master.entry(owner).or_insert(0) += 1;
        }
        per_master
    });
    assert_eq!(per_master.len(), 3, "keys on every shard: {per_master:?}");
    let dbsize: u64 = blocking(|| {
        per_master
            .keys()
            .map(|m| {
                redis::cmd("DBSIZE")
                    .query::<u64>(&mut cluster.conn(*m))
                    .unwrap()
            })
            .sum()
    });
    assert_eq!(dbsize, 300);

    // A pipeline over all shards (what the audits send) is split per node
    // and its replies come back in order.
    let mut pipe = redis::pipe();
    for i in (0..300u64).rev() {
        pipe.cmd("GET").arg(format!("route:{i}"));
    }
    pipe.cmd("GET").arg("route:missing");
    let got: Vec<Option<u64>> = pipe.query_async(&mut conn).await.unwrap();
    let mut want: Vec<Option<u64>> = (0..300u64).rev().map(Some).collect();
    want.push(None);
    assert_eq!(got, want);

    // A script whose keys share a hash tag runs on their master.
    let script =
        Script::new("redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])");
    let n: u64 = script
        .key("{tag7}a")
        .key("{tag7}b")
        .arg("x")
        .invoke_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let owner = blocking(|| cluster.addr_of(&cluster.owner(key_slot(b"tag7"))));
    let LabConn::Cluster(cc) = &conn else {
        unreachable!()
    };
    assert_eq!(
        cc.acked_by(),
        Some(owner),
        "the node that answered is the slot's master"
    );
    let on_owner: Option<String> = blocking(|| {
        redis::cmd("GET")
            .arg("{tag7}a")
            .query(&mut cluster.conn(owner))
            .unwrap()
    });
    assert_eq!(on_owner.as_deref(), Some("x"));
    let r = redirects(&p);
    assert_eq!(
        (r.moved, r.ask),
        (0, 0),
        "a fresh map needs no redirect: {r:?}"
    );
    println!("routing: {r:?}");
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_crossslot_without_hash_tags_is_its_own_error_class() {
    let cluster = blocking(start);
    let p = pool(&cluster, ClientMode::Sentinel).await;
    let mut conn = p.current().conn(0);
    let grab = Script::new(
        "redis.call('HSET', KEYS[1], 'n', 1); redis.call('HSET', KEYS[2], ARGV[1], 1); return redis.call('RPUSH', KEYS[3], ARGV[1])",
    );
    let run = |keys: KeySpace| {
        let grab = &grab;
        let mut conn = conn.clone();
        async move {
            let r: RedisResult<u64> = grab
                .key(keys.packet(3))
                .key(keys.packet_grabs(3))
                .key(keys.packet_order(3))
                .arg("u1")
                .invoke_async(&mut conn)
                .await;
            r
        }
    };
    // Untagged: the packet's three keys hash to different slots.
    let err = run(KeySpace::new("xs")).await.unwrap_err();
    assert_eq!(classify(&err).class, ErrorClass::CrossSlot, "{err}");
    // Tagged: one slot, the script runs.
    assert_eq!(run(KeySpace::with_hash_tags("xs", true)).await.unwrap(), 1);
    // An atomic pipeline across slots is refused before it is sent.
    let mut multi = redis::pipe();
    multi
        .atomic()
        .cmd("SET")
        .arg("foo")
        .arg(1)
        .cmd("SET")
        .arg("bar")
        .arg(2);
    let err = multi.query_async::<()>(&mut conn).await.unwrap_err();
    assert_eq!(classify(&err).class, ErrorClass::CrossSlot);
    let foo: Option<u64> = blocking(|| {
        let owner = cluster.addr_of(&cluster.owner(key_slot(b"foo")));
        redis::cmd("GET")
            .arg("foo")
            .query(&mut cluster.conn(owner))
            .unwrap()
    });
    assert_eq!(foo, None, "nothing of the refused transaction was written");
    // Within one slot a transaction runs.
    let mut multi = redis::pipe();
    multi
        .atomic()
        .cmd("SET")
        .arg("{t}1")
        .arg(1)
        .cmd("INCR")
        .arg("{t}1");
    let (_, n): (String, u64) = multi.query_async(&mut conn).await.unwrap();
    assert_eq!(n, 2);
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_failover_moved_is_followed_by_the_aware_client_and_fails_the_naive_one() {
    let cluster = blocking(start);
    let aware = pool(&cluster, ClientMode::Sentinel).await;
    let naive = pool(&cluster, ClientMode::Naive).await;
    let mut a = aware.current().conn(0);
    let mut n = naive.current().conn(0);
    let (old, replica, key) = blocking(|| {
        let old = cluster.owner(0);
        let replica = cluster.replica_of(&old.id);
        let key = key_on(&cluster, cluster.addr_of(&old), "fo");
        (old, replica, key)
    });
    let () = redis::cmd("SET")
        .arg(&key)
        .arg(1)
        .query_async(&mut a)
        .await
        .unwrap();
    let () = redis::cmd("SET")
        .arg(&key)
        .arg(2)
        .query_async(&mut n)
        .await
        .unwrap();

    // A manual failover: the replica takes the shard over, the map changes
    // under both clients.
    let new = cluster.addr_of(&replica);
    blocking(|| {
        let mut rc = cluster.conn(new);
        // The replica must have caught up for a graceful failover.
        wait_for(Duration::from_secs(10), "the replica has the key", || {
            redis::cmd("READONLY").query::<()>(&mut rc).ok();
            redis::cmd("GET")
                .arg(&key)
                .query::<Option<u64>>(&mut rc)
                .ok()
                .flatten()
                == Some(2)
        });
        let () = redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .query(&mut rc)
            .unwrap();
        wait_for(Duration::from_secs(15), "the replica is master", || {
            cluster
                .view(new)
                .iter()
                .any(|x| x.flags.myself && x.flags.master && !x.slots.is_empty())
        });
    });

    // The aware client: one MOVED, followed; the write lands on the new master.
    let () = redis::cmd("SET")
        .arg(&key)
        .arg(3)
        .query_async(&mut a)
        .await
        .unwrap();
    let on_new: Option<u64> = blocking(|| {
        redis::cmd("GET")
            .arg(&key)
            .query(&mut cluster.conn(new))
            .unwrap()
    });
    assert_eq!(on_new, Some(3));
    let LabConn::Cluster(ac) = &a else {
        unreachable!()
    };
    assert_eq!(ac.acked_by(), Some(new));
    wait_for(Duration::from_secs(5), "the aware client refreshed", || {
        redirects(&aware).refreshes >= 1
    });
    let r = redirects(&aware);
    assert!(r.moved >= 1, "{r:?}");
    assert_eq!(ac.owner_of(key_slot(key.as_bytes())), Some(new));
    let shard1 = &aware.shard_ops()[0];
    assert_eq!(
        (shard1.first_slot, shard1.master),
        (0, Some(new)),
        "the shard keeps its number"
    );
    // Once refreshed, no more MOVED for this shard's keys.
    let moved = r.moved;
    assert!(
        (0..16384u16)
            .filter(|s| old.slots.iter().any(|r| r.contains(*s)))
            .all(|s| ac.owner_of(s) == Some(new)),
        "the refreshed map gives the whole shard to the new master"
    );
    for i in 0..50 {
        let k = format!("{key}:{i}");
        let _: () = redis::cmd("SET")
            .arg(&k)
            .arg(i)
            .query_async(&mut a)
            .await
            .unwrap();
    }
    let after = redirects(&aware);
    println!("aware after failover: {after:?}");
    assert_eq!(after.moved, moved, "{after:?}");

    // The naive client: every command for the moved slot fails with MOVED.
    for _ in 0..5 {
        let err = redis::cmd("SET")
            .arg(&key)
            .arg(9)
            .query_async::<()>(&mut n)
            .await
            .unwrap_err();
        assert_eq!(classify(&err).class, ErrorClass::Moved, "{err}");
    }
    let r = redirects(&naive);
    println!("naive after failover: {r:?}");
    assert_eq!((r.moved, r.refreshes), (5, 0), "{r:?}");
    let LabConn::Cluster(nc) = &n else {
        unreachable!()
    };
    assert_eq!(
        nc.owner_of(key_slot(key.as_bytes())),
        Some(cluster.addr_of(&old)),
        "the naive map is still the first one"
    );
    let still: Option<u64> = blocking(|| {
        redis::cmd("GET")
            .arg(&key)
            .query(&mut cluster.conn(new))
            .unwrap()
    });
    assert_eq!(still, Some(3), "no naive write landed");
    aware.close().await;
    naive.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_ask_is_followed_during_a_slot_migration() {
    let cluster = blocking(start);
    let p = pool(&cluster, ClientMode::Sentinel).await;
    let mut conn = p.current().conn(0);
    let (src, dst, key, slot) = blocking(|| {
        let src = cluster.owner(0);
        let dst = cluster.owner(16383);
        let key = key_on(&cluster, cluster.addr_of(&src), "ask");
        let slot = key_slot(key.as_bytes());
        (src, dst, key, slot)
    });
    let () = redis::cmd("SET")
        .arg(&key)
        .arg("v")
        .query_async(&mut conn)
        .await
        .unwrap();
    let (src_addr, dst_addr) = (cluster.addr_of(&src), cluster.addr_of(&dst));
    blocking(|| {
        let mut s = cluster.conn(src_addr);
        let mut d = cluster.conn(dst_addr);
        let () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("IMPORTING")
            .arg(&src.id)
            .query(&mut d)
            .unwrap();
        let () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("MIGRATING")
            .arg(&dst.id)
            .query(&mut s)
            .unwrap();
        let mut migrate = redis::cmd("MIGRATE");
        migrate
            .arg("127.0.0.1")
            .arg(dst_addr.port())
            .arg(&key)
            .arg(0)
            .arg(5000);
        // The destination asks for the run's password too.
        if let Some(pw) = &cluster.topology.password {
            migrate.arg("AUTH").arg(pw);
        }
        let () = migrate.query(&mut s).unwrap();
    });
    // The key moved, the slot did not: the source answers ASK, the client
    // sends ASKING + GET to the destination.
    let v: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let LabConn::Cluster(cc) = &conn else {
        unreachable!()
    };
    assert_eq!(cc.acked_by(), Some(dst_addr));
    let r = redirects(&p);
    println!("migration: {r:?}");
    assert_eq!((r.ask, r.moved), (1, 0), "{r:?}");
    // ASK leaves the map alone: the slot still belongs to the source.
    assert_eq!(cc.owner_of(slot), Some(src_addr));
    // A new key of the migrating slot goes to the destination too.
    let fresh = (0..100_000)
        .map(|i| format!("ask-new:{i}"))
        .find(|k| key_slot(k.as_bytes()) == slot)
        .unwrap();
    let () = redis::cmd("SET")
        .arg(&fresh)
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    // The destination serves the importing slot only after ASKING.
    let on_dst: Option<u64> = blocking(|| {
        let mut d = cluster.conn(dst_addr);
        let () = redis::cmd("ASKING").query(&mut d).unwrap();
        redis::cmd("GET").arg(&fresh).query(&mut d).unwrap()
    });
    assert_eq!(on_dst, Some(1));
    assert_eq!(redirects(&p).ask, 2);
    p.close().await;
}

struct Naming(KeySpace);

impl grabstorm::audit::journal::JournalNaming for Naming {
    fn key(&self, op: grabstorm::audit::journal::JournalOp, round: u64) -> String {
        self.0.journal_key(op, round)
    }
    fn node(&self, addr: SocketAddr) -> String {
        addr.to_string()
    }
}

/// Runs `workload` with `grabbers` grabbers on the cluster client until
/// done, then audits it through the same client; returns the report and
/// the journal.
async fn run_on_cluster<W: grabstorm::workload::grabber::Workload>(
    p: &MasterPool,
    space: &KeySpace,
    workload: Arc<W>,
    grabbers: usize,
) -> (
    grabstorm::report::model::Report,
    Vec<grabstorm::audit::journal::JournalRecord>,
) {
    use grabstorm::audit::journal::{self, Journal};
    use grabstorm::metrics::recorder::SampleSink;
    use grabstorm::metrics::EventBus;
    use grabstorm::workload::grabber::{GrabberCtx, GrabberSetup, Step};
    let bus = EventBus::new();
    let (sink, _rx) = SampleSink::new(bus.start());
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
                rng: grabstorm::workload::rounds::GrabberRng::from_seed(7 + id as u64),
                seed: 7,
                keys: space.clone(),
                cancel: cancel.clone(),
                bus: bus.clone(),
                until_done: true,
                pool: p.clone(),
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
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(tasks))
        .await
        .expect("the workload finished");
    cancel.cancel();
    journal.close(CancellationToken::new()).await.unwrap();
    let records = journal::read(&journal::in_dir(dir.path())).unwrap();
    let mut report = grabstorm::report::model::Report {
        run_id: space.prefix().trim_start_matches("gs:").to_string(),
        hash_tags: space.hash_tags(),
        ..Default::default()
    };
    let mut lost = Vec::new();
    let mut conn = p.current().conn(0);
    workload
        .audit(&mut conn, &records, &mut report, &mut lost)
        .await
        .unwrap();
    assert!(lost.is_empty(), "{lost:?}");
    (report, records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_workloads_run_and_audit_through_the_client() {
    use grabstorm::workload::redpacket::{RedPacket, RedPacketConfig};
    use grabstorm::workload::seckill::{Seckill, SeckillConfig};
    let cluster = blocking(start);
    let p = pool(&cluster, ClientMode::Sentinel).await;
    let space = KeySpace::with_hash_tags("cl1", true);

    let packets = Arc::new(RedPacket::new(
        RedPacketConfig {
            packets: 30,
            count: 4,
            ..Default::default()
        },
        7,
        true,
        Default::default(),
    ));
    let (report, journal) = run_on_cluster(&p, &space, packets, 8).await;
    let rp = report.redpacket.expect("a red-packet section");
    assert_eq!(rp.packets, 30);
    assert_eq!((rp.grabs_ok, rp.grabs_in_redis), (120, 120), "{rp:?}");
    assert!(rp.conservation_ok && rp.lost_acked_grabs == 0);
    // Each grab was acknowledged by its packet's master, and the packets
    // spread over every shard.
    let owners: BTreeMap<u16, SocketAddr> = blocking(|| {
        let view = cluster.view(cluster.addrs()[0]);
        (0..16384u16)
            .step_by(1)
            .filter_map(|s| {
                view.iter()
                    .find(|n| n.flags.master && n.slots.iter().any(|r| r.contains(s)))
                    .map(|n| (s, cluster.addr_of(n)))
            })
            .collect()
    });
    let mut shards: BTreeMap<SocketAddr, u64> = BTreeMap::new();
    for r in &journal {
        let owner = owners[&key_slot(space.packet(r.round).as_bytes())];
        assert_eq!(r.node, owner.to_string(), "{r:?}");
        *shards.entry(owner).or_default() += 1;
    }
    assert_eq!(shards.len(), 3);
    // Per-shard counts: numbered by lowest slot, each at least the grabs
    // its master acknowledged (plus creations and audit reads).
    let ops = p.shard_ops();
    assert_eq!(ops.len(), 3);
    assert_eq!(ops[0].first_slot, 0);
    for s in &ops {
        let master = s.master.expect("a master per shard");
        assert_eq!(master, owners[&s.first_slot]);
        assert!(s.replies >= shards[&master], "{s:?} vs {shards:?}");
    }
    // Recount with plain commands on each packet's master.
    let held: u64 = blocking(|| {
        (0..30u64)
            .map(|pk| {
                let owner = owners[&key_slot(space.packet(pk).as_bytes())];
                redis::cmd("HLEN")
                    .arg(space.packet_grabs(pk))
                    .query::<u64>(&mut cluster.conn(owner))
                    .unwrap()
            })
            .sum()
    });
    assert_eq!(held, 120);

    let items = Arc::new(Seckill::new(
        SeckillConfig {
            items: 12,
            stock: 5,
            ..Default::default()
        },
        true,
        Default::default(),
    ));
    let (report, _) = run_on_cluster(&p, &space, items, 8).await;
    let sk = report.seckill.expect("a seckill section");
    assert_eq!(
        (sk.sold, sk.orders_in_redis, sk.stock_left),
        (60, 60, 0),
        "{sk:?}"
    );
    assert_eq!(sk.oversold + sk.lost_acked_sales, 0);
    let r = redirects(&p);
    println!("workloads: {r:?}");
    assert_eq!(r.moved + r.ask, 0);
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_aware_client_recovers_after_a_master_crash_and_the_naive_one_does_not() {
    let cluster = blocking(start);
    let aware = pool(&cluster, ClientMode::Sentinel).await;
    let naive = pool(&cluster, ClientMode::Naive).await;
    let mut a = aware.current().conn(0);
    let mut n = naive.current().conn(0);
    let (old, replica, key) = blocking(|| {
        let old = cluster.owner(0);
        let replica = cluster.replica_of(&old.id);
        let key = key_on(&cluster, cluster.addr_of(&old), "crash");
        (old, replica, key)
    });
    let () = redis::cmd("SET")
        .arg(&key)
        .arg(0)
        .query_async(&mut a)
        .await
        .unwrap();
    blocking(|| {
        let _ = redis::cmd("DEBUG")
            .arg("SEGFAULT")
            .query::<()>(&mut cluster.conn(cluster.addr_of(&old)));
    });
    // Write every 50 ms until a write is acknowledged again (node timeout
    // 2 s, then the replica's election).
    let started = std::time::Instant::now();
    let mut errors: BTreeMap<ErrorClass, u64> = BTreeMap::new();
    let mut i = 1u64;
    loop {
        let r = redis::cmd("SET")
            .arg(&key)
            .arg(i)
            .query_async::<()>(&mut a)
            .await;
        match r {
            Ok(()) => break,
            Err(e) => *errors.entry(classify(&e).class).or_default() += 1,
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the aware client did not recover: {errors:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        i += 1;
    }
    let new = cluster.addr_of(&replica);
    let on_new: Option<u64> = blocking(|| {
        redis::cmd("GET")
            .arg(&key)
            .query(&mut cluster.conn(new))
            .unwrap()
    });
    assert_eq!(on_new, Some(i), "the write landed on the promoted replica");
    let r = redirects(&aware);
    println!(
        "crash: recovered after {:?}, errors {errors:?}, aware {r:?}",
        started.elapsed()
    );
    assert!(
        !errors.is_empty(),
        "writes failed while the shard had no master"
    );
    assert!(r.refreshes >= 1, "{r:?}");
    // The naive client still writes to the dead master's address.
    let err = redis::cmd("SET")
        .arg(&key)
        .arg(99)
        .query_async::<()>(&mut n)
        .await
        .unwrap_err();
    let class = classify(&err).class;
    assert!(
        matches!(
            class,
            ErrorClass::ConnectionRefused | ErrorClass::ConnectionReset
        ),
        "{class:?}: {err}"
    );
    assert_eq!(redirects(&naive).refreshes, 0);
    aware.close().await;
    naive.close().await;
}

/// `grabstorm load --attach` on the cluster; returns report.json.
fn load_on(cluster: &UpCluster, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut args = vec![
        "load",
        "--attach",
        "--duration",
        "2s",
        "--workload",
        "redpacket",
        "--grabbers",
        "10",
        "--settle-timeout",
        "2s",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    // The exit code is not asserted: the run without hash tags fails every
    // grab (CROSSSLOT), which is what that test looks at.
    let run = crate::support::grabstorm_in(cluster.state.path(), &args);
    let report = std::fs::read(out.join("report.json")).unwrap_or_else(|_| {
        panic!(
            "no report: {}{}",
            crate::support::text(&run.stdout),
            crate::support::text(&run.stderr)
        )
    });
    serde_json::from_slice(&report).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_load_uses_hash_tags_by_default_and_counts_crossslot_without() {
    let cluster = blocking(start);
    let tagged = blocking(|| load_on(&cluster, &[]));
    assert_eq!(tagged["hash_tags"], true);
    assert!(
        tagged["errors"].as_object().unwrap().is_empty(),
        "{}",
        tagged["errors"]
    );
    assert!(tagged["ops"]["redpacket.grab"]["ok"].as_u64().unwrap() > 0);
    // The audit reads each key on its slot's master.
    assert_eq!(tagged["audit"]["checked"], true, "{}", tagged["audit"]);
    assert_eq!(tagged["audit"]["lost_acked_writes"], 0);
    assert_eq!(tagged["cluster"]["redirects"]["moved"], 0);
    let shards = tagged["cluster"]["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 3);
    assert!(
        shards.iter().all(|s| s["replies"].as_u64().unwrap() > 0),
        "{shards:?}"
    );

    let plain = blocking(|| load_on(&cluster, &["--no-hash-tags"]));
    assert_eq!(plain["hash_tags"], false);
    let errors = plain["errors"].as_object().unwrap();
    assert!(errors["crossslot"].as_u64().unwrap() > 0, "{errors:?}");
    assert_eq!(errors.len(), 1, "only CROSSSLOT: {errors:?}");
    assert_eq!(
        plain["ops"]["redpacket.grab"]["ok"].as_u64().unwrap_or(0),
        0
    );
}
