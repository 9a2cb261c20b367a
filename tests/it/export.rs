//! Tests: what a run exports. `--metrics` served during a real load on the
//! local backend and scraped with a plain TCP client, checked against the
//! run's report.json; the files of `--out` (throughput.csv, latency.hlog,
//! report.md and the charts) and report.json's `meta`; a non-loopback
//! `--metrics` refused before anything starts.

use crate::support::{free_port, grabstorm_bin, state_dir, text};
use base64::Engine;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One scrape of `/metrics`: the body, or None when nothing listens.
fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_millis(200),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("application/openmetrics-text"), "{head}");
    Some(body.to_string())
}

/// Every sample of an exposition: (name with labels, value).
fn samples(body: &str) -> Vec<(String, f64)> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (name, v) = l.rsplit_once(' ').unwrap();
            (name.to_string(), v.parse().unwrap())
        })
        .collect()
}

fn sum_of(body: &str, prefix: &str) -> f64 {
    samples(body)
        .iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

fn value(body: &str, name: &str) -> Option<f64> {
    samples(body)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// The exposition's shape: TYPE and HELP for every family, `# EOF` last,
/// a cumulative latency histogram whose +Inf bucket is its count.
fn check_shape(body: &str) {
    assert!(body.starts_with("# TYPE grabstorm_"), "{body}");
    assert!(body.ends_with("\n# EOF\n"), "{body}");
    let types = body.lines().filter(|l| l.starts_with("# TYPE ")).count();
    let helps = body.lines().filter(|l| l.starts_with("# HELP ")).count();
    assert_eq!(types, helps, "{body}");
    for family in [
        "grabstorm_operations counter",
        "grabstorm_errors counter",
        "grabstorm_latency_seconds histogram",
        "grabstorm_grabbers gauge",
        "grabstorm_node_role gauge",
        "grabstorm_load_stopped gauge",
        "grabstorm_run_ended gauge",
    ] {
        assert!(
            body.contains(&format!("# TYPE {family}\n")),
            "{family}: {body}"
        );
    }
    let buckets: Vec<f64> = samples(body)
        .into_iter()
        .filter(|(n, _)| n.starts_with("grabstorm_latency_seconds_bucket"))
        .map(|(_, v)| v)
        .collect();
    assert!(buckets.len() > 5, "{body}");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert_eq!(
        Some(*buckets.last().unwrap()),
        value(body, "grabstorm_latency_seconds_count")
    );
    assert!(body.contains("grabstorm_latency_seconds_bucket{le=\"+Inf\"}"));
}

/// A 3 s red-packet load on the local backend with `--metrics` and
/// `--out`: scraped every few ms while it runs; every scrape is shaped
/// right and counts no more than the report, and every scrape after the
/// load stopped (its counters final) equals report.json. The files of
/// `--out` agree with the report too.
#[test]
fn metrics_scrapes_and_out_files_agree_with_the_report() {
    let state = state_dir();
    let out = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(grabstorm_bin())
        .arg("--state-dir")
        .arg(state.path())
        .args([
            "load",
            "--backend",
            "local",
            "--workload",
            "redpacket",
            "--grabbers",
            "100",
            "--duration",
            "3s",
            "--metrics",
            &format!("127.0.0.1:{port}"),
            "--out",
        ])
        .arg(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut scrapes = Vec::new();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the load did not end in 120 s");
        if let Some(body) = scrape(port) {
            scrapes.push(body);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "load: {stderr}");
    assert!(
        stderr.contains(&format!("metrics at http://127.0.0.1:{port}/metrics")),
        "{stderr}"
    );
    // The endpoint stopped with the run.
    assert!(scrape(port).is_none());

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    let ops: BTreeMap<String, u64> = report["ops"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["ok"].as_u64().unwrap()))
        .collect();
    let ok_total: u64 = ops.values().sum();
    assert!(ok_total > 1000, "{ops:?}");

    let live: Vec<&String> = scrapes
        .iter()
        .filter(|b| value(b, "grabstorm_load_stopped") == Some(0.0))
        .collect();
    // Once the load stopped the counters are final: served through the
    // settle, the audit and the teardown.
    let stopped: Vec<&String> = scrapes
        .iter()
        .filter(|b| value(b, "grabstorm_load_stopped") == Some(1.0))
        .collect();
    assert!(live.len() >= 10, "{} scrapes during the load", live.len());
    assert!(!stopped.is_empty(), "no scrape after the load stopped");
    let mut previous = 0.0;
    for body in &scrapes {
        check_shape(body);
        let total = sum_of(body, "grabstorm_operations_total");
        assert!(total <= ok_total as f64, "{total} > {ok_total}");
        assert!(
            total >= previous,
            "the counter went back: {previous} -> {total}"
        );
        previous = total;
    }
    assert!(
        live.iter()
            .any(|b| sum_of(b, "grabstorm_operations_total") > 0.0),
        "no scrape saw the load"
    );
    for last in &stopped {
        for (op, ok) in &ops {
            let workload = op.split('.').next().unwrap();
            let name = format!("grabstorm_operations_total{{workload=\"{workload}\",op=\"{op}\"}}");
            assert_eq!(value(last, &name), Some(*ok as f64), "{name}: {last}");
        }
        assert_eq!(
            value(last, "grabstorm_latency_seconds_count"),
            report["latency"]["count"].as_f64()
        );
        assert_eq!(value(last, "grabstorm_grabbers"), Some(100.0));
        assert_eq!(
            value(
                last,
                "grabstorm_node_role{node=\"redis-1\",role=\"master\"}"
            ),
            Some(1.0),
            "{last}"
        );
    }
    // The run's end (failovers, losses) is published once the report is
    // built, shortly before the endpoint stops: checked when a scrape
    // caught it.
    for ended in scrapes
        .iter()
        .filter(|b| value(b, "grabstorm_run_ended") == Some(1.0))
    {
        assert_eq!(
            sum_of(ended, "grabstorm_lost_writes"),
            report["audit"]["lost_acked_writes"].as_f64().unwrap()
        );
        assert_eq!(value(ended, "grabstorm_failovers"), Some(0.0));
    }

    // throughput.csv: a header, one line per second, the ok column sums
    // to the report's total.
    let csv = std::fs::read_to_string(out.path().join("throughput.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("second,ok,errors,p50_ms,p99_ms"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let seconds = report["throughput"].as_array().unwrap();
    assert_eq!(rows.len(), seconds.len());
    let csv_ok: u64 = rows.iter().map(|r| r[1].parse::<u64>().unwrap()).sum();
    assert_eq!(csv_ok, ok_total);
    for (row, point) in rows.iter().zip(seconds) {
        assert_eq!(row[0], point["t_s"].to_string());
        if point["ok"].as_u64().unwrap() > 0 {
            let p50: f64 = row[3].parse().unwrap();
            let p99: f64 = row[4].parse().unwrap();
            assert!(p50 > 0.0 && p50 <= p99, "{row:?}");
            assert!((point["p99_ms"].as_f64().unwrap() - p99).abs() < 0.001);
        }
    }

    // latency.hlog: one interval per second, every latency sample in it.
    let hlog = std::fs::read(out.path().join("latency.hlog")).unwrap();
    let mut intervals = 0;
    let mut samples_in_log = 0;
    for entry in IntervalLogIterator::new(&hlog) {
        if let LogEntry::Interval(h) = entry.unwrap() {
            assert_eq!(h.start_timestamp().as_secs(), intervals);
            assert_eq!(h.duration(), Duration::from_secs(1));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(h.encoded_histogram())
                .unwrap();
            let hist: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
            samples_in_log += hist.len();
            intervals += 1;
        }
    }
    assert_eq!(intervals as usize, seconds.len());
    assert_eq!(Some(samples_in_log), report["latency"]["count"].as_u64());

    // report.md and the charts, as `run --out` writes them.
    for file in [
        "report.md",
        "throughput.png",
        "throughput.svg",
        "latency.png",
    ] {
        let len = std::fs::metadata(out.path().join(file)).map_or(0, |m| m.len());
        assert!(len > 100, "{file}: {len} bytes");
    }

    // meta.
    let meta = &report["meta"];
    assert_eq!(meta["schema_version"], 1);
    assert_eq!(meta["grabstorm_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(meta["backend"], "local");
    assert_eq!(meta["mode"], "sentinel");
    let version = meta["redis_version"].as_str().unwrap();
    assert!(version.split('.').count() >= 2, "{version}");
    let started = meta["started_at"].as_str().unwrap();
    assert_eq!(started.len(), "2026-12-02T06:48:48.007Z".len(), "{started}");
    assert!(started.ends_with('Z') && started.as_bytes()[10] == b'T');
    let argv: Vec<&str> = meta["command_line"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(argv[0], grabstorm_bin().to_str().unwrap());
    assert!(argv
        .windows(2)
        .any(|w| w == ["--metrics", &format!("127.0.0.1:{port}")]));
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    let versions = format!(
        "| versions | grabstorm {}, Redis {version} |",
        env!("CARGO_PKG_VERSION")
    );
    assert!(md.contains(&versions), "{md}");
    assert!(
        md.contains(&format!("| started | {started} (UTC) |")),
        "{md}"
    );
}

/// `--metrics` on anything but loopback is refused when the command line
/// is read (exit 2), by every command that runs a load; nothing starts.
#[test]
fn a_metrics_address_off_loopback_is_refused() {
    let state = state_dir();
    for args in [
        &["load", "--backend", "local", "--metrics", "0.0.0.0:9464"][..],
        &["tui", "--metrics", "192.168.1.10:9464"],
        &[
            "run",
            "scenarios/failover-segfault.toml",
            "--metrics",
            "[::]:9464",
        ],
    ] {
        let started = Instant::now();
        let out = Command::new(grabstorm_bin())
            .arg("--state-dir")
            .arg(state.path())
            .args(args)
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("not a loopback address"), "{args:?}: {err}");
        assert!(err.contains("127.0.0.1:9464"), "{args:?}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
    }
    assert!(!state.path().join("runs").exists());
}
