//! Tests: the local backend and `up`/`status`/`down`, against real
//! `redis-server`/`redis-sentinel` processes on loopback, each test in its
//! own state dir.

use crate::support::{grabstorm_bin, grabstorm_in as grabstorm, processes_under, state_dir};
use grabstorm::metrics::snapshot::{Health, Role, TopologyView};
use grabstorm::topology::guard::{self, StartOptions};
use grabstorm::topology::local::LocalBackend;
use grabstorm::topology::{live, Backend, ProcessState, TopologySpec};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `up --backend local --json` plus extra flags; panics with its stderr on failure.
fn up(state: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["up", "--backend", "local", "--json"];
    args.extend_from_slice(extra);
    let out = grabstorm(state, &args);
    assert!(
        out.status.success(),
        "up failed: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("up --json prints one JSON object")
}

fn status(state: &Path) -> Value {
    let out = grabstorm(state, &["status", "--json"]);
    assert!(out.status.success(), "status failed: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn node<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {v}"))
}

fn pids_of_state_file(state: &Path) -> Vec<i32> {
    let t: Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("current.json")).unwrap())
            .unwrap();
    t["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["handle"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')')
        .is_some_and(|i| !stat[i + 1..].trim_start().starts_with('Z'))
}

fn runs_left(state: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(state.join("runs"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn redis(password: Option<&str>, addr: &str) -> redis::Connection {
    redis::Client::open(crate::support::url_with(password, addr))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap()
}

fn down_leaves_nothing(state: &Path) {
    let pids = pids_of_state_file(state);
    let out = grabstorm(state, &["down"]);
    assert!(out.status.success(), "down failed: {}", text(&out.stderr));
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived `down`");
    }
    assert_eq!(processes_under(state), Vec::<i32>::new());
    assert_eq!(runs_left(state), Vec::<PathBuf>::new());
    assert!(!state.join("current.json").exists());
}

#[test]
fn default_topology_has_the_right_roles_replicates_and_goes_down_cleanly() {
    let state = state_dir();
    let s = state.path();
    let upped = up(s, &[]);
    assert_eq!(upped["backend"], "local");
    let nodes = upped["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6);
    for (name, kind, role) in [
        ("redis-1", "redis", "master"),
        ("redis-2", "redis", "replica"),
        ("redis-3", "redis", "replica"),
        ("sentinel-1", "sentinel", "sentinel"),
        ("sentinel-2", "sentinel", "sentinel"),
        ("sentinel-3", "sentinel", "sentinel"),
    ] {
        let n = node(&upped, name);
        assert_eq!(
            (n["kind"].as_str(), n["role"].as_str()),
            (Some(kind), Some(role))
        );
        assert_eq!(n["health"], "up");
        assert!(n["host_addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    }

    let st = status(s);
    // One node shape: `up --json` and `status --json` print every node
    // with the same keys (and the same names, addresses and shards).
    let keys = |n: &Value| {
        let mut k: Vec<String> = n.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    for (u, st_node) in nodes.iter().zip(st["nodes"].as_array().unwrap()) {
        assert_eq!(keys(u), keys(st_node), "{u} vs {st_node}");
        for key in ["name", "kind", "host_addr", "internal_addr", "shard"] {
            assert_eq!(u[key], st_node[key], "{key}");
        }
    }
    assert_eq!(
        keys(&nodes[0]),
        [
            "health",
            "host_addr",
            "internal_addr",
            "kind",
            "lag_bytes",
            "master_of_replica",
            "name",
            "repl_offset",
            "role",
            "sentinel_master",
            "shard"
        ]
    );
    assert_eq!(st["failover_in_progress"], false);
    assert_eq!(node(&st, "redis-1")["role"], "master");
    for r in ["redis-2", "redis-3"] {
        assert_eq!(node(&st, r)["role"], "replica");
        assert_eq!(node(&st, r)["master_of_replica"], "redis-1");
        assert_eq!(node(&st, r)["health"], "up");
    }
    for sn in ["sentinel-1", "sentinel-2", "sentinel-3"] {
        assert_eq!(node(&st, sn)["sentinel_master"], "redis-1");
    }

    // A write on the master is read on every replica.
    let master_addr = node(&upped, "redis-1")["host_addr"]
        .as_str()
        .unwrap()
        .to_string();
    let mut m = redis(upped["password"].as_str(), &master_addr);
    redis::cmd("SET")
        .arg("grabstorm:test")
        .arg("42")
        .query::<()>(&mut m)
        .unwrap();
    for r in ["redis-2", "redis-3"] {
        let mut c = redis(
            upped["password"].as_str(),
            node(&upped, r)["host_addr"].as_str().unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let v: Option<String> = redis::cmd("GET")
                .arg("grabstorm:test")
                .query(&mut c)
                .unwrap();
            if v.as_deref() == Some("42") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{r} never saw the write (last {v:?})"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    // Every sentinel names the master; locally the internal address is the host one.
    for sn in ["sentinel-1", "sentinel-2", "sentinel-3"] {
        let n = node(&upped, sn);
        let mut c = redis(upped["password"].as_str(), n["host_addr"].as_str().unwrap());
        let (ip, port): (String, String) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg("mymaster")
            .query(&mut c)
            .unwrap();
        let reported = format!("{ip}:{port}");
        let internal_to_host: Vec<(&str, &str)> = nodes
            .iter()
            .map(|n| {
                (
                    n["internal_addr"].as_str().unwrap(),
                    n["host_addr"].as_str().unwrap(),
                )
            })
            .collect();
        let mapped = internal_to_host
            .iter()
            .find(|(i, _)| *i == reported)
            .map(|(_, h)| *h);
        assert_eq!(mapped, Some(master_addr.as_str()), "{sn} names {reported}");
    }

    // A second `up` over a live run is refused and starts nothing.
    let again = grabstorm(s, &["up", "--backend", "local"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("a topology is already running"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(runs_left(s).len(), 1);

    down_leaves_nothing(s);
}

#[test]
fn a_non_default_spec_comes_up_as_asked() {
    let state = state_dir();
    let s = state.path();
    let upped = up(
        s,
        &[
            "--replicas",
            "1",
            "--sentinels",
            "5",
            "--quorum",
            "3",
            "--down-after-ms",
            "1500",
        ],
    );
    let nodes = upped["nodes"].as_array().unwrap();
    let count = |kind: &str| nodes.iter().filter(|n| n["kind"] == kind).count();
    assert_eq!((count("redis"), count("sentinel")), (2, 5));
    let st = status(s);
    assert_eq!(node(&st, "redis-2")["master_of_replica"], "redis-1");
    for i in 1..=5 {
        let sn = node(&upped, &format!("sentinel-{i}"));
        let mut c = redis(
            upped["password"].as_str(),
            sn["host_addr"].as_str().unwrap(),
        );
        let m: std::collections::HashMap<String, String> = redis::cmd("SENTINEL")
            .arg("MASTER")
            .arg("mymaster")
            .query(&mut c)
            .unwrap();
        assert_eq!(m["quorum"], "3");
        assert_eq!(m["num-slaves"], "1");
        assert_eq!(m["num-other-sentinels"], "4");
        assert_eq!(m["down-after-milliseconds"], "1500");
    }
    down_leaves_nothing(s);
}

#[test]
fn sigint_during_up_leaves_nothing() {
    use nix::sys::signal::{kill, Signal};
    let state = state_dir();
    let s = state.path();
    // A local start takes about a second, so the interrupt is aimed:
    // grabstorm is frozen as soon as its run dir appears, SIGINT is queued,
    // and it is thawed. Should it still have finished first (a very slow
    // test machine), the run is removed and the attempt repeated.
    for attempt in 1..=5 {
        let child = Command::new(grabstorm_bin())
            .arg("--state-dir")
            .arg(s)
            .args(["up", "--backend", "local"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let deadline = Instant::now() + Duration::from_secs(10);
        while runs_left(s).is_empty() {
            assert!(Instant::now() < deadline, "no run dir appeared");
            std::thread::sleep(Duration::from_micros(200));
        }
        kill(pid, Signal::SIGSTOP).unwrap();
        kill(pid, Signal::SIGINT).unwrap();
        kill(pid, Signal::SIGCONT).unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            eprintln!("attempt {attempt}: up finished before the interrupt; again");
            assert!(grabstorm(s, &["down"]).status.success());
            continue;
        }
        assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("interrupted by SIGINT"));
        assert_eq!(processes_under(s), Vec::<i32>::new());
        assert_eq!(runs_left(s), Vec::<PathBuf>::new());
        assert!(!s.join("current.json").exists());
        return;
    }
    panic!("the interrupt never landed during `up` in 5 attempts");
}

#[test]
fn bad_specs_exit_2_with_the_reason_and_start_nothing() {
    let state = state_dir();
    let s = state.path();
    for (flags, says) in [
        // Out of a flag's range: refused by the flag's parser.
        (vec!["--quorum", "0"], "must be 1 to 9"),
        (vec!["--quorum", "4"], "use a quorum from 1 to 3"),
        (
            vec!["--replicas", "1", "--min-replicas-to-write", "2"],
            "needs at least that many replicas",
        ),
        (vec!["--down-after-ms", "5"], "must be 100 to 600000"),
        (vec!["--down-after", "5ms"], "must be 100ms to 10m"),
        (vec!["--sentinels", "12"], "must be 0 to 9"),
    ] {
        let mut args = vec!["up", "--backend", "local"];
        args.extend(flags.iter());
        let out = grabstorm(s, &args);
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{flags:?}: {}",
            text(&out.stderr)
        );
    }
    assert!(!s.join("runs").exists(), "a bad spec created a run dir");
    assert!(!s.join("current.json").exists());
}

#[test]
fn a_missing_redis_server_is_one_line_with_the_fix() {
    let state = state_dir();
    let s = state.path();
    let out = Command::new(grabstorm_bin())
        .arg("--state-dir")
        .arg(s)
        .args(["up", "--backend", "local"])
        .env("PATH", s)
        .output()
        .unwrap();
    // The lab could not run: exit 3.
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("redis-server was not found on PATH"), "{err}");
    assert!(err.contains("apt-get install redis-server"), "{err}");
    assert_eq!(runs_left(s), Vec::<PathBuf>::new());
}

#[test]
fn down_all_removes_the_leftovers_of_a_crashed_run() {
    let state = state_dir();
    let s = state.path();
    up(s, &["--replicas", "1", "--sentinels", "1", "--quorum", "1"]);
    let pids = pids_of_state_file(s);
    // The run "crashed": its state file is gone, its processes are not.
    std::fs::remove_file(s.join("current.json")).unwrap();
    let plain = grabstorm(s, &["down"]);
    assert!(plain.status.success());
    assert!(text(&plain.stdout).contains("nothing to remove"));
    assert!(pids.iter().all(|&p| alive(p)));

    let out = grabstorm(s, &["down", "--all", "--backend", "local"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert_eq!(said.matches("killed pid").count(), 3, "{said}");
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived `down --all`");
    }
    assert_eq!(processes_under(s), Vec::<i32>::new());
    assert_eq!(runs_left(s), Vec::<PathBuf>::new());
}

/// Kill, pause/resume and restart through the library: after a failover the
/// restarted old master comes back with its own config and Sentinel makes
/// it a replica of the new one (it converts a stale master after ~8 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_old_master_rejoins_as_a_replica_of_the_new_one() {
    let state = state_dir();
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(state.path()));
    let spec = TopologySpec {
        replicas: 1,
        down_after_ms: 500,
        failover_timeout_ms: 2000,
        ..Default::default()
    };
    let started = guard::start(backend.clone(), &spec, &StartOptions::new(state.path()))
        .await
        .unwrap();
    let mut t = started.topology().clone();

    backend.pause(&t, "redis-2").await.unwrap();
    assert_eq!(
        backend.state(&t, "redis-2").await.unwrap(),
        ProcessState::Paused
    );
    let view = live::observe(&t).await;
    let health = |v: &grabstorm::metrics::snapshot::TopologyView, n: &str| {
        v.nodes.iter().find(|x| x.name == n).unwrap().health
    };
    assert_eq!(
        health(&view, "redis-2"),
        grabstorm::metrics::snapshot::Health::Paused
    );
    backend.resume(&t, "redis-2").await.unwrap();
    assert_eq!(
        backend.state(&t, "redis-2").await.unwrap(),
        ProcessState::Running
    );

    backend.kill(&t, "redis-1").await.unwrap();
    assert_eq!(
        backend.state(&t, "redis-1").await.unwrap(),
        ProcessState::Exited
    );
    let partition = backend.partition(&t, "redis-2", &[]).await.unwrap_err();
    assert!(partition
        .to_string()
        .starts_with("partition needs the Docker backend"));

    // Wait for every sentinel to name redis-2.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = live::observe(&t).await;
        let all_switched = v
            .nodes
            .iter()
            .filter(|n| n.name.starts_with("sentinel"))
            .all(|n| n.sentinel_master.as_deref() == Some("redis-2"));
        if all_switched && !v.failover_in_progress {
            break;
        }
        assert!(Instant::now() < deadline, "no failover to redis-2: {v:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    backend.restart(&mut t, "redis-1").await.unwrap();
    assert_eq!(
        backend.state(&t, "redis-1").await.unwrap(),
        ProcessState::Running
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = live::observe(&t).await;
        let old = v.nodes.iter().find(|n| n.name == "redis-1").unwrap();
        if old.role == grabstorm::metrics::snapshot::Role::Replica
            && old.master_of_replica.as_deref() == Some("redis-2")
        {
            break;
        }
        assert!(Instant::now() < deadline, "redis-1 did not rejoin: {old:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run_dir = t.run_dir.clone();
    started.teardown().await.unwrap();
    assert!(!run_dir.exists());
    assert_eq!(processes_under(state.path()), Vec::<i32>::new());
}

/// A node that never gets ready makes `wait_ready` name it, what was
/// awaited, what it last said and its log; dropping the guard removes the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_names_the_node_and_a_dropped_guard_removes_the_run() {
    let state = state_dir();
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(state.path()));
    let spec = TopologySpec {
        replicas: 1,
        sentinels: 1,
        quorum: 1,
        ..Default::default()
    };
    let started = guard::start(backend.clone(), &spec, &StartOptions::new(state.path()))
        .await
        .unwrap();
    let t = started.topology().clone();

    backend.pause(&t, "redis-2").await.unwrap();
    let err = grabstorm::topology::ready::wait_ready(&t, Duration::from_millis(400))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("redis-2 was not ready after"), "{err}");
    assert!(
        err.contains("waited for master_link_status:up towards redis-1"),
        "{err}"
    );
    // A frozen node accepts the connection (the kernel does) but never answers.
    let last_seen = err.split("last seen: ").nth(1).unwrap_or_default();
    assert!(
        last_seen.starts_with("no reply within")
            || last_seen.starts_with("cannot connect: timed out"),
        "{err}"
    );
    assert!(err.contains("--- last lines of redis-2's log ---"), "{err}");
    assert!(err.contains("MASTER <-> REPLICA sync"), "{err}");

    // The guard's drop backstop removes everything, paused nodes included.
    let run_dir = t.run_dir.clone();
    drop(started);
    assert!(!run_dir.exists());
    assert_eq!(processes_under(state.path()), Vec::<i32>::new());
}

/// A field of `INFO section` from `addr`, over the caller's own connection
/// (opened once, so reading the stats adds no connects between readings).
async fn info_field(
    conn: &mut redis::aio::MultiplexedConnection,
    section: &str,
    field: &str,
) -> u64 {
    let text: String = redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.trim_end().strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}: {text}"))
        .parse()
        .unwrap()
}

/// Ids of the clients of a Redis node other than `conn` itself, Sentinel's
/// links (named `sentinel-*`) and replication links (flags `S`, `M`): the
/// probes of whoever observes it.
async fn probe_clients(conn: &mut redis::aio::MultiplexedConnection) -> Vec<u64> {
    let me: u64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(conn)
        .await
        .unwrap();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(conn)
        .await
        .unwrap();
    list.lines()
        .filter_map(|line| {
            let field = |k: &str| {
                line.split(' ')
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                    .unwrap_or("")
            };
            let id: u64 = field("id").parse().ok()?;
            let link =
                field("name").starts_with("sentinel-") || field("flags").contains(['S', 'M']);
            (id != me && !link).then_some(id)
        })
        .collect()
}

/// [`probe_clients`] once it names exactly one (a Sentinel link is unnamed
/// for the moment between its connect and its `CLIENT SETNAME`).
async fn one_probe_client(conn: &mut redis::aio::MultiplexedConnection) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let ids = probe_clients(conn).await;
        if ids.len() == 1 {
            return ids;
        }
        assert!(
            Instant::now() < deadline,
            "not one observer connection: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stats_conn(
    password: Option<&str>,
    addr: std::net::SocketAddr,
) -> redis::aio::MultiplexedConnection {
    redis::Client::open(crate::support::url_with(password, addr))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// What must not differ between two observations of a steady cluster:
/// everything but offsets and lags (they move with Sentinel's hellos).
fn shape(v: &TopologyView) -> TopologyView {
    let mut v = v.clone();
    for n in &mut v.nodes {
        n.repl_offset = None;
        n.lag_bytes = None;
    }
    v
}

fn health_of(v: &TopologyView, name: &str) -> Health {
    v.nodes.iter().find(|n| n.name == name).unwrap().health
}

/// One `live::Observer` polls over kept connections: five observations add
/// no connects to the master or a sentinel (five one-shot `observe_with`
/// calls add at least five), a killed replica is Down at the next
/// observation and Up again after a restart, a replica restarted behind a
/// kept connection is read at once, and a frozen replica neither slows the
/// polls nor leaves requests or connections behind once it resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_keeps_its_connections_and_follows_kills_restarts_and_pauses() {
    let state = state_dir();
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(state.path()));
    // Sentinel's verdicts stay out of the way: no s_down within the test's outages.
    let spec = TopologySpec {
        down_after_ms: 10_000,
        ..Default::default()
    };
    let started = guard::start(backend.clone(), &spec, &StartOptions::new(state.path()))
        .await
        .unwrap();
    let mut t = started.topology().clone();
    let b = Some(backend.as_ref());
    let addr = |t: &grabstorm::topology::Topology, n: &str| t.node(n).unwrap().host_addr;
    let mut master_stats = stats_conn(t.password.as_deref(), addr(&t, "redis-1")).await;
    let mut sentinel_stats = stats_conn(t.password.as_deref(), addr(&t, "sentinel-1")).await;
    let received = "total_connections_received";

    let mut observer = live::Observer::new();
    let first = observer.observe(&t, b).await;
    assert!(
        first.nodes.iter().all(|n| n.health == Health::Up),
        "{first:?}"
    );
    assert_eq!(shape(&first), shape(&live::observe_with(&t, b).await));

    // Kept connections: five polls, no connects.
    let m0 = info_field(&mut master_stats, "stats", received).await;
    let s0 = info_field(&mut sentinel_stats, "stats", received).await;
    let clients0 = info_field(&mut master_stats, "clients", "connected_clients").await;
    for _ in 0..5 {
        let v = observer.observe(&t, b).await;
        assert_eq!(shape(&v), shape(&first));
    }
    let m1 = info_field(&mut master_stats, "stats", received).await;
    let s1 = info_field(&mut sentinel_stats, "stats", received).await;
    let clients1 = info_field(&mut master_stats, "clients", "connected_clients").await;
    eprintln!(
        "observer, 5 polls: master received {m0} -> {m1}, sentinel-1 {s0} -> {s1}, \
         master clients {clients0} -> {clients1}"
    );
    assert_eq!((m1 - m0, s1 - s0), (0, 0), "the observer connected again");
    assert_eq!(clients1, clients0);
    // One-shot observations connect every time: the counters do see them.
    for _ in 0..5 {
        live::observe_with(&t, b).await;
    }
    let m2 = info_field(&mut master_stats, "stats", received).await;
    let s2 = info_field(&mut sentinel_stats, "stats", received).await;
    eprintln!("one-shot, 5 polls: master received {m1} -> {m2}, sentinel-1 {s1} -> {s2}");
    assert!(m2 - m1 >= 5 && s2 - s1 >= 5, "{m1} -> {m2}, {s1} -> {s2}");

    // Killed: Down at the next observation; restarted: Up again.
    backend.kill(&t, "redis-3").await.unwrap();
    let v = observer.observe(&t, b).await;
    assert_eq!(health_of(&v, "redis-3"), Health::Down, "{v:?}");
    assert_eq!(health_of(&v, "redis-1"), Health::Up, "{v:?}");
    backend.restart(&mut t, "redis-3").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = observer.observe(&t, b).await;
        let n = v.nodes.iter().find(|n| n.name == "redis-3").unwrap();
        if n.health == Health::Up
            && n.role == Role::Replica
            && n.master_of_replica.as_deref() == Some("redis-1")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "redis-3 did not come back: {n:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Killed and restarted on the same port between two polls: the kept
    // connection is dead, and the same observation reads the new process.
    let port = addr(&t, "redis-3");
    backend.kill(&t, "redis-3").await.unwrap();
    backend.restart(&mut t, "redis-3").await.unwrap();
    assert_eq!(addr(&t, "redis-3"), port);
    let mut r3 = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(c) =
                redis::Client::open(crate::support::url_with(t.password.as_deref(), port))
                    .unwrap()
                    .get_multiplexed_async_connection()
                    .await
            {
                break c;
            }
            assert!(Instant::now() < deadline, "redis-3 does not listen again");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let v = observer.observe(&t, b).await;
    assert_eq!(health_of(&v, "redis-3"), Health::Up, "{v:?}");
    // Its client list settles as the sentinels reconnect; the observer's
    // connection is the one client neither ours nor a Sentinel or
    // replication link, and it stays the same one.
    let ids0 = one_probe_client(&mut r3).await;
    for _ in 0..3 {
        observer.observe(&t, b).await;
    }
    let ids1 = one_probe_client(&mut r3).await;
    eprintln!("restarted redis-3, 3 polls: observer's client ids {ids0:?} -> {ids1:?}");
    assert_eq!(ids1, ids0, "the observer did not keep its new connection");

    // A node no longer in the topology is forgotten: its connection closes.
    let mut without = t.clone();
    without.nodes.retain(|n| n.name != "redis-3");
    let v = observer.observe(&without, b).await;
    assert_eq!(v.nodes.len(), 5);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ids = probe_clients(&mut r3).await;
        if ids.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "redis-3 still has the observer's connection {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Frozen: each poll still ends within its probe timeouts and says Paused,
    // and gives up the connection it timed out on instead of queueing the
    // next poll's request behind the unanswered one.
    let mut r2 = stats_conn(t.password.as_deref(), addr(&t, "redis-2")).await;
    let clients_before = info_field(&mut r2, "clients", "connected_clients").await;
    let received_before = info_field(&mut r2, "stats", received).await;
    backend.pause(&t, "redis-2").await.unwrap();
    for _ in 0..4 {
        let began = Instant::now();
        let v = observer.observe(&t, b).await;
        let took = began.elapsed();
        assert_eq!(health_of(&v, "redis-2"), Health::Paused, "{v:?}");
        assert!(took < Duration::from_millis(1500), "a poll took {took:?}");
    }
    backend.resume(&t, "redis-2").await.unwrap();
    let v = observer.observe(&t, b).await;
    assert_eq!(health_of(&v, "redis-2"), Health::Up, "{v:?}");
    // What was opened while it was frozen was closed: the count comes back.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        observer.observe(&t, b).await;
        let clients = info_field(&mut r2, "clients", "connected_clients").await;
        if clients == clients_before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "redis-2 has {clients} clients, {clients_before} before the pause"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received_after = info_field(&mut r2, "stats", received).await;
    eprintln!(
        "paused redis-2, 4 polls: received {received_before} -> {received_after}, \
         clients back to {clients_before}"
    );
    assert!(
        received_after > received_before,
        "the observer kept the connection it timed out on"
    );

    started.teardown().await.unwrap();
    assert_eq!(processes_under(state.path()), Vec::<i32>::new());
}

/// `--json` on fault and down: what was done, to which node (in the node
/// shape of `up --json`), when; what was removed.
#[test]
fn fault_and_down_print_json_with_the_one_node_shape() {
    let state = state_dir();
    let s = state.path();
    let upped = up(s, &[]);
    let keys = |n: &Value| {
        let mut k: Vec<String> = n.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let out = grabstorm(
        s,
        &["fault", "pause", "redis-2", "--for", "500ms", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let f: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert_eq!(
        (f["fault"].as_str(), f["target"].as_str()),
        (Some("pause"), Some("redis-2"))
    );
    assert_eq!(f["for"], "500ms");
    assert_eq!(f["done"], "redis-2 paused; it thaws in 500ms");
    assert_eq!(f["ended"], "pause of redis-2 ended");
    let at = f["at_unix_ms"].as_u64().unwrap();
    assert!(at >= before && at < before + 10_000, "{at} vs {before}");
    let kinds: Vec<(&str, &str)> = f["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["node"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("fault_injected", "redis-2"), ("fault_healed", "redis-2")]
    );
    let nodes = f["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["name"], "redis-2");
    assert_eq!(nodes[0]["health"], "up", "thawed by the time it prints");
    assert_eq!(keys(&nodes[0]), keys(node(&upped, "redis-2")));

    let out = grabstorm(s, &["down", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["removed"].as_array().unwrap().len(), 1, "{d}");
    assert_eq!(d["removed"][0]["run_id"], upped["run_id"]);
    assert_eq!(d["removed"][0]["nodes"].as_array().unwrap().len(), 6);
    assert!(d["removed"][0]["what"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.as_str().unwrap().contains("(sentinel-3)")));
    assert_eq!(d["errors"], serde_json::json!([]));
    assert_eq!(processes_under(s), Vec::<i32>::new());
}
