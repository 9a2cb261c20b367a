//! Live resharding on real clusters: `load --attach --fault "3s reshard
//! 3000 1->2"` under red-packet load, on both backends, checked against
//! the nodes themselves (every acknowledged grab looked up with HGET on the
//! master serving its key, `redis-cli --cluster check`, `CLUSTER NODES`),
//! and `grabstorm reshard` on the command line with its refusals.

use crate::support::{docker_or_skip, grabstorm_in, journal_json, text, UpCluster};
use grabstorm::topology::admin::cluster::{key_slot, SlotRange};
use grabstorm::topology::migrate::served_by;
use serde_json::Value;
use std::path::Path;

fn report(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

/// Every node saying `ROLE master`, connected.
fn masters(c: &UpCluster) -> Vec<redis::Connection> {
    c.addrs()
        .into_iter()
        .filter_map(|a| c.try_conn(a).ok())
        .filter_map(|mut conn| {
            let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut conn).ok()?;
            matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master")
                .then_some(conn)
        })
        .collect()
}

/// Acknowledged grabs of the journal with no grant in the packet's grabs
/// hash on the master serving the key now: HGET on every master, keeping
/// the one answer that is not MOVED.
fn grabs_missing(c: &UpCluster, lines: &[Value]) -> u64 {
    let mut masters = masters(c);
    let mut missing = 0;
    for l in lines.iter().filter(|l| l["op"] == "redpacket_grab") {
        let key = format!("{}:grabs", l["key"].as_str().unwrap());
        let user = l["user"].as_u64().unwrap();
        let answers: Vec<Option<i64>> = masters
            .iter_mut()
            .filter_map(|m| redis::cmd("HGET").arg(&key).arg(user).query(m).ok())
            .collect();
        assert_eq!(answers.len(), 1, "exactly one master serves {key}");
        if answers[0].is_none() {
            missing += 1;
        }
    }
    missing
}

/// `redis-cli --cluster check` from the host on redis-1: every slot
/// covered, every node agreeing.
fn assert_cluster_check_clean(c: &UpCluster) {
    let pw = c.topology.password.clone().unwrap();
    let out = std::process::Command::new("redis-cli")
        .args([
            "--cluster",
            "check",
            &c.addr("redis-1").to_string(),
            "-a",
            &pw,
            "--no-auth-warning",
        ])
        .output()
        .unwrap();
    let said = text(&out.stdout);
    assert!(said.contains("[OK] All 16384 slots covered."), "{said}");
    assert!(
        said.contains("[OK] All nodes agree about slots configuration."),
        "{said}"
    );
    assert!(!said.contains("[WARNING]"), "{said}");
}

/// Shard identity after the reshard, by the library's one rule and by
/// `grabstorm status --json`: shard 1 is still redis-1's group (smaller by
/// `moved` slots), shard 2 redis-2's, which serves them now.
fn assert_shards_kept_their_nodes(c: &UpCluster, moved: SlotRange) {
    let t = c.topology.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (one, two, one_slots, two_slots) = rt.block_on(async {
        let one = grabstorm::topology::cluster::shard_nodes(&t, 1)
            .await
            .unwrap();
        let two = grabstorm::topology::cluster::shard_nodes(&t, 2)
            .await
            .unwrap();
        let one_slots = served_by(&t, "redis-1").await.unwrap();
        let two_slots = served_by(&t, "redis-2").await.unwrap();
        (one, two, one_slots, two_slots)
    });
    assert_eq!(one, ("redis-1".to_string(), vec!["redis-4".to_string()]));
    assert_eq!(two, ("redis-2".to_string(), vec!["redis-5".to_string()]));
    assert!(
        one_slots.iter().all(|r| r.start > moved.end),
        "{one_slots:?}"
    );
    assert!(two_slots.contains(&moved), "{two_slots:?}");
    let status = grabstorm_in(c.state.path(), &["status", "--json"]);
    let s: Value = serde_json::from_slice(&status.stdout).unwrap_or_else(|e| {
        panic!("status --json: {e}: {}", text(&status.stdout));
    });
    let shards = s["cluster"]["shards"]
        .as_array()
        .unwrap_or_else(|| panic!("{s}"));
    assert_eq!(shards[0]["master"], "redis-1", "{s}");
    assert_eq!(shards[1]["master"], "redis-2", "{s}");
    assert_eq!(shards[0]["slots"][0]["start"], moved.end + 1, "{s}");
}

/// 3,000 slots move from shard 1 to shard 2 under red-packet load: nothing
/// acknowledged is lost (the audit and an HGET recount agree), the client
/// was sent MOVED (and ASK while a slot's keys were in flight), the cluster
/// checks clean, and `master-1` still means redis-1's group.
fn reshard_under_load(backend: &str) {
    let c = UpCluster::up(backend, &[]);
    let out = tempfile::tempdir().unwrap();
    let o = grabstorm_in(
        c.state.path(),
        &[
            "load",
            "--attach",
            "--out",
            out.path().to_str().unwrap(),
            "--workload",
            "redpacket",
            "--grabbers",
            "200",
            "--packets",
            "50",
            "--duration",
            "30s",
            "--fault",
            "3s reshard 3000 1->2",
        ],
    );
    let r = report(out.path());
    let said = format!("{}\n{}", text(&o.stdout), text(&o.stderr));
    assert!(r["audit"]["checked"].as_bool().unwrap(), "{said}");
    let migrations = r["cluster"]["migrations"].as_array().unwrap_or_else(|| {
        panic!("no cluster.migrations: {}\n{said}", r["cluster"]);
    });
    assert_eq!(migrations.len(), 1, "{migrations:?}");
    let m = &migrations[0];
    assert_eq!(
        (m["from"].as_u64(), m["to"].as_u64()),
        (Some(1), Some(2)),
        "{m}"
    );
    assert_eq!(
        (&m["from_node"], &m["to_node"]),
        (&"redis-1".into(), &"redis-2".into())
    );
    assert_eq!(m["slots"], 3000, "{m}");
    assert_eq!(m["complete"], true, "{m}");
    assert_eq!(m["every_node_agrees"], true, "{m}");
    assert!(m["keys_moved"].as_u64().unwrap() > 0, "{m}");
    let (moved, ask) = (m["moved"].as_u64().unwrap(), m["ask"].as_u64().unwrap());
    assert!(moved > 0, "the client was sent MOVED during the move: {m}");
    // ASK comes only while a slot's keys are in flight (the source has
    // sent a key, the slot is not handed over yet); with 50 packets and
    // 200 grabbers, slots with live keys are hit in that window.
    assert!(ask > 0, "the client was sent ASK during the move: {m}");
    assert!(
        r["cluster"]["redirects"]["moved"].as_u64().unwrap() >= moved,
        "{}",
        r["cluster"]
    );
    assert!(
        r["failovers"].as_array().unwrap().is_empty(),
        "{}",
        r["failovers"]
    );

    // The timeline: start, progress, end, and no promotion.
    let types: Vec<&str> = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(types.contains(&"reshard_started"), "{types:?}");
    assert!(
        types.iter().filter(|t| **t == "reshard_progress").count() >= 5,
        "{types:?}"
    );
    assert!(types.contains(&"reshard_ended"), "{types:?}");
    assert!(!types.contains(&"cluster_promoted"), "{types:?}");

    // Nothing acknowledged lost: the audit, and HGET on each key's master.
    let lines = journal_json(out.path());
    assert!(lines.len() > 100, "{} acknowledged writes", lines.len());
    let grabs_in_moved_slots = lines
        .iter()
        .filter(|l| l["op"] == "redpacket_grab")
        .filter(|l| key_slot(l["key"].as_str().unwrap().as_bytes()) < 3000)
        .count();
    let recount = grabs_missing(&c, &lines);
    let lost = r["audit"]["lost_acked_writes"].as_u64().unwrap();
    eprintln!(
        "reshard 3000 slots under load ({backend}): {} ms, {} keys, MOVED {moved}, ASK {ask} (run: MOVED {}, ASK {}), lost {lost}, HGET recount {recount}; {} acknowledged writes, {grabs_in_moved_slots} grabs in the moved slots",
        m["millis"], m["keys_moved"], r["cluster"]["redirects"]["moved"], r["cluster"]["redirects"]["ask"], lines.len()
    );
    assert_eq!(lost, 0, "{}", r["losses"]);
    assert_eq!(recount, 0);
    assert!(
        grabs_in_moved_slots > 0,
        "the load wrote into the moved slots"
    );

    assert_cluster_check_clean(&c);
    assert_shards_kept_their_nodes(
        &c,
        SlotRange {
            start: 0,
            end: 2999,
        },
    );
}

#[test]
fn cluster_reshard_under_load_loses_nothing_local() {
    reshard_under_load("local");
}

#[test]
fn cluster_reshard_under_load_loses_nothing_docker() {
    if !docker_or_skip("cluster_reshard_under_load_loses_nothing_docker") {
        return;
    }
    reshard_under_load("docker");
}

/// `grabstorm reshard` on the command line: refusals exit 2 saying why and
/// touch nothing; a move prints its report as JSON, and the keys of the
/// moved slots are read back on the new master with a plain GET.
#[test]
fn cluster_reshard_command_moves_slots_and_refuses_what_cannot_be() {
    let c = UpCluster::up("local", &[]);
    let run = |args: &[&str]| {
        let mut all = vec!["reshard"];
        all.extend_from_slice(args);
        grabstorm_in(c.state.path(), &all)
    };
    for (args, says) in [
        (
            &["--slots", "10", "--from", "1", "--to", "1"][..],
            "cannot give slots to itself",
        ),
        (
            &["--slots", "10", "--from", "1", "--to", "4"][..],
            "no shard 4: the cluster has shards 1 to 3",
        ),
        (
            &["--slots", "10", "--from", "0", "--to", "2"][..],
            "no shard 0",
        ),
        (
            &["--slots", "6000", "--from", "3", "--to", "1"][..],
            "shard 3 (redis-3) serves 5461 slots: it cannot give 6000",
        ),
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(says),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
    // Keys in shard 3's first 500 slots (10923..=11422).
    let mut three = c.conn(c.addr("redis-3"));
    let mut keys = Vec::new();
    for i in 0..20_000 {
        let k = format!("r{i}");
        if (10923..=11422).contains(&key_slot(k.as_bytes())) {
            let _: () = redis::cmd("SET").arg(&k).arg(i).query(&mut three).unwrap();
            keys.push((k, i));
        }
    }
    let o = run(&["--slots", "500", "--from", "3", "--to", "1", "--json"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (&m["from"], &m["to"]),
        (&"redis-3".into(), &"redis-1".into()),
        "{m}"
    );
    assert_eq!(
        (&m["from_shard"], &m["to_shard"]),
        (&3.into(), &1.into()),
        "{m}"
    );
    assert_eq!(m["slots_moved"], 500, "{m}");
    assert_eq!(m["keys_moved"], keys.len() as u64, "{m}");
    assert_eq!(
        (&m["complete"], &m["every_node_agrees"]),
        (&true.into(), &true.into())
    );
    let mut one = c.conn(c.addr("redis-1"));
    for (k, v) in &keys {
        let got: Option<i64> = redis::cmd("GET").arg(k).query(&mut one).unwrap();
        assert_eq!(got, Some(*v), "{k}");
    }
    assert_cluster_check_clean(&c);
    // Shard 3 gave its first slots, shard 1 took them: both kept their nodes.
    let status = grabstorm_in(c.state.path(), &["status", "--json"]);
    let s: Value = serde_json::from_slice(&status.stdout).unwrap();
    let shards = s["cluster"]["shards"].as_array().unwrap();
    assert_eq!(shards[0]["master"], "redis-1", "{s}");
    assert_eq!(shards[2]["master"], "redis-3", "{s}");
    assert_eq!(shards[2]["slots"][0]["start"], 11423, "{s}");
    // Plain text: progress lines, then what moved.
    let o = run(&["--slots", "100", "--from", "1", "--to", "3"]);
    let said = text(&o.stdout);
    assert!(o.status.success(), "{said}{}", text(&o.stderr));
    assert!(
        said.contains("moving 100 slots (0\u{2013}99) from shard 1 (redis-1) to shard 3 (redis-3)"),
        "{said}"
    );
    assert!(said.contains("100%  100 of 100 slots"), "{said}");
    assert!(said.contains("moved 100 of 100 slots"), "{said}");
}
