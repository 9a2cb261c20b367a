//! Network partitions on the Docker backend. All nodes stay on the run's
//! one network; a cut between two nodes is a blackhole route to each one's
//! address inside the other's network namespace, added by a short-lived
//! helper container that shares that namespace (`NetworkMode:
//! container:<node>`, capability NET_ADMIN) and runs the host's own `ip`
//! binary from a FROM-scratch image. A route only stops what its namespace
//! sends, so both sides get one: replication, acknowledgements and Sentinel
//! traffic stop both ways. The host still reaches the node through its
//! published port (that traffic comes from the bridge gateway, which is not
//! blackholed). Healing deletes the routes.
//!
//! (Disconnecting a second "cluster" network does not work: peers that
//! share the first network keep replicating over it.)

use super::docker::{container_name, network_name, run_labels};
use super::image::build_scratch_image;
use super::manifest::{Manifest, Record};
use super::plan::name_order;
use super::Topology;
use anyhow::{bail, Context, Result};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, UploadToContainerOptions,
};
use bollard::Docker;
use futures::StreamExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Repository of the helper image holding the host's `ip`.
pub const IP_IMAGE_REPO: &str = "grabstorm-iproute";
/// Bound on one helper run (create, upload, start, exit, logs, remove).
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// Where the route commands are placed inside the helper.
const BATCH_FILE: &str = "/tmp/routes";

/// Where the host's `ip` binary is, if iproute2 is installed.
pub fn find_ip_binary() -> Option<PathBuf> {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// The node's address on the run network, read from the engine.
async fn node_ip(docker: &Docker, topology: &Topology, node: &str) -> Result<String> {
    let n = topology
        .node(node)
        .with_context(|| format!("no node named {node:?} in this run"))?;
    let info = tokio::time::timeout(
        HELPER_TIMEOUT,
        docker.inspect_container(
            &n.handle,
            None::<bollard::query_parameters::InspectContainerOptions>,
        ),
    )
    .await
    .with_context(|| format!("inspecting {node}: no answer within {HELPER_TIMEOUT:?}"))?
    .with_context(|| format!("inspecting the container of {node}"))?;
    let net = network_name(&topology.run_id);
    let networks = info
        .network_settings
        .and_then(|s| s.networks)
        .with_context(|| format!("{node} is on no network"))?;
    networks
        .get(&net)
        .or_else(|| networks.values().next())
        .and_then(|e| e.ip_address.clone())
        .filter(|ip| !ip.is_empty())
        .with_context(|| format!("{node} has no address on network {net} (is it running?)"))
}

/// The address `node` has on the run network whether it runs or not (the
/// nodes are started at fixed addresses, as real servers have).
fn fixed_ip(topology: &Topology, node: &str) -> Result<String> {
    let n = topology
        .node(node)
        .with_context(|| format!("no node named {node:?} in this run"))?;
    n.internal_addr
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().to_string())
        .with_context(|| format!("{node}'s address {:?} is not an ip:port", n.internal_addr))
}

/// `proto` of the routes in the cut node's own namespace, and of those in
/// its peers': healing tells from them which node a partition was aimed at.
const TARGET_SIDE_PROTO: u8 = 71;
const PEER_SIDE_PROTO: u8 = 72;

/// Cuts `node` off from `from` (every other node when empty), both ways:
/// blackhole routes to the peers inside `node`'s namespace, and a blackhole
/// route to `node` inside each peer's. Returns the peers cut.
///
/// Both sides, because a route only stops what a namespace sends: with the
/// node's side alone, the replicas' REPLCONF ACKs and the sentinels' pings
/// still arrive (retransmitted by TCP at growing intervals), so the isolated
/// master goes on counting its replicas as fresh and `min-replicas-to-write`
/// refuses nothing, or refuses late, depending on the kernel's timing.
pub async fn partition(
    docker: &Docker,
    topology: &Topology,
    node: &str,
    from: &[String],
) -> Result<(Vec<String>, std::time::Instant)> {
    let peers: Vec<String> = if from.is_empty() {
        topology
            .nodes
            .iter()
            .filter(|n| n.name != node)
            .map(|n| n.name.clone())
            .collect()
    } else {
        from.to_vec()
    };
    for peer in &peers {
        topology
            .node(peer)
            .with_context(|| format!("no node named {peer:?} in this run"))?;
    }
    let helper = &Helper::build(docker).await?;
    let running = running_nodes(docker, topology).await;
    let ip_of = |name: &str| {
        running
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, ip)| ip.clone())
    };
    let node_addr = ip_of(node).with_context(|| {
        format!("{node} is not running: a partition cuts the links of a running node")
    })?;
    // A peer that is down has no namespace to enter: it is cut on the
    // node's side only, at the fixed address it will come back with.
    let mut peer_addrs = Vec::new();
    let mut running_peers = Vec::new();
    for peer in &peers {
        match ip_of(peer) {
            Some(ip) => {
                running_peers.push(peer.clone());
                peer_addrs.push(ip);
            }
            None => peer_addrs.push(fixed_ip(topology, peer)?),
        }
    }
    // Every helper is created, its commands in place, before anything is
    // cut: creating containers is the slow part (seconds on a loaded
    // machine), and the cut should start at a known moment and land at once.
    let mut sides = Vec::new();
    for peer in &running_peers {
        let dests = vec![node_addr.clone()];
        sides.push((peer.clone(), dests, PEER_SIDE_PROTO));
    }
    sides.push((node.to_string(), peer_addrs, TARGET_SIDE_PROTO));
    let commands: Vec<Vec<String>> = sides
        .iter()
        .map(|(_, dests, proto)| add_commands(dests, *proto))
        .collect();
    let prepared = futures::future::join_all(
        sides
            .iter()
            .zip(&commands)
            .map(|((name, _, _), c)| helper.prepare(topology, name, c)),
    )
    .await;
    let cut =
        async {
            let prepared: Vec<&Prepared> = prepared
                .iter()
                .map(|p| p.as_ref().map_err(|e| anyhow::anyhow!("{e:#}")))
                .collect::<Result<_>>()?;
            let (node_side, peer_side) = prepared.split_last().expect("the node's own side");
            let started = std::time::Instant::now();
            // The peers' side first: they stop talking to the node while the
            // node still sends to them, so its writes keep replicating until its
            // own side is cut, and nothing is lost before the cut began.
            futures::future::try_join_all(peer_side.iter().zip(&sides).map(
                |(p, (name, dests, _))| async move {
                    check_added(name, dests, &helper.finish(p).await?)
                },
            ))
            .await
            .with_context(|| format!("cutting {} off from {node}", peers.join(", ")))?;
            let (name, dests, _) = sides.last().expect("the node's own side");
            check_added(name, dests, &helper.finish(node_side).await?)
                .with_context(|| format!("cutting {node} off from {}", peers.join(", ")))?;
            Ok::<_, anyhow::Error>(started)
        }
        .await;
    futures::future::join_all(prepared.into_iter().flatten().map(|p| helper.remove(p))).await;
    Ok((peers, cut?))
}

/// `ip -batch` commands that add blackhole routes to `dests`, marked with
/// `proto`, then list the routes for [`check_added`].
fn add_commands(dests: &[String], proto: u8) -> Vec<String> {
    let mut commands: Vec<String> = dests
        .iter()
        .map(|ip| format!("route replace blackhole {ip}/32 proto {proto}"))
        .collect();
    commands.push("route show type blackhole".to_string());
    commands
}

/// Checks that the listing after [`add_commands`] shows every route.
fn check_added(node: &str, dests: &[String], out: &str) -> Result<()> {
    let listed = blackholes(out);
    let missing: Vec<&String> = dests
        .iter()
        .filter(|d| !listed.iter().any(|b| &b.dest == *d))
        .collect();
    if !missing.is_empty() {
        bail!("{node} lacks the blackhole routes to {missing:?} after adding them:\n{out}");
    }
    Ok(())
}

/// Undoes every cut that involves `node`: all blackhole routes in its own
/// namespace, and the routes to it in every other running node's. Returns
/// whether there was anything to undo.
pub async fn heal(docker: &Docker, topology: &Topology, node: &str) -> Result<bool> {
    let helper = Helper::build(docker).await?;
    // A node that is not running lost its routes with its namespace, and
    // peers that are not running cannot be entered (nor hold routes).
    let running = running_nodes(docker, topology).await;
    let Some((_, node_addr)) = running.iter().find(|(name, _)| name == node) else {
        return Ok(false);
    };
    let sides: Vec<(&str, Option<&str>)> = running
        .iter()
        .map(|(name, _)| {
            // The node's own routes all go; a peer's only the one to the node.
            let only = (name != node).then_some(node_addr.as_str());
            (name.as_str(), only)
        })
        .collect();
    let removed = futures::future::try_join_all(
        sides
            .iter()
            .map(|&(name, only)| helper.remove_blackholes(topology, name, only)),
    )
    .await
    .with_context(|| format!("healing {node}"))?;
    Ok(removed.iter().any(|r| !r.is_empty()))
}

/// Undoes every cut in the run, in one round. Returns the nodes that were
/// cut off (the targets of `partition`, not their peers), in name order.
pub async fn heal_all(docker: &Docker, topology: &Topology) -> Result<Vec<String>> {
    let helper = Helper::build(docker).await?;
    let running = running_nodes(docker, topology).await;
    let removed = futures::future::try_join_all(
        running
            .iter()
            .map(|(name, _)| helper.remove_blackholes(topology, name, None)),
    )
    .await
    .context("healing every partition")?;
    let mut targets: Vec<String> = running
        .into_iter()
        .zip(removed)
        .filter(|(_, routes)| routes.iter().any(|r| r.proto == Some(TARGET_SIDE_PROTO)))
        .map(|((name, _), _)| name)
        .collect();
    targets.sort_by(|a, b| name_order(a, b));
    Ok(targets)
}

/// The running nodes of the run and their addresses on its network, in the
/// topology's order (one inspection each, all at once).
async fn running_nodes(docker: &Docker, topology: &Topology) -> Vec<(String, String)> {
    let addrs = futures::future::join_all(
        topology
            .nodes
            .iter()
            .map(|n| node_ip(docker, topology, &n.name)),
    )
    .await;
    topology
        .nodes
        .iter()
        .zip(addrs)
        .filter_map(|(n, ip)| Some((n.name.clone(), ip.ok()?)))
        .collect()
}

/// One blackhole route as `ip route show` prints it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Blackhole {
    /// Destination address (host routes print without their /32).
    dest: String,
    /// Which side of a cut the route is ([`TARGET_SIDE_PROTO`] or
    /// [`PEER_SIDE_PROTO`]); `None` for routes grabstorm did not add.
    proto: Option<u8>,
}

/// The blackhole routes in `ip route show` output.
fn blackholes(out: &str) -> Vec<Blackhole> {
    out.lines()
        .filter_map(|l| l.strip_prefix("blackhole "))
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            let dest = words.next()?.trim_end_matches("/32").to_string();
            let mut proto = None;
            while let Some(w) = words.next() {
                if w == "proto" {
                    proto = words.next().and_then(|p| p.parse().ok());
                }
            }
            Some(Blackhole { dest, proto })
        })
        .collect()
}

/// The `ip` helper image and the path of `ip` inside it.
struct Helper<'a> {
    docker: &'a Docker,
    image: String,
    ip: PathBuf,
}

impl<'a> Helper<'a> {
    /// Builds (once per machine) the helper image from the host's `ip`.
    async fn build(docker: &'a Docker) -> Result<Self> {
        let ip = find_ip_binary().context(
            "the host has no `ip` binary to build the partition helper from: install iproute2 (apt-get install iproute2)",
        )?;
        let image = build_scratch_image(docker, IP_IMAGE_REPO, std::slice::from_ref(&ip))
            .await
            .context("building the partition helper image")?;
        Ok(Helper { docker, image, ip })
    }

    /// Removes the blackhole routes inside `node`'s namespace: all of them,
    /// or only the one to `only`. Returns the routes removed.
    async fn remove_blackholes(
        &self,
        topology: &Topology,
        node: &str,
        only: Option<&str>,
    ) -> Result<Vec<Blackhole>> {
        let listing = "route show type blackhole".to_string();
        let removal = match only {
            Some(ip) => format!("route flush type blackhole to {ip}/32"),
            None => "route flush type blackhole".to_string(),
        };
        // Listed before and after the removal, in one helper run: a route
        // listed twice survived it.
        let out = self
            .run(topology, node, &[listing.clone(), removal, listing])
            .await?;
        let mut listed: Vec<Blackhole> = blackholes(&out)
            .into_iter()
            .filter(|b| only.is_none_or(|ip| b.dest == ip))
            .collect();
        listed.sort();
        let left: Vec<&String> = listed
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| &w[0].dest)
            .collect();
        if !left.is_empty() {
            bail!("{node} still has blackhole routes to {left:?} after removing them:\n{out}");
        }
        Ok(listed)
    }

    /// Runs `ip -force -batch` with `commands` inside `node`'s network
    /// namespace from a helper container; returns its output. The helper is
    /// removed whatever happens.
    async fn run(&self, topology: &Topology, node: &str, commands: &[String]) -> Result<String> {
        let prepared = self.prepare(topology, node, commands).await?;
        let result = self.finish(&prepared).await;
        self.remove(prepared).await;
        result
    }

    /// Creates a helper in `node`'s network namespace with `commands` in
    /// place, not yet started. The caller removes it ([`Helper::remove`]).
    async fn prepare(
        &self,
        topology: &Topology,
        node: &str,
        commands: &[String],
    ) -> Result<Prepared> {
        let docker = self.docker;
        let target = topology
            .node(node)
            .with_context(|| format!("no node named {node:?} in this run"))?;
        let name = format!(
            "{}-iproute-{}",
            container_name(&topology.run_id, node),
            rand::random::<u32>()
        );
        let mut labels = run_labels(&topology.run_id, &topology.run_dir);
        labels.insert("grabstorm.helper".into(), "iproute".into());
        // On record before it exists, like every object of the run.
        Manifest::of(&topology.run_dir).record(&Record::Container {
            name: name.clone(),
            node: node.to_string(),
        })?;
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(vec![
                self.ip.to_string_lossy().into_owned(),
                "-force".into(),
                "-batch".into(),
                BATCH_FILE.into(),
            ]),
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some(format!("container:{}", target.handle)),
                cap_add: Some(vec!["NET_ADMIN".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = tokio::time::timeout(
            HELPER_TIMEOUT,
            docker.create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            ),
        )
        .await
        .context("creating the partition helper: no answer")?
        .context("creating the partition helper")?;
        let prepared = Prepared {
            id: created.id,
            name,
        };
        let placed = tokio::time::timeout(
            HELPER_TIMEOUT,
            place_commands(docker, &prepared.id, commands),
        )
        .await
        .unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "placing the route commands: no answer within {HELPER_TIMEOUT:?}"
            ))
        });
        if let Err(e) = placed {
            self.remove(prepared).await;
            return Err(e);
        }
        Ok(prepared)
    }

    /// Starts a prepared helper and returns its output once it exited.
    async fn finish(&self, prepared: &Prepared) -> Result<String> {
        tokio::time::timeout(HELPER_TIMEOUT, drive_helper(self.docker, &prepared.id))
            .await
            .unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "the helper did not finish within {HELPER_TIMEOUT:?}"
                ))
            })
    }

    /// Removes a helper container, started or not.
    async fn remove(&self, prepared: Prepared) {
        let removed = tokio::time::timeout(
            HELPER_TIMEOUT,
            self.docker.remove_container(
                &prepared.id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            ),
        )
        .await;
        if !matches!(removed, Ok(Ok(()))) {
            tracing::warn!(helper = %prepared.name, "could not remove the partition helper; `grabstorm down` removes it by label");
        }
    }
}

/// A helper container created with its commands in place.
struct Prepared {
    id: String,
    name: String,
}

/// Uploads the `ip -batch` file into a created helper.
async fn place_commands(docker: &Docker, id: &str, commands: &[String]) -> Result<()> {
    let batch = commands.join("\n") + "\n";
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(batch.len() as u64);
    header.set_mtime(0);
    builder.append_data(
        &mut header,
        BATCH_FILE.trim_start_matches('/'),
        batch.as_bytes(),
    )?;
    let archive = builder.into_inner()?;
    docker
        .upload_to_container(
            id,
            Some(UploadToContainerOptions {
                path: "/".into(),
                ..Default::default()
            }),
            bollard::body_full(archive.into()),
        )
        .await
        .context("placing the route commands into the helper")?;
    Ok(())
}

/// Starts a helper and returns its output once it exited.
async fn drive_helper(docker: &Docker, id: &str) -> Result<String> {
    docker
        .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
        .await
        .context("starting the partition helper")?;
    let deadline = Instant::now() + HELPER_TIMEOUT;
    let code = loop {
        let info = docker
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .context("inspecting the partition helper")?;
        let state = info.state.unwrap_or_default();
        if state.running != Some(true) {
            break state.exit_code.unwrap_or(-1);
        }
        if Instant::now() > deadline {
            bail!("the partition helper is still running after {HELPER_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut out = String::new();
    let mut logs = docker.logs(
        id,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        }),
    );
    while let Some(chunk) = logs.next().await {
        out.push_str(&String::from_utf8_lossy(&chunk?.into_bytes()));
    }
    // `-force` goes on after an error; the route listing at the end is the
    // truth the callers check, so a non-zero exit only matters with no output.
    if code != 0 && out.trim().is_empty() {
        bail!("`ip -batch` exited with {code} and printed nothing");
    }
    if code != 0 {
        tracing::debug!(code, out, "ip -batch reported errors");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blackhole_listing_gives_destination_and_side() {
        let out = "blackhole 172.19.0.3 proto 71 \nblackhole 10.0.0.0/8 \nRTNETLINK answers: No such process\nblackhole 172.19.0.4 proto 72 scope link \n";
        assert_eq!(
            blackholes(out),
            vec![
                Blackhole {
                    dest: "172.19.0.3".into(),
                    proto: Some(TARGET_SIDE_PROTO)
                },
                Blackhole {
                    dest: "10.0.0.0/8".into(),
                    proto: None
                },
                Blackhole {
                    dest: "172.19.0.4".into(),
                    proto: Some(PEER_SIDE_PROTO)
                },
            ]
        );
    }
}
