//! Scenario files and `grabstorm check` / `grabstorm run`: every shipped
//! scenario is valid; every file of the broken corpus fails with its
//! expected `file:line:col` message and exit 2; headless runs give the
//! verdicts the scenarios promise; reports and charts are written.

use crate::support::{grabstorm_bin, state_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn check(args: &[&Path]) -> Output {
    let state = state_dir();
    Command::new(grabstorm_bin())
        .arg("check")
        .args(args)
        .env("GRABSTORM_STATE_DIR", state.path())
        .output()
        .unwrap()
}

#[test]
fn every_shipped_scenario_passes_check() {
    let files = toml_files(&repo().join("scenarios"));
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for wanted in [
        "failover-segfault",
        "failover-shutdown",
        "pause-master",
        "split-brain",
        "split-brain-min-replicas",
        "sentinel-quorum",
        "lock-naive-vs-safe",
        "lock-ttl-expiry",
        "lock-lost-on-failover",
        "redpacket-fairness",
        "redpacket-naive-vs-atomic",
        "seckill-oversell",
        "persistence-aof-vs-rdb",
        "classroom-demo",
        "cluster-failover",
        "cluster-manual-failover",
        "cluster-minority-partition",
        "cluster-full-coverage",
        "cluster-partial-coverage",
        "cluster-reshard-under-load",
        "cluster-scale-out",
    ] {
        assert!(
            names.iter().any(|n| n == wanted),
            "scenarios/{wanted}.toml is missing"
        );
    }
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let out = check(&refs);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches(": ok: ").count(), files.len(), "{stdout}");
    // Every shipped file opens with a comment saying what it teaches.
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            text.starts_with("# "),
            "{} has no header comment",
            f.display()
        );
        assert!(
            text.contains("What it teaches"),
            "{} does not say what it teaches",
            f.display()
        );
    }
}

/// The first line of each broken file: `# expect: LINE:COL: MESSAGE [| help: HELP]`.
fn expected_diagnostic(file: &Path) -> (String, String, Option<String>) {
    let text = std::fs::read_to_string(file).unwrap();
    let first = text.lines().next().unwrap();
    let rest = first
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("{} has no `# expect:` line", file.display()));
    let (main, help) = match rest.split_once(" | help: ") {
        Some((m, h)) => (m, Some(h.to_string())),
        None => (rest, None),
    };
    let mut parts = main.splitn(3, ':');
    let line = parts.next().unwrap();
    let col = parts.next().unwrap();
    let message = parts.next().unwrap().trim().to_string();
    (format!("{line}:{col}"), message, help)
}

#[test]
fn every_broken_file_fails_with_its_position_and_message() {
    let dir = repo().join("tests/scenarios-broken");
    let files = toml_files(&dir);
    assert!(files.len() >= 20, "only {} broken files", files.len());
    for file in &files {
        let (pos, message, help) = expected_diagnostic(file);
        let out = check(&[file.as_path()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", file.display());
        let headline = format!("{}:{pos}: error: ", file.display());
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&headline),
            "{}: expected a first line starting {headline:?}, got {first:?}",
            file.display()
        );
        assert!(
            first.contains(&message),
            "{}: expected {message:?} in {first:?}",
            file.display()
        );
        // The caret line sits under the source line.
        assert!(
            stderr.lines().nth(3).is_some_and(|l| l.contains('^')),
            "{stderr}"
        );
        if let Some(help) = help {
            assert!(
                stderr.contains(&format!("= help: {help}")),
                "{}: {stderr}",
                file.display()
            );
        }
    }
}

#[test]
fn check_with_good_and_bad_files_reports_each_and_exits_2() {
    let good = repo().join("scenarios/seckill-oversell.toml");
    let bad = repo().join("tests/scenarios-broken/unknown-fault.toml");
    let out = check(&[good.as_path(), bad.as_path()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("seckill-oversell.toml: ok"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean `segfault`?"), "{stderr}");
    assert!(stderr.contains("1 of 2 file(s) have errors"), "{stderr}");
}

/// Plays a scenario headless on `backend`, with reports in `out`.
fn play(file: &Path, backend: &str, out: &Path, extra: &[&str]) -> Output {
    let state = state_dir();
    let out = Command::new(grabstorm_bin())
        .arg("run")
        .arg(file)
        .args(["--headless", "--backend", backend, "--out"])
        .arg(out)
        .args(extra)
        .env("GRABSTORM_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert_no_process_under(state.path());
    out
}

/// No process of the run (local redis-server/redis-sentinel, started with
/// configs under the state dir) outlives `grabstorm run`.
fn assert_no_process_under(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    let mut left = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&needle) && !cmd.contains("grabstorm") {
                left.push(cmd);
            }
        }
    }
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

fn report_json(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).unwrap()
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert!(bytes.len() > 10_000, "{} is nearly empty", path.display());
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A scenario file written into `dir` from a shipped one with `edit` applied.
fn variant(dir: &Path, shipped: &str, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("scenarios").join(shipped)).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, edit(text)).unwrap();
    path
}

#[test]
fn seckill_oversell_headless_on_local_passes_and_writes_reports() {
    let out = tempfile::tempdir().unwrap();
    let o = play(
        &repo().join("scenarios/seckill-oversell.toml"),
        "local",
        out.path(),
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("PASS oversold: expected > 0, measured"),
        "{stdout}"
    );
    let r = report_json(out.path());
    assert_eq!(
        r["scenario"]["title"],
        "Seckill: overselling without atomicity"
    );
    assert_eq!(r["backend"], "local");
    let oversold = r["seckill"]["oversold"].as_u64().unwrap();
    assert!(oversold > 0);
    assert_eq!(
        r["expectations"],
        serde_json::json!([{
            "name": "oversold", "expected": "> 0",
            "measured": oversold.to_string(), "ok": true
        }])
    );
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(md.contains("**Verdict: PASS**"), "{md}");
    assert!(md.contains(&format!("| oversold | {oversold} |")), "{md}");
    assert_png(&out.path().join("throughput.png"));
    assert_png(&out.path().join("latency.png"));
}

#[test]
fn a_wrong_expectation_exits_1_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = variant(dir.path(), "seckill-oversell.toml", "wrong.toml", |t| {
        t.replace("oversold = \"> 0\"", "oversold = 0\nerrors = 0")
    });
    let out = dir.path().join("out");
    let o = play(&file, "local", &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("FAIL oversold: expected == 0, measured "),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASS errors: expected == 0, measured 0"),
        "{stdout}"
    );
    assert!(stdout.contains("verdict: FAIL (oversold)"), "{stdout}");
    let r = report_json(&out);
    assert_eq!(r["expectations"][0]["ok"], false);
    assert_eq!(r["expectations"][1]["ok"], true);
}

#[test]
fn a_bad_file_exits_2_before_starting_anything() {
    let out = tempfile::tempdir().unwrap();
    let file = repo().join("tests/scenarios-broken/unknown-fault.toml");
    let o = play(&file, "local", out.path(), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown-fault.toml:6:9: error: unknown fault")
    );
    assert!(!out.path().join("report.json").exists());
}

#[test]
fn a_partition_scenario_refuses_the_local_backend_with_exit_2() {
    let out = tempfile::tempdir().unwrap();
    let o = play(
        &repo().join("scenarios/split-brain.toml"),
        "local",
        out.path(),
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("needs the Docker backend"),
        "{}",
        text(&o)
    );
}

#[test]
fn failover_segfault_headless_on_local_measures_the_failover() {
    let out = tempfile::tempdir().unwrap();
    let o = play(
        &repo().join("scenarios/failover-segfault.toml"),
        "local",
        out.path(),
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("[step 5s] +switch-master came at"),
        "{stdout}"
    );
    let r = report_json(out.path());
    let failovers = r["failovers"].as_array().unwrap();
    assert_eq!(failovers.len(), 1, "{failovers:?}");
    let f = &failovers[0];
    assert_eq!(f["failed_over"], true);
    assert_eq!(f["old_master"], "redis-1");
    let switch = f["switch_ms"].as_u64().unwrap();
    assert!((500..8000).contains(&switch), "switch_ms {switch}");
    // The expectation reports the same number the failover measured.
    let within = r["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "failover_within")
        .unwrap();
    assert_eq!(within["ok"], true);
    let measured_ms = (within["measured"]
        .as_str()
        .unwrap()
        .trim_end_matches('s')
        .parse::<f64>()
        .unwrap()
        * 1000.0)
        .round() as u64;
    assert_eq!(measured_ms, switch);
    // The story and the charts mark the fault and the switch.
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(md.contains("### 1. segfault of redis-1"), "{md}");
    assert!(md.contains("| master switched (+switch-master) |"), "{md}");
    for name in ["throughput", "latency", "fairness"] {
        assert_png(&out.path().join(format!("{name}.png")));
    }
    let svg = std::fs::read_to_string(out.path().join("throughput.svg")).unwrap();
    for label in [
        "time since start (s)",
        "operations per second",
        "segfault redis-1",
        "+switch-master",
        "restart redis-1",
    ] {
        assert!(svg.contains(label), "throughput.svg lacks {label:?}");
    }
    let svg = std::fs::read_to_string(out.path().join("fairness.svg")).unwrap();
    assert!(
        svg.contains("grab position (1 = first to grab)") && svg.contains("equal mean = 10.00")
    );
    let svg = std::fs::read_to_string(out.path().join("latency.svg")).unwrap();
    assert!(svg.contains("latency (log scale)") && svg.contains("p99 "));
}

#[test]
fn the_same_seed_twice_gives_the_same_amounts_per_packet_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = variant(dir.path(), "redpacket-fairness.toml", "replay.toml", |t| {
        // 200 packets are too few for the fairness bound; replay is the point.
        t.replace("packets = 2000", "packets = 200")
            .replace("grabbers = 500", "grabbers = 300")
            .replace("fairness_spread = \"< 0.05\"\n", "")
    });
    let amounts = |run: &str| {
        let out = dir.path().join(run);
        let o = play(&file, "local", &out, &["--seed", "4242"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let r = report_json(&out);
        assert_eq!(r["seed"], 4242);
        r["redpacket"]["amounts"].clone()
    };
    let first = amounts("a");
    let second = amounts("b");
    let packets = first.as_object().expect("amounts per packet");
    assert_eq!(packets.len(), 200, "every packet's amounts are reported");
    for (id, grabs) in packets {
        let grabs = grabs.as_array().unwrap();
        assert_eq!(grabs.len(), 10, "packet {id}");
        assert_eq!(
            grabs.iter().map(|g| g.as_i64().unwrap()).sum::<i64>(),
            10_000,
            "packet {id}"
        );
    }
    assert_eq!(first, second, "same seed, different amounts");
}

/// Docker engine, or a skip outside CI (the partition scenarios need it).
fn docker_or_skip(test: &str) -> bool {
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

#[test]
fn split_brain_on_docker_loses_acknowledged_writes() {
    let _cut = crate::support::one_partition_at_a_time();
    if !docker_or_skip("split_brain_on_docker_loses_acknowledged_writes") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let o = play(
        &repo().join("scenarios/split-brain.toml"),
        "docker",
        out.path(),
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = report_json(out.path());
    assert_eq!(r["backend"], "docker");
    let lost = r["audit"]["lost_acked_writes"].as_u64().unwrap();
    assert!(
        lost > 0,
        "a healed split brain must lose acknowledged writes"
    );
    assert!(r["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["ok"] == true));
}

/// Plays a shipped scenario headless and asserts every expectation held.
fn assert_shipped_passes(name: &str, backend: &str) -> serde_json::Value {
    let out = tempfile::tempdir().unwrap();
    let file = repo().join("scenarios").join(format!("{name}.toml"));
    let o = play(&file, backend, out.path(), &[]);
    // On failure, what the run counted too: the errors by class and the
    // failover rows say which part of the story went another way.
    let counted = std::fs::read(out.path().join("report.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|r| format!("errors {}\nfailovers {}", r["errors"], r["failovers"]))
        .unwrap_or_default();
    assert_eq!(o.status.code(), Some(0), "{name}: {}\n{counted}", text(&o));
    let r = report_json(out.path());
    let expectations = r["expectations"].as_array().unwrap();
    assert!(!expectations.is_empty(), "{name} has no expectations");
    assert!(
        expectations.iter().all(|e| e["ok"] == true),
        "{name}: {expectations:?}"
    );
    r
}

#[test]
fn lock_ttl_expiry_shows_two_holders_and_fencing() {
    let r = assert_shipped_passes("lock-ttl-expiry", "local");
    let fenced = &r["locks"]["fenced"];
    assert!(fenced["stale_tokens_refused"].as_u64().unwrap() > 0);
    assert!(r["locks"]["safe"]["violations"].as_u64().unwrap() > 0);
}

#[test]
fn redpacket_naive_breaks_conservation_and_grants_twice() {
    let r = assert_shipped_passes("redpacket-naive-vs-atomic", "local");
    assert_eq!(r["redpacket"]["conservation_ok"], false);
    assert!(r["redpacket"]["duplicate_grabs"].as_u64().unwrap() > 0);
}

#[test]
fn lock_lost_on_failover_on_docker_grants_a_lock_twice() {
    let _cut = crate::support::one_partition_at_a_time();
    if !docker_or_skip("lock_lost_on_failover_on_docker_grants_a_lock_twice") {
        return;
    }
    let r = assert_shipped_passes("lock-lost-on-failover", "docker");
    let violations: u64 = ["safe", "fenced"]
        .iter()
        .map(|k| r["locks"][k]["violations"].as_u64().unwrap())
        .sum();
    assert!(violations > 0, "{}", r["locks"]);
    assert!(r["audit"]["lost_acked_writes"].as_u64().unwrap() > 0);
}

#[test]
fn split_brain_with_min_replicas_on_docker_refuses_writes() {
    let _cut = crate::support::one_partition_at_a_time();
    if !docker_or_skip("split_brain_with_min_replicas_on_docker_refuses_writes") {
        return;
    }
    let r = assert_shipped_passes("split-brain-min-replicas", "docker");
    assert!(r["errors"]["noreplicas"].as_u64().unwrap() > 0);
}

/// The two coverage scenarios side by side: the same dead shard without
/// replica refuses every shard's writes with full coverage (a long write
/// outage) and only its own with partial coverage (none).
#[test]
fn cluster_full_and_partial_coverage_scenarios_pass_locally() {
    let full = assert_shipped_passes("cluster-full-coverage", "local");
    let partial = assert_shipped_passes("cluster-partial-coverage", "local");
    assert!(
        full["errors"]["clusterdown"].as_u64().unwrap() > 0,
        "{}",
        full["errors"]
    );
    for r in [&full, &partial] {
        assert!(
            r["failovers"][0]["reason"]
                .as_str()
                .is_some_and(|w| w.contains("no replica")),
            "{}",
            r["failovers"]
        );
    }
    eprintln!(
        "full coverage: errors {} outage {} ms; partial: errors {} outage {} ms",
        full["errors"],
        full["failovers"][0]["write_outage_ms"],
        partial["errors"],
        partial["failovers"][0]["write_outage_ms"]
    );
}

/// The reshard scenario: 3,000 slots move under the sale, the step's
/// wait sees the end, nothing is lost, and the move is in the report.
#[test]
fn cluster_reshard_scenario_passes_locally() {
    let r = assert_shipped_passes("cluster-reshard-under-load", "local");
    let m = &r["cluster"]["migrations"][0];
    assert_eq!(
        (&m["slots"], &m["complete"]),
        (&3000.into(), &true.into()),
        "{m}"
    );
    assert!(m["moved"].as_u64().unwrap() > 0, "{m}");
    eprintln!(
        "reshard scenario: {} ms, {} keys, MOVED {}, ASK {}, lost {}",
        m["millis"], m["keys_moved"], m["moved"], m["ask"], r["audit"]["lost_acked_writes"]
    );
}

/// The scale-out scenario: `scale add` at 5 s under the sale; the run
/// passes (nothing lost, the audit read the new master too), its timeline
/// has the scaling's end, and the cluster it leaves (kept with `--keep`)
/// has, by `redis-cli --cluster check`, every slot covered, every node
/// agreeing and 4 masters of 4,096 slots each; `down` then leaves no
/// process of the run, added nodes included.
#[test]
fn cluster_scale_out_scenario_passes_locally() {
    let state = state_dir();
    let out = tempfile::tempdir().unwrap();
    let file = repo().join("scenarios/cluster-scale-out.toml");
    let o = Command::new(grabstorm_bin())
        .arg("run")
        .arg(&file)
        .args(["--headless", "--backend", "local", "--keep", "--out"])
        .arg(out.path())
        .env("GRABSTORM_STATE_DIR", state.path())
        .output()
        .unwrap();
    // The kept cluster goes whatever the asserts say.
    struct Down<'a>(&'a Path);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = crate::support::grabstorm_in(self.0, &["down"]);
        }
    }
    let down = Down(state.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = report_json(out.path());
    assert!(
        r["expectations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["ok"] == true),
        "{}",
        r["expectations"]
    );
    let ended = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "scale_ended")
        .unwrap_or_else(|| panic!("no scale_ended in {}", r["events"]))
        .clone();
    assert_eq!(
        (&ended["complete"], &ended["slots_moved"], &ended["shard"]),
        (&true.into(), &4096.into(), &4.into()),
        "{ended}"
    );
    let audit = &r["audit"];
    assert!(
        audit["checked_node"].as_str().unwrap().contains("redis-7"),
        "the audit read the added master: {audit}"
    );
    assert_eq!(audit["lost_acked_writes"], 0, "{audit}");

    // Recount on the kept cluster, with redis-cli.
    let t: grabstorm::topology::Topology = grabstorm::topology::state::load(state.path()).unwrap();
    assert_eq!(t.redis_nodes().count(), 8, "redis-7 and redis-8 on record");
    let first = t.node("redis-1").unwrap().host_addr.to_string();
    let check = Command::new("redis-cli")
        .args(["--cluster", "check", &first, "--no-auth-warning", "-a"])
        .arg(t.password.as_deref().unwrap())
        .output()
        .unwrap();
    let c = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(c.contains("[OK] All 16384 slots covered."), "{c}");
    assert!(
        c.contains("[OK] All nodes agree about slots configuration."),
        "{c}"
    );
    assert!(!c.contains("[WARNING]") && !c.contains("[ERR]"), "{c}");
    let masters: Vec<&str> = c.lines().filter(|l| l.contains(" slots | ")).collect();
    assert_eq!(masters.len(), 4, "{c}");
    assert!(masters.iter().all(|l| l.contains("| 4096 slots |")), "{c}");
    assert!(
        masters
            .iter()
            .any(|l| l.starts_with(&t.node("redis-7").unwrap().host_addr.to_string())),
        "redis-7 is one of the masters: {c}"
    );
    eprintln!(
        "scale-out scenario: {} slots, {} keys in {} ms; MOVED {}, ASK {}; lost {}",
        ended["slots_moved"],
        ended["keys_moved"],
        ended["millis"],
        r["cluster"]["redirects"]["moved"],
        r["cluster"]["redirects"]["ask"],
        audit["lost_acked_writes"]
    );

    drop(down);
    assert_no_process_under(state.path());
    assert!(
        !state.path().join("current.json").exists(),
        "down cleared the state file"
    );
}

/// The minority-partition scenario on Docker/// The minority-partition scenario on Docker: shard 1's replica promoted,
/// the cut-off master refused writes once node-timeout passed, and what it
/// acknowledged meanwhile is lost, attributed to the minority partition.
#[test]
fn cluster_minority_partition_scenario_on_docker_loses_the_minority_writes() {
    let _cut = crate::support::one_partition_at_a_time();
    if !docker_or_skip("cluster_minority_partition_scenario_on_docker_loses_the_minority_writes") {
        return;
    }
    let r = assert_shipped_passes("cluster-minority-partition", "docker");
    let f = &r["failovers"][0];
    assert_eq!(
        (f["old_master"].as_str(), f["new_master"].as_str()),
        (Some("redis-1"), Some("redis-4"))
    );
    let lost = r["audit"]["lost_acked_writes"].as_u64().unwrap();
    let minority: u64 = r["losses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["cause"] == "minority_partition")
        .map(|l| l["lost_acked_writes"].as_u64().unwrap())
        .sum();
    eprintln!(
        "minority partition scenario: lost {lost} ({minority} to the minority partition), errors {}",
        r["errors"]
    );
    let all: u64 = r["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["lost_acked_writes"].as_u64().unwrap())
        .sum();
    assert_eq!(all, lost, "every loss attributed: {}", r["losses"]);
    assert!(minority > 0, "{}", r["losses"]);
}
