//! The scenario runner: plays a [`Scenario`]'s timeline against a running
//! [`Lab`] and turns the finished run into a verdict and reports.
//!
//! At each step's `at` (time since the lab started) it narrates the step on
//! the event bus (the dashboard's timeline and report.md show it), then
//! sends the step's [`Control`] or waits for an event from
//! `lab.bus().subscribe()`. The load ends at the scenario's `duration` (or
//! a `stop` step); then `lab.finish()` audits and builds the [`Report`], the
//! expectations are evaluated against it, and report.json, report.md and
//! the charts are written to the output directory. Headless runs print the
//! story on stdout; with the dashboard, H5's TUI renders the same lab.

use super::expect::{self, ExpectationVerdict};
use super::measure;
use super::model::{Action, Scenario};
use crate::faults::FaultKind;
use crate::lab::{Control, Lab, LabConfig, LabTarget};
use crate::metrics::event::{Event, EventBus, EventKind};
use crate::metrics::timeline::{explain, NoNames};
use crate::report::endpoint::LoopbackAddr;
use crate::report::model::{Report, Script, ScriptStep};
use crate::shutdown::Shutdown;
use crate::topology::select::{BackendChoice, BackendSelection};
use crate::topology::Topology;
use crate::words::{duration, secs};
use crate::workload::lock::LockConfig;
use crate::workload::redpacket::RedPacketConfig;
use crate::workload::seckill::SeckillConfig;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// How to run a scenario: overrides from the command line and where to write.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub state_dir: PathBuf,
    /// Where the reports go (None: the run directory in the state dir).
    pub out_dir: Option<PathBuf>,
    /// Replaces the scenario's seed.
    pub seed: Option<u64>,
    /// Replaces the scenario's backend.
    pub backend: Option<BackendChoice>,
    pub image: Option<String>,
    /// Print the story on stdout while it plays (headless runs).
    pub narrate: bool,
    /// Stops the run on a signal (a second one skips the audit).
    pub shutdown: Shutdown,
    /// Leave the topology running after the run (removed by `grabstorm down`).
    pub keep: bool,
    /// Key names without hash tags whatever the scenario says (the
    /// CROSSSLOT demo on a cluster).
    pub no_hash_tags: bool,
    /// Serve the run's OpenMetrics exposition here while it lasts.
    pub metrics: Option<LoopbackAddr>,
    /// The command line, for the report's `meta`.
    pub command_line: Vec<String>,
    /// Play the scenario on a topology grabstorm did not start
    /// (`--sentinel`, `--cluster`) instead of the one the file describes.
    pub external: Option<crate::topology::external::ExternalTarget>,
    /// The prefix of the run's keys (None: `gs`).
    pub key_prefix: Option<String>,
    /// Lesson mode (`--lesson`): a class follows the run, and the teacher
    /// may stop its clock for as long as it takes.
    pub lesson: bool,
    /// `--step`: every step waits for `n` once its time comes.
    pub step_by_step: bool,
}

/// Why a scenario could not be played here (exit status 2), as opposed to
/// a lab that could not run (3) or a run whose expectations failed (1).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Environment(String),
}

/// A finished scenario run.
pub struct Finished {
    pub report: Report,
    pub out_dir: PathBuf,
    /// Files written: report.json, report.md, the charts.
    pub files: Vec<PathBuf>,
}

impl Finished {
    /// True when every expectation held.
    pub fn passed(&self) -> bool {
        self.report.expectations.iter().all(|e| e.ok)
    }
}

/// The lab configuration to play `s` with `opts`: on the backend
/// [`resolve_backend`] picks, or on the attached topology, once the
/// scenario's faults are known to be possible there.
pub fn prepare(s: &Scenario, opts: &RunOptions) -> Result<LabConfig, RunError> {
    let Some(ext) = &opts.external else {
        let backend = resolve_backend(s, opts.backend)?;
        return Ok(lab_config(s, opts, backend));
    };
    if ext.mode != s.topology.mode {
        return Err(RunError::Environment(format!(
            "{} is a {} scenario, and the topology attached with --{} is not",
            s.file,
            s.topology.mode,
            match ext.mode {
                crate::topology::HaMode::Sentinel => "sentinel",
                crate::topology::HaMode::Cluster => "cluster",
            }
        )));
    }
    let mut c = lab_config(s, opts, BackendChoice::Auto);
    c.target = LabTarget::External(ext.clone());
    c.target
        .check_faults(&planned_faults(s))
        .map_err(|e| RunError::Environment(format!("{}: {e}", s.file)))?;
    Ok(c)
}

/// The scenario's fault steps, as the lab schedules faults.
fn planned_faults(s: &Scenario) -> Vec<crate::faults::ScheduledFault> {
    s.steps
        .iter()
        .filter_map(|st| match &st.action {
            Action::Fault(f) => Some(crate::faults::ScheduledFault {
                at: st.at,
                fault: f.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The backend a scenario runs on: the command line's, else the file's;
/// a scenario that partitions needs Docker.
pub fn resolve_backend(
    s: &Scenario,
    cli: Option<BackendChoice>,
) -> Result<BackendChoice, RunError> {
    let partitions = s
        .steps
        .iter()
        .any(|st| matches!(&st.action, Action::Fault(f) if f.kind == FaultKind::Partition));
    let choice = cli.unwrap_or(s.backend);
    // A fault the topology cannot have (replica-9 of two) is refused before anything starts.
    let planned = planned_faults(s);
    let kind = match choice {
        BackendChoice::Local if !partitions => Some(crate::topology::BackendKind::Local),
        BackendChoice::Docker => Some(crate::topology::BackendKind::Docker),
        _ => None,
    };
    crate::faults::check_plan(&planned, &s.topology, kind)
        .map_err(|e| RunError::Environment(format!("{}: {e}", s.file)))?;
    match (partitions, choice) {
        (true, BackendChoice::Local) => Err(RunError::Environment(format!(
            "{} partitions nodes, which needs the Docker backend; it cannot run with --backend local",
            s.file
        ))),
        (true, BackendChoice::Auto) => Ok(BackendChoice::Docker),
        (_, c) => Ok(c),
    }
}

/// The lab configuration a scenario asks for.
pub fn lab_config(s: &Scenario, opts: &RunOptions, backend: BackendChoice) -> LabConfig {
    let w = &s.workload;
    let defaults = LabConfig::default();
    let mut redpacket = RedPacketConfig {
        mode: w.mode,
        ..RedPacketConfig::default()
    };
    if let Some(n) = w.packets {
        redpacket.packets = n;
    }
    if let Some(c) = w.packet_amount_cents {
        redpacket.total_cents = c;
    }
    if let Some(n) = w.packet_count {
        redpacket.count = n;
    }
    let mut seckill = SeckillConfig {
        mode: w.mode,
        ..SeckillConfig::default()
    };
    if let Some(n) = w.stock {
        seckill.stock = n;
    }
    if let Some(n) = w.items {
        seckill.items = n;
    }
    if let Some(d) = w.naive_delay {
        redpacket.naive_delay_ms = d.as_millis() as u64;
        seckill.naive_delay_ms = d.as_millis() as u64;
    }
    let mut locks = LockConfig::default();
    if !w.locks.is_empty() {
        locks.kinds = w.locks.clone();
    }
    if let Some(k) = w.lock_keys {
        locks.keys = k as usize;
    }
    if let Some(t) = w.lock_ttl {
        locks.ttl_ms = (t.as_millis() as u64).max(1);
    }
    if let Some(h) = w.lock_hold {
        locks.hold_ms = h.as_millis() as u64;
    }
    if let Some(n) = w.lock_die_between {
        locks.die_between = n;
    }
    // Field by field on the defaults, so a field the lab gains later keeps
    // its default here.
    let mut c = defaults;
    c.target = LabTarget::Start {
        backend: BackendSelection {
            choice: backend,
            image: opts.image.clone(),
        },
        spec: s.topology.clone(),
        keep: opts.keep,
        save_state: true,
    };
    c.state_dir = opts.state_dir.clone();
    c.out_dir = opts.out_dir.clone();
    c.shutdown = opts.shutdown.clone();
    c.metrics = opts.metrics;
    c.command_line = opts.command_line.clone();
    c.workload = w.kind;
    c.grabbers = w.grabbers;
    c.users = w.users.unwrap_or(0);
    if let Some(n) = w.connections {
        c.connections = n;
    }
    c.seed = opts.seed.unwrap_or(s.seed);
    c.duration = Some(s.duration);
    c.until_done = w.until_done;
    // A scenario never outlives its duration by much: the settle and the
    // audit come after the load.
    c.hard_cap = if opts.lesson || opts.step_by_step {
        // A class may stop the clock for a long talk: an hour at most.
        s.duration + Duration::from_secs(3600)
    } else {
        s.duration + Duration::from_secs(5)
    };
    c.think = w.think.unwrap_or(Duration::ZERO);
    c.redpacket = redpacket;
    c.seckill = seckill;
    c.locks = locks;
    c.client = w.client;
    c.hash_tags = if opts.no_hash_tags {
        Some(false)
    } else {
        w.hash_tags
    };
    c.key_prefix = opts.key_prefix.clone();
    c.faults = Vec::new();
    c.settle_timeout = s.settle;
    c
}

/// The `type` name of a lab event, as `wait_for` spells it.
fn event_type(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::FaultInjected { .. } => "fault_injected",
        EventKind::FaultHealed { .. } => "fault_healed",
        EventKind::Sentinel { .. } => "sentinel",
        EventKind::NodeStarted { .. } => "node_started",
        EventKind::NodeStopped { .. } => "node_stopped",
        EventKind::ClientRerouted { .. } => "client_rerouted",
        EventKind::WritesRecovered { .. } => "writes_recovered",
        EventKind::LoadChanged { .. } => "load_changed",
        EventKind::LockViolation { .. } => "lock_violation",
        EventKind::ClusterFlagged { .. } => "cluster_flagged",
        EventKind::ClusterPromoted { .. } => "cluster_promoted",
        EventKind::ClusterState { .. } => "cluster_state",
        EventKind::ClusterRejoined { .. } => "cluster_rejoined",
        EventKind::ReshardStarted { .. } => "reshard_started",
        EventKind::ReshardProgress { .. } => "reshard_progress",
        EventKind::ReshardEnded { .. } => "reshard_ended",
        EventKind::ScaleStarted { .. } => "scale_started",
        EventKind::ScaleProgress { .. } => "scale_progress",
        EventKind::ScaleEnded { .. } => "scale_ended",
        EventKind::Note { .. } => "note",
    }
}

/// Whether `e` is the event a `wait_for` names.
pub fn matches_event(e: &Event, wanted: &str) -> bool {
    match &e.kind {
        EventKind::Sentinel { name, .. } => name == wanted,
        kind => event_type(kind) == wanted,
    }
}

/// Waits for an event named `wanted` stamped at or after `since_ms`, at
/// most until `deadline`. Looks at the log first, so an event that came
/// before the wait started (but after the step's time) counts.
async fn wait_event(
    bus: &EventBus,
    rx: &mut broadcast::Receiver<Event>,
    wanted: &str,
    since_ms: u64,
    deadline: Instant,
) -> Option<Event> {
    let in_log = |bus: &EventBus| {
        bus.all()
            .into_iter()
            .find(|e| e.at_ms >= since_ms && matches_event(e, wanted))
    };
    if let Some(e) = in_log(bus) {
        return Some(e);
    }
    loop {
        match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
            Err(_) => return None,
            Ok(Ok(e)) => {
                if e.at_ms >= since_ms && matches_event(&e, wanted) {
                    return Some(e);
                }
            }
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                if let Some(e) = in_log(bus) {
                    return Some(e);
                }
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => return None,
        }
    }
}

/// Prints the story of a headless run: steps, faults, the Sentinel events
/// that matter (once, not once per sentinel) and the client's recoveries.
struct Narrator {
    enabled: bool,
    topology: Option<Topology>,
    told: Vec<(String, u64)>,
    violations: u64,
}

impl Narrator {
    fn line(&self, at_ms: u64, text: &str) {
        if self.enabled {
            println!("{:>8}  {text}", secs(at_ms));
        }
    }

    fn event(&mut self, e: &Event) {
        if !self.enabled {
            return;
        }
        let tell = match &e.kind {
            EventKind::Sentinel { name, .. } => {
                matches!(
                    name.as_str(),
                    "+sdown"
                        | "+odown"
                        | "+elected-leader"
                        | "+switch-master"
                        | "+convert-to-slave"
                        | "+tilt"
                ) && {
                    let key = format!("{name} {}", e.source.is_empty());
                    let fresh = !self
                        .told
                        .iter()
                        .any(|(k, at)| *k == key && e.at_ms.saturating_sub(*at) < 2000);
                    if fresh {
                        self.told.push((key, e.at_ms));
                    }
                    fresh
                }
            }
            EventKind::LockViolation { .. } => {
                self.violations += 1;
                self.violations <= 3
            }
            // Step notes are printed by the player itself.
            EventKind::Note { .. } => e.source != "scenario",
            EventKind::LoadChanged { .. } => false,
            _ => true,
        };
        if tell {
            let text = match &self.topology {
                Some(t) => explain(e, t),
                None => explain(e, &NoNames),
            };
            self.line(e.at_ms, &text);
        }
    }
}

/// Plays the steps; failures (a control refused, a required event that
/// never came) are pushed to `failures` as failed expectations.
/// `waiting` holds the verdict of a required `wait_for` in progress, for
/// when the load ends before the event comes.
async fn play(
    lab: &Lab,
    s: &Scenario,
    failures: &Mutex<Vec<ExpectationVerdict>>,
    waiting: &Mutex<Option<ExpectationVerdict>>,
    narrate: bool,
    step_by_step: bool,
) {
    let bus = lab.bus();
    let clock = lab.clock();
    let next = lab.step_requests();
    let mut rx = bus.subscribe();
    // In the run's clock: a teacher's pause holds the steps back.
    let mut not_before = Duration::ZERO;
    for (index, step) in s.steps.iter().enumerate() {
        let due = step.at.max(not_before);
        // `n` plays the step now: the clock jumps to it.
        let early = tokio::select! {
            _ = clock.sleep_until(due) => false,
            _ = next.next() => true,
        };
        if early {
            clock.skip_to(due);
        } else if step_by_step {
            // The clock stops at the step until the teacher plays it.
            clock.hold(Some(index));
            bus.emit(
                "scenario",
                EventKind::Note {
                    text: format!(
                        "step {} of {} waits: press n to play it",
                        index + 1,
                        s.steps.len()
                    ),
                },
            );
            next.next().await;
            clock.hold(None);
        }
        let at = duration(step.at);
        let what = step.action.sentence();
        // A wait's note tells what its event means: said when it comes.
        let waits = matches!(step.action, Action::WaitFor { .. });
        let note_only = matches!(step.action, Action::Note);
        let text = match (&step.note, &step.question) {
            // A step that only asks: the question is its text.
            (None, Some(q)) if note_only => q.text.clone(),
            (Some(n), _) if note_only => n.clone(),
            (Some(n), _) if !waits => format!("{what}: {n}"),
            _ => what.clone(),
        };
        bus.emit("scenario", EventKind::Note { text: text.clone() });
        if narrate {
            println!("{:>8}  [step {at}] {text}", secs(bus.now_ms()));
        }
        let control = match &step.action {
            Action::Fault(f) => Some(Control::Fault(f.clone())),
            Action::SetGrabbers { grabbers } => Some(Control::SetGrabbers(*grabbers)),
            Action::SetWorkload { workload } => Some(Control::SetWorkload(*workload)),
            Action::PauseLoad { paused } => Some(Control::PauseLoad(*paused)),
            Action::Stop => Some(Control::Stop),
            Action::WaitFor {
                event,
                timeout,
                required,
            } => {
                // The step's time as the bus stamps events (run time):
                // the run's clock differs once a teacher stopped it or
                // jumped it to this step (`n`).
                let due_ago = clock.now().saturating_sub(step.at);
                let since = bus.now_ms().saturating_sub(due_ago.as_millis() as u64);
                let deadline = Instant::now() + *timeout;
                if *required {
                    *lock(waiting) = Some(expect::missed_wait(
                        event,
                        &at,
                        &duration(*timeout),
                        "the run ended first",
                    ));
                }
                let found = wait_event(&bus, &mut rx, event, since, deadline).await;
                *lock(waiting) = None;
                match found {
                    Some(e) => {
                        if let Some(n) = &step.note {
                            bus.emit("scenario", EventKind::Note { text: n.clone() });
                        }
                        if narrate {
                            println!(
                                "{:>8}  [step {at}] {event} came at {}{}",
                                secs(bus.now_ms()),
                                secs(e.at_ms),
                                step.note
                                    .as_deref()
                                    .map(|n| format!(": {n}"))
                                    .unwrap_or_default()
                            );
                        }
                    }
                    None => {
                        let t = duration(*timeout);
                        bus.emit(
                            "scenario",
                            EventKind::Note {
                                text: format!("waited {t} for {event}: it never came"),
                            },
                        );
                        if narrate {
                            println!(
                                "{:>8}  [step {at}] {event} never came within {t}",
                                secs(bus.now_ms())
                            );
                        }
                        if *required {
                            lock(failures).push(expect::missed_wait(event, &at, &t, "never came"));
                        }
                    }
                }
                None
            }
            Action::Sleep { duration } => {
                not_before = clock.now() + *duration;
                None
            }
            Action::Note => None,
        };
        if let Some(c) = control {
            let stop = c == Control::Stop;
            match lab.control(c).await {
                Ok(done) => {
                    if narrate && !stop {
                        println!("{:>8}  [step {at}] done: {done}", secs(bus.now_ms()));
                    }
                }
                Err(e) => {
                    let why = format!("{e:#}");
                    bus.emit(
                        "scenario",
                        EventKind::Note {
                            text: format!("step at {at} failed: {why}"),
                        },
                    );
                    if narrate {
                        println!("{:>8}  [step {at}] FAILED: {why}", secs(bus.now_ms()));
                    }
                    lock(failures).push(ExpectationVerdict {
                        name: format!("step at {at}: {what}"),
                        expected: "done".into(),
                        measured: why,
                        ok: false,
                    });
                }
            }
            if stop {
                break;
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Drives a started lab through the scenario until its load ends (a
/// dashboard, if one runs, sends its key presses to the lab itself).
/// `step_by_step` (`--step`): each step waits for `n` once its time comes.
pub async fn drive(
    lab: &Lab,
    s: &Scenario,
    narrate: bool,
    step_by_step: bool,
) -> Vec<ExpectationVerdict> {
    let failures = Mutex::new(Vec::new());
    let waiting = Mutex::new(None);
    let topology = lab.topology().await;
    let mut narrator = Narrator {
        enabled: narrate,
        topology,
        told: Vec::new(),
        violations: 0,
    };
    let mut events = lab.bus().subscribe();
    let tell = async {
        loop {
            match events.recv().await {
                Ok(e) => narrator.event(&e),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    };
    let progress = async {
        if !narrate {
            return std::future::pending::<()>().await;
        }
        let mut snaps = lab.snapshots();
        let mut every = tokio::time::interval(Duration::from_secs(5));
        every.tick().await;
        loop {
            every.tick().await;
            let snap = snaps.borrow_and_update().clone();
            let errors: u64 = snap.errors.values().sum();
            println!(
                "{:>8}  {:.0} ops/s, {} errors so far, {} grabbers",
                secs(snap.elapsed_ms),
                snap.ops_per_s,
                errors,
                snap.load.grabbers
            );
        }
    };
    let timeline = async {
        play(lab, s, &failures, &waiting, narrate, step_by_step).await;
        // The load runs on to its duration after the last step.
        lab.wait_end().await
    };
    let reason = tokio::select! {
        r = timeline => r,
        r = lab.wait_end() => r,
        _ = tell => unreachable!("the narrator never ends"),
        _ = progress => unreachable!("the progress line never ends"),
    };
    tracing::info!(?reason, "scenario load ended");
    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    // A required event still awaited when the load ended never came.
    if let Some(missed) = waiting.into_inner().unwrap_or_else(|e| e.into_inner()) {
        failures.push(missed);
    }
    failures
}

/// The scenario as report.md tells it: title, lesson and each step's
/// sentence.
pub fn script(s: &Scenario) -> Script {
    Script {
        file: s.file.clone(),
        title: s.title.clone(),
        teaches: s.teaches.clone(),
        topology: Some(s.topology.clone()),
        steps: s
            .steps
            .iter()
            .map(|step| ScriptStep {
                at_ms: step.at.as_millis() as u64,
                sentence: step.action.sentence(),
                note: step.note.clone(),
                question: step.question.as_ref().map(|q| q.text.clone()),
            })
            .collect(),
    }
}

/// After the lab finished: evaluates the expectations, then writes
/// report.json (the lab's report plus `scenario` and `expectations`),
/// report.md and the charts into `out_dir`.
pub fn conclude(
    mut report: Report,
    s: &Scenario,
    step_failures: Vec<ExpectationVerdict>,
    topology: Option<&Topology>,
    out_dir: &Path,
) -> anyhow::Result<Finished> {
    let mut verdicts = expect::evaluate(&s.expect, |name| measure::measure(name, &report));
    verdicts.extend(expect::implicit(&s.expect, |name| {
        measure::measure(name, &report)
    }));
    verdicts.extend(step_failures);
    report.scenario = Some(serde_json::to_value(s).context("serialising the scenario")?);
    report.script = Some(script(s));
    report.questions = questions(s, &report);
    report.expectations = verdicts;
    report.judge();
    let files = crate::report::files::write_all(&report, topology, out_dir)?;
    Ok(Finished {
        report,
        out_dir: out_dir.to_path_buf(),
        files,
    })
}

/// The scenario's questions with the answers `report` measured.
pub fn questions(s: &Scenario, report: &Report) -> Vec<crate::report::model::QuestionAnswer> {
    s.steps
        .iter()
        .filter_map(|step| {
            let q = step.question.as_ref()?;
            let kind =
                expect::find_answer(&q.answer).map_or(expect::ExpectKind::Number, |d| d.kind);
            let measured = measure::measure(&q.answer, report);
            Some(crate::report::model::QuestionAnswer {
                at_ms: step.at.as_millis() as u64,
                question: q.text.clone(),
                measure: q.answer.clone(),
                known: !matches!(measured, expect::Measured::Missing(_)),
                answer: expect::show_rounded(kind, &measured),
            })
        })
        .collect()
}

/// Plays a scenario headless: start the lab, play the timeline, finish,
/// judge, write the reports.
pub async fn run_headless(s: &Scenario, opts: &RunOptions) -> Result<Finished, RunFailure> {
    let config = prepare(s, opts).map_err(RunFailure::Environment)?;
    if opts.narrate {
        println!("{}\n  {}\n", s.title, s.teaches);
    }
    let lab = Lab::start(config).await.map_err(RunFailure::Lab)?;
    if opts.narrate {
        println!(
            "run {} on the {} backend, seed {}, {} of load\n",
            lab.run_id(),
            lab.topology()
                .await
                .map(|t| t.backend.to_string())
                .unwrap_or_default(),
            opts.seed.unwrap_or(s.seed),
            duration(s.duration)
        );
    }
    let failures = drive(&lab, s, opts.narrate, opts.step_by_step).await;
    finish(lab, s, failures, opts.narrate).await
}

/// Finishes the lab (settle, audit, teardown) and concludes.
pub async fn finish(
    lab: Lab,
    s: &Scenario,
    failures: Vec<ExpectationVerdict>,
    narrate: bool,
) -> Result<Finished, RunFailure> {
    let topology = lab.topology().await;
    let out_dir = lab.run_dir().to_path_buf();
    if narrate {
        println!("\nload ended; waiting for the topology to settle, then auditing...");
    }
    let report = lab
        .finish()
        .await
        .map_err(|e| RunFailure::Lab(e.context("finishing the run")))?;
    conclude(report, s, failures, topology.as_ref(), &out_dir).map_err(RunFailure::Reports)
}

/// What went wrong, by exit status.
#[derive(Debug, thiserror::Error)]
pub enum RunFailure {
    /// The scenario cannot run here (a partition without Docker, a fault
    /// the topology cannot have): exit 2.
    #[error(transparent)]
    Environment(RunError),
    /// The lab could not start or finish (no Docker engine, no
    /// redis-server, Redis unreachable): exit 3 unless the error says
    /// otherwise.
    #[error("{0:#}")]
    Lab(anyhow::Error),
    /// The reports could not be written: exit 2.
    #[error("writing the reports: {0:#}")]
    Reports(anyhow::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_str;

    #[test]
    fn a_partition_scenario_needs_docker() {
        let s = parse_str(
            "title = \"t\"\nteaches = \"x\"\n[[step]]\nat = \"1s\"\nfault = \"partition\"\n",
            "p.toml",
        )
        .unwrap();
        assert_eq!(resolve_backend(&s, None).unwrap(), BackendChoice::Docker);
        assert!(resolve_backend(&s, Some(BackendChoice::Local)).is_err());
    }

    #[test]
    fn an_attached_run_refuses_another_mode_and_faults_that_need_a_process() {
        let opts = |mode| RunOptions {
            state_dir: "/tmp/x".into(),
            out_dir: None,
            seed: None,
            backend: None,
            image: None,
            narrate: false,
            shutdown: Shutdown::default(),
            keep: false,
            no_hash_tags: false,
            metrics: None,
            command_line: Vec::new(),
            external: Some(crate::topology::external::ExternalTarget {
                mode,
                seeds: vec!["127.0.0.1:26379".parse().unwrap()],
                master_name: "mymaster".into(),
                password: None,
                addr_map: Vec::new(),
            }),
            key_prefix: Some("lab".into()),
            lesson: false,
            step_by_step: false,
        };
        let scenario = |fault: &str| {
            parse_str(
                &format!("title = \"t\"\nteaches = \"x\"\nduration = \"10s\"\n[[step]]\nat = \"2s\"\nfault = \"{fault}\"\ntarget = \"master\"\n"),
                "a.toml",
            )
            .unwrap()
        };
        use crate::topology::HaMode;
        let ok = prepare(&scenario("segfault"), &opts(HaMode::Sentinel)).unwrap();
        assert!(matches!(ok.target, LabTarget::External(_)));
        assert_eq!(ok.key_prefix.as_deref(), Some("lab"));
        let e = prepare(&scenario("segfault"), &opts(HaMode::Cluster)).unwrap_err();
        assert!(e.to_string().contains("sentinel scenario"), "{e}");
        let e = prepare(&scenario("kill"), &opts(HaMode::Sentinel)).unwrap_err();
        assert!(e.to_string().contains("did not start this topology"), "{e}");
    }

    #[test]
    fn the_lab_config_follows_the_file() {
        let s = parse_str(
            "title = \"t\"\nteaches = \"x\"\nseed = 9\nduration = \"12s\"\n[workload]\nkind = \"lock\"\ngrabbers = 50\nlocks = [\"fenced\"]\nlock_ttl = \"100ms\"\nlock_hold = \"250ms\"\nclient = \"naive\"\n",
            "l.toml",
        )
        .unwrap();
        let opts = RunOptions {
            state_dir: "/tmp/x".into(),
            out_dir: None,
            seed: Some(4),
            backend: None,
            image: None,
            narrate: false,
            shutdown: Shutdown::default(),
            keep: false,
            no_hash_tags: true,
            metrics: None,
            command_line: Vec::new(),
            external: None,
            key_prefix: None,
            lesson: false,
            step_by_step: false,
        };
        let c = lab_config(&s, &opts, BackendChoice::Local);
        assert_eq!(c.hash_tags, Some(false));
        assert_eq!(c.seed, 4);
        assert_eq!(c.grabbers, 50);
        assert_eq!(c.duration, Some(Duration::from_secs(12)));
        assert_eq!(c.locks.kinds, vec![crate::workload::LockKind::Fenced]);
        assert_eq!((c.locks.ttl_ms, c.locks.hold_ms), (100, 250));
        assert_eq!(c.client, crate::client::ClientMode::Naive);
    }

    #[tokio::test]
    async fn wait_for_finds_events_logged_before_it_and_times_out_honestly() {
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        bus.emit(
            "sentinel-1",
            EventKind::Sentinel {
                name: "+switch-master".into(),
                payload: "mymaster a 1 b 2".into(),
            },
        );
        let soon = Instant::now() + Duration::from_millis(200);
        let e = wait_event(&bus, &mut rx, "+switch-master", 0, soon).await;
        assert_eq!(e.map(|e| e.source), Some("sentinel-1".to_string()));
        // Stamped before the step's time: does not count.
        let later = bus.now_ms() + 60_000;
        let soon = Instant::now() + Duration::from_millis(100);
        assert!(wait_event(&bus, &mut rx, "+switch-master", later, soon)
            .await
            .is_none());
        // A lab event by its type name, arriving while waiting.
        let emitter = bus.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            emitter.emit("client", EventKind::WritesRecovered { outage_ms: 5 });
        });
        let soon = Instant::now() + Duration::from_secs(2);
        let e = wait_event(&bus, &mut rx, "writes_recovered", 0, soon)
            .await
            .unwrap();
        assert!(matches_event(&e, "writes_recovered") && !matches_event(&e, "+switch-master"));
    }
}
