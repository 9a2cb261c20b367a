//! The topology spec: what to start (how many replicas and sentinels, Sentinel's
//! timing knobs, persistence, write safety), its defaults, and the checks that
//! refuse an impossible spec before anything is started.

use crate::limits::{self, Limit};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a Redis node persists its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Persistence {
    /// No RDB snapshots, no AOF: a restarted node comes back empty.
    #[default]
    None,
    /// RDB snapshots (`save 1 1`) only.
    Rdb,
    /// AOF with `appendfsync always`.
    AofAlways,
    /// AOF with `appendfsync everysec`.
    AofEverysec,
    /// AOF with `appendfsync no` (the OS decides when to flush).
    AofNo,
}

impl Persistence {
    pub const ALL: [Persistence; 5] = [
        Persistence::None,
        Persistence::Rdb,
        Persistence::AofAlways,
        Persistence::AofEverysec,
        Persistence::AofNo,
    ];

    /// The word a user writes for it (scenario key, flag value).
    pub fn name(self) -> &'static str {
        match self {
            Persistence::None => "none",
            Persistence::Rdb => "rdb",
            Persistence::AofAlways => "aof-always",
            Persistence::AofEverysec => "aof-everysec",
            Persistence::AofNo => "aof-no",
        }
    }

    /// The redis.conf lines that select this persistence mode.
    pub fn config_lines(self) -> Vec<String> {
        let aof = |fsync: &str| {
            vec![
                "save \"\"".to_string(),
                "appendonly yes".to_string(),
                format!("appendfsync {fsync}"),
            ]
        };
        match self {
            Persistence::None => vec!["save \"\"".into(), "appendonly no".into()],
            Persistence::Rdb => vec!["save 1 1".into(), "appendonly no".into()],
            Persistence::AofAlways => aof("always"),
            Persistence::AofEverysec => aof("everysec"),
            Persistence::AofNo => aof("no"),
        }
    }
}

impl fmt::Display for Persistence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to start: one master, `replicas` replicas and `sentinels` sentinels
/// monitoring the master under `master_name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopologySpec {
    pub master_name: String,
    pub replicas: u16,
    pub sentinels: u16,
    pub quorum: u16,
    pub down_after_ms: u64,
    pub failover_timeout_ms: u64,
    pub parallel_syncs: u16,
    pub persistence: Persistence,
    pub min_replicas_to_write: u16,
    pub min_replicas_max_lag_s: u32,
}

impl Default for TopologySpec {
    fn default() -> Self {
        TopologySpec {
            master_name: "mymaster".into(),
            replicas: 2,
            sentinels: 3,
            quorum: 2,
            down_after_ms: 1000,
            failover_timeout_ms: 10_000,
            parallel_syncs: 1,
            persistence: Persistence::None,
            min_replicas_to_write: 0,
            min_replicas_max_lag_s: 10,
        }
    }
}

/// Why a spec cannot be started. Each message says what is allowed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("quorum must be at least 1 (it is the number of sentinels that must agree the master is down)")]
    QuorumZero,
    #[error("quorum {quorum} is above the number of sentinels ({sentinels}): no failover could ever be agreed; use a quorum from 1 to {sentinels}")]
    QuorumAboveSentinels { quorum: u16, sentinels: u16 },
    #[error("{field} = {value} is out of range: allowed {allowed}")]
    OutOfRange {
        field: &'static str,
        value: u64,
        allowed: Limit<u64>,
    },
    #[error("min-replicas-to-write {wanted} needs at least that many replicas, but only {replicas} are asked for: the master would refuse every write")]
    MinReplicasAboveReplicas { wanted: u16, replicas: u16 },
    #[error("master name {0:?} is not allowed: use 1 to 64 letters, digits, '-' or '_'")]
    BadMasterName(String),
}

impl TopologySpec {
    /// Refuses a spec that cannot work, before anything is started.
    pub fn validate(&self) -> Result<(), SpecError> {
        fn range(field: &'static str, value: u64, limit: Limit<u64>) -> Result<(), SpecError> {
            limit.check(value).map_err(|_| SpecError::OutOfRange {
                field,
                value,
                allowed: limit,
            })?;
            Ok(())
        }
        let name_ok = !self.master_name.is_empty()
            && self.master_name.len() <= 64
            && self
                .master_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(SpecError::BadMasterName(self.master_name.clone()));
        }
        range("replicas", self.replicas.into(), limits::REPLICAS)?;
        // 0 sentinels means no automatic failover.
        range("sentinels", self.sentinels.into(), limits::SENTINELS)?;
        if self.sentinels > 0 {
            if self.quorum == 0 {
                return Err(SpecError::QuorumZero);
            }
            if self.quorum > self.sentinels {
                return Err(SpecError::QuorumAboveSentinels {
                    quorum: self.quorum,
                    sentinels: self.sentinels,
                });
            }
        }
        range("down-after-ms", self.down_after_ms, limits::DOWN_AFTER_MS)?;
        range(
            "failover-timeout-ms",
            self.failover_timeout_ms,
            limits::FAILOVER_TIMEOUT_MS,
        )?;
        range(
            "parallel-syncs",
            self.parallel_syncs.into(),
            limits::PARALLEL_SYNCS,
        )?;
        range(
            "min-replicas-max-lag",
            self.min_replicas_max_lag_s.into(),
            limits::MIN_REPLICAS_MAX_LAG_S,
        )?;
        if self.min_replicas_to_write > self.replicas {
            return Err(SpecError::MinReplicasAboveReplicas {
                wanted: self.min_replicas_to_write,
                replicas: self.replicas,
            });
        }
        Ok(())
    }

    /// Number of Redis data nodes (master plus replicas).
    pub fn redis_count(&self) -> usize {
        1 + self.replicas as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_valid_and_matches_the_documented_defaults() {
        let s = TopologySpec::default();
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(
            (s.replicas, s.sentinels, s.quorum, s.down_after_ms),
            (2, 3, 2, 1000)
        );
    }

    #[test]
    fn impossible_quorums_are_refused() {
        let mut s = TopologySpec {
            quorum: 0,
            ..Default::default()
        };
        assert_eq!(s.validate(), Err(SpecError::QuorumZero));
        s.quorum = 4;
        assert_eq!(
            s.validate(),
            Err(SpecError::QuorumAboveSentinels {
                quorum: 4,
                sentinels: 3
            })
        );
    }

    #[test]
    fn min_replicas_above_replica_count_is_refused() {
        let s = TopologySpec {
            replicas: 1,
            min_replicas_to_write: 2,
            ..Default::default()
        };
        assert!(matches!(
            s.validate(),
            Err(SpecError::MinReplicasAboveReplicas { .. })
        ));
    }
}
