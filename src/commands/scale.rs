//! `grabstorm scale add` and `grabstorm scale remove K`: a shard joins or
//! leaves the running cluster, live, its slots moved with their keys while
//! any load keeps running (the steps: `topology::scale`). Progress goes to
//! stderr, one line per step; the summary (or `--json`, whose `nodes` are
//! the shard's nodes in the node shape of `up --json`) to stdout. Every
//! change is written to the state file as it happens, so `down` removes
//! added nodes even after a failed or interrupted scaling.

use crate::cli::GlobalArgs;
use crate::commands::EXIT_FAILED;
use crate::metrics::NodeView;
use crate::topology::migrate::MoveReport;
use crate::topology::scale::{self, ScaleError, ScaleReport};
use crate::topology::{live, select, state, Topology};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::collections::BTreeMap;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Args, Debug, Clone)]
pub struct ScaleArgs {
    #[command(subcommand)]
    pub action: ScaleAction,
    /// Print the result as one JSON object: `{action, shard, nodes, moves,
    /// slots_moved, keys_moved, millis, slots_per_master, complete}`,
    /// `nodes` being the shard's nodes (added: read live afterwards;
    /// removed: as they were, now down).
    #[arg(long, global = true)]
    pub json: bool,
}

/// What `--json` prints: the report, with the shard's nodes as node objects.
#[derive(Serialize)]
struct ScaleOutput<'a> {
    action: &'a str,
    shard: usize,
    nodes: Vec<NodeView>,
    moves: &'a [MoveReport],
    slots_moved: u32,
    keys_moved: u64,
    millis: u64,
    slots_per_master: &'a BTreeMap<String, u32>,
    complete: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum ScaleAction {
    /// A new master with --replicas-per-master replicas joins as the next
    /// shard and takes an even share of the slots from every master.
    Add,
    /// Shard K's slots move evenly to the other masters, then its nodes
    /// are forgotten by the cluster and removed (at least 3 masters stay).
    /// Shards keep their numbers: removing 2 of 4 leaves 1, 3 and 4.
    Remove {
        #[arg(value_name = "K")]
        shard: usize,
    },
}

pub async fn run(
    global: &GlobalArgs,
    args: ScaleArgs,
    shutdown: &crate::shutdown::Shutdown,
) -> anyhow::Result<ExitCode> {
    let state_dir = crate::logging::state_dir(global.state_dir.as_ref());
    let mut topology: Topology = state::load(&state_dir)?;
    // Removed nodes leave the topology: their records, for `--json`.
    let before = topology.clone();
    let (backend, _) = select::backend_of(topology.backend, &state_dir).await?;
    let cancel = CancellationToken::new();
    let stop = {
        let cancel = cancel.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            shutdown.requested().await;
            cancel.cancel();
        })
    };
    let mut say = |line: String| eprintln!("{line}");
    let mut save = |t: &Topology| state::save(&state_dir, t);
    let result = match args.action {
        ScaleAction::Add => {
            scale::add(&*backend, &mut topology, &cancel, &mut say, &mut save).await
        }
        ScaleAction::Remove { shard } => {
            scale::remove(
                &*backend,
                &mut topology,
                shard,
                &cancel,
                &mut say,
                &mut save,
            )
            .await
        }
    };
    stop.abort();
    let report = match result {
        Ok(r) => r,
        // Refusals are usage errors (exit 2 via main); failures mid-way are failed runs.
        Err(e) if e.downcast_ref::<ScaleError>().is_some() => return Err(e),
        Err(e) => {
            eprintln!("grabstorm scale: {e:#}");
            return Ok(ExitCode::from(EXIT_FAILED));
        }
    };
    if args.json {
        let view = live::observe_with(&topology, Some(backend.as_ref())).await;
        let nodes = report
            .nodes
            .iter()
            .filter_map(|name| match view.nodes.iter().find(|v| &v.name == name) {
                Some(v) => Some(v.clone()),
                // Removed: stopped, and gone from the topology.
                None => before
                    .node(name)
                    .map(|n| NodeView::unread(n, before.start_shard(name))),
            })
            .collect();
        let out = ScaleOutput {
            action: &report.action,
            shard: report.shard,
            nodes,
            moves: &report.moves,
            slots_moved: report.slots_moved,
            keys_moved: report.keys_moved,
            millis: report.millis,
            slots_per_master: &report.slots_per_master,
            complete: report.complete,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", summary(&report));
    }
    Ok(if report.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// The result in words, one line each.
fn summary(r: &ScaleReport) -> String {
    let mut out = format!(
        "shard {} {}: {}\nmoved {} slots with {} keys in {} moves, {} ms in all{}\n",
        r.shard,
        if r.action == "add" {
            "added"
        } else {
            "removed"
        },
        r.nodes.join(", "),
        r.slots_moved,
        r.keys_moved,
        r.moves.len(),
        r.millis,
        if r.complete { "" } else { " (stopped early)" }
    );
    for (master, slots) in &r.slots_per_master {
        out.push_str(&format!("  {master}: {slots} slots\n"));
    }
    out
}
