//! What the integration tests share: a standalone redis-server on a free
//! loopback port (killed on drop), a private state dir, the binary's path.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of the built `grabstorm` binary.
pub fn grabstorm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_grabstorm"))
}

/// Runs `grabstorm --state-dir STATE ARGS...` to its end.
pub fn grabstorm_in(state: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(grabstorm_bin())
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .expect("run grabstorm")
}

/// Bytes of a child's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether process `pid` exists and is not a zombie (read from `/proc`).
pub fn pid_alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')')
        .is_some_and(|i| !stat[i + 1..].trim_start().starts_with('Z'))
}

/// A free TCP port on 127.0.0.1 (racy by nature; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` on 127.0.0.1, no persistence, killed on drop.
pub struct StandaloneRedis {
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl StandaloneRedis {
    pub fn start() -> StandaloneRedis {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
                "--dir",
                dir.path().to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(c) = redis::Client::open(format!("redis://{addr}/")) {
                if let Ok(mut conn) = c.get_connection() {
                    if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                        break;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on {addr} did not answer within 10s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        StandaloneRedis {
            addr,
            child,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for StandaloneRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Tests that cut a node off measure windows of seconds (Sentinel's
/// down-after, min-replicas-max-lag, the moment a cut lands): two of them
/// at once on a 2-core machine stretch those windows past what Redis
/// promises. Each holds this guard while it runs; other tests still run
/// beside it.
pub fn one_partition_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A private state dir so tests never touch the user's runs or each other's.
pub fn state_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("grabstorm-test-state-")
        .tempdir()
        .unwrap()
}

/// Live (non-zombie) processes whose working directory lies under `dir`:
/// the local backend runs every node in its run dir under the state dir.
pub fn processes_under(dir: &std::path::Path) -> Vec<i32> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rfind(')')
                .is_some_and(|i| stat[i + 1..].trim_start().starts_with('Z'));
            !zombie
                && std::fs::read_link(format!("/proc/{pid}/cwd"))
                    .is_ok_and(|cwd| cwd.starts_with(&dir))
        })
        .collect()
}

/// The URL of a node at `addr`, with `password` when the node requires one.
pub fn url_with(password: Option<&str>, addr: impl std::fmt::Display) -> String {
    match password {
        Some(pw) => format!("redis://:{pw}@{addr}/"),
        None => format!("redis://{addr}/"),
    }
}

/// The password of the topology running in `state_dir`, read from its state file.
pub fn password_in(state_dir: &std::path::Path) -> Option<String> {
    grabstorm::topology::state::load(state_dir).ok()?.password
}

/// The journal of the run in `dir`, one JSON value per acknowledged write,
/// as `grabstorm journal DIR` prints it (what a user reads, not the
/// audit's own decoder).
pub fn journal_json(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let out = Command::new(grabstorm_bin())
        .arg("journal")
        .arg(dir)
        .output()
        .expect("run grabstorm journal");
    assert!(out.status.success(), "grabstorm journal: {out:?}");
    String::from_utf8(out.stdout)
        .expect("journal as UTF-8")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a journal line is JSON"))
        .collect()
}

/// Whether a Docker engine answers, for a blocking test: outside CI a test
/// without one skips (saying why); on CI (`CI=true`) it fails.
pub fn docker_or_skip(test: &str) -> bool {
    let rt = tokio::runtime::Runtime::new().unwrap();
    match rt.block_on(grabstorm::topology::docker::DockerBackend::connect(None)) {
        Ok(_) => true,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: CI=true needs a Docker engine: {e:#}")
        }
        Err(e) => {
            eprintln!("SKIPPED {test}: no Docker engine answers: {e:#}");
            false
        }
    }
}

/// A Redis Cluster started by the real backend, `grabstorm up --mode
/// cluster --node-timeout-ms 1000` (plus the caller's flags) in a private
/// state dir, removed with `grabstorm down` on drop (also when a test
/// panics). Plain connections to its nodes carry the run's password.
pub struct UpCluster {
    pub state: tempfile::TempDir,
    pub topology: grabstorm::topology::Topology,
}

impl UpCluster {
    /// `grabstorm up --backend BACKEND --mode cluster --node-timeout-ms 1000 EXTRA...`.
    pub fn up(backend: &str, extra: &[&str]) -> UpCluster {
        let state = state_dir();
        let mut args = vec![
            "up",
            "--backend",
            backend,
            "--mode",
            "cluster",
            "--node-timeout-ms",
            "1000",
        ];
        args.extend_from_slice(extra);
        let out = grabstorm_in(state.path(), &args);
        let topology = grabstorm::topology::state::load(state.path());
        // Whatever happened, the guard below removes what was started.
        let cluster = topology.map(|topology| UpCluster { state, topology });
        assert!(
            out.status.success(),
            "up: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        cluster.expect("a state file after up")
    }

    /// Host addresses of the data nodes, `redis-1..` in order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.topology.redis_nodes().map(|n| n.host_addr).collect()
    }

    /// Host address of node `name`.
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.topology
            .node(name)
            .expect("a node of the run")
            .host_addr
    }

    /// The URL of the node at `addr`, with the run's password.
    pub fn url(&self, addr: SocketAddr) -> String {
        url_with(self.topology.password.as_deref(), addr)
    }

    /// A plain connection to the node at `addr` (2 s timeouts), or why not.
    pub fn try_conn(&self, addr: SocketAddr) -> redis::RedisResult<redis::Connection> {
        let c = redis::Client::open(self.url(addr))?
            .get_connection_with_timeout(Duration::from_secs(2))?;
        c.set_read_timeout(Some(Duration::from_secs(2)))?;
        Ok(c)
    }

    /// A plain connection to the node at `addr`; panics when it does not answer.
    pub fn conn(&self, addr: SocketAddr) -> redis::Connection {
        self.try_conn(addr)
            .unwrap_or_else(|e| panic!("{addr} does not answer: {e}"))
    }

    /// `CLUSTER NODES` of the node at `addr`, typed (empty when it does not answer).
    pub fn view(&self, addr: SocketAddr) -> Vec<grabstorm::topology::admin::cluster::ClusterNode> {
        let Ok(mut c) = self.try_conn(addr) else {
            return Vec::new();
        };
        let text: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut c)
            .unwrap_or_default();
        grabstorm::topology::admin::cluster::parse_nodes(&text).unwrap_or_default()
    }

    /// The master serving `slot`, as the first answering node sees it.
    pub fn owner(&self, slot: u16) -> grabstorm::topology::admin::cluster::ClusterNode {
        self.addrs()
            .into_iter()
            .map(|a| self.view(a))
            .find(|v| !v.is_empty())
            .expect("a node answers")
            .into_iter()
            .find(|n| n.flags.master && n.slots.iter().any(|r| r.contains(slot)))
            .expect("a master for every slot")
    }

    /// A replica of the master with `id`, as the first answering node sees it.
    pub fn replica_of(&self, id: &str) -> grabstorm::topology::admin::cluster::ClusterNode {
        self.addrs()
            .into_iter()
            .map(|a| self.view(a))
            .find(|v| !v.is_empty())
            .expect("a node answers")
            .into_iter()
            .find(|n| n.master_id.as_deref() == Some(id))
            .expect("a replica")
    }

    /// The host address of a `CLUSTER NODES` line (by the address it announces).
    pub fn addr_of(&self, n: &grabstorm::topology::admin::cluster::ClusterNode) -> SocketAddr {
        self.topology
            .node_by_addr(&n.addr)
            .unwrap_or_else(|| panic!("no node of the run at {}", n.addr))
            .host_addr
    }

    /// The name (`redis-K`) of a `CLUSTER NODES` line.
    pub fn name_of(&self, n: &grabstorm::topology::admin::cluster::ClusterNode) -> String {
        self.topology
            .node_by_addr(&n.addr)
            .unwrap_or_else(|| panic!("no node of the run at {}", n.addr))
            .name
            .clone()
    }
}

impl Drop for UpCluster {
    fn drop(&mut self) {
        let _ = grabstorm_in(self.state.path(), &["down"]);
    }
}

/// Polls `ok` every 50 ms until it holds; panics after `within`.
pub fn wait_for(within: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    loop {
        if ok() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
