//! Tests: `grabstorm up --mode cluster` on both backends, recounted with
//! plain Redis commands (CLUSTER INFO, CLUSTER NODES, ROLE) and host-side
//! `redis-cli` (following MOVED with `-c`); a segfaulted master's replica
//! takes over and the old master, restarted, rejoins as its replica;
//! `down` leaves nothing. Docker tests skip without an engine as the
//! other Docker tests do.

use crate::support::{grabstorm_in, processes_under, state_dir, text, url_with};
use crate::topology_docker::{docker_or_skip, leftovers};
use grabstorm::topology::admin::cluster::{
    even_split, key_slot, parse_nodes, ClusterNode, SlotRange,
};
use grabstorm::topology::{state, Topology};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One plain command on the node at `addr` (a fresh connection).
fn query<T: redis::FromRedisValue>(
    t: &Topology,
    addr: std::net::SocketAddr,
    cmd: &redis::Cmd,
) -> T {
    let client = redis::Client::open(url_with(t.password.as_deref(), addr)).unwrap();
    let mut c = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    cmd.query(&mut c).unwrap_or_else(|e| panic!("{addr}: {e}"))
}

fn try_nodes(t: &Topology, name: &str) -> Option<Vec<ClusterNode>> {
    let addr = t.node(name)?.host_addr;
    let client = redis::Client::open(url_with(t.password.as_deref(), addr)).ok()?;
    let mut c = client
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()?;
    c.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let text: String = redis::cmd("CLUSTER").arg("NODES").query(&mut c).ok()?;
    parse_nodes(&text).ok()
}

fn info(t: &Topology, name: &str) -> String {
    query(
        t,
        t.node(name).unwrap().host_addr,
        redis::cmd("CLUSTER").arg("INFO"),
    )
}

/// `ROLE`'s first word on node `name`, or `None` when it does not answer.
fn role(t: &Topology, name: &str) -> Option<String> {
    let addr = t.node(name)?.host_addr;
    let client = redis::Client::open(url_with(t.password.as_deref(), addr)).ok()?;
    let mut c = client
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()?;
    c.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let v: redis::Value = redis::cmd("ROLE").query(&mut c).ok()?;
    match v {
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(redis::Value::SimpleString(s)) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The name of the node a CLUSTER NODES line is about (by its announced address).
fn name_of(t: &Topology, n: &ClusterNode) -> String {
    t.node_by_addr(&n.addr)
        .unwrap_or_else(|| panic!("no node at {}", n.addr))
        .name
        .clone()
}

/// `redis-cli [-c] -p PORT -a PW ARGS...` run on the host; its stdout.
fn redis_cli(t: &Topology, name: &str, follow: bool, args: &[&str]) -> String {
    let mut cmd = Command::new("redis-cli");
    if follow {
        cmd.arg("-c");
    }
    cmd.arg("-p")
        .arg(t.node(name).unwrap().host_addr.port().to_string());
    if let Some(pw) = &t.password {
        cmd.arg("-a").arg(pw).arg("--no-auth-warning");
    }
    let out = cmd.args(args).output().expect("redis-cli is installed");
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    text(&out.stdout).trim().to_string()
}

/// Polls `what` every 50 ms until it holds or `within` passes.
fn eventually(within: Duration, what: &str, mut ok: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if ok() {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `grabstorm down` in the state dir when dropped, so a failed assertion
/// leaves no node behind (a no-op after the round's own `down`).
struct DownOnDrop<'a>(&'a Path);

impl Drop for DownOnDrop<'_> {
    fn drop(&mut self) {
        if state::load(self.0).is_ok() {
            let _ = grabstorm_in(self.0, &["down"]);
        }
    }
}

/// Kills every process still running under a state dir when dropped (a
/// local run started without `up`, hence without a state file for `down`).
struct KillUnder<'a>(&'a Path);

impl Drop for KillUnder<'_> {
    fn drop(&mut self) {
        for pid in processes_under(self.0) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

/// The whole round: up, recount, redirects, failover and rejoin, down.
fn up_redirect_fail_over_rejoin_down(backend: &str, state: &Path) -> Topology {
    let _down = DownOnDrop(state);
    let out = grabstorm_in(
        state,
        &[
            "up",
            "--backend",
            backend,
            "--mode",
            "cluster",
            "--node-timeout-ms",
            "1000",
            "--json",
        ],
    );
    assert!(out.status.success(), "up: {}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!(
        "cluster time-to-ready on {backend}: {} ms",
        printed["ready_ms"]
    );
    let t = state::load(state).unwrap();
    let names: Vec<String> = t.redis_nodes().map(|n| n.name.clone()).collect();
    assert_eq!(names.len(), 6);
    assert_eq!(t.sentinels().count(), 0);

    // Ready, recounted on every node.
    for n in &names {
        let i = info(&t, n);
        assert!(i.contains("cluster_state:ok"), "{n}: {i}");
        assert!(i.contains("cluster_slots_assigned:16384"), "{n}: {i}");
        assert!(i.contains("cluster_known_nodes:6"), "{n}: {i}");
        let nodes = try_nodes(&t, n).unwrap();
        assert_eq!(nodes.len(), 6);
        let masters: Vec<&ClusterNode> = nodes.iter().filter(|c| c.flags.master).collect();
        assert_eq!(masters.len(), 3, "{n}");
        let slots: u32 = masters.iter().flat_map(|m| &m.slots).map(|r| r.len()).sum();
        assert_eq!(slots, 16384, "{n}");
        // redis-K serves shard K's range; redis-(3+K) replicates it.
        for (k, range) in even_split(3).iter().enumerate() {
            let owner = masters
                .iter()
                .find(|m| m.slots.contains(range))
                .unwrap_or_else(|| panic!("{n}: no owner of {range}"));
            assert_eq!(name_of(&t, owner), format!("redis-{}", k + 1));
            let replica = nodes
                .iter()
                .find(|c| c.master_id.as_deref() == Some(owner.id.as_str()))
                .unwrap();
            assert_eq!(name_of(&t, replica), format!("redis-{}", k + 4));
        }
    }
    for (k, n) in names.iter().enumerate() {
        let want = if k < 3 { "master" } else { "slave" };
        assert_eq!(role(&t, n).as_deref(), Some(want), "{n}");
    }

    // A key on each shard, from redis-1 on the host: plain redis-cli shows
    // the MOVED to a host-reachable address; `-c` follows it.
    let ranges = even_split(3);
    let mut moved = 0;
    for (k, range) in ranges.iter().enumerate() {
        let key = (0..)
            .map(|i| format!("{{t{i}}}x"))
            .find(|key| range.contains(key_slot(key.as_bytes())))
            .unwrap();
        let slot = key_slot(key.as_bytes());
        let owner = t.node(&format!("redis-{}", k + 1)).unwrap();
        let plain = redis_cli(&t, "redis-1", false, &["SET", &key, "v"]);
        if k == 0 {
            assert_eq!(plain, "OK");
        } else {
            assert_eq!(
                plain,
                format!("MOVED {slot} 127.0.0.1:{}", owner.host_addr.port())
            );
            moved += 1;
        }
        assert_eq!(
            redis_cli(&t, "redis-1", true, &["SET", &key, &format!("v{k}")]),
            "OK"
        );
        assert_eq!(
            redis_cli(&t, "redis-1", true, &["GET", &key]),
            format!("v{k}")
        );
        let direct: String = query(&t, owner.host_addr, redis::cmd("GET").arg(&key));
        assert_eq!(direct, format!("v{k}"));
    }
    assert_eq!(moved, 2, "keys of shards 2 and 3 are MOVED from redis-1");

    // Segfault shard 2's master: its replica (redis-5) takes over, and
    // every answering node agrees.
    let myid = |name: &str| -> String {
        try_nodes(&t, name)
            .unwrap()
            .into_iter()
            .find(|c| c.flags.myself)
            .unwrap()
            .id
    };
    let redis2_id = myid("redis-2");
    let out = grabstorm_in(state, &["fault", "segfault", "master-2"]);
    assert!(out.status.success(), "segfault: {}", text(&out.stderr));
    let others: Vec<&String> = names.iter().filter(|n| *n != "redis-2").collect();
    let took = eventually(
        Duration::from_secs(20),
        "redis-5 promoted, as every node says",
        || {
            role(&t, "redis-5").as_deref() == Some("master")
                && others.iter().all(|n| {
                    try_nodes(&t, n).is_some_and(|nodes| {
                        nodes.iter().any(|c| {
                            c.flags.master
                                && c.slots.contains(&ranges[1])
                                && name_of(&t, c) == "redis-5"
                        })
                    })
                })
        },
    );
    eprintln!("cluster failover on {backend}: redis-5 serves shard 2 after {took:?}");
    let out = grabstorm_in(state, &["fault", "restart", "redis-2"]);
    assert!(out.status.success(), "restart: {}", text(&out.stderr));
    let t = state::load(state).unwrap();
    let new_master_id = myid("redis-5");
    eventually(
        Duration::from_secs(20),
        "redis-2 back as a replica of redis-5, as every node says, cluster ok",
        || {
            role(&t, "redis-2").as_deref() == Some("slave")
                && names.iter().all(|n| {
                    try_nodes(&t, n).is_some_and(|nodes| {
                        nodes.iter().any(|c| {
                            name_of(&t, c) == "redis-2"
                                && c.flags.replica
                                && c.master_id.as_deref() == Some(new_master_id.as_str())
                        })
                    }) && info(&t, n).contains("cluster_state:ok")
                })
        },
    );
    // Same identity: redis-2's id survived in its nodes.conf.
    assert_eq!(myid("redis-2"), redis2_id);
    let i = info(&t, "redis-2");
    assert!(i.contains("cluster_known_nodes:6"), "{i}");

    let out = grabstorm_in(state, &["down"]);
    assert!(out.status.success(), "down: {}", text(&out.stderr));
    t
}

#[test]
fn cluster_local_up_redirects_fails_over_rejoins_and_down_leaves_nothing() {
    let state = state_dir();
    let t = up_redirect_fail_over_rejoin_down("local", state.path());
    assert!(processes_under(state.path()).is_empty());
    assert!(!t.run_dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_docker_up_redirects_fails_over_rejoins_and_down_leaves_nothing() {
    let Some(backend) = docker_or_skip("cluster_docker").await else {
        return;
    };
    let state = state_dir();
    let path = state.path().to_path_buf();
    let t = tokio::task::spawn_blocking(move || up_redirect_fail_over_rejoin_down("docker", &path))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    assert_eq!(
        leftovers(backend.docker(), &t.run_id).await,
        (vec![], vec![])
    );
    assert!(!t.run_dir.exists());
}

/// The cluster compose file parses, and describes what `up --mode cluster`
/// starts: six nodes, each published on its own port number, telling
/// clients 127.0.0.1, with a password on each.
#[test]
fn cluster_compose_file_is_valid_and_publishes_each_node_on_its_own_port() {
    let compose = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/docker-compose.cluster.yml");
    let run = |password: Option<&str>, args: &[&str]| {
        let mut cmd = Command::new("docker-compose");
        cmd.arg("-f").arg(&compose).args(args);
        cmd.env_remove("REDIS_IMAGE").env_remove("REDIS_PASSWORD");
        if let Some(pw) = password {
            cmd.env("REDIS_PASSWORD", pw);
        }
        cmd.output()
    };
    let pw = "0123456789abcdef0123456789abcdef";
    let out = match run(Some(pw), &["config", "--services"]) {
        Ok(o) => o,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED cluster compose check: docker-compose not runnable: {e}");
            return;
        }
        Err(e) => panic!("CI=true needs docker-compose: {e}"),
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut services: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    services.sort();
    assert_eq!(
        services,
        [
            "cluster-create",
            "redis-1",
            "redis-2",
            "redis-3",
            "redis-4",
            "redis-5",
            "redis-6"
        ]
    );
    let config = run(Some(pw), &["config"]).unwrap();
    assert!(config.status.success(), "{}", text(&config.stderr));
    let flat = text(&config.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for i in 1..=6 {
        let port = 7000 + i;
        assert!(flat.contains(&format!("--port {port} ")), "{flat}");
        assert!(flat.contains(&format!("--cluster-announce-ip 172.29.0.{} ", 10 + i)));
        // Published on 127.0.0.1, on the port it listens on.
        assert!(
            flat.contains(&format!("- 127.0.0.1:{port}:{port}/tcp")),
            "port {port}: {flat}"
        );
    }
    for (line, count) in [
        ("--cluster-enabled yes", 6),
        ("--cluster-announce-hostname 127.0.0.1", 6),
        ("--cluster-preferred-endpoint-type hostname", 6),
        ("--cluster-node-timeout 2000", 6),
        (&*format!("--requirepass {pw}"), 6),
        (&*format!("--masterauth {pw}"), 6),
        ("--cluster-replicas 1", 1),
    ] {
        assert_eq!(flat.matches(line).count(), count, "{line}");
    }
    assert!(!flat.contains("replicaof"));
    assert!(!run(None, &["config"]).unwrap().status.success());
    // No obsolete `version:` key; every node has a healthcheck with the
    // password on its own port; the one-shot join waits for all six.
    let file = std::fs::read_to_string(&compose).unwrap();
    assert!(!file.lines().any(|l| l.starts_with("version:")), "{file}");
    for port in 7001..=7006 {
        let ping =
            format!("REDISCLI_AUTH=\"$$REDIS_PASSWORD\" redis-cli -p {port} ping | grep -q PONG");
        assert_eq!(flat.matches(&ping).count(), 1, "{port}: {flat}");
    }
    assert_eq!(flat.matches("condition: service_healthy").count(), 6);
}

/// Starts a cluster (`--node-timeout-ms 1000`) on `backend` in `state`.
fn up_cluster(backend: &str, state: &Path) -> Topology {
    let out = grabstorm_in(
        state,
        &[
            "up",
            "--backend",
            backend,
            "--mode",
            "cluster",
            "--node-timeout-ms",
            "1000",
        ],
    );
    assert!(out.status.success(), "up: {}", text(&out.stderr));
    state::load(state).unwrap()
}

/// `grabstorm fault ARGS`: its one-line answer, or its error.
fn fault(state: &Path, args: &[&str]) -> Result<String, String> {
    let mut all = vec!["fault"];
    all.extend_from_slice(args);
    let out = grabstorm_in(state, &all);
    match out.status.success() {
        true => Ok(text(&out.stdout).trim().to_string()),
        false => Err(text(&out.stderr).trim().to_string()),
    }
}

/// Whether every node that answers says `master` serves `range` and
/// `replica` follows it.
fn all_agree(t: &Topology, master: &str, replica: &str, range: &SlotRange) -> bool {
    let mut answered = 0;
    for n in t.redis_nodes() {
        let Some(nodes) = try_nodes(t, &n.name) else {
            continue;
        };
        answered += 1;
        let Some(m) = nodes
            .iter()
            .find(|c| c.flags.master && c.slots.contains(range))
        else {
            return false;
        };
        let follows = nodes
            .iter()
            .any(|c| name_of(t, c) == replica && c.master_id.as_deref() == Some(m.id.as_str()));
        if name_of(t, m) != master || !follows {
            return false;
        }
    }
    answered >= t.spec.masters as usize
}

/// `failover replica-2` is a manual, graceful failover: redis-5 takes shard
/// 2 over and redis-2 follows it; `master-K` then names the new master;
/// targets a cluster does not have are refused with what it has.
#[test]
fn cluster_local_manual_failover_and_shard_targets() {
    let state = state_dir();
    let _down = DownOnDrop(state.path());
    let t = up_cluster("local", state.path());
    let shard2 = even_split(3)[1];
    let said = fault(state.path(), &["failover", "replica-2"]).unwrap();
    assert!(
        said.contains("redis-5") && said.contains("CLUSTER FAILOVER"),
        "{said}"
    );
    let took = eventually(Duration::from_secs(10), "redis-5 serves shard 2", || {
        role(&t, "redis-5").as_deref() == Some("master")
            && role(&t, "redis-2").as_deref() == Some("slave")
            && all_agree(&t, "redis-5", "redis-2", &shard2)
    });
    eprintln!("manual failover (local): {took:?}");
    // The same key is served, through redis-cli -c, by the new master.
    assert_eq!(redis_cli(&t, "redis-1", true, &["SET", "{b}k", "1"]), "OK");
    // master-2 is redis-5 now; replica-2 is redis-2.
    let err = fault(state.path(), &["failover", "master-2"]).unwrap_err();
    assert!(err.contains("redis-5 is not a replica now"), "{err}");
    let said = fault(state.path(), &["pause", "replica-2", "--for", "200ms"]).unwrap();
    assert!(said.contains("redis-2"), "{said}");
    let err = fault(state.path(), &["kill", "master-4"]).unwrap_err();
    assert!(
        err.contains("unknown target \"master-4\" in cluster mode: allowed master (= master-1), master-1..master-3"),
        "{err}"
    );
    let err = fault(state.path(), &["kill", "sentinel-1"]).unwrap_err();
    assert!(err.contains("unknown target \"sentinel-1\""), "{err}");
    // FORCE: the master is gone, the replica does not wait for it.
    let said = fault(state.path(), &["kill", "master-2"]).unwrap();
    assert!(said.starts_with("redis-5 killed"), "{said}");
    let said = fault(state.path(), &["failover-force", "replica-2"]).unwrap();
    assert!(said.contains("CLUSTER FAILOVER FORCE"), "{said}");
    eventually(
        Duration::from_secs(10),
        "redis-2 serves shard 2 again",
        || {
            role(&t, "redis-2").as_deref() == Some("master")
                && ["redis-1", "redis-3", "redis-4", "redis-6"]
                    .iter()
                    .all(|n| {
                        try_nodes(&t, n).is_some_and(|nodes| {
                            nodes.iter().any(|c| {
                                c.flags.master
                                    && c.slots.contains(&shard2)
                                    && name_of(&t, c) == "redis-2"
                            })
                        })
                    })
        },
    );
    // TAKEOVER: no vote at all.
    let said = fault(state.path(), &["failover-takeover", "replica-1"]).unwrap();
    assert!(
        said.starts_with("redis-4 ") && said.contains("TAKEOVER"),
        "{said}"
    );
    eventually(Duration::from_secs(10), "redis-4 serves shard 1", || {
        role(&t, "redis-4").as_deref() == Some("master")
            && all_agree(&t, "redis-4", "redis-1", &even_split(3)[0])
    });
    // The other kinds act on cluster nodes too.
    let said = fault(state.path(), &["slow", "master-3", "--for", "200ms"]).unwrap();
    assert!(said.starts_with("redis-3 stalls"), "{said}");
    let said = fault(state.path(), &["shutdown", "replica-3"]).unwrap();
    assert!(said.starts_with("redis-6 shut down"), "{said}");
    let said = fault(state.path(), &["restart", "all"]).unwrap();
    assert!(
        said.contains("redis-5") && said.contains("redis-6"),
        "{said}"
    );
    let out = grabstorm_in(state.path(), &["down"]);
    assert!(out.status.success());
    assert!(processes_under(state.path()).is_empty());
}

/// A master cut off from every peer on Docker: the majority promotes its
/// replica after node-timeout, the cut-off master's own view turns
/// `cluster_state:fail`; healed, it rejoins as a replica of the new master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_docker_partitioned_master_is_replaced_and_rejoins_as_replica() {
    let Some(_backend) = docker_or_skip("cluster_docker_partition").await else {
        return;
    };
    let state = state_dir();
    let path = state.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let _one = crate::support::one_partition_at_a_time();
        let state = path.as_path();
        let _down = DownOnDrop(state);
        let t = up_cluster("docker", state);
        let shard1 = even_split(3)[0];
        let said = fault(state, &["partition", "master-1"]).unwrap();
        assert!(said.contains("redis-1"), "{said}");
        let took = eventually(
            Duration::from_secs(20),
            "redis-4 promoted by the majority; redis-1 alone says cluster_state:fail",
            || {
                role(&t, "redis-4").as_deref() == Some("master")
                    && info(&t, "redis-1").contains("cluster_state:fail")
                    && ["redis-2", "redis-3", "redis-5", "redis-6"]
                        .iter()
                        .all(|n| {
                            try_nodes(&t, n).is_some_and(|nodes| {
                                nodes.iter().any(|c| {
                                    c.flags.master
                                        && c.slots.contains(&shard1)
                                        && name_of(&t, c) == "redis-4"
                                })
                            })
                        })
            },
        );
        eprintln!("partitioned master replaced (docker): {took:?}");
        // The minority side refuses writes.
        let refused = redis_cli(&t, "redis-1", false, &["SET", "{a}k", "1"]);
        assert!(refused.starts_with("CLUSTERDOWN"), "{refused}");
        fault(state, &["heal", "redis-1"]).unwrap();
        eventually(
            Duration::from_secs(20),
            "redis-1 rejoins as redis-4's replica, everyone agrees",
            || {
                role(&t, "redis-1").as_deref() == Some("slave")
                    && all_agree(&t, "redis-4", "redis-1", &shard1)
                    && t.redis_nodes()
                        .all(|n| info(&t, &n.name).contains("cluster_state:ok"))
            },
        );
        let out = grabstorm_in(state, &["down"]);
        assert!(out.status.success());
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
}

/// Nodes started but never joined: readiness names the first node, what it
/// waited for and what the node said; assembly then joins them, and a
/// second assembly is refused naming the node and Redis's own words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_not_ready_and_assembly_errors_name_the_node_and_its_words() {
    use grabstorm::topology::local::LocalBackend;
    use grabstorm::topology::{cluster, ready, Backend, HaMode, TopologySpec};
    let state = state_dir();
    let _kill = KillUnder(state.path());
    let backend = LocalBackend::new(state.path());
    let spec = TopologySpec {
        mode: HaMode::Cluster,
        replicas_per_master: 0,
        node_timeout_ms: 1000,
        ..Default::default()
    };
    let t = backend.up(&spec, "cluster-not-ready").await.unwrap();
    let err = ready::wait_ready(&t, Duration::from_millis(300))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("redis-1 was not ready after"), "{err}");
    assert!(
        err.contains("waited for cluster_state:ok, all 16384 slots assigned, 3 nodes known"),
        "{err}"
    );
    assert!(
        err.contains(
            "last seen: cluster_state:fail cluster_slots_assigned:0 cluster_known_nodes:1"
        ),
        "{err}"
    );
    let started = Instant::now();
    cluster::assemble(&t).await.unwrap();
    ready::wait_ready(&t, Duration::from_secs(10))
        .await
        .unwrap();
    eprintln!("3 masters joined and ready in {:?}", started.elapsed());
    let again = cluster::assemble(&t).await.unwrap_err().to_string();
    assert!(
        again.starts_with("redis-1: CLUSTER SET-CONFIG-EPOCH failed:"),
        "{again}"
    );
    backend.down(&t).await.unwrap();
    assert!(processes_under(state.path()).is_empty());
}

/// `CLUSTER SLOTS` on `addr`, plainly: each range with its master's and
/// replicas' names (by client port).
async fn slots_of(t: &Topology, addr: std::net::SocketAddr) -> Vec<(u16, u16, Vec<String>)> {
    let client = redis::Client::open(url_with(t.password.as_deref(), addr)).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let slots: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut c)
        .await
        .unwrap();
    let name_at = |v: &redis::Value| {
        let redis::Value::Array(parts) = v else {
            panic!("{v:?}")
        };
        let port: u16 = redis::from_redis_value(parts[1].clone()).unwrap();
        t.nodes
            .iter()
            .find(|n| n.host_addr.port() == port)
            .unwrap()
            .name
            .clone()
    };
    let mut out: Vec<(u16, u16, Vec<String>)> = slots
        .iter()
        .map(|s| {
            let start: u16 = redis::from_redis_value(s[0].clone()).unwrap();
            let end: u16 = redis::from_redis_value(s[1].clone()).unwrap();
            (start, end, s[2..].iter().map(name_at).collect())
        })
        .collect();
    out.sort();
    out
}

/// The dashboard's data in Cluster mode: one `live::Observer` reads the
/// cluster's shards, states and epochs on the connections it keeps (five
/// polls add no connect to any node), as `CLUSTER SLOTS` and `CLUSTER
/// INFO` say; after a master's segfault it shows the others flag it FAIL,
/// then its replica serving its slots in the election's epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_observer_reads_shards_flags_and_epochs_on_kept_connections() {
    use grabstorm::metrics::Health;
    use grabstorm::topology::cluster::FailFlag;
    use grabstorm::topology::live::Observer;
    use grabstorm::topology::local::LocalBackend;
    use grabstorm::topology::{cluster, ready, Backend, HaMode, TopologySpec};
    let state = state_dir();
    let _kill = KillUnder(state.path());
    let backend = LocalBackend::new(state.path());
    let spec = TopologySpec {
        mode: HaMode::Cluster,
        node_timeout_ms: 1000,
        ..Default::default()
    };
    let t = backend.up(&spec, "cluster-observer").await.unwrap();
    cluster::assemble(&t).await.unwrap();
    ready::wait_ready(&t, Duration::from_secs(10))
        .await
        .unwrap();
    // Ready means every replica is linked; redis-2 learns it by gossip.
    let started = Instant::now();
    let plain = loop {
        let plain = slots_of(&t, t.node("redis-2").unwrap().host_addr).await;
        if plain.iter().all(|(_, _, names)| names.len() == 2) {
            break plain;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{plain:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut observer = Observer::new();
    let first = observer.observe(&t, Some(&backend)).await;
    let status = first
        .cluster
        .clone()
        .expect("Cluster mode reads the cluster");

    let seen: Vec<(u16, u16, Vec<String>)> = status
        .shards
        .iter()
        .map(|s| {
            assert_eq!(s.slots.len(), 1, "{s:?}");
            let mut names = vec![s.master.clone().unwrap()];
            names.extend(s.replicas.clone());
            (s.slots[0].start, s.slots[0].end, names)
        })
        .collect();
    assert_eq!(seen, plain);
    assert_eq!(status.nodes.len(), 6);
    let mut stats = Vec::new();
    for n in t.redis_nodes() {
        let client = redis::Client::open(url_with(t.password.as_deref(), n.host_addr)).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut c)
            .await
            .unwrap();
        let said = status.nodes.iter().find(|s| s.name == n.name).unwrap();
        assert!(
            said.answered && said.state_ok && said.flags.is_empty(),
            "{said:?}"
        );
        assert!(
            info.contains(&format!("cluster_current_epoch:{}\r", said.current_epoch)),
            "{}: {info}",
            n.name
        );
        stats.push((n.name.clone(), c));
    }
    let received = |info: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let mut before = Vec::new();
    for (_, c) in &mut stats {
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query_async(c)
            .await
            .unwrap();
        before.push(received(&info));
    }
    for _ in 0..5 {
        let again = observer.observe(&t, Some(&backend)).await;
        assert_eq!(again.cluster.as_ref(), Some(&status));
    }
    for ((name, c), b) in stats.iter_mut().zip(&before) {
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query_async(c)
            .await
            .unwrap();
        assert_eq!(received(&info), *b, "{name}: connects during five polls");
    }

    let redis_1 = t.node("redis-1").unwrap().host_addr;
    let client = redis::Client::open(url_with(t.password.as_deref(), redis_1)).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _ = redis::cmd("DEBUG")
        .arg("SEGFAULT")
        .query_async::<()>(&mut c)
        .await;
    let started = Instant::now();
    let mut fail_seen = false;
    let promoted = loop {
        let v = observer.observe(&t, Some(&backend)).await;
        let s = v.cluster.unwrap();
        fail_seen |= s
            .nodes
            .iter()
            .any(|n| n.flags.get("redis-1") == Some(&FailFlag::Fail));
        if s.shards[0].master.as_deref() == Some("redis-4") {
            break (v.nodes, s);
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no promotion seen: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (nodes, s) = promoted;
    assert!(
        fail_seen,
        "the others flagged redis-1 FAIL before the promotion"
    );
    let redis_1_view = nodes.iter().find(|n| n.name == "redis-1").unwrap();
    assert_eq!(redis_1_view.health, Health::Down);
    assert!(!s.nodes[0].answered);
    // The election's epoch, as redis-4 says it in its own line.
    let redis_4 = t.node("redis-4").unwrap().host_addr;
    let client = redis::Client::open(url_with(t.password.as_deref(), redis_4)).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let own: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut c)
        .await
        .unwrap();
    let me = parse_nodes(&own)
        .unwrap()
        .into_iter()
        .find(|n| n.flags.myself)
        .unwrap();
    assert!(me.flags.master);
    assert_eq!(s.shards[0].config_epoch, Some(me.config_epoch));
    assert!(me.config_epoch > 6, "{me:?}");
    assert_eq!(
        s.shards[0].slots,
        vec![SlotRange {
            start: 0,
            end: 5461
        }]
    );
    backend.down(&t).await.unwrap();
    assert!(processes_under(state.path()).is_empty());
}
