//! `grabstorm run FILE`: plays a scenario, in the dashboard (each step
//! narrated in the timeline panel) or `--headless` (the story on stdout),
//! then prints the verdict and writes the reports.
//!
//! Exit status: 0 every expectation held; 1 an expectation failed (each
//! listed, measured against expected); 2 a bad file or environment.

use super::{EXIT_FAILED, EXIT_USAGE};
use crate::cli::{BackendChoice, GlobalArgs};
use crate::lab::{Control, Lab};
use crate::scenario::runner::{self, Finished, RunError, RunFailure, RunOptions};
use crate::scenario::{self, Scenario};
use crate::tui;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// The scenario file to play (see scenarios/README.md).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// No dashboard: print the story and the verdict on stdout.
    #[arg(long)]
    pub headless: bool,
    /// Write report.json, report.md and the charts here
    /// (default: the run's directory under the state dir).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the scenario's seed.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Replace the scenario's backend (a scenario that partitions needs docker).
    #[arg(long, value_enum)]
    pub backend: Option<BackendChoice>,
    /// Redis image for the Docker backend.
    #[arg(long, env = "GRABSTORM_REDIS_IMAGE", value_name = "IMAGE")]
    pub image: Option<String>,
}

pub async fn run(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<ExitCode> {
    let scenario = match scenario::parse_file(&args.file) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let opts = RunOptions {
        state_dir: crate::logging::state_dir(global.state_dir.as_ref()),
        out_dir: args.out.clone(),
        seed: args.seed,
        backend: args.backend,
        image: args.image.clone(),
        narrate: args.headless,
    };
    let result = if args.headless {
        runner::run_headless(&scenario, &opts).await
    } else {
        run_dashboard(&scenario, &opts).await
    };
    match result {
        Ok(done) => Ok(verdict(&scenario, &done)),
        Err(e) => {
            eprintln!("grabstorm run {}: {e}", args.file.display());
            Ok(ExitCode::from(EXIT_USAGE))
        }
    }
}

/// Prints the expectations and the verdict; the exit status follows them.
fn verdict(s: &Scenario, done: &Finished) -> ExitCode {
    let r = &done.report;
    println!("\n{}: seed {}, backend {}", s.title, r.seed, r.backend);
    for e in &r.expectations {
        println!(
            "  {} {}: expected {}, measured {}",
            if e.ok { "PASS" } else { "FAIL" },
            e.name,
            e.expected,
            e.measured
        );
    }
    println!("reports in {}", done.out_dir.display());
    if done.passed() {
        println!(
            "verdict: PASS ({} expectation(s) hold)",
            r.expectations.len()
        );
        ExitCode::SUCCESS
    } else {
        let failed: Vec<&str> = r
            .expectations
            .iter()
            .filter(|e| !e.ok)
            .map(|e| e.name.as_str())
            .collect();
        println!("verdict: FAIL ({})", failed.join(", "));
        ExitCode::from(EXIT_FAILED)
    }
}

fn environment(e: impl std::fmt::Display) -> RunFailure {
    RunFailure::Environment(RunError::Environment(e.to_string()))
}

/// Plays the scenario with the dashboard open: the dashboard renders the
/// lab and sends its key presses as controls; the scenario's steps appear
/// in its timeline. When the scenario ends (or the user quits, which stops
/// the load), the terminal is restored and the run is audited.
async fn run_dashboard(s: &Scenario, opts: &RunOptions) -> Result<Finished, RunFailure> {
    let backend = runner::resolve_backend(s, opts.backend).map_err(RunFailure::Environment)?;
    let lab = Lab::start(runner::lab_config(s, opts, backend))
        .await
        .map_err(|e| environment(format!("{e:#}")))?;
    let topology = lab.topology().await;
    let (control_tx, control_rx) = tokio::sync::mpsc::channel(64);
    let feeds = tui::run::Feeds {
        snapshots: lab.snapshots(),
        timeline: Some(lab.bus().subscribe()),
        controls: tui::run::Controls::from_sender(control_tx),
    };
    let mut app = tui::app::App::new(tui::theme::Theme::from_env());
    app.scenario = Some(s.title.clone());
    if let Some(t) = &topology {
        app.learn_topology(t);
    }
    let outcome = {
        let mut session = match tui::terminal::TerminalSession::enter() {
            Ok(session) => session,
            Err(e) => {
                // Without a terminal the lab still has to be removed.
                let _ = lab.control(Control::Stop).await;
                let _ = lab.finish().await;
                return Err(environment(format!(
                    "cannot open the dashboard ({e}); use --headless"
                )));
            }
        };
        let (input, mut keys) = tui::event::TerminalInput::start();
        // The dashboard's input is relayed so that it can be closed (which
        // ends the dashboard) when the scenario is over.
        let (relay_tx, relay_rx) = tokio::sync::mpsc::channel(256);
        let over = CancellationToken::new();
        let relay = {
            let over = over.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = over.cancelled() => break,
                        key = keys.recv() => match key {
                            Some(k) => if relay_tx.send(k).await.is_err() { break },
                            None => break,
                        },
                    }
                }
            })
        };
        let _closer = runner::CancelOnDrop(over.clone());
        let driver = async {
            let failures = runner::drive(&lab, s, false, Some(control_rx)).await;
            over.cancel();
            failures
        };
        let dashboard = async {
            let out = tui::run::run(
                session.terminal(),
                app,
                feeds,
                relay_rx,
                tui::run::DEFAULT_FPS,
            )
            .await;
            if !over.is_cancelled() {
                // The user left before the end: stop the load, keep the verdict.
                let _ = lab.control(Control::Stop).await;
            }
            out
        };
        let (failures, out) = tokio::join!(driver, dashboard);
        let _ = relay.await;
        drop(input);
        drop(session);
        (failures, out)
    };
    let (failures, dashboard) = outcome;
    if let Err(e) = dashboard {
        eprintln!("the dashboard failed: {e:#}");
    }
    runner::finish(lab, s, failures, true).await
}
