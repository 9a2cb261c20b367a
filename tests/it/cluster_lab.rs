//! The Cluster lab end to end: `grabstorm up --mode cluster`, a load with
//! faults (`load --attach --fault`), and the report's failover rows and
//! losses checked against the nodes themselves: every acknowledged grab of
//! the journal looked up with HGET on the master that serves its slot now
//! (the master that answers instead of MOVED), `ROLE` of the old master,
//! every node's `CLUSTER NODES` for the epoch.

use crate::support::{grabstorm_in, journal_json, text, url_with, UpCluster};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

/// A cluster started with `up --mode cluster` ([`UpCluster`], removed
/// on drop), its nodes by name.
struct Cluster {
    up: UpCluster,
    nodes: BTreeMap<String, String>,
    password: Option<String>,
}

impl Cluster {
    fn up(backend: &str, extra: &[&str]) -> Cluster {
        let up = UpCluster::up(backend, extra);
        let nodes = up
            .topology
            .redis_nodes()
            .map(|n| (n.name.clone(), n.host_addr.to_string()))
            .collect();
        Cluster {
            password: up.topology.password.clone(),
            nodes,
            up,
        }
    }

    fn load(&self, out: &Path, args: &[&str]) -> Output {
        let mut all = vec!["load", "--attach", "--out", out.to_str().unwrap()];
        all.extend_from_slice(args);
        grabstorm_in(self.up.state.path(), &all)
    }

    fn conn(&self, node: &str) -> Option<redis::Connection> {
        redis::Client::open(url_with(self.password.as_deref(), &self.nodes[node]))
            .ok()?
            .get_connection_with_timeout(std::time::Duration::from_secs(2))
            .ok()
    }

    /// `ROLE`'s first word on `node` (None: it does not answer).
    fn role(&self, node: &str) -> Option<String> {
        let v: Vec<redis::Value> = redis::cmd("ROLE").query(&mut self.conn(node)?).ok()?;
        match v.first() {
            Some(redis::Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into()),
            _ => None,
        }
    }

    /// Every acknowledged grab of `lines` whose user has no grant in the
    /// packet's grabs hash on the master serving the key now: HGET on every
    /// node saying master, keeping the one answer that is not MOVED.
    fn grabs_missing(&self, lines: &[Value]) -> u64 {
        let mut masters: Vec<redis::Connection> = self
            .nodes
            .keys()
            .filter(|n| self.role(n).as_deref() == Some("master"))
            .filter_map(|n| self.conn(n))
            .collect();
        let mut missing = 0;
        for l in lines.iter().filter(|l| l["op"] == "redpacket_grab") {
            let key = format!("{}:grabs", l["key"].as_str().unwrap());
            let user = l["user"].as_u64().unwrap();
            let answers: Vec<Option<i64>> = masters
                .iter_mut()
                .filter_map(|c| redis::cmd("HGET").arg(&key).arg(user).query(c).ok())
                .collect();
            assert_eq!(answers.len(), 1, "exactly one master serves {key}");
            if answers[0].is_none() {
                missing += 1;
            }
        }
        missing
    }

    /// (node, config epoch) of the master serving slot 0, as each
    /// answering node's `CLUSTER NODES` says.
    fn owners_of_slot_0(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for n in self.nodes.keys() {
            let Some(mut c) = self.conn(n) else { continue };
            let text: String = redis::cmd("CLUSTER").arg("NODES").query(&mut c).unwrap();
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f[2].contains("master") && f[8..].iter().any(|s| s.starts_with("0-")) {
                    let port = f[1].split('@').next().unwrap().rsplit(':').next().unwrap();
                    let owner = self
                        .nodes
                        .iter()
                        .find(|(_, a)| a.ends_with(&format!(":{port}")))
                        .map(|(n, _)| n.clone())
                        .unwrap();
                    out.push((owner, f[6].parse().unwrap()));
                }
            }
        }
        out
    }
}

fn report(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

fn losses_add_up(r: &Value) {
    let sum: u64 = r["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["lost_acked_writes"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, r["audit"]["lost_acked_writes"].as_u64().unwrap());
}

/// A segfaulted master under red-packet load: its replica is promoted, the
/// cluster is ok again, the old master rejoins as a replica, every node
/// agrees on the new master and its epoch, the phases come in order, and
/// the lost grabs equal a recount on the nodes.
#[test]
fn cluster_segfault_failover_under_load_is_measured_and_recounted() {
    let c = Cluster::up("local", &[]);
    let out = tempfile::tempdir().unwrap();
    let o = c.load(
        out.path(),
        &[
            "--workload",
            "redpacket",
            "--grabbers",
            "200",
            "--duration",
            "12s",
            "--fault",
            "3s segfault master-1",
            "--fault",
            "8s restart redis-1",
        ],
    );
    let r = report(out.path());
    assert!(
        r["audit"]["checked"].as_bool().unwrap(),
        "{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let rows = r["failovers"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let f = &rows[0];
    assert_eq!(f["shard"], 1);
    assert_eq!(f["old_master"], "redis-1");
    assert_eq!(f["new_master"], "redis-4", "redis-4 is shard 1's replica");
    assert_eq!(f["failed_over"], true);
    let ms = |k: &str| f[k].as_u64().unwrap_or_else(|| panic!("{k} in {f}"));
    assert!(ms("pfail_ms") <= ms("fail_ms"), "{f}");
    assert!(ms("fail_ms") <= ms("promoted_ms"), "{f}");
    assert!(ms("promoted_ms") <= ms("state_ok_ms") + 500, "{f}");
    assert!(ms("promoted_ms") < 10_000, "{f}");
    assert_eq!(f["old_master_rejoined_as_replica"], true, "{f}");

    // The nodes' own word, after the run.
    assert_eq!(c.role("redis-1").as_deref(), Some("slave"));
    assert_eq!(c.role("redis-4").as_deref(), Some("master"));
    let owners = c.owners_of_slot_0();
    assert_eq!(owners.len(), 6, "every node answers: {owners:?}");
    assert!(
        owners
            .iter()
            .all(|(n, e)| n == "redis-4" && Some(*e) == f["epoch_after"].as_u64()),
        "every node names redis-4 with the row's epoch: {owners:?} vs {f}"
    );
    assert!(
        f["epoch_after"].as_u64() > f["epoch_before"].as_u64(),
        "{f}"
    );

    let lines = journal_json(out.path());
    assert!(lines.len() > 100, "{} acknowledged writes", lines.len());
    let recount = c.grabs_missing(&lines);
    eprintln!(
        "segfault: lab lost {} (row {}), HGET recount {recount}; pfail {} fail {} promoted {} ok {} ms; epoch {} -> {}",
        r["audit"]["lost_acked_writes"], f["lost_acked_writes"], f["pfail_ms"], f["fail_ms"],
        f["promoted_ms"], f["state_ok_ms"], f["epoch_before"], f["epoch_after"]
    );
    assert_eq!(
        r["audit"]["lost_acked_writes"].as_u64(),
        Some(recount),
        "the audit against HGET on each key's master"
    );
    assert_eq!(f["lost_acked_writes"].as_u64(), Some(recount));
    losses_add_up(&r);
}

/// CLUSTER FAILOVER sent to shard 2's replica under load: promoted, the old
/// master its replica, and nothing acknowledged lost, recounted.
#[test]
fn cluster_manual_failover_loses_nothing_recounted() {
    let c = Cluster::up("local", &[]);
    let out = tempfile::tempdir().unwrap();
    let o = c.load(
        out.path(),
        &[
            "--workload",
            "redpacket",
            "--grabbers",
            "200",
            "--duration",
            "8s",
            "--fault",
            "3s failover replica-2",
        ],
    );
    let r = report(out.path());
    assert!(
        r["audit"]["checked"].as_bool().unwrap(),
        "{}",
        text(&o.stderr)
    );
    let rows = r["failovers"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let f = &rows[0];
    assert_eq!(
        (
            f["fault"].as_str(),
            f["old_master"].as_str(),
            f["new_master"].as_str()
        ),
        (Some("failover"), Some("redis-2"), Some("redis-5"))
    );
    assert_eq!(f["shard"], 2);
    assert!(
        f["pfail_ms"].is_null(),
        "a manual failover flags nobody: {f}"
    );
    assert_eq!(c.role("redis-5").as_deref(), Some("master"));
    assert_eq!(c.role("redis-2").as_deref(), Some("slave"));
    assert_eq!(f["old_master_rejoined_as_replica"], true);
    let recount = c.grabs_missing(&journal_json(out.path()));
    eprintln!(
        "manual failover: lab lost {}, HGET recount {recount}; promoted after {} ms",
        r["audit"]["lost_acked_writes"], f["promoted_ms"]
    );
    assert_eq!(recount, 0);
    assert_eq!(r["audit"]["lost_acked_writes"], 0);
    assert_eq!(f["lost_acked_writes"], 0);
}

/// A master cut off from the majority (Docker): it acknowledges writes
/// until node-timeout, the majority promotes its replica, and after the
/// heal it is a replica: what it acknowledged since the cut is lost,
/// attributed to `minority_partition`, and equal to a recount.
#[test]
fn cluster_minority_partition_loses_what_the_minority_took_recounted() {
    let _one = crate::support::one_partition_at_a_time();
    if !crate::support::docker_or_skip("cluster_minority_partition") {
        return;
    }
    let c = Cluster::up("docker", &[]);
    let out = tempfile::tempdir().unwrap();
    let o = c.load(
        out.path(),
        &[
            "--workload",
            "redpacket",
            "--grabbers",
            "100",
            "--duration",
            "14s",
            "--fault",
            "3s partition master-1 for 6s",
            "--settle-timeout",
            "40s",
        ],
    );
    let r = report(out.path());
    assert!(
        r["audit"]["checked"].as_bool().unwrap(),
        "{}",
        text(&o.stderr)
    );
    let rows = r["failovers"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let f = &rows[0];
    assert_eq!(
        (f["fault"].as_str(), f["shard"].as_u64()),
        (Some("partition"), Some(1))
    );
    assert_eq!(f["new_master"], "redis-4", "{f}");
    assert_eq!(c.role("redis-1").as_deref(), Some("slave"));
    let recount = c.grabs_missing(&journal_json(out.path()));
    eprintln!(
        "minority partition: lab lost {}, HGET recount {recount}; losses {}",
        r["audit"]["lost_acked_writes"], r["losses"]
    );
    assert_eq!(r["audit"]["lost_acked_writes"].as_u64(), Some(recount));
    assert!(recount > 0, "the minority master acknowledged grabs: {f}");
    let minority: u64 = r["losses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["cause"] == "minority_partition")
        .map(|l| l["lost_acked_writes"].as_u64().unwrap())
        .sum();
    assert!(minority > 0, "{}", r["losses"]);
    losses_add_up(&r);
}

/// The reply of a plain `SET key 1` sent to `node` (`OK`, or the error's
/// text, e.g. `CLUSTERDOWN The cluster is down`).
fn plain_set(c: &Cluster, node: &str, key: &str) -> String {
    let mut conn = c.conn(node).unwrap_or_else(|| panic!("{node} answers"));
    match redis::cmd("SET").arg(key).arg(1).query::<String>(&mut conn) {
        Ok(ok) => ok,
        // The reply as Redis wrote it: its code, then its text.
        Err(e) => match e.code() {
            Some(code) => format!("{code} {}", e.detail().unwrap_or_default()),
            None => e.to_string(),
        },
    }
}

/// The first failover row's reason, for the log.
fn f_reason(r: &Value) -> String {
    r["failovers"][0]["reason"]
        .as_str()
        .unwrap_or("-")
        .to_string()
}

/// A key whose slot lies in shard `k`'s range (shard K: redis-K's at start).
fn key_of_shard(k: usize, prefix: &str) -> String {
    use grabstorm::topology::admin::cluster::{even_split, key_slot};
    let range = even_split(3)[k - 1];
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .find(|key| range.contains(key_slot(key.as_bytes())))
        .unwrap()
}

/// A master with no replica killed under load and left dead. With
/// `--require-full-coverage yes` the whole cluster refuses: a plain SET of
/// a shard-2 key sent to shard 2's own master answers CLUSTERDOWN, and the
/// report says the cluster refuses; with `no` that SET succeeds and only
/// shard 1's keys fail (MOVED to the dead master, which still owns them). Either way the row names no new master and
/// says why: the shard had no replica, or its only replica was killed
/// first ("kill a master whose only replica is down").
#[test]
fn cluster_full_coverage_refuses_every_shard_and_partial_coverage_serves_the_others() {
    let cases: [(&str, &str, &[&str], &str); 3] = [
        (
            "yes",
            "0",
            &["1s kill master-1"],
            "its shard has no replica",
        ),
        ("no", "0", &["1s kill master-1"], "its shard has no replica"),
        (
            "yes",
            "1",
            &["1s kill replica-1", "2s kill master-1"],
            "its only replica redis-4 was down (stopped ",
        ),
    ];
    for (coverage, replicas, faults, why) in cases {
        let c = Cluster::up(
            "local",
            &[
                "--replicas-per-master",
                replicas,
                "--require-full-coverage",
                coverage,
            ],
        );
        let out = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--workload",
            "lock",
            "--grabbers",
            "20",
            "--duration",
            "6s",
            "--settle-timeout",
            "1s",
        ];
        for f in faults {
            args.extend(["--fault", f]);
        }
        let o = c.load(out.path(), &args);
        let r = report(out.path());
        let said = format!("{}\n{}", text(&o.stdout), text(&o.stderr));

        // The nodes' own word, redis-1 still dead: a shard-2 key on shard
        // 2's master, and a shard-1 key, which nobody serves.
        let other = plain_set(&c, "redis-2", &key_of_shard(2, "cov"));
        let dead = plain_set(&c, "redis-2", &key_of_shard(1, "cov"));
        let state: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query(&mut c.conn("redis-3").unwrap())
            .unwrap();
        eprintln!(
            "full coverage {coverage}, faults {faults:?}: SET on shard 2 -> {other:?}, on shard 1 -> {dead:?}; errors {}; {}",
            r["errors"], f_reason(&r)
        );
        let rows = r["failovers"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}\n{said}");
        let f = &rows[0];
        assert_eq!(
            (f["old_master"].as_str(), f["shard"].as_u64()),
            (Some("redis-1"), Some(1))
        );
        assert_eq!(f["failed_over"], false, "{f}");
        assert!(
            f["new_master"].is_null() && f["promoted_ms"].is_null(),
            "{f}"
        );
        assert!(f["fail_ms"].as_u64().is_some(), "the masters agreed: {f}");
        let reason = f["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(why), "{f}");
        let refused: Vec<&Value> = r["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "cluster_state" && e["ok"] == false)
            .collect();
        let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
        if coverage == "yes" {
            assert!(other.starts_with("CLUSTERDOWN"), "{other}");
            assert!(dead.starts_with("CLUSTERDOWN"), "{dead}");
            assert!(state.contains("cluster_state:fail"), "{state}");
            // Every live node refuses (the dead ones do not answer).
            let live: Vec<&str> = if replicas == "0" {
                vec!["redis-2", "redis-3"]
            } else {
                vec!["redis-2", "redis-3", "redis-5", "redis-6"]
            };
            assert!(
                refused.iter().any(|e| e["failing_nodes"]
                    .as_array()
                    .is_some_and(|n| n.iter().filter_map(Value::as_str).eq(live.iter().copied()))
                    && e["uncovered"] == "0\u{2013}5461"),
                "{refused:?}"
            );
            let sentence = format!(
                "the cluster refuses every command on {}: slots 0\u{2013}5461 have no master (full coverage required)",
                live.join(", ")
            );
            assert!(md.contains(&sentence), "{sentence}\n{md}");
            assert!(r["errors"]["clusterdown"].as_u64().unwrap_or(0) > 0);
        } else {
            assert_eq!(other, "OK");
            // Shard 1's slots stay assigned to the FAIL master: the others
            // send a client to it, and nothing answers there.
            let redis_1 = c.nodes["redis-1"].rsplit(':').next().unwrap().to_string();
            assert!(
                dead.starts_with("MOVED ") && dead.ends_with(&format!(":{redis_1}")),
                "{dead}"
            );
            assert!(state.contains("cluster_state:ok"), "{state}");
            assert!(refused.is_empty(), "{refused:?}");
            assert!(!md.contains("the cluster refuses"), "{md}");
            assert!(
                md.contains("slots 0\u{2013}5461 have no master: their keys fail while the other shards keep serving (full coverage not required)"),
                "{md}"
            );
            // The other shards kept granting locks after the kill: every
            // second of the load has successful writes.
            let tp = r["throughput"].as_array().unwrap();
            assert!(
                tp.iter()
                    .take(6)
                    .all(|p| p["writes_ok"].as_u64().unwrap_or(0) > 0),
                "{tp:?}"
            );
        }
    }
}
