//! Starting a topology safely, for every command that starts one (`up`,
//! `load`, `tui`, `run`): refuse a bad spec before anything starts, start
//! the nodes, join a Cluster's nodes into one cluster
//! ([`cluster::assemble`]), wait until they are ready, and on error or a stop signal
//! (the [`Shutdown`] of [`StartOptions`]) remove everything that was
//! started. The [`TopologyGuard`] it returns removes the topology when
//! dropped (also while unwinding from a panic) unless
//! [`TopologyGuard::keep`] was called.

use super::manifest::Manifest;
use super::{cluster, ready, select, state, Backend, SpecError, Topology, TopologySpec};
use crate::shutdown::{Shutdown, StopSignal};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Time a started topology gets to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Time the drop backstop allows the teardown.
const DROP_TEARDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a start did not produce a topology.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad spec: nothing was started.
    #[error("impossible topology: {0}")]
    Spec(#[from] SpecError),
    /// A stop signal arrived while starting; what was started is removed.
    #[error("interrupted by {0} while starting: everything started was removed")]
    Interrupted(StopSignal),
}

/// How to start.
#[derive(Clone, Debug)]
pub struct StartOptions {
    /// Where the state file goes (and, for the local backend, the run dirs).
    pub state_dir: PathBuf,
    /// Write the state file once ready, so `status`, `fault` and `down` find
    /// the run; the guard removes it again on teardown.
    pub save_state: bool,
    pub ready_timeout: Duration,
    /// A signal on it interrupts the start (default: only an explicit request).
    pub shutdown: Shutdown,
}

impl StartOptions {
    pub fn new(state_dir: &Path) -> StartOptions {
        StartOptions {
            state_dir: state_dir.to_path_buf(),
            save_state: false,
            ready_timeout: READY_TIMEOUT,
            shutdown: Shutdown::default(),
        }
    }
}

/// Selects the backend from `args` (saying why), then [`start`]s. The spec
/// is checked first, so a bad one touches nothing, not even Docker.
pub async fn start_from_args(
    args: &select::BackendSelection,
    spec: &TopologySpec,
    opts: &StartOptions,
) -> anyhow::Result<(TopologyGuard, String)> {
    spec.validate().map_err(StartError::Spec)?;
    let (backend, why) =
        select::backend_in(args.choice, args.image.clone(), &opts.state_dir).await?;
    tracing::info!(backend = %backend.kind(), "{why}");
    Ok((start(backend, spec, opts).await?, why))
}

/// Validates `spec`, starts it on `backend`, waits until ready. Any error or
/// stop signal on the way removes what was started.
pub async fn start(
    backend: Arc<dyn Backend>,
    spec: &TopologySpec,
    opts: &StartOptions,
) -> anyhow::Result<TopologyGuard> {
    spec.validate().map_err(StartError::Spec)?;
    let run_id = state::new_run_id();
    let started = Instant::now();

    let up = backend.up(spec, &run_id);
    tokio::pin!(up);
    let topology = tokio::select! {
        r = &mut up => r?,
        sig = opts.shutdown.requested() => {
            // Let the start finish (it is bounded) so that every node it
            // made is known, then remove them all.
            tracing::warn!("{sig} while starting run {run_id}: removing what was started");
            if let Ok(t) = up.await {
                if let Err(e) = backend.down(&t).await {
                    tracing::warn!("removing run {run_id}: {e:#}");
                }
            }
            return Err(StartError::Interrupted(sig).into());
        }
    };
    let mut guard = TopologyGuard {
        backend: backend.clone(),
        topology,
        state_dir: opts.save_state.then(|| opts.state_dir.clone()),
        armed: true,
        ready_in: Duration::ZERO,
    };
    let ready = async {
        if guard.topology.spec.is_cluster() {
            cluster::assemble(&guard.topology).await?;
        }
        ready::wait_ready_on(&guard.topology, Some(backend.as_ref()), opts.ready_timeout).await
    };
    let outcome = tokio::select! {
        r = ready => r.map_err(|e| e.context(format!("run {run_id} did not become ready; everything started was removed"))),
        sig = opts.shutdown.requested() => {
            tracing::warn!("{sig} while waiting for run {run_id}: removing it");
            Err(StartError::Interrupted(sig).into())
        }
    };
    if let Err(e) = outcome {
        if let Err(down) = guard.teardown().await {
            tracing::warn!("removing run {run_id}: {down:#}");
        }
        return Err(e);
    }
    guard.ready_in = started.elapsed();
    if let Some(dir) = &guard.state_dir {
        state::save(dir, &guard.topology)?;
    }
    Ok(guard)
}

/// A started, ready topology that is removed when the guard goes away,
/// unless kept.
pub struct TopologyGuard {
    backend: Arc<dyn Backend>,
    topology: Topology,
    /// The state dir whose state file names this run (cleared on teardown).
    state_dir: Option<PathBuf>,
    armed: bool,
    ready_in: Duration,
}

impl TopologyGuard {
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    /// Wall time from the start request until ready.
    pub fn ready_in(&self) -> Duration {
        self.ready_in
    }

    /// Takes the run's record as it is now (a restart's new handles, the
    /// nodes a scaling added or removed), so that the teardown removes
    /// what there is.
    pub fn follow(&mut self, now: &Topology) {
        if now.run_id == self.topology.run_id {
            self.topology = now.clone();
        }
    }

    /// Leaves the topology running (for `up`, `--keep`) and returns its record.
    pub fn keep(mut self) -> Topology {
        self.armed = false;
        // On record, so that `down` tells a kept run from a crashed one.
        if let Err(e) = Manifest::of(&self.topology.run_dir).mark_kept() {
            tracing::warn!(run = %self.topology.run_id, "{e}");
        }
        self.topology.clone()
    }

    /// Removes the topology now: nodes, run dir, and the state file if it
    /// still names this run.
    pub async fn teardown(mut self) -> anyhow::Result<()> {
        self.armed = false;
        remove(
            self.backend.as_ref(),
            &self.topology,
            self.state_dir.as_deref(),
        )
        .await
    }
}

async fn remove(
    backend: &dyn Backend,
    topology: &Topology,
    state_dir: Option<&Path>,
) -> anyhow::Result<()> {
    backend.down(topology).await?;
    if let Some(dir) = state_dir {
        let ours = state::load(dir).is_ok_and(|t| t.run_id == topology.run_id);
        if ours {
            state::clear(dir)?;
        }
    }
    Ok(())
}

impl Drop for TopologyGuard {
    /// The backstop: `Drop` cannot await, and the current runtime may be the
    /// one unwinding, so the teardown runs on a fresh thread with its own
    /// small runtime, and the drop waits for it (bounded).
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.armed = false;
        let backend = self.backend.clone();
        let topology = self.topology.clone();
        let state_dir = self.state_dir.clone();
        let run_id = topology.run_id.clone();
        let worker = std::thread::Builder::new()
            .name("grabstorm-teardown".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async {
                    tokio::time::timeout(
                        DROP_TEARDOWN_TIMEOUT,
                        remove(backend.as_ref(), &topology, state_dir.as_deref()),
                    )
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!("teardown timed out after {DROP_TEARDOWN_TIMEOUT:?}")
                    })?
                })
            });
        match worker.map(|h| h.join()) {
            Ok(Ok(Ok(()))) => tracing::info!(run = %run_id, "topology removed"),
            Ok(Ok(Err(e))) => tracing::warn!(run = %run_id, "removing the topology: {e:#}"),
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(run = %run_id, "the teardown thread failed: run `grabstorm down --all`")
            }
        }
    }
}
