//! The kinds every layer names: which workload the grabbers run, in which
//! mode, and which distributed lock. They sit below every other module so
//! that the journal, the metrics and the report can name a workload without
//! depending on the code that runs it. Each kind lists its values
//! (`ALL`) and names them once (`name`); Display, parsing and the
//! command line's values are built from those two.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Index, IndexMut};
use std::str::FromStr;

/// Writes a kind by its name and parses it back from any of its names.
macro_rules! named_kind {
    ($kind:ident, $what:literal) => {
        impl fmt::Display for $kind {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $kind {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                $kind::ALL
                    .into_iter()
                    .find(|k| k.name() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = $kind::ALL.iter().map(|k| k.name()).collect();
                        format!(
                            concat!("unknown ", $what, " `{}` (expected one of {})"),
                            s,
                            names.join(", ")
                        )
                    })
            }
        }
    };
}

/// Which workload the grabbers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
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

    /// The workloads a grabber runs one of (`Mixed` splits the grabbers
    /// between them), in the order of a [`PerWorkload`].
    pub const SINGLE: [WorkloadKind; 3] = [
        WorkloadKind::Redpacket,
        WorkloadKind::Seckill,
        WorkloadKind::Lock,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Redpacket => "redpacket",
            WorkloadKind::Seckill => "seckill",
            WorkloadKind::Lock => "lock",
            WorkloadKind::Mixed => "mixed",
        }
    }

    /// The single workloads this kind runs: itself, or all three for `Mixed`.
    pub fn singles(self) -> &'static [WorkloadKind] {
        match self {
            WorkloadKind::Redpacket => &Self::SINGLE[0..1],
            WorkloadKind::Seckill => &Self::SINGLE[1..2],
            WorkloadKind::Lock => &Self::SINGLE[2..3],
            WorkloadKind::Mixed => &Self::SINGLE,
        }
    }

    /// The next kind, for the dashboard's `w` key.
    pub fn next(self) -> WorkloadKind {
        let i = Self::ALL.iter().position(|k| *k == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

named_kind!(WorkloadKind, "workload");

/// One value per single workload (red packets, seckill, locks), indexed by
/// the kind rather than by a number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerWorkload<T>([T; 3]);

impl<T> PerWorkload<T> {
    pub fn from_fn(mut f: impl FnMut(WorkloadKind) -> T) -> Self {
        PerWorkload(WorkloadKind::SINGLE.map(&mut f))
    }

    pub fn map<U>(&self, mut f: impl FnMut(&T) -> U) -> PerWorkload<U> {
        PerWorkload::from_fn(|k| f(&self[k]))
    }

    /// Each single workload with its value, in [`WorkloadKind::SINGLE`] order.
    pub fn iter(&self) -> impl Iterator<Item = (WorkloadKind, &T)> {
        WorkloadKind::SINGLE.into_iter().zip(&self.0)
    }

    fn slot(kind: WorkloadKind) -> usize {
        match kind {
            WorkloadKind::Redpacket => 0,
            WorkloadKind::Seckill => 1,
            WorkloadKind::Lock => 2,
            WorkloadKind::Mixed => panic!("mixed is not a single workload"),
        }
    }
}

/// Panics on `Mixed`, which is not a single workload.
impl<T> Index<WorkloadKind> for PerWorkload<T> {
    type Output = T;

    fn index(&self, kind: WorkloadKind) -> &T {
        &self.0[Self::slot(kind)]
    }
}

impl<T> IndexMut<WorkloadKind> for PerWorkload<T> {
    fn index_mut(&mut self, kind: WorkloadKind) -> &mut T {
        &mut self.0[Self::slot(kind)]
    }
}

/// The values in [`WorkloadKind::SINGLE`] order.
impl<T> IntoIterator for PerWorkload<T> {
    type Item = T;
    type IntoIter = std::array::IntoIter<T, 3>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Atomic (Lua) or naive (separate commands) execution of a workload step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Atomic,
    Naive,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Atomic, Mode::Naive];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Atomic => "atomic",
            Mode::Naive => "naive",
        }
    }
}

named_kind!(Mode, "mode");

/// How the client finds the master. The same two modes in both topology
/// modes: the careful client, and the one that never looks again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientMode {
    /// Sentinel mode: ask the sentinels, follow `+switch-master`,
    /// re-resolve on errors. Cluster mode: the cluster-aware client, which
    /// routes by slot, follows MOVED and ASK and refreshes its slot map
    /// after redirects, errors and failovers.
    #[default]
    Sentinel,
    /// Sentinel mode: keep writing to the address it started with
    /// (reconnecting to it); feeds a split brain. Cluster mode: keep the
    /// first slot map for the whole run; after a failover every command
    /// for the moved slots fails with MOVED.
    Naive,
}

impl ClientMode {
    pub const ALL: [ClientMode; 2] = [ClientMode::Sentinel, ClientMode::Naive];

    pub fn name(self) -> &'static str {
        match self {
            ClientMode::Sentinel => "sentinel",
            ClientMode::Naive => "naive",
        }
    }
}

named_kind!(ClientMode, "client mode");

/// The four distributed locks the lab compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

    pub fn name(self) -> &'static str {
        match self {
            LockKind::Naive => "naive",
            LockKind::Safe => "safe",
            LockKind::Reentrant => "reentrant",
            LockKind::Fenced => "fenced",
        }
    }
}

named_kind!(LockKind, "lock kind");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_their_kinds() {
        for k in WorkloadKind::ALL {
            assert_eq!(k.name().parse::<WorkloadKind>(), Ok(k));
        }
        for m in Mode::ALL {
            assert_eq!(m.to_string().parse::<Mode>(), Ok(m));
        }
        for c in ClientMode::ALL {
            assert_eq!(c.name().parse::<ClientMode>(), Ok(c));
        }
        for l in LockKind::ALL {
            assert_eq!(l.name().parse::<LockKind>(), Ok(l));
        }
        assert!("fencd".parse::<LockKind>().unwrap_err().contains("fenced"));
    }

    #[test]
    fn per_workload_is_indexed_by_the_single_kinds() {
        let mut used = PerWorkload::<bool>::default();
        for k in WorkloadKind::Seckill.singles() {
            used[*k] = true;
        }
        assert_eq!(used.into_iter().collect::<Vec<_>>(), [false, true, false]);
        let all = PerWorkload::from_fn(|k| WorkloadKind::Mixed.singles().contains(&k));
        assert!(all.iter().all(|(_, u)| *u));
        assert_eq!(all.map(|u| !u).iter().filter(|(_, u)| **u).count(), 0);
    }
}
