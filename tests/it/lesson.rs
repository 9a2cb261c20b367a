//! Lesson mode's clock, below the dashboard: a scenario's steps count in
//! the run's clock, which a teacher stops (no step fires, the run's end
//! moves with it), jumps to the next step (`n`), or holds at every step
//! (`--step`). Played on a standalone Redis, with the lab's own controls.

use crate::support::{state_dir, StandaloneRedis};
use grabstorm::lab::{Control, Lab, LabTarget};
use grabstorm::metrics::{Event, EventKind};
use grabstorm::scenario::runner::{self, RunOptions};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

const SCENARIO: &str = r#"
title = "clock"
teaches = "steps follow the run's clock"
duration = "20s"
[workload]
kind = "seckill"
grabbers = 20
[[step]]
at = "1s"
note = "first"
[[step]]
at = "4s"
note = "second"
question = "How many sales?"
answer = "sold"
[[step]]
at = "15s"
note = "third"
"#;

/// The next scenario note on the bus, within `within`.
async fn next_note(rx: &mut broadcast::Receiver<Event>, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Ok(Event {
                kind: EventKind::Note { text },
                source,
                ..
            })) if source == "scenario" => return Some(text),
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(_)) | Err(_) => return None,
        }
    }
}

fn options(state: &std::path::Path, step_by_step: bool) -> RunOptions {
    RunOptions {
        state_dir: state.to_path_buf(),
        out_dir: Some(state.join("out")),
        seed: Some(3),
        backend: None,
        image: None,
        narrate: false,
        shutdown: Default::default(),
        keep: false,
        no_hash_tags: false,
        metrics: None,
        command_line: Vec::new(),
        external: None,
        key_prefix: None,
        lesson: true,
        step_by_step,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_clock_holds_the_steps_back_and_n_plays_the_next_one_now() {
    let redis = StandaloneRedis::start();
    let state = state_dir();
    let s = grabstorm::scenario::parse_str(SCENARIO, "clock.toml").unwrap();
    let mut config = runner::lab_config(&s, &options(state.path(), false), Default::default());
    config.target = LabTarget::Fixed(redis.addr);
    let lab = Lab::start(config).await.unwrap();
    let mut notes = lab.bus().subscribe();
    let handle = lab.handle();
    let teacher = async {
        assert_eq!(
            next_note(&mut notes, Duration::from_secs(5))
                .await
                .as_deref(),
            Some("first")
        );
        // Stopped before the second step is due: it does not fire, even
        // well past its time on the wall clock.
        handle.control(Control::PauseClock(true)).await.unwrap();
        let stopped_at = lab.clock().now();
        assert!(stopped_at < Duration::from_secs(4), "{stopped_at:?}");
        assert_eq!(next_note(&mut notes, Duration::from_secs(5)).await, None);
        assert_eq!(lab.clock().now(), stopped_at, "the clock stood still");
        let snap = lab.snapshots().borrow().clone();
        assert!(
            snap.clock.paused && snap.load.paused,
            "{:?} {:?}",
            snap.clock,
            snap.load
        );
        // Going on: the step fires within what was left of its wait.
        handle.control(Control::PauseClock(false)).await.unwrap();
        let left = Duration::from_secs(4) - stopped_at;
        let t = Instant::now();
        assert_eq!(
            next_note(&mut notes, left + Duration::from_secs(2))
                .await
                .as_deref(),
            Some("second")
        );
        assert!(
            t.elapsed() + Duration::from_millis(200) >= left,
            "not before its time"
        );
        // `n`: the third step (due at 15 s) plays now, and the clock jumps there.
        handle.control(Control::NextStep).await.unwrap();
        assert_eq!(
            next_note(&mut notes, Duration::from_secs(2))
                .await
                .as_deref(),
            Some("third")
        );
        assert!(lab.clock().now() >= Duration::from_secs(15));
    };
    let driver = runner::drive(&lab, &s, false, false);
    let (failures, ()) = tokio::join!(driver, teacher);
    assert!(failures.is_empty(), "{failures:?}");
    // The run ended by its clock (20 s of clock time), well before 20 s of
    // wall time plus the 5 s it was stopped.
    let done = runner::finish(lab, &s, failures, false).await.unwrap();
    let q = &done.report.questions;
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].measure, "sold");
    assert!(q[0].known);
    // The answer is the report's own figure, which the audit recounted.
    let sold = done.report.seckill.as_ref().unwrap().sold;
    assert_eq!(q[0].answer, sold.to_string());
    assert!(std::fs::read_to_string(done.out_dir.join("report.md"))
        .unwrap()
        .contains("**How many sales?**"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_by_step_holds_each_step_until_n() {
    let redis = StandaloneRedis::start();
    let state = state_dir();
    let s = grabstorm::scenario::parse_str(SCENARIO, "clock.toml").unwrap();
    let mut config = runner::lab_config(&s, &options(state.path(), true), Default::default());
    config.target = LabTarget::Fixed(redis.addr);
    let lab = Lab::start(config).await.unwrap();
    let mut notes = lab.bus().subscribe();
    let handle = lab.handle();
    let teacher = async {
        // At 1 s the clock holds and says the step waits.
        let waits = next_note(&mut notes, Duration::from_secs(5)).await.unwrap();
        assert!(waits.starts_with("step 1 of 3 waits"), "{waits}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let snap = lab.snapshots().borrow().clone();
        assert!(snap.clock.held, "{:?}", snap.clock);
        assert_eq!(snap.clock.held_step, Some(0), "held at the first step");
        assert!(
            lab.clock().now() < Duration::from_millis(1500),
            "held at the step"
        );
        handle.control(Control::NextStep).await.unwrap();
        assert_eq!(
            next_note(&mut notes, Duration::from_secs(2))
                .await
                .as_deref(),
            Some("first")
        );
        handle.control(Control::Stop).await.unwrap();
    };
    let driver = runner::drive(&lab, &s, false, true);
    let (failures, ()) = tokio::join!(driver, teacher);
    assert!(failures.is_empty(), "{failures:?}");
    lab.finish().await.unwrap();
}
