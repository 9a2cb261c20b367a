//! `grabstorm up`: start a topology, wait until it is really ready, print
//! its nodes (a table, or one JSON object with `--json`), remember it in the
//! state file and leave it running.

use crate::cli::{BackendArgs, GlobalArgs, SpecArgs};
use crate::commands::EXIT_USAGE;
use crate::metrics::snapshot::{Health, NodeView, Role};
use crate::shutdown::Shutdown;
use crate::topology::guard::{self, StartError, StartOptions};
use crate::topology::{live, select, state, Backend, ProcessState, Topology};
use crate::words::secs;
use clap::Args;
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args, Debug, Clone, Default)]
pub struct UpArgs {
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct UpOutput<'a> {
    run_id: &'a str,
    backend: String,
    backend_why: &'a str,
    ready_ms: u128,
    state_file: String,
    run_dir: String,
    spec: &'a crate::topology::TopologySpec,
    /// The run's password: every node requires it.
    password: Option<&'a str>,
    /// Every node, read live, in the shape `status --json` prints too.
    nodes: &'a [NodeView],
}

pub async fn run(
    global: &GlobalArgs,
    args: UpArgs,
    shutdown: &Shutdown,
) -> anyhow::Result<ExitCode> {
    let spec = args.spec.to_spec();
    // A bad spec is refused before anything (even a Docker probe) happens.
    if let Err(e) = spec.validate() {
        eprintln!("grabstorm: impossible topology: {e}");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let state_dir = crate::logging::state_dir(global.state_dir.as_ref());
    refuse_if_running(&state_dir).await?;

    let opts = StartOptions {
        save_state: true,
        shutdown: shutdown.clone(),
        ..StartOptions::new(&state_dir)
    };
    let (guard, why) = match guard::start_from_args(&args.backend.selection(), &spec, &opts).await {
        Ok(started) => started,
        Err(e) => {
            if let Some(StartError::Interrupted(sig)) = e.downcast_ref::<StartError>() {
                eprintln!("grabstorm: {e}");
                return Ok(ExitCode::from(sig.exit_code()));
            }
            return Err(e);
        }
    };
    if let Some(sig) = shutdown.signal() {
        // The signal came as the start finished: it still means "stop".
        guard.teardown().await?;
        eprintln!("grabstorm: {}", StartError::Interrupted(sig));
        return Ok(ExitCode::from(sig.exit_code()));
    }
    let ready_in = guard.ready_in();
    let backend = guard.backend();
    let topology = guard.keep();
    let view = live::observe_with(&topology, Some(backend.as_ref())).await;

    if args.json {
        let out = UpOutput {
            run_id: &topology.run_id,
            backend: topology.backend.to_string(),
            backend_why: &why,
            ready_ms: ready_in.as_millis(),
            state_file: state::path(&state_dir).display().to_string(),
            run_dir: topology.run_dir.display().to_string(),
            spec: &topology.spec,
            password: topology.password.as_deref(),
            nodes: &view.nodes,
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        eprintln!("backend: {} ({why})", topology.backend);
        print_table(&view.nodes);
        let what = match topology.spec.is_cluster() {
            true => format!(
                "Redis Cluster of {} masters (redis-1..redis-{}), {} replica(s) each",
                topology.spec.masters, topology.spec.masters, topology.spec.replicas_per_master
            ),
            false => format!("master name {:?}", topology.spec.master_name),
        };
        println!(
            "\nrun {} ready in {}; {what}. `grabstorm status` shows live roles, `grabstorm down` removes it.",
            topology.run_id,
            secs(ready_in.as_millis() as u64),
        );
        if let Some(master) = topology.redis_nodes().next() {
            match topology.spec.is_cluster() {
                // `-c` follows MOVED/ASK to the node serving the key.
                true => println!("talk to the cluster: {}", topology.redis_cli(master)),
                false => println!("talk to the master: {}", topology.redis_cli(master)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses to start a second run over a live one; removes the remains of a
/// dead one (its state file outlived its nodes).
pub(crate) async fn refuse_if_running(state_dir: &Path) -> anyhow::Result<()> {
    let Ok(old) = state::load(state_dir) else {
        return Ok(());
    };
    let backend = select::backend_of(old.backend, state_dir).await.ok();
    if is_alive(&old, backend.as_ref().map(|(b, _)| b.as_ref())).await {
        anyhow::bail!(
            "a topology is already running (run {}, {} backend): use it, or `grabstorm down`",
            old.run_id,
            old.backend
        );
    }
    tracing::info!(run = %old.run_id, "the previous run is gone: removing its remains");
    if let Some((b, _)) = &backend {
        if let Err(e) = b.down(&old).await {
            tracing::warn!("removing the remains of run {}: {e:#}", old.run_id);
        }
    }
    state::clear(state_dir)
}

/// True when any node of `t` still runs (or answers, when the backend is unreachable).
async fn is_alive(t: &Topology, backend: Option<&dyn Backend>) -> bool {
    if let Some(b) = backend {
        for n in &t.nodes {
            if let Ok(s) = b.state(t, &n.name).await {
                if s != ProcessState::Exited {
                    return true;
                }
            }
        }
        return false;
    }
    for n in &t.nodes {
        if crate::topology::admin::probe::connect(
            n.host_addr,
            &t.auth(),
            Duration::from_millis(300),
        )
        .await
        .is_ok()
        {
            return true;
        }
    }
    false
}

pub(crate) fn role_name(r: Role) -> &'static str {
    match r {
        Role::Master => "master",
        Role::Replica => "replica",
        Role::Sentinel => "sentinel",
        Role::Unknown => "unknown",
    }
}

pub(crate) fn health_name(h: Health) -> &'static str {
    match h {
        Health::Up => "up",
        Health::Sdown => "sdown",
        Health::Odown => "odown",
        Health::Down => "down",
        Health::Paused => "paused",
        Health::Partitioned => "partitioned",
    }
}

/// Prints rows of cells as aligned columns.
pub(crate) fn print_columns(header: &[&str], cells: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cols: Vec<&str>| {
        let s: Vec<String> = cols
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in cells {
        line(row.iter().map(String::as_str).collect());
    }
}

fn print_table(nodes: &[NodeView]) {
    let cells: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                n.name.clone(),
                n.kind.to_string(),
                role_name(n.role).to_string(),
                n.host_addr.clone(),
                n.internal_addr.clone(),
                health_name(n.health).to_string(),
            ]
        })
        .collect();
    print_columns(
        &[
            "NAME",
            "KIND",
            "ROLE",
            "HOST ADDR",
            "INTERNAL ADDR",
            "HEALTH",
        ],
        &cells,
    );
}
