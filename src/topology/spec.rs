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

/// Which high-availability model a topology runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HaMode {
    /// One master, its replicas, and sentinels that fail it over.
    #[default]
    Sentinel,
    /// A Redis Cluster: masters sharing the 16,384 hash slots, each with
    /// its replicas; the nodes fail each other over themselves.
    Cluster,
}

impl HaMode {
    pub const ALL: [HaMode; 2] = [HaMode::Sentinel, HaMode::Cluster];

    /// The word a user writes for it (`--mode`, scenario `mode`).
    pub fn name(self) -> &'static str {
        match self {
            HaMode::Sentinel => "sentinel",
            HaMode::Cluster => "cluster",
        }
    }
}

impl fmt::Display for HaMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to start. Sentinel mode: one master, `replicas` replicas and
/// `sentinels` sentinels monitoring the master under `master_name`.
/// Cluster mode: `masters` masters with `replicas_per_master` replicas
/// each and no sentinel (the Sentinel-only fields are then unused).
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
    pub mode: HaMode,
    /// Cluster mode: number of masters (shards).
    pub masters: u16,
    /// Cluster mode: replicas of each master.
    pub replicas_per_master: u16,
    /// Cluster mode: `cluster-node-timeout`, milliseconds.
    pub node_timeout_ms: u64,
    /// Cluster mode: `cluster-require-full-coverage` (yes: the whole
    /// cluster refuses writes while any slot has no master).
    pub require_full_coverage: bool,
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
            mode: HaMode::Sentinel,
            masters: 3,
            replicas_per_master: 1,
            node_timeout_ms: 2000,
            require_full_coverage: true,
        }
    }
}

/// `value` of `field` within `limit`, or the error saying what is allowed.
fn range(field: &'static str, value: u64, limit: Limit<u64>) -> Result<(), SpecError> {
    limit.check(value).map_err(|_| SpecError::OutOfRange {
        field,
        value,
        allowed: limit,
    })?;
    Ok(())
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
        if self.mode == HaMode::Cluster {
            return self.validate_cluster();
        }
        self.validate_sentinel()
    }

    /// The checks of a Cluster spec: only the Cluster fields count.
    fn validate_cluster(&self) -> Result<(), SpecError> {
        range("masters", self.masters.into(), limits::CLUSTER_MASTERS)?;
        range(
            "replicas-per-master",
            self.replicas_per_master.into(),
            limits::CLUSTER_REPLICAS_PER_MASTER,
        )?;
        range(
            "node-timeout-ms",
            self.node_timeout_ms,
            limits::NODE_TIMEOUT_MS,
        )?;
        range(
            "min-replicas-max-lag",
            self.min_replicas_max_lag_s.into(),
            limits::MIN_REPLICAS_MAX_LAG_S,
        )?;
        if self.min_replicas_to_write > self.replicas_per_master {
            return Err(SpecError::MinReplicasAboveReplicas {
                wanted: self.min_replicas_to_write,
                replicas: self.replicas_per_master,
            });
        }
        Ok(())
    }

    fn validate_sentinel(&self) -> Result<(), SpecError> {
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

    /// Number of Redis data nodes: the master plus its replicas, or every
    /// Cluster master and replica.
    pub fn redis_count(&self) -> usize {
        match self.mode {
            HaMode::Sentinel => 1 + self.replicas as usize,
            HaMode::Cluster => self.masters as usize * (1 + self.replicas_per_master as usize),
        }
    }

    /// Number of sentinels started: none in Cluster mode.
    pub fn sentinel_count(&self) -> usize {
        match self.mode {
            HaMode::Sentinel => self.sentinels as usize,
            HaMode::Cluster => 0,
        }
    }

    pub fn is_cluster(&self) -> bool {
        self.mode == HaMode::Cluster
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
    fn cluster_specs_count_their_own_nodes_and_refuse_too_few_masters() {
        let mut s = TopologySpec {
            mode: HaMode::Cluster,
            ..Default::default()
        };
        assert_eq!(s.validate(), Ok(()));
        assert_eq!((s.redis_count(), s.sentinel_count()), (6, 0));
        s.replicas_per_master = 2;
        s.masters = 4;
        assert_eq!(s.redis_count(), 12);
        s.masters = 2;
        assert!(matches!(
            s.validate(),
            Err(SpecError::OutOfRange {
                field: "masters",
                ..
            })
        ));
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
