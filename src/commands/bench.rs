//! `grabstorm bench`: grabstorm's engine against redis-benchmark on the same
//! local redis-server, in one run.
//!
//! 1. The same Lua grab (`lua/redpacket_grab.lua`, EVALSHA) with the same
//!    arguments (random packet of 1,000, random user), first from
//!    redis-benchmark at `--connections` (50) clients, then from grabstorm's
//!    grabber machinery (grabber tasks with a [`GrabberCtx`] each, a
//!    [`MasterPool`] of 50 multiplexed connections, per-task recorders merged
//!    by the aggregator) for the same time. Prints ops/s and p99 of both and
//!    the ratios. The ratio compares equal CPU: redis-benchmark runs on one
//!    thread, so grabstorm's side runs on a runtime of one worker thread
//!    (`--compare-threads`). It runs once more with a worker per core, as
//!    `grabstorm load` does by default, for the record: on a small machine
//!    those workers compete with redis-server for the cores, which shows in
//!    the p99.
//! 2. grabstorm's real red-packet workload (a [`Lab`] on the same server) at
//!    1k, 10k and 100k grabbers for a few seconds each: ops/s and the
//!    process's peak RSS (VmHWM) after each.
//!
//! With `--json` the tables go to stderr as they fill and stdout gets one
//! object with every figure at the end.
//!
//! A stop signal ends the bench between (or inside) its parts: the
//! redis-benchmark child and the redis-server are killed, every lab
//! finishes as usual, the scratch directories are removed.

use crate::audit::journal::{Journal, JournalNaming, JournalOp};
use crate::cli::GlobalArgs;
use crate::client::{Auth, MasterPool};
use crate::commands::ExitAs;
use crate::lab::{Lab, LabConfig, LabTarget};
use crate::metrics::aggregate::Aggregator;
use crate::metrics::recorder::{OpKind, SampleSink};
use crate::metrics::EventBus;
use crate::shutdown::{Shutdown, StopSignal};
use crate::workload::grabber::{GrabberCtx, GrabberSetup, KeySpace};
use crate::workload::rounds::grabber_rng;
use crate::workload::WorkloadKind;
use anyhow::Context;
use clap::Args;
use rand::Rng;
use std::net::SocketAddr;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Connections on both sides of the comparison.
    #[arg(long, default_value_t = 50, allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::CONNECTIONS.parse::<usize>(s))]
    pub connections: usize,
    /// grabstorm grabbers in the comparison (spread over the connections).
    #[arg(long, default_value_t = 50, allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::GRABBERS.parse::<usize>(s))]
    pub grabbers: usize,
    /// Worker threads of grabstorm's side of the comparison: 1, as
    /// redis-benchmark runs on one thread (unless given its own --threads).
    #[arg(long, default_value_t = 1, allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::THREADS.parse::<u16>(s))]
    pub compare_threads: u16,
    /// Requests redis-benchmark sends; grabstorm then runs for as long as that took.
    #[arg(long, default_value_t = 200_000, allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::BENCH_REQUESTS.parse::<u64>(s))]
    pub requests: u64,
    /// Grabber counts of the scaling part (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000", allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::GRABBERS.parse::<usize>(s))]
    pub scale: Vec<usize>,
    /// How long each scaling run lasts, e.g. 4s (1s to 1h).
    #[arg(long, default_value = "4s", value_name = "DURATION", allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::BENCH_SCALE_SECONDS.secs().parse(s))]
    pub scale_duration: Duration,
    /// The legacy form of --scale-duration, in seconds.
    #[arg(long, hide = true, conflicts_with = "scale_duration", value_name = "S", allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::BENCH_SCALE_SECONDS.parse::<u64>(s).map(Duration::from_secs))]
    pub scale_seconds: Option<Duration>,
    /// Skip the scaling part.
    #[arg(long)]
    pub no_scale: bool,
    /// Also measure the dashboard: the same 10,000-grabber run headless and
    /// with the dashboard drawing at 20 frames/s (120x40), and the cost.
    #[arg(long)]
    pub tui: bool,
    /// Print every figure as one JSON object on stdout at the end (the
    /// tables then go to stderr): `{server, connections, grabbers,
    /// comparison: [{side, threads, ops_per_s, p99_us}], ratio,
    /// ratio_all_cores, scale: [{grabbers, ops_per_s, p99_us, errors,
    /// peak_rss_mib}], dashboard}`.
    #[arg(long)]
    pub json: bool,
}

impl Default for BenchArgs {
    fn default() -> Self {
        BenchArgs {
            connections: 50,
            grabbers: 50,
            compare_threads: 1,
            requests: 200_000,
            scale: vec![1000, 10_000, 100_000],
            scale_duration: Duration::from_secs(4),
            scale_seconds: None,
            no_scale: false,
            tui: false,
            json: false,
        }
    }
}

/// Packets both sides grab from; each big enough never to run out.
const PACKETS: u64 = 1000;
const PACKET_COUNT: u64 = 1_000_000_000;

/// A redis-server on a free loopback port, killed on drop.
struct Server {
    addr: SocketAddr,
    child: std::process::Child,
    _dir: tempfile_dir::Dir,
}

mod tempfile_dir {
    /// A scratch directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_server() -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = std::env::temp_dir().join(format!("grabstorm-bench-{port}"));
    std::fs::create_dir_all(&dir)?;
    let child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting redis-server (is it installed?)")?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let server = Server {
        addr,
        child,
        _dir: tempfile_dir::Dir(dir),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if crate::client::connect(addr, &Auth::none()).await.is_ok() {
            return Ok(server);
        }
        if Instant::now() > deadline {
            anyhow::bail!("redis-server on {addr} did not answer within 10s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Packet `p`'s key as redis-benchmark spells it: `__rand_int__` expands to
/// 12 zero-padded digits, so both sides grab the same existing packets.
fn packet_key(p: u64) -> String {
    format!("bench:rp:{p:012}")
}

/// (ops/s, p99 µs) as measured by one side.
#[derive(Clone, Copy, serde::Serialize)]
struct Measured {
    ops_per_s: f64,
    p99_us: u64,
}

/// One side of the comparison, as `--json` prints it.
#[derive(serde::Serialize)]
struct Side {
    side: &'static str,
    threads: usize,
    #[serde(flatten)]
    measured: Measured,
}

/// grabstorm over redis-benchmark at the same threads.
#[derive(serde::Serialize)]
struct Ratio {
    threads: usize,
    throughput: f64,
    p99: f64,
}

/// One row of the scaling part.
#[derive(serde::Serialize)]
struct ScaleRow {
    grabbers: usize,
    ops_per_s: f64,
    p99_us: u64,
    errors: u64,
    peak_rss_mib: f64,
}

/// The dashboard's cost (`--tui`).
#[derive(serde::Serialize)]
struct DashboardRow {
    headless_ops_per_s: f64,
    dashboard_ops_per_s: f64,
    cost_percent: f64,
    frames_per_s: f64,
    mean_frame_ms: f64,
}

/// Every figure of a bench, as `--json` prints it.
#[derive(serde::Serialize)]
struct BenchOutput {
    server: String,
    connections: usize,
    grabbers: usize,
    comparison: Vec<Side>,
    ratio: Ratio,
    ratio_all_cores: Ratio,
    scale: Vec<ScaleRow>,
    dashboard: Option<DashboardRow>,
}

/// A line of the tables: stdout, or stderr when stdout is for `--json`.
fn say(json: bool, line: String) {
    match json {
        true => eprintln!("{line}"),
        false => println!("{line}"),
    }
}

static GRAB_LUA: &str = include_str!("../workload/lua/redpacket_grab.lua");

async fn create_packets(addr: SocketAddr) -> anyhow::Result<String> {
    let mut conn = crate::client::connect(addr, &Auth::none()).await?;
    let mut pipe = redis::pipe();
    for p in 0..PACKETS {
        pipe.cmd("HSET")
            .arg(packet_key(p))
            .arg("total")
            .arg(PACKET_COUNT * 100)
            .arg("count")
            .arg(PACKET_COUNT)
            .arg("remaining_cents")
            .arg(PACKET_COUNT * 100)
            .arg("remaining_count")
            .arg(PACKET_COUNT)
            .ignore();
    }
    pipe.query_async::<()>(&mut conn).await?;
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(GRAB_LUA)
        .query_async(&mut conn)
        .await?;
    Ok(sha)
}

async fn redis_benchmark(
    addr: SocketAddr,
    sha: &str,
    args: &BenchArgs,
) -> anyhow::Result<(Measured, Duration)> {
    let started = Instant::now();
    let out = tokio::process::Command::new("redis-benchmark")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(["-c", &args.connections.to_string()])
        .args(["-n", &args.requests.to_string()])
        .args(["-r", &PACKETS.to_string(), "--csv"])
        .args(["EVALSHA", sha, "3"])
        .args(["bench:rp:__rand_int__", "bench:rp:grabs", "bench:rp:order"])
        .args(["__rand_int__", "1234567", "7654321"])
        .kill_on_drop(true)
        .output()
        .await
        .context("running redis-benchmark (is it installed?)")?;
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("\"EVALSHA"))
        .with_context(|| format!("no result line in redis-benchmark's output: {text}"))?;
    let fields: Vec<f64> = line
        .split("\",\"")
        .skip(1)
        .map(|f| f.trim_matches('"').parse::<f64>().unwrap_or(0.0))
        .collect();
    // "test","rps","avg","min","p50","p95","p99","max"
    anyhow::ensure!(fields.len() >= 6, "unexpected redis-benchmark line: {line}");
    Ok((
        Measured {
            ops_per_s: fields[0],
            p99_us: (fields[5] * 1000.0) as u64,
        },
        took,
    ))
}

struct BenchNaming;

impl JournalNaming for BenchNaming {
    fn key(&self, _op: JournalOp, round: u64) -> String {
        packet_key(round)
    }
    fn node(&self, addr: SocketAddr) -> String {
        addr.to_string()
    }
}

/// The same script and arguments through grabstorm's grabber machinery.
async fn grabstorm_side(
    addr: SocketAddr,
    args: &BenchArgs,
    run_for: Duration,
    stop: CancellationToken,
) -> anyhow::Result<Measured> {
    let script = redis::Script::new(GRAB_LUA);
    let pool = MasterPool::fixed(addr, &Auth::none(), args.connections).await?;
    let bus = EventBus::new();
    let (sink, mut samples) = SampleSink::new(bus.start());
    let scratch = std::env::temp_dir().join(format!("grabstorm-bench-journal-{}", addr.port()));
    let journal = Journal::start(&scratch, Arc::new(BenchNaming))?;
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    // Keys and users spelt once, as redis-benchmark sends them, so the
    // loop does no formatting.
    let names: Arc<Vec<String>> = Arc::new((0..PACKETS).map(packet_key).collect());
    let users: Arc<Vec<String>> = Arc::new((0..PACKETS).map(|u| format!("{u:012}")).collect());
    for id in 0..args.grabbers {
        let mut ctx = GrabberCtx::new(GrabberSetup {
            id,
            user: id as u64,
            rng: grabber_rng(1, id as u64),
            seed: 1,
            keys: KeySpace::new("bench"),
            cancel: cancel.clone(),
            bus: bus.clone(),
            until_done: false,
            pool: pool.clone(),
            recorder: sink.recorder(),
            journal: journal.sender.clone(),
        });
        let script = script.clone();
        let (names, users) = (names.clone(), users.clone());
        tracker.spawn(async move {
            while !ctx.cancel.is_cancelled() {
                let packet = ctx.rng.random_range(0..PACKETS) as usize;
                let user = ctx.rng.random_range(0..PACKETS) as usize;
                let mut inv = script.prepare_invoke();
                inv.key(&names[packet])
                    .key("bench:rp:grabs")
                    .key("bench:rp:order")
                    .arg(&users[user])
                    .arg(1_234_567u32)
                    .arg(7_654_321u32);
                let _ = ctx
                    .invoke::<(i64, i64)>(OpKind::RedpacketGrab, true, &inv)
                    .await;
            }
        });
    }
    tracker.close();
    let mut agg = Aggregator::new();
    let started = Instant::now();
    // Drain as we go so the sample queue stays short.
    while started.elapsed() < run_for && !stop.is_cancelled() {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.cancelled() => {}
        }
        sink.advance_tick();
        while let Ok(b) = samples.try_recv() {
            agg.absorb(&b);
        }
    }
    cancel.cancel();
    tracker.wait().await;
    let elapsed = started.elapsed().as_secs_f64();
    while let Ok(b) = samples.try_recv() {
        agg.absorb(&b);
    }
    drop(journal);
    let _ = std::fs::remove_file(&scratch);
    pool.close().await;
    let s = agg.op_summary(OpKind::RedpacketGrab);
    Ok(Measured {
        ops_per_s: agg.ok_total() as f64 / elapsed,
        p99_us: s.p99_us,
    })
}

/// [`grabstorm_side`] on a runtime of its own with `threads` workers (all
/// cores when `None`), so the comparison can give both sides the same CPU.
async fn grabstorm_side_on(
    threads: Option<usize>,
    addr: SocketAddr,
    args: &BenchArgs,
    run_for: Duration,
    stop: CancellationToken,
) -> anyhow::Result<Measured> {
    let args = args.clone();
    tokio::task::spawn_blocking(move || {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.enable_all();
        if let Some(n) = threads {
            builder.worker_threads(n);
        }
        let runtime = builder.build().context("starting the bench runtime")?;
        let measured = runtime.block_on(grabstorm_side(addr, &args, run_for, stop));
        runtime.shutdown_background();
        measured
    })
    .await
    .context("the bench runtime panicked")?
}

/// Peak resident set size of this process (VmHWM), in MiB.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

pub async fn run(
    global: &GlobalArgs,
    args: BenchArgs,
    shutdown: &Shutdown,
) -> anyhow::Result<ExitCode> {
    let json = args.json;
    let server = start_server()
        .await
        .or_exit(crate::commands::Exit::LabDown)?;
    let addr = server.addr;
    say(
        json,
        format!(
            "redis-server on {addr}; the red-packet grab script (EVALSHA), {} connections",
            args.connections
        ),
    );
    let sha = create_packets(addr).await?;
    let (rb, took) = tokio::select! {
        r = redis_benchmark(addr, &sha, &args) => r?,
        sig = shutdown.requested() => return Ok(stopped(sig)),
    };
    let threads = usize::from(args.compare_threads);
    let stop = shutdown.token();
    let gs = grabstorm_side_on(Some(threads), addr, &args, took, stop.clone()).await?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let gs_all = grabstorm_side_on(None, addr, &args, took, stop).await?;
    if let Some(sig) = shutdown.signal() {
        return Ok(stopped(sig));
    }
    let row = |what: String, m: &Measured| {
        say(
            json,
            format!("{what:<44} {:>12.0} {:>10}", m.ops_per_s, m.p99_us),
        );
    };
    say(json, format!("{:<44} {:>12} {:>10}", "", "ops/s", "p99 us"));
    row(
        format!("redis-benchmark -c {} (1 thread)", args.connections),
        &rb,
    );
    let side = |t: usize| {
        format!(
            "grabstorm {} grabbers / {} conns ({t} thread{})",
            args.grabbers,
            args.connections,
            if t == 1 { "" } else { "s" }
        )
    };
    row(side(threads), &gs);
    row(side(cores), &gs_all);
    let ratio = |threads: usize, m: &Measured| Ratio {
        threads,
        throughput: m.ops_per_s / rb.ops_per_s.max(1e-9),
        p99: m.p99_us as f64 / (rb.p99_us.max(1)) as f64,
    };
    let ratio_text = |r: &Ratio| format!("throughput {:.2}x, p99 {:.2}x", r.throughput, r.p99);
    let mut out = BenchOutput {
        server: addr.to_string(),
        connections: args.connections,
        grabbers: args.grabbers,
        comparison: vec![
            Side {
                side: "redis-benchmark",
                threads: 1,
                measured: rb,
            },
            Side {
                side: "grabstorm",
                threads,
                measured: gs,
            },
            Side {
                side: "grabstorm",
                threads: cores,
                measured: gs_all,
            },
        ],
        ratio: ratio(threads, &gs),
        ratio_all_cores: ratio(cores, &gs_all),
        scale: Vec::new(),
        dashboard: None,
    };
    say(
        json,
        format!(
            "ratio grabstorm / redis-benchmark, {threads} thread{} each: {}",
            if threads == 1 { "" } else { "s" },
            ratio_text(&out.ratio)
        ),
    );
    say(
        json,
        format!(
            "  (grabstorm on all {cores} cores, sharing them with redis-server: {})",
            ratio_text(&out.ratio_all_cores)
        ),
    );
    let scale_run = args.scale_seconds.unwrap_or(args.scale_duration);
    if !args.no_scale {
        say(
            json,
            format!(
                "\nred-packet workload (grabstorm load path), {} each:",
                crate::words::duration(scale_run)
            ),
        );
        say(
            json,
            format!(
                "{:>10} {:>12} {:>10} {:>10} {:>14}",
                "grabbers", "ops/s", "p99 us", "errors", "peak RSS MiB"
            ),
        );
        let state = std::env::temp_dir().join(format!("grabstorm-bench-state-{}", addr.port()));
        for &n in &args.scale {
            let config = LabConfig {
                target: LabTarget::Fixed(addr),
                state_dir: state.clone(),
                out_dir: Some(state.join(format!("g{n}"))),
                workload: WorkloadKind::Redpacket,
                grabbers: n,
                connections: 16,
                seed: 1,
                duration: Some(scale_run),
                hard_cap: scale_run + Duration::from_secs(30),
                shutdown: shutdown.clone(),
                ..Default::default()
            };
            let lab = Lab::start(config).await?;
            lab.wait_end().await;
            let report = lab.finish().await?;
            let grab = report
                .ops
                .get("redpacket.grab")
                .cloned()
                .unwrap_or_default();
            let errors: u64 = report.errors.values().sum();
            let r = ScaleRow {
                grabbers: n,
                ops_per_s: grab.ops_per_s,
                p99_us: grab.p99_us,
                errors,
                peak_rss_mib: peak_rss_mib(),
            };
            say(
                json,
                format!(
                    "{:>10} {:>12.0} {:>10} {:>10} {:>14.1}",
                    r.grabbers, r.ops_per_s, r.p99_us, r.errors, r.peak_rss_mib
                ),
            );
            out.scale.push(r);
            if errors > 0 {
                tracing::info!(?report.errors, grabbers = n, "errors by class");
            }
            if shutdown.signal().is_some() {
                break;
            }
        }
        let _ = std::fs::remove_dir_all(&state);
        if let Some(sig) = shutdown.signal() {
            return Ok(stopped(sig));
        }
    }
    if args.tui {
        let state = std::env::temp_dir().join(format!("grabstorm-bench-tui-{}", addr.port()));
        let config = LabConfig {
            target: LabTarget::Fixed(addr),
            state_dir: state.clone(),
            out_dir: Some(state.join("run")),
            workload: WorkloadKind::Mixed,
            grabbers: 10_000,
            connections: 16,
            seed: 1,
            duration: Some(scale_run),
            hard_cap: scale_run + Duration::from_secs(30),
            shutdown: shutdown.clone(),
            ..Default::default()
        };
        let cost = crate::tui::bench::dashboard_cost(config, 120, 40, 20).await?;
        let _ = std::fs::remove_dir_all(&state);
        if let Some(sig) = shutdown.signal() {
            return Ok(stopped(sig));
        }
        let d = DashboardRow {
            headless_ops_per_s: cost.headless_ops_per_s,
            dashboard_ops_per_s: cost.dashboard_ops_per_s,
            cost_percent: cost.cost_percent(),
            frames_per_s: cost.frames_per_s,
            mean_frame_ms: cost.mean_frame.as_secs_f64() * 1000.0,
        };
        say(
            json,
            format!(
                "\ndashboard (10,000 grabbers, mixed): headless {:.0} ops/s, with dashboard {:.0} ops/s \
                 (cost {:.1}%), {:.1} frames/s, {:.2} ms per frame",
                d.headless_ops_per_s,
                d.dashboard_ops_per_s,
                d.cost_percent,
                d.frames_per_s,
                d.mean_frame_ms
            ),
        );
        out.dashboard = Some(d);
    }
    let _ = global;
    drop(server);
    if let Some(sig) = shutdown.signal() {
        return Ok(stopped(sig));
    }
    if json {
        println!("{}", serde_json::to_string(&out)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The bench ended early on `sig`: say so (its partial rows are not a result).
fn stopped(sig: StopSignal) -> ExitCode {
    eprintln!("grabstorm bench: stopped by {sig}; the figures above are incomplete");
    ExitCode::from(sig.exit_code())
}
