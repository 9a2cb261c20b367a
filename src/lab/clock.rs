//! The run's clock: the time a scenario's steps and the run's duration are
//! counted in. It runs with the wall clock, except that a teacher can stop
//! it ([`RunClock::set_paused`], with the load: Space in lesson mode), jump
//! it to the next step ([`RunClock::skip_to`], `n`), and a step-by-step
//! lesson holds it at each step until released ([`RunClock::hold`]). A run
//! nobody touches keeps the wall clock's time, so nothing changes for it.
//!
//! Whoever waits on the clock ([`RunClock::sleep_until`]) wakes when it
//! reaches the time, also after a jump, and waits on while it is stopped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How the clock stands, as the dashboard shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockReading {
    /// Clock time since the start.
    pub now: Duration,
    /// Stopped by a teacher (the load is paused with it).
    pub paused: bool,
    /// Held at a step until the teacher plays it (`--step`).
    pub held: bool,
    /// Which step (0-based) it is held at: two steps due at one time
    /// cannot be told apart by the clock alone.
    pub held_step: Option<usize>,
}

#[derive(Debug)]
struct State {
    /// Clock time at `since`.
    base: Duration,
    /// When the clock last started running (None: stopped).
    since: Option<Instant>,
    paused: bool,
    /// Held at this step (0-based) until released.
    held: Option<usize>,
}

impl State {
    fn now(&self) -> Duration {
        match self.since {
            Some(t) => self.base + t.elapsed(),
            None => self.base,
        }
    }

    /// Stops or restarts the clock after a change of `paused` or `held`.
    fn settle(&mut self) {
        let stopped = self.paused || self.held.is_some();
        match (stopped, self.since) {
            (true, Some(_)) => {
                self.base = self.now();
                self.since = None;
            }
            (false, None) => self.since = Some(Instant::now()),
            _ => {}
        }
    }
}

/// The run's clock; cheap to clone, all clones are one clock.
#[derive(Clone, Debug)]
pub struct RunClock {
    state: Arc<Mutex<State>>,
    /// Bumped on every change, so sleepers recompute their wait.
    changed: watch::Sender<u64>,
}

impl RunClock {
    /// A clock at zero, running from `start`.
    pub fn starting_at(start: Instant) -> RunClock {
        RunClock {
            state: Arc::new(Mutex::new(State {
                base: Duration::ZERO,
                since: Some(start),
                paused: false,
                held: None,
            })),
            changed: watch::Sender::new(0),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s)
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Clock time since the start.
    pub fn now(&self) -> Duration {
        self.with(|s| s.now())
    }

    pub fn reading(&self) -> ClockReading {
        self.with(|s| ClockReading {
            now: s.now(),
            paused: s.paused,
            held: s.held.is_some(),
            held_step: s.held,
        })
    }

    /// Stops (true) or restarts (false) the clock; returns whether it changed.
    pub fn set_paused(&self, paused: bool) -> bool {
        let changed = self.with(|s| {
            let changed = s.paused != paused;
            s.paused = paused;
            s.settle();
            changed
        });
        self.bump();
        changed
    }

    /// Holds the clock where it is at `step` (0-based: a step-by-step
    /// lesson's step waits to be played), or lets it run on (`None`).
    pub fn hold(&self, step: Option<usize>) {
        self.with(|s| {
            s.held = step;
            s.settle();
        });
        self.bump();
    }

    /// Jumps the clock forward to `to` (never back); returns how far it
    /// jumped.
    pub fn skip_to(&self, to: Duration) -> Duration {
        let jumped = self.with(|s| {
            let now = s.now();
            if to <= now {
                return Duration::ZERO;
            }
            s.base = to;
            if s.since.is_some() {
                s.since = Some(Instant::now());
            }
            to - now
        });
        self.bump();
        jumped
    }

    /// Resolves once the clock reads `at` or later.
    pub async fn sleep_until(&self, at: Duration) {
        let mut changes = self.changed.subscribe();
        loop {
            let (now, running) = self.with(|s| (s.now(), s.since.is_some()));
            if now >= at {
                return;
            }
            changes.borrow_and_update();
            if running {
                tokio::select! {
                    _ = tokio::time::sleep(at - now) => {}
                    _ = changes.changed() => {}
                }
            } else if changes.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

/// Requests to play a scenario's next step now (`n`): the lab passes them
/// to the scenario playing on it, which listens once it starts.
#[derive(Clone, Debug, Default)]
pub struct StepRequests {
    listening: Arc<std::sync::atomic::AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
}

impl StepRequests {
    /// Asks for the next step; false when no scenario listens.
    pub(super) fn request(&self) -> bool {
        if !self.listening.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        self.notify.notify_one();
        true
    }

    /// Marks that a scenario plays and will take the requests.
    pub(super) fn listen(&self) {
        self.listening
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Resolves at the next request (one made while nobody waited counts).
    pub async fn next(&self) {
        self.notify.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_stops_jumps_and_holds() {
        let clock = RunClock::starting_at(Instant::now());
        std::thread::sleep(Duration::from_millis(5));
        let t0 = clock.now();
        assert!(clock.set_paused(true));
        assert!(!clock.set_paused(true));
        let frozen = clock.now();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(clock.now(), frozen, "a paused clock does not move");
        assert!(frozen >= t0);
        assert_eq!(
            clock.skip_to(frozen + Duration::from_secs(10)),
            Duration::from_secs(10)
        );
        assert_eq!(clock.now(), frozen + Duration::from_secs(10));
        assert_eq!(clock.skip_to(Duration::ZERO), Duration::ZERO, "never back");
        clock.set_paused(false);
        clock.hold(Some(3));
        let held = clock.now();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(clock.now(), held);
        assert!(clock.reading().held && !clock.reading().paused);
        assert_eq!(clock.reading().held_step, Some(3));
        clock.hold(None);
        std::thread::sleep(Duration::from_millis(20));
        assert!(clock.now() > held);
    }

    #[tokio::test]
    async fn a_sleeper_wakes_on_a_jump_and_waits_through_a_pause() {
        let clock = RunClock::starting_at(Instant::now());
        clock.set_paused(true);
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(Duration::from_secs(3600)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!sleeper.is_finished(), "paused: the hour never comes");
        clock.skip_to(Duration::from_secs(3600));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("the jump wakes the sleeper")
            .unwrap();
    }
}
