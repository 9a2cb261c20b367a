//! Attaching to a topology grabstorm did not start (`--sentinel`,
//! `--cluster`): a topology started by `grabstorm up` in one state dir is
//! driven from another state dir that knows only addresses and the
//! password. The figures are recounted with plain Redis commands.

use crate::support::{grabstorm_in, state_dir, text, UpCluster};
use redis::Commands;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// A Sentinel topology started by `grabstorm up`, removed on drop.
struct UpSentinel {
    state: tempfile::TempDir,
    /// `up --json`.
    up: Value,
}

impl UpSentinel {
    fn up(backend: &str) -> UpSentinel {
        let state = state_dir();
        let out = grabstorm_in(state.path(), &["up", "--backend", backend, "--json"]);
        let parsed = serde_json::from_slice(&out.stdout);
        let guard = parsed.map(|up| UpSentinel { state, up });
        assert!(out.status.success(), "up: {}", text(&out.stderr));
        guard.expect("up --json prints JSON")
    }

    fn password(&self) -> String {
        self.up["password"].as_str().unwrap().to_string()
    }

    fn nodes(&self, kind: &str) -> Vec<(String, SocketAddr)> {
        self.up["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == kind)
            .map(|n| {
                (
                    n["internal_addr"].as_str().unwrap().to_string(),
                    n["host_addr"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    }

    fn sentinels_flag(&self) -> String {
        self.nodes("sentinel")
            .iter()
            .map(|(_, h)| h.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// What a user behind NAT passes: each reported data node address to
    /// the port published on the host.
    fn addr_maps(&self) -> Vec<String> {
        self.nodes("redis")
            .iter()
            .map(|(internal, host)| format!("{internal}={host}"))
            .collect()
    }

    fn conn(&self, addr: SocketAddr) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(crate::support::url_with(Some(&self.password()), addr))?
            .get_connection_with_timeout(Duration::from_secs(2))
    }

    /// The data node whose ROLE says master (and that answers), once only
    /// one does (a demoted master is converted by Sentinel a moment after
    /// the switch).
    fn master(&self) -> SocketAddr {
        let masters = || -> Vec<SocketAddr> {
            self.nodes("redis")
                .iter()
                .filter(|(_, h)| self.conn(*h).is_ok_and(|mut c| says_master(&mut c)))
                .map(|(_, h)| *h)
                .collect()
        };
        crate::support::wait_for(Duration::from_secs(20), "one node says ROLE master", || {
            masters().len() == 1
        });
        masters()[0]
    }
}

impl Drop for UpSentinel {
    fn drop(&mut self) {
        let _ = grabstorm_in(self.state.path(), &["down", "--all"]);
    }
}

/// Whether the node says `ROLE` master (false when it does not answer).
fn says_master(conn: &mut redis::Connection) -> bool {
    redis::cmd("ROLE")
        .query::<Vec<redis::Value>>(conn)
        .is_ok_and(|r| matches!(r.first(), Some(redis::Value::BulkString(b)) if b == b"master"))
}

/// `grabstorm --state-dir STATE ARGS ATTACH...`: a command on the attached topology.
fn attached(state: &Path, args: &[&str], attach: &[&str]) -> std::process::Output {
    grabstorm_in(state, &[args, attach].concat())
}

/// The seckill figures of `report` against `orders`, recounted with HLEN:
/// Redis holds the acknowledged sales less the reported losses, and the
/// orders nobody was told of.
fn assert_orders_recounted(orders: u64, report: &Value) {
    let sk = &report["seckill"];
    let n = |k: &str| {
        sk[k]
            .as_u64()
            .unwrap_or_else(|| panic!("seckill.{k}: {sk}"))
    };
    assert_eq!(orders, n("orders_in_redis"));
    assert_eq!(
        orders,
        n("sold") - n("lost_acked_sales") + n("unacked_orders"),
        "{sk}"
    );
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)))
}

/// Every key the connection's node holds (SCAN).
fn keys_on(conn: &mut redis::Connection) -> Vec<String> {
    let keys: Vec<String> = conn.scan().unwrap().map(|k| k.unwrap()).collect();
    keys
}

/// The sum of HLEN over the keys matching `pattern` (SCAN MATCH).
fn hlen_sum(conn: &mut redis::Connection, pattern: &str) -> u64 {
    let keys: Vec<String> = conn
        .scan_match(pattern)
        .unwrap()
        .map(|k| k.unwrap())
        .collect();
    keys.iter().map(|k| conn.hlen::<_, u64>(k).unwrap()).sum()
}

#[test]
fn a_sentinel_topology_started_elsewhere_is_loaded_broken_measured_and_audited() {
    if !crate::support::docker_or_skip("attach sentinel") {
        return;
    }
    let topology = UpSentinel::up("docker");
    let pw = topology.password();
    let sentinels = topology.sentinels_flag();
    // The user's own data, which the run must not touch.
    let first_master = topology.master();
    {
        let mut c = topology.conn(first_master).unwrap();
        let _: () = c.set("user:precious", "42").unwrap();
        let _: () = c.hset("gs:not-this-run:orders", "u1", "1").unwrap();
    }

    // A state dir that never saw the topology: addresses and password only.
    let other = state_dir();
    let mut attach = vec!["--sentinel", &sentinels, "--password", &pw];
    let maps = topology.addr_maps();
    // Without the map the bridge addresses are refused, named, with the fix.
    let out = attached(other.path(), &["status"], &attach);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("--addr-map"), "{err}");
    for (internal, _) in topology.nodes("redis") {
        assert!(err.contains(&internal), "{internal} named in: {err}");
    }
    for m in &maps {
        attach.push("--addr-map");
        attach.push(m);
    }

    let status = attached(other.path(), &["status", "--json"], &attach);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status = json_of(&status);
    assert_eq!(status["backend"], "external");
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6, "3 data nodes and 3 sentinels: {nodes:?}");
    let master_row = nodes
        .iter()
        .find(|n| n["role"] == "master")
        .expect("a master in status");
    assert_eq!(
        master_row["host_addr"].as_str().unwrap(),
        first_master.to_string(),
        "status names the node ROLE calls master"
    );

    // A fault that needs the container is refused as bad usage.
    let out = attached(other.path(), &["fault", "kill", "master"], &attach);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("did not start this topology"));

    let out_dir = other.path().join("out");
    let out_arg = out_dir.to_str().unwrap();
    let load = attached(
        other.path(),
        &[
            "load",
            "--workload",
            "mixed",
            "--grabbers",
            "100",
            "--duration",
            "10s",
            "--fault",
            "3s segfault master",
            "--prefix",
            "attach-test",
            "--out",
            out_arg,
            "--json",
        ],
        &attach,
    );
    let report = json_of(&load);
    assert_eq!(report["backend"], "external");
    assert_eq!(report["key_prefix"], "attach-test");
    let failovers = report["failovers"].as_array().unwrap();
    assert_eq!(failovers.len(), 1, "one failover measured: {failovers:?}");
    let f = &failovers[0];
    assert_eq!(f["failed_over"], true, "{f}");
    assert!(f["switch_ms"].as_u64().is_some(), "{f}");
    assert!(f["write_outage_ms"].as_u64().is_some(), "{f}");
    assert_eq!(report["audit"]["checked"], true, "{}", report["audit"]);

    // Recount on the new master with plain commands.
    let new_master = topology.master();
    assert_ne!(new_master, first_master, "Sentinel failed over");
    let mut c = topology.conn(new_master).unwrap();
    let run = report["run_id"].as_str().unwrap();
    let orders = hlen_sum(&mut c, &format!("attach-test:{run}:sk:*:orders"));
    assert_orders_recounted(orders, &report);
    let rp = &report["redpacket"];
    let grabs = hlen_sum(&mut c, &format!("attach-test:{run}:rp:*:grabs"));
    assert_eq!(grabs, rp["grabs_in_hash"].as_u64().unwrap());
    // Nothing outside the run's prefix was touched (the failover may lose
    // the user's key only if it was written after the last sync: it was
    // written before the load, and a replica acknowledged it long since).
    assert_eq!(c.get::<_, String>("user:precious").unwrap(), "42");
    assert_eq!(c.hlen::<_, u64>("gs:not-this-run:orders").unwrap(), 1);
    let stray: Vec<String> = keys_on(&mut c)
        .into_iter()
        .filter(|k| {
            !k.starts_with(&format!("attach-test:{run}:"))
                && k != "user:precious"
                && k != "gs:not-this-run:orders"
        })
        .collect();
    assert!(stray.is_empty(), "keys outside the run's prefix: {stray:?}");

    // `audit` from the other state dir re-checks against the attached topology.
    let audit = attached(other.path(), &["audit", out_arg, "--json"], &attach);
    let audited = json_of(&audit);
    assert_eq!(
        audited["audit"]["lost_acked_writes"],
        report["audit"]["lost_acked_writes"]
    );
    assert_eq!(audited["seckill"]["orders_in_redis"].as_u64(), Some(orders));
    // The attaching side left nothing running and no state file.
    assert!(grabstorm::topology::state::load(other.path()).is_err());
}

#[test]
fn a_cluster_started_elsewhere_is_attached_by_one_node_and_refuses_to_reshape() {
    let cluster = UpCluster::up("local", &[]);
    let pw = cluster.topology.password.clone().unwrap();
    let seed = cluster.addr("redis-4").to_string();
    let other = state_dir();
    let attach = ["--cluster", seed.as_str(), "--password", pw.as_str()];

    let status = attached(other.path(), &["status", "--json"], &attach);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status = json_of(&status);
    assert_eq!(status["nodes"].as_array().unwrap().len(), 6);
    let shards = status["cluster"]["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 3, "{shards:?}");

    for refused in ["1s reshard 100 1->2", "1s scale add", "1s restart redis-1"] {
        let out = attached(
            other.path(),
            &["load", "--duration", "2s", "--fault", refused],
            &attach,
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "{refused}: {}",
            text(&out.stderr)
        );
    }

    let out_dir = other.path().join("out");
    let load = attached(
        other.path(),
        &[
            "load",
            "--workload",
            "seckill",
            "--grabbers",
            "50",
            "--duration",
            "3s",
            "--prefix",
            "lab",
            "--out",
            out_dir.to_str().unwrap(),
            "--json",
        ],
        &attach,
    );
    let report = json_of(&load);
    assert_eq!(report["verdict"]["ok"], true, "{}", report["verdict"]);
    let run = report["run_id"].as_str().unwrap();
    // Recount on every master: the orders hashes of the run, by HLEN.
    let mut orders = 0;
    for addr in cluster.addrs() {
        let mut c = cluster.conn(addr);
        if says_master(&mut c) {
            orders += hlen_sum(&mut c, &format!("lab:{run}:sk:*:orders"));
        }
    }
    assert!(orders > 0);
    assert_orders_recounted(orders, &report);
    assert_eq!(orders, report["seckill"]["sold"].as_u64().unwrap());
}

#[test]
fn faults_sent_as_redis_commands_work_on_an_attached_topology() {
    let topology = UpSentinel::up("local");
    let pw = topology.password();
    let sentinels = topology.sentinels_flag();
    let other = state_dir();
    let attach = ["--sentinel", sentinels.as_str(), "--password", pw.as_str()];

    // SENTINEL FAILOVER first (a pause first could make the sentinels fail
    // over on their own: it outlasts down-after).
    let first_master = topology.master();
    let out_dir = other.path().join("out");
    let load = attached(
        other.path(),
        &[
            "load",
            "--workload",
            "seckill",
            "--grabbers",
            "50",
            "--duration",
            "8s",
            "--fault",
            "2s failover sentinel-1",
            "--out",
            out_dir.to_str().unwrap(),
            "--json",
        ],
        &attach,
    );
    let report = json_of(&load);
    let f = &report["failovers"][0];
    assert_eq!(
        f["fault"], "failover",
        "{f}; faults that failed: {}",
        report["faults_failed"]
    );
    assert_eq!(f["failed_over"], true, "{f}");
    assert_ne!(f["old_master"], f["new_master"]);
    // The row's losses are the audit's, and the audit's are the recount's.
    let new_master = topology.master();
    assert_ne!(new_master, first_master, "Sentinel moved the master");
    let mut c = topology.conn(new_master).unwrap();
    let run = report["run_id"].as_str().unwrap();
    let orders = hlen_sum(&mut c, &format!("gs:{run}:sk:*:orders"));
    assert_orders_recounted(orders, &report);
    let attributed: u64 = report["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["lost_acked_writes"].as_u64().unwrap())
        .sum();
    assert_eq!(
        attributed,
        report["audit"]["lost_acked_writes"].as_u64().unwrap()
    );

    // CLIENT PAUSE ALL: the master answers no client while it lasts.
    let master = topology.master();
    // Opened before the pause: a new connection's AUTH would wait it out.
    let mut watcher = topology.conn(master).unwrap();
    watcher
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let bin = crate::support::grabstorm_bin();
    let mut pause = std::process::Command::new(&bin)
        .arg("--state-dir")
        .arg(other.path())
        .args(["fault", "client-pause", "master", "--for", "2s"])
        .args(attach)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    crate::support::wait_for(Duration::from_secs(5), "the pause begins", || {
        redis::cmd("PING").query::<String>(&mut watcher).is_err()
    });
    let status = pause.wait().unwrap();
    assert!(status.success());
    let mut c = topology.conn(master).unwrap();
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
}
