//! `grabstorm down`: remove the running topology (processes or containers,
//! network, run dir, state file); with `--all`, also the leftovers of any
//! earlier or crashed run, found by pid files and run dirs (local) and by
//! label (Docker, when an engine answers).

use crate::cli::{BackendChoice, GlobalArgs};
use crate::topology::local::LocalBackend;
use crate::topology::state::StateError;
use crate::topology::{select, state, Backend};
use clap::Args;
use std::process::ExitCode;

#[derive(Args, Debug, Clone, Default)]
pub struct DownArgs {
    /// Also remove leftovers of any earlier or crashed run (processes whose
    /// run dir lies in the state dir; containers and networks labelled grabstorm.run).
    #[arg(long)]
    pub all: bool,
    /// With --all: whose leftovers to look for. auto: local processes, and
    /// Docker objects when an engine answers.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

pub async fn run(global: &GlobalArgs, args: DownArgs) -> anyhow::Result<ExitCode> {
    let state_dir = crate::logging::state_dir(global.state_dir.as_ref());
    match state::load(&state_dir) {
        Ok(t) => {
            let (backend, _) = select::backend_of(t.backend, &state_dir).await?;
            backend.down(&t).await?;
            state::clear(&state_dir)?;
            println!(
                "removed run {} ({} backend): {} nodes, {}",
                t.run_id,
                t.backend,
                t.nodes.len(),
                t.run_dir.display()
            );
        }
        Err(StateError::NoTopology(_)) if !args.all => {
            println!(
                "no running topology in {}: nothing to remove (`grabstorm down --all` also removes leftovers of crashed runs)",
                state_dir.display()
            );
        }
        Err(StateError::NoTopology(_)) => {}
        Err(e @ StateError::Corrupt { .. }) if !args.all => return Err(e.into()),
        Err(e) => {
            tracing::warn!("{e}: removing it");
            state::clear(&state_dir)?;
        }
    }
    if !args.all {
        return Ok(ExitCode::SUCCESS);
    }

    let mut removed = LocalBackend::new(&state_dir).down_all().await?;
    if args.backend != BackendChoice::Local {
        match select::backend_in(BackendChoice::Docker, None, &state_dir).await {
            Ok((docker, _)) => removed.extend(docker.down_all().await?),
            Err(e) if args.backend == BackendChoice::Docker => return Err(e),
            Err(e) => println!("Docker leftovers not checked: {e:#}"),
        }
    }
    if removed.is_empty() {
        println!("no leftovers found");
    }
    for line in removed {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
