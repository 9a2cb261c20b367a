//! `meta` of report.json: what produced the report and against what (the
//! grabstorm and Redis versions, the backend and mode, when the run's clock
//! started, the command line) and the schema version of the report itself.

use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// The version of report.json's schema, written as `meta.schema_version`.
/// Raised when a field changes meaning or is removed (a reader that knows
/// version N reads every report of version N); adding a field does not
/// raise it, since every field has a default. Version 1 is the first
/// report with `meta` (issue 15).
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// What produced a report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Meta {
    /// [`REPORT_SCHEMA_VERSION`] of the grabstorm that wrote the report
    /// (0: a report written before `meta` existed).
    pub schema_version: u32,
    /// grabstorm's version (Cargo's package version).
    pub grabstorm_version: String,
    /// `redis_version` from `INFO server` of a node of the run, read when
    /// the run started (None: no node answered).
    pub redis_version: Option<String>,
    /// `docker`, `local`, `external` (a topology grabstorm did not start:
    /// `--sentinel`, `--cluster`) or `standalone`.
    pub backend: String,
    /// `sentinel` or `cluster` (`standalone` for a fixed address).
    pub mode: String,
    /// When the run's clock started (t = 0 of the series, the events and
    /// latency.hlog), UTC, RFC 3339 with milliseconds.
    pub started_at: String,
    /// The command line that ran, word by word (argv, program first; the
    /// command line layer blanks secrets such as `--password`'s value).
    pub command_line: Vec<String>,
}

impl Meta {
    /// The meta of a run of this grabstorm.
    pub fn new(
        redis_version: Option<String>,
        backend: &str,
        mode: &str,
        started: SystemTime,
        command_line: Vec<String>,
    ) -> Meta {
        Meta {
            schema_version: REPORT_SCHEMA_VERSION,
            grabstorm_version: env!("CARGO_PKG_VERSION").to_string(),
            redis_version,
            backend: backend.to_string(),
            mode: mode.to_string(),
            started_at: rfc3339_utc(started),
            command_line,
        }
    }
}

/// `2026-12-02T06:48:48.123Z`: a moment in UTC, RFC 3339 with milliseconds.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let u = crate::words::date::Utc::of(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        u.year, u.month, u.day, u.hour, u.minute, u.second, u.millis
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_times_read_as_rfc3339() {
        let at = |s: u64, ms: u64| {
            rfc3339_utc(SystemTime::UNIX_EPOCH + Duration::from_millis(s * 1000 + ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        // `date -u -d @1796194128` is Wed Dec  2 06:48:48 UTC 2026.
        assert_eq!(at(1_796_194_128, 7), "2026-12-02T06:48:48.007Z");
        // A leap day and the last second of a year.
        assert_eq!(at(951_782_400, 0), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_704_067_199, 999), "2023-12-31T23:59:59.999Z");
    }

    #[test]
    fn a_new_meta_names_this_schema_and_version() {
        let m = Meta::new(
            Some("7.0.15".into()),
            "local",
            "sentinel",
            SystemTime::UNIX_EPOCH,
            vec!["grabstorm".into(), "load".into()],
        );
        assert_eq!(m.schema_version, REPORT_SCHEMA_VERSION);
        assert_eq!(m.grabstorm_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(m.started_at, "1970-01-01T00:00:00.000Z");
    }
}
