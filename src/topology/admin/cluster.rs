//! What a Redis Cluster node says of the cluster, typed and parsed once:
//! `CLUSTER NODES` (every node as this node sees it: role, flags such as
//! PFAIL and FAIL, its master, its config epoch, its slots) and
//! `CLUSTER INFO` (`cluster_state`, slot counts, epochs); and the key's
//! hash slot ([`key_slot`]: CRC16 of the key, or of its `{hash tag}`,
//! modulo 16,384). The readiness check, `status`, faults' `master-K`
//! targets, the client's slot map and the lab's cluster timeline all read
//! the cluster through here.

use super::probe::{self, ProbeError};
use crate::topology::Auth;
use std::net::SocketAddr;
use std::time::Duration;

/// The number of hash slots of every Redis Cluster.
pub const SLOTS: u16 = 16384;

/// Time a node gets to answer a one-off read (connect, then the command).
pub const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// CRC16/XMODEM (polynomial 0x1021, initial 0), the checksum Redis Cluster
/// hashes keys with.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The part of `key` that is hashed: the text between the first `{` and
/// the next `}` when that is not empty, else the whole key (Redis's rule).
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The hash slot of `key` (`CLUSTER KEYSLOT`).
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) % SLOTS
}

/// An inclusive range of slots, `start..=end`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
}

impl SlotRange {
    pub fn len(self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }
    pub fn is_empty(self) -> bool {
        false
    }
    pub fn contains(self, slot: u16) -> bool {
        (self.start..=self.end).contains(&slot)
    }
}

impl std::fmt::Display for SlotRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}\u{2013}{}", self.start, self.end)
        }
    }
}

/// `masters` shards' even split of the 16,384 slots, in order: shard K
/// (from 1) gets the K-th range, the first ones one slot more when the
/// split is uneven (what `redis-cli --cluster create` does).
pub fn even_split(masters: usize) -> Vec<SlotRange> {
    let masters = masters.max(1);
    let per = SLOTS as usize / masters;
    let extra = SLOTS as usize % masters;
    let mut start = 0usize;
    (0..masters)
        .map(|k| {
            let len = per + usize::from(k < extra);
            let r = SlotRange {
                start: start as u16,
                end: (start + len - 1) as u16,
            };
            start += len;
            r
        })
        .collect()
}

/// A node's flags in `CLUSTER NODES`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeFlags {
    /// The line is the answering node itself.
    pub myself: bool,
    pub master: bool,
    /// `slave`.
    pub replica: bool,
    /// Possibly failing: this node alone has not heard from it in node-timeout.
    pub pfail: bool,
    /// Failing: a majority of masters agreed.
    pub fail: bool,
    pub handshake: bool,
    pub noaddr: bool,
    pub nofailover: bool,
}

/// One line of `CLUSTER NODES`: a node as the answering node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNode {
    /// The 40-character node id.
    pub id: String,
    /// `ip:port` the node is reached at (its client port), as gossiped:
    /// map it before connecting from the host.
    pub addr: String,
    /// The client port alone.
    pub port: u16,
    /// The announced hostname, when the node has one (`,hostname` part).
    pub hostname: Option<String>,
    pub flags: NodeFlags,
    /// For a replica: its master's id.
    pub master_id: Option<String>,
    pub config_epoch: u64,
    /// Whether the answering node's link to it is up.
    pub connected: bool,
    /// The slots it serves (masters), importing/migrating marks left out.
    pub slots: Vec<SlotRange>,
}

impl ClusterNode {
    /// Whether the answering node sees it as failing (PFAIL or FAIL).
    pub fn failing(&self) -> bool {
        self.flags.pfail || self.flags.fail
    }
}

/// Why a `CLUSTER NODES` line could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("CLUSTER NODES line {line}: {what}: {text:?}")]
pub struct NodesParseError {
    pub line: usize,
    pub what: &'static str,
    pub text: String,
}

/// Parses `CLUSTER NODES` text, one node per line:
/// `<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent>
/// <pong-recv> <config-epoch> <link-state> <slot> <slot> ...`.
pub fn parse_nodes(text: &str) -> Result<Vec<ClusterNode>, NodesParseError> {
    let mut nodes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = |what| NodesParseError {
            line: i + 1,
            what,
            text: line.to_string(),
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            return Err(err("fewer than 8 fields"));
        }
        let (addr_part, hostname) = match fields[1].split_once(',') {
            Some((a, h)) if !h.is_empty() => (a, Some(h.to_string())),
            Some((a, _)) => (a, None),
            None => (fields[1], None),
        };
        let addr = addr_part.split('@').next().unwrap_or(addr_part).to_string();
        let port = addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .ok_or_else(|| err("no port in the address"))?;
        let mut flags = NodeFlags::default();
        for f in fields[2].split(',') {
            match f {
                "myself" => flags.myself = true,
                "master" => flags.master = true,
                "slave" => flags.replica = true,
                "fail?" => flags.pfail = true,
                "fail" => flags.fail = true,
                "handshake" => flags.handshake = true,
                "noaddr" => flags.noaddr = true,
                "nofailover" => flags.nofailover = true,
                _ => {}
            }
        }
        let master_id = (fields[3] != "-").then(|| fields[3].to_string());
        let config_epoch = fields[6].parse().map_err(|_| err("config epoch"))?;
        let mut slots = Vec::new();
        for s in &fields[8..] {
            // `[slot->-id]` / `[slot-<-id]`: a migration in progress, not owned.
            if s.starts_with('[') {
                continue;
            }
            let range = match s.split_once('-') {
                Some((a, b)) => (a.parse(), b.parse()),
                None => (s.parse(), s.parse()),
            };
            match range {
                (Ok(start), Ok(end)) if start <= end && end < SLOTS => {
                    slots.push(SlotRange { start, end })
                }
                _ => return Err(err("a slot range")),
            }
        }
        nodes.push(ClusterNode {
            id: fields[0].to_string(),
            addr,
            port,
            hostname,
            flags,
            master_id,
            config_epoch,
            connected: fields[7] == "connected",
            slots,
        });
    }
    Ok(nodes)
}

/// What `CLUSTER INFO` says.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClusterInfo {
    /// `cluster_state:ok`.
    pub state_ok: bool,
    pub slots_assigned: u32,
    pub slots_ok: u32,
    pub slots_pfail: u32,
    pub slots_fail: u32,
    pub known_nodes: u32,
    /// Masters serving at least one slot.
    pub size: u32,
    pub current_epoch: u64,
    pub my_epoch: u64,
}

impl ClusterInfo {
    /// Parses `CLUSTER INFO` text (`field:value` lines); missing fields stay 0.
    pub fn parse(text: &str) -> ClusterInfo {
        let mut info = ClusterInfo::default();
        for line in text.lines() {
            let Some((k, v)) = line.trim().split_once(':') else {
                continue;
            };
            let n = || v.trim().parse::<u64>().unwrap_or(0);
            match k {
                "cluster_state" => info.state_ok = v.trim() == "ok",
                "cluster_slots_assigned" => info.slots_assigned = n() as u32,
                "cluster_slots_ok" => info.slots_ok = n() as u32,
                "cluster_slots_pfail" => info.slots_pfail = n() as u32,
                "cluster_slots_fail" => info.slots_fail = n() as u32,
                "cluster_known_nodes" => info.known_nodes = n() as u32,
                "cluster_size" => info.size = n() as u32,
                "cluster_current_epoch" => info.current_epoch = n(),
                "cluster_my_epoch" => info.my_epoch = n(),
                _ => {}
            }
        }
        info
    }
}

/// One node's view of the cluster: its `CLUSTER INFO` and `CLUSTER NODES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterView {
    pub info: ClusterInfo,
    pub nodes: Vec<ClusterNode>,
}

impl ClusterView {
    /// The answering node's own line.
    pub fn myself(&self) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.flags.myself)
    }

    /// The node (as this view sees it) with `id`.
    pub fn by_id(&self, id: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The master serving `slot` in this view.
    pub fn owner_of(&self, slot: u16) -> Option<&ClusterNode> {
        self.nodes
            .iter()
            .find(|n| n.flags.master && n.slots.iter().any(|r| r.contains(slot)))
    }
}

/// THE rule for who serves shard `shard` (from 1) now. A shard is a
/// replication group, not a range of slots: its members are the nodes that
/// started in it, or joined it later (`member_shard` says which shard a
/// node of a view belongs to; [`member_shard`] is the topology's answer),
/// so resharding moves slots between shards without changing who they
/// are. In each answering view (`views` holds only those), the shard's
/// master is the member flagged master (the one not flagged FAIL with the
/// highest config epoch when a failover left two: the election winner), or,
/// when no member is master, the master the members replicate. The views
/// then vote; ties go to the view met first. `None` when no view names one.
pub fn shard_master(
    views: &[ClusterView],
    shard: usize,
    member_shard: impl Fn(&ClusterNode) -> Option<usize>,
) -> Option<&ClusterNode> {
    let owners: Vec<&ClusterNode> = views
        .iter()
        .filter_map(|v| view_shard_master(v, shard, &member_shard))
        .collect();
    let votes = |id: &str| owners.iter().filter(|o| o.id == id).count();
    owners
        .iter()
        .copied()
        .fold(None, |best: Option<&ClusterNode>, o| match best {
            Some(b) if votes(&b.id) >= votes(&o.id) => Some(b),
            _ => Some(o),
        })
}

/// What one view says of shard `shard`'s master (see [`shard_master`]).
fn view_shard_master<'v>(
    view: &'v ClusterView,
    shard: usize,
    member_shard: &impl Fn(&ClusterNode) -> Option<usize>,
) -> Option<&'v ClusterNode> {
    let members = || {
        view.nodes
            .iter()
            .filter(move |n| member_shard(n) == Some(shard))
    };
    members()
        .filter(|n| n.flags.master)
        .max_by_key(|n| (!n.flags.fail, n.config_epoch))
        .or_else(|| {
            members()
                .filter_map(|n| view.by_id(n.master_id.as_deref()?))
                .find(|m| m.flags.master)
        })
}

/// The replicas of shard `shard` now: the nodes whose master is
/// [`shard_master`], as the first view that agrees on that master lists
/// them (a view's own line included).
pub fn shard_replicas(
    views: &[ClusterView],
    shard: usize,
    member_shard: impl Fn(&ClusterNode) -> Option<usize>,
) -> Vec<&ClusterNode> {
    let Some(master) = shard_master(views, shard, &member_shard) else {
        return Vec::new();
    };
    let agreeing = views
        .iter()
        .find(|v| view_shard_master(v, shard, &member_shard).is_some_and(|o| o.id == master.id));
    agreeing.map_or_else(Vec::new, |v| {
        v.nodes
            .iter()
            .filter(|n| n.master_id.as_deref() == Some(master.id.as_str()))
            .collect()
    })
}

/// The shard (from 1) the node a view's line describes belongs to, by the
/// topology's record ([`Topology::start_shard`](crate::topology::Topology::start_shard));
/// the argument every caller of [`shard_master`] passes.
pub fn member_shard(t: &crate::topology::Topology, n: &ClusterNode) -> Option<usize> {
    t.node_by_addr(&n.addr)
        .and_then(|node| t.start_shard(&node.name))
}

/// Asks the node at `addr` for its view (`CLUSTER INFO`, `CLUSTER NODES`
/// on one connection), each within `timeout`.
pub async fn read_view(
    addr: SocketAddr,
    auth: &Auth,
    timeout: Duration,
) -> Result<ClusterView, ProbeError> {
    let mut conn = probe::connect(addr, auth, timeout).await?;
    probe_view(&mut conn, timeout).await.map_err(|f| f.message)
}

/// [`read_view`] on a connection already open (the lab's topology poll
/// keeps one per node), keeping the verdict on the connection; a reply
/// that does not parse leaves the connection fine.
pub(crate) async fn probe_view(
    conn: &mut redis::aio::MultiplexedConnection,
    timeout: Duration,
) -> Result<ClusterView, probe::ProbeFailure> {
    let info: String = probe::probe(conn, redis::cmd("CLUSTER").arg("INFO"), timeout).await?;
    let nodes: String = probe::probe(conn, redis::cmd("CLUSTER").arg("NODES"), timeout).await?;
    let nodes = parse_nodes(&nodes).map_err(|e| probe::ProbeFailure {
        message: e.to_string(),
        verdict: probe::ConnVerdict::Fine,
    })?;
    Ok(ClusterView {
        info: ClusterInfo::parse(&info),
        nodes,
    })
}

/// The master of every shard (shard 1 first) when the cluster has settled:
/// every answering node says `cluster_state:ok` and names, by the one rule
/// ([`shard_master`] over its view alone), the same master for each shard,
/// which answers and says it is master. Else what is still wrong, in words.
pub fn settled_masters(
    topology: &crate::topology::Topology,
    views: &[(String, Option<ClusterView>)],
) -> Result<Vec<String>, String> {
    let answering: Vec<(&String, &ClusterView)> = views
        .iter()
        .filter_map(|(n, v)| v.as_ref().map(|v| (n, v)))
        .collect();
    if answering.is_empty() {
        return Err("no node answers".into());
    }
    let not_ok: Vec<&str> = answering
        .iter()
        .filter(|(_, v)| !v.info.state_ok)
        .map(|(n, _)| n.as_str())
        .collect();
    if !not_ok.is_empty() {
        return Err(format!("cluster_state:fail on {}", not_ok.join(", ")));
    }
    // Ids to names, from each answering node's own line.
    let name_of = |id: &str| {
        answering
            .iter()
            .find(|(_, v)| v.myself().is_some_and(|m| m.id == id && m.flags.master))
            .map(|(n, _)| (*n).clone())
    };
    let member = |n: &ClusterNode| member_shard(topology, n);
    let mut masters = Vec::new();
    for k in topology.shard_numbers() {
        let owners: std::collections::BTreeSet<Option<&str>> = answering
            .iter()
            .map(|(_, v)| view_shard_master(v, k, &member).map(|o| o.id.as_str()))
            .collect();
        let [Some(id)] = owners.iter().copied().collect::<Vec<_>>()[..] else {
            return Err(format!("the nodes do not agree on shard {k}'s master"));
        };
        match name_of(id) {
            Some(name) => masters.push(name),
            None => return Err(format!("shard {k}'s master does not answer")),
        }
    }
    Ok(masters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_are_redis_own() {
        // Values from Redis's own CLUSTER KEYSLOT.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
    }

    #[test]
    fn an_even_split_covers_every_slot_once() {
        let r = even_split(3);
        assert_eq!(
            r,
            vec![
                SlotRange {
                    start: 0,
                    end: 5461
                },
                SlotRange {
                    start: 5462,
                    end: 10922
                },
                SlotRange {
                    start: 10923,
                    end: 16383
                },
            ]
        );
        for m in 1..=10 {
            let r = even_split(m);
            assert_eq!(r.iter().map(|r| r.len()).sum::<u32>(), SLOTS as u32);
            assert_eq!(r.last().unwrap().end, SLOTS - 1);
        }
    }

    #[test]
    fn cluster_nodes_lines_are_typed() {
        let text = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,localhost slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master,fail? - 0 1426238316232 2 connected 5461-10922
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [5461->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 slave,fail 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 disconnected
";
        let nodes = parse_nodes(text).unwrap();
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes[0].hostname.as_deref(), Some("localhost"));
        assert_eq!(nodes[0].addr, "127.0.0.1:30004");
        assert_eq!(nodes[0].port, 30004);
        assert!(nodes[0].flags.replica);
        assert_eq!(
            nodes[0].master_id.as_deref(),
            Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
        );
        assert!(nodes[1].flags.pfail && !nodes[1].flags.fail);
        assert_eq!(
            nodes[1].slots,
            vec![SlotRange {
                start: 5461,
                end: 10922
            }]
        );
        assert!(nodes[2].flags.myself);
        assert_eq!(
            nodes[2].slots,
            vec![SlotRange {
                start: 0,
                end: 5460
            }]
        );
        assert!(nodes[3].flags.fail && !nodes[3].connected);
        assert_eq!(nodes[3].config_epoch, 5);
        let view = ClusterView {
            info: ClusterInfo::default(),
            nodes,
        };
        assert_eq!(view.owner_of(7000).unwrap().port, 30002);
        assert_eq!(view.myself().unwrap().port, 30001);
        assert!(parse_nodes("abc 1.2.3.4:5 master").is_err());
    }

    /// Three masters (A, B, C) and replicas (D of A, E of B, F of C), as
    /// `me` sees them; `b_failed_over`: E has taken over B's slots.
    fn view(me: char, b_failed_over: bool) -> ClusterView {
        let id = |c: char| c.to_string().repeat(40);
        let (b, e) = if b_failed_over {
            (
                format!(
                    "{} 10.0.0.2:7002@17002 master,fail - 0 0 2 disconnected",
                    id('b')
                ),
                format!(
                    "{} 10.0.0.5:7005@17005 master - 0 0 7 connected 5462-10922",
                    id('e')
                ),
            )
        } else {
            (
                format!(
                    "{} 10.0.0.2:7002@17002 master - 0 0 2 connected 5462-10922",
                    id('b')
                ),
                format!(
                    "{} 10.0.0.5:7005@17005 slave {} 0 0 2 connected",
                    id('e'),
                    id('b')
                ),
            )
        };
        let text = [
            format!(
                "{} 10.0.0.1:7001@17001 master - 0 0 1 connected 0-5461",
                id('a')
            ),
            b,
            format!(
                "{} 10.0.0.3:7003@17003 master - 0 0 3 connected 10923-16383",
                id('c')
            ),
            format!(
                "{} 10.0.0.4:7004@17004 slave {} 0 0 1 connected",
                id('d'),
                id('a')
            ),
            e,
            format!(
                "{} 10.0.0.6:7006@17006 slave {} 0 0 3 connected",
                id('f'),
                id('c')
            ),
        ]
        .join("\n");
        let mut nodes = parse_nodes(&text).unwrap();
        for n in &mut nodes {
            n.flags.myself = n.id == id(me);
        }
        ClusterView {
            info: ClusterInfo::default(),
            nodes,
        }
    }

    /// The shard each test node started in: 7001 and 7004 in shard 1, ...
    fn start(n: &ClusterNode) -> Option<usize> {
        match n.port {
            7001..=7006 => Some((n.port as usize - 7001) % 3 + 1),
            _ => None,
        }
    }

    #[test]
    fn the_master_of_a_shard_is_its_members_master_by_majority() {
        let before: Vec<ClusterView> = "acdef".chars().map(|c| view(c, false)).collect();
        let master = |views: &[ClusterView], k| shard_master(views, k, start).map(|m| m.port);
        assert_eq!(master(&before, 1), Some(7001));
        assert_eq!(master(&before, 2), Some(7002));
        assert_eq!(master(&before, 3), Some(7003));
        assert_eq!(master(&before, 4), None);
        assert_eq!(master(&before, 0), None);
        let replicas: Vec<u16> = shard_replicas(&before, 2, start)
            .iter()
            .map(|n| n.port)
            .collect();
        assert_eq!(replicas, [7005]);
        // Three of five answering nodes have seen E take over: E is the
        // master of shard 2, and it has no replica (B is failed, not following).
        let mixed: Vec<ClusterView> = [
            ('a', true),
            ('c', true),
            ('d', false),
            ('e', true),
            ('f', false),
        ]
        .iter()
        .map(|&(c, over)| view(c, over))
        .collect();
        assert_eq!(master(&mixed, 2), Some(7005));
        assert!(shard_replicas(&mixed, 2, start).is_empty());
        assert_eq!(master(&mixed, 1), Some(7001));
        assert_eq!(master(&[], 1), None);
    }

    #[test]
    fn a_reshard_moves_slots_not_shards() {
        // A gave all its slots (0-5461) to B: shard 1 is still A's group,
        // and no two shards resolve to one master.
        let resharded: Vec<ClusterView> = "abcdef"
            .chars()
            .map(|c| {
                let mut v = view(c, false);
                for n in &mut v.nodes {
                    match n.port {
                        7001 => n.slots.clear(),
                        7002 => {
                            n.slots = vec![SlotRange {
                                start: 0,
                                end: 10922,
                            }]
                        }
                        _ => {}
                    }
                }
                v
            })
            .collect();
        let master = |k| shard_master(&resharded, k, start).map(|m| m.port);
        assert_eq!(
            (master(1), master(2), master(3)),
            (Some(7001), Some(7002), Some(7003))
        );
        let replicas: Vec<u16> = shard_replicas(&resharded, 1, start)
            .iter()
            .map(|n| n.port)
            .collect();
        assert_eq!(replicas, [7004]);
        // With no member master (D now follows C, A gone from the views),
        // shard 1 is the master its members replicate.
        let orphan: Vec<ClusterView> = "cef"
            .chars()
            .map(|c| {
                let mut v = view(c, false);
                v.nodes.retain(|n| n.port != 7001);
                for n in &mut v.nodes {
                    if n.port == 7004 {
                        n.master_id = Some("c".repeat(40));
                    }
                }
                v
            })
            .collect();
        assert_eq!(shard_master(&orphan, 1, start).map(|m| m.port), Some(7003));
    }

    #[test]
    fn cluster_info_is_typed() {
        let info = ClusterInfo::parse(
            "cluster_state:fail\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:10923\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:5461\r\ncluster_known_nodes:6\r\ncluster_size:3\r\ncluster_current_epoch:7\r\ncluster_my_epoch:2\r\n",
        );
        assert!(!info.state_ok);
        assert_eq!(info.slots_fail, 5461);
        assert_eq!(info.current_epoch, 7);
        assert_eq!(info.size, 3);
        assert!(ClusterInfo::parse("cluster_state:ok\n").state_ok);
    }
}
