//! The dashboard loop: drains snapshots, timeline events, keys and control
//! results as they come, draws `fps` frames a second (ratatui sends only
//! the cells that changed, so an idle frame costs the terminal nothing),
//! and sends controls to the lab without ever waiting
//! on them: each runs in its own task and reports back as a message.
//!
//! The loop knows nothing of how the lab is built: it takes a `watch` of
//! snapshots, a broadcast of events and a [`Controls`] to send through, so
//! the dashboard command, the scenario runner and the frame-rate bench all
//! drive it the same way, with a real terminal or ratatui's `TestBackend`.
//!
//! [`host`] puts a running lab on this process's terminal: the one place
//! that opens the dashboard for `grabstorm tui` and `grabstorm run`, and
//! closes it on quit, the end of the run, a stop signal or a dead terminal.
//! [`show_report`] opens it again once the run is audited: the end screen.

use super::app::{Action, App};
use super::event::{AppEvent, EventSource, TerminalInput};
use super::terminal::TerminalSession;
use super::ui;
use crate::lab::{Control, Lab};
use crate::metrics::{Event, Snapshot};
use crate::report::model::Report;
use crate::shutdown::{Shutdown, StopSignal};
use anyhow::Context;
use crossterm::event::Event as TermEvent;
use ratatui::backend::Backend;
use ratatui::Terminal;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The default frame cap: smooth enough for a projector, cheap on 2 cores.
pub const DEFAULT_FPS: u32 = 25;
/// How long a control may take before the dashboard reports it as stuck.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(60);

pub type ControlFuture = Pin<Box<dyn Future<Output = anyhow::Result<String>> + Send>>;

/// Where the dashboard sends controls; the future resolves to what was
/// done (shown as the message line) or why it could not be done.
#[derive(Clone)]
pub struct Controls(Arc<dyn Fn(Control) -> ControlFuture + Send + Sync>);

impl Controls {
    /// Controls answered by an async function (e.g. the lab's own method).
    pub fn from_fn<F, Fut>(f: F) -> Controls
    where
        F: Fn(Control) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<String>> + Send + 'static,
    {
        Controls(Arc::new(move |c| Box::pin(f(c))))
    }

    pub fn send(&self, control: Control) -> ControlFuture {
        (self.0)(control)
    }
}

/// A control in words, for messages.
pub fn describe(c: &Control) -> String {
    match c {
        Control::Fault(f) => f.sentence(),
        Control::SetGrabbers(n) => format!("{n} grabbers"),
        Control::SetWorkload(w) => format!("workload {w}"),
        Control::PauseLoad(true) => "pause the load".to_string(),
        Control::PauseLoad(false) => "resume the load".to_string(),
        Control::Stop => "stop".to_string(),
        Control::PauseClock(true) => "stop the clock and the load".to_string(),
        Control::PauseClock(false) => "restart the clock and the load".to_string(),
        Control::NextStep => "play the next step now".to_string(),
    }
}

/// What the dashboard reads and where it sends.
pub struct Feeds {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// Live timeline events; `None` to rely on the snapshots' recent events.
    pub timeline: Option<broadcast::Receiver<Event>>,
    pub controls: Controls,
}

/// How a dashboard session went.
#[derive(Debug)]
pub struct Outcome {
    /// The state at the end (last snapshot, timeline).
    pub app: App,
    pub frames: u64,
    /// Time spent drawing frames.
    pub draw_time: Duration,
    pub ran_for: Duration,
    /// True when the user pressed q / Ctrl-C (not an input failure).
    pub quit_by_user: bool,
}

impl Outcome {
    /// Frames drawn per second of wall time.
    pub fn frames_per_s(&self) -> f64 {
        self.frames as f64 / self.ran_for.as_secs_f64().max(1e-9)
    }
}

/// Runs the dashboard until the user quits or the input ends. Controls
/// still running at quit get a short grace period to finish.
pub async fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    mut app: App,
    feeds: Feeds,
    input: mpsc::Receiver<TermEvent>,
    fps: u32,
) -> anyhow::Result<Outcome>
where
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    let (results_tx, results_rx) = mpsc::unbounded_channel();
    if let Ok(size) = terminal.size() {
        app.on_resize(size.width, size.height);
    }
    app.on_snapshot(feeds.snapshots.borrow().clone());
    let mut source = EventSource::new(input, feeds.snapshots, feeds.timeline, results_rx, fps);
    let controls = feeds.controls;
    let tasks = TaskTracker::new();
    let mut frames = 0u64;
    let mut draw_time = Duration::ZERO;
    let quit_by_user;
    loop {
        match source.next().await {
            AppEvent::Key(key) => match app.handle_key(key) {
                Some(Action::Quit) => {
                    quit_by_user = true;
                    break;
                }
                Some(Action::Control(c)) => {
                    let controls = controls.clone();
                    let tx = results_tx.clone();
                    tasks.spawn(async move {
                        let what = describe(&c);
                        let result =
                            match tokio::time::timeout(CONTROL_TIMEOUT, controls.send(c)).await {
                                Ok(Ok(done)) => Ok(done),
                                Ok(Err(e)) => Err(format!("{what}: {e:#}")),
                                Err(_) => Err(format!(
                                    "{what}: no answer within {}",
                                    crate::words::duration(CONTROL_TIMEOUT)
                                )),
                            };
                        if let Err(e) = &result {
                            tracing::warn!(control = %what, error = %e, "control failed");
                        }
                        let _ = tx.send(result);
                    });
                }
                None => {}
            },
            AppEvent::Resize(cols, rows) => {
                app.on_resize(cols, rows);
            }
            AppEvent::Frame => {
                let t = Instant::now();
                terminal
                    .draw(|f| ui::draw(&app, f))
                    .map_err(|e| anyhow::anyhow!("cannot draw the dashboard: {e}"))?;
                draw_time += t.elapsed();
                frames += 1;
            }
            AppEvent::Snapshot(s) => {
                app.on_snapshot(s);
            }
            AppEvent::Timeline(e) => {
                app.on_event(e);
            }
            AppEvent::TimelineLagged(n) => {
                tracing::debug!(missed = n, "dashboard fell behind the timeline");
            }
            AppEvent::ControlResult(r) => {
                app.on_control_result(r);
            }
            AppEvent::LabClosed => {
                app.message = Some(super::app::Message {
                    kind: super::app::MessageKind::Info,
                    text: "the run has ended: press q to leave".to_string(),
                });
            }
            AppEvent::InputClosed => {
                quit_by_user = false;
                break;
            }
        }
    }
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(5), tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("a control was still running when the dashboard closed");
    }
    Ok(Outcome {
        app,
        frames,
        draw_time,
        ran_for: started.elapsed(),
        quit_by_user,
    })
}

/// Hosts the dashboard for `lab` on this process's terminal while `driver`
/// runs (a scenario's timeline, or the dashboard command's watch of the
/// run's end), and closes it on the first of: the user quits (the load is
/// then stopped), `driver` ends, a stop signal, or the terminal dies (a
/// hangup: told to `shutdown` as SIGHUP, so the run ends as on one, and
/// stdout/stderr are pointed away from the dead tty). `driver` must end
/// once the lab's load is asked to stop. The terminal is restored before
/// this returns, on every path. Returns how the dashboard went and what
/// `driver` returned; an error when no dashboard could be opened (the load
/// is then stopped).
pub async fn host<T>(
    lab: &Lab,
    mut app: App,
    fps: u32,
    shutdown: &Shutdown,
    driver: impl Future<Output = T>,
) -> anyhow::Result<(anyhow::Result<Outcome>, T)> {
    let handle = lab.handle();
    let feeds = Feeds {
        snapshots: lab.snapshots(),
        timeline: Some(lab.bus().subscribe()),
        controls: Controls::from_fn(move |c: Control| {
            let handle = handle.clone();
            async move { handle.control(c).await }
        }),
    };
    if let Some(t) = lab.topology().await {
        app.learn_topology(&t);
    }
    let mut session = match TerminalSession::enter() {
        Ok(session) => session,
        Err(e) => {
            let _ = lab.control(Control::Stop).await;
            return Err(e).context("cannot open the dashboard on this terminal");
        }
    };
    let (input, mut keys) = TerminalInput::start();
    // Keys are relayed so that the dashboard can be closed from here (the
    // run's end, a signal) by closing its input.
    let (relay_tx, relay_rx) = mpsc::channel(256);
    let over = CancellationToken::new();
    let relay = async {
        loop {
            tokio::select! {
                _ = over.cancelled() => break,
                _ = shutdown.requested() => break,
                key = keys.recv() => match key {
                    Some(k) => if relay_tx.send(k).await.is_err() { break },
                    None => break,
                },
            }
        }
        drop(relay_tx);
    };
    let dashboard = async {
        let out = run(session.terminal(), app, feeds, relay_rx, fps).await;
        let user_quit = matches!(&out, Ok(o) if o.quit_by_user);
        if !over.is_cancelled() {
            if !user_quit && shutdown.signal().is_none() {
                // Neither the user, the run nor a signal closed it: the
                // terminal failed (input gone, a write refused).
                tracing::warn!("the dashboard's terminal is gone: stopping as on SIGHUP");
                shutdown.request(StopSignal::Hangup);
            }
            let _ = lab.control(Control::Stop).await;
        }
        out
    };
    let driver = async {
        let r = driver.await;
        over.cancel();
        r
    };
    let ((), outcome, driven) = tokio::join!(relay, dashboard, driver);
    drop(input);
    // Before the session's restore: ratatui reports a failed restore with
    // `eprintln!`, which panics on a dead tty.
    super::terminal::silence_if_terminal_died();
    drop(session);
    Ok((outcome, driven))
}

/// How long the end screen waits for a key before it leaves on its own:
/// a forgotten terminal does not hold the process forever.
pub const END_SCREEN_IDLE: Duration = Duration::from_secs(600);

/// Shows the audited `report` on `terminal` (the end screen, drawn from the
/// same report that report.json and report.md are written from) until the
/// user leaves (q, Esc, Enter), the input ends, or no key came for
/// [`END_SCREEN_IDLE`].
pub async fn end_screen<B: Backend>(
    terminal: &mut Terminal<B>,
    mut app: App,
    report: Arc<Report>,
    mut input: mpsc::Receiver<TermEvent>,
) -> anyhow::Result<App>
where
    B::Error: std::error::Error + Send + Sync + 'static,
{
    app.on_report(report);
    app.message = None;
    loop {
        terminal
            .draw(|f| ui::draw(&app, f))
            .map_err(|e| anyhow::anyhow!("cannot draw the end screen: {e}"))?;
        match tokio::time::timeout(END_SCREEN_IDLE, input.recv()).await {
            Ok(Some(TermEvent::Key(key))) => {
                if app.handle_key(key) == Some(Action::Quit) {
                    break;
                }
            }
            Ok(Some(TermEvent::Resize(cols, rows))) => app.on_resize(cols, rows),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    Ok(app)
}

/// [`end_screen`] on this process's terminal, opened again after the
/// dashboard closed for the audit; restored before this returns.
pub async fn show_report(app: App, report: Arc<Report>) -> anyhow::Result<()> {
    let mut session =
        TerminalSession::enter().context("cannot open the end screen on this terminal")?;
    let (input, keys) = TerminalInput::start();
    let shown = end_screen(session.terminal(), app, report, keys).await;
    drop(input);
    super::terminal::silence_if_terminal_died();
    drop(session);
    shown.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{FaultKind, Target};
    use crate::tui::app::MessageKind;
    use crate::tui::fixtures;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::backend::TestBackend;
    use std::sync::Mutex;

    fn key(c: char) -> TermEvent {
        TermEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    #[tokio::test]
    async fn keys_become_controls_and_their_answers_become_the_message() {
        let state = fixtures::healthy();
        let (snap_tx, snap_rx) = watch::channel(Arc::new(state.snapshot.clone()));
        let (event_tx, event_rx) = broadcast::channel(16);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let controls = {
            let sent = sent.clone();
            Controls::from_fn(move |c: Control| {
                let sent = sent.clone();
                async move {
                    let refused = matches!(&c, Control::Fault(f) if f.kind == FaultKind::Partition);
                    sent.lock().unwrap().push(c);
                    if refused {
                        anyhow::bail!("partition needs the Docker backend")
                    }
                    Ok("segfault redis-1: the process crashed".to_string())
                }
            })
        };
        let feeds = Feeds {
            snapshots: snap_rx,
            timeline: Some(event_rx),
            controls,
        };
        let (input_tx, input_rx) = mpsc::channel(16);
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        let driver = async {
            input_tx.send(key('s')).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            // A new snapshot and a timeline event arrive while running.
            let mut s = state.snapshot.clone();
            s.elapsed_ms += 250;
            snap_tx.send(Arc::new(s)).unwrap();
            event_tx
                .send(Event {
                    at_ms: 95_500,
                    source: "lab".into(),
                    kind: crate::metrics::EventKind::Note {
                        text: "hello".into(),
                    },
                })
                .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            input_tx.send(key('q')).await.unwrap();
        };
        let (outcome, ()) = tokio::join!(
            run(&mut terminal, App::default(), feeds, input_rx, 50),
            driver
        );
        let outcome = outcome.unwrap();
        assert!(outcome.quit_by_user);
        assert!(outcome.frames >= 5, "drew {} frames", outcome.frames);
        let sent = sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        match &sent[0] {
            Control::Fault(f) => {
                assert_eq!((f.kind, &f.target), (FaultKind::Segfault, &Target::Master))
            }
            other => panic!("expected a fault, got {other:?}"),
        }
        let msg = outcome.app.message.clone().unwrap();
        assert_eq!(msg.kind, MessageKind::Done);
        assert_eq!(msg.text, "segfault redis-1: the process crashed");
        assert_eq!(
            outcome.app.snapshot.elapsed_ms,
            state.snapshot.elapsed_ms + 250
        );
        assert!(outcome
            .app
            .events
            .iter()
            .any(|e| e.at_ms == 95_500 && e.source == "lab"));
    }

    #[tokio::test]
    async fn the_end_screen_shows_the_report_until_q() {
        let state = fixtures::after_failover();
        let mut app = App::default();
        app.on_snapshot(Arc::new(state.snapshot));
        let report = Arc::new(fixtures::report_with_losses());
        let (input_tx, input_rx) = mpsc::channel(16);
        input_tx.send(key('s')).await.unwrap();
        input_tx.send(key('q')).await.unwrap();
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let app = end_screen(&mut terminal, app, report.clone(), input_rx)
            .await
            .unwrap();
        assert!(app.quitting);
        assert_eq!(app.report.as_deref(), Some(&*report));
        let shown = terminal.backend().to_string();
        assert!(shown.contains("lost acknowledged writes: !! 49"), "{shown}");
        assert!(shown.contains("Audit ─ ✗ FAIL"), "{shown}");
    }

    #[tokio::test]
    async fn a_refused_fault_is_a_message_and_closed_input_ends_the_loop() {
        let state = fixtures::healthy();
        let (_snap_tx, snap_rx) = watch::channel(Arc::new(state.snapshot));
        let controls = Controls::from_fn(|c: Control| async move {
            anyhow::bail!("the local backend cannot {}", describe(&c))
        });
        let feeds = Feeds {
            snapshots: snap_rx,
            timeline: None,
            controls,
        };
        let (input_tx, input_rx) = mpsc::channel(16);
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let driver = async {
            input_tx.send(key('n')).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(input_tx);
        };
        let (outcome, ()) = tokio::join!(
            run(&mut terminal, App::default(), feeds, input_rx, 50),
            driver
        );
        let outcome = outcome.unwrap();
        assert!(!outcome.quit_by_user);
        let msg = outcome.app.message.unwrap();
        assert_eq!(msg.kind, MessageKind::Failed);
        assert_eq!(
            msg.text,
            "partition master: the local backend cannot partition master"
        );
        assert!(terminal
            .backend()
            .to_string()
            .contains("✗ partition master"));
    }
}
