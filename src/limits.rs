//! The allowed range of every number a user gives grabstorm, defined once:
//! command-line flags (through [`Limit::parse`] as their clap value parser),
//! scenario-file keys and the dashboard's keys all check against the same
//! [`Limit`], so a number accepted in one place is accepted in all of them,
//! and a refusal always names the range.

use std::time::Duration;

/// The inclusive range of one quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit<T> {
    pub min: T,
    pub max: T,
}

// ---- Load (`load`, `tui`, `run`, `bench`; scenario `[workload]`; dashboard keys)

/// Grabbers (tokio tasks) of one run.
pub const GRABBERS: Limit<u64> = Limit::new(1, 100_000);
/// Multiplexed connections the grabbers share.
pub const CONNECTIONS: Limit<u64> = Limit::new(1, 1024);
/// Users the grabbers act for.
pub const USERS: Limit<u64> = Limit::new(1, 10_000_000);
/// How long the load runs.
pub const DURATION: Limit<Duration> =
    Limit::new(Duration::from_secs(1), Duration::from_secs(86_400));
/// The longest a run may last.
pub const HARD_CAP: Limit<Duration> = DURATION;
/// Pause of each grabber between two operations, in milliseconds.
pub const THINK_MS: Limit<u64> = Limit::new(0, 60_000);
/// Longest wait for the topology to settle before the audit.
pub const SETTLE_TIMEOUT: Limit<Duration> =
    Limit::new(Duration::from_secs(1), Duration::from_secs(3600));
/// Naive modes' pause between the read and the write, in milliseconds.
pub const NAIVE_DELAY_MS: Limit<u64> = Limit::new(0, 60_000);
/// Amount in each red packet, in cents.
pub const PACKET_CENTS: Limit<u64> = Limit::new(1, 100_000_000);
/// Grabs per red packet.
pub const PACKET_COUNT: Limit<u64> = Limit::new(1, 10_000);
/// Red packets created (per batch).
pub const PACKETS: Limit<u64> = Limit::new(1, 10_000_000);
/// Stock of each seckill item.
pub const STOCK: Limit<u64> = Limit::new(1, 100_000_000);
/// Seckill items on sale (per batch).
pub const ITEMS: Limit<u64> = Limit::new(1, 100_000);
/// Lock keys per kind.
pub const LOCK_KEYS: Limit<u64> = Limit::new(1, 100_000);
/// Lock TTL, in milliseconds.
pub const LOCK_TTL_MS: Limit<u64> = Limit::new(1, 3_600_000);
/// Time a lock holder spends in its critical section, in milliseconds.
pub const LOCK_HOLD_MS: Limit<u64> = Limit::new(0, 3_600_000);
/// Naive-lock grabbers that die between SETNX and EXPIRE.
pub const LOCK_DIE_BETWEEN: Limit<u64> = Limit::new(0, 100_000);
/// First lock retry backoff, in milliseconds.
pub const LOCK_RETRY_MS: Limit<u64> = Limit::new(0, 60_000);
/// How long a grabber tries to acquire a lock, in milliseconds.
pub const LOCK_MAX_WAIT_MS: Limit<u64> = Limit::new(1, 3_600_000);
/// Lock rounds per grabber (`--until-done`).
pub const LOCK_ROUNDS: Limit<u64> = Limit::new(1, 1_000_000);

// ---- Topology (`up`, `load`, `tui`; scenario `[topology]`)

pub const REPLICAS: Limit<u64> = Limit::new(0, 16);
/// Sentinels (0: no automatic failover).
pub const SENTINELS: Limit<u64> = Limit::new(0, 9);
/// Sentinels that must agree (at most the sentinels: checked by the spec).
pub const QUORUM: Limit<u64> = Limit::new(1, 9);
pub const DOWN_AFTER_MS: Limit<u64> = Limit::new(100, 600_000);
pub const FAILOVER_TIMEOUT_MS: Limit<u64> = Limit::new(1000, 3_600_000);
pub const PARALLEL_SYNCS: Limit<u64> = Limit::new(1, 16);
/// Masters (shards) of a Redis Cluster: Redis needs at least 3 to elect.
pub const CLUSTER_MASTERS: Limit<u64> = Limit::new(3, 10);
/// Replicas of each Cluster master.
pub const CLUSTER_REPLICAS_PER_MASTER: Limit<u64> = Limit::new(0, 4);
/// Cluster's `cluster-node-timeout`, milliseconds.
pub const NODE_TIMEOUT_MS: Limit<u64> = Limit::new(100, 600_000);
/// At most the replicas (checked by the spec).
pub const MIN_REPLICAS_TO_WRITE: Limit<u64> = Limit::new(0, 16);
/// Seconds.
pub const MIN_REPLICAS_MAX_LAG_S: Limit<u64> = Limit::new(1, 3600);

// ---- Others

/// Run directories `grabstorm runs prune --keep` leaves.
pub const RUNS_KEPT: Limit<u64> = Limit::new(0, 100_000);
/// Requests redis-benchmark sends in `grabstorm bench`.
pub const BENCH_REQUESTS: Limit<u64> = Limit::new(1, 100_000_000);
/// Seconds per scaling run of `grabstorm bench`.
pub const BENCH_SCALE_SECONDS: Limit<u64> = Limit::new(1, 3600);
/// Worker threads of grabstorm's engine (`--threads`, `bench --compare-threads`).
pub const THREADS: Limit<u64> = Limit::new(1, 1024);
/// Servers of `grabstorm ring` before the change (one more is started to join).
pub const RING_SERVERS: Limit<u64> = Limit::new(1, 16);
/// Virtual nodes per server on the ring.
pub const RING_VNODES: Limit<u64> = Limit::new(1, 10_000);
/// Keys `grabstorm ring` writes through each scheme.
pub const RING_KEYS: Limit<u64> = Limit::new(1, 200_000);
/// Frames per second of the dashboard.
pub const FPS: Limit<u64> = Limit::new(1, 120);

/// Why a number was refused; the message names the allowed range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A number, but outside the range (negative numbers included).
    #[error("must be {0}")]
    OutOfRange(String),
    /// Not a number of the expected kind at all.
    #[error("must be {kind}, {range}")]
    Malformed { kind: &'static str, range: String },
    /// A bare number where a duration is expected: the unit would be a guess.
    #[error("needs a unit, e.g. {given}ms or {given}s, and must be {range}")]
    NoUnit { given: String, range: String },
}

impl<T> Limit<T> {
    pub const fn new(min: T, max: T) -> Self {
        Limit { min, max }
    }
}

impl<T: PartialOrd> Limit<T>
where
    Self: std::fmt::Display,
{
    /// `v` if it is in range.
    pub fn check(&self, v: T) -> Result<T, Refused> {
        if self.min <= v && v <= self.max {
            Ok(v)
        } else {
            Err(self.out_of_range())
        }
    }

    fn out_of_range(&self) -> Refused {
        Refused::OutOfRange(self.to_string())
    }

    fn malformed(&self, kind: &'static str) -> Refused {
        Refused::Malformed {
            kind,
            range: self.to_string(),
        }
    }
}

impl Limit<u64> {
    /// Parses a flag value, refusing anything outside the range (negative
    /// numbers included) with a message naming it. Use as a clap value
    /// parser: `value_parser = |s: &str| limits::GRABBERS.parse::<usize>(s)`.
    pub fn parse<T: TryFrom<u64>>(&self, s: &str) -> Result<T, Refused> {
        let n: i128 = s
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| self.malformed("a whole number"))?;
        let n = u64::try_from(n).map_err(|_| self.out_of_range())?;
        T::try_from(self.check(n)?).map_err(|_| self.out_of_range())
    }

    /// This range of milliseconds as a range of durations.
    pub const fn millis(&self) -> Limit<Duration> {
        Limit::new(
            Duration::from_millis(self.min),
            Duration::from_millis(self.max),
        )
    }

    /// This range of seconds as a range of durations.
    pub const fn secs(&self) -> Limit<Duration> {
        Limit::new(Duration::from_secs(self.min), Duration::from_secs(self.max))
    }

    /// Parses a duration (`500ms`, `2s`) for a quantity this limit counts
    /// in milliseconds: the time flags and scenario keys. The range is
    /// named as durations (`0s to 1m`).
    pub fn parse_millis(&self, s: &str) -> Result<Duration, Refused> {
        self.millis().parse(s)
    }

    /// Parses the legacy `-ms` form of a time flag (`--think-ms 5`): a whole
    /// number of milliseconds in range.
    pub fn parse_legacy_millis(&self, s: &str) -> Result<Duration, Refused> {
        self.parse::<u64>(s).map(Duration::from_millis)
    }

    /// Parses a quantity this limit counts in whole seconds: a duration
    /// (`10s`, `2m`), or a bare number of seconds as such flags always read.
    pub fn parse_secs<T: TryFrom<u64>>(&self, s: &str) -> Result<T, Refused> {
        if is_bare_number(s) {
            return self.parse(s);
        }
        let d = self.secs().parse(s)?;
        if d.subsec_nanos() != 0 {
            return Err(self.secs().malformed("whole seconds"));
        }
        T::try_from(d.as_secs()).map_err(|_| self.out_of_range())
    }
}

impl Limit<Duration> {
    /// Parses a duration flag (`500ms`, `30s`, `2m`, `1h`) in range. A bare
    /// number is refused: `5` could be 5ms or 5s.
    pub fn parse(&self, s: &str) -> Result<Duration, Refused> {
        if is_bare_number(s) && !s.trim().starts_with('-') {
            return Err(Refused::NoUnit {
                given: s.trim().to_string(),
                range: self.to_string(),
            });
        }
        let d = parse_unsigned_duration(
            s,
            || self.out_of_range(),
            || self.malformed("a duration such as 30s or 2m"),
        )?;
        self.check(d)
    }
}

/// `5`, `-5`, `1.5`, `1_000`: a number without a unit.
fn is_bare_number(s: &str) -> bool {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.chars().any(|c| c.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '_')
}

/// A duration; `-5s` is a duration out of range, `soon` is no duration.
fn parse_unsigned_duration(
    s: &str,
    negative: impl FnOnce() -> Refused,
    malformed: impl FnOnce() -> Refused,
) -> Result<Duration, Refused> {
    let s = s.trim();
    let unsigned = s.strip_prefix('-');
    let d = crate::faults::parse_any_duration(unsigned.unwrap_or(s)).map_err(|_| malformed())?;
    match unsigned {
        Some(_) if !d.is_zero() => Err(negative()),
        _ => Ok(d),
    }
}

impl std::fmt::Display for Limit<u64> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} to {}", self.min, self.max)
    }
}

impl std::fmt::Display for Limit<Duration> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::words::duration;
        write!(f, "{} to {}", duration(self.min), duration(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said<T>(r: Result<T, Refused>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn numbers_out_of_range_are_refused_with_the_range() {
        assert_eq!(GRABBERS.parse::<usize>("100000"), Ok(100_000));
        assert_eq!(GRABBERS.parse::<usize>("1"), Ok(1));
        for bad in ["0", "100001", "-5", "10000000", "99999999999999999999999"] {
            assert_eq!(
                said(GRABBERS.parse::<usize>(bad)),
                "must be 1 to 100000",
                "{bad}"
            );
        }
        assert_eq!(
            said(GRABBERS.parse::<usize>("many")),
            "must be a whole number, 1 to 100000"
        );
        assert_eq!(REPLICAS.parse::<u16>("16"), Ok(16));
    }

    #[test]
    fn durations_out_of_range_are_refused_with_the_range() {
        assert_eq!(DURATION.parse("30s"), Ok(Duration::from_secs(30)));
        for bad in ["0s", "-5s", "25h", "100000h"] {
            assert_eq!(said(DURATION.parse(bad)), "must be 1s to 24h", "{bad}");
        }
        assert_eq!(
            said(DURATION.parse("soon")),
            "must be a duration such as 30s or 2m, 1s to 24h"
        );
        assert_eq!(THINK_MS.parse_millis("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(said(THINK_MS.parse_millis("61s")), "must be 0s to 1m");
    }

    #[test]
    fn a_bare_number_is_no_duration_but_a_legacy_count_of_milliseconds() {
        assert_eq!(
            said(THINK_MS.parse_millis("5")),
            "needs a unit, e.g. 5ms or 5s, and must be 0s to 1m"
        );
        assert_eq!(
            said(DURATION.parse("30")),
            "needs a unit, e.g. 30ms or 30s, and must be 1s to 24h"
        );
        assert_eq!(THINK_MS.parse_millis("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(
            THINK_MS.parse_legacy_millis("5"),
            Ok(Duration::from_millis(5))
        );
        assert_eq!(
            said(THINK_MS.parse_legacy_millis("5ms")),
            "must be a whole number, 0 to 60000"
        );
    }

    #[test]
    fn seconds_read_as_a_duration_or_a_bare_number() {
        let lag = MIN_REPLICAS_MAX_LAG_S;
        assert_eq!(lag.parse_secs::<u32>("10"), Ok(10));
        assert_eq!(lag.parse_secs::<u32>("10s"), Ok(10));
        assert_eq!(lag.parse_secs::<u32>("2m"), Ok(120));
        assert_eq!(
            said(lag.parse_secs::<u32>("1500ms")),
            "must be whole seconds, 1s to 1h"
        );
        assert_eq!(said(lag.parse_secs::<u32>("2h")), "must be 1s to 1h");
        assert_eq!(said(lag.parse_secs::<u32>("0")), "must be 1 to 3600");
    }
}
