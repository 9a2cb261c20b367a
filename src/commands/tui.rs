//! `grabstorm tui` (and `grabstorm` with no command): start the topology and
//! the load, open the dashboard, and on `q` stop the load, audit, remove the
//! topology (unless `--keep`), restore the terminal and print a one-paragraph
//! summary (the full report goes to the run directory, or `--out DIR`).
//! A stop signal or a dead terminal ends it the same way (a second signal
//! skips the audit).

use crate::cli::{BackendArgs, GlobalArgs, SpecArgs};
use crate::commands::load::WorkloadArgs;
use crate::commands::ExitAs;
use crate::lab::{Control, EndReason, Lab, LabTarget};
use crate::report::model::Report;
use crate::shutdown::Shutdown;
use crate::tui::app::App;
use crate::tui::run::{self, Outcome};
use crate::tui::theme::Theme;
use crate::words::{count, secs};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The longest a dashboard run lasts unless `--hard-cap` says otherwise: a
/// class can talk for a while, a forgotten terminal does not run forever.
const DASHBOARD_HARD_CAP: Duration = Duration::from_secs(3600);

#[derive(Args, Debug, Clone)]
pub struct TuiArgs {
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub external: crate::cli::ExternalArgs,
    #[command(flatten)]
    pub load: WorkloadArgs,
    /// Play this scenario file or shipped scenario in the dashboard (the same as `grabstorm run FILE|NAME`).
    #[arg(long, value_name = "FILE|NAME")]
    pub scenario: Option<PathBuf>,
    /// Leave the topology running after quitting (`grabstorm down` removes it).
    #[arg(long)]
    pub keep: bool,
    /// Write the run's files into DIR: report.json, report.md,
    /// throughput.csv, latency.hlog and the journal.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Frames per second the dashboard draws at most.
    #[arg(long, default_value_t = run::DEFAULT_FPS, value_name = "N", allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::FPS.parse::<u32>(s))]
    pub fps: u32,
}

impl Default for TuiArgs {
    fn default() -> Self {
        TuiArgs {
            backend: BackendArgs::default(),
            spec: SpecArgs::default(),
            external: Default::default(),
            load: WorkloadArgs::default(),
            scenario: None,
            keep: false,
            out: None,
            fps: run::DEFAULT_FPS,
        }
    }
}

pub async fn run(
    global: &GlobalArgs,
    mut args: TuiArgs,
    shutdown: &Shutdown,
) -> anyhow::Result<ExitCode> {
    if let Some(file) = &args.scenario {
        // The scenario runner plays files; `tui --scenario` is `run FILE`
        // in the dashboard, with the flags that mean the same there.
        let backend = match args.backend.backend {
            crate::cli::BackendChoice::Auto => None,
            other => Some(other),
        };
        let run_args = crate::commands::run::RunArgs {
            file: file.clone(),
            headless: false,
            json: false,
            out: args.out.clone(),
            seed: args.load.seed,
            backend,
            image: args.backend.image.clone(),
            keep: args.keep,
            no_hash_tags: args.load.no_hash_tags,
            export: args.load.export.clone(),
            prefix: Some(args.load.prefix.clone()),
            attach: crate::cli::AttachArgs {
                external: args.external.clone(),
                master_name: args.spec.master_name.clone(),
            },
            lesson: false,
            step: false,
        };
        return crate::commands::run::run(global, run_args, shutdown).await;
    }
    if args.load.hard_cap == WorkloadArgs::default().hard_cap {
        args.load.hard_cap = DASHBOARD_HARD_CAP;
    }
    let external = args.external.target(&args.spec.master_name);
    let state_dir = crate::logging::state_dir(global.state_dir.as_ref());
    let target = match external {
        Some(t) => LabTarget::External(t),
        None => LabTarget::Start {
            backend: args.backend.selection(),
            spec: args.spec.to_spec(),
            keep: args.keep,
            // `grabstorm status` and `grabstorm fault` see the dashboard's run.
            save_state: true,
        },
    };
    let config = args
        .load
        .lab_config(target, state_dir, args.out.clone(), None, shutdown);
    if let Err(e) = config.target.check_faults(&config.faults) {
        eprintln!("grabstorm tui: refused before anything started: {e}");
        return Ok(ExitCode::from(crate::commands::EXIT_USAGE));
    }
    let topology = match &config.target {
        LabTarget::External(t) => format!(
            "attaching to the topology at {}",
            t.seeds
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => format!(
            "starting the topology ({} replicas, {} sentinels)",
            args.spec.replicas, args.spec.sentinels
        ),
    };
    eprintln!(
        "grabstorm: {topology} and {} grabbers ({}), seed {} ...",
        config.grabbers, config.workload, config.seed
    );
    let lab = Lab::start(config)
        .await
        .or_exit(crate::commands::Exit::LabDown)?;

    // The run's own end (duration, hard cap) pauses the load and says so;
    // the user still leaves with q (or a signal, or a dead terminal).
    let end_of_run = async {
        let reason = lab.wait_end().await;
        if reason != EndReason::Stopped {
            let _ = lab.control(Control::PauseLoad(true)).await;
            lab.bus().emit(
                "lab",
                crate::metrics::EventKind::Note {
                    text: format!(
                        "the run reached its end ({reason:?}): press q to audit and leave"
                    ),
                },
            );
            lab.stop_requested().await;
        }
    };
    let hosted = run::host(
        &lab,
        App::new(Theme::from_env()),
        args.fps,
        shutdown,
        end_of_run,
    )
    .await;

    // The terminal is back (or gone and silenced); everything below prints normally.
    eprintln!(
        "grabstorm: stopping the load, letting the topology settle, auditing ... (a second Ctrl-C skips the audit)"
    );
    let run_dir = lab.run_dir().to_path_buf();
    let finished = lab.finish().await;
    let (outcome, ()) = hosted?;
    let outcome = outcome?;
    let report = finished.context("finishing the run")?;
    // The end screen: the audit's word in the dashboard, for a user who left with q.
    if outcome.quit_by_user && shutdown.signal().is_none() {
        let shown = run::show_report(outcome.app.clone(), Arc::new(report.clone())).await;
        if let Err(e) = shown {
            tracing::warn!(error = %format!("{e:#}"), "the end screen could not be shown");
        }
    }
    println!("{}", summary(&report, &outcome, args.keep));
    println!("report: {}", run_dir.join("report.json").display());
    Ok(ExitCode::SUCCESS)
}

/// `1 fault`, `2 faults`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One paragraph: what ran, what broke, what the audit found, where things are.
pub fn summary(report: &Report, outcome: &Outcome, kept: bool) -> String {
    let ok: u64 = report.ops.values().map(|o| o.ok).sum();
    let errors: u64 = report.errors.values().sum();
    let rate = ok as f64 / report.duration_s.max(0.001);
    let mut parts = vec![format!(
        "Run {} ({}, seed {}): {:.0}s of {} load with {} grabbers, {} operations ok ({}/s) and {} errors.",
        report.run_id,
        report.backend,
        report.seed,
        report.duration_s,
        report.workload,
        count(report.grabbers as u64),
        count(ok),
        count(rate.round() as u64),
        count(errors)
    )];
    let switched = report.failovers.iter().filter(|f| f.failed_over).count();
    let outage = report
        .failovers
        .iter()
        .filter_map(|f| f.write_outage_ms)
        .max();
    if !report.failovers.is_empty() {
        let faults = plural(report.failovers.len(), "fault", "faults");
        let failovers = plural(switched, "failover", "failovers");
        parts.push(match outage {
            Some(ms) => format!(
                "{faults} on the master, {failovers}; the longest write outage was {}.",
                secs(ms)
            ),
            None => format!("{faults} on the master, {failovers}."),
        });
    }
    if !report.audit.checked {
        parts.push(format!(
            "The run was not audited ({}): nothing was checked against Redis.",
            report.audit.reason.as_deref().unwrap_or("not run")
        ));
    } else if report.verdict.ok {
        parts.push(
            "The audit found every acknowledged write in place and every check held.".to_string(),
        );
    } else {
        parts.push(format!(
            "The audit found: {} acknowledged writes lost, {} lock violations{}.",
            count(report.lost_acked_writes()),
            report
                .lock_violations()
                .map_or_else(|| "not recomputable".to_string(), count),
            if report.verdict.findings.is_empty() {
                String::new()
            } else {
                format!(" ({})", report.verdict.findings.join("; "))
            }
        ));
    }
    parts.push(if kept {
        "The topology is still running (`grabstorm status`, `grabstorm down`).".to_string()
    } else {
        "The topology was removed.".to_string()
    });
    parts.push(format!(
        "The dashboard drew {} frames ({:.0}/s).",
        count(outcome.frames),
        outcome.frames_per_s()
    ));
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{OpReport, Verdict};

    fn outcome() -> Outcome {
        Outcome {
            app: App::default(),
            frames: 1500,
            draw_time: Duration::from_millis(900),
            ran_for: Duration::from_secs(60),
            quit_by_user: true,
        }
    }

    #[test]
    fn the_summary_says_what_ran_what_broke_and_what_the_audit_found() {
        let mut report = Report {
            run_id: "r1".into(),
            seed: 42,
            backend: "local".into(),
            duration_s: 60.0,
            grabbers: 1000,
            ..Default::default()
        };
        report.ops.insert(
            "redpacket.grab".into(),
            OpReport {
                ok: 600_000,
                ..Default::default()
            },
        );
        report
            .errors
            .insert(crate::metrics::ErrorClass::ConnectionRefused, 1234);
        report.failovers = vec![crate::metrics::timeline::Failover {
            failed_over: true,
            write_outage_ms: Some(5512),
            ..Default::default()
        }];
        report.audit.lost_acked_writes = 37;
        report.verdict = Verdict {
            ok: false,
            findings: vec!["37 acknowledged grabs lost".into()],
        };
        let s = summary(&report, &outcome(), false);
        assert_eq!(
            s,
            "Run r1 (local, seed 42): 60s of mixed load with 1,000 grabbers, 600,000 operations ok \
             (10,000/s) and 1,234 errors. 1 fault on the master, 1 failover; the longest write \
             outage was 5.5s. The audit found: 37 acknowledged writes lost, 0 lock violations \
             (37 acknowledged grabs lost). The topology was removed. The dashboard drew 1,500 \
             frames (25/s)."
        );
        report.failovers.clear();
        report.verdict = Verdict {
            ok: true,
            findings: vec![],
        };
        let s = summary(&report, &outcome(), true);
        assert!(s.contains("every check held"), "{s}");
        assert!(s.contains("still running"), "{s}");
        assert!(!s.contains("failover"), "{s}");
    }
}
