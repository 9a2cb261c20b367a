//! The Docker backend: each node a container on one user-defined bridge
//! network per run, driven through the engine's API (bollard), never the CLI.
//!
//! It carries out a [`Plan`](crate::topology::plan::Plan): the configs
//! come from [`config`](crate::topology::config); this backend only adds
//! where each node listens and keeps its data. Layout of a run `<id>`:
//! network `grabstorm-<id>`, containers `grabstorm-<id>-<node>`, each with
//! a fixed address on that network by which the others name it, and a port
//! published on 127.0.0.1 by which the host reaches it. The parts, in the
//! order `up` uses them:
//!
//! - [`engine`]: reaching the engine, and every call to it, bounded.
//! - [`network`]: the run network and each node's fixed address on it.
//! - [`placement`]: where each node of the plan goes, and its config.
//! - [`ports`]: the published loopback ports.
//! - [`containers`]: creating, starting and inspecting the containers.
//! - [`launch`]: a whole run up, in start order.
//! - [`labels`]: the labels on every object, and removal by label.
//!
//! The restart policy is the one of [`Backend::restart`]: a restarted
//! container starts again with the config it holds, and nothing else.

mod containers;
mod engine;
mod labels;
mod launch;
mod network;
mod placement;
mod ports;

pub use containers::container_name;
pub use engine::DockerError;
pub use labels::run_labels;
pub use network::network_name;
pub use placement::{node_config, CLUSTER_BUS_PORT, REDIS_PORT, SENTINEL_PORT};

use crate::topology::image::ensure_redis_image;
use crate::topology::manifest::RecordedRun;
use crate::topology::state;
use crate::topology::{
    Backend, BackendKind, Node, ProcessState, Topology, TopologySpec, RUN_LABEL, STATE_DIR_LABEL,
};
use anyhow::{Context, Result};
use bollard::models::ContainerStateStatusEnum;
use bollard::query_parameters::{KillContainerOptions, StartContainerOptions};
use bollard::Docker;
use engine::call;
use labels::label_value;
use placement::container_port;
use ports::is_port_clash;
use std::path::{Path, PathBuf};
use tokio::sync::OnceCell;

/// Whole starts of a Cluster run when one of its pinned ports was taken
/// between choosing it and publishing it.
const CLUSTER_PORT_ATTEMPTS: usize = 3;

/// The Docker backend. Cheap to share behind an `Arc`; the image is chosen
/// (and built if needed) on the first `up`, then reused.
pub struct DockerBackend {
    docker: Docker,
    engine: String,
    requested_image: Option<String>,
    image: OnceCell<(String, String)>,
    /// Run dirs go into its `runs/`; objects carry it as a label.
    state_dir: PathBuf,
}

impl DockerBackend {
    /// Connects to the engine named by `DOCKER_HOST` (default: the local
    /// socket), negotiates the API version and pings it, within a few
    /// seconds. `image` is the user's `--image` / `GRABSTORM_REDIS_IMAGE`.
    pub async fn connect(image: Option<String>) -> Result<DockerBackend> {
        let host =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        DockerBackend::connect_to(&host, image).await
    }

    /// [`connect`](Self::connect) to the engine at `host`
    /// (`unix:///path`, `tcp://host:port`, as DOCKER_HOST takes).
    pub async fn connect_to(host: &str, image: Option<String>) -> Result<DockerBackend> {
        let (docker, engine) = engine::connect(host).await?;
        Ok(DockerBackend {
            docker,
            engine,
            requested_image: image,
            image: OnceCell::new(),
            state_dir: default_state_dir(),
        })
    }

    /// Puts per-run directories under `<state_dir>/runs`, as the local
    /// backend does (default: the state dir from `GRABSTORM_STATE_DIR` or
    /// the user's state home).
    pub fn with_state_dir(mut self, state_dir: &Path) -> DockerBackend {
        self.state_dir = state_dir.to_path_buf();
        self
    }

    /// Which engine answered, e.g. `Docker engine 20.10.24 (API 1.41) at unix:///var/run/docker.sock`.
    pub fn engine(&self) -> &str {
        &self.engine
    }

    /// The engine connection, for code that drives containers of a run
    /// directly (e.g. the partition helper of the faults).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The Redis image this backend runs, and how it was chosen; chosen
    /// (and built or pulled if needed) on the first call only.
    pub async fn image(&self) -> Result<(String, String)> {
        self.image
            .get_or_try_init(|| ensure_redis_image(&self.docker, self.requested_image.clone()))
            .await
            .cloned()
    }

    /// The run dir of run `run_id`: `<state_dir>/runs/<run_id>`, canonical.
    fn run_dir(&self, run_id: &str) -> Result<PathBuf> {
        Ok(state::runs_root(&self.state_dir)?.join(run_id))
    }

    /// The node `node` of `topology`; an unknown name is an error listing the run's nodes.
    fn handle<'t>(&self, topology: &'t Topology, node: &str) -> Result<&'t Node> {
        topology.node(node).with_context(|| {
            let names: Vec<&str> = topology.nodes.iter().map(|n| n.name.as_str()).collect();
            format!(
                "no node {node} in run {} (nodes: {})",
                topology.run_id,
                names.join(", ")
            )
        })
    }
}

/// The state dir from `GRABSTORM_STATE_DIR`, else the user's state home.
fn default_state_dir() -> PathBuf {
    let state = std::env::var_os("GRABSTORM_STATE_DIR").map(PathBuf::from);
    crate::logging::state_dir(state.as_ref())
}

/// Removes a run directory; absent is fine.
async fn remove_dir(run_dir: &Path) -> Result<()> {
    match tokio::fs::remove_dir_all(run_dir).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing run directory {}", run_dir.display())),
    }
}

#[async_trait::async_trait]
impl Backend for DockerBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Docker
    }

    fn image_note(&self) -> Option<String> {
        self.image.get().map(|(_, how)| how.clone())
    }

    async fn up(&self, spec: &TopologySpec, run_id: &str) -> Result<Topology> {
        spec.validate()?;
        let (image, how) = self.image().await?;
        tracing::info!(run_id, "{how}");
        let run_dir = self.run_dir(run_id)?;
        let mut attempt = 1;
        loop {
            match self.launch_run(spec, run_id, &image, &run_dir).await {
                Ok(t) => return Ok(t),
                Err(e) => {
                    // Leave nothing behind: whatever was created carries the run label.
                    if let Err(cleanup) = self.remove_run(run_id).await {
                        tracing::warn!(run_id, "cleanup after a failed up: {cleanup:#}");
                    }
                    let _ = tokio::fs::remove_dir_all(&run_dir).await;
                    // A Cluster node's port is in its config (it announces
                    // it), so a clash on it is retried with a fresh plan.
                    if spec.is_cluster() && is_port_clash(&e) && attempt < CLUSTER_PORT_ATTEMPTS {
                        tracing::warn!(
                            run_id,
                            "a pinned port was taken meanwhile, starting over: {e:#}"
                        );
                        attempt += 1;
                        continue;
                    }
                    return Err(e.context(format!("starting run {run_id} in Docker")));
                }
            }
        }
    }

    async fn down(&self, topology: &Topology) -> Result<()> {
        let removed = self.remove_run(&topology.run_id).await?;
        tracing::info!(run_id = %topology.run_id, removed = removed.len(), "run removed");
        remove_dir(&topology.run_dir).await
    }

    async fn remove_recorded(&self, run: &RecordedRun) -> Result<Vec<String>> {
        // Every object is labelled when created, so the labels find all of
        // them, helpers too; both labels, so that a run id met in another
        // state dir is not taken for this one.
        let state_dir = state::state_dir_of(&run.run_dir).unwrap_or(&run.run_dir);
        let mut removed = self
            .remove_labelled(&[
                format!("{RUN_LABEL}={}", run.run_id),
                format!("{STATE_DIR_LABEL}={}", label_value(state_dir)),
            ])
            .await?;
        remove_dir(&run.run_dir).await?;
        removed.push(format!("removed run dir {}", run.run_dir.display()));
        Ok(removed)
    }

    async fn down_all(&self) -> Result<Vec<String>> {
        let runs_root = state::runs_root(&self.state_dir)?;
        let state_dir = runs_root.parent().unwrap_or(&runs_root);
        self.remove_labelled(&[format!("{STATE_DIR_LABEL}={}", label_value(state_dir))])
            .await
    }

    async fn state(&self, topology: &Topology, node: &str) -> Result<ProcessState> {
        let n = self.handle(topology, node)?;
        let info = self.inspect(node, &n.handle).await?;
        let status = info.state.and_then(|s| s.status);
        Ok(match status {
            Some(ContainerStateStatusEnum::RUNNING)
            | Some(ContainerStateStatusEnum::RESTARTING) => ProcessState::Running,
            Some(ContainerStateStatusEnum::PAUSED) => ProcessState::Paused,
            _ => ProcessState::Exited,
        })
    }

    async fn kill(&self, topology: &Topology, node: &str) -> Result<()> {
        let n = self.handle(topology, node)?;
        call(
            format!("killing node {node}"),
            self.docker.kill_container(
                &n.handle,
                Some(KillContainerOptions {
                    signal: "SIGKILL".into(),
                }),
            ),
        )
        .await
    }

    async fn pause(&self, topology: &Topology, node: &str) -> Result<()> {
        let n = self.handle(topology, node)?;
        call(
            format!("pausing node {node}"),
            self.docker.pause_container(&n.handle),
        )
        .await
    }

    async fn resume(&self, topology: &Topology, node: &str) -> Result<()> {
        let n = self.handle(topology, node)?;
        call(
            format!("resuming node {node}"),
            self.docker.unpause_container(&n.handle),
        )
        .await
    }

    /// Starts the container again as it is: with the config it holds, as
    /// Redis or Sentinel last rewrote it, on its pinned port and address (the
    /// policy: [`Backend::restart`]).
    async fn restart(&self, topology: &mut Topology, node: &str) -> Result<()> {
        let n = self.handle(topology, node)?.clone();
        call(
            format!("starting node {node} again"),
            self.docker
                .start_container(&n.handle, None::<StartContainerOptions>),
        )
        .await
        .map_err(|e| {
            if is_port_clash(&e) {
                e.context(format!(
                    "node {node} cannot start again: its published port {} was taken by another process meanwhile",
                    n.host_addr
                ))
            } else {
                e
            }
        })?;
        // Port and address are pinned; should the engine still hand out
        // others, record what the node has now.
        // The port it listens on inside: a Cluster node's own, else its kind's.
        let port = n
            .internal_addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| container_port(n.kind));
        let info = self.inspect(node, &n.handle).await?;
        let (host_addr, ip) = self
            .addresses(&info, node, port, &network_name(&topology.run_id))
            .await?;
        if host_addr != n.host_addr || format!("{ip}:{port}") != n.internal_addr {
            tracing::warn!(node, old_host = %n.host_addr, new_host = %host_addr, old_internal = %n.internal_addr, new_ip = %ip, "node address changed on restart");
        }
        if let Some(m) = topology.node_mut(node) {
            m.host_addr = host_addr;
            m.internal_addr = format!("{ip}:{port}");
        }
        Ok(())
    }

    async fn partition(
        &self,
        topology: &Topology,
        node: &str,
        from: &[String],
    ) -> Result<std::time::Instant> {
        // Blackhole routes on both sides of each cut: see topology::partition.
        super::partition::partition(&self.docker, topology, node, from)
            .await
            .map(|(_, cut)| cut)
    }

    async fn heal(&self, topology: &Topology, node: &str) -> Result<bool> {
        super::partition::heal(&self.docker, topology, node).await
    }

    async fn heal_all(&self, topology: &Topology) -> Result<Vec<String>> {
        super::partition::heal_all(&self.docker, topology).await
    }

    async fn add_node(&self, topology: &mut Topology, name: &str) -> Result<()> {
        self.add_run_node(topology, name).await
    }

    async fn remove_node(&self, topology: &mut Topology, name: &str) -> Result<()> {
        self.handle(topology, name)?;
        let removed = self.remove_run_node(&topology.run_id, name).await?;
        tracing::info!(node = name, ?removed, "node removed");
        let _ = tokio::fs::remove_file(topology.run_dir.join(format!("{name}.conf"))).await;
        topology.nodes.retain(|n| n.name != name);
        Ok(())
    }

    async fn log_tail(&self, topology: &Topology, node: &str, lines: usize) -> String {
        match self.handle(topology, node) {
            Ok(n) => self.container_log_tail(&n.handle, lines).await,
            Err(e) => format!("(no log: {e})"),
        }
    }
}
