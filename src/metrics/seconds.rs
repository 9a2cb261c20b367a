//! Latency per second of the run: one histogram per second of the
//! throughput series (the same successful operations `latency` counts),
//! giving each [`ThroughputPoint`] its p50 and p99 and the run its
//! HdrHistogram interval log (`latency.hlog`, one interval per second).
//!
//! A second stays an open histogram while samples for it may still arrive
//! (grabbers hand their samples over on the next tick, a slow operation
//! later); once the run's clock is [`GRACE_MS`] past its end it is closed:
//! kept as its compact V2 encoding (a few hundred bytes, where an open
//! histogram takes tens of KB), so an hour-long run stays small. A sample
//! for a closed second (an operation that took longer than the grace)
//! opens it again.

use super::snapshot::ThroughputPoint;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer, V2Serializer};
use hdrhistogram::Histogram;
use std::time::{Duration, SystemTime};

/// How long after a second ends it stays open for late samples.
pub const GRACE_MS: u64 = 3_000;

enum Second {
    Empty,
    Open(Box<Histogram<u64>>),
    Closed(Vec<u8>),
}

/// The per-second latency histograms of one run, in microseconds.
pub struct Seconds {
    seconds: Vec<Second>,
    /// Seconds that got samples since their quantiles were last computed.
    dirty: Vec<usize>,
    new_hist: fn() -> Histogram<u64>,
}

fn encode(h: &Histogram<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut out)
        .expect("a histogram serializes into memory");
    out
}

fn decode(bytes: &[u8]) -> Histogram<u64> {
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .expect("a histogram this module encoded decodes")
}

/// The value at quantile `q` in milliseconds (None for an empty histogram).
fn quantile_ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
}

impl Seconds {
    /// `new_hist` makes an empty histogram with the run's bounds.
    pub fn new(new_hist: fn() -> Histogram<u64>) -> Seconds {
        Seconds {
            seconds: Vec::new(),
            dirty: Vec::new(),
            new_hist,
        }
    }

    /// Records one successful operation of `us` microseconds in second `sec`.
    pub fn record(&mut self, sec: usize, us: u64) {
        while self.seconds.len() <= sec {
            self.seconds.push(Second::Empty);
        }
        let slot = &mut self.seconds[sec];
        if !matches!(slot, Second::Open(_)) {
            let h = match slot {
                Second::Closed(bytes) => decode(bytes),
                _ => (self.new_hist)(),
            };
            *slot = Second::Open(Box::new(h));
        }
        if let Second::Open(h) = slot {
            h.saturating_record(us);
        }
        if !self.dirty.contains(&sec) {
            self.dirty.push(sec);
        }
    }

    /// Sets p50 and p99 of every point whose second got samples since the
    /// last call, and closes the seconds that ended [`GRACE_MS`] before
    /// `now_ms` (the run's clock).
    pub fn tick(&mut self, now_ms: u64, points: &mut [ThroughputPoint]) {
        for sec in self.dirty.drain(..) {
            if let (Some(Second::Open(h)), Some(p)) = (self.seconds.get(sec), points.get_mut(sec)) {
                p.p50_ms = quantile_ms(h, 0.50);
                p.p99_ms = quantile_ms(h, 0.99);
            }
        }
        let closing = (now_ms.saturating_sub(GRACE_MS) / 1000) as usize;
        for slot in self.seconds.iter_mut().take(closing) {
            if let Second::Open(h) = slot {
                *slot = Second::Closed(encode(h));
            }
        }
    }

    /// Second `sec`'s histogram (empty when it had no sample).
    pub fn histogram(&self, sec: usize) -> Histogram<u64> {
        match self.seconds.get(sec) {
            Some(Second::Open(h)) => (**h).clone(),
            Some(Second::Closed(bytes)) => decode(bytes),
            _ => (self.new_hist)(),
        }
    }

    /// Writes the HdrHistogram interval log of `count` seconds: a header
    /// (values in microseconds, the run's start as StartTime and BaseTime),
    /// then one interval per second, each stamped with its offset from the
    /// start and lasting one second, compressed V2 histograms as the Java
    /// and Rust tools read them.
    pub fn write_interval_log(
        &self,
        out: &mut impl std::io::Write,
        count: usize,
        started: SystemTime,
        comment: &str,
    ) -> std::io::Result<()> {
        let mut serializer = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment(comment)
            .add_comment("values in microseconds; one interval per second of the run")
            .with_start_time(started)
            .with_base_time(started)
            .with_max_value_divisor(1000.0)
            .begin_log_with(out, &mut serializer)?;
        for sec in 0..count {
            log.write_histogram(
                &self.histogram(sec),
                Duration::from_secs(sec as u64),
                Duration::from_secs(1),
                None,
            )
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    fn hist() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
    }

    fn points(n: usize) -> Vec<ThroughputPoint> {
        (0..n)
            .map(|t| ThroughputPoint {
                t_s: t as u64,
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn each_second_gets_its_quantiles_and_a_late_sample_reopens_a_closed_second() {
        let mut s = Seconds::new(hist);
        let mut p = points(6);
        // Below 2048 µs the histogram holds every value exactly.
        for us in 1..=100 {
            s.record(0, us * 10);
        }
        s.record(2, 1500);
        s.tick(1000, &mut p);
        assert_eq!(p[0].p50_ms, Some(0.5));
        assert_eq!(p[0].p99_ms, Some(0.99));
        assert_eq!(p[1].p50_ms, None);
        assert_eq!(p[2].p99_ms, Some(1.5));
        // Second 0 closes 3 s after it ended; a late sample reopens it.
        s.tick(5000, &mut p);
        assert!(matches!(s.seconds[0], Second::Closed(_)));
        assert!(matches!(s.seconds[2], Second::Open(_)));
        s.record(0, 5_000_000);
        s.tick(5250, &mut p);
        assert_eq!(s.histogram(0).len(), 101);
        assert_eq!(p[0].p50_ms, Some(0.51));
        assert_eq!(s.histogram(1).len(), 0);
    }

    #[test]
    fn the_interval_log_reads_back_one_interval_per_second_with_every_sample() {
        let mut s = Seconds::new(hist);
        let mut p = points(4);
        // Second 2 had no successful operation: an empty interval.
        for sec in [0, 1, 3] {
            for i in 0..(10 * sec + 1) {
                s.record(sec, 100 + i as u64);
            }
        }
        s.tick(10_000, &mut p);
        let mut out = Vec::new();
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        s.write_interval_log(&mut out, 4, started, "test").unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("#test\n"), "{text}");
        assert!(text.contains("#[BaseTime: 1700000000.000"), "{text}");
        let mut total = 0;
        let mut intervals = Vec::new();
        for entry in IntervalLogIterator::new(&out) {
            if let LogEntry::Interval(h) = entry.unwrap() {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(h.encoded_histogram())
                    .unwrap();
                let decoded: Histogram<u64> =
                    Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
                total += decoded.len();
                intervals.push(h.start_timestamp().as_secs());
            }
        }
        assert_eq!(intervals, [0, 1, 2, 3]);
        assert_eq!(total, 1 + 11 + 31);
    }
}
