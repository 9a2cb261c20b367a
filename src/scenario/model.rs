//! The scenario model: what a scenario file says once parsed and checked. A
//! title and what it teaches, the topology to start, the workload to run, a
//! timeline of steps and the expectations checked against the report. The
//! parser ([`super::parse`]) is the only way to build one from a file, so a
//! `Scenario` value is always valid; it serialises into report.json.

use crate::faults::FaultRequest;
use crate::topology::select::BackendChoice;
use crate::topology::TopologySpec;
use crate::workload::{LockKind, Mode, WorkloadKind};
use serde::{Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A parsed, checked scenario file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    /// The file it came from, as given on the command line.
    pub file: String,
    pub title: String,
    /// One paragraph: what the scenario shows a reader.
    pub teaches: String,
    /// The run's seed: every random choice of the workload derives from it.
    pub seed: u64,
    /// How long the load runs (the timeline plays inside it).
    #[serde(serialize_with = "as_duration_text")]
    pub duration: Duration,
    /// After the load stops, the longest wait for the topology to agree on
    /// one master before the audit (e.g. for Sentinel to turn a healed old
    /// master into a replica).
    #[serde(serialize_with = "as_duration_text")]
    pub settle: Duration,
    /// Which backend the scenario needs (`auto` unless it partitions).
    #[serde(serialize_with = "as_backend_text")]
    pub backend: BackendChoice,
    pub topology: TopologySpec,
    pub workload: WorkloadSpec,
    pub steps: Vec<Step>,
    pub expect: Vec<Expectation>,
}

/// Whether the client follows Sentinel or keeps its first master.
pub use crate::kinds::ClientMode;

/// The workload of a scenario. `None` fields take the engine's defaults.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadSpec {
    pub kind: WorkloadKind,
    pub grabbers: usize,
    /// Users the grabbers act for (None: one per grabber). Fewer users than
    /// grabbers lets one user grab from two tasks at once.
    pub users: Option<u64>,
    /// Multiplexed connections shared by the grabbers.
    pub connections: Option<usize>,
    /// Atomic (Lua) or naive (separate commands) red packets and seckill.
    pub mode: Mode,
    pub client: ClientMode,
    /// Cluster mode: hash tags in key names (None: on; `false` shows
    /// every multi-key script failing with CROSSSLOT).
    pub hash_tags: Option<bool>,
    /// Stop the load when every packet is grabbed / the stock is sold.
    pub until_done: bool,
    /// Red packets: how many packets, the amount in each, the grabs per packet.
    pub packets: Option<u64>,
    pub packet_amount_cents: Option<u64>,
    pub packet_count: Option<u64>,
    /// Seckill: the stock of each item, and how many items are on sale.
    pub stock: Option<u64>,
    pub items: Option<u64>,
    /// Naive modes: a pause between the read and the write, to force
    /// interleaving (shows the damage with fewer grabbers).
    #[serde(serialize_with = "as_opt_duration_text")]
    pub naive_delay: Option<Duration>,
    /// A pause between two operations of one grabber.
    #[serde(serialize_with = "as_opt_duration_text")]
    pub think: Option<Duration>,
    /// Locks: which kinds run, over how many keys, with what TTL and hold time.
    pub locks: Vec<LockKind>,
    pub lock_keys: Option<u64>,
    #[serde(serialize_with = "as_opt_duration_text")]
    pub lock_ttl: Option<Duration>,
    #[serde(serialize_with = "as_opt_duration_text")]
    pub lock_hold: Option<Duration>,
    /// Naive lock: how many grabbers die between SETNX and EXPIRE, each
    /// leaving a lock without TTL.
    pub lock_die_between: Option<u64>,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            kind: WorkloadKind::Mixed,
            grabbers: 1000,
            users: None,
            connections: None,
            mode: Mode::Atomic,
            client: ClientMode::Sentinel,
            hash_tags: None,
            until_done: false,
            packets: None,
            packet_amount_cents: None,
            packet_count: None,
            stock: None,
            items: None,
            naive_delay: None,
            think: None,
            locks: Vec::new(),
            lock_keys: None,
            lock_ttl: None,
            lock_hold: None,
            lock_die_between: None,
        }
    }
}

/// One step of the timeline: at `at` after the start, do `action`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    #[serde(serialize_with = "as_duration_text")]
    pub at: Duration,
    pub action: Action,
    /// Narration shown with the step (dashboard timeline, report.md).
    pub note: Option<String>,
    /// A question the step raises for the class, answered at the end
    /// with a measured value.
    pub question: Option<Question>,
    /// Line of the step's `[[step]]` header in the file, for messages.
    pub line: usize,
}

/// A question of a lesson (`question = "..."`, `answer = "write_outage"`):
/// its answer is the value the run measured under that name, one of the
/// names `[expect]` knows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Question {
    pub text: String,
    /// The measured name that answers it.
    pub answer: String,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Inject a fault (also heal, resume and restart, which are fault kinds).
    Fault(FaultRequest),
    SetGrabbers {
        grabbers: usize,
    },
    SetWorkload {
        workload: WorkloadKind,
    },
    /// Pause (true) or resume (false) the load.
    PauseLoad {
        paused: bool,
    },
    /// Wait until an event matching `event` arrives, at most `timeout`.
    /// A `required` wait that times out fails the run's verdict.
    WaitFor {
        event: String,
        #[serde(serialize_with = "as_duration_text")]
        timeout: Duration,
        required: bool,
    },
    /// Hold the timeline: later steps start no earlier than this ends.
    Sleep {
        #[serde(serialize_with = "as_duration_text")]
        duration: Duration,
    },
    /// Narration only.
    Note,
    /// Stop the load now (before `duration`).
    Stop,
}

impl Action {
    /// The step in words, written once for the narration, the dashboard's
    /// timeline and report.md: `segfault master`, `set grabbers to 200`,
    /// `wait for +switch-master (at most 30s)`.
    pub fn sentence(&self) -> String {
        match self {
            Action::Fault(f) => f.sentence(),
            Action::SetGrabbers { grabbers } => format!("set grabbers to {grabbers}"),
            Action::SetWorkload { workload } => format!("switch the workload to {workload}"),
            Action::PauseLoad { paused: true } => "pause the load".into(),
            Action::PauseLoad { paused: false } => "resume the load".into(),
            Action::WaitFor { event, timeout, .. } => {
                format!("wait for {event} (at most {})", duration_text(*timeout))
            }
            Action::Sleep { duration } => {
                format!("hold the timeline for {}", duration_text(*duration))
            }
            Action::Note => "note".into(),
            Action::Stop => "stop the load".into(),
        }
    }
}

/// How an expectation compares the measured value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Comparator {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Comparator {
    /// Longest symbol first, so `<=` is not read as `<`.
    pub const ALL: [Comparator; 6] = [
        Comparator::Le,
        Comparator::Ge,
        Comparator::Eq,
        Comparator::Ne,
        Comparator::Lt,
        Comparator::Gt,
    ];

    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Eq => "==",
            Comparator::Ne => "!=",
        }
    }

    pub fn holds(self, measured: f64, expected: f64) -> bool {
        match self {
            Comparator::Lt => measured < expected,
            Comparator::Le => measured <= expected,
            Comparator::Gt => measured > expected,
            Comparator::Ge => measured >= expected,
            Comparator::Eq => measured == expected,
            Comparator::Ne => measured != expected,
        }
    }
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// The value an expectation compares against.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Expected {
    /// A count, a number of milliseconds, a ratio.
    Number {
        cmp: Comparator,
        value: f64,
    },
    Bool(bool),
}

/// One line of `[expect]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expectation {
    pub name: String,
    pub expected: Expected,
    /// The text as written in the file, e.g. `"> 0"` or `6s`.
    pub written: String,
    pub line: usize,
}

// The parser's messages name durations by this path.
use crate::words::duration as duration_text;

fn as_duration_text<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&duration_text(*d))
}

fn as_opt_duration_text<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&duration_text(*d)),
        None => s.serialize_none(),
    }
}

fn as_backend_text<S: Serializer>(b: &BackendChoice, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(b.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_say_what_they_do() {
        use crate::faults::{FaultKind, Target};
        let pause = Action::Fault(FaultRequest {
            kind: FaultKind::Pause,
            target: Target::Master,
            duration: Some(Duration::from_secs(5)),
            from: Vec::new(),
            reshard: None,
            scale: None,
        });
        assert_eq!(pause.sentence(), "pause master for 5s");
        let cut = Action::Fault(FaultRequest {
            kind: FaultKind::Partition,
            target: Target::Master,
            duration: None,
            from: vec!["redis-2".into(), "sentinel-1".into()],
            reshard: None,
            scale: None,
        });
        assert_eq!(cut.sentence(), "partition master from redis-2, sentinel-1");
        assert_eq!(
            Action::SetGrabbers { grabbers: 200 }.sentence(),
            "set grabbers to 200"
        );
        let wait = Action::WaitFor {
            event: "+switch-master".into(),
            timeout: Duration::from_secs(30),
            required: true,
        };
        assert_eq!(wait.sentence(), "wait for +switch-master (at most 30s)");
        let hold = Action::Sleep {
            duration: Duration::from_millis(1500),
        };
        assert_eq!(hold.sentence(), "hold the timeline for 1.5s");
    }

    #[test]
    fn comparators_hold_as_their_symbols_say() {
        assert!(Comparator::Gt.holds(1.0, 0.0));
        assert!(!Comparator::Lt.holds(50.0, 50.0));
        assert!(Comparator::Le.holds(50.0, 50.0));
        assert!(Comparator::Ne.holds(1.0, 0.0));
    }
}
