//! `grabstorm load`: run a workload headless against a started (or
//! attached) topology, with a live progress line on stderr (redrawn on a
//! terminal, plain lines every 10 s elsewhere), then print the
//! audited report as tables (or JSON with `--json`) and write `report.json`.
//!
//! [`WorkloadArgs`] (the workload, load and fault flags) is shared with
//! `tui` and `run`: flatten it and call [`WorkloadArgs::lab_config`].

use crate::cli::{BackendArgs, ExportArgs, ExternalArgs, GlobalArgs, SpecArgs};
use crate::cli::{LockArgs, RedPacketArgs, SeckillArgs};
use crate::client::ClientMode;
use crate::commands::{Exit, ExitAs, EXIT_FAILED, EXIT_USAGE};
use crate::faults::ScheduledFault;
use crate::lab::{Lab, LabConfig, LabTarget};
use crate::limits;
use crate::shutdown::Shutdown;
use crate::words::secs;
use crate::workload::WorkloadKind;
use anyhow::Context;
use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Workload, load and fault flags, shared by `load`, `tui` and `run`.
#[derive(Args, Debug, Clone)]
pub struct WorkloadArgs {
    /// What the grabbers do.
    #[arg(long, value_enum, default_value_t = WorkloadKind::Mixed, help_heading = "Load")]
    pub workload: WorkloadKind,
    /// Grabbers (tokio tasks), 1 to 100,000.
    #[arg(long, default_value_t = 1000, value_name = "N", help_heading = "Load",
          allow_hyphen_values = true, value_parser = |s: &str| limits::GRABBERS.parse::<usize>(s))]
    pub grabbers: usize,
    /// Multiplexed connections the grabbers share (1 to 1024).
    #[arg(long, default_value_t = 16, value_name = "N", help_heading = "Load",
          allow_hyphen_values = true, value_parser = |s: &str| limits::CONNECTIONS.parse::<usize>(s))]
    pub connections: usize,
    /// Users the grabbers act for (default: one user per grabber). Fewer
    /// users than grabbers makes the same user race itself.
    #[arg(long, value_name = "N", help_heading = "Load",
          allow_hyphen_values = true, value_parser = |s: &str| limits::USERS.parse::<u64>(s))]
    pub users: Option<u64>,
    /// How long the load runs, e.g. 30s, 2m (1s to 24h).
    #[arg(long, conflicts_with = "until_done", help_heading = "Load",
          allow_hyphen_values = true, value_parser = |s: &str| limits::DURATION.parse(s))]
    pub duration: Option<Duration>,
    /// Run until every packet, item and lock round is done.
    #[arg(long, help_heading = "Load")]
    pub until_done: bool,
    /// The run never lasts longer than this (1s to 24h).
    #[arg(long, default_value = "10m", value_name = "DURATION", help_heading = "Load",
          allow_hyphen_values = true, value_parser = |s: &str| limits::HARD_CAP.parse(s))]
    pub hard_cap: Duration,
    /// Seed of every random choice (default: from the clock, printed in the report).
    #[arg(long, help_heading = "Load")]
    pub seed: Option<u64>,
    /// Pause of each grabber between two operations, e.g. 5ms (0s to 1m).
    #[arg(long, default_value = "0s", value_name = "DURATION", help_heading = "Load",
          allow_hyphen_values = true, value_parser = |s: &str| limits::THINK_MS.parse_millis(s))]
    pub think: Duration,
    /// The legacy form of --think, in milliseconds.
    #[arg(long, hide = true, conflicts_with = "think", value_name = "MS",
          allow_hyphen_values = true, value_parser = |s: &str| limits::THINK_MS.parse_legacy_millis(s))]
    pub think_ms: Option<Duration>,
    /// How grabbers find the master. Sentinel mode: follow Sentinel, or keep
    /// the first address. Cluster mode: `sentinel` is the cluster-aware
    /// client (follows MOVED/ASK, refreshes its slot map), `naive` keeps
    /// its first slot map and gets MOVED errors after a failover.
    #[arg(long, value_enum, default_value_t = ClientMode::Sentinel, help_heading = "Load")]
    pub client: ClientMode,
    /// Cluster mode: key names without hash tags, so a packet's or an
    /// item's keys land in different slots and every script fails with
    /// CROSSSLOT (counted as its own error class).
    #[arg(long, help_heading = "Load")]
    pub no_hash_tags: bool,
    /// Prefix of every key the run writes, reads or deletes: the keys are
    /// `PREFIX:<run id>:...`, and nothing outside them is touched (the
    /// audit checks only them). 1 to 64 characters, no spaces or braces.
    #[arg(long, default_value = crate::workload::grabber::DEFAULT_PREFIX, value_name = "PREFIX",
          help_heading = "Load", value_parser = parse_prefix)]
    pub prefix: String,
    /// A fault to inject during the run: "AT KIND TARGET [for D] [from NODES]",
    /// e.g. "5s segfault master"; in a cluster also "5s reshard 3000 1->2",
    /// "5s scale add", "20s scale remove 4". Repeatable.
    #[arg(long = "fault", value_name = "SPEC", help_heading = "Faults")]
    pub faults: Vec<ScheduledFault>,
    /// Longest wait after the load for the topology to agree on a master
    /// before the audit (1s to 1h). Also --settle-timeout.
    #[arg(long = "settle", alias = "settle-timeout", default_value = "30s", value_name = "DURATION", help_heading = "Faults",
          allow_hyphen_values = true, value_parser = |s: &str| limits::SETTLE_TIMEOUT.parse(s))]
    pub settle_timeout: Duration,
    #[command(flatten)]
    pub redpacket: RedPacketArgs,
    #[command(flatten)]
    pub seckill: SeckillArgs,
    #[command(flatten)]
    pub locks: LockArgs,
    #[command(flatten)]
    pub export: ExportArgs,
}

impl Default for WorkloadArgs {
    fn default() -> Self {
        WorkloadArgs {
            workload: WorkloadKind::Mixed,
            grabbers: 1000,
            connections: 16,
            users: None,
            duration: None,
            until_done: false,
            hard_cap: Duration::from_secs(600),
            seed: None,
            think: Duration::ZERO,
            think_ms: None,
            client: ClientMode::Sentinel,
            no_hash_tags: false,
            prefix: crate::workload::grabber::DEFAULT_PREFIX.to_string(),
            faults: Vec::new(),
            settle_timeout: Duration::from_secs(30),
            redpacket: RedPacketArgs::default(),
            seckill: SeckillArgs::default(),
            locks: LockArgs::default(),
            export: ExportArgs::default(),
        }
    }
}

pub fn parse_prefix(s: &str) -> Result<String, String> {
    crate::workload::grabber::check_prefix(s).map(|()| s.to_string())
}

/// A seed from the clock, for runs without `--seed`.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        % 1_000_000_000
}

impl WorkloadArgs {
    /// The lab configuration for these flags. `default_duration` applies
    /// when neither `--duration` nor `--until-done` was given (None: until stopped).
    pub fn lab_config(
        &self,
        target: LabTarget,
        state_dir: PathBuf,
        out_dir: Option<PathBuf>,
        default_duration: Option<Duration>,
        shutdown: &Shutdown,
    ) -> LabConfig {
        LabConfig {
            target,
            state_dir,
            out_dir,
            workload: self.workload,
            grabbers: self.grabbers,
            connections: self.connections,
            // 0: one user per grabber.
            users: self.users.unwrap_or(0),
            seed: self.seed.unwrap_or_else(clock_seed),
            duration: if self.until_done {
                None
            } else {
                self.duration.or(default_duration)
            },
            until_done: self.until_done,
            hard_cap: self.hard_cap,
            think: self.think_ms.unwrap_or(self.think),
            redpacket: self.redpacket.config(),
            seckill: self.seckill.config(),
            locks: self.locks.config(),
            client: self.client,
            hash_tags: self.no_hash_tags.then_some(false),
            key_prefix: Some(self.prefix.clone()),
            faults: self.faults.clone(),
            settle_timeout: self.settle_timeout,
            shutdown: shutdown.clone(),
            metrics: self.export.metrics,
            command_line: crate::cli::command_line(),
        }
    }
}

#[derive(Args, Debug, Clone, Default)]
pub struct LoadCommandArgs {
    /// Use the topology a running `grabstorm up` left (else start one and remove it at the end).
    #[arg(long, conflicts_with = "backend")]
    pub attach: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub external: ExternalArgs,
    #[command(flatten)]
    pub load: WorkloadArgs,
    /// Write the run's files into DIR: report.json, report.md, the charts,
    /// throughput.csv, latency.hlog and the journal (default: the run's
    /// directory under the state dir, without the charts).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the report as JSON on stdout (no progress line).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(
    global: &GlobalArgs,
    args: LoadCommandArgs,
    shutdown: &Shutdown,
) -> anyhow::Result<ExitCode> {
    let state_dir = crate::logging::state_dir(global.state_dir.as_ref());
    let external = args.external.target(&args.spec.master_name);
    if external.is_some() && args.attach {
        eprintln!("grabstorm load: --attach (the state dir's topology) and --sentinel/--cluster (one grabstorm did not start) exclude each other");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let target = if let Some(t) = &external {
        LabTarget::External(t.clone())
    } else if args.attach {
        LabTarget::Attach
    } else {
        LabTarget::Start {
            backend: args.backend.selection(),
            spec: args.spec.to_spec(),
            keep: false,
            save_state: false,
        }
    };
    let config = args.load.lab_config(
        target,
        state_dir,
        args.out.clone(),
        Some(Duration::from_secs(10)),
        shutdown,
    );
    if let Err(e) = config
        .redpacket
        .validate()
        .and(config.seckill.validate())
        .and(config.locks.validate().map_err(|e| e.to_string()))
    {
        eprintln!("grabstorm load: {e}");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    if let Err(e) = config.target.check_faults(&config.faults) {
        eprintln!("grabstorm load: refused before anything started: {e}");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    if !args.json {
        eprintln!(
            "grabstorm load: {} grabbers, workload {}, seed {}, starting...",
            config.grabbers, config.workload, config.seed
        );
    }
    // A lab that cannot start means the lab could not run (3), unless
    // the error says otherwise (an impossible spec is bad input).
    let mut lab = Lab::start(config).await.or_exit(Exit::LabDown)?;
    if let (Some(at), false) = (lab.metrics_addr(), args.json) {
        eprintln!("grabstorm load: metrics at http://{at}/metrics");
    }
    let terminal = std::io::stderr().is_terminal();
    let progress = (!args.json).then(|| tokio::spawn(progress(lab.snapshots(), terminal)));
    // Ends on its duration, the hard cap, or a stop signal.
    let reason = lab.wait_end().await;
    lab.stop_load().await;
    if let Some(p) = progress {
        p.abort();
        let _ = p.await;
        if terminal {
            eprintln!();
        }
    }
    if !args.json {
        match shutdown.signal() {
            Some(sig) => eprintln!(
                "load stopped by {sig}; settling and auditing... (a second signal skips the audit)"
            ),
            None => eprintln!("load ended ({reason:?}); settling and auditing..."),
        }
    }
    let run_dir = lab.run_dir().to_path_buf();
    let report = lab.finish().await?;
    if args.out.is_some() {
        crate::report::charts::write_report_charts(&report, &run_dir)
            .with_context(|| format!("writing the charts into {}", run_dir.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.summary_tables());
        println!("report: {}", run_dir.join("report.json").display());
    }
    Ok(if report.verdict.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// Prints `[elapsed] ops/s, errors, grabbers` on stderr: on a terminal one
/// line redrawn every second; anywhere else (a CI log, a file) a plain line
/// every 10 s, so a log holds no `\r` frames.
async fn progress(
    mut snaps: tokio::sync::watch::Receiver<std::sync::Arc<crate::metrics::Snapshot>>,
    terminal: bool,
) {
    let period = Duration::from_secs(if terminal { 1 } else { 10 });
    let mut every = tokio::time::interval(period);
    if !terminal {
        // The first tick is now: a log's first line comes after a period.
        every.tick().await;
    }
    loop {
        every.tick().await;
        if snaps.has_changed().is_err() {
            return;
        }
        let s = snaps.borrow_and_update().clone();
        let errors: u64 = s.errors.values().sum();
        let ok: u64 = s.ops.iter().map(|o| o.ok).sum();
        let line = format!(
            "[{:>7}] {:>9.0} ops/s  ok {:>10}  errors {:>7}  grabbers {:>6}{}",
            secs(s.elapsed_ms),
            s.ops_per_s,
            ok,
            errors,
            s.load.grabbers,
            if s.load.paused { "  (paused)" } else { "" }
        );
        let mut err = std::io::stderr().lock();
        let _ = match terminal {
            true => write!(err, "\r{line}   "),
            false => writeln!(err, "{line}"),
        };
        let _ = err.flush();
    }
}
