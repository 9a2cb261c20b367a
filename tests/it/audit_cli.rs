//! Tests: `grabstorm audit DIR` re-runs the checks of a finished run from
//! its journal against the live Redis, and finds what went missing since.

use crate::support::{grabstorm_bin, state_dir, StandaloneRedis};
use grabstorm::lab::{Lab, LabConfig, LabTarget};
use grabstorm::workload::redpacket::RedPacketConfig;
use grabstorm::workload::seckill::SeckillConfig;
use grabstorm::workload::WorkloadKind;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn audit(dir: &Path, state: &Path) -> (i32, serde_json::Value, String) {
    let out = Command::new(grabstorm_bin())
        .arg("audit")
        .arg(dir)
        .arg("--json")
        .env("GRABSTORM_STATE_DIR", state)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rechecks_a_finished_run_and_finds_writes_removed_since() {
    let redis = StandaloneRedis::start();
    let state = state_dir();
    let run_dir = state.path().join("run");
    let lab = Lab::start(LabConfig {
        target: LabTarget::Fixed(redis.addr),
        state_dir: state.path().to_path_buf(),
        out_dir: Some(run_dir.clone()),
        workload: WorkloadKind::Mixed,
        grabbers: 300,
        connections: 4,
        seed: 11,
        duration: None,
        until_done: true,
        hard_cap: Duration::from_secs(60),
        redpacket: RedPacketConfig {
            packets: 5,
            ..Default::default()
        },
        seckill: SeckillConfig {
            stock: 20,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    lab.wait_end().await;
    let report = lab.finish().await.unwrap();
    assert!(report.verdict.ok, "{:?}", report.verdict);
    let run_id = report.run_id.clone();

    // Nothing changed: the audit agrees with the run.
    let (code, json, err) = audit(&run_dir, state.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(json["redpacket"]["grabs_ok"], 50);
    assert_eq!(json["redpacket"]["lost_acked_grabs"], 0);
    assert_eq!(json["redpacket"]["conservation_ok"], true);
    assert_eq!(json["seckill"]["sold"], 20);
    assert_eq!(json["audit"]["lost_acked_writes"], 0);
    assert!(run_dir.join("audit.json").exists());

    // Remove one grant and one order behind the lab's back.
    let mut c = redis.conn();
    let _: String = redis::cmd("LPOP")
        .arg(format!("gs:{run_id}:rp:0:order"))
        .query(&mut c)
        .unwrap();
    let buyers: Vec<String> = redis::cmd("HKEYS")
        .arg(format!("gs:{run_id}:sk:0:orders"))
        .query(&mut c)
        .unwrap();
    let _: i64 = redis::cmd("HDEL")
        .arg(format!("gs:{run_id}:sk:0:orders"))
        .arg(&buyers[0])
        .query(&mut c)
        .unwrap();

    let (code, json, err) = audit(&run_dir, state.path());
    assert_eq!(code, 1, "a failed check exits 1: {err}");
    assert_eq!(json["redpacket"]["lost_acked_grabs"], 1);
    assert_eq!(json["redpacket"]["conservation_ok"], false);
    assert_eq!(json["seckill"]["lost_acked_sales"], 1);
    assert_eq!(json["audit"]["lost_acked_writes"], 2);
    let lost = json["audit"]["lost"].as_array().unwrap();
    assert_eq!(lost.len(), 2);
    assert!(lost.iter().any(|r| r["op"] == "seckill_sale"
        && r["user"].as_u64().map(|u| u.to_string()).as_deref() == Some(buyers[0].as_str())));
    assert_eq!(json["verdict"]["ok"], false);
}

#[test]
fn audit_of_a_directory_without_a_run_says_what_it_expected() {
    let state = state_dir();
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(grabstorm_bin())
        .arg("audit")
        .arg(empty.path())
        .env("GRABSTORM_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run.json"), "{err}");
    assert!(err.contains("grabstorm load"), "{err}");
}

/// `grabstorm` with the test's state dir; stdout parsed as JSON when it is.
pub(crate) fn cli(state: &Path, args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(grabstorm_bin())
        .args(args)
        .env("GRABSTORM_STATE_DIR", state)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs `grabstorm down` when the test ends, passed or not.
pub(crate) struct Down<'a>(pub(crate) &'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = cli(self.0, &["down"]);
    }
}

/// The master every sentinel names, with its host address, once they agree
/// and it answers as master (`status --json`, read from the nodes).
pub(crate) fn live_master(state: &Path) -> Option<(String, String)> {
    let (_, status, _) = cli(state, &["status", "--json"]);
    let nodes = status["nodes"].as_array()?;
    let named: Vec<&str> = nodes
        .iter()
        .filter(|n| n["kind"] == "sentinel")
        .map(|n| n["sentinel_master"].as_str().unwrap_or(""))
        .collect();
    let first = *named.first()?;
    if named.iter().any(|m| *m != first) {
        return None;
    }
    nodes.iter().find_map(|n| {
        (n["name"] == first && n["role"] == "master" && n["health"] == "up").then(|| {
            (
                first.to_string(),
                n["host_addr"].as_str().unwrap_or("").to_string(),
            )
        })
    })
}

/// Against a Sentinel topology, `audit DIR` finds the master through
/// Sentinel: after a failover it checks the promoted replica, which holds
/// every sale of the finished run, and still catches one removed from it.
#[test]
fn audit_after_a_failover_checks_the_master_sentinel_names() {
    let state = state_dir();
    let s = state.path();
    let run_dir = s.join("run");
    let (code, _, out) = cli(s, &["up", "--backend", "local", "--json"]);
    assert_eq!(code, 0, "{out}");
    let _down = Down(s);
    let (code, report, out) = cli(
        s,
        &[
            "load",
            "--attach",
            "--workload",
            "seckill",
            "--grabbers",
            "200",
            "--stock",
            "50",
            "--until-done",
            "--json",
            "--out",
        ]
        .iter()
        .copied()
        .chain([run_dir.to_str().unwrap()])
        .collect::<Vec<_>>(),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["seckill"]["sold"], 50, "{out}");
    let run_id = report["run_id"].as_str().unwrap().to_string();

    let (old, _) = live_master(s).expect("a master before the fault");
    let (code, _, out) = cli(s, &["fault", "segfault", "master"]);
    assert_eq!(code, 0, "{out}");
    // Before Sentinel has switched, it still names the dead master: the
    // audit says so instead of auditing nothing (Redis unreachable: 3).
    let (code, _, err) = audit(&run_dir, s);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("A failover may be under way"), "{err}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (new, new_addr) = loop {
        match live_master(s) {
            Some((name, addr)) if name != old => break (name, addr),
            _ if std::time::Instant::now() > deadline => {
                panic!("no failover from {old} within 30s")
            }
            _ => std::thread::sleep(Duration::from_millis(250)),
        }
    };

    let (code, json, err) = audit(&run_dir, s);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json["audit"]["checked_node"], new.as_str(), "{json}");
    assert_eq!(json["seckill"]["sold"], 50);
    assert_eq!(json["seckill"]["lost_acked_sales"], 0);

    // One sale removed from the new master is caught there.
    let mut c = redis::Client::open(crate::support::url_with(
        crate::support::password_in(s).as_deref(),
        &new_addr,
    ))
    .unwrap()
    .get_connection()
    .unwrap();
    let orders = format!("gs:{run_id}:sk:0:orders");
    let buyers: Vec<String> = redis::cmd("HKEYS").arg(&orders).query(&mut c).unwrap();
    let _: i64 = redis::cmd("HDEL")
        .arg(&orders)
        .arg(&buyers[0])
        .query(&mut c)
        .unwrap();
    let (code, json, err) = audit(&run_dir, s);
    assert_eq!(code, 1, "{err}");
    assert_eq!(json["seckill"]["lost_acked_sales"], 1, "{json}");
    assert_eq!(json["audit"]["checked_node"], new.as_str());
}
