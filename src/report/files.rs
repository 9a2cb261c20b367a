//! The files a finished run leaves in its directory (`--out DIR`, else the
//! run's directory under the state dir), all written from the one
//! [`Report`]: `report.json`, `report.md`, `throughput.csv` and the
//! charts. (`latency.hlog` needs the run's histograms, not the report: the
//! lab writes it beside them.)

use super::charts;
use super::model::Report;
use crate::topology::Topology;
use anyhow::Context;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The header of `throughput.csv`.
pub const THROUGHPUT_CSV_HEADER: &str = "second,ok,errors,p50_ms,p99_ms";

/// `throughput.csv`: one line per second of the run (the report's
/// `throughput` series): successful operations, errors, and the median
/// and 99th percentile latency of the successful ones in milliseconds
/// (empty in a second without one).
pub fn throughput_csv(report: &Report) -> String {
    let mut out = format!("{THROUGHPUT_CSV_HEADER}\n");
    let ms = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.3}"));
    for p in &report.throughput {
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            p.t_s,
            p.ok,
            p.errors,
            ms(p.p50_ms),
            ms(p.p99_ms)
        );
    }
    out
}

fn write(path: PathBuf, bytes: impl AsRef<[u8]>) -> anyhow::Result<PathBuf> {
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Writes `report.json`, `report.md` and `throughput.csv` into `dir`.
pub fn write_data(
    report: &Report,
    topology: Option<&Topology>,
    dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    Ok(vec![
        write(dir.join("report.json"), serde_json::to_vec_pretty(report)?)?,
        write(
            dir.join("report.md"),
            super::markdown::render(report, topology),
        )?,
        write(dir.join("throughput.csv"), throughput_csv(report))?,
    ])
}

/// [`write_data`] and the charts: every file of a finished run in `dir`.
pub fn write_all(
    report: &Report,
    topology: Option<&Topology>,
    dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the output directory {}", dir.display()))?;
    let mut files = write_data(report, topology, dir)?;
    files.extend(charts::write_report_charts(report, dir)?);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ThroughputPoint;

    #[test]
    fn the_csv_has_a_header_and_one_line_per_second() {
        let report = Report {
            throughput: vec![
                ThroughputPoint {
                    t_s: 0,
                    ok: 120,
                    errors: 3,
                    writes_ok: 100,
                    p50_ms: Some(0.25),
                    p99_ms: Some(1.5),
                },
                ThroughputPoint {
                    t_s: 1,
                    ok: 0,
                    errors: 7,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            throughput_csv(&report),
            "second,ok,errors,p50_ms,p99_ms\n0,120,3,0.250,1.500\n1,0,7,,\n"
        );
    }
}
