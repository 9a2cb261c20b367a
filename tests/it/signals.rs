//! Tests: stop signals, handled the same way by every command. SIGTERM,
//! SIGHUP and SIGINT end a `load` on both backends within 5 s with its
//! exit status (143, 129, 130), a report and nothing left; a second signal
//! skips the audit and the report says so; a dashboard whose tmux session
//! is killed ends and leaves nothing; `up` interrupted while it starts,
//! `run` and `bench` end on SIGTERM too.

use crate::support::{grabstorm_bin, processes_under, state_dir, StandaloneRedis};
use crate::topology_docker::{docker_or_skip, leftovers, RemoveOnDrop};
use crate::tui::{master_on_screen, Tmux};
use grabstorm::lab::{EndReason, Lab, LabConfig, LabTarget};
use grabstorm::shutdown::{Shutdown, StopSignal};
use grabstorm::workload::seckill::SeckillConfig;
use grabstorm::workload::WorkloadKind;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bound the issue sets between a signal and the end of the process.
const STOP_WITHIN: Duration = Duration::from_secs(5);

/// A grabstorm process of a test; its output collected as it comes. Killed
/// (SIGKILL) on drop if still running, so a failed assertion leaves no
/// process behind (the topology is then removed by the test's cleanup).
struct Grabstorm {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let into = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

impl Grabstorm {
    fn start(state: &Path, args: &[&str]) -> Grabstorm {
        let mut child = Command::new(grabstorm_bin())
            .arg("--state-dir")
            .arg(state)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Grabstorm {
            child,
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn signal(&self, sig: Signal) {
        kill(self.pid(), sig).unwrap();
    }

    /// Waits until the process exits (panics after `timeout`): its status
    /// and how long that took.
    fn wait_exit(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < timeout,
                "grabstorm still ran {timeout:?} later; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Grabstorm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `cond` every 50 ms; panics with `what` after `timeout`.
fn wait_until(what: &str, timeout: Duration, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "waited {timeout:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The run dirs the topology made under the state dir (the lab's own
/// output goes to `--out`, elsewhere).
fn runs(state: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(state.join("runs"))
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default()
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty()
        && !stat
            .rfind(')')
            .is_some_and(|i| stat[i + 1..].trim_start().starts_with('Z'))
}

fn report(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json in {}: {e}", out.display()));
    serde_json::from_str(&text).unwrap()
}

/// Nothing of the run left: no process under the state dir (each node
/// process seen before the signal is gone), no run dir, no state file.
fn nothing_left(state: &Path, nodes: &[i32]) {
    assert_eq!(processes_under(state), Vec::<i32>::new());
    for pid in nodes {
        assert!(!alive(*pid), "node process {pid} still runs");
    }
    assert_eq!(runs(state), Vec::<PathBuf>::new());
    assert!(!state.join("current.json").exists(), "state file left");
}

/// `grabstorm load --backend BACKEND --duration 60s --grabbers 100 EXTRA
/// --out STATE/out`, returned once it runs (the lab makes its output dir
/// once the topology is ready and connected), with that output dir.
fn start_load(state: &Path, backend: &str, extra: &[&str]) -> (Grabstorm, PathBuf) {
    let out = state.join("out");
    let mut args = vec![
        "load",
        "--backend",
        backend,
        "--duration",
        "60s",
        "--grabbers",
        "100",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let g = Grabstorm::start(state, &args);
    wait_until("the load to start", Duration::from_secs(120), || {
        out.exists()
    });
    (g, out)
}

/// `load --backend local` until it runs, then `sig`: the exit status, the
/// time to stop, the report and what is left.
fn load_on_local_ends_on(sig: Signal, code: i32) {
    let state = state_dir();
    let s = state.path();
    let (mut g, out) = start_load(s, "local", &["--workload", "redpacket"]);
    let nodes = processes_under(s);
    assert_eq!(nodes.len(), 6, "1 master, 2 replicas, 3 sentinels");
    std::thread::sleep(Duration::from_secs(1));
    g.signal(sig);
    let (status, took) = g.wait_exit(Duration::from_secs(60));
    let stderr = g.stderr();
    eprintln!("local load, {sig}: {status} after {took:?}");
    assert_eq!(status.code(), Some(code), "{sig}: {stderr}");
    assert!(took < STOP_WITHIN, "{sig}: stopped after {took:?}");
    assert!(
        stderr.contains(&format!("load stopped by {sig}")),
        "{stderr}"
    );
    let r = report(&out);
    assert_eq!(
        r["audit"]["checked"], true,
        "{sig}: the first signal audits"
    );
    assert_eq!(r["grabbers"], 100);
    assert!(
        r["duration_s"].as_f64().unwrap() < 60.0,
        "{}",
        r["duration_s"]
    );
    assert!(r["ops"]["redpacket.grab"]["ok"].as_u64().unwrap() > 0);
    nothing_left(s, &nodes);
}

#[test]
fn load_on_local_ends_on_sigterm_with_143_a_report_and_nothing_left() {
    load_on_local_ends_on(Signal::SIGTERM, 143);
}

#[test]
fn load_on_local_ends_on_sighup_with_129_a_report_and_nothing_left() {
    load_on_local_ends_on(Signal::SIGHUP, 129);
}

#[test]
fn load_on_local_ends_on_sigint_with_130_a_report_and_nothing_left() {
    load_on_local_ends_on(Signal::SIGINT, 130);
}

#[test]
fn a_second_signal_skips_the_audit_and_the_report_says_so() {
    let state = state_dir();
    let s = state.path();
    // With a fault in the run the settle waits for two agreeing looks
    // (at least a second): time for the second signal to land before it.
    let (mut g, out) = start_load(s, "local", &["--fault", "1s pause redis-3 for 1s"]);
    let nodes = processes_under(s);
    assert_eq!(nodes.len(), 6);
    std::thread::sleep(Duration::from_secs(1));
    g.signal(Signal::SIGTERM);
    wait_until("the settle to begin", Duration::from_secs(10), || {
        g.stderr().contains("settling and auditing")
    });
    g.signal(Signal::SIGTERM);
    let (status, took) = g.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(143), "{}", g.stderr());
    assert!(took < Duration::from_secs(10), "stopped after {took:?}");
    let r = report(&out);
    assert_eq!(r["audit"]["checked"], false, "{}", r["audit"]);
    assert_eq!(r["audit"]["reason"], "skipped: a second signal arrived");
    // Nothing was checked, so the run is not called OK.
    assert_eq!(r["verdict"]["ok"], false);
    assert!(r["ops"].as_object().is_some_and(|o| !o.is_empty()));
    nothing_left(s, &nodes);
}

#[test]
fn load_on_docker_ends_on_sigterm_and_sighup_and_leaves_no_container_or_network() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(backend) = rt.block_on(docker_or_skip("signals_docker")) else {
        return;
    };
    for (sig, code) in [(Signal::SIGTERM, 143), (Signal::SIGHUP, 129)] {
        let state = state_dir();
        let s = state.path();
        let (mut g, out) = start_load(s, "docker", &[]);
        let run_dirs = runs(s);
        assert_eq!(run_dirs.len(), 1, "{run_dirs:?}");
        let run_id = run_dirs[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let _cleanup = RemoveOnDrop(run_id.clone());
        let (containers, networks) = rt.block_on(leftovers(backend.docker(), &run_id));
        assert_eq!((containers.len(), networks.len()), (6, 1));
        std::thread::sleep(Duration::from_secs(1));
        g.signal(sig);
        let (status, took) = g.wait_exit(Duration::from_secs(60));
        eprintln!("docker load, {sig}: {status} after {took:?}");
        assert_eq!(status.code(), Some(code), "{sig}: {}", g.stderr());
        assert!(took < STOP_WITHIN, "{sig}: stopped after {took:?}");
        assert_eq!(report(&out)["audit"]["checked"], true);
        assert_eq!(
            rt.block_on(leftovers(backend.docker(), &run_id)),
            (vec![], vec![]),
            "{sig}: containers or network of run {run_id} left"
        );
        assert_eq!(runs(s), Vec::<PathBuf>::new());
        assert!(!s.join("current.json").exists());
    }
}

/// The pid of the grabstorm process whose command line names `state`.
fn grabstorm_pid_of(state: &Path) -> Option<i32> {
    let needle = state.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            args.first().is_some_and(|a| a.ends_with("grabstorm")) && args.contains(&needle)
        })
}

/// Runs `grabstorm --state-dir STATE COMMAND... --backend local --grabbers
/// 100 --out STATE/out` as the only process of a tmux session, waits until
/// `running` holds for the screen, kills the session (its terminal dies)
/// and checks that grabstorm ends within 5 s, as on SIGHUP: audited,
/// reported, nothing left.
fn killed_tmux_session_leaves_nothing(
    command: &[&str],
    what: &str,
    running: impl Fn(&str) -> bool,
) {
    let state = state_dir();
    let s = state.path();
    let out = s.join("out");
    let tmux = Tmux {
        socket: format!("grabstorm-it-signals-{}-{}", command[0], std::process::id()),
        state: s.to_path_buf(),
    };
    let bin = grabstorm_bin();
    let mut args = vec![
        "new-session",
        "-d",
        "-s",
        "gs",
        "-x",
        "120",
        "-y",
        "40",
        bin.to_str().unwrap(),
        "--state-dir",
        s.to_str().unwrap(),
    ];
    args.extend_from_slice(command);
    args.extend_from_slice(&["--backend", "local", "--grabbers", "100"]);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let created = tmux.tmux(&args);
    assert!(created.status.success(), "tmux new-session: {created:?}");
    tmux.wait_for(what, Duration::from_secs(60), running);
    let pid = grabstorm_pid_of(s).expect("grabstorm's process");
    let nodes = processes_under(s);
    assert_eq!(nodes.len(), 6);

    let killed = tmux.tmux(&["kill-session", "-t", "gs"]);
    assert!(killed.status.success(), "tmux kill-session: {killed:?}");
    let started = Instant::now();
    wait_until("grabstorm to exit", Duration::from_secs(60), || !alive(pid));
    let took = started.elapsed();
    eprintln!("{}: ended {took:?} after its terminal died", command[0]);
    assert!(took < STOP_WITHIN, "{} ran on for {took:?}", command[0]);
    assert_eq!(report(&out)["audit"]["checked"], true);
    nothing_left(s, &nodes);
}

#[test]
fn a_dashboard_whose_tmux_session_is_killed_ends_and_leaves_nothing() {
    killed_tmux_session_leaves_nothing(&["tui"], "the master in the topology panel", |screen| {
        master_on_screen(screen).is_some() && screen.contains("ops/s")
    });
}

#[test]
fn a_load_whose_tmux_session_is_killed_ends_and_leaves_nothing() {
    killed_tmux_session_leaves_nothing(
        &["load", "--duration", "60s"],
        "the progress line",
        |screen| screen.contains("ops/s"),
    );
}

#[test]
fn up_interrupted_by_sigterm_while_starting_leaves_nothing() {
    let state = state_dir();
    let s = state.path();
    // As the SIGINT test of `up`: frozen as soon as its run dir appears,
    // SIGTERM queued, thawed; repeated should `up` have finished first.
    for attempt in 1..=5 {
        let mut g = Grabstorm::start(s, &["up", "--backend", "local"]);
        wait_until("a run dir", Duration::from_secs(10), || !runs(s).is_empty());
        g.signal(Signal::SIGSTOP);
        g.signal(Signal::SIGTERM);
        g.signal(Signal::SIGCONT);
        let (status, _) = g.wait_exit(Duration::from_secs(60));
        if status.success() {
            eprintln!("attempt {attempt}: up finished before the signal; again");
            let down = Grabstorm::start(s, &["down"]).wait_exit(Duration::from_secs(60));
            assert!(down.0.success());
            continue;
        }
        assert_eq!(status.code(), Some(143), "{}", g.stderr());
        assert!(
            g.stderr().contains("interrupted by SIGTERM"),
            "{}",
            g.stderr()
        );
        nothing_left(s, &[]);
        return;
    }
    panic!("the signal never landed during `up` in 5 attempts");
}

#[test]
fn run_and_bench_end_on_sigterm_and_leave_nothing() {
    // A scenario played headless.
    let state = state_dir();
    let s = state.path();
    let out = s.join("out");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/redpacket-fairness.toml");
    let mut g = Grabstorm::start(
        s,
        &[
            "run",
            file.to_str().unwrap(),
            "--headless",
            "--backend",
            "local",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    wait_until("the scenario to start", Duration::from_secs(60), || {
        out.exists()
    });
    let nodes = processes_under(s);
    assert!(!nodes.is_empty());
    std::thread::sleep(Duration::from_secs(1));
    g.signal(Signal::SIGTERM);
    let (status, took) = g.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(143), "{}", g.stderr());
    assert!(took < STOP_WITHIN, "run stopped after {took:?}");
    let r = report(&out);
    assert_eq!(r["audit"]["checked"], true);
    assert!(
        r["duration_s"].as_f64().unwrap() < 20.0,
        "{}",
        r["duration_s"]
    );
    nothing_left(s, &nodes);

    // The bench, while redis-benchmark hammers its redis-server.
    let mut g = Grabstorm::start(s, &["bench", "--no-scale", "--requests", "50000000"]);
    wait_until("the bench's redis-server", Duration::from_secs(30), || {
        g.stdout().contains("redis-server on 127.0.0.1:")
    });
    let port: u16 = g
        .stdout()
        .split("redis-server on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|p| p.trim().parse().ok())
        .expect("the bench's port");
    let client_of_port = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| alive(*pid))
            .any(|pid| {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                cmd.starts_with("redis-benchmark") && cmd.contains(&format!("-p {port} "))
            })
    };
    wait_until(
        "redis-benchmark to run",
        Duration::from_secs(30),
        client_of_port,
    );
    g.signal(Signal::SIGTERM);
    let (status, took) = g.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(143), "{}", g.stderr());
    assert!(took < STOP_WITHIN, "bench stopped after {took:?}");
    assert!(g.stderr().contains("stopped by SIGTERM"), "{}", g.stderr());
    assert!(!client_of_port(), "redis-benchmark left running");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the bench's redis-server on {port} still answers"
    );
}

/// In process: a lab whose shutdown is requested (as by a first signal)
/// ends its load at once and is audited, the figures matching what Redis
/// holds; requested twice, it skips the audit and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lab_stops_on_the_first_request_and_skips_its_audit_on_the_second() {
    const STOCK: i64 = 1_000_000;
    for twice in [false, true] {
        let redis = StandaloneRedis::start();
        let dir = tempfile::tempdir().unwrap();
        let shutdown = Shutdown::default();
        let config = LabConfig {
            target: LabTarget::Fixed(redis.addr),
            state_dir: dir.path().to_path_buf(),
            out_dir: Some(dir.path().join("out")),
            workload: WorkloadKind::Seckill,
            grabbers: 200,
            connections: 4,
            seed: 3,
            duration: Some(Duration::from_secs(60)),
            hard_cap: Duration::from_secs(120),
            seckill: SeckillConfig {
                stock: STOCK as u64,
                items: 1,
                ..Default::default()
            },
            shutdown: shutdown.clone(),
            ..Default::default()
        };
        let lab = Lab::start(config).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let asked = Instant::now();
        shutdown.request(StopSignal::Terminate);
        assert_eq!(lab.wait_end().await, EndReason::Stopped);
        assert!(asked.elapsed() < STOP_WITHIN, "{:?}", asked.elapsed());
        if twice {
            shutdown.request(StopSignal::Interrupt);
        }
        let report = lab.finish().await.unwrap();
        // Each user buys an item once, so the run moves through items.
        let mut conn = redis.conn();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("gs:{}:sk:*:stock", report.run_id))
            .query(&mut conn)
            .unwrap();
        let mut left = 0i64;
        for k in &keys {
            left += redis::cmd("GET").arg(k).query::<i64>(&mut conn).unwrap();
        }
        let sold_in_redis = STOCK * keys.len() as i64 - left;
        assert!(sold_in_redis > 0, "the load sold nothing");
        if twice {
            assert!(!report.audit.checked);
            assert_eq!(
                report.audit.reason.as_deref(),
                Some("skipped: a second signal arrived")
            );
            assert_eq!(report.seckill, None, "no section without an audit");
            assert!(!report.verdict.ok, "{:?}", report.verdict);
        } else {
            assert!(report.audit.checked);
            let sk = report.seckill.clone().unwrap();
            eprintln!(
                "grabstorm: sold {}, stock left {}; Redis: sold {sold_in_redis}, left {left} ({} items)",
                sk.sold,
                sk.stock_left,
                keys.len()
            );
            assert_eq!((sk.sold as i64, sk.stock_left), (sold_in_redis, left));
            assert!(report.verdict.ok, "{:?}", report.verdict);
        }
        let on_disk: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("out/report.json")).unwrap())
                .unwrap();
        assert_eq!(on_disk["audit"]["checked"], !twice);
    }
}
