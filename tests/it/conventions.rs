//! Tests: the conventions every command keeps. Exit statuses follow one
//! rule (2 bad usage or input, 3 the lab could not run, 1 a check failed);
//! shell completions and the man page come from the binary; bare
//! `grabstorm` takes the dashboard's flags; the time flags take durations;
//! a captured run's output holds no `\r` progress frames.

use crate::support::{grabstorm_bin, grabstorm_in, processes_under, state_dir, text};
use std::process::Command;

#[test]
fn bad_usage_or_input_exits_2_with_what_is_allowed() {
    let state = state_dir();
    let s = state.path();
    for args in [
        &["load", "--no-such-flag"][..],
        &["load", "--think", "5"],
        &["load", "--think", "5ms", "--think-ms", "5"],
        &["--replicas", "3", "status"],
        &["completions", "tcsh"],
    ] {
        let o = grabstorm_in(s, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
    }
    let o = grabstorm_in(s, &["load", "--lock-ttl", "100"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains(
            "invalid value '100' for '--lock-ttl <DURATION>': needs a unit, e.g. 100ms or 100s, and must be 1ms to 1h"
        ),
        "{}",
        text(&o.stderr)
    );
    let o = grabstorm_in(s, &["--replicas", "3", "status"]);
    assert!(
        text(&o.stderr).contains("--replicas before `status`"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        std::fs::read_dir(s).unwrap().count(),
        0,
        "usage started something"
    );
}

#[test]
fn a_command_without_a_running_topology_exits_3() {
    let state = state_dir();
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["fault", "segfault", "master"],
    ] {
        let o = grabstorm_in(state.path(), args);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("no running topology"),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
}

/// `status` prints what it sees, and exits 3 when no Redis node of the run
/// answers: the lab is down.
#[test]
fn status_exits_3_when_no_redis_node_answers() {
    let state = state_dir();
    let s = state.path();
    let up = grabstorm_in(
        s,
        &[
            "up",
            "--backend",
            "local",
            "--replicas",
            "0",
            "--sentinels",
            "1",
            "--quorum",
            "1",
        ],
    );
    assert!(up.status.success(), "{}", text(&up.stderr));
    let live = grabstorm_in(s, &["status"]);
    let killed = grabstorm_in(s, &["fault", "kill", "redis-1"]);
    let down = grabstorm_in(s, &["status"]);
    let down_json = grabstorm_in(s, &["status", "--json"]);
    let removed = grabstorm_in(s, &["down"]);
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    assert!(processes_under(s).is_empty());

    assert_eq!(live.status.code(), Some(0), "{}", text(&live.stderr));
    assert!(killed.status.success(), "{}", text(&killed.stderr));
    assert_eq!(down.status.code(), Some(3), "{}", text(&down.stderr));
    assert!(
        text(&down.stdout).contains("redis-1"),
        "{}",
        text(&down.stdout)
    );
    assert!(
        text(&down.stderr).contains("no Redis node of run"),
        "{}",
        text(&down.stderr)
    );
    assert_eq!(down_json.status.code(), Some(3));
    let json: serde_json::Value = serde_json::from_slice(&down_json.stdout).unwrap();
    assert_eq!(json["nodes"][0]["health"], "down", "{json}");
}

#[test]
fn completions_and_the_man_page_come_from_the_binary() {
    let state = state_dir();
    let bash = grabstorm_in(state.path(), &["completions", "bash"]);
    assert!(bash.status.success(), "{}", text(&bash.stderr));
    for sub in ["up", "load", "status", "fault", "run", "completions", "man"] {
        assert!(
            text(&bash.stdout).contains(&format!("grabstorm,{sub})")),
            "bash: no {sub}"
        );
    }
    let man = grabstorm_in(state.path(), &["man"]);
    assert!(man.status.success(), "{}", text(&man.stderr));
    let page = text(&man.stdout);
    assert!(
        page.lines().any(|l| l.starts_with(".TH grabstorm 1")),
        "{page}"
    );
    for sub in ["up", "load", "status", "fault", "run", "ring"] {
        assert!(
            page.contains(&format!("grabstorm\\-{sub}(1)")),
            "man: no {sub}"
        );
    }
    assert!(
        page.contains("Exit status"),
        "the exit statuses are in the page"
    );
}

/// `grabstorm --backend local --replicas 0 ...`: the dashboard's flags
/// reach the dashboard (which then needs a terminal this test has not).
#[test]
fn bare_grabstorm_takes_the_dashboard_flags() {
    let state = state_dir();
    let s = state.path();
    let help = grabstorm_in(s, &["--backend", "local", "--replicas", "3", "--help"]);
    assert!(help.status.success(), "{}", text(&help.stderr));
    assert!(
        text(&help.stdout).contains("`grabstorm` takes every flag\nof `grabstorm tui`"),
        "{}",
        text(&help.stdout)
    );
    let o = Command::new(grabstorm_bin())
        .arg("--state-dir")
        .arg(s)
        .args(["--backend", "local", "--replicas", "1", "--sentinels", "1"])
        .args(["--quorum", "1", "--grabbers", "10", "--think", "5ms"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(
        err.contains("starting the topology (1 replicas, 1 sentinels) and 10 grabbers"),
        "{err}"
    );
    assert!(!o.status.success(), "no terminal, no dashboard: {err}");
    assert!(processes_under(s).is_empty(), "{err}");
}

/// A load whose output is captured (as in CI) prints plain progress lines:
/// no `\r` frames anywhere; the time flags in their duration forms.
#[test]
fn captured_output_has_no_carriage_returns() {
    let state = state_dir();
    let o = grabstorm_in(
        state.path(),
        &[
            "load",
            "--backend",
            "local",
            "--replicas",
            "1",
            "--sentinels",
            "1",
            "--quorum",
            "1",
            "--down-after",
            "1s",
            "--workload",
            "redpacket",
            "--grabbers",
            "20",
            "--think",
            "2ms",
            "--duration",
            "11s",
            "--settle",
            "10s",
        ],
    );
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains('\r') && !out.contains('\r'), "{err:?}");
    // After 10 s, one plain progress line (of the latest snapshot).
    let progress: Vec<&str> = err.lines().filter(|l| l.contains(" ops/s ")).collect();
    assert_eq!(progress.len(), 1, "{err}");
    assert!(
        progress[0].starts_with("[   9.") || progress[0].starts_with("[  10."),
        "{err}"
    );
    assert!(processes_under(state.path()).is_empty());
}

/// `grabstorm man | head -1`: a reader that stops early ends a command that
/// only prints quietly (SIGPIPE, as `cat`), never with a panic.
#[test]
fn a_printing_command_ends_quietly_when_its_reader_stops() {
    use std::os::unix::process::ExitStatusExt;
    for args in [
        &["man"][..],
        &["completions", "bash"],
        &["scenarios", "show", "classroom-demo"],
    ] {
        let mut child = Command::new(grabstorm_bin())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the first line is written.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = text(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {:?} {err}",
            out.status
        );
    }
}
