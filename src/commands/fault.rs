//! `grabstorm fault KIND TARGET [--for DURATION] [--from NODES]`: one fault
//! on the topology a `grabstorm up` left running. With `--for`, the command
//! stays until the pause, partition or stall ends, so the node is never left
//! frozen by an exited process. A restart that changed a node's handle is
//! written back to the state file. `--json` prints one object at the end:
//! what was done, when, the timeline of the fault, and the nodes it touched
//! as read live afterwards (the node shape of `up --json` and `status --json`).

use crate::cli::GlobalArgs;
use crate::commands::EXIT_FAILED;
use crate::faults::{parse_duration, FaultError, FaultKind, FaultRequest, Injector, Target};
use crate::metrics::{Event, EventBus, EventKind, NodeView};
use crate::topology::{live, state};
use clap::Args;
use serde::Serialize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug, Clone, Default)]
pub struct FaultArgs {
    /// segfault, shutdown, shutdown-save, kill, pause, resume, partition
    /// (Docker only), heal, restart, slow (DEBUG SLEEP) or client-pause
    /// (CLIENT PAUSE ALL); failover: in Sentinel mode on a sentinel
    /// (SENTINEL FAILOVER), in Cluster mode on a replica (CLUSTER
    /// FAILOVER), and failover-force, failover-takeover. On a topology
    /// attached with --sentinel/--cluster only the kinds sent as Redis
    /// commands: segfault, shutdown, shutdown-save, slow, client-pause,
    /// failover*.
    #[arg(value_name = "KIND", value_parser = parse_kind)]
    pub kind: Option<FaultKind>,
    /// master, replica, replica-N, sentinel-N, redis-N, or all (restart,
    /// resume, heal); in Cluster mode master-K (shard K's master) and
    /// replica-K (a replica of shard K). Roles are read live at the moment
    /// of injection.
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Option<Target>,
    /// Pause, partition, slow, client-pause: end the fault after this long (e.g. 3s, 500ms).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Partition only: cut the node off from these nodes only (comma-separated).
    /// Without it, from every other node. A cut holds both ways; `heal NODE`
    /// undoes every cut NODE is part of, `heal all` every cut.
    #[arg(long, value_name = "NODES", value_delimiter = ',')]
    pub from: Vec<String>,
    #[command(flatten)]
    pub attach: crate::cli::AttachArgs,
    /// Print one JSON object when the fault is done (after `--for`, when
    /// it ended): `{fault, target, for, at_unix_ms, done, ended, events,
    /// nodes}`, `nodes` being the nodes it touched, read live afterwards.
    #[arg(long)]
    pub json: bool,
}

/// What `--json` prints.
#[derive(Serialize)]
struct FaultOutput<'a> {
    fault: String,
    target: String,
    /// `--for`, as given (e.g. `5s`); `null` without it.
    #[serde(rename = "for")]
    for_: Option<String>,
    /// When it was injected: milliseconds since the Unix epoch (UTC).
    at_unix_ms: u128,
    /// What was done, in words.
    done: &'a str,
    /// With `--for` (and `slow`): the sentence saying the fault ended.
    ended: Option<String>,
    /// The fault's timeline: `fault_injected`, `node_stopped`,
    /// `fault_healed`... (`at_ms` counts from the command's start).
    events: Vec<Event>,
    /// The nodes the fault touched, read live once it was done.
    nodes: Vec<NodeView>,
}

fn parse_kind(s: &str) -> Result<FaultKind, String> {
    s.parse()
}

fn parse_target(s: &str) -> Result<Target, String> {
    s.parse()
}

pub async fn run(
    global: &GlobalArgs,
    args: FaultArgs,
    shutdown: &crate::shutdown::Shutdown,
) -> anyhow::Result<ExitCode> {
    let (Some(kind), Some(target)) = (args.kind, args.target) else {
        anyhow::bail!(
            "expected KIND and TARGET, e.g. `grabstorm fault segfault master` or `grabstorm fault pause redis-2 --for 5s`"
        );
    };
    let state_dir = crate::logging::state_dir(global.state_dir.as_ref());
    let attached = args.attach.target();
    if attached.is_some() {
        // Refused before anything is asked of the nodes.
        crate::faults::check_shape(
            &FaultRequest {
                kind,
                target: target.clone(),
                duration: args.duration,
                from: args.from.clone(),
                reshard: None,
                scale: None,
            },
            Some(crate::topology::BackendKind::External),
        )?;
    }
    let (topology, backend) = crate::commands::topology_of(&state_dir, attached).await?;
    let shared = Arc::new(tokio::sync::Mutex::new(topology));
    let bus = EventBus::new();
    let injector = Injector::new(backend.clone(), shared.clone(), bus.clone());
    let at_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let req = FaultRequest {
        kind,
        target,
        duration: args.duration,
        from: args.from,
        reshard: None,
        scale: None,
    };
    let done = match injector.inject(&req).await {
        Ok(done) => done,
        Err(e) => {
            // Bad input and refusals exit with the usage status (via main);
            // a fault that was tried and failed is a failed run.
            if e.downcast_ref::<FaultError>().is_some() {
                return Err(e);
            }
            eprintln!("grabstorm: {e:#}");
            return Ok(ExitCode::from(EXIT_FAILED));
        }
    };
    if !args.json {
        println!("{done}");
    }
    if kind == FaultKind::Restart && args.attach.target().is_none() {
        state::save(&state_dir, &*shared.lock().await)?;
    }
    let mut ended = None;
    if req.duration.is_some() || matches!(kind, FaultKind::Slow | FaultKind::ClientPause) {
        tokio::select! {
            _ = injector.wait() => {}
            _ = shutdown.requested() => {
                // End the fault now rather than leave the node frozen or cut off.
                injector.shutdown().await;
            }
        }
        let line = format!("{kind} of {} ended", req.target);
        if !args.json {
            println!("{line}");
        }
        ended = Some(line);
    }
    if args.json {
        let events = bus.all();
        let topology = shared.lock().await.clone();
        let touched = touched_nodes(&events);
        let view = live::observe_with(&topology, Some(backend.as_ref())).await;
        let out = FaultOutput {
            fault: kind.to_string(),
            target: req.target.to_string(),
            for_: req.duration.map(crate::words::duration),
            at_unix_ms,
            done: &done,
            ended,
            events,
            nodes: view
                .nodes
                .into_iter()
                .filter(|n| touched.contains(&n.name))
                .collect(),
        };
        println!("{}", serde_json::to_string(&out)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The nodes a fault's timeline names, in order of first mention.
fn touched_nodes(events: &[Event]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for e in events {
        let node = match &e.kind {
            EventKind::FaultInjected { node, .. }
            | EventKind::FaultHealed { node, .. }
            | EventKind::NodeStopped { node }
            | EventKind::NodeStarted { node } => node,
            _ => continue,
        };
        if !names.contains(node) {
            names.push(node.clone());
        }
    }
    names
}
