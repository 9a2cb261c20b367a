//! `grabstorm scale add` and `grabstorm scale remove K` on a real cluster
//! while `grabstorm load --attach` runs against it from another process:
//! 0 acknowledged grabs lost by the lab's audit and by an independent
//! recount (HGET of every acknowledged grab on the master serving its
//! slot), `redis-cli --cluster check` clean, every master within one slot
//! of its fair share, the removed nodes gone (processes or containers, and
//! from every node's `CLUSTER NODES`), and `down` leaving nothing of the
//! added nodes. The same as timed steps of one `grabstorm load`.

use crate::support::{grabstorm_bin, grabstorm_in, journal_json, text, url_with, UpCluster};
use grabstorm::topology::admin::cluster::{parse_nodes, ClusterNode};
use grabstorm::topology::{state, Topology};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn conn(t: &Topology, name: &str) -> Option<redis::Connection> {
    let n = t.node(name)?;
    let c = redis::Client::open(url_with(t.password.as_deref(), n.host_addr))
        .ok()?
        .get_connection_with_timeout(Duration::from_secs(2))
        .ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    Some(c)
}

/// `CLUSTER NODES` of `name`, typed.
fn nodes_of(t: &Topology, name: &str) -> Vec<ClusterNode> {
    let mut c = conn(t, name).unwrap_or_else(|| panic!("{name} answers"));
    let text: String = redis::cmd("CLUSTER").arg("NODES").query(&mut c).unwrap();
    parse_nodes(&text).unwrap()
}

/// Slots per master, as every node of `t` says (all must agree).
fn slots_per_master(t: &Topology) -> Vec<u32> {
    let mut seen: Option<Vec<u32>> = None;
    for n in t.redis_nodes() {
        let mut counts: Vec<u32> = nodes_of(t, &n.name)
            .iter()
            .filter(|m| m.flags.master && !m.slots.is_empty())
            .map(|m| m.slots.iter().map(|r| r.len()).sum())
            .collect();
        counts.sort();
        if let Some(s) = &seen {
            assert_eq!(s, &counts, "{} disagrees", n.name);
        }
        seen = Some(counts);
    }
    seen.unwrap()
}

fn cluster_check(t: &Topology) {
    let first = t.redis_nodes().next().unwrap();
    let out = Command::new("redis-cli")
        .args([
            "--cluster",
            "check",
            &first.host_addr.to_string(),
            "-a",
            t.password.as_deref().unwrap(),
            "--no-auth-warning",
        ])
        .output()
        .unwrap();
    let s = text(&out.stdout);
    assert!(s.contains("[OK] All 16384 slots covered."), "{s}");
    assert!(
        s.contains("[OK] All nodes agree about slots configuration."),
        "{s}"
    );
    assert!(!s.contains("[WARNING]") && !s.contains("[ERR]"), "{s}");
}

/// Acknowledged grabs of `lines` with no grant on the master serving their
/// key now: HGET on every master of `t`, keeping the one answer that is
/// not MOVED.
fn grabs_missing(t: &Topology, lines: &[Value]) -> (u64, u64) {
    let mut masters: Vec<redis::Connection> = t
        .redis_nodes()
        .filter_map(|n| conn(t, &n.name))
        .filter_map(|mut c| {
            let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut c).ok()?;
            matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master").then_some(c)
        })
        .collect();
    let (mut checked, mut missing) = (0, 0);
    for l in lines.iter().filter(|l| l["op"] == "redpacket_grab") {
        let key = format!("{}:grabs", l["key"].as_str().unwrap());
        let user = l["user"].as_u64().unwrap();
        let answers: Vec<Option<i64>> = masters
            .iter_mut()
            .filter_map(|c| redis::cmd("HGET").arg(&key).arg(user).query(c).ok())
            .collect();
        assert_eq!(answers.len(), 1, "exactly one master serves {key}");
        checked += 1;
        if answers[0].is_none() {
            missing += 1;
        }
    }
    (checked, missing)
}

/// `grabstorm scale ARGS --json`, its report.
fn scale(state: &Path, args: &[&str]) -> Value {
    let mut all = vec!["scale"];
    all.extend_from_slice(args);
    all.push("--json");
    let started = Instant::now();
    let out = grabstorm_in(state, &all);
    assert!(
        out.status.success(),
        "scale {args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!(
        "scale {args:?}: {} slots, {} keys moved in {} moves, {} ms (wall {} ms)",
        r["slots_moved"],
        r["keys_moved"],
        r["moves"].as_array().unwrap().len(),
        r["millis"],
        started.elapsed().as_millis()
    );
    r
}

/// Scale out to 4 masters and back in to 3 (removing shard 2, an original
/// one) while a red-packet load runs from another process; every check of
/// the module doc. Returns the run id.
fn scale_out_and_in_under_load(backend: &str) -> String {
    let c = UpCluster::up(backend, &[]);
    let state = c.state.path();
    let run_id = c.topology.run_id.clone();
    let out = tempfile::tempdir().unwrap();
    let load = Command::new(grabstorm_bin())
        .arg("--state-dir")
        .arg(state)
        .args([
            "load",
            "--attach",
            "--out",
            out.path().to_str().unwrap(),
            "--workload",
            "redpacket",
            "--grabbers",
            "200",
            "--duration",
            "120s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));

    // Out: shard 4 (redis-7 and its replica redis-8) takes a fair share.
    let added = scale(state, &["add"]);
    assert_eq!(added["shard"], 4);
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&added), ["redis-7", "redis-8"]);
    // The shard's nodes in the node shape of `up --json`, read live.
    for (n, role) in added["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["master", "replica"])
    {
        assert_eq!(
            (n["shard"].as_u64(), n["health"].as_str()),
            (Some(4), Some("up")),
            "{n}"
        );
        assert_eq!(n["role"], role, "{n}");
        assert!(n["host_addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    }
    assert_eq!(added["complete"], true);
    assert_eq!(added["slots_moved"], 4096);
    assert!(added["keys_moved"].as_u64().unwrap() > 0, "{added}");
    assert!(added["moves"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["every_node_agrees"] == true));
    let t = state::load(state).unwrap();
    assert_eq!(t.spec.masters, 4);
    assert_eq!(t.start_shard("redis-8"), Some(4));
    assert_eq!(slots_per_master(&t), [4096, 4096, 4096, 4096]);
    cluster_check(&t);
    let role: Vec<redis::Value> = redis::cmd("ROLE")
        .query(&mut conn(&t, "redis-8").unwrap())
        .unwrap();
    assert!(matches!(&role[0], redis::Value::BulkString(b) if b == b"slave"));

    // In: shard 2 (redis-2, redis-5) hands its slots over and leaves.
    let gone: Vec<(String, String)> = ["redis-2", "redis-5"]
        .iter()
        .map(|n| {
            let me = nodes_of(&t, n)
                .into_iter()
                .find(|m| m.flags.myself)
                .unwrap();
            (n.to_string(), me.id)
        })
        .collect();
    let handles: Vec<String> = gone
        .iter()
        .map(|(n, _)| t.node(n).unwrap().handle.clone())
        .collect();
    let removed = scale(state, &["remove", "2"]);
    assert_eq!(removed["complete"], true);
    assert_eq!(names(&removed), ["redis-2", "redis-5"]);
    for n in removed["nodes"].as_array().unwrap() {
        assert_eq!(
            (n["shard"].as_u64(), n["health"].as_str()),
            (Some(2), Some("down")),
            "{n}"
        );
    }
    assert_eq!(removed["slots_moved"], 4096);
    let t = state::load(state).unwrap();
    assert_eq!(t.spec.masters, 3);
    assert!(t.node("redis-2").is_none() && t.node("redis-5").is_none());
    let mut counts = slots_per_master(&t);
    counts.sort();
    assert_eq!(counts, [5461, 5461, 5462]);
    cluster_check(&t);
    for n in t.redis_nodes() {
        let listed = nodes_of(&t, &n.name);
        for (name, id) in &gone {
            assert!(
                listed.iter().all(|l| &l.id != id),
                "{} still lists {name}",
                n.name
            );
        }
    }
    if backend == "local" {
        for h in &handles {
            assert!(!crate::support::pid_alive(h.parse().unwrap()), "pid {h}");
        }
    } else {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (containers, _) = rt.block_on(async {
            let docker = grabstorm::topology::docker::DockerBackend::connect(None)
                .await
                .unwrap();
            crate::topology_docker::leftovers(docker.docker(), &run_id).await
        });
        for h in &handles {
            assert!(!containers.contains(h), "container {h} of a removed node");
        }
        assert_eq!(containers.len(), 6, "{containers:?}");
    }

    // End the load now; it settles and audits.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(load.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let o = load.wait_with_output().unwrap();
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap())
            .unwrap_or_else(|e| panic!("{e}: {}{}", text(&o.stdout), text(&o.stderr)));
    assert_eq!(report["audit"]["checked"], true, "{}", text(&o.stderr));
    let lines = journal_json(out.path());
    let (checked, missing) = grabs_missing(&t, &lines);
    let redirects = &report["cluster"]["redirects"];
    eprintln!(
        "{backend}: {checked} acknowledged grabs, lab lost {}, HGET recount {missing}; MOVED {} ASK {}",
        report["audit"]["lost_acked_writes"], redirects["moved"], redirects["ask"]
    );
    assert!(checked > 100, "{checked} acknowledged grabs");
    assert_eq!(report["audit"]["lost_acked_writes"], 0);
    assert_eq!(missing, 0);
    assert!(redirects["ask"].as_u64().unwrap_or(0) + redirects["moved"].as_u64().unwrap_or(0) > 0);

    // `down` removes the added nodes too.
    let added_handles: Vec<String> = ["redis-7", "redis-8"]
        .iter()
        .map(|n| t.node(n).unwrap().handle.clone())
        .collect();
    let d = grabstorm_in(state, &["down"]);
    assert!(d.status.success(), "{}", text(&d.stderr));
    if backend == "local" {
        for h in &added_handles {
            assert!(!crate::support::pid_alive(h.parse().unwrap()), "pid {h}");
        }
        assert!(crate::support::processes_under(state).is_empty());
    }
    assert!(!t.run_dir.exists());
    run_id
}

#[test]
fn cluster_scale_out_and_in_under_load_loses_nothing_local() {
    scale_out_and_in_under_load("local");
}

#[test]
fn cluster_scale_out_and_in_under_load_loses_nothing_docker() {
    if !crate::support::docker_or_skip("cluster_scale_out_and_in_under_load_loses_nothing_docker") {
        return;
    }
    let run_id = scale_out_and_in_under_load("docker");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (containers, networks) = rt.block_on(async {
        let docker = grabstorm::topology::docker::DockerBackend::connect(None)
            .await
            .unwrap();
        crate::topology_docker::leftovers(docker.docker(), &run_id).await
    });
    assert!(
        containers.is_empty() && networks.is_empty(),
        "{containers:?} {networks:?}"
    );
}

/// Refusals change nothing: an unknown shard, fewer than three masters
/// left, a node down.
#[test]
fn cluster_scale_refuses_clearly() {
    let c = UpCluster::up("local", &[]);
    let state = c.state.path();
    let o = grabstorm_in(state, &["scale", "remove", "9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("no shard 9 in this run (shards: 1, 2, 3)"),
        "{}",
        text(&o.stderr)
    );
    let o = grabstorm_in(state, &["scale", "remove", "2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("would leave 2 masters"),
        "{}",
        text(&o.stderr)
    );
    let o = grabstorm_in(state, &["fault", "kill", "redis-6"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = grabstorm_in(state, &["scale", "add"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("redis-6 is not well: it does not answer"),
        "{}",
        text(&o.stderr)
    );
    let t = state::load(state).unwrap();
    assert_eq!(t.redis_nodes().count(), 6);
    assert_eq!(t.spec.masters, 3);
    assert!(t.shards.is_empty());
}

/// A Sentinel topology cannot scale: said before anything changes.
#[test]
fn scale_on_a_sentinel_topology_is_refused() {
    let state = crate::support::state_dir();
    let s = state.path();
    let up = grabstorm_in(s, &["up", "--backend", "local"]);
    let refused = grabstorm_in(s, &["scale", "add"]);
    let down = grabstorm_in(s, &["down"]);
    assert!(up.status.success(), "{}", text(&up.stderr));
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("the running topology is not a cluster"),
        "{}",
        text(&refused.stderr)
    );
}

/// `scale add` and `scale remove 4` as timed steps of one `grabstorm
/// load` that starts its own cluster: both end complete on the timeline
/// (4,096 slots each way, every master at its fair share after each), the
/// audit loses nothing, and the end of the run leaves no process of the
/// run, the added nodes included. In Sentinel mode the step is refused
/// before anything starts.
#[test]
fn cluster_scale_steps_in_a_load_add_then_remove_a_shard() {
    let state = crate::support::state_dir();
    let s = state.path();
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(grabstorm_bin())
        .arg("--state-dir")
        .arg(s)
        .args([
            "load",
            "--mode",
            "cluster",
            "--backend",
            "local",
            "--workload",
            "redpacket",
            "--grabbers",
            "100",
            "--duration",
            "45s",
            "--fault",
            "3s scale add",
            "--fault",
            "24s scale remove 4",
            "--out",
        ])
        .arg(out.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let left = crate::support::processes_under(s);
    assert!(left.is_empty(), "processes left behind: {left:?}");
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let r: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    let ended: Vec<&Value> = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "scale_ended")
        .collect();
    assert_eq!(ended.len(), 2, "{}", r["events"]);
    for (e, action, shares) in [
        (ended[0], "add", vec![4096; 4]),
        (ended[1], "remove 4", vec![5461, 5461, 5462]),
    ] {
        assert_eq!(e["action"], action, "{e}");
        assert_eq!(
            (&e["complete"], &e["slots_moved"]),
            (&true.into(), &4096.into()),
            "{e}"
        );
        let mut got: Vec<u64> = e["slots_per_master"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .collect();
        got.sort();
        assert_eq!(got, shares, "{e}");
        eprintln!(
            "scale {action} as a step: {} slots, {} keys in {} ms",
            e["slots_moved"], e["keys_moved"], e["millis"]
        );
    }
    assert_eq!(
        r["faults_failed"],
        serde_json::json!([]),
        "{}",
        r["faults_failed"]
    );
    assert_eq!(r["audit"]["lost_acked_writes"], 0, "{}", r["audit"]);

    let refused = grabstorm_in(
        s,
        &["load", "--backend", "local", "--fault", "5s scale add"],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains(
            "scale is a Redis Cluster fault (a shard joins or leaves): this topology runs Sentinel"
        ),
        "{}",
        text(&refused.stderr)
    );
}
