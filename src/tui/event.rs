//! Everything the dashboard reacts to, merged into one [`AppEvent`] stream:
//! terminal input (Ctrl-C is a key like any other, read in raw mode), frame
//! ticks at a capped rate, fresh snapshots from the lab's `watch` channel,
//! timeline events from the lab's broadcast, and the results of controls.
//! Terminal input is read on its own thread because crossterm's reader
//! blocks; it stops within one poll interval once the source is dropped.
//!
//! A dead terminal (its tmux session killed, an SSH link gone) ends the
//! input: the thread watches the tty itself for a hangup, because
//! crossterm's reader spins forever on a hung-up tty (EOF and EIO are
//! retried), which left the dashboard running as an orphan at full CPU.

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

/// Reads terminal events on a thread until dropped or the terminal dies.
pub struct TerminalInput {
    stop: Arc<AtomicBool>,
    /// Says when the thread ended.
    ended: Option<std::sync::mpsc::Receiver<()>>,
}

/// How long the drop waits for the reader thread before leaving it behind.
const INPUT_STOP_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the reader waits for input before looking at its stop flag.
const INPUT_POLL: Duration = Duration::from_millis(50);

impl TerminalInput {
    /// Starts the reader; events arrive on the returned receiver, which
    /// closes when the terminal is gone or its input fails.
    pub fn start() -> (TerminalInput, mpsc::Receiver<TermEvent>) {
        let (tx, rx) = mpsc::channel(256);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (ended_tx, ended) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("tui-input".into())
            .spawn(move || {
                read_terminal(&flag, &tx);
                let _ = ended_tx.send(());
            });
        if let Err(e) = &spawned {
            tracing::warn!(error = %e, "cannot start the terminal reader");
        }
        let ended = spawned.ok().map(|_| ended);
        (TerminalInput { stop, ended }, rx)
    }
}

/// The reader thread's loop: until `stop`, the receiver goes away, the
/// terminal hangs up or its input fails.
fn read_terminal(stop: &AtomicBool, tx: &mpsc::Sender<TermEvent>) {
    let tty = Tty::open();
    while !stop.load(Ordering::Relaxed) {
        let wait = match &tty {
            // Wait on the tty ourselves, then ask crossterm without waiting
            // (it may also hold parsed events from an earlier read).
            Some(tty) => {
                if tty.wait(INPUT_POLL) == TtyState::Gone {
                    tracing::warn!("the terminal hung up");
                    return;
                }
                Duration::ZERO
            }
            None => INPUT_POLL,
        };
        match crossterm::event::poll(wait) {
            Ok(true) => match crossterm::event::read() {
                Ok(ev) => {
                    if tx.blocking_send(ev).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "terminal input failed");
                    return;
                }
            },
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "terminal input failed");
                return;
            }
        }
    }
}

impl Drop for TerminalInput {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ended) = self.ended.take() {
            // Bounded: should crossterm be stuck on a dying tty, the thread
            // is left behind rather than the shutdown held up.
            if ended.recv_timeout(INPUT_STOP_TIMEOUT).is_err() {
                tracing::warn!("the terminal reader did not stop; leaving it behind");
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TtyState {
    Readable,
    Idle,
    Gone,
}

/// The tty crossterm reads from: stdin when it is a terminal, else /dev/tty.
struct Tty {
    fd: std::os::fd::RawFd,
    /// Kept open (and closed on drop) when it is /dev/tty.
    _owned: Option<std::fs::File>,
}

impl Tty {
    fn open() -> Option<Tty> {
        use std::os::fd::AsRawFd;
        // SAFETY: isatty only inspects the descriptor.
        if unsafe { libc::isatty(libc::STDIN_FILENO) } == 1 {
            return Some(Tty {
                fd: libc::STDIN_FILENO,
                _owned: None,
            });
        }
        let file = std::fs::File::open("/dev/tty").ok()?;
        Some(Tty {
            fd: file.as_raw_fd(),
            _owned: Some(file),
        })
    }

    /// Waits up to `timeout` for input; a hangup or error is `Gone`.
    fn wait(&self, timeout: Duration) -> TtyState {
        poll_tty(self.fd, timeout)
    }
}

fn poll_tty(fd: std::os::fd::RawFd, timeout: Duration) -> TtyState {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
    if n < 0 {
        return if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            TtyState::Idle
        } else {
            TtyState::Gone
        };
    }
    if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        TtyState::Gone
    } else if pfd.revents & libc::POLLIN != 0 {
        TtyState::Readable
    } else {
        TtyState::Idle
    }
}

/// True when this process's terminal has hung up (or it has none left).
pub fn terminal_gone() -> bool {
    Tty::open().is_none_or(|tty| tty.wait(Duration::ZERO) == TtyState::Gone)
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
