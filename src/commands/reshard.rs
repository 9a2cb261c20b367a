//! `grabstorm reshard --slots N --from K --to L`: a live migration of hash
//! slots, with their keys, on the cluster a `grabstorm up --mode cluster`
//! left running: the first N slots shard K's master serves move to shard
//! L's master ([`crate::topology::migrate`]), a line of progress about
//! every tenth of the way, then what was moved. Ctrl-C stops between two
//! slots (no slot is left half moved).

use crate::cli::GlobalArgs;
use crate::commands::EXIT_FAILED;
use crate::topology::migrate::{self, Reshard};
use crate::topology::state;
use clap::Args;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Args, Debug, Clone)]
pub struct ReshardArgs {
    /// How many slots move: the first N that shard K's master serves.
    #[arg(long, value_name = "N")]
    pub slots: u32,
    /// The shard giving the slots (from 1: the shard redis-K started as master of).
    #[arg(long, value_name = "K")]
    pub from: usize,
    /// The shard taking them.
    #[arg(long, value_name = "L")]
    pub to: usize,
    /// Print the move's report as JSON (nothing else on stdout).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(
    global: &GlobalArgs,
    args: ReshardArgs,
    shutdown: &crate::shutdown::Shutdown,
) -> anyhow::Result<ExitCode> {
    let state_dir = crate::logging::state_dir(global.state_dir.as_ref());
    let topology = state::load(&state_dir)?;
    let r = Reshard {
        slots: args.slots,
        from: args.from,
        to: args.to,
    };
    // A refusal (not a cluster, no such shard, too many slots) is bad
    // input: it exits with the usage status, through main.
    let plan = migrate::plan_reshard(&topology, &r).await?;
    if !args.json {
        println!(
            "moving {} slots ({}) from shard {} ({}) to shard {} ({})",
            r.slots,
            crate::client::cluster_watcher::ranges_text(&plan.slots),
            r.from,
            plan.from_node,
            r.to,
            plan.to_node
        );
    }
    let cancel = CancellationToken::new();
    let mut shown = 0;
    let json = args.json;
    let moving = migrate::reshard(&topology, &plan, &cancel, |p| {
        let tenth = p.slots_done * 10 / p.slots_total.max(1);
        if !json && tenth > shown {
            shown = tenth;
            println!(
                "  {:>3}%  {} of {} slots, {} keys",
                tenth * 10,
                p.slots_done,
                p.slots_total,
                p.keys_moved
            );
        }
    });
    let report = tokio::select! {
        r = moving => r,
        _ = async {
            shutdown.requested().await;
            cancel.cancel();
            std::future::pending::<()>().await
        } => unreachable!("the stop watch never ends"),
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("grabstorm: reshard failed: {e:#}");
            return Ok(ExitCode::from(EXIT_FAILED));
        }
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} {} of {} slots and {} keys from {} to {} in {}; {}",
            if report.complete {
                "moved"
            } else {
                "stopped after"
            },
            report.slots_moved,
            r.slots,
            report.keys_moved,
            report.from,
            report.to,
            crate::words::duration(std::time::Duration::from_millis(report.millis)),
            if report.every_node_agrees {
                "every node agrees on the new owners"
            } else {
                "not every node names the new owners yet"
            }
        );
    }
    Ok(if report.complete && report.every_node_agrees {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}
