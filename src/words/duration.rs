//! Time in words: a duration as scenario files and flags write it, a
//! latency, a moment of the run (in seconds, as a dashboard stamp or as a
//! clock) and a phase in milliseconds.

use std::time::Duration;

/// A duration the way scenario files and flags write them (what
/// `faults::parse_duration` reads back): `250ms`, `5s`, `1.5s`, `2m`, `24h`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        if ms < 1000 {
            format!("{ms}ms")
        } else {
            let frac = format!("{:03}", ms % 1000);
            format!("{}.{}s", ms / 1000, frac.trim_end_matches('0'))
        }
    } else if ms.is_multiple_of(3_600_000) && ms >= 3_600_000 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms >= 60_000 {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}

/// A latency in microseconds, with three significant digits and at most
/// seven columns (the dashboard's panels are narrow): `85us`, `2.10ms`,
/// `40ms`, `1.30s`.
pub fn latency(us: u64) -> String {
    match us {
        0..=999 => format!("{us}us"),
        1_000..=9_999 => format!("{:.2}ms", us as f64 / 1e3),
        10_000..=999_999 => format!("{}ms", us / 1000),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// A moment of the run, in seconds since it started: `5.0s`, `102.4s`.
pub fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// A phase measured in milliseconds: `2450 ms`.
pub fn millis(ms: u64) -> String {
    format!("{ms} ms")
}

/// A moment of the run as the dashboard's timeline stamps it: `+0:12.3`,
/// `+12:03.0`.
pub fn at(ms: u64) -> String {
    let tenths = ms / 100;
    format!(
        "+{}:{:02}.{}",
        tenths / 600,
        (tenths / 10) % 60,
        tenths % 10
    )
}

/// Run time on a clock: `01:23`, `1:02:03`.
pub fn clock(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_as_files_write_them() {
        assert_eq!(duration(Duration::from_millis(250)), "250ms");
        assert_eq!(duration(Duration::from_secs(5)), "5s");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(duration(Duration::from_secs(120)), "2m");
        assert_eq!(duration(Duration::from_millis(2405)), "2.405s");
    }

    #[test]
    fn times_read_like_a_person_writes_them() {
        assert_eq!(latency(85), "85us");
        assert_eq!(latency(420), "420us");
        assert_eq!(latency(2_100), "2.10ms");
        assert_eq!(latency(40_000), "40ms");
        assert_eq!(latency(1_300_000), "1.30s");
        assert_eq!(secs(5_000), "5.0s");
        assert_eq!(secs(102_449), "102.4s");
        assert_eq!(millis(2450), "2450 ms");
        assert_eq!(at(12_345), "+0:12.3");
        assert_eq!(at(723_000), "+12:03.0");
        assert_eq!(clock(83_000), "01:23");
        assert_eq!(clock(3_723_000), "1:02:03");
    }
}
