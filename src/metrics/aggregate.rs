//! The aggregator: drains the grabbers' sample batches (see
//! [`crate::metrics::recorder`]) and owns every histogram and counter of the
//! run: per operation kind and overall, for the last interval and the whole
//! run, the per-second throughput series with each second's latency
//! ([`super::seconds`]), errors by class, and the
//! detection of "first successful write after a stretch of failures"
//! ([`EventKind::WritesRecovered`]).
//!
//! Only the aggregator task touches it; the grabbers never do.

use super::recorder::{OpKind, Sample, OP_KINDS};
use super::seconds::Seconds;
use super::snapshot::*;
use super::{Event, EventBus, EventKind};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

/// One operation kind (e.g. `redpacket.grab`) over the whole run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpReport {
    pub ok: u64,
    pub errors: BTreeMap<ErrorClass, u64>,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// Successful operations per second over the run.
    pub ops_per_s: f64,
}

/// Longest latency the histograms hold, in microseconds (60 s).
const MAX_US: u64 = 60_000_000;

/// A stretch without a successful write at least this long, ended by a
/// successful write after errors, is an outage worth an event.
const OUTAGE_MIN_MS: u64 = 200;

/// Upper bounds of the latency chart's buckets: 1-2-5 steps from 10 µs to 10 s.
pub fn bucket_bounds() -> Vec<u64> {
    let mut v = Vec::new();
    let mut decade = 10u64;
    while decade <= 10_000_000 {
        for m in [1, 2, 5] {
            let b = decade * m;
            if b <= 10_000_000 {
                v.push(b);
            }
        }
        decade *= 10;
    }
    v.push(MAX_US);
    v
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// Percentiles of a histogram.
pub fn summary(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    LatencySummary {
        count: h.len(),
        p50_us: h.value_at_quantile(0.50),
        p90_us: h.value_at_quantile(0.90),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
    }
}

/// The log-spaced buckets of a histogram.
pub fn buckets(h: &Histogram<u64>) -> Vec<LatencyBucket> {
    let mut prev = 0u64;
    bucket_bounds()
        .into_iter()
        .map(|upper| {
            let count = if h.is_empty() {
                0
            } else {
                h.count_between(prev + 1, upper)
            };
            prev = upper;
            LatencyBucket {
                upper_us: upper,
                count,
            }
        })
        .collect()
}

#[derive(Default)]
struct OpAgg {
    total: Option<Histogram<u64>>,
    interval: Option<Histogram<u64>>,
    ok: u64,
    interval_ok: u64,
    errors: [u64; ErrorClass::COUNT],
}

impl OpAgg {
    fn used(&self) -> bool {
        self.ok > 0 || self.errors.iter().any(|e| *e > 0)
    }
}

/// All metrics of one run.
pub struct Aggregator {
    ops: Vec<OpAgg>,
    all_total: Histogram<u64>,
    all_interval: Histogram<u64>,
    throughput: Vec<ThroughputPoint>,
    /// Each second's latency histogram, for the series' p50/p99 and the hlog.
    seconds: Seconds,
    errors: [u64; ErrorClass::COUNT],
    interval_errors: [u64; ErrorClass::COUNT],
    interval_ok: u64,
    last_tick: Instant,
    last_interval_s: f64,
    last_ops_per_s: f64,
    last_errors_per_s: BTreeMap<ErrorClass, f64>,
    // Write-outage detection, fed per tick with this tick's samples in order.
    tick_marks: Vec<(u32, bool)>,
    last_write_ok_ms: Option<u64>,
    failing_since: Option<u64>,
}

impl Default for Aggregator {
    fn default() -> Self {
        Self::new()
    }
}

impl Aggregator {
    pub fn new() -> Aggregator {
        Aggregator {
            ops: (0..OP_KINDS).map(|_| OpAgg::default()).collect(),
            all_total: new_hist(),
            all_interval: new_hist(),
            throughput: Vec::new(),
            seconds: Seconds::new(new_hist),
            errors: [0; ErrorClass::COUNT],
            interval_errors: [0; ErrorClass::COUNT],
            interval_ok: 0,
            last_tick: Instant::now(),
            last_interval_s: 0.0,
            last_ops_per_s: 0.0,
            last_errors_per_s: BTreeMap::new(),
            tick_marks: Vec::new(),
            last_write_ok_ms: None,
            failing_since: None,
        }
    }

    /// Adds one batch of samples.
    pub fn absorb(&mut self, batch: &[Sample]) {
        for s in batch {
            let i = s.op as usize;
            if i >= OP_KINDS {
                continue;
            }
            let op = s.op();
            let us = (s.us as u64).clamp(1, MAX_US);
            let a = &mut self.ops[i];
            match s.error() {
                None => {
                    a.total.get_or_insert_with(new_hist).saturating_record(us);
                    a.interval
                        .get_or_insert_with(new_hist)
                        .saturating_record(us);
                    if op.is_timing() {
                        continue;
                    }
                    a.ok += 1;
                    a.interval_ok += 1;
                    self.interval_ok += 1;
                    self.all_total.saturating_record(us);
                    self.all_interval.saturating_record(us);
                    self.seconds.record((s.at_ms / 1000) as usize, us);
                    let p = self.point(s.at_ms);
                    p.ok += 1;
                    if s.write {
                        p.writes_ok += 1;
                        self.tick_marks.push((s.at_ms, true));
                    }
                }
                Some(class) => {
                    let c = class.index();
                    a.errors[c] += 1;
                    self.errors[c] += 1;
                    self.interval_errors[c] += 1;
                    self.point(s.at_ms).errors += 1;
                    self.tick_marks.push((s.at_ms, false));
                }
            }
        }
    }

    fn point(&mut self, at_ms: u32) -> &mut ThroughputPoint {
        let sec = (at_ms / 1000) as usize;
        while self.throughput.len() <= sec {
            let t_s = self.throughput.len() as u64;
            self.throughput.push(ThroughputPoint {
                t_s,
                ..Default::default()
            });
        }
        &mut self.throughput[sec]
    }

    /// Ends an interval: computes the interval rates, resets the interval
    /// histograms, and emits a `WritesRecovered` event for each outage that
    /// ended in it.
    pub fn tick(&mut self, bus: &EventBus) {
        self.seconds.tick(bus.now_ms(), &mut self.throughput);
        let now = Instant::now();
        let secs = now.duration_since(self.last_tick).as_secs_f64().max(1e-3);
        self.last_tick = now;
        self.last_interval_s = secs;
        self.last_ops_per_s = self.interval_ok as f64 / secs;
        self.last_errors_per_s = ErrorClass::ALL
            .iter()
            .zip(self.interval_errors.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (*c, *n as f64 / secs))
            .collect();
        self.interval_ok = 0;
        self.interval_errors = [0; ErrorClass::COUNT];
        for a in &mut self.ops {
            a.interval_ok = 0;
        }
        self.detect_recoveries(bus);
    }

    fn detect_recoveries(&mut self, bus: &EventBus) {
        let mut marks = std::mem::take(&mut self.tick_marks);
        marks.sort_unstable();
        for (t, ok) in marks.iter().copied() {
            let t = t as u64;
            if ok {
                if let (Some(since), Some(last)) = (self.failing_since, self.last_write_ok_ms) {
                    if t >= since && t.saturating_sub(last) >= OUTAGE_MIN_MS {
                        bus.push(Event {
                            at_ms: t,
                            source: "client".into(),
                            kind: EventKind::WritesRecovered {
                                outage_ms: t - last,
                            },
                        });
                    }
                }
                self.failing_since = None;
                self.last_write_ok_ms = Some(self.last_write_ok_ms.map_or(t, |l| l.max(t)));
            } else if self.failing_since.is_none() && self.last_write_ok_ms.is_none_or(|l| t > l) {
                self.failing_since = Some(t);
            }
        }
        marks.clear();
        self.tick_marks = marks;
    }

    /// Clears the interval histograms (after a snapshot used them).
    fn reset_interval_histograms(&mut self) {
        self.all_interval.reset();
        for a in &mut self.ops {
            if let Some(h) = &mut a.interval {
                h.reset();
            }
        }
    }

    /// Whole-run latency of one operation kind (or timing).
    pub fn op_summary(&self, op: OpKind) -> LatencySummary {
        self.ops[op.index()]
            .total
            .as_ref()
            .map(summary)
            .unwrap_or_default()
    }

    pub fn throughput(&self) -> &[ThroughputPoint] {
        &self.throughput
    }

    /// Writes the run's HdrHistogram interval log: one interval per second
    /// of the throughput series, holding the same samples as `latency`.
    pub fn write_interval_log(
        &self,
        out: &mut impl std::io::Write,
        started: std::time::SystemTime,
        comment: &str,
    ) -> std::io::Result<()> {
        self.seconds
            .write_interval_log(out, self.throughput.len(), started, comment)
    }

    pub fn errors(&self) -> BTreeMap<ErrorClass, u64> {
        ErrorClass::ALL
            .iter()
            .zip(self.errors.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (*c, *n))
            .collect()
    }

    pub fn total_latency(&self) -> LatencySummary {
        summary(&self.all_total)
    }

    pub fn total_buckets(&self) -> Vec<LatencyBucket> {
        buckets(&self.all_total)
    }

    /// Successful Redis operations over the run.
    pub fn ok_total(&self) -> u64 {
        self.ops
            .iter()
            .enumerate()
            .filter(|(i, _)| !OpKind::from_index(*i).is_some_and(|o| o.is_timing()))
            .map(|(_, a)| a.ok)
            .sum()
    }

    /// Fills the metrics part of a snapshot (after [`Aggregator::tick`]) and
    /// starts the next interval.
    pub fn fill_snapshot(&mut self, snap: &mut Snapshot) {
        let secs = self.last_interval_s.max(1e-3);
        snap.ops = (0..OP_KINDS)
            .filter_map(|i| {
                let op = OpKind::from_index(i)?;
                let a = &self.ops[i];
                if op.is_timing() || !a.used() {
                    return None;
                }
                Some(OpView {
                    name: op.name().to_string(),
                    ok: a.ok,
                    errors: errors_map(&a.errors),
                    latency: a.total.as_ref().map(summary).unwrap_or_default(),
                    ops_per_s: a.interval.as_ref().map_or(0.0, |h| h.len() as f64 / secs),
                })
            })
            .collect();
        snap.errors = self.errors();
        snap.errors_per_s = self.last_errors_per_s.clone();
        snap.ops_per_s = self.last_ops_per_s;
        snap.throughput = self.throughput.clone();
        snap.latency = LatencyView {
            interval: summary(&self.all_interval),
            total: summary(&self.all_total),
            buckets: buckets(&self.all_total),
            sum_us: (self.all_total.mean() * self.all_total.len() as f64).round() as u64,
        };
        self.reset_interval_histograms();
    }

    /// Sets the wait and hold latencies of the lock views (after the lock
    /// workload filled them): they are timings, not in `snap.ops`.
    pub fn fill_lock_timings(&self, snap: &mut Snapshot) {
        use super::recorder::LockStep;
        for l in &mut snap.locks {
            l.wait = self.op_summary(OpKind::Lock(l.kind, LockStep::Wait));
            l.hold = self.op_summary(OpKind::Lock(l.kind, LockStep::Hold));
        }
    }

    /// Per operation kind over the whole run, for the report.
    pub fn op_reports(&self, duration_s: f64) -> BTreeMap<String, OpReport> {
        (0..OP_KINDS)
            .filter_map(|i| {
                let op = OpKind::from_index(i)?;
                let a = &self.ops[i];
                if op.is_timing() || !a.used() {
                    return None;
                }
                let s = a.total.as_ref().map(summary).unwrap_or_default();
                Some((
                    op.name().to_string(),
                    OpReport {
                        ok: a.ok,
                        errors: errors_map(&a.errors),
                        p50_us: s.p50_us,
                        p90_us: s.p90_us,
                        p99_us: s.p99_us,
                        p999_us: s.p999_us,
                        max_us: s.max_us,
                        ops_per_s: a.ok as f64 / duration_s.max(1e-3),
                    },
                ))
            })
            .collect()
    }
}

fn errors_map(e: &[u64; ErrorClass::COUNT]) -> BTreeMap<ErrorClass, u64> {
    ErrorClass::ALL
        .iter()
        .zip(e.iter())
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| (*c, *n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at_ms: u32, us: u32, outcome: u8, write: bool) -> Sample {
        Sample {
            at_ms,
            us,
            op: OpKind::RedpacketGrab.index() as u8,
            outcome,
            write,
        }
    }

    #[test]
    fn batches_merge_into_counts_percentiles_and_seconds() {
        let mut a = Aggregator::new();
        let batch: Vec<Sample> = (0..100).map(|i| s(i * 20, 100 + i, 0, true)).collect();
        a.absorb(&batch);
        a.absorb(&[s(2500, 5000, 6, false)]);
        let ops = a.op_reports(1.0);
        let grab = &ops["redpacket.grab"];
        assert_eq!(grab.ok, 100);
        assert_eq!(grab.errors[&ErrorClass::Masterdown], 1);
        assert!((149..=150).contains(&grab.p50_us), "{}", grab.p50_us);
        assert_eq!(grab.max_us, 199);
        assert_eq!(a.throughput().len(), 3);
        assert_eq!(a.throughput()[0].ok, 50);
        assert_eq!(a.throughput()[1].writes_ok, 50);
        assert_eq!(a.throughput()[2].errors, 1);
        let total: u64 = a.total_buckets().iter().map(|b| b.count).sum();
        assert_eq!(total, 100);
    }

    #[test]
    fn a_write_after_a_failing_stretch_is_a_recovery_event() {
        let bus = EventBus::new();
        let mut a = Aggregator::new();
        a.absorb(&[s(100, 10, 0, true), s(150, 10, 3, false)]);
        a.tick(&bus);
        a.absorb(&[s(900, 10, 2, false), s(1400, 10, 0, true)]);
        a.tick(&bus);
        let ev = bus.all();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].at_ms, 1400);
        assert_eq!(ev[0].kind, EventKind::WritesRecovered { outage_ms: 1300 });
    }
}
