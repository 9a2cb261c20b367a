//! Bringing a run up: the run's network, then its containers (each on
//! record in the run's manifest before it is created), started in the order
//! Redis and Sentinel need (the master, its replicas, then the sentinels),
//! and the topology read back from what the engine reports.

use super::labels::run_labels;
use super::labels::NODE_LABEL;
use super::network::network_name;
use super::placement::{added_node, plan_nodes};
use super::DockerBackend;
use crate::topology::manifest::{Manifest, Record};
use crate::topology::plan::Plan;
use crate::topology::state;
use crate::topology::{Auth, BackendKind, Node, Topology, TopologySpec, RUN_LABEL};
use anyhow::{Context, Result};
use futures::future::try_join_all;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// How long `up` lets the replicas attach before it starts the sentinels
/// anyway (readiness then reports what is missing).
const REPLICAS_ATTACH_WAIT: Duration = Duration::from_secs(10);

impl DockerBackend {
    /// Starts every node of `spec` as run `run_id` from `image`, keeping
    /// the run's files in `run_dir`; on error, leaves the cleanup to the caller.
    pub(super) async fn launch_run(
        &self,
        spec: &TopologySpec,
        run_id: &str,
        image: &str,
        run_dir: &Path,
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
            state::write_private(&path, p.config.as_bytes())?;
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
        if spec.sentinel_count() > 0 && redis_count > 1 {
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
            shards: Default::default(),
            password: plan.password.clone(),
        })
    }
}

impl DockerBackend {
    /// Starts one more Cluster data node `name` on the running topology
    /// `t` (see [`Backend::add_node`](crate::topology::Backend::add_node)):
    /// the first address of the run network that no container holds, a
    /// free loopback port published as itself, the run's image; on record
    /// in the manifest before it is created; removed again on error.
    pub(super) async fn add_run_node(&self, t: &mut Topology, name: &str) -> Result<()> {
        if t.node(name).is_some() {
            anyhow::bail!("{name} is already a node of the run");
        }
        let image = match &t.image {
            Some(image) => image.clone(),
            None => self.image().await?.0,
        };
        let network_name = network_name(&t.run_id);
        let (addresses, taken) = self.network_addresses(&network_name).await?;
        let ip = (0..4096)
            .map(|i| addresses.nth(i))
            .find(|ip| ip.as_ref().map_or(true, |ip| !taken.contains(ip)))
            .context("no address left on the run network")??;
        let plan = Plan::for_added_node(t, name);
        let p = added_node(&plan, name, ip)?;
        state::write_private(&t.run_dir.join(format!("{name}.conf")), p.config.as_bytes())?;
        let started = async {
            let id = self
                .create_node(&t.run_id, &network_name, &image, &p)
                .await?;
            let id = self
                .start_node(&t.run_id, &network_name, &image, &p, id)
                .await?;
            let info = self.inspect(name, &id).await?;
            let (host_addr, internal_ip) =
                self.addresses(&info, name, p.port, &network_name).await?;
            Ok::<_, anyhow::Error>(Node {
                name: name.to_string(),
                kind: p.kind,
                host_addr,
                internal_addr: format!("{internal_ip}:{}", p.port),
                handle: id,
            })
        };
        match started.await {
            Ok(node) => {
                t.nodes.push(node);
                Ok(())
            }
            Err(e) => {
                if let Err(cleanup) = self.remove_run_node(&t.run_id, name).await {
                    tracing::warn!(node = name, "cleanup after a failed add: {cleanup:#}");
                }
                Err(e.context(format!("adding node {name} to run {}", t.run_id)))
            }
        }
    }

    /// Removes node `name`'s container (and any helper labelled with it).
    pub(super) async fn remove_run_node(&self, run_id: &str, name: &str) -> Result<Vec<String>> {
        self.remove_labelled(&[
            format!("{RUN_LABEL}={run_id}"),
            format!("{NODE_LABEL}={name}"),
        ])
        .await
    }
}

/// Waits (at most `within`) until the master at `master` (its published
/// loopback address) lists `replicas` replicas online. Gives up quietly:
/// this only orders the start, readiness is judged later.
async fn wait_replicas_online(master: SocketAddr, auth: &Auth, replicas: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    let online = || async {
        crate::topology::admin::replication::read(master, auth)
            .await
            .map(|r| r.replicas_online)
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
