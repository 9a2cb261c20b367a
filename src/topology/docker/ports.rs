//! Published loopback ports: from the host, each node is reached only
//! through a port the engine publishes on 127.0.0.1. The port is named
//! explicitly (a free one the OS hands out, retried on a clash) rather than
//! left to the engine: with an empty `HostPort` the engine picks a new port
//! on every start, and a node restarted by a fault must keep its address.

use anyhow::{Context, Result};
use bollard::models::ContainerInspectResponse;
use std::net::SocketAddr;

/// A free TCP port on 127.0.0.1, as the OS hands it out (the engine binds
/// it a moment later; a clash in between is retried by the caller).
pub(super) fn free_loopback_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Whether starting failed because the published port is in use.
pub(super) fn is_port_clash(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("port is already allocated") || text.contains("address already in use")
}

/// The host address the engine published on 127.0.0.1 for `port`/tcp of a
/// started container, read back by inspect.
pub(super) fn published_addr(
    info: &ContainerInspectResponse,
    node: &str,
    port: u16,
) -> Result<SocketAddr> {
    let binding = info
        .network_settings
        .as_ref()
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
    Ok(SocketAddr::from(([127, 0, 0, 1], host_port)))
}
