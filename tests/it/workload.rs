//! Tests: the workload engine against a real redis-server. Engine-level
//! runs use a lab on a fixed address (`LabTarget::Fixed`), so the whole
//! path (grabbers, journal, aggregator, audit, report) is exercised; the
//! end-to-end test drives `grabstorm load` on the local backend.

use crate::support::{grabstorm_bin, state_dir, StandaloneRedis};
use grabstorm::lab::{Lab, LabConfig, LabTarget};
use grabstorm::report::model::Report;
use grabstorm::workload::redpacket::{expected_amounts, RedPacketConfig};
use grabstorm::workload::seckill::SeckillConfig;
use grabstorm::workload::{Mode, WorkloadKind};
use std::path::Path;
use std::time::Duration;

fn config(redis: &StandaloneRedis, dir: &Path, workload: WorkloadKind) -> LabConfig {
    LabConfig {
        target: LabTarget::Fixed(redis.addr),
        state_dir: dir.to_path_buf(),
        out_dir: Some(dir.join("out")),
        workload,
        grabbers: 1000,
        connections: 8,
        seed: 7,
        duration: None,
        until_done: true,
        hard_cap: Duration::from_secs(60),
        ..Default::default()
    }
}

async fn run(config: LabConfig) -> Report {
    let lab = Lab::start(config).await.expect("lab starts");
    let reason = lab.wait_end().await;
    assert_ne!(reason, grabstorm::lab::EndReason::HardCap);
    lab.finish().await.expect("lab finishes")
}

/// Per packet, from Redis directly: (granted in the order list, remaining, grants).
fn packet_in_redis(redis: &StandaloneRedis, run_id: &str, p: u64) -> (i64, i64, usize) {
    let mut c = redis.conn();
    let order: Vec<String> = redis::cmd("LRANGE")
        .arg(format!("gs:{run_id}:rp:{p}:order"))
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    let remaining: i64 = redis::cmd("HGET")
        .arg(format!("gs:{run_id}:rp:{p}"))
        .arg("remaining_cents")
        .query(&mut c)
        .unwrap();
    let granted = order
        .iter()
        .map(|e| e.rsplit(':').next().unwrap().parse::<i64>().unwrap())
        .sum();
    (granted, remaining, order.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_red_packets_under_1000_grabbers_conserve_money_and_lose_nothing() {
    let redis = StandaloneRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&redis, dir.path(), WorkloadKind::Redpacket);
    c.redpacket = RedPacketConfig {
        packets: 30,
        ..Default::default()
    };
    let report = run(c).await;
    let rp = report.redpacket.as_ref().expect("red-packet section");
    assert_eq!(rp.packets, 30);
    assert_eq!(rp.grabs_ok, 300);
    assert_eq!(rp.grabs_in_redis, 300);
    assert_eq!(rp.amount_sent_cents, 300_000);
    assert_eq!(rp.amount_granted_cents, 300_000);
    assert_eq!(rp.amount_acked_cents, 300_000);
    assert!(rp.conservation_ok);
    assert_eq!(rp.duplicate_grabs, 0);
    assert_eq!(rp.below_one_cent, 0);
    assert_eq!(rp.lost_acked_grabs, 0);
    assert_eq!(report.audit.lost_acked_writes, 0);
    assert_eq!(report.audit.journal_records, 300);
    assert!(report.verdict.ok, "{:?}", report.verdict);
    // Independent check from Redis: every packet sums to its total.
    for p in 0..30 {
        let (granted, remaining, n) = packet_in_redis(&redis, &report.run_id, p);
        assert_eq!((granted, remaining, n), (10_000, 0, 10), "packet {p}");
    }
    // The amounts are the seed's, position by position, whoever won.
    for p in 0..30u64 {
        assert_eq!(
            rp.amounts[&p],
            expected_amounts(7, p, 10_000, 10),
            "packet {p}"
        );
    }
    assert_eq!(rp.by_position.len(), 10);
    assert!(rp.by_position.iter().all(|s| s.grabs == 30));
    let grab = &report.ops["redpacket.grab"];
    assert!(grab.ok >= 300, "grab ok {}", grab.ok);
    assert!(grab.p99_us >= grab.p50_us && grab.max_us >= grab.p99_us);
    let journal = grabstorm::audit::journal::read(&grabstorm::audit::journal::in_dir(
        &dir.path().join("out"),
    ))
    .unwrap();
    assert_eq!(journal.len(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_gives_the_same_amounts_per_packet_and_position() {
    let redis = StandaloneRedis::start();
    let mut amounts = Vec::new();
    for grabbers in [300, 50] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(&redis, dir.path(), WorkloadKind::Redpacket);
        c.grabbers = grabbers;
        c.seed = 4242;
        c.redpacket.packets = 12;
        c.redpacket.count = 7;
        c.redpacket.total_cents = 777;
        let report = run(c).await;
        amounts.push(report.redpacket.unwrap().amounts);
    }
    assert_eq!(amounts[0].len(), 12);
    assert_eq!(amounts[0], amounts[1]);
    let other_seed: Vec<i64> = expected_amounts(4243, 0, 777, 7);
    assert_ne!(amounts[0][&0], other_seed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_red_packets_with_forced_interleaving_are_caught() {
    let redis = StandaloneRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&redis, dir.path(), WorkloadKind::Redpacket);
    c.grabbers = 200;
    // Fewer users than grabbers: the same user races itself.
    c.users = 40;
    c.redpacket = RedPacketConfig {
        packets: 5,
        mode: Mode::Naive,
        naive_delay_ms: 20,
        ..Default::default()
    };
    let report = run(c).await;
    let rp = report.redpacket.as_ref().unwrap();
    // What Redis holds against what was sent, computed independently.
    let mut created = 0i64;
    let mut grants = 0u64;
    let mut off_packets = 0u64;
    for p in 0..5 {
        let (granted, remaining, n) = packet_in_redis(&redis, &report.run_id, p);
        created += granted + remaining - 10_000;
        grants += n as u64;
        if granted + remaining != 10_000 {
            off_packets += 1;
        }
    }
    assert!(
        off_packets > 0,
        "forced interleaving must break conservation"
    );
    assert!(!rp.conservation_ok);
    assert_eq!(rp.conservation_violations, off_packets);
    assert_eq!(rp.money_created_cents, created);
    assert_eq!(rp.grabs_in_redis, grants);
    // Every acknowledged naive write did land: damage, not loss.
    assert_eq!(rp.grabs_ok, grants);
    assert_eq!(rp.lost_acked_grabs, 0);
    assert!(
        rp.duplicate_grabs > 0,
        "users granted twice: {}",
        rp.duplicate_grabs
    );
    assert!(!report.verdict.ok);
    assert!(report
        .verdict
        .findings
        .iter()
        .any(|f| f.contains("not conserved")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_seckill_never_oversells() {
    let redis = StandaloneRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&redis, dir.path(), WorkloadKind::Seckill);
    c.grabbers = 500;
    c.seckill = SeckillConfig {
        stock: 50,
        items: 2,
        ..Default::default()
    };
    let report = run(c).await;
    let sk = report.seckill.unwrap();
    assert_eq!(sk.sold, 100);
    assert_eq!(sk.orders_in_redis, 100);
    assert_eq!(sk.stock_left, 0);
    assert_eq!(sk.oversold, 0);
    assert_eq!(sk.lost_acked_sales, 0);
    let mut conn = redis.conn();
    let left: i64 = redis::cmd("GET")
        .arg(format!("gs:{}:sk:0:stock", report.run_id))
        .query(&mut conn)
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_seckill_oversells_and_is_caught() {
    let redis = StandaloneRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&redis, dir.path(), WorkloadKind::Seckill);
    c.grabbers = 300;
    c.seckill = SeckillConfig {
        stock: 20,
        items: 1,
        mode: Mode::Naive,
        naive_delay_ms: 20,
    };
    let report = run(c).await;
    let sk = report.seckill.unwrap();
    let mut conn = redis.conn();
    let orders: u64 = redis::cmd("HLEN")
        .arg(format!("gs:{}:sk:0:orders", report.run_id))
        .query(&mut conn)
        .unwrap();
    assert_eq!(sk.orders_in_redis, orders);
    assert_eq!(sk.sold, orders, "every acknowledged naive sale is in Redis");
    assert!(sk.oversold > 0, "naive GET/SET must oversell");
    assert_eq!(sk.oversold, orders - 20);
    assert!(!report.verdict.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duration_run_keeps_creating_packets_and_publishes_snapshots() {
    let redis = StandaloneRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&redis, dir.path(), WorkloadKind::Mixed);
    c.grabbers = 300;
    c.until_done = false;
    c.duration = Some(Duration::from_secs(2));
    let lab = Lab::start(c).await.unwrap();
    let mut snaps = lab.snapshots();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let s = snaps.borrow_and_update().clone();
    assert!(s.elapsed_ms >= 700, "elapsed {}", s.elapsed_ms);
    assert_eq!(s.load.grabbers, 300);
    assert!(s.ops_per_s > 0.0);
    assert!(s.redpacket.as_ref().unwrap().grabs_ok > 0);
    assert!(s.seckill.as_ref().unwrap().sold > 0);
    assert!(!s.latency.buckets.is_empty());
    // Live control: shrink, pause, resume.
    lab.control(grabstorm::lab::Control::SetGrabbers(100))
        .await
        .unwrap();
    lab.control(grabstorm::lab::Control::PauseLoad(true))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let paused = snaps.borrow_and_update().clone();
    assert!(paused.load.paused);
    assert_eq!(paused.load.grabbers, 100);
    lab.control(grabstorm::lab::Control::PauseLoad(false))
        .await
        .unwrap();
    lab.wait_end().await;
    let report = lab.finish().await.unwrap();
    let rp = report.redpacket.unwrap();
    assert!(rp.packets > 10, "packets keep coming: {}", rp.packets);
    assert!(rp.conservation_ok);
    assert_eq!(rp.lost_acked_grabs, 0);
    assert_eq!(report.seckill.unwrap().oversold, 0);
    assert!(!report.throughput.is_empty());
    assert!(report.throughput.iter().map(|p| p.writes_ok).sum::<u64>() > 0);
}

#[test]
fn load_on_the_local_backend_writes_a_report_with_the_fields() {
    let state = state_dir();
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(grabstorm_bin())
        .args([
            "load",
            "--backend",
            "local",
            "--replicas",
            "1",
            "--sentinels",
            "1",
            "--quorum",
            "1",
            "--workload",
            "redpacket",
            "--grabbers",
            "200",
            "--duration",
            "2s",
            "--seed",
            "99",
            "--json",
            "--out",
        ])
        .arg(out.path())
        .env("GRABSTORM_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "load failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let stdout: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(stdout, file);
    assert_eq!(file["seed"], 99);
    assert_eq!(file["backend"], "local");
    assert_eq!(file["grabbers"], 200);
    assert!(file["duration_s"].as_f64().unwrap() >= 2.0);
    let grab = &file["ops"]["redpacket.grab"];
    for k in [
        "ok",
        "errors",
        "p50_us",
        "p90_us",
        "p99_us",
        "p999_us",
        "max_us",
        "ops_per_s",
    ] {
        assert!(!grab[k].is_null(), "ops.redpacket.grab.{k}");
    }
    assert!(grab["ok"].as_u64().unwrap() > 0);
    assert!(file["throughput"].as_array().unwrap().len() >= 2);
    let rp = &file["redpacket"];
    for k in [
        "packets",
        "grabs_ok",
        "amount_sent_cents",
        "amount_granted_cents",
        "conservation_ok",
        "duplicate_grabs",
        "lost_acked_grabs",
        "by_position",
        "gini_mean",
    ] {
        assert!(!rp[k].is_null(), "redpacket.{k}");
    }
    assert_eq!(rp["conservation_ok"], true);
    assert_eq!(rp["lost_acked_grabs"], 0);
    assert!(file["events"].as_array().is_some());
    assert!(file["failovers"].as_array().is_some());
    assert_eq!(file["verdict"]["ok"], true);
    // The topology the load started is gone.
    let left = std::process::Command::new("pgrep")
        .args(["-f", &state.path().display().to_string()])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "processes left behind");
}

/// `grabstorm bench` runs both sides against its own redis-server and prints
/// the rows and ratios it promises. Speed itself is never asserted: only that
/// every figure was measured (present, positive) and nothing is left running.
#[test]
fn bench_prints_both_sides_and_the_ratios() {
    let out = std::process::Command::new(grabstorm_bin())
        .args(["bench", "--no-scale", "--requests", "20000"])
        .args(["--connections", "10", "--grabbers", "10"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures = |prefix: &str| -> Vec<f64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{text}"));
        line[prefix.len()..]
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|w| w.trim_end_matches('.').parse::<f64>().ok())
            .collect()
    };
    for row in [
        "redis-benchmark -c 10 (1 thread)",
        "grabstorm 10 grabbers / 10 conns (1 thread)",
    ] {
        let f = figures(row);
        assert!(
            f.len() == 2 && f.iter().all(|x| *x > 0.0),
            "{row}: {f:?}\n{text}"
        );
    }
    let ratio_line = text
        .lines()
        .find(|l| l.starts_with("ratio grabstorm / redis-benchmark, 1 thread each:"))
        .unwrap_or_else(|| panic!("no ratio line in:\n{text}"));
    let ratios: Vec<f64> = ratio_line
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches(',').strip_suffix('x'))
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        ratios.len() == 2 && ratios.iter().all(|x| *x > 0.0),
        "{ratios:?}\n{text}"
    );
    // The bench's redis-server is gone with it.
    let port = text
        .split("redis-server on 127.0.0.1:")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .unwrap();
    assert!(
        std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
        "the bench's redis-server on port {port} outlived it"
    );
}

/// `bench --json`: one object on stdout with the figures the tables (now on
/// stderr) show.
#[test]
fn bench_json_carries_the_figures_of_its_tables() {
    let out = std::process::Command::new(grabstorm_bin())
        .args(["bench", "--no-scale", "--requests", "5000", "--json"])
        .args(["--connections", "5", "--grabbers", "5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(
        (v["connections"].as_u64(), v["grabbers"].as_u64()),
        (Some(5), Some(5))
    );
    let sides = v["comparison"].as_array().unwrap();
    assert_eq!(sides.len(), 3);
    assert_eq!(sides[0]["side"], "redis-benchmark");
    for (side, row) in sides.iter().zip([
        "redis-benchmark -c 5 (1 thread)",
        "grabstorm 5 grabbers / 5 conns (1 thread)",
    ]) {
        let line = stderr
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no {row:?} in {stderr}"));
        let p99: Vec<&str> = line.split_whitespace().rev().take(1).collect();
        assert_eq!(
            side["p99_us"].as_u64().unwrap().to_string(),
            p99[0],
            "{line}"
        );
        assert!(side["ops_per_s"].as_f64().unwrap() > 0.0);
    }
    let ratio = &v["ratio"];
    assert_eq!(ratio["threads"], 1);
    let expected =
        sides[1]["ops_per_s"].as_f64().unwrap() / sides[0]["ops_per_s"].as_f64().unwrap();
    assert!((ratio["throughput"].as_f64().unwrap() - expected).abs() < 1e-9);
    assert_eq!(v["scale"], serde_json::json!([]));
    assert!(v["dashboard"].is_null());
}
