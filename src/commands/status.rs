//! `grabstorm status`: the live truth about the running topology, read from
//! the nodes (INFO replication, SENTINEL GET-MASTER-ADDR-BY-NAME, which
//! changes the moment a sentinel switches, where SENTINEL MASTER lags), not
//! from the state file: after a failover it shows the new roles, and says
//! so in words when two nodes claim to be master.

use crate::cli::GlobalArgs;
use crate::commands::up::{health_name, print_columns, role_name};
use crate::metrics::snapshot::NodeView;
use crate::metrics::Role;
use crate::topology::admin::master;
use crate::topology::{live, select, state, NodeKind, Topology};
use clap::Args;
use serde::Serialize;
use std::process::ExitCode;

#[derive(Args, Debug, Clone, Default)]
pub struct StatusArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct StatusOutput<'a> {
    run_id: &'a str,
    backend: String,
    master_name: &'a str,
    failover_in_progress: bool,
    /// The run's password (`null` for runs started before it existed).
    password: Option<&'a str>,
    nodes: &'a [NodeView],
    /// Set when the nodes disagree in a way worth a word (two masters).
    warning: Option<&'a str>,
}

/// The master `sentinel` names right now (`SENTINEL GET-MASTER-ADDR-BY-NAME`),
/// as a node name (or the address when no node has it).
async fn named_master(topology: &Topology, sentinel: std::net::SocketAddr) -> Option<String> {
    let addr = crate::topology::admin::sentinel::ask_one(
        sentinel,
        &topology.auth(),
        &topology.spec.master_name,
    )
    .await
    .ok()?;
    Some(
        topology
            .node_by_addr(&addr)
            .map(|n| n.name.clone())
            .unwrap_or(addr),
    )
}

pub async fn run(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let state_dir = crate::logging::state_dir(global.state_dir.as_ref());
    let topology = state::load(&state_dir)?;
    // The backend tells paused from dead; without it (Docker unreachable) the nodes still answer for themselves.
    let backend = select::backend_of(topology.backend, &state_dir).await.ok();
    let mut view = live::observe_with(&topology, backend.as_ref().map(|(b, _)| b.as_ref())).await;
    for n in view
        .nodes
        .iter_mut()
        .filter(|n| n.kind == NodeKind::Sentinel)
    {
        if let Some(addr) = topology.node(&n.name).map(|t| t.host_addr) {
            if let Some(m) = named_master(&topology, addr).await {
                n.sentinel_master = Some(m);
            }
        }
    }
    let masters = master::claimants(&view);
    let warning = (masters.len() > 1).then(|| {
        format!(
            "{} all say they are master: clients reaching different ones write to different datasets (split brain), and all but one will lose what they accept",
            masters.join(" and ")
        )
    });

    if args.json {
        let out = StatusOutput {
            run_id: &topology.run_id,
            backend: topology.backend.to_string(),
            master_name: &topology.spec.master_name,
            failover_in_progress: view.failover_in_progress,
            password: topology.password.as_deref(),
            nodes: &view.nodes,
            warning: warning.as_deref(),
        };
        println!("{}", serde_json::to_string(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "run {} ({} backend), master name {:?}{}",
        topology.run_id,
        topology.backend,
        topology.spec.master_name,
        if view.failover_in_progress {
            ": FAILOVER IN PROGRESS (sentinels disagree or one is failing over)"
        } else {
            ""
        }
    );
    if let Some(w) = &warning {
        println!("WARNING: {w}");
    }
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |x| x.to_string());
    let cells: Vec<Vec<String>> = view
        .nodes
        .iter()
        .map(|n| {
            let follows = n
                .master_of_replica
                .clone()
                .or_else(|| n.sentinel_master.clone())
                .unwrap_or_else(|| "-".into());
            vec![
                n.name.clone(),
                n.kind.to_string(),
                role_name(n.role).to_string(),
                health_name(n.health).to_string(),
                n.host_addr.clone(),
                opt(n.repl_offset),
                opt(n.lag_bytes),
                follows,
            ]
        })
        .collect();
    print_columns(
        &[
            "NAME",
            "KIND",
            "ROLE",
            "HEALTH",
            "HOST ADDR",
            "OFFSET",
            "LAG",
            "MASTER",
        ],
        &cells,
    );
    // The master the nodes name, else the first data node.
    let master = view
        .nodes
        .iter()
        .find(|n| n.role == Role::Master)
        .and_then(|n| topology.node(&n.name))
        .or_else(|| topology.redis_nodes().next());
    if let Some(master) = master {
        println!("\ntalk to {}: {}", master.name, topology.redis_cli(master));
    }
    Ok(ExitCode::SUCCESS)
}
