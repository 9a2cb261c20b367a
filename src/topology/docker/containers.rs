//! The containers of a run, one per node, named `grabstorm-<id>-<node>`:
//! creating them (labelled, on record in the run's manifest first, with a
//! fixed address on the run network and a published loopback port),
//! placing their configs, starting them, and reading back their state,
//! addresses and logs. Configs go into the created, not yet started,
//! container as an uploaded tar archive: no host directory is mounted, so
//! a remote engine works too.

use super::engine::call;
use super::labels::{run_labels, NODE_LABEL};
use super::network::address_on;
use super::placement::NodePlan;
use super::ports::{free_loopback_port, is_port_clash, published_addr};
use super::DockerBackend;
use crate::topology::manifest::{Manifest, Record};
use crate::topology::NodeKind;
use anyhow::{bail, Context, Result};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointIpamConfig, EndpointSettings,
    HostConfig, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, StartContainerOptions,
    UploadToContainerOptions,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Where the node's config lives in the container; writable, because
/// Sentinel rewrites its config file (and `CONFIG REWRITE` may too).
const CONFIG_DIR: &str = "/etc/redis";

/// Attempts when a node's published port was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// The container of `node` in run `run_id`.
pub fn container_name(run_id: &str, node: &str) -> String {
    format!("grabstorm-{run_id}-{node}")
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

impl DockerBackend {
    /// Creates the node's container (not started), publishing its port on
    /// a free loopback port, and places its config.
    pub(super) async fn create_node(
        &self,
        run_id: &str,
        network_name: &str,
        image: &str,
        p: &NodePlan,
    ) -> Result<String> {
        let container = container_name(run_id, &p.name);
        let host_port = match p.host_port {
            Some(port) => port,
            None => free_loopback_port()
                .with_context(|| format!("finding a free 127.0.0.1 port for node {}", p.name))?,
        };
        let port_key = format!("{}/tcp", p.port);
        let run_dir = self.run_dir(run_id)?;
        let mut labels = run_labels(run_id, &run_dir);
        labels.insert(NODE_LABEL.into(), p.name.clone());
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
    pub(super) async fn start_node(
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
                // A pinned port (a Cluster node announces it) cannot move.
                Err(e) if is_port_clash(&e) && p.host_port.is_some() => {
                    return Err(e.context(format!(
                        "node {}: its port {} on 127.0.0.1 was taken by another process meanwhile; start again",
                        p.name, p.port
                    )))
                }
                Err(e) if is_port_clash(&e) && attempt < PORT_ATTEMPTS => {
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

    /// What the engine reports about the container `id` of `node`.
    pub(super) async fn inspect(&self, node: &str, id: &str) -> Result<ContainerInspectResponse> {
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
    pub(super) async fn addresses(
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
        let host_addr = published_addr(info, node, port)?;
        let ip = address_on(info, node, network_name)?;
        Ok((host_addr, ip))
    }

    /// The last `lines` lines of a container's log (stdout and stderr), or
    /// why they could not be read.
    pub(super) async fn container_log_tail(&self, id: &str, lines: usize) -> String {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
