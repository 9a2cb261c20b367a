//! The run network: one user-defined bridge network per run, named
//! `grabstorm-<id>`, whose subnet the engine chooses and grabstorm then
//! pins, so that every node has a fixed address on it. Sentinel names its
//! peers by these addresses, never by a container's DNS name (which the
//! engine forgets while the container is stopped), and a restarted node
//! keeps its address.

use super::engine::call;
use super::DockerBackend;
use anyhow::{bail, Context, Result};
use bollard::models::{ContainerInspectResponse, Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::InspectNetworkOptions;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Attempts when the run's subnet was taken by another network meanwhile.
const SUBNET_ATTEMPTS: usize = 5;

/// The network of run `run_id`.
pub fn network_name(run_id: &str) -> String {
    format!("grabstorm-{run_id}")
}

impl DockerBackend {
    /// Creates the run's network with a subnet the engine chose but which is
    /// then pinned, so that nodes get fixed addresses (the engine accepts a
    /// fixed address only on a network whose subnet was configured): a
    /// restarted node keeps its address, and each sentinel's config can
    /// name its peers from the start. Returns the network id and the
    /// addresses for the nodes, in order.
    pub(super) async fn create_network(
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
                Err(e) if attempt < SUBNET_ATTEMPTS && format!("{e:#}").contains("overlap") => {
                    tracing::debug!(network = name, "subnet {subnet} taken meanwhile: {e:#}");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl DockerBackend {
    /// The node addresses of the existing network `name` (its pinned
    /// subnet), and the addresses its containers hold now.
    pub(super) async fn network_addresses(
        &self,
        name: &str,
    ) -> Result<(SubnetAddresses, Vec<Ipv4Addr>)> {
        let net = call(
            format!("inspecting network {name}"),
            self.docker
                .inspect_network(name, None::<InspectNetworkOptions>),
        )
        .await?;
        let config = net
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
        let taken = net
            .containers
            .unwrap_or_default()
            .values()
            .filter_map(|c| c.ipv4_address.as_deref()?.split('/').next()?.parse().ok())
            .collect();
        Ok((addresses, taken))
    }
}

/// The address of a started container on the network `network_name`, as
/// the engine reports it.
pub(super) fn address_on(
    info: &ContainerInspectResponse,
    node: &str,
    network_name: &str,
) -> Result<String> {
    info.network_settings
        .as_ref()
        .and_then(|s| s.networks.as_ref())
        .and_then(|n| n.get(network_name))
        .and_then(|e| e.ip_address.clone())
        .filter(|ip| !ip.is_empty())
        .with_context(|| format!("node {node}: no address on network {network_name}"))
}

/// Host addresses of an IPv4 subnet, handed out in order, skipping the
/// network and gateway addresses.
pub(super) struct SubnetAddresses {
    first: u32,
    last: u32,
    gateway: Option<u32>,
}

impl SubnetAddresses {
    pub(super) fn new(subnet: &str, gateway: Option<&str>) -> Result<SubnetAddresses> {
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
    pub(super) fn nth(&self, n: usize) -> Result<Ipv4Addr> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
