//! The [`Snapshot`]: everything the dashboard, the headless progress line and
//! the report need to know about a run at one moment. The engine publishes a
//! fresh one about every 250 ms through a `tokio::sync::watch` channel as an
//! `Arc<Snapshot>`, so readers clone a pointer, never the data.

use super::event::Event;
use crate::kinds::{LockKind, WorkloadKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The classes errors are counted under: defined with the one classifier
/// of Redis errors.
pub use crate::topology::admin::errors::ErrorClass;

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

/// One bar of a latency histogram: operations with latency up to `upper_us`
/// (and above the previous bar's bound).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyBucket {
    pub upper_us: u64,
    pub count: u64,
}

/// Latency of all operations: the last interval and the whole run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyView {
    pub interval: LatencySummary,
    pub total: LatencySummary,
    /// Whole-run histogram on log-spaced buckets.
    pub buckets: Vec<LatencyBucket>,
    /// Sum of the whole run's latencies, in microseconds (the histogram's
    /// mean times its count: within its 0.1 % precision).
    #[serde(default)]
    pub sum_us: u64,
}

/// Counters and latency of one operation kind (e.g. `redpacket.grab`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpView {
    pub name: String,
    pub ok: u64,
    pub errors: BTreeMap<ErrorClass, u64>,
    pub latency: LatencySummary,
    pub ops_per_s: f64,
}

/// One second of the throughput series.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThroughputPoint {
    /// Seconds since the run started (the second this point covers).
    pub t_s: u64,
    pub ok: u64,
    pub errors: u64,
    /// Successful writes in this second (for write-outage measurement).
    pub writes_ok: u64,
    /// Median and 99th percentile latency of this second's successful
    /// operations, in milliseconds (None: no successful operation).
    #[serde(default)]
    pub p50_ms: Option<f64>,
    #[serde(default)]
    pub p99_ms: Option<f64>,
}

pub use crate::topology::view::{Health, NodeView, Role, TopologyView};

/// Fairness of one grab position (1st grabber of a packet, 2nd, ...).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PositionStats {
    pub position: usize,
    pub grabs: u64,
    pub mean_cents: f64,
    pub stdev_cents: f64,
    pub luck_king_share: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RedPacketView {
    pub packets: u64,
    pub packets_done: u64,
    pub grabs_ok: u64,
    pub amount_sent_cents: u64,
    pub amount_granted_cents: u64,
    /// Live check: granted + remaining == sent, for every packet seen so far.
    pub conservation_ok: bool,
    pub duplicate_grabs: u64,
    /// Equal-mean line: the mean amount every position should get.
    pub expected_mean_cents: f64,
    pub by_position: Vec<PositionStats>,
    pub gini_mean: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeckillView {
    pub stock: u64,
    pub sold: u64,
    pub stock_left: i64,
    pub oversold: u64,
}

/// Two holders of one lock at once, as observed in-process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockViolation {
    pub at_ms: u64,
    pub lock: String,
    pub holders: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockView {
    pub kind: LockKind,
    pub holders: u64,
    pub waiters: u64,
    /// Acquire attempts sent.
    pub attempts: u64,
    /// Attempts that got the lock.
    pub acquired: u64,
    /// Attempts refused because someone held the lock.
    pub refused: u64,
    /// Rounds that gave up waiting.
    pub failed: u64,
    /// Holders whose lock's TTL ran out while they held it (slow holders).
    pub ttl_expired_while_held: u64,
    /// Acknowledged grants that vanished from Redis before their TTL.
    pub locks_lost: u64,
    pub acquisitions_per_s: f64,
    pub violations: u64,
    pub lost_updates: u64,
    pub stale_tokens_refused: u64,
    pub wait: LatencySummary,
    pub hold: LatencySummary,
    pub last_violations: Vec<LockViolation>,
}

/// Where the load stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadView {
    pub workload: WorkloadKind,
    pub grabbers: usize,
    pub paused: bool,
    pub done: bool,
    /// The load was stopped and every grabber has ended: the counters of
    /// this snapshot are final.
    #[serde(default)]
    pub stopped: bool,
}

/// The run's clock as a scenario counts it (see `lab::clock`): wall time
/// unless a teacher stopped it, jumped it to the next step, or a
/// step-by-step lesson holds it at a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClockView {
    /// Clock time since the start, in milliseconds.
    pub now_ms: u64,
    /// Stopped by the teacher, with the load.
    pub paused: bool,
    /// Held at a step until it is played (`n`).
    pub held: bool,
    /// The step (0-based) it is held at.
    pub held_step: Option<usize>,
}

/// What the cluster client counted (cluster mode): redirects it was sent
/// and slot-map refreshes it made. A naive client counts the redirects it
/// returned as errors and never refreshes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterRedirects {
    /// `MOVED` replies: the slot has another master than the map said.
    pub moved: u64,
    /// `ASK` replies: the slot is being migrated and the key is already on
    /// the importing node.
    pub ask: u64,
    /// Times the slot map was read again from `CLUSTER SHARDS`.
    pub refreshes: u64,
}

/// One shard's load as the cluster client saw it: shards are numbered by
/// their lowest slot in the client's first map (shard 1 serves slot 0), so
/// a shard keeps its number through failovers. They count the first map's
/// slot ranges: after a reshard, a row still counts its starting range,
/// part of which another shard's master may serve now (`master` is the
/// master of the range's first slot now).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShardOps {
    /// 1, 2, ...
    pub shard: u16,
    /// The shard's lowest slot at the start.
    pub first_slot: u16,
    /// Host address of the master the client sends the shard's slots to now.
    pub master: Option<std::net::SocketAddr>,
    /// That master's node name, where the reader knows the topology (the
    /// report); None in snapshots, which readers name themselves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_node: Option<String>,
    /// Commands the shard answered without an error, since the start.
    pub replies: u64,
    /// In the last interval (snapshots), or over the run (report).
    pub replies_per_s: f64,
    /// Latency of the shard's answered commands since the start (a
    /// pipeline's replies each count its round trip), median and 99th
    /// percentile in milliseconds, each the upper bound of its bucket
    /// (buckets a factor 2^(1/4) apart: within 19 %); None before the
    /// first reply.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Latency buckets a factor 2^(1/4) apart, from 1 µs to about 17 s: cheap
/// enough (one atomic add) for the cluster client to keep per shard on
/// the hot path, where a histogram behind a lock would not be.
pub struct LatencyBuckets {
    counts: Vec<std::sync::atomic::AtomicU64>,
}

/// Buckets per factor of 2.
const BUCKETS_PER_OCTAVE: f64 = 4.0;
const BUCKETS: usize = 96;

impl Default for LatencyBuckets {
    fn default() -> Self {
        LatencyBuckets {
            counts: (0..BUCKETS)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
        }
    }
}

impl LatencyBuckets {
    fn index(d: std::time::Duration) -> usize {
        let us = d.as_micros().max(1) as f64;
        ((us.log2() * BUCKETS_PER_OCTAVE) as usize).min(BUCKETS - 1)
    }

    /// The upper bound of bucket `i`, in milliseconds.
    fn upper_ms(i: usize) -> f64 {
        2f64.powf((i as f64 + 1.0) / BUCKETS_PER_OCTAVE) / 1000.0
    }

    pub fn record(&self, d: std::time::Duration) {
        self.counts[Self::index(d)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The upper bound of the bucket holding quantile `q` (0..=1), in ms.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::upper_ms(i));
            }
        }
        None
    }
}

#[cfg(test)]
mod latency_bucket_tests {
    use super::LatencyBuckets;
    use std::time::Duration;

    #[test]
    fn quantiles_bound_the_samples_within_a_bucket() {
        let b = LatencyBuckets::default();
        assert_eq!(b.quantile_ms(0.5), None);
        for us in 1..=1000u64 {
            b.record(Duration::from_micros(us * 100));
        }
        // The true median is 50 ms, the true p99 99 ms.
        let p50 = b.quantile_ms(0.5).unwrap();
        let p99 = b.quantile_ms(0.99).unwrap();
        assert!((50.0..=50.0 * 1.19).contains(&p50), "{p50}");
        assert!((99.0..=99.0 * 1.19).contains(&p99), "{p99}");
        b.record(Duration::from_secs(3600));
        assert!(b.quantile_ms(1.0).unwrap() > 16_000.0);
    }
}

/// Everything a reader needs at one moment. Published as `Arc<Snapshot>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub run_id: String,
    pub seed: u64,
    pub backend: String,
    pub elapsed_ms: u64,
    /// The scenario clock (equal to `elapsed_ms` unless someone stopped,
    /// jumped or held it).
    #[serde(default)]
    pub clock: ClockView,
    pub load: LoadView,
    pub ops: Vec<OpView>,
    pub errors: BTreeMap<ErrorClass, u64>,
    /// Errors per class in the last interval, per second.
    pub errors_per_s: BTreeMap<ErrorClass, f64>,
    pub ops_per_s: f64,
    pub throughput: Vec<ThroughputPoint>,
    pub latency: LatencyView,
    pub topology: TopologyView,
    pub redpacket: Option<RedPacketView>,
    pub seckill: Option<SeckillView>,
    pub locks: Vec<LockView>,
    /// Cluster mode: the client's redirects and refreshes so far; `None` in
    /// Sentinel mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirects: Option<ClusterRedirects>,
    /// Cluster mode: each shard's answered commands; empty in Sentinel mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardOps>,
    /// The most recent events (the full timeline is in the report).
    pub events: Vec<Event>,
    /// What the end of the run measured, in the last snapshot the lab
    /// publishes once the report is built; None before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<RunEndView>,
}

/// The measurements only the end of a run makes (the failover rows from
/// the whole timeline, the losses from the audit), as the report holds them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunEndView {
    /// Whether Redis was read at all (false: the losses are unknown).
    pub audited: bool,
    /// One row per fault on a master, failed over or not.
    pub failovers: Vec<super::failover::Failover>,
    /// Lost acknowledged writes, grouped by cause.
    pub losses: Vec<super::losses::Loss>,
}
