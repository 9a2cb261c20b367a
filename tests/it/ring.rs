//! Tests: `grabstorm ring`, the consistent-hashing lab, on real servers.
//! grabstorm runs with `--keep --json`; the test then recounts every
//! number it printed from the servers themselves with plain commands
//! (`ROLE`, `SELECT`, `SCAN`, `DBSIZE`), checks each key sits where the
//! scheme sends it, and removes the servers with `grabstorm down`.

use crate::support::{docker_or_skip, grabstorm_in, processes_under, state_dir, text, url_with};
use grabstorm::ring::lab::{Change, RingReport, SchemeRow};
use grabstorm::ring::{modulo_owner, Ring};
use grabstorm::topology::Topology;
use std::collections::{HashMap, HashSet};

/// `grabstorm ring --keep --json ARGS` run in a private state dir; the
/// servers are removed with `grabstorm down` on drop (also on a panic).
struct KeptRing {
    state: tempfile::TempDir,
    topology: Topology,
    report: RingReport,
}

impl KeptRing {
    fn run(args: &[&str]) -> KeptRing {
        let state = state_dir();
        let mut all = vec!["ring", "--keep", "--json"];
        all.extend_from_slice(args);
        let out = grabstorm_in(state.path(), &all);
        let topology = grabstorm::topology::state::load(state.path());
        let down = topology.as_ref().ok().cloned();
        assert!(
            out.status.success(),
            "ring: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let report: RingReport =
            serde_json::from_slice(&out.stdout).expect("ring --json prints one JSON object");
        KeptRing {
            state,
            topology: down.expect("a state file after ring --keep"),
            report,
        }
    }

    /// Plain connections to the servers, in `server_names` order.
    fn conns(&self) -> Vec<redis::Connection> {
        self.report
            .server_names
            .iter()
            .map(|name| {
                let node = self.topology.node(name).expect("every server in the state");
                let url = url_with(self.topology.password.as_deref(), node.host_addr);
                redis::Client::open(url).unwrap().get_connection().unwrap()
            })
            .collect()
    }
}

impl Drop for KeptRing {
    fn drop(&mut self) {
        let out = grabstorm_in(self.state.path(), &["down"]);
        if !std::thread::panicking() {
            assert!(out.status.success(), "down: {}", text(&out.stderr));
        }
    }
}

/// Every key of database `db` on each server: SCAN, checked against DBSIZE.
fn held(conns: &mut [redis::Connection], db: u32) -> Vec<HashSet<String>> {
    conns
        .iter_mut()
        .map(|c| {
            redis::cmd("SELECT").arg(db).query::<()>(c).unwrap();
            let mut keys = HashSet::new();
            let mut cursor = 0u64;
            for _ in 0..100_000 {
                let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(500)
                    .query(c)
                    .unwrap();
                keys.extend(page);
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
            assert_eq!(cursor, 0, "SCAN did not finish");
            let size: u64 = redis::cmd("DBSIZE").query(c).unwrap();
            assert_eq!(size, keys.len() as u64, "db {db}: SCAN against DBSIZE");
            keys
        })
        .collect()
}

/// What the test counts for one scheme, from the servers alone.
struct Recount {
    before: Vec<HashSet<String>>,
    after: Vec<HashSet<String>>,
    moved: u64,
    between: u64,
}

fn recount(
    conns: &mut [redis::Connection],
    row: &SchemeRow,
    keys: u64,
    survivors: &[usize],
) -> Recount {
    let before = held(conns, row.db_before);
    let after = held(conns, row.db_after);
    let owner = |sets: &[HashSet<String>]| -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for (i, s) in sets.iter().enumerate() {
            for k in s {
                assert!(m.insert(k.clone(), i).is_none(), "{k} on two servers");
            }
        }
        assert_eq!(m.len() as u64, keys, "every key on exactly one server");
        m
    };
    let (was, now) = (owner(&before), owner(&after));
    let (mut moved, mut between) = (0, 0);
    for (k, from) in &was {
        let to = now[k];
        if *from != to {
            moved += 1;
            if survivors.contains(from) && survivors.contains(&to) {
                between += 1;
            }
        }
    }
    Recount {
        before,
        after,
        moved,
        between,
    }
}

/// The recount equals what grabstorm printed for `row`.
fn assert_row_matches(report: &RingReport, row: &SchemeRow, r: &Recount, members_before: usize) {
    let what = format!("{:?} vnodes", row.vnodes);
    let counts = |sets: &[HashSet<String>], n: usize| -> Vec<u64> {
        sets.iter().take(n).map(|s| s.len() as u64).collect()
    };
    assert_eq!(
        row.keys_per_server,
        counts(&r.before, members_before),
        "{what}"
    );
    let members_after = match report.change {
        Change::Remove => members_before - 1,
        Change::Add => members_before + 1,
    };
    assert_eq!(
        row.keys_per_server_after,
        counts(&r.after, members_after),
        "{what}"
    );
    assert_eq!(row.moved_keys, r.moved, "{what}");
    assert_eq!(row.moved_between_survivors, r.between, "{what}");
    assert!(
        (row.moved_share - r.moved as f64 / report.keys as f64).abs() < 1e-12,
        "{what}"
    );
}

#[test]
fn ring_counts_are_the_servers_own_and_only_the_removed_servers_keys_move() {
    let ring = KeptRing::run(&[
        "--backend",
        "local",
        "--servers",
        "4",
        "--vnodes",
        "1,10,100,1000",
        "--keys",
        "20000",
    ]);
    let report = &ring.report;
    assert_eq!((report.servers, report.keys), (4, 20_000));
    assert_eq!(report.change, Change::Remove);
    assert_eq!(report.changed_server, "redis-4");
    let mut conns = ring.conns();
    // Four independent masters, not a master and its replicas.
    for c in conns.iter_mut() {
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(c).unwrap();
        assert_eq!(role[0], redis::Value::BulkString(b"master".to_vec()));
    }
    let survivors = [0, 1, 2];
    let names = &report.server_names;

    // Modulo: hash % 4 becomes hash % 3; a key stays only where both agree,
    // 3 of every 12 hash values for an even hash: 3/4 move.
    let r = recount(&mut conns, &report.modulo, report.keys, &survivors);
    assert_row_matches(report, &report.modulo, &r, 4);
    assert_eq!(report.modulo_moved_share, report.modulo.moved_share);
    let share = r.moved as f64 / report.keys as f64;
    assert!((share - 0.75).abs() < 0.02, "modulo moved {share}");
    assert!(
        r.between > 5_000,
        "modulo moves keys between survivors: {}",
        r.between
    );
    for (i, set) in r.before.iter().enumerate() {
        for k in set {
            assert_eq!(modulo_owner(k.as_bytes(), 4), i, "{k} on {}", names[i]);
        }
    }

    assert_eq!(
        report.rows.iter().map(|r| r.vnodes).collect::<Vec<_>>(),
        [Some(1), Some(10), Some(100), Some(1000)]
    );
    for row in &report.rows {
        let r = recount(&mut conns, row, report.keys, &survivors);
        assert_row_matches(report, row, &r, 4);
        // Monotonicity: only the removed server's keys change owner.
        assert_eq!(r.between, 0, "{:?} vnodes", row.vnodes);
        assert_eq!(r.moved, r.before[3].len() as u64, "{:?}", row.vnodes);
        // The keys sit where the ring (by server name) sends them.
        let v = row.vnodes.unwrap();
        let (ring_before, ring_after) = (Ring::new(&names[..4], v), Ring::new(&names[..3], v));
        for (sets, ring) in [(&r.before, &ring_before), (&r.after, &ring_after)] {
            for (i, set) in sets.iter().enumerate() {
                for k in set {
                    assert_eq!(ring.owner(k.as_bytes()), Some(i), "{k} on {}", names[i]);
                }
            }
        }
        let mean = 5_000.0;
        let sd = (row
            .keys_per_server
            .iter()
            .map(|&n| (n as f64 - mean).powi(2))
            .sum::<f64>()
            / 4.0)
            .sqrt();
        assert!((row.load_cv - sd / mean).abs() < 1e-9, "{:?}", row.vnodes);
    }
    let v1000 = &report.rows[3];
    assert!(
        (0.20..=0.30).contains(&v1000.moved_share),
        "1,000 virtual nodes moved {}",
        v1000.moved_share
    );
    assert!(v1000.load_cv < 0.05, "{}", v1000.load_cv);
    assert!(report.rows[0].load_cv > v1000.load_cv);
    // Computed, and labelled so.
    assert!(report.cluster_slots.computed);
    assert_eq!(report.cluster_slots.moved_between_survivors, 0);
    drop(conns);
    let state = ring.state.path().to_path_buf();
    drop(ring);
    assert!(processes_under(&state).is_empty(), "servers left running");
}

#[test]
fn adding_a_server_to_modulo_moves_four_fifths_and_the_ring_only_feeds_the_new_one() {
    let ring = KeptRing::run(&[
        "--backend",
        "local",
        "--servers",
        "4",
        "--add",
        "1",
        "--vnodes",
        "100",
        "--keys",
        "20000",
    ]);
    let report = &ring.report;
    assert_eq!(report.change, Change::Add);
    assert_eq!(report.changed_server, "redis-5");
    assert_eq!(report.server_names.len(), 5);
    let mut conns = ring.conns();
    let survivors = [0, 1, 2, 3];
    let r = recount(&mut conns, &report.modulo, report.keys, &survivors);
    assert_row_matches(report, &report.modulo, &r, 4);
    // hash % 4 becomes hash % 5: 4 of every 20 values stay, 4/5 move.
    let share = r.moved as f64 / report.keys as f64;
    assert!((share - 0.80).abs() < 0.02, "modulo moved {share}");
    assert!(
        r.before[4].is_empty(),
        "the new server is outside modulo before"
    );
    let row = &report.rows[0];
    let r = recount(&mut conns, row, report.keys, &survivors);
    assert_row_matches(report, row, &r, 4);
    assert_eq!(r.between, 0);
    assert_eq!(
        r.moved,
        r.after[4].len() as u64,
        "every moved key went to redis-5"
    );
    assert!(
        (0.14..=0.26).contains(&row.moved_share),
        "{}",
        row.moved_share
    );
}

#[test]
fn ring_runs_on_docker_and_removes_its_containers() {
    if !docker_or_skip("ring_runs_on_docker_and_removes_its_containers") {
        return;
    }
    let ring = KeptRing::run(&[
        "--backend",
        "docker",
        "--servers",
        "3",
        "--vnodes",
        "1000",
        "--keys",
        "3000",
    ]);
    assert_eq!(
        ring.topology.backend,
        grabstorm::topology::BackendKind::Docker
    );
    let report = &ring.report;
    let mut conns = ring.conns();
    let r = recount(&mut conns, &report.rows[0], report.keys, &[0, 1]);
    assert_row_matches(report, &report.rows[0], &r, 3);
    assert_eq!(r.between, 0);
    drop(conns);
    let run_id = ring.topology.run_id.clone();
    drop(ring);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let docker = bollard::Docker::connect_with_local_defaults().unwrap();
    let (containers, networks) = rt.block_on(crate::topology_docker::leftovers(&docker, &run_id));
    assert!(
        containers.is_empty() && networks.is_empty(),
        "{containers:?} {networks:?}"
    );
}

#[test]
fn ring_without_keep_prints_the_json_shape_and_leaves_nothing() {
    let state = state_dir();
    let out = grabstorm_in(
        state.path(),
        &[
            "ring",
            "--backend",
            "local",
            "--servers",
            "3",
            "--vnodes",
            "10,100",
            "--keys",
            "2000",
            "--json",
        ],
    );
    assert!(out.status.success(), "ring: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["servers", "keys", "modulo_moved_share", "rows"] {
        assert!(v.get(key).is_some(), "no {key} in {v}");
    }
    assert_eq!(v["servers"], 3);
    assert_eq!(v["keys"], 2000);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        for key in [
            "vnodes",
            "moved_share",
            "moved_between_survivors",
            "load_cv",
            "keys_per_server",
        ] {
            assert!(row.get(key).is_some(), "no {key} in {row}");
        }
        assert_eq!(row["keys_per_server"].as_array().unwrap().len(), 3);
    }
    assert_eq!(v["cluster_slots"]["computed"], true);
    assert!(
        processes_under(state.path()).is_empty(),
        "servers left running"
    );
    assert!(
        grabstorm::topology::state::load(state.path()).is_err(),
        "no state file"
    );
    // Bad input is refused before anything starts.
    let out = grabstorm_in(
        state.path(),
        &["ring", "--servers", "1", "--backend", "local"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("at least 2 servers"),
        "{}",
        text(&out.stderr)
    );
}
