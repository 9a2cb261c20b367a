//! `grabstorm ring`: the consistent-hashing lab (tutorial 2.4.5–2.4.6).
//! Starts N independent Redis servers (one more when one is to join),
//! writes K keys through modulo sharding and through the ring at each V,
//! removes (or adds) a server, counts on the servers what moved and how the
//! keys spread, and prints a table (or `--json`), the narration
//! (`--narrate`) and charts (`--out DIR`). The servers are removed at the
//! end unless `--keep` leaves them running for a recount.

use crate::cli::{BackendArgs, GlobalArgs};
use crate::commands::EXIT_USAGE;
use crate::limits;
use crate::ring::lab::{self, Change, RingPlan, RingReport, SchemeRow};
use crate::ring::narrate;
use crate::shutdown::Shutdown;
use crate::topology::guard::{self, StartError, StartOptions};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug, Clone)]
pub struct RingArgs {
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Servers in the ring before the change (1 to 16; 2 or more to remove one).
    #[arg(long, default_value_t = 4, allow_hyphen_values = true,
          value_parser = |s: &str| limits::RING_SERVERS.parse::<usize>(s))]
    pub servers: usize,
    /// Virtual nodes per server, one ring per value (comma-separated, at most 7 values).
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000", allow_hyphen_values = true,
          value_parser = |s: &str| limits::RING_VNODES.parse::<u32>(s))]
    pub vnodes: Vec<u32>,
    /// Keys written through each scheme.
    #[arg(long, default_value_t = 20_000, allow_hyphen_values = true,
          value_parser = |s: &str| limits::RING_KEYS.parse::<u64>(s))]
    pub keys: u64,
    /// Remove this many servers (only 1): the last one leaves (the default change).
    #[arg(long, value_name = "1", conflicts_with = "add",
          value_parser = clap::value_parser!(u8).range(1..=1))]
    pub remove: Option<u8>,
    /// Add this many servers (only 1) instead of removing one.
    #[arg(long, value_name = "1", value_parser = clap::value_parser!(u8).range(1..=1))]
    pub add: Option<u8>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Print what each number means, in sentences, after the table.
    #[arg(long, conflicts_with = "json")]
    pub narrate: bool,
    /// Write the charts (PNG and SVG) and ring.json into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Leave the servers running with both placements of every scheme
    /// (state file written: `grabstorm down` removes them).
    #[arg(long)]
    pub keep: bool,
}

impl RingArgs {
    fn plan(&self) -> RingPlan {
        RingPlan {
            servers: self.servers,
            vnodes: self.vnodes.clone(),
            keys: self.keys,
            change: if self.add.is_some() {
                Change::Add
            } else {
                Change::Remove
            },
        }
    }
}

pub async fn run(
    global: &GlobalArgs,
    args: RingArgs,
    shutdown: &Shutdown,
) -> anyhow::Result<ExitCode> {
    let plan = args.plan();
    if let Err(e) = plan.validate().and_then(|_| {
        plan.spec()
            .validate()
            .map_err(|e| anyhow::anyhow!("impossible topology: {e}"))
    }) {
        eprintln!("grabstorm: {e:#}");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let state_dir = crate::logging::state_dir(global.state_dir.as_ref());
    if args.keep {
        super::up::refuse_if_running(&state_dir).await?;
    }
    let opts = StartOptions {
        save_state: args.keep,
        shutdown: shutdown.clone(),
        ..StartOptions::new(&state_dir)
    };
    let (guard, why) =
        match guard::start_from_args(&args.backend.selection(), &plan.spec(), &opts).await {
            Ok(started) => started,
            Err(e) => {
                if let Some(StartError::Interrupted(sig)) = e.downcast_ref::<StartError>() {
                    eprintln!("grabstorm: {e}");
                    return Ok(ExitCode::from(sig.exit_code()));
                }
                return Err(e);
            }
        };
    if !args.json {
        eprintln!(
            "backend: {} ({why}); {} servers started",
            guard.topology().backend,
            plan.started()
        );
    }
    let work = async {
        lab::detach(guard.topology()).await?;
        lab::measure(guard.topology(), &plan).await
    };
    let outcome = tokio::select! {
        r = work => Ok(r),
        sig = shutdown.requested() => Err(sig),
    };
    let report = match outcome {
        Ok(r) => r,
        Err(sig) => {
            guard.teardown().await?;
            eprintln!("grabstorm: {sig}: the ring lab stopped, its servers were removed");
            return Ok(ExitCode::from(sig.exit_code()));
        }
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            guard.teardown().await?;
            return Err(e.context("the ring lab failed; its servers were removed"));
        }
    };
    if args.keep {
        let t = guard.keep();
        eprintln!(
            "servers kept (run {}): `grabstorm down` removes them",
            t.run_id
        );
    } else {
        guard.teardown().await?;
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("ring.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        let files = crate::report::charts::write_ring_charts(dir, &report)?;
        if !args.json {
            for f in files {
                eprintln!("wrote {}", f.display());
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", table(&report));
    if args.narrate {
        println!();
        for line in narrate::narrate(&report) {
            println!("{line}\n");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn row_line(scheme: &str, row: &SchemeRow) -> String {
    let per = row
        .keys_per_server
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{scheme:<14} {:>6.1}% {:>10} {:>17} {:>7.3}  {per}\n",
        row.moved_share * 100.0,
        row.moved_keys,
        row.moved_between_survivors,
        row.load_cv
    )
}

/// The human table: one line per scheme, then the computed Cluster row.
pub fn table(report: &RingReport) -> String {
    let change = match report.change {
        Change::Remove => format!("{} of {} removed", report.changed_server, report.servers),
        Change::Add => format!("{} added to {}", report.changed_server, report.servers),
    };
    let mut out = format!(
        "{} keys on {} servers, {change}; counted on the servers (SCAN, DBSIZE)\n\n",
        report.keys, report.servers
    );
    out.push_str(&format!(
        "{:<14} {:>7} {:>10} {:>17} {:>7}  keys per server before\n",
        "scheme", "moved", "keys moved", "between survivors", "load cv"
    ));
    out.push_str(&row_line("modulo", &report.modulo));
    for row in &report.rows {
        out.push_str(&row_line(
            &format!("ring V={}", row.vnodes.unwrap_or(0)),
            row,
        ));
    }
    let c = &report.cluster_slots;
    let per = c
        .keys_per_master
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    out.push_str(&format!(
        "{:<14} {:>6.1}% {:>10} {:>17} {:>7.3}  {per}  (computed: CRC16 slots, {} slots moved)\n",
        "cluster slots",
        c.moved_share * 100.0,
        c.moved_keys,
        c.moved_between_survivors,
        c.load_cv,
        c.slots_moved
    ));
    out.push_str(&format!(
        "\nmodulo expectation for an even hash: {:.1}%; hash: {}\n",
        narrate::modulo_expected_share(report.servers, narrate::servers_after(report)) * 100.0,
        report.hash
    ));
    out
}
