//! Network partitions on the Docker backend. All nodes stay on the run's
//! one network; the cut is made inside the target node's network namespace
//! by blackhole routes to its peers' addresses, added by a short-lived
//! helper container that shares that namespace (`NetworkMode:
//! container:<node>`, capability NET_ADMIN) and runs the host's own `ip`
//! binary from a FROM-scratch image. Replies to peers are dropped, so
//! replication and Sentinel traffic stop both ways, while the host still
//! reaches the node through its published port (that traffic comes from the
//! bridge gateway, which is not blackholed). Healing deletes the routes.
//!
//! (Disconnecting a second "cluster" network does not work: peers that
//! share the first network keep replicating over it.)

use crate::topology::docker::{container_name, network_name, run_labels};
use crate::topology::image::build_scratch_image;
use crate::topology::Topology;
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

/// Cuts `node` off from `from` (every other node when empty): blackhole
/// routes to their addresses inside `node`'s namespace. Returns the peers cut.
pub async fn partition(
    docker: &Docker,
    topology: &Topology,
    node: &str,
    from: &[String],
) -> Result<Vec<String>> {
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
    let mut commands = Vec::new();
    for peer in &peers {
        let ip = node_ip(docker, topology, peer).await?;
        commands.push(format!("route replace blackhole {ip}/32"));
    }
    commands.push("route show type blackhole".to_string());
    let out = run_ip(docker, topology, node, &commands)
        .await
        .with_context(|| format!("cutting {node} off from {}", peers.join(", ")))?;
    let routes = out.lines().filter(|l| l.starts_with("blackhole")).count();
    if routes < peers.len() {
        bail!(
            "cutting {node} off: expected {} blackhole routes, the node has {routes}:\n{out}",
            peers.len()
        );
    }
    Ok(peers)
}

/// Removes every blackhole route from `node`'s namespace.
pub async fn heal(docker: &Docker, topology: &Topology, node: &str) -> Result<()> {
    let shown = run_ip(
        docker,
        topology,
        node,
        &["route show type blackhole".to_string()],
    )
    .await
    .with_context(|| format!("reading the routes of {node}"))?;
    let mut commands: Vec<String> = shown
        .lines()
        .filter_map(|l| l.strip_prefix("blackhole "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|dest| format!("route del blackhole {dest}"))
        .collect();
    if commands.is_empty() {
        return Ok(());
    }
    commands.push("route show type blackhole".to_string());
    let out = run_ip(docker, topology, node, &commands)
        .await
        .with_context(|| format!("healing {node}"))?;
    if out.lines().any(|l| l.starts_with("blackhole")) {
        bail!("healing {node}: blackhole routes remain:\n{out}");
    }
    Ok(())
}

/// Builds (once) the helper image from the host's `ip`.
async fn ip_image(docker: &Docker) -> Result<(String, PathBuf)> {
    let ip = find_ip_binary().context(
        "the host has no `ip` binary to build the partition helper from: install iproute2 (apt-get install iproute2)",
    )?;
    let tag = build_scratch_image(docker, IP_IMAGE_REPO, std::slice::from_ref(&ip))
        .await
        .context("building the partition helper image")?;
    Ok((tag, ip))
}

/// Runs `ip -force -batch` with `commands` inside `node`'s network
/// namespace from a helper container; returns its output. The helper is
/// removed whatever happens.
async fn run_ip(
    docker: &Docker,
    topology: &Topology,
    node: &str,
    commands: &[String],
) -> Result<String> {
    let (image, ip) = ip_image(docker).await?;
    let target = topology
        .node(node)
        .with_context(|| format!("no node named {node:?} in this run"))?;
    let name = format!(
        "{}-iproute-{}",
        container_name(&topology.run_id, node),
        rand::random::<u32>()
    );
    let mut labels = run_labels(&topology.run_id);
    labels.insert("grabstorm.helper".into(), "iproute".into());
    let body = ContainerCreateBody {
        image: Some(image),
        cmd: Some(vec![
            ip.to_string_lossy().into_owned(),
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
    let result = tokio::time::timeout(HELPER_TIMEOUT, drive_helper(docker, &created.id, commands))
        .await
        .unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "the helper did not finish within {HELPER_TIMEOUT:?}"
            ))
        });
    let removed = tokio::time::timeout(
        HELPER_TIMEOUT,
        docker.remove_container(
            &created.id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        ),
    )
    .await;
    if !matches!(removed, Ok(Ok(()))) {
        tracing::warn!(helper = %name, "could not remove the partition helper; `grabstorm down` removes it by label");
    }
    result
}

async fn drive_helper(docker: &Docker, id: &str, commands: &[String]) -> Result<String> {
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
