//! Where the host reaches a node the cluster names: [`NodeAddrs`] maps
//! the addresses a cluster reports (`ip:port`, or `hostname:port` with
//! `cluster-preferred-endpoint-type hostname`) to loopback host addresses,
//! or to nothing. The cluster client never connects to anything else.

use crate::topology::{AddrMap, Topology};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The map from the addresses a cluster reports to host addresses: the
/// topology's own map (internal and host addresses), then, for a name it
/// does not know (`localhost:P` announced as hostname), the node whose host
/// port is `P` (both backends publish each node on the port it listens on),
/// then a loopback address as announced (`127.0.0.1:P`, what every node
/// announces as its hostname: a node added after the topology was read,
/// by `grabstorm scale add`, is reached that way). Only loopback
/// addresses come out.
#[derive(Clone, Debug, Default)]
pub struct NodeAddrs {
    map: AddrMap,
    by_port: HashMap<u16, SocketAddr>,
}

impl NodeAddrs {
    /// The data nodes of `topology`.
    pub fn of_topology(topology: &Topology) -> NodeAddrs {
        NodeAddrs {
            map: topology.addr_map(),
            by_port: topology
                .redis_nodes()
                .map(|n| (n.host_addr.port(), n.host_addr))
                .collect(),
        }
    }

    /// Nodes that announce the address the host reaches them at (local
    /// processes on 127.0.0.1).
    pub fn of_hosts(hosts: &[SocketAddr]) -> NodeAddrs {
        let mut map = AddrMap::default();
        for h in hosts {
            map.insert(&h.to_string(), *h);
        }
        NodeAddrs {
            map,
            by_port: hosts.iter().map(|h| (h.port(), *h)).collect(),
        }
    }

    /// The host address of a node reported as any of `hosts` (IP,
    /// hostname, endpoint) with `port`; `None` when none maps to loopback.
    pub fn resolve(&self, hosts: &[&str], port: u16) -> Option<SocketAddr> {
        hosts
            .iter()
            .filter(|h| !h.is_empty() && **h != "?")
            .find_map(|h| self.map.resolve_parts(h, port))
            .or_else(|| self.by_port.get(&port).copied())
            .or_else(|| {
                hosts.iter().find_map(|h| {
                    let ip: std::net::IpAddr = h.parse().ok()?;
                    ip.is_loopback().then_some(SocketAddr::new(ip, port))
                })
            })
            .filter(|a| a.ip().is_loopback())
    }

    /// [`resolve`](Self::resolve) for `host:port` as a redirect names it.
    pub fn resolve_text(&self, addr: &str) -> Option<SocketAddr> {
        let (host, port) = addr.rsplit_once(':')?;
        self.resolve(&[host], port.parse().ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::AddrMap;

    #[test]
    fn reported_addresses_map_to_loopback_or_nothing() {
        let host: SocketAddr = "127.0.0.1:47003".parse().unwrap();
        let mut map = AddrMap::default();
        // Docker: the bridge address the node announces, and its host port.
        map.insert("172.18.0.4:47003", host);
        let addrs = NodeAddrs {
            map,
            by_port: [(47003, host)].into_iter().collect(),
        };
        assert_eq!(addrs.resolve(&["172.18.0.4"], 47003), Some(host));
        // `cluster-announce-hostname localhost`: known by its port.
        assert_eq!(addrs.resolve_text("localhost:47003"), Some(host));
        assert_eq!(addrs.resolve(&["?", "", "localhost"], 47003), Some(host));
        // Nothing this lab started: never guessed.
        assert_eq!(addrs.resolve_text("10.1.2.3:6379"), None);
        assert_eq!(addrs.resolve_text("no-port"), None);
        // A map entry that is not loopback is refused too.
        let mut bad = AddrMap::default();
        bad.insert("node:1", "10.0.0.1:1".parse().unwrap());
        let bad = NodeAddrs {
            map: bad,
            by_port: HashMap::new(),
        };
        assert_eq!(bad.resolve(&["node"], 1), None);
        let local = NodeAddrs::of_hosts(&[host]);
        assert_eq!(local.resolve_text("127.0.0.1:47003"), Some(host));
        // A node added later announces the loopback address it is reached at.
        let later: SocketAddr = "127.0.0.1:47999".parse().unwrap();
        assert_eq!(local.resolve_text("127.0.0.1:47999"), Some(later));
        assert_eq!(
            addrs.resolve(&["172.18.0.9", "127.0.0.1"], 47999),
            Some(later)
        );
    }
}
