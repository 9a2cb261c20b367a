//! Sentinel's announcements, the payloads it publishes on its `+...`/`-...`
//! channels, split into their parts: the `+switch-master` payload
//! ([`SwitchMaster`]) that the client follows and the timeline measures,
//! and the instance payload most other events carry ([`Instance`]). Only
//! the parsing lives here; what an announcement means in words is the
//! metrics' `explain`, what it means for the client is `client::follow`.
//! Addresses stay as Sentinel gives them (`ip:port`, usually internal):
//! [`AddrMap`](super::AddrMap) or the topology names them.

/// A parsed `+switch-master` payload: `<name> <old-ip> <old-port> <new-ip> <new-port>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchMaster {
    pub master_name: String,
    pub old: String,
    pub new: String,
}

impl SwitchMaster {
    pub fn parse(payload: &str) -> Option<SwitchMaster> {
        let w: Vec<&str> = payload.split_whitespace().collect();
        if w.len() != 5 {
            return None;
        }
        Some(SwitchMaster {
            master_name: w[0].to_string(),
            old: format!("{}:{}", w[1], w[2]),
            new: format!("{}:{}", w[3], w[4]),
        })
    }
}

/// What an announced instance is, by the first word of its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceKind {
    /// `master`.
    Master,
    /// `slave`: a replica.
    Replica,
    /// `sentinel`.
    Sentinel,
}

/// An instance payload split into its parts:
/// `<type> <name> <ip> <port> [@ <master-name> <master-ip> <master-port>] [rest]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance<'a> {
    pub kind: InstanceKind,
    /// The instance's own `ip:port`.
    pub addr: String,
    /// The `ip:port` of the master it belongs to, after the `@`.
    pub master_addr: Option<String>,
    /// The words after the addresses, e.g. `#quorum 2/2`.
    pub rest: Vec<&'a str>,
}

impl Instance<'_> {
    /// None when `payload` is not about a master, replica or sentinel
    /// (`+new-epoch 4`, `+switch-master ...`, `+tilt`).
    pub fn parse(payload: &str) -> Option<Instance<'_>> {
        // Split on single spaces: an instance whose hostname Sentinel lost has
        // an empty ip field (`slave :6379  6379 @ ...`), which must stay a field.
        let w: Vec<&str> = payload.trim().split(' ').collect();
        if w.len() < 4 {
            return None;
        }
        let kind = match w[0] {
            "master" => InstanceKind::Master,
            "slave" => InstanceKind::Replica,
            "sentinel" => InstanceKind::Sentinel,
            _ => return None,
        };
        let addr = format!("{}:{}", w[2], w[3]);
        let (master_addr, rest) = if w.len() >= 8 && w[4] == "@" {
            (Some(format!("{}:{}", w[6], w[7])), w[8..].to_vec())
        } else {
            (None, w[4..].to_vec())
        };
        Some(Instance {
            kind,
            addr,
            master_addr,
            rest,
        })
    }

    /// Whether this is the master itself (not one of its replicas or sentinels).
    pub fn is_master(&self) -> bool {
        self.kind == InstanceKind::Master
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_master_payload_parses() {
        let s = SwitchMaster::parse("mymaster 172.18.0.2 6379 172.18.0.3 6379").unwrap();
        assert_eq!(s.master_name, "mymaster");
        assert_eq!(s.old, "172.18.0.2:6379");
        assert_eq!(s.new, "172.18.0.3:6379");
        assert!(SwitchMaster::parse("mymaster 1.2.3.4").is_none());
    }

    #[test]
    fn an_instance_payload_splits_into_its_addresses() {
        let i = Instance::parse("master mymaster 172.18.0.1 6379 #quorum 2/2").unwrap();
        assert_eq!(i.kind, InstanceKind::Master);
        assert_eq!(i.addr, "172.18.0.1:6379");
        assert_eq!(i.master_addr, None);
        assert_eq!(i.rest, ["#quorum", "2/2"]);
        let r = Instance::parse("slave 172.18.0.3:6379 172.18.0.3 6379 @ mymaster 172.18.0.1 6379")
            .unwrap();
        assert_eq!(r.kind, InstanceKind::Replica);
        assert_eq!(r.addr, "172.18.0.3:6379");
        assert_eq!(r.master_addr.as_deref(), Some("172.18.0.1:6379"));
        assert!(r.rest.is_empty());
        assert!(Instance::parse("4").is_none());
        assert!(Instance::parse("mymaster 172.18.0.1 6379 172.18.0.3 6379").is_none());
    }

    #[test]
    fn a_lost_hostname_stays_an_empty_field() {
        let r = Instance::parse("slave :6379  6379 @ mymaster 172.18.0.2 6379").unwrap();
        assert_eq!(r.addr, ":6379");
        assert_eq!(r.master_addr.as_deref(), Some("172.18.0.2:6379"));
    }
}
