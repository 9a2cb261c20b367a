//! The kinds every layer names: which workload the grabbers run, in which
//! mode, and which distributed lock. They sit below every other module so
//! that the journal, the metrics and the report can name a workload without
//! depending on the code that runs it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which workload the grabbers run.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    Redpacket,
    Seckill,
    Lock,
    /// Red packets, seckill and locks at once, grabbers split between them.
    #[default]
    Mixed,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 4] = [
        WorkloadKind::Redpacket,
        WorkloadKind::Seckill,
        WorkloadKind::Lock,
        WorkloadKind::Mixed,
    ];

    /// The word a user writes for it (scenario key, flag value).
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Redpacket => "redpacket",
            WorkloadKind::Seckill => "seckill",
            WorkloadKind::Lock => "lock",
            WorkloadKind::Mixed => "mixed",
        }
    }

    /// The next kind, for the dashboard's `w` key.
    pub fn next(self) -> WorkloadKind {
        let i = Self::ALL.iter().position(|k| *k == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Atomic (Lua) or naive (separate commands) execution of a workload step.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Atomic,
    Naive,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Atomic, Mode::Naive];

    /// The word a user writes for it (scenario key, flag value).
    pub fn name(self) -> &'static str {
        match self {
            Mode::Atomic => "atomic",
            Mode::Naive => "naive",
        }
    }
}

/// The four distributed locks the lab compares.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum LockKind {
    /// `SETNX` then `EXPIRE`, two commands.
    Naive,
    /// `SET key token NX PX ttl`, released by compare-and-delete.
    Safe,
    /// Owner and count in a hash (Lua); the same owner re-enters.
    Reentrant,
    /// A monotonic fencing token issued with the lock; the resource refuses stale tokens.
    Fenced,
}

impl LockKind {
    pub const ALL: [LockKind; 4] = [
        LockKind::Naive,
        LockKind::Safe,
        LockKind::Reentrant,
        LockKind::Fenced,
    ];

    /// The word a user writes for it (scenario key, flag value).
    pub fn name(self) -> &'static str {
        match self {
            LockKind::Naive => "naive",
            LockKind::Safe => "safe",
            LockKind::Reentrant => "reentrant",
            LockKind::Fenced => "fenced",
        }
    }
}

impl fmt::Display for LockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
