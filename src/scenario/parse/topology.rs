//! The `[topology]` section: the mode (`sentinel` or `cluster`), how many
//! replicas and sentinels, Sentinel's timing knobs, a Cluster's masters,
//! replicas per master, node timeout and full coverage, persistence and
//! write safety, read into a
//! [`TopologySpec`] and checked by it, with a spec error pointed at the key
//! that makes the topology impossible.

use super::reader::{normalise, Reader};
use crate::limits::{self, Limit};
use crate::topology::{HaMode, Persistence, SpecError, TopologySpec};
use std::ops::Range;
use toml::de::DeTable;

const TOPOLOGY_KEYS: &[&str] = &[
    "master_name",
    "replicas",
    "sentinels",
    "quorum",
    "down_after",
    "down_after_ms",
    "failover_timeout",
    "failover_timeout_ms",
    "parallel_syncs",
    "persistence",
    "min_replicas_to_write",
    "min_replicas_max_lag",
    "mode",
    "masters",
    "replicas_per_master",
    "node_timeout",
    "node_timeout_ms",
    "require_full_coverage",
];

fn whole_millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Reader<'_> {
    /// Fills `spec` from `[topology]` (whose header is at `header`) and
    /// validates it when every key was read.
    pub(super) fn topology(
        &mut self,
        t: &DeTable<'_>,
        spec: &mut TopologySpec,
        header: Range<usize>,
    ) {
        let entries = self.entries(t, TOPOLOGY_KEYS, "[topology]");
        // The span of each key's value, so a spec error points at the right one.
        let mut spans: Vec<(String, Range<usize>)> = Vec::new();
        let mut ok = true;
        for (k, v) in &entries {
            let key = normalise(k.get_ref());
            spans.push((key.clone(), v.span()));
            let u16_field = |p: &mut Self, limit: Limit<u64>| -> Option<u16> {
                p.limited(&key, v, limit).map(|n| n as u16)
            };
            let before = self.errors.len();
            match key.as_str() {
                "master_name" => {
                    if let Some(s) = self.string(&key, v) {
                        spec.master_name = s;
                    }
                }
                "replicas" => {
                    spec.replicas = u16_field(self, limits::REPLICAS).unwrap_or(spec.replicas)
                }
                "sentinels" => {
                    spec.sentinels = u16_field(self, limits::SENTINELS).unwrap_or(spec.sentinels)
                }
                "quorum" => spec.quorum = u16_field(self, limits::QUORUM).unwrap_or(spec.quorum),
                // Sentinel's and Cluster's timeouts: a duration, as the
                // flags take it (`down_after = "1s"`), or the legacy
                // `_ms` key's integer milliseconds.
                "down_after" => {
                    if let Some(d) = self.limited_ms(&key, v, limits::DOWN_AFTER_MS) {
                        spec.down_after_ms = whole_millis(d);
                    }
                }
                "failover_timeout" => {
                    if let Some(d) = self.limited_ms(&key, v, limits::FAILOVER_TIMEOUT_MS) {
                        spec.failover_timeout_ms = whole_millis(d);
                    }
                }
                "node_timeout" => {
                    if let Some(d) = self.limited_ms(&key, v, limits::NODE_TIMEOUT_MS) {
                        spec.node_timeout_ms = whole_millis(d);
                    }
                }
                "down_after_ms" => {
                    if let Some(n) = self.limited(&key, v, limits::DOWN_AFTER_MS) {
                        spec.down_after_ms = n;
                    }
                }
                "failover_timeout_ms" => {
                    if let Some(n) = self.limited(&key, v, limits::FAILOVER_TIMEOUT_MS) {
                        spec.failover_timeout_ms = n;
                    }
                }
                "parallel_syncs" => {
                    spec.parallel_syncs =
                        u16_field(self, limits::PARALLEL_SYNCS).unwrap_or(spec.parallel_syncs)
                }
                "persistence" => {
                    let names = Persistence::ALL.map(|p| (p.name(), p));
                    if let Some(p) = self.choice(&key, v, &names) {
                        spec.persistence = p;
                    }
                }
                "min_replicas_to_write" => {
                    spec.min_replicas_to_write = u16_field(self, limits::MIN_REPLICAS_TO_WRITE)
                        .unwrap_or(spec.min_replicas_to_write)
                }
                "min_replicas_max_lag" => {
                    if let Some(n) = self.limited_secs(&key, v, limits::MIN_REPLICAS_MAX_LAG_S) {
                        spec.min_replicas_max_lag_s = n as u32;
                    }
                }
                "mode" => {
                    let names = HaMode::ALL.map(|m| (m.name(), m));
                    if let Some(m) = self.choice(&key, v, &names) {
                        spec.mode = m;
                    }
                }
                "masters" => {
                    spec.masters = u16_field(self, limits::CLUSTER_MASTERS).unwrap_or(spec.masters)
                }
                "replicas_per_master" => {
                    spec.replicas_per_master = u16_field(self, limits::CLUSTER_REPLICAS_PER_MASTER)
                        .unwrap_or(spec.replicas_per_master)
                }
                "node_timeout_ms" => {
                    if let Some(n) = self.limited(&key, v, limits::NODE_TIMEOUT_MS) {
                        spec.node_timeout_ms = n;
                    }
                }
                "require_full_coverage" => {
                    if let Some(b) = self.boolean(&key, v) {
                        spec.require_full_coverage = b;
                    }
                }
                // Unknown keys were reported by `entries`; an allowed key
                // without an arm here would be silently ignored.
                other => debug_assert!(
                    !TOPOLOGY_KEYS.contains(&other),
                    "`{other}` is allowed but not read"
                ),
            }
            ok &= self.errors.len() == before;
        }
        if !ok {
            return;
        }
        let Err(e) = spec.validate() else {
            return;
        };
        let field = match &e {
            SpecError::QuorumZero | SpecError::QuorumAboveSentinels { .. } => "quorum".to_string(),
            // The spec names the legacy `_ms` key; the file may use either.
            SpecError::OutOfRange { field, .. } => {
                let key = normalise(field);
                match spans.iter().any(|(k, _)| *k == key) {
                    true => key,
                    false => key.trim_end_matches("_ms").to_string(),
                }
            }
            SpecError::MinReplicasAboveReplicas { .. } => "min_replicas_to_write".to_string(),
            SpecError::BadMasterName(_) => "master_name".to_string(),
        };
        // Point at the key that makes the spec impossible; if it was left at
        // its default, at the other half of the conflict.
        let partner = match field.as_str() {
            "quorum" => "sentinels",
            "min_replicas_to_write" if spec.is_cluster() => "replicas_per_master",
            "min_replicas_to_write" => "replicas",
            _ => "",
        };
        let span = spans
            .iter()
            .find(|(k, _)| *k == field)
            .or_else(|| spans.iter().find(|(k, _)| k == partner))
            .map(|(_, s)| s.clone())
            .unwrap_or(header);
        self.error(span, format!("impossible topology: {e}"), None);
    }
}
