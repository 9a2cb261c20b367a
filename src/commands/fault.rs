//! `grabstorm fault KIND TARGET [--for DURATION] [--from NODES]`: one fault
//! on the topology a `grabstorm up` left running. With `--for`, the command
//! stays until the pause, partition or stall ends, so the node is never left
//! frozen by an exited process. A restart that changed a node's handle is
//! written back to the state file.

use crate::cli::GlobalArgs;
use crate::commands::EXIT_FAILED;
use crate::faults::{parse_duration, FaultError, FaultKind, FaultRequest, Injector, Target};
use crate::metrics::EventBus;
use crate::topology::state;
use clap::Args;
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
    let injector = Injector::new(backend, shared.clone(), EventBus::new());
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
    println!("{done}");
    if kind == FaultKind::Restart && args.attach.target().is_none() {
        state::save(&state_dir, &*shared.lock().await)?;
    }
    if req.duration.is_some() || matches!(kind, FaultKind::Slow | FaultKind::ClientPause) {
        tokio::select! {
            _ = injector.wait() => {}
            _ = shutdown.requested() => {
                // End the fault now rather than leave the node frozen or cut off.
                injector.shutdown().await;
            }
        }
        println!("{kind} of {} ended", req.target);
    }
    Ok(ExitCode::SUCCESS)
}
