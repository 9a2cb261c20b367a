//! The map from the addresses nodes and Sentinel use among themselves
//! (bridge IPs, DNS names) to the loopback addresses the host must use.
//! The host never sends a packet to an internal address: it maps, or refuses.

use std::collections::HashMap;
use std::net::SocketAddr;

#[derive(Clone, Debug, Default)]
pub struct AddrMap {
    map: HashMap<String, SocketAddr>,
}

impl AddrMap {
    pub fn insert(&mut self, internal: &str, host: SocketAddr) {
        self.map.insert(internal.to_string(), host);
    }

    /// The host address for `internal` (`ip:port` or `name:port`), or `None`
    /// when the address is unknown: callers must not connect to it then.
    pub fn resolve(&self, internal: &str) -> Option<SocketAddr> {
        self.map.get(internal).copied()
    }

    /// Same as [`resolve`](Self::resolve), from a separate host and port as
    /// Sentinel replies with them.
    pub fn resolve_parts(&self, host: &str, port: u16) -> Option<SocketAddr> {
        self.resolve(&format!("{host}:{port}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_internal_addresses_are_not_guessed() {
        let mut m = AddrMap::default();
        let host: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        m.insert("172.18.0.2:6379", host);
        assert_eq!(m.resolve_parts("172.18.0.2", 6379), Some(host));
        assert_eq!(m.resolve("172.18.0.3:6379"), None);
    }
}
