//! The Docker backend: each node a container on one user-defined bridge
//! network per run, driven through the engine's API (bollard), never the CLI.
//!
//! It carries out a [`Plan`]: the configs come from
//! [`config`](super::config), this file only adds where each node listens
//! and keeps its data. Layout of a run `<id>`: network `grabstorm-<id>`;
//! containers `grabstorm-<id>-<node>`, each with a fixed address on that
//! network by which the others name it (replicas follow the master's IP,
//! Sentinel monitors it by IP, every node announces its own): Sentinel
//! never depends on a container's DNS name, which the engine forgets while
//! the container is stopped. Every network and container carries the labels
//! `grabstorm.run=<id>`, `grabstorm.managed=true` and
//! `grabstorm.state_dir=<canonical state dir>`, and is on record in the
//! run's manifest before it is created: teardown finds them by label, so a
//! half-started or crashed run is removed as completely as a finished one,
//! and `down --all` stays within its state dir. Configs go into the created, not yet started, container as
//! an uploaded tar archive: no host directory is mounted, so a remote engine
//! works too. From the host, each node is reached only through a port the
//! engine publishes on 127.0.0.1, read back by inspect. The port is named
//! explicitly (a free one the OS hands out, retried on a clash) rather than
//! left to the engine: with an empty `HostPort` the engine picks a new port
//! on every start, and a node restarted by a fault must keep its address.
//! For the same reason each node's address on the run network is fixed
//! (the engine picks the subnet, grabstorm then pins it): it changes only if
//! a fault asks for it, and each sentinel's config names its peers from the
//! start.

use crate::topology::config;
use crate::topology::image::ensure_redis_image;
use crate::topology::manifest::{Manifest, Record, RecordedRun};
use crate::topology::plan::{Addresses, Plan, PlanError};
use crate::topology::state;
use crate::topology::{
    Auth, Backend, BackendKind, Node, NodeKind, ProcessState, Topology, TopologySpec,
    MANAGED_LABEL, RUN_LABEL, STATE_DIR_LABEL,
};
use anyhow::{bail, Context, Result};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, EndpointIpamConfig,
    EndpointSettings, HostConfig, Ipam, IpamConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectNetworkOptions, KillContainerOptions, ListContainersOptions,
    ListNetworksOptions, LogsOptions, RemoveContainerOptions, StartContainerOptions,
    UploadToContainerOptions,
};
use bollard::Docker;
use futures::future::{join_all, try_join_all};
use futures::StreamExt;
use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Port Redis listens on inside its container.
pub const REDIS_PORT: u16 = 6379;
/// Port Sentinel listens on inside its container.
pub const SENTINEL_PORT: u16 = 26379;
/// Where the node's config lives in the container; writable, because
/// Sentinel rewrites its config file (and `CONFIG REWRITE` may too).
const CONFIG_DIR: &str = "/etc/redis";

/// Bound on answering a ping when connecting: an absent engine must not stall `--backend auto`.
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on one engine call (create, start, inspect, kill, remove...).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts when a published port or the run's subnet was taken meanwhile.
const CLASH_ATTEMPTS: usize = 5;
/// How long `up` lets the replicas attach before it starts the sentinels
/// anyway (readiness then reports what is missing).
const REPLICAS_ATTACH_WAIT: Duration = Duration::from_secs(10);
/// Bound bollard puts on any request; the calls here have tighter bounds
/// of their own, except a pull the user asked for (see `image`).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(600);

/// Failures to reach the engine, with the fix in the message.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("no Docker engine answers at {host}: {cause}. Start Docker (e.g. `sudo systemctl start docker`), make sure this user may use its socket (group `docker`), or point DOCKER_HOST at a running engine; or use --backend local")]
    Unreachable { host: String, cause: String },
    #[error("{host} is not a usable Docker engine address ({cause}): unset DOCKER_HOST to use /var/run/docker.sock, or set it to unix:///path/to/docker.sock or tcp://HOST:PORT")]
    BadHost { host: String, cause: String },
}

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
        let host = host.to_string();
        let docker = Docker::connect_with_host(&host).map_err(|e| match e {
            bollard::errors::Error::SocketNotFoundError(path) => DockerError::Unreachable {
                host: host.clone(),
                cause: format!("the socket {path} does not exist"),
            },
            e => DockerError::BadHost {
                host: host.clone(),
                cause: e.to_string(),
            },
        })?;
        let unreachable = |cause: String| DockerError::Unreachable {
            host: host.clone(),
            cause,
        };
        let docker = match tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version()).await {
            Err(_) => return Err(unreachable(format!("no answer within {PING_TIMEOUT:?}")).into()),
            Ok(Err(e)) => return Err(unreachable(e.to_string()).into()),
            Ok(Ok(d)) => d.with_timeout(CLIENT_TIMEOUT),
        };
        match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
            Err(_) => {
                return Err(
                    unreachable(format!("no answer to ping within {PING_TIMEOUT:?}")).into(),
                )
            }
            Ok(Err(e)) => return Err(unreachable(e.to_string()).into()),
            Ok(Ok(_)) => {}
        }
        let version = call("asking the Docker engine its version", docker.version()).await?;
        let engine = format!(
            "Docker engine {} (API {}) at {host}",
            version.version.as_deref().unwrap_or("?"),
            docker.client_version()
        );
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
    pub fn with_state_dir(mut self, state_dir: &std::path::Path) -> DockerBackend {
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

    /// Removes every container and the network of run `run_id`, found by
    /// label (so a half-started run goes too); returns what was removed.
    pub async fn remove_run(&self, run_id: &str) -> Result<Vec<String>> {
        self.remove_labelled(&[format!("{RUN_LABEL}={run_id}")])
            .await
    }

    /// Removes every grabstorm container and network on the engine, of
    /// any state dir and any user; returns what was removed, one line each.
    pub async fn remove_everything_on_engine(&self) -> Result<Vec<String>> {
        self.remove_labelled(&[format!("{MANAGED_LABEL}=true")])
            .await
    }

    /// The run dir of run `run_id`: `<state_dir>/runs/<run_id>`, canonical.
    fn run_dir(&self, run_id: &str) -> Result<PathBuf> {
        Ok(state::runs_root(&self.state_dir)?.join(run_id))
    }

    /// Removes the containers and networks carrying every one of `labels`.
    async fn remove_labelled(&self, labels: &[String]) -> Result<Vec<String>> {
        let label = labels.join(", ");
        let filters = HashMap::from([("label".to_string(), labels.to_vec())]);
        let containers = call(
            format!("listing containers labelled {label}"),
            self.docker.list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            })),
        )
        .await?;
        let removals = containers.iter().map(|c| async move {
            let id = c.id.clone().unwrap_or_default();
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_else(|| id.clone());
            // `v`: the official redis image declares a volume for /data; it goes with the container.
            let options = RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            };
            match call(
                format!("removing container {name}"),
                self.docker.remove_container(&id, Some(options)),
            )
            .await
            {
                Ok(()) => Ok(format!("container {name} removed")),
                Err(e) if is_not_found(&e) => Ok(format!("container {name} already gone")),
                Err(e) => Err(e),
            }
        });
        let mut removed = Vec::new();
        let mut errors = Vec::new();
        for r in join_all(removals).await {
            match r {
                Ok(line) => removed.push(line),
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        let networks = call(
            format!("listing networks labelled {label}"),
            self.docker.list_networks(Some(ListNetworksOptions {
                filters: Some(filters),
            })),
        )
        .await?;
        for n in networks {
            let id = n.id.unwrap_or_default();
            let name = n.name.unwrap_or_else(|| id.clone());
            match call(
                format!("removing network {name}"),
                self.docker.remove_network(&id),
            )
            .await
            {
                Ok(()) => removed.push(format!("network {name} removed")),
                Err(e) if is_not_found(&e) => {}
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        if !errors.is_empty() {
            bail!("could not remove everything: {}", errors.join("; "));
        }
        Ok(removed)
    }

    async fn up_inner(
        &self,
        spec: &TopologySpec,
        run_id: &str,
        image: &str,
        run_dir: &std::path::Path,
    ) -> Result<Topology> {
        let network_name = network_name(run_id);
        let labels = run_labels(run_id, run_dir);
        // Node configs hold the run's password.
        state::create_private_dir(run_dir)?;
        let manifest = Manifest::create(run_dir, run_id, BackendKind::Docker)?;
        manifest.record(&Record::Network {
            name: network_name.clone(),
        })?;
        let (network_id, addresses) = self.create_network(&network_name, &labels).await?;
        manifest.record(&Record::Handle {
            name: network_name.clone(),
            handle: network_id.clone(),
        })?;
        let plan = Plan::new(spec, run_id)?;
        let plans = plan_nodes(&plan, &addresses)?;
        for p in &plans {
            // A copy for the curious: what each node was started with.
            let path = run_dir.join(format!("{}.conf", p.name));
            super::state::write_private(&path, p.config.as_bytes())?;
        }

        let ids = try_join_all(
            plans
                .iter()
                .map(|p| self.create_node(run_id, &network_name, image, p)),
        )
        .await?;

        // Start order matters: the master first, for the replicas to attach
        // to. And a sentinel learns the replicas from the master's INFO,
        // which it asks when it connects and then only every 10 s: the
        // replicas attach before the sentinels start, or readiness waits
        // those 10 s. (`SENTINEL RESET` does not make it ask again sooner:
        // measured.)
        let redis_count = spec.redis_count();
        let mut ids = ids.into_iter();
        let master_id = ids.next().context("a topology has a master")?;
        let master_id = self
            .start_node(run_id, &network_name, image, &plans[0], master_id)
            .await?;
        let replica_ids = try_join_all(
            ids.by_ref()
                .take(redis_count - 1)
                .zip(&plans[1..redis_count])
                .map(|(id, p)| self.start_node(run_id, &network_name, image, p, id)),
        )
        .await?;
        if spec.sentinels > 0 && redis_count > 1 {
            let info = self.inspect(&plans[0].name, &master_id).await?;
            let (master_addr, _) = self
                .addresses(&info, &plans[0].name, plans[0].port, &network_name)
                .await?;
            let auth = Auth::password(plan.password.as_deref());
            wait_replicas_online(master_addr, &auth, redis_count - 1, REPLICAS_ATTACH_WAIT).await;
        }
        let sentinel_ids = try_join_all(
            ids.zip(&plans[redis_count..])
                .map(|(id, p)| self.start_node(run_id, &network_name, image, p, id)),
        )
        .await?;
        let ids: Vec<String> = std::iter::once(master_id)
            .chain(replica_ids)
            .chain(sentinel_ids)
            .collect();

        let mut nodes = Vec::with_capacity(plans.len());
        let network_name = network_name.as_str();
        let inspected = try_join_all(ids.iter().zip(&plans).map(|(id, p)| async move {
            let info = self.inspect(&p.name, id).await?;
            let (host_addr, internal_ip) =
                self.addresses(&info, &p.name, p.port, network_name).await?;
            Ok::<_, anyhow::Error>((host_addr, internal_ip))
        }))
        .await?;
        for ((id, p), (host_addr, internal_ip)) in ids.iter().zip(&plans).zip(inspected) {
            nodes.push(Node {
                name: p.name.clone(),
                kind: p.kind,
                host_addr,
                internal_addr: format!("{internal_ip}:{}", p.port),
                handle: id.clone(),
            });
        }
        Ok(Topology {
            run_id: run_id.to_string(),
            backend: BackendKind::Docker,
            spec: spec.clone(),
            nodes,
            image: Some(image.to_string()),
            network_id: Some(network_id),
            run_dir: run_dir.to_path_buf(),
            aliases: Default::default(),
            sentinel_ids: plan.sentinel_ids(),
            password: plan.password.clone(),
        })
    }

    /// Creates the run's network with a subnet the engine chose but which is
    /// then pinned, so that nodes get fixed addresses (the engine accepts a
    /// fixed address only on a network whose subnet was configured): a
    /// restarted node keeps its address, and each sentinel's config can
    /// name its peers from the start. Returns the network id and the
    /// addresses for the nodes, in order.
    async fn create_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(String, SubnetAddresses)> {
        let create = |ipam: Option<Ipam>| {
            call(
                format!("creating network {name}"),
                self.docker.create_network(NetworkCreateRequest {
                    name: name.to_string(),
                    driver: Some("bridge".into()),
                    labels: Some(labels.clone()),
                    ipam,
                    ..Default::default()
                }),
            )
        };
        let mut attempt = 1;
        loop {
            let probe = create(None).await?;
            let inspected = call(
                format!("inspecting network {name}"),
                self.docker
                    .inspect_network(&probe.id, None::<InspectNetworkOptions>),
            )
            .await;
            call(
                format!("removing network {name} to pin its subnet"),
                self.docker.remove_network(&probe.id),
            )
            .await?;
            let config = inspected?
                .ipam
                .and_then(|i| i.config)
                .and_then(|c| {
                    c.into_iter()
                        .find(|c| c.subnet.as_deref().is_some_and(|s| s.contains('.')))
                })
                .with_context(|| format!("network {name}: the engine reported no IPv4 subnet"))?;
            let subnet = config.subnet.clone().unwrap_or_default();
            let addresses = SubnetAddresses::new(&subnet, config.gateway.as_deref())
                .with_context(|| format!("network {name}: subnet {subnet}"))?;
            let pinned = Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.clone()),
                    gateway: config.gateway.clone(),
                    ..Default::default()
                }]),
                ..Default::default()
            };
            match create(Some(pinned)).await {
                Ok(created) => return Ok((created.id, addresses)),
                // Another network took the subnet in between: start over.
                Err(e) if attempt < CLASH_ATTEMPTS && format!("{e:#}").contains("overlap") => {
                    tracing::debug!(network = name, "subnet {subnet} taken meanwhile: {e:#}");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates the node's container (not started), publishing its port on
    /// a free loopback port, and places its config.
    async fn create_node(
        &self,
        run_id: &str,
        network_name: &str,
        image: &str,
        p: &NodePlan,
    ) -> Result<String> {
        let container = container_name(run_id, &p.name);
        let host_port = free_loopback_port()
            .with_context(|| format!("finding a free 127.0.0.1 port for node {}", p.name))?;
        let port_key = format!("{}/tcp", p.port);
        let run_dir = self.run_dir(run_id)?;
        let mut labels = run_labels(run_id, &run_dir);
        labels.insert("grabstorm.node".into(), p.name.clone());
        let (config_file, extra) = match p.kind {
            NodeKind::Redis => ("redis.conf", vec![]),
            NodeKind::Sentinel => ("sentinel.conf", vec!["--sentinel".to_string()]),
        };
        let mut cmd = vec![
            "redis-server".to_string(),
            format!("{CONFIG_DIR}/{config_file}"),
        ];
        cmd.extend(extra);
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(cmd),
            hostname: Some(p.name.clone()),
            labels: Some(labels),
            exposed_ports: Some(vec![port_key.clone()]),
            host_config: Some(HostConfig {
                // Published on loopback only.
                port_bindings: Some(HashMap::from([(
                    port_key,
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(host_port.to_string()),
                    }]),
                )])),
                network_mode: Some(network_name.to_string()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network_name.to_string(),
                    EndpointSettings {
                        aliases: Some(vec![p.name.clone()]),
                        ipam_config: Some(EndpointIpamConfig {
                            ipv4_address: Some(p.ip.to_string()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let manifest = Manifest::of(&run_dir);
        manifest.record(&Record::Container {
            name: container.clone(),
            node: p.name.clone(),
        })?;
        let created = call(
            format!("creating container {container} for node {}", p.name),
            self.docker.create_container(
                Some(CreateContainerOptions {
                    name: Some(container.clone()),
                    ..Default::default()
                }),
                body,
            ),
        )
        .await?;
        manifest.record(&Record::Handle {
            name: container.clone(),
            handle: created.id.clone(),
        })?;
        let archive = config_archive(config_file, &p.config)
            .with_context(|| format!("packing the config of node {}", p.name))?;
        call(
            format!("placing the config of node {} into {container}", p.name),
            self.docker.upload_to_container(
                &created.id,
                Some(UploadToContainerOptions {
                    path: "/".into(),
                    ..Default::default()
                }),
                bollard::body_full(archive.into()),
            ),
        )
        .await?;
        Ok(created.id)
    }

    /// Starts a created node; when its published port was taken in the
    /// meantime, makes the container again on another port and retries.
    async fn start_node(
        &self,
        run_id: &str,
        network_name: &str,
        image: &str,
        p: &NodePlan,
        mut id: String,
    ) -> Result<String> {
        let mut attempt = 1;
        loop {
            match call(
                format!("starting node {}", p.name),
                self.docker
                    .start_container(&id, None::<StartContainerOptions>),
            )
            .await
            {
                Ok(()) => return Ok(id),
                Err(e) if is_port_clash(&e) && attempt < CLASH_ATTEMPTS => {
                    tracing::debug!(node = %p.name, "published port taken, trying another: {e:#}");
                    attempt += 1;
                    let options = RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    };
                    call(
                        format!("removing the container of node {}", p.name),
                        self.docker.remove_container(&id, Some(options)),
                    )
                    .await?;
                    id = self.create_node(run_id, network_name, image, p).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn inspect(&self, node: &str, id: &str) -> Result<ContainerInspectResponse> {
        call(
            format!("inspecting the container of node {node}"),
            self.docker.inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            ),
        )
        .await
    }

    /// The published host address and the address on the run network of a
    /// started container; an exited one is an error with its log tail.
    async fn addresses(
        &self,
        info: &ContainerInspectResponse,
        node: &str,
        port: u16,
        network_name: &str,
    ) -> Result<(SocketAddr, String)> {
        let id = info.id.clone().unwrap_or_default();
        let state = info.state.as_ref();
        if state.and_then(|s| s.running) != Some(true) {
            let code = state.and_then(|s| s.exit_code).unwrap_or(-1);
            let log = self.container_log_tail(&id, 20).await;
            bail!("node {node} stopped right after it started (exit code {code}); its log ends with:\n{log}");
        }
        let settings = info.network_settings.as_ref();
        let binding = settings
            .and_then(|s| s.ports.as_ref())
            .and_then(|p| p.get(&format!("{port}/tcp")))
            .and_then(|b| b.as_ref())
            .and_then(|b| b.iter().find(|b| b.host_ip.as_deref() == Some("127.0.0.1")))
            .with_context(|| {
                format!("node {node}: the engine published no 127.0.0.1 port for {port}/tcp")
            })?;
        let host_port: u16 = binding
            .host_port
            .as_deref()
            .unwrap_or("")
            .parse()
            .with_context(|| {
                format!(
                    "node {node}: unreadable published port {:?}",
                    binding.host_port
                )
            })?;
        let ip = settings
            .and_then(|s| s.networks.as_ref())
            .and_then(|n| n.get(network_name))
            .and_then(|e| e.ip_address.clone())
            .filter(|ip| !ip.is_empty())
            .with_context(|| format!("node {node}: no address on network {network_name}"))?;
        Ok((SocketAddr::from(([127, 0, 0, 1], host_port)), ip))
    }

    async fn container_log_tail(&self, id: &str, lines: usize) -> String {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let collect = async {
            let mut out = String::new();
            let mut stream = self.docker.logs(id, Some(options));
            while let Some(item) = stream.next().await {
                match item {
                    Ok(chunk) => out.push_str(&String::from_utf8_lossy(&chunk.into_bytes())),
                    Err(e) => {
                        out.push_str(&format!("(log read failed: {e})"));
                        break;
                    }
                }
            }
            out
        };
        match tokio::time::timeout(Duration::from_secs(5), collect).await {
            Ok(s) => s.trim_end().to_string(),
            Err(_) => "(log not readable within 5s)".into(),
        }
    }

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

fn default_state_dir() -> PathBuf {
    let state = std::env::var_os("GRABSTORM_STATE_DIR").map(PathBuf::from);
    crate::logging::state_dir(state.as_ref())
}

/// The network of run `run_id`.
pub fn network_name(run_id: &str) -> String {
    format!("grabstorm-{run_id}")
}

/// The container of `node` in run `run_id`.
pub fn container_name(run_id: &str, node: &str) -> String {
    format!("grabstorm-{run_id}-{node}")
}

/// The labels every object of run `run_id` carries; `run_dir` (canonical,
/// `<state_dir>/runs/<run_id>`) names the state dir.
pub fn run_labels(run_id: &str, run_dir: &Path) -> HashMap<String, String> {
    let state_dir = state::state_dir_of(run_dir).unwrap_or(run_dir);
    HashMap::from([
        (RUN_LABEL.to_string(), run_id.to_string()),
        (MANAGED_LABEL.to_string(), "true".to_string()),
        (STATE_DIR_LABEL.to_string(), label_value(state_dir)),
    ])
}

/// A path as a label value (and label filter) names it.
fn label_value(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Removes a run directory; absent is fine.
async fn remove_dir(run_dir: &Path) -> Result<()> {
    match tokio::fs::remove_dir_all(run_dir).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing run directory {}", run_dir.display())),
    }
}

/// Runs one engine call with a timeout; errors say what was being done.
async fn call<T, F>(what: impl Display, fut: F) -> Result<T>
where
    F: Future<Output = Result<T, bollard::errors::Error>>,
{
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Err(_) => bail!("{what}: the Docker engine did not answer within {CALL_TIMEOUT:?}"),
        Ok(r) => r.with_context(|| what.to_string()),
    }
}

/// Waits (at most `within`) until the master at `master` (its published
/// loopback address) lists `replicas` replicas online. Gives up quietly:
/// this only orders the start, readiness is judged later.
async fn wait_replicas_online(master: SocketAddr, auth: &Auth, replicas: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    let online = || async {
        let second = Duration::from_secs(1);
        let mut conn = super::conn::open(master, auth, second, second).await.ok()?;
        let info: String = tokio::time::timeout(
            Duration::from_secs(1),
            redis::cmd("INFO").arg("replication").query_async(&mut conn),
        )
        .await
        .ok()?
        .ok()?;
        Some(
            info.lines()
                .filter(|l| l.starts_with("slave") && l.contains("state=online"))
                .count(),
        )
    };
    loop {
        let seen = online().await;
        if seen.is_some_and(|n| n >= replicas) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(%master, replicas, ?seen, "replicas not all online before the sentinels start");
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A free TCP port on 127.0.0.1, as the OS hands it out (the engine binds
/// it a moment later; a clash in between is retried by the caller).
fn free_loopback_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Whether starting failed because the published port is in use.
fn is_port_clash(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("port is already allocated") || text.contains("address already in use")
}

fn is_not_found(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<bollard::errors::Error>(),
        Some(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        })
    )
}

/// One node to start: its name, kind, fixed address and port inside the
/// network, and config.
struct NodePlan {
    name: String,
    kind: NodeKind,
    ip: Ipv4Addr,
    port: u16,
    config: String,
}

/// Host addresses of an IPv4 subnet, handed out in order, skipping the
/// network and gateway addresses.
struct SubnetAddresses {
    first: u32,
    last: u32,
    gateway: Option<u32>,
}

impl SubnetAddresses {
    fn new(subnet: &str, gateway: Option<&str>) -> Result<SubnetAddresses> {
        let (base, prefix) = subnet.split_once('/').context("no prefix length")?;
        let base: Ipv4Addr = base.parse().context("not an IPv4 network")?;
        let prefix: u32 = prefix.parse().context("bad prefix length")?;
        if !(8..=29).contains(&prefix) {
            bail!("prefix length {prefix} leaves no room for a topology");
        }
        let mask = u32::MAX << (32 - prefix);
        let network = u32::from(base) & mask;
        let gateway = gateway
            .map(|g| g.parse::<Ipv4Addr>().context("bad gateway"))
            .transpose()?
            .map(u32::from);
        Ok(SubnetAddresses {
            first: network + 1,
            last: (network | !mask) - 1,
            gateway,
        })
    }

    /// The `n`th usable address (0-based).
    fn nth(&self, n: usize) -> Result<Ipv4Addr> {
        let mut candidate = self.first;
        let mut left = n;
        loop {
            if candidate > self.last {
                bail!("the subnet has fewer than {} free addresses", n + 1);
            }
            if Some(candidate) != self.gateway {
                if left == 0 {
                    return Ok(Ipv4Addr::from(candidate));
                }
                left -= 1;
            }
            candidate += 1;
        }
    }
}

/// The nodes of `plan` with their fixed addresses on the run network (in
/// plan order) and their configs. Every node is named by that address in
/// the others' configs and announces it: the sentinels never depend on a
/// container's DNS name, which the engine forgets while it is stopped.
fn plan_nodes(plan: &Plan, addresses: &SubnetAddresses) -> Result<Vec<NodePlan>> {
    let addrs: Addresses = plan
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let port = match n.kind {
                NodeKind::Redis => REDIS_PORT,
                NodeKind::Sentinel => SENTINEL_PORT,
            };
            Ok((n.name.clone(), SocketAddr::from((addresses.nth(i)?, port))))
        })
        .collect::<Result<_>>()?;
    plan.nodes
        .iter()
        .map(|n| {
            let addr = addrs[&n.name];
            let IpAddr::V4(ip) = addr.ip() else {
                bail!(
                    "node {}: the run network has no IPv4 address for it",
                    n.name
                );
            };
            Ok(NodePlan {
                name: n.name.clone(),
                kind: n.kind,
                ip,
                port: addr.port(),
                config: node_config(plan, &n.name, &addrs)?,
            })
        })
        .collect()
}

/// The config file of `node` as the Docker backend starts it.
pub fn node_config(plan: &Plan, node: &str, addrs: &Addresses) -> Result<String, PlanError> {
    let kind = plan.node(node)?.kind;
    // Inside its container a node listens on every interface: the run
    // network and the container's loopback; the host reaches it only through
    // the port published on 127.0.0.1.
    let placement = [
        "bind * -::*".to_string(),
        match kind {
            NodeKind::Redis => "dir /data".into(),
            NodeKind::Sentinel => "dir /tmp".into(),
        },
    ];
    config::render(plan, node, addrs, &placement)
}

/// A tar archive holding `/etc/redis/<file>`, for upload to `/`. The
/// directory and file are writable by anyone: an image may run Redis as a
/// non-root user, and Sentinel replaces its config file when it rewrites it.
fn config_archive(file: &str, content: &str) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let dir = CONFIG_DIR.trim_start_matches('/');
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o777);
    header.set_size(0);
    header.set_mtime(0);
    builder.append_data(&mut header, format!("{dir}/"), std::io::empty())?;
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o666);
    header.set_size(content.len() as u64);
    header.set_mtime(0);
    builder.append_data(&mut header, format!("{dir}/{file}"), content.as_bytes())?;
    Ok(builder.into_inner()?)
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
        match self.up_inner(spec, run_id, &image, &run_dir).await {
            Ok(t) => Ok(t),
            Err(e) => {
                // Leave nothing behind: whatever was created carries the run label.
                if let Err(cleanup) = self.remove_run(run_id).await {
                    tracing::warn!(run_id, "cleanup after a failed up: {cleanup:#}");
                }
                let _ = tokio::fs::remove_dir_all(&run_dir).await;
                Err(e.context(format!("starting run {run_id} in Docker")))
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
        let port = match n.kind {
            NodeKind::Redis => REDIS_PORT,
            NodeKind::Sentinel => SENTINEL_PORT,
        };
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

    async fn log_tail(&self, topology: &Topology, node: &str, lines: usize) -> String {
        match self.handle(topology, node) {
            Ok(n) => self.container_log_tail(&n.handle, lines).await,
            Err(e) => format!("(no log: {e})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_is_named_by_its_fixed_address_on_the_run_network() {
        let spec = TopologySpec {
            quorum: 3,
            sentinels: 5,
            ..Default::default()
        };
        let plan = Plan::with_password(&spec, "r1", Some("pw".into()));
        let subnet = SubnetAddresses::new("172.20.0.0/16", Some("172.20.0.1")).unwrap();
        let plans = plan_nodes(&plan, &subnet).unwrap();
        let ips: Vec<String> = plans.iter().map(|p| p.ip.to_string()).collect();
        assert_eq!(ips[..3], ["172.20.0.2", "172.20.0.3", "172.20.0.4"]);
        let replica = &plans[1].config;
        assert!(replica.contains("replicaof 172.20.0.2 6379\n"), "{replica}");
        assert!(
            replica.contains("replica-announce-ip 172.20.0.3\n"),
            "{replica}"
        );
        let conf = &plans[3].config;
        assert!(
            conf.contains("sentinel monitor mymaster 172.20.0.2 6379 3\n"),
            "{conf}"
        );
        assert!(conf.contains("sentinel announce-ip 172.20.0.5\n"), "{conf}");
        assert!(conf.contains("port 26379\n"), "{conf}");
        // No line depends on a container's DNS name.
        for p in &plans {
            for line in p.config.lines().filter(|l| !l.starts_with('#')) {
                assert!(
                    !line.contains("redis-") && !line.contains("sentinel-"),
                    "{line}"
                );
                assert!(!line.contains("resolve-hostnames"), "{line}");
            }
        }
    }

    /// The same plan gives the same config lines on both backends, apart
    /// from the placement lines each adds (bind, files, daemonizing).
    #[test]
    fn the_same_plan_renders_the_same_config_on_both_backends() {
        let plan = Plan::with_password(&TopologySpec::default(), "r1", Some("pw".into()));
        let subnet = SubnetAddresses::new("172.20.0.0/16", Some("172.20.0.1")).unwrap();
        let docker = plan_nodes(&plan, &subnet).unwrap();
        let addrs: crate::topology::plan::Addresses = docker
            .iter()
            .map(|p| (p.name.clone(), SocketAddr::from((p.ip, p.port))))
            .collect();
        let placement = [
            "bind",
            "dir",
            "daemonize",
            "pidfile",
            "logfile",
            "proc-title-template",
        ];
        let body = |config: &str| -> Vec<String> {
            config
                .lines()
                .filter(|l| !placement.contains(&l.split(' ').next().unwrap_or_default()))
                .map(str::to_string)
                .collect()
        };
        for p in &docker {
            let files = crate::topology::local::NodeFiles::new(
                std::path::Path::new("/state/runs/r1"),
                &p.name,
                p.kind,
            );
            let local =
                crate::topology::local::node_config(&plan, &p.name, &files, &addrs).unwrap();
            assert_eq!(body(&local), body(&p.config), "{}", p.name);
            assert!(local.contains("daemonize yes") && !p.config.contains("daemonize"));
        }
    }

    #[test]
    fn addresses_skip_the_network_and_gateway_and_stay_in_the_subnet() {
        let s = SubnetAddresses::new("192.168.48.0/20", Some("192.168.48.1")).unwrap();
        assert_eq!(s.nth(0).unwrap(), Ipv4Addr::new(192, 168, 48, 2));
        assert_eq!(s.nth(300).unwrap(), Ipv4Addr::new(192, 168, 49, 46));
        let tiny = SubnetAddresses::new("10.9.0.0/29", Some("10.9.0.1")).unwrap();
        assert_eq!(tiny.nth(4).unwrap(), Ipv4Addr::new(10, 9, 0, 6));
        assert!(tiny.nth(5).is_err());
        assert!(SubnetAddresses::new("fd00::/64", None).is_err());
    }

    #[test]
    fn the_plan_names_nodes_as_the_topology_does() {
        let subnet = SubnetAddresses::new("172.20.0.0/16", Some("172.20.0.1")).unwrap();
        let plan = Plan::with_password(&TopologySpec::default(), "r1", None);
        let names: Vec<String> = plan_nodes(&plan, &subnet)
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(
            names,
            [
                "redis-1",
                "redis-2",
                "redis-3",
                "sentinel-1",
                "sentinel-2",
                "sentinel-3"
            ]
        );
    }

    #[test]
    fn config_archive_holds_a_writable_dir_and_file() {
        let bytes = config_archive("sentinel.conf", "port 26379\n").unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let entries: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("etc/redis/".to_string(), 0o777),
                ("etc/redis/sentinel.conf".to_string(), 0o666)
            ]
        );
    }
}
