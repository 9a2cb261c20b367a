//! Stopping on a signal, the same way in every command. [`Shutdown::install`]
//! registers SIGINT, SIGTERM and SIGHUP once, at program start, and hands
//! out a [`Shutdown`] that `main` passes down explicitly (never a global).
//!
//! Two levels: the first signal asks the run to stop (the load ends, the
//! run settles, is audited, reports and removes its topology, as after
//! Ctrl-C); a second signal asks to skip the audit (the report still gets
//! written, saying it was not audited; a hangup repeated after a hangup is
//! the same lost terminal and does not count). The exit status follows the
//! first signal: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP). A dashboard
//! whose terminal died reports it here as a hangup, so it ends the same way.
//!
//! This module uses nothing else of the crate, so topology, lab, tui and
//! commands can all take a [`Shutdown`] without a dependency cycle.

use std::sync::{Arc, OnceLock};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A signal that stops a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    Interrupt,
    Terminate,
    Hangup,
}

impl StopSignal {
    /// The exit status a shell reports for a process ended by this signal.
    pub fn exit_code(self) -> u8 {
        128 + match self {
            StopSignal::Hangup => 1,
            StopSignal::Interrupt => 2,
            StopSignal::Terminate => 15,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Hangup => "SIGHUP",
        }
    }
}

impl std::fmt::Display for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the audit of a run was skipped, as report.json says it.
pub const AUDIT_SKIPPED: &str = "skipped: a second signal arrived";

/// "Stop requested" and "skip the audit", shared by everything of one
/// command. Cloning shares the same state. A `Shutdown::default()` only
/// fires when [`Shutdown::request`] is called (tests, library use).
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    stop: CancellationToken,
    skip_audit: CancellationToken,
    first: Arc<OnceLock<StopSignal>>,
}

/// The task that turns signals into requests; ends its task when dropped.
pub struct SignalListener(JoinHandle<()>);

impl Drop for SignalListener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Shutdown {
    /// Registers SIGINT, SIGTERM and SIGHUP (from then on they no longer
    /// kill the process: whoever holds the [`Shutdown`] must watch it) and
    /// starts listening. Call once, inside the runtime, before anything starts.
    pub fn install() -> std::io::Result<(Shutdown, SignalListener)> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let shutdown = Shutdown::default();
        let listener = {
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    let sig = tokio::select! {
                        _ = int.recv() => StopSignal::Interrupt,
                        _ = term.recv() => StopSignal::Terminate,
                        _ = hup.recv() => StopSignal::Hangup,
                    };
                    shutdown.request(sig);
                }
            })
        };
        Ok((shutdown, SignalListener(listener)))
    }

    /// Records a signal: the first asks to stop, any later one to skip the
    /// audit, except a hangup after a hangup: one lost terminal is told
    /// several times (the kernel's SIGHUP, the terminal's host, the
    /// dashboard's own notice) and nobody is left to ask for more.
    pub fn request(&self, sig: StopSignal) {
        if self.first.set(sig).is_ok() {
            self.stop.cancel();
            tracing::warn!("{sig}: stopping (a second signal skips the audit)");
        } else if sig == StopSignal::Hangup && self.signal() == Some(StopSignal::Hangup) {
            tracing::info!("{sig} again: the same lost terminal, still stopping");
        } else if !self.skip_audit.is_cancelled() {
            self.skip_audit.cancel();
            tracing::warn!("{sig} again: skipping the audit");
        }
    }

    /// The first signal, once one arrived.
    pub fn signal(&self) -> Option<StopSignal> {
        self.first.get().copied()
    }

    /// Waits for the first signal.
    pub async fn requested(&self) -> StopSignal {
        self.stop.cancelled().await;
        self.signal()
            .expect("the stop token is only cancelled with a signal set")
    }

    /// Cancelled on the first signal.
    pub fn token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// True once a second signal asked to skip the audit.
    pub fn audit_skipped(&self) -> bool {
        self.skip_audit.is_cancelled()
    }

    /// Waits for a second signal.
    pub async fn skip_audit_requested(&self) {
        self.skip_audit.cancelled().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_stops_and_names_the_exit_status_the_second_skips_the_audit() {
        let s = Shutdown::default();
        assert_eq!(s.signal(), None);
        let shared = s.clone();
        shared.request(StopSignal::Terminate);
        assert!(s.token().is_cancelled());
        assert!(!s.audit_skipped());
        assert_eq!(s.signal().map(StopSignal::exit_code), Some(143));
        s.request(StopSignal::Interrupt);
        assert!(s.audit_skipped());
        // The exit status follows the first signal.
        assert_eq!(s.signal(), Some(StopSignal::Terminate));
        assert_eq!(StopSignal::Interrupt.exit_code(), 130);
        assert_eq!(StopSignal::Hangup.exit_code(), 129);
    }

    #[test]
    fn a_lost_terminal_told_twice_does_not_skip_the_audit() {
        let s = Shutdown::default();
        s.request(StopSignal::Hangup);
        s.request(StopSignal::Hangup);
        assert!(s.token().is_cancelled());
        assert!(!s.audit_skipped());
        s.request(StopSignal::Terminate);
        assert!(s.audit_skipped());
        assert_eq!(s.signal(), Some(StopSignal::Hangup));
    }
}
