//! Where each node of a [`Plan`] goes in Docker: its fixed address on the
//! run network, the port it listens on inside its container, and its config
//! (the plan's lines from [`config`], plus the lines that place it in the
//! container). Every node is named by its fixed address in the others'
//! configs and announces it.
//!
//! A Cluster node is the exception to "Redis listens on 6379 inside": it
//! listens on a free host port P and is published as 127.0.0.1:P:P,
//! because a Cluster node tells clients its own port (MOVED, ASK, `CLUSTER
//! SHARDS`), and `redis-cli -c` on the host must be able to follow it. Its
//! bus listens on [`CLUSTER_BUS_PORT`] inside its container: each container
//! has its own network namespace, and the bus is never published.

use super::network::SubnetAddresses;
use crate::topology::config;
use crate::topology::plan::{Addresses, Plan, PlanError};
use crate::topology::NodeKind;
use anyhow::{bail, Result};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Port Redis listens on inside its container.
pub const REDIS_PORT: u16 = 6379;
/// Port Sentinel listens on inside its container.
pub const SENTINEL_PORT: u16 = 26379;
/// Port a Cluster node's bus listens on inside its container (reached by
/// its peers over the run network only).
pub const CLUSTER_BUS_PORT: u16 = 16379;

/// One node to start: its name, kind, fixed address and port inside the
/// network, and config.
pub(super) struct NodePlan {
    pub(super) name: String,
    pub(super) kind: NodeKind,
    pub(super) ip: Ipv4Addr,
    pub(super) port: u16,
    /// The host port it is published on when that is pinned by the plan
    /// (Cluster nodes: equal to `port`); `None`: any free one.
    pub(super) host_port: Option<u16>,
    pub(super) config: String,
}

/// The nodes of `plan` with their fixed addresses on the run network (in
/// plan order) and their configs. Every node is named by that address in
/// the others' configs and announces it: the sentinels never depend on a
/// container's DNS name, which the engine forgets while it is stopped.
pub(super) fn plan_nodes(plan: &Plan, addresses: &SubnetAddresses) -> Result<Vec<NodePlan>> {
    let mut taken = Vec::new();
    let addrs: Addresses = plan
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let port = match clustered(plan, n.kind) {
                true => distinct_free_port(&mut taken)?,
                false => container_port(n.kind),
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
                host_port: clustered(plan, n.kind).then_some(addr.port()),
                config: node_config(plan, &n.name, &addrs)?,
            })
        })
        .collect()
}

/// One more Cluster data node of a running run (`grabstorm scale add`):
/// at `ip` on the run network, listening on a free loopback port and
/// published on the same one, its config rendered as [`plan_nodes`]
/// renders every node's.
pub(super) fn added_node(plan: &Plan, name: &str, ip: Ipv4Addr) -> Result<NodePlan> {
    let port = distinct_free_port(&mut Vec::new())?;
    let addrs: Addresses = [(name.to_string(), SocketAddr::from((ip, port)))]
        .into_iter()
        .collect();
    Ok(NodePlan {
        name: name.to_string(),
        kind: NodeKind::Redis,
        ip,
        port,
        host_port: Some(port),
        config: node_config(plan, name, &addrs)?,
    })
}

/// The config file of `node` as the Docker backend starts it.
pub fn node_config(plan: &Plan, node: &str, addrs: &Addresses) -> Result<String, PlanError> {
    let kind = plan.node(node)?.kind;
    // Inside its container a node listens on every interface: the run
    // network and the container's loopback; the host reaches it only through
    // the port published on 127.0.0.1.
    let mut placement = vec![
        "bind * -::*".to_string(),
        match kind {
            NodeKind::Redis => "dir /data".into(),
            NodeKind::Sentinel => "dir /tmp".into(),
        },
    ];
    if clustered(plan, kind) {
        placement.push(format!("cluster-port {CLUSTER_BUS_PORT}"));
    }
    config::render(plan, node, addrs, &placement)
}

/// A free loopback port not among `taken` (the OS may hand the same one
/// out twice once its listener is closed), added to it.
fn distinct_free_port(taken: &mut Vec<u16>) -> Result<u16> {
    for _ in 0..20 {
        let port = super::ports::free_loopback_port()?;
        if !taken.contains(&port) {
            taken.push(port);
            return Ok(port);
        }
    }
    bail!("no distinct free port on 127.0.0.1 in 20 tries")
}

/// Whether a node of `kind` is a Cluster node of `plan`.
fn clustered(plan: &Plan, kind: NodeKind) -> bool {
    plan.spec.is_cluster() && kind == NodeKind::Redis
}

/// The port `kind` listens on inside its container.
pub(super) fn container_port(kind: NodeKind) -> u16 {
    match kind {
        NodeKind::Redis => REDIS_PORT,
        NodeKind::Sentinel => SENTINEL_PORT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::TopologySpec;

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
                crate::topology::local::node_config(&plan, &p.name, &files, &addrs, None).unwrap();
            assert_eq!(body(&local), body(&p.config), "{}", p.name);
            assert!(local.contains("daemonize yes") && !p.config.contains("daemonize"));
        }
    }

    #[test]
    fn cluster_nodes_listen_on_the_port_they_are_published_on() {
        let spec = TopologySpec {
            mode: crate::topology::HaMode::Cluster,
            ..Default::default()
        };
        let plan = Plan::with_password(&spec, "r1", Some("pw".into()));
        let subnet = SubnetAddresses::new("172.20.0.0/16", Some("172.20.0.1")).unwrap();
        let plans = plan_nodes(&plan, &subnet).unwrap();
        assert_eq!(plans.len(), 6);
        for p in &plans {
            assert_ne!(p.port, REDIS_PORT);
            assert_eq!(p.host_port, Some(p.port));
            assert!(p.config.contains(&format!("port {}\n", p.port)));
            assert!(p
                .config
                .contains(&format!("cluster-announce-ip {}\n", p.ip)));
            assert!(p.config.contains("cluster-port 16379\n"), "{}", p.config);
            assert!(p.config.contains("dir /data\n"));
        }
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
}
