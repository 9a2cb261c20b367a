//! The domain's kinds as command-line values: each enum's own `ALL` and
//! `name` spell the values, and the help line of each value is written here,
//! where the `--help` text lives. The domain modules know nothing of clap.

use crate::client::ClientMode;
use crate::kinds::{LockKind, Mode, WorkloadKind};
use crate::topology::select::BackendChoice;
use crate::topology::{HaMode, Persistence};
use clap::builder::PossibleValue;
use clap::ValueEnum;

/// Implements [`ValueEnum`] for a kind from its `ALL` and `name`, with the
/// help line `$help` gives a value (or none).
macro_rules! value_enum {
    ($kind:ty, $help:expr) => {
        impl ValueEnum for $kind {
            fn value_variants<'a>() -> &'a [Self] {
                &<$kind>::ALL
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                let help: fn($kind) -> Option<&'static str> = $help;
                let value = PossibleValue::new(self.name());
                Some(match help(*self) {
                    Some(h) => value.help(h),
                    None => value,
                })
            }
        }
    };
}

value_enum!(BackendChoice, |b| Some(match b {
    BackendChoice::Auto => "Docker when an engine answers, else local processes",
    BackendChoice::Docker => "containers on a bridge network of their own",
    BackendChoice::Local => "redis-server/redis-sentinel processes on 127.0.0.1",
}));

value_enum!(Persistence, |p| Some(match p {
    Persistence::None => "No RDB snapshots, no AOF: a restarted node comes back empty",
    Persistence::Rdb => "RDB snapshots (`save 1 1`) only",
    Persistence::AofAlways => "AOF with `appendfsync always`",
    Persistence::AofEverysec => "AOF with `appendfsync everysec`",
    Persistence::AofNo => "AOF with `appendfsync no` (the OS decides when to flush)",
}));

value_enum!(HaMode, |m| Some(match m {
    HaMode::Sentinel => "one master, its replicas, sentinels that fail it over",
    HaMode::Cluster => "Redis Cluster: masters sharing the 16,384 slots, each with replicas",
}));

value_enum!(WorkloadKind, |w| match w {
    WorkloadKind::Mixed => {
        Some("Red packets, seckill and locks at once, grabbers split between them")
    }
    _ => None,
});

value_enum!(Mode, |_| None);

value_enum!(ClientMode, |c| Some(match c {
    ClientMode::Sentinel => {
        "Ask the sentinels, follow `+switch-master`, re-resolve on errors (cluster: follow MOVED/ASK, refresh the slot map)"
    }
    ClientMode::Naive => {
        "Keep writing to the address it started with, reconnecting to it (cluster: keep the first slot map; MOVED errors after a failover)"
    }
}));

value_enum!(LockKind, |l| Some(match l {
    LockKind::Naive => "`SETNX` then `EXPIRE`, two commands",
    LockKind::Safe => "`SET key token NX PX ttl`, released by compare-and-delete",
    LockKind::Reentrant => "Owner and count in a hash (Lua); the same owner re-enters",
    LockKind::Fenced => {
        "A monotonic fencing token issued with the lock; the resource refuses stale tokens"
    }
}));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_spelled_by_its_domain_name() {
        for k in LockKind::ALL {
            assert_eq!(LockKind::from_str(k.name(), false), Ok(k));
        }
        for p in Persistence::ALL {
            assert_eq!(Persistence::from_str(&p.to_string(), false), Ok(p));
        }
        for w in WorkloadKind::ALL {
            assert_eq!(WorkloadKind::from_str(w.name(), false), Ok(w));
        }
    }
}
