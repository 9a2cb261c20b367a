//! `grabstorm status`: the live truth about the running topology, read from
//! the nodes (INFO replication, SENTINEL GET-MASTER-ADDR-BY-NAME, which
//! changes the moment a sentinel switches, where SENTINEL MASTER lags), not
//! from the state file: after a failover it shows the new roles, and says
//! so in words when two nodes claim to be master. In Cluster mode it adds
//! the shards (slot ranges, master and replicas now, by the one rule of
//! `topology::cluster`) and each node's own word: `cluster_state`,
//! `cluster_current_epoch`, and the nodes it flags PFAIL or FAIL. Exit 3
//! when there is no running topology or none of its Redis nodes answers.

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
    #[command(flatten)]
    pub attach: crate::cli::AttachArgs,
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
    /// Cluster mode: the shards and each node's view of the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a crate::topology::cluster::ClusterStatus>,
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
    let (topology, backend) = match args.attach.target() {
        Some(t) => {
            let (topology, backend) = crate::commands::topology_of(&state_dir, Some(t)).await?;
            (topology, Some((backend, String::new())))
        }
        None => {
            let topology = state::load(&state_dir)?;
            // The backend tells paused from dead; without it (Docker unreachable) the nodes still answer for themselves.
            let backend = select::backend_of(topology.backend, &state_dir).await.ok();
            (topology, backend)
        }
    };
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
    // Read in the same observation as the nodes (Cluster mode only).
    let cluster = view.cluster.clone();
    let masters = master::claimants(&view);
    // Several masters is a Cluster's normal shape, not a split brain.
    let warning = (masters.len() > 1 && cluster.is_none()).then(|| {
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
            cluster: cluster.as_ref(),
        };
        println!("{}", serde_json::to_string(&out)?);
        return Ok(lab_answers(&topology, &view.nodes));
    }
    let title = match topology.spec.is_cluster() {
        true => format!(
            "Redis Cluster of {} masters, {} replica(s) each",
            topology.spec.masters, topology.spec.replicas_per_master
        ),
        false => format!("master name {:?}", topology.spec.master_name),
    };
    println!(
        "run {} ({} backend), {title}{}",
        topology.run_id,
        topology.backend,
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
    if let Some(c) = &cluster {
        print_cluster(c);
    }
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
    Ok(lab_answers(&topology, &view.nodes))
}

/// Success while a Redis node of the run answers; when none does, says so
/// and exits 3 (the lab is down), after the table that shows it.
fn lab_answers(topology: &Topology, nodes: &[NodeView]) -> ExitCode {
    let answers = nodes
        .iter()
        .any(|n| n.kind == NodeKind::Redis && n.role != Role::Unknown);
    if answers {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "grabstorm status: no Redis node of run {} answers: the lab is down \
         (`grabstorm fault restart all` starts the nodes again, `grabstorm down` removes them)",
        topology.run_id
    );
    crate::commands::Exit::LabDown.into()
}

/// The shards, then each node's own word on the cluster.
fn print_cluster(c: &crate::topology::cluster::ClusterStatus) {
    println!();
    let cells: Vec<Vec<String>> = c
        .shards
        .iter()
        .map(|s| {
            let slots: Vec<String> = s.slots.iter().map(|r| r.to_string()).collect();
            vec![
                s.shard.to_string(),
                if slots.is_empty() {
                    "none".into()
                } else {
                    slots.join(",")
                },
                s.master.clone().unwrap_or_else(|| "none".into()),
                if s.replicas.is_empty() {
                    "-".into()
                } else {
                    s.replicas.join(",")
                },
            ]
        })
        .collect();
    print_columns(&["SHARD", "SLOTS", "MASTER", "REPLICAS"], &cells);
    println!();
    let cells: Vec<Vec<String>> = c
        .nodes
        .iter()
        .map(|n| {
            if !n.answered {
                return vec![n.name.clone(), "no answer".into(), "-".into(), "-".into()];
            }
            let flags: Vec<String> = n.flags.iter().map(|(k, f)| format!("{k}:{f}")).collect();
            vec![
                n.name.clone(),
                if n.state_ok { "ok" } else { "fail" }.into(),
                n.current_epoch.to_string(),
                if flags.is_empty() {
                    "-".into()
                } else {
                    flags.join(",")
                },
            ]
        })
        .collect();
    print_columns(
        &[
            "NODE",
            "CLUSTER_STATE",
            "CURRENT_EPOCH",
            "FLAGS (AS IT SEES THEM)",
        ],
        &cells,
    );
}
