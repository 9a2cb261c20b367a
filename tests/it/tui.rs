//! Tests: the dashboard end to end, in a real terminal (tmux) against a
//! real local topology: start `grabstorm tui --backend local` at 120x40,
//! wait for the master, press `s`, watch the timeline announce the switch
//! and the topology show a new master, press `q`, read the audit on the end
//! screen, press `q` again, and check the exit
//! status, the restored terminal (summary printed, no alternate screen) and
//! that no Redis process of the run is left. The rendered states themselves
//! are insta snapshots in `src/tui/snapshots/`.

use crate::support::{grabstorm_bin, processes_under, state_dir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A private tmux server (its own socket), killed on drop with whatever it
/// runs; the run's leftovers are removed with `grabstorm down --all`.
pub(crate) struct Tmux {
    pub(crate) socket: String,
    pub(crate) state: PathBuf,
}

impl Tmux {
    pub(crate) fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux must be installed")
    }

    /// Starts `grabstorm --state-dir STATE ARGS` in a `cols`x`rows`
    /// session of a private tmux server named after `name`. The shell stays
    /// after grabstorm exits, so the pane still shows what it printed after
    /// restoring the terminal, and writes grabstorm's exit status to the
    /// file returned (see [`exit_status`]).
    fn start_grabstorm(
        name: &str,
        state: &Path,
        args: &str,
        cols: u16,
        rows: u16,
    ) -> (Tmux, PathBuf) {
        let exit_file = state.join("exit-status");
        let tmux = Tmux {
            socket: format!("grabstorm-it-{name}-{}", std::process::id()),
            state: state.to_path_buf(),
        };
        let script = format!(
            "{bin} --state-dir {dir} {args}; echo $? > {exit}; sleep 120",
            bin = grabstorm_bin().display(),
            dir = state.display(),
            exit = exit_file.display(),
        );
        let (cols, rows) = (cols.to_string(), rows.to_string());
        let out = tmux.tmux(&[
            "new-session",
            "-d",
            "-s",
            "gs",
            "-x",
            &cols,
            "-y",
            &rows,
            "sh",
            "-c",
            &script,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        (tmux, exit_file)
    }

    fn capture(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", "gs"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        let out = self.tmux(&["send-keys", "-t", "gs", keys]);
        assert!(out.status.success(), "send-keys {keys}: {out:?}");
    }

    fn alternate_screen(&self) -> bool {
        let out = self.tmux(&["display-message", "-p", "-t", "gs", "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Polls the screen until `pred` holds; panics with the screen after `timeout`.
    pub(crate) fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {timeout:?} for {what}; the screen shows:\n{screen}\nlog:\n{}",
                log_tail(&self.state)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
        let _ = Command::new(grabstorm_bin())
            .arg("--state-dir")
            .arg(&self.state)
            .args(["down", "--all", "--backend", "local"])
            .output();
    }
}

fn log_tail(state: &Path) -> String {
    let log = std::fs::read_to_string(state.join("grabstorm.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Waits (at most 120 s) for the exit status the wrapped grabstorm writes
/// to `exit_file` once it is gone; fails with the screen and the log.
fn exit_status(tmux: &Tmux, exit_file: &Path, state: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(s) = std::fs::read_to_string(exit_file) {
            return s.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "grabstorm did not exit within 120s of q; screen:\n{}\nlog:\n{}",
            tmux.capture(),
            log_tail(state)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The node the topology panel marks `▲ MASTER`, if exactly one.
pub(crate) fn master_on_screen(screen: &str) -> Option<String> {
    let masters: Vec<String> = screen
        .lines()
        .filter(|l| l.contains("▲ MASTER") && !l.contains("· replica"))
        .filter_map(|l| {
            let before = &l[..l.find("▲ MASTER")?];
            before
                .split(|c: char| c.is_whitespace() || c == '│' || c == '▶')
                .rfind(|w| !w.is_empty())
                .map(str::to_string)
        })
        .filter(|n| n.starts_with("redis-"))
        .collect();
    (masters.len() == 1).then(|| masters[0].clone())
}

#[test]
fn segfault_in_the_dashboard_fails_over_and_q_leaves_a_clean_terminal() {
    let state = state_dir();
    let (tmux, exit_file) = Tmux::start_grabstorm(
        "dashboard",
        state.path(),
        "tui --backend local --grabbers 200 --seed 7",
        120,
        40,
    );

    let screen = tmux.wait_for(
        "the master in the topology panel",
        Duration::from_secs(60),
        |s| master_on_screen(s).is_some() && s.contains("ops/s"),
    );
    let first = master_on_screen(&screen).unwrap();
    assert!(
        tmux.alternate_screen(),
        "the dashboard uses the alternate screen"
    );

    tmux.keys("s");
    let screen = tmux.wait_for(
        "+switch-master in the timeline and a new master in the topology",
        Duration::from_secs(60),
        |s| s.contains("(+switch-master)") && master_on_screen(s).is_some_and(|m| m != first),
    );
    let second = master_on_screen(&screen).unwrap();
    assert_ne!(first, second);
    assert!(
        screen.contains(&format!("fault injected: segfault on {first}"))
            || screen.contains("segfault"),
        "the fault shows on screen:\n{screen}"
    );

    tmux.keys("q");
    // The audit runs, then the end screen shows its word until q.
    let screen = tmux.wait_for(
        "the end screen with the audit",
        Duration::from_secs(120),
        |s| s.contains("┌ Audit ") && s.contains("the run is over"),
    );
    assert!(
        screen.contains("audit ✓ checked") || screen.contains("audit ? NOT CHECKED"),
        "the end screen says whether Redis was checked:\n{screen}"
    );
    tmux.keys("q");
    let status = exit_status(&tmux, &exit_file, state.path());
    let screen = tmux.capture();
    assert_eq!(status, "0", "exit status; screen:\n{screen}");
    assert!(
        !tmux.alternate_screen(),
        "terminal left in the alternate screen"
    );
    assert!(
        screen.contains("The topology was removed."),
        "the summary paragraph is printed on the restored terminal:\n{screen}"
    );
    assert!(screen.contains("report: "), "{screen}");
    let left = processes_under(state.path());
    assert!(left.is_empty(), "processes of the run left: {left:?}");
}

/// A plain command on a node of the running topology (a fresh connection).
fn plain<T: redis::FromRedisValue>(state: &Path, node: &str, cmd: &redis::Cmd) -> T {
    let t = grabstorm::topology::state::load(state).unwrap();
    let addr = t.node(node).unwrap().host_addr;
    let client =
        redis::Client::open(crate::support::url_with(t.password.as_deref(), addr)).unwrap();
    let mut c = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    cmd.query(&mut c).unwrap_or_else(|e| panic!("{node}: {e}"))
}

/// The first line of the cluster panel's shard `k` (`│ 1 ███...`) and the
/// line under it (its nodes).
fn shard_lines(screen: &str, k: usize) -> (String, String) {
    let lines: Vec<&str> = screen.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with(&format!("│ {k} ")))
        .unwrap_or_else(|| panic!("no row of shard {k}:\n{screen}"));
    (lines[at].to_string(), lines[at + 1].to_string())
}

/// Cluster mode end to end: the cluster panel shows the shards of a real
/// local cluster; Tab selects shard 1's replica, `f` sends it CLUSTER
/// FAILOVER, and the panel follows the promotion (the replica master of
/// shard 1, the election's epoch), recounted with ROLE and CLUSTER INFO.
#[test]
fn cluster_panel_follows_a_failover_sent_with_tab_and_f() {
    let state = state_dir();
    let (tmux, exit_file) = Tmux::start_grabstorm(
        "cluster",
        state.path(),
        "tui --backend local --mode cluster --grabbers 200 --seed 7",
        120,
        40,
    );
    let screen = tmux.wait_for(
        "the cluster panel with three shards serving",
        Duration::from_secs(60),
        |s| s.contains("✓ cluster_state ok") && s.contains("│ 3 ") && s.contains("ops/s"),
    );
    for (k, master, replica) in [
        (1, "redis-1", "redis-4"),
        (2, "redis-2", "redis-5"),
        (3, "redis-3", "redis-6"),
    ] {
        let (bar, nodes) = shard_lines(&screen, k);
        assert!(nodes.contains(&format!("▲ {master} ✓ up")), "{screen}");
        assert!(nodes.contains(&format!("· {replica} ✓ up")), "{screen}");
        assert!(bar.contains('█'), "{screen}");
    }
    let (bar, _) = shard_lines(&screen, 1);
    assert!(bar.contains("0–5461"), "{screen}");
    let epoch: String = plain(state.path(), "redis-1", redis::cmd("CLUSTER").arg("INFO"));
    assert!(epoch.contains("cluster_current_epoch:6"), "{epoch}");
    assert!(screen.contains("cluster_state ok · epoch 6"), "{screen}");

    tmux.keys("Tab");
    tmux.keys("Tab");
    tmux.wait_for("redis-4 selected", Duration::from_secs(10), |s| {
        s.contains("target redis-4") && s.contains("▶· redis-4")
    });
    tmux.keys("f");
    let screen = tmux.wait_for(
        "redis-4 master of shard 1 in the panel",
        Duration::from_secs(30),
        |s| {
            let (bar, nodes) = shard_lines(s, 1);
            nodes.contains("▲ redis-4") && nodes.contains("· redis-1") && bar.contains("epoch 7")
        },
    );
    assert!(screen.contains("won the election in epoch 7"), "{screen}");
    let role: Vec<redis::Value> = plain(state.path(), "redis-4", &redis::cmd("ROLE"));
    assert_eq!(
        role.first(),
        Some(&redis::Value::BulkString(b"master".to_vec())),
        "{role:?}"
    );
    let info: String = plain(state.path(), "redis-2", redis::cmd("CLUSTER").arg("INFO"));
    assert!(info.contains("cluster_current_epoch:7"), "{info}");

    tmux.keys("q");
    tmux.wait_for("the end screen", Duration::from_secs(120), |s| {
        s.contains("the run is over")
    });
    tmux.keys("q");
    let status = exit_status(&tmux, &exit_file, state.path());
    assert_eq!(status, "0");
    let left = processes_under(state.path());
    assert!(left.is_empty(), "processes of the run left: {left:?}");
}

/// The quality bar's numbers: frames/s with 10,000 grabbers and the
/// throughput the dashboard costs against the same run headless. Heavy
/// (three 10 s runs of 10,000 grabbers), so run by hand:
/// `cargo test --release --test it tui::dashboard_cost -- --ignored --nocapture`.
#[test]
#[ignore]
fn dashboard_cost_with_10000_grabbers() {
    use grabstorm::lab::{LabConfig, LabTarget};
    let redis = crate::support::StandaloneRedis::start();
    let state = state_dir();
    let config = LabConfig {
        target: LabTarget::Fixed(redis.addr),
        state_dir: state.path().to_path_buf(),
        grabbers: 10_000,
        duration: Some(Duration::from_secs(10)),
        seed: 11,
        ..LabConfig::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cost = rt
        .block_on(grabstorm::tui::bench::dashboard_cost(config, 120, 40, 25))
        .unwrap();
    eprintln!(
        "headless {:.0} ops/s, with dashboard {:.0} ops/s (cost {:.1}%), {:.1} frames/s, {:?} per frame",
        cost.headless_ops_per_s,
        cost.dashboard_ops_per_s,
        cost.cost_percent(),
        cost.frames_per_s,
        cost.mean_frame
    );
    assert!(cost.headless_ops_per_s > 0.0);
    assert!(cost.frames_per_s >= 20.0, "{cost:?}");
}

/// The scenario [`a_lesson_keeps_its_note_up_and_the_teacher_drives_the_clock`]
/// plays: a note at 1 s; a crash at 6 s with its note and a wait for the
/// switch with its own; then notes at 20 s, 24 s and 27 s of the run's
/// clock. The test reaches the crash and the 20 s note early with `n` and
/// holds the 24 s one back with Space.
const LESSON: &str = r#"
title = "Lesson test"
teaches = "TEACHES-LINE: what a crash costs"
seed = 11
duration = "30s"

[topology]
replicas = 2
sentinels = 3
quorum = 2
down_after = "1s"

[workload]
kind = "redpacket"
grabbers = 50
mode = "atomic"
client = "sentinel"

[[step]]
at = "1s"
note = "NOTE-ONE: three sentinels watch the master."

[[step]]
at = "6s"
fault = "segfault"
target = "master"
note = "NOTE-CRASH: the master crashes; watch the phases."

[[step]]
at = "6s"
wait_for = "+switch-master"
timeout = "20s"
note = "NOTE-PROMOTED: a replica took over."

[[step]]
at = "20s"
note = "NOTE-NEXT: played early with n."

[[step]]
at = "24s"
note = "NOTE-HELD-BACK: not while the clock is stopped."
question = "How long were writes failing?"
answer = "write_outage"

[[step]]
at = "27s"
note = "NOTE-END: the last step."
"#;

#[test]
fn a_lesson_keeps_its_note_up_and_the_teacher_drives_the_clock() {
    let state = state_dir();
    let file = state.path().join("lesson.toml");
    std::fs::write(&file, LESSON).unwrap();
    let (tmux, exit_file) = Tmux::start_grabstorm(
        "lesson",
        state.path(),
        &format!("run {} --lesson --backend local", file.display()),
        100,
        30,
    );

    let screen = tmux.wait_for("the first note", Duration::from_secs(60), |s| {
        s.contains("» NOTE-ONE")
    });
    let first_note = Instant::now();
    assert!(screen.contains("┌ Lesson: Lesson test"), "{screen}");

    // n plays the crash now, before its 6 s.
    tmux.keys("n");
    // The crash's note stays in the lesson panel while the failover's
    // events pour into the timeline, until the switch its wait expects.
    let screen = tmux.wait_for(
        "+sdown lit on the phase strip",
        Duration::from_secs(30),
        |s| s.contains("[x] +sdown"),
    );
    assert!(
        screen.contains("» NOTE-CRASH: the master crashes")
            || screen.contains("[x] +switch-master"),
        "the crash's note stays up until the switch:\n{screen}"
    );
    // The wait for the switch counts from when its step played, though
    // the clock jumped there: its note comes with the switch.
    let screen = tmux.wait_for(
        "the wait's note once the switch came",
        Duration::from_secs(30),
        |s| s.contains("» NOTE-PROMOTED"),
    );
    assert!(screen.contains("[x] +switch-master"), "{screen}");
    assert!(screen.contains("[x] +odown"), "{screen}");
    assert!(screen.contains("key events of"), "{screen}");
    assert!(
        !screen.contains("+failover-state"),
        "sub-steps are hidden in lesson mode:\n{screen}"
    );

    // n plays the next step now, long before its 20 s.
    tmux.keys("n");
    let screen = tmux.wait_for("the next step played by n", Duration::from_secs(10), |s| {
        s.contains("» NOTE-NEXT")
    });
    assert!(
        first_note.elapsed() < Duration::from_secs(17),
        "n played the 20 s step {:?} after the 1 s one",
        first_note.elapsed()
    );
    assert!(screen.contains("next: a note in "), "{screen}");

    // Space stops the clock: the 24 s step does not fire while it is stopped.
    tmux.keys("Space");
    tmux.wait_for("the clock stopped", Duration::from_secs(5), |s| {
        s.contains("‖ PAUSED: clock stopped, Space to go on")
    });
    std::thread::sleep(Duration::from_secs(6));
    let screen = tmux.capture();
    assert!(
        !screen.contains("NOTE-HELD-BACK") && screen.contains("» NOTE-NEXT"),
        "a step fired while the clock was stopped:\n{screen}"
    );
    assert!(screen.contains("‖ PAUSED"), "{screen}");
    tmux.keys("Space");
    tmux.wait_for(
        "the held-back step, once the clock runs again",
        Duration::from_secs(10),
        |s| s.contains("» NOTE-HELD-BACK"),
    );

    tmux.keys("q");
    let screen = tmux.wait_for(
        "the end screen with the lesson's questions",
        Duration::from_secs(120),
        |s| s.contains("the run is over"),
    );
    assert!(
        screen.contains("? How long were writes failing?"),
        "the end screen answers the lesson's questions:\n{screen}"
    );
    tmux.keys("q");
    let status = exit_status(&tmux, &exit_file, state.path());
    let screen = tmux.capture();
    assert_eq!(status, "0", "exit status; screen:\n{screen}");
    assert!(
        !tmux.alternate_screen(),
        "terminal left in the alternate screen"
    );
    let left = processes_under(state.path());
    assert!(left.is_empty(), "processes of the run left: {left:?}");
}
