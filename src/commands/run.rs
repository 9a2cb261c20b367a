//! `grabstorm run FILE|NAME`: plays a scenario file or a shipped scenario,
//! in the dashboard (each step narrated in the timeline panel) or
//! `--headless` (the story on stdout; with `--json` one object with the
//! verdict and the report's path instead), then prints the verdict and
//! writes the reports.
//!
//! Exit status: 0 every expectation held; 1 an expectation failed (each
//! listed, measured against expected); 2 a bad file, an unknown name or a
//! bad environment.

use super::{Exit, EXIT_FAILED, EXIT_USAGE};
use crate::cli::{BackendChoice, GlobalArgs};
use crate::lab::Lab;
use crate::scenario::runner::{self, Finished, RunError, RunFailure, RunOptions};
use crate::scenario::{self, Scenario};
use crate::shutdown::Shutdown;
use crate::tui;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// The scenario file to play (see scenarios/README.md), or the name of
    /// a shipped scenario (`grabstorm scenarios` lists them); a path that
    /// exists wins.
    #[arg(value_name = "FILE|NAME")]
    pub file: PathBuf,
    /// No dashboard: print the story and the verdict on stdout.
    #[arg(long)]
    pub headless: bool,
    /// Headless, and print one JSON object instead of the story: the
    /// verdict, each expectation, and where report.json was written.
    #[arg(long)]
    pub json: bool,
    /// Write report.json, report.md, the charts, throughput.csv and
    /// latency.hlog here (default: the run's directory under the state dir).
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
    /// Leave the topology running after the run, to look at it or recount
    /// with redis-cli (`grabstorm status` prints the password);
    /// `grabstorm down` removes it.
    #[arg(long)]
    pub keep: bool,
    /// Cluster mode: key names without hash tags, whatever the scenario
    /// says, so every multi-key script fails with CROSSSLOT.
    #[arg(long)]
    pub no_hash_tags: bool,
    #[command(flatten)]
    pub export: crate::cli::ExportArgs,
    /// Prefix of every key the run touches (`PREFIX:<run id>:...`).
    #[arg(long, value_name = "PREFIX", value_parser = crate::commands::load::parse_prefix)]
    pub prefix: Option<String>,
    #[command(flatten)]
    pub attach: crate::cli::AttachArgs,
    /// Lesson mode, for a class on a projector: the current step's note
    /// stays on screen with what comes next and when, a failover's phases
    /// light up as they happen, the timeline keeps to the key events, and
    /// Space stops the scenario's clock with the load (no step fires until
    /// Space again); `n` plays the next step now, `l` switches lesson mode
    /// off and on. The questions the steps ask are answered at the end.
    #[arg(long, conflicts_with_all = ["headless", "json"])]
    pub lesson: bool,
    /// Lesson mode, step by step: every step waits for `n` once its time
    /// comes (the clock stops there).
    #[arg(long, conflicts_with_all = ["headless", "json"])]
    pub step: bool,
}

pub async fn run(
    global: &GlobalArgs,
    args: RunArgs,
    shutdown: &Shutdown,
) -> anyhow::Result<ExitCode> {
    let scenario = match scenario::load(&args.file) {
        Ok(s) => s,
        Err(e) => {
            // Diagnostics read like a compiler's, from the first column.
            match e {
                scenario::LoadError::Invalid(errors) => eprintln!("{errors}"),
                unknown => eprint!("grabstorm run: {unknown}"),
            }
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let headless = args.headless || args.json;
    let opts = RunOptions {
        state_dir: crate::logging::state_dir(global.state_dir.as_ref()),
        out_dir: args.out.clone(),
        seed: args.seed,
        backend: args.backend,
        image: args.image.clone(),
        narrate: headless && !args.json,
        shutdown: shutdown.clone(),
        keep: args.keep,
        no_hash_tags: args.no_hash_tags,
        metrics: args.export.metrics,
        command_line: crate::cli::command_line(),
        external: args.attach.target(),
        key_prefix: args.prefix.clone(),
        lesson: args.lesson || args.step,
        step_by_step: args.step,
    };
    let result = if headless {
        runner::run_headless(&scenario, &opts).await
    } else {
        run_dashboard(&scenario, &opts, shutdown).await
    };
    match result {
        Ok(done) if args.json => print_json(&scenario, &done),
        Ok(done) => Ok(verdict(&scenario, &done)),
        Err(e) => {
            eprintln!("grabstorm run {}: {e}", args.file.display());
            Ok(match &e {
                RunFailure::Lab(e) => Exit::of_or(e, Exit::LabDown),
                _ => Exit::Usage,
            }
            .into())
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

/// What `--json` prints: the verdict and where the reports are.
#[derive(serde::Serialize)]
struct RunOutput<'a> {
    scenario: &'a str,
    title: &'a str,
    seed: u64,
    backend: &'a str,
    /// Every expectation held.
    passed: bool,
    expectations: &'a [crate::report::model::ExpectationVerdict],
    /// The audit's verdict (every check, with findings in words).
    verdict: &'a crate::report::model::Verdict,
    out_dir: String,
    report: String,
    files: Vec<String>,
}

fn print_json(s: &Scenario, done: &Finished) -> anyhow::Result<ExitCode> {
    let r = &done.report;
    let out = RunOutput {
        scenario: &s.file,
        title: &s.title,
        seed: r.seed,
        backend: &r.backend,
        passed: done.passed(),
        expectations: &r.expectations,
        verdict: &r.verdict,
        out_dir: done.out_dir.display().to_string(),
        report: done.out_dir.join("report.json").display().to_string(),
        files: done.files.iter().map(|f| f.display().to_string()).collect(),
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(match done.passed() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(EXIT_FAILED),
    })
}

fn environment(e: impl std::fmt::Display) -> RunFailure {
    RunFailure::Environment(RunError::Environment(e.to_string()))
}

/// Plays the scenario with the dashboard open: the dashboard renders the
/// lab and sends its key presses as controls; the scenario's steps appear
/// in its timeline. When the scenario ends (or the user quits, which stops
/// the load), the terminal is restored and the run is audited.
async fn run_dashboard(
    s: &Scenario,
    opts: &RunOptions,
    shutdown: &Shutdown,
) -> Result<Finished, RunFailure> {
    let config = runner::prepare(s, opts).map_err(RunFailure::Environment)?;
    let lab = Lab::start(config).await.map_err(RunFailure::Lab)?;
    let mut app = tui::app::App::new(tui::theme::Theme::from_env());
    app.scenario = Some(s.title.clone());
    app.lesson = Some(std::sync::Arc::new(runner::script(s)));
    app.lesson_on = opts.lesson;
    app.lesson_end_ms = Some(s.duration.as_millis() as u64);
    let driver = runner::drive(&lab, s, false, opts.step_by_step);
    let hosted = tui::run::host(&lab, app, tui::run::DEFAULT_FPS, shutdown, driver).await;
    match hosted {
        Ok((outcome, failures)) => {
            let app = match outcome {
                Ok(o) => Some(o.app),
                Err(e) => {
                    eprintln!("the dashboard failed: {e:#}");
                    None
                }
            };
            let done = runner::finish(lab, s, failures, true).await?;
            // The end screen: the audit's word in the dashboard, unless a
            // signal (or a dead terminal) ended the run.
            if let (Some(app), None) = (app, shutdown.signal()) {
                let report = std::sync::Arc::new(done.report.clone());
                if let Err(e) = tui::run::show_report(app, report).await {
                    tracing::warn!(error = %format!("{e:#}"), "the end screen could not be shown");
                }
            }
            Ok(done)
        }
        Err(e) => {
            // Without a terminal the lab still has to be removed.
            let _ = lab.finish().await;
            Err(environment(format!("{e:#}; use --headless")))
        }
    }
}
