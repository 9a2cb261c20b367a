//! Everything the dashboard reacts to, merged into one [`AppEvent`] stream:
//! terminal input (Ctrl-C is a key like any other, read in raw mode), frame
//! ticks at a capped rate, fresh snapshots from the lab's `watch` channel,
//! timeline events from the lab's broadcast, and the results of controls.
//! Terminal input is read on its own thread because crossterm's reader
//! blocks; it stops within one poll interval once the source is dropped.

use crate::metrics::{Event, Snapshot};
use crossterm::event::{Event as TermEvent, KeyEvent};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// One thing that happened, for the run loop.
#[derive(Clone, Debug)]
pub enum AppEvent {
    Key(KeyEvent),
    Resize(u16, u16),
    /// Time to draw, if anything changed.
    Frame,
    Snapshot(Arc<Snapshot>),
    Timeline(Event),
    /// The timeline broadcast dropped `n` events because the UI was slow;
    /// the next snapshot's recent events fill the gap.
    TimelineLagged(u64),
    /// A control finished: what was done, or why not.
    ControlResult(Result<String, String>),
    /// The lab stopped publishing snapshots (the run ended or failed).
    LabClosed,
    /// The terminal input ended (its reader failed).
    InputClosed,
}

/// Reads terminal events on a thread until dropped.
pub struct TerminalInput {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TerminalInput {
    /// Starts the reader; events arrive on the returned receiver.
    pub fn start() -> (TerminalInput, mpsc::Receiver<TermEvent>) {
        let (tx, rx) = mpsc::channel(256);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tui-input".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match crossterm::event::poll(Duration::from_millis(50)) {
                        Ok(true) => match crossterm::event::read() {
                            Ok(ev) => {
                                if tx.blocking_send(ev).is_err() {
                                    break;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "terminal input failed");
                                break;
                            }
                        },
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "terminal input failed");
                            break;
                        }
                    }
                }
            })
            .ok();
        (TerminalInput { stop, thread }, rx)
    }
}

impl Drop for TerminalInput {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The merged sources. `next` waits for whichever comes first.
pub struct EventSource {
    input: mpsc::Receiver<TermEvent>,
    input_open: bool,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    snapshots_open: bool,
    timeline: Option<broadcast::Receiver<Event>>,
    results: mpsc::UnboundedReceiver<Result<String, String>>,
    frames: tokio::time::Interval,
}

impl EventSource {
    /// `fps` caps how often [`AppEvent::Frame`] fires (at least 1).
    pub fn new(
        input: mpsc::Receiver<TermEvent>,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        timeline: Option<broadcast::Receiver<Event>>,
        results: mpsc::UnboundedReceiver<Result<String, String>>,
        fps: u32,
    ) -> EventSource {
        let period = Duration::from_secs_f64(1.0 / f64::from(fps.max(1)));
        let mut frames = tokio::time::interval(period);
        frames.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        EventSource {
            input,
            input_open: true,
            snapshots,
            snapshots_open: true,
            timeline,
            results,
            frames,
        }
    }

    /// The next event. Closed sources are reported once, then ignored.
    pub async fn next(&mut self) -> AppEvent {
        loop {
            tokio::select! {
                // Keys first: a quit must not wait behind a burst of snapshots.
                biased;
                ev = self.input.recv(), if self.input_open => match ev {
                    Some(TermEvent::Key(k)) => return AppEvent::Key(k),
                    Some(TermEvent::Resize(c, r)) => return AppEvent::Resize(c, r),
                    Some(_) => continue,
                    None => {
                        self.input_open = false;
                        return AppEvent::InputClosed;
                    }
                },
                Some(r) = self.results.recv() => return AppEvent::ControlResult(r),
                changed = self.snapshots.changed(), if self.snapshots_open => match changed {
                    Ok(()) => return AppEvent::Snapshot(self.snapshots.borrow_and_update().clone()),
                    Err(_) => {
                        self.snapshots_open = false;
                        return AppEvent::LabClosed;
                    }
                },
                ev = recv_timeline(&mut self.timeline), if self.timeline.is_some() => match ev {
                    Ok(e) => return AppEvent::Timeline(e),
                    Err(broadcast::error::RecvError::Lagged(n)) => return AppEvent::TimelineLagged(n),
                    Err(broadcast::error::RecvError::Closed) => {
                        self.timeline = None;
                        continue;
                    }
                },
                _ = self.frames.tick() => return AppEvent::Frame,
            }
        }
    }
}

async fn recv_timeline(
    rx: &mut Option<broadcast::Receiver<Event>>,
) -> Result<Event, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
