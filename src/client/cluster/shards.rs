//! `CLUSTER SHARDS` (Redis 7) typed: each shard's slot ranges and its
//! nodes (address as announced, role, health). The client builds its slot
//! map from it; the reply is a RESP2 array of field/value pairs or a RESP3
//! map, both read here.

use crate::topology::admin::cluster::{SlotRange, SLOTS};
use redis::Value;

/// One node of a shard as `CLUSTER SHARDS` names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardNode {
    pub id: String,
    /// The announced IP.
    pub ip: String,
    /// What clients are told to use (IP, hostname or `?`).
    pub endpoint: String,
    /// The announced hostname, when the node has one.
    pub hostname: Option<String>,
    pub port: u16,
    pub master: bool,
    /// `health` is `online` (not `failed` or `loading`).
    pub online: bool,
}

/// One shard: its slots and nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shard {
    pub slots: Vec<SlotRange>,
    pub nodes: Vec<ShardNode>,
}

impl Shard {
    /// The shard's master, when one is listed.
    pub fn master(&self) -> Option<&ShardNode> {
        self.nodes.iter().find(|n| n.master)
    }
}

/// Several nodes' `CLUSTER SHARDS` made into one map by Redis's own rule
/// for who owns a slot: of the masters the views name for it, the one with
/// the highest config epoch (`epochs`: node id to config epoch, from the
/// same nodes' `CLUSTER NODES`). A node that has not heard of a failover
/// yet names the old master, whose epoch is lower: its view must not undo
/// a MOVED just followed; a master cut off on the minority side still
/// names itself, with its old epoch too. Ties (no epoch known) go to the
/// view most nodes give, then to the first. None when there is no view.
pub fn newest_owners(
    views: &[Vec<Shard>],
    epochs: &std::collections::HashMap<String, u64>,
) -> Option<Vec<Shard>> {
    if views.is_empty() {
        return None;
    }
    let mut out: Vec<Shard> = Vec::new();
    for slot in 0..SLOTS {
        let mut best: Option<(&ShardNode, u64, usize)> = None;
        for v in views {
            let Some(m) = v
                .iter()
                .find(|s| s.slots.iter().any(|r| r.contains(slot)))
                .and_then(Shard::master)
            else {
                continue;
            };
            let epoch = epochs.get(&m.id).copied().unwrap_or(0);
            let votes = views
                .iter()
                .filter(|w| {
                    w.iter()
                        .find(|s| s.slots.iter().any(|r| r.contains(slot)))
                        .and_then(Shard::master)
                        .is_some_and(|o| o.id == m.id)
                })
                .count();
            if best.is_none_or(|(_, e, n)| (epoch, votes) > (e, n)) {
                best = Some((m, epoch, votes));
            }
        }
        let Some((m, _, _)) = best else { continue };
        match out
            .iter_mut()
            .find(|s| s.master().is_some_and(|o| o.id == m.id))
        {
            Some(shard) => match shard.slots.last_mut() {
                Some(r) if r.end + 1 == slot => r.end = slot,
                _ => shard.slots.push(SlotRange {
                    start: slot,
                    end: slot,
                }),
            },
            None => out.push(Shard {
                slots: vec![SlotRange {
                    start: slot,
                    end: slot,
                }],
                nodes: vec![m.clone()],
            }),
        }
    }
    Some(out)
}

/// Why a `CLUSTER SHARDS` reply could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("CLUSTER SHARDS reply: {0}")]
pub struct ShardsParseError(String);

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => text(other)?.parse().ok(),
    }
}

/// The field/value pairs of a RESP2 flat array or a RESP3 map.
fn pairs(v: &Value) -> Option<Vec<(String, &Value)>> {
    match v {
        Value::Array(items) => items
            .chunks(2)
            .map(|kv| match kv {
                [k, v] => Some((text(k)?, v)),
                _ => None,
            })
            .collect(),
        Value::Map(items) => items.iter().map(|(k, v)| Some((text(k)?, v))).collect(),
        _ => None,
    }
}

fn list(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

fn parse_node(v: &Value) -> Result<ShardNode, ShardsParseError> {
    let err = || ShardsParseError(format!("a node entry: {v:?}"));
    let mut n = ShardNode::default();
    for (k, val) in pairs(v).ok_or_else(err)? {
        match k.as_str() {
            "id" => n.id = text(val).unwrap_or_default(),
            "ip" => n.ip = text(val).unwrap_or_default(),
            "endpoint" => n.endpoint = text(val).unwrap_or_default(),
            "hostname" => n.hostname = text(val).filter(|h| !h.is_empty()),
            "port" => {
                n.port = int(val)
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or_else(err)?
            }
            "role" => n.master = text(val).as_deref() == Some("master"),
            "health" => n.online = text(val).as_deref() == Some("online"),
            _ => {}
        }
    }
    if n.port == 0 {
        return Err(err());
    }
    Ok(n)
}

/// Parses a `CLUSTER SHARDS` reply.
pub fn parse_shards(v: &Value) -> Result<Vec<Shard>, ShardsParseError> {
    let shards = list(v).ok_or_else(|| ShardsParseError(format!("not a list: {v:?}")))?;
    let mut out = Vec::with_capacity(shards.len());
    for s in shards {
        let mut shard = Shard::default();
        let fields = pairs(s).ok_or_else(|| ShardsParseError(format!("a shard: {s:?}")))?;
        for (k, val) in fields {
            match k.as_str() {
                "slots" => {
                    let bounds: Vec<i64> = list(val)
                        .unwrap_or_default()
                        .iter()
                        .map(|b| int(b).ok_or_else(|| ShardsParseError(format!("a slot: {b:?}"))))
                        .collect::<Result<_, _>>()?;
                    for pair in bounds.chunks(2) {
                        match pair {
                            [a, b] if 0 <= *a && a <= b && *b < i64::from(SLOTS) => {
                                shard.slots.push(SlotRange {
                                    start: *a as u16,
                                    end: *b as u16,
                                })
                            }
                            _ => return Err(ShardsParseError(format!("a slot range: {pair:?}"))),
                        }
                    }
                }
                "nodes" => {
                    for n in list(val).unwrap_or_default() {
                        shard.nodes.push(parse_node(n)?);
                    }
                }
                _ => {}
            }
        }
        out.push(shard);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn node(id: &str, port: i64, role: &str, health: &str, hostname: Option<&str>) -> Value {
        let mut v = vec![
            bulk("id"),
            bulk(id),
            bulk("port"),
            Value::Int(port),
            bulk("ip"),
            bulk("172.18.0.2"),
            bulk("endpoint"),
            bulk(hostname.unwrap_or("172.18.0.2")),
        ];
        if let Some(h) = hostname {
            v.extend([bulk("hostname"), bulk(h)]);
        }
        v.extend([
            bulk("role"),
            bulk(role),
            bulk("replication-offset"),
            Value::Int(126),
            bulk("health"),
            bulk(health),
        ]);
        Value::Array(v)
    }

    #[test]
    fn a_resp2_shards_reply_is_typed() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                bulk("slots"),
                Value::Array(vec![
                    Value::Int(0),
                    Value::Int(5460),
                    Value::Int(10923),
                    Value::Int(10923),
                ]),
                bulk("nodes"),
                Value::Array(vec![
                    node("a1", 7001, "master", "online", Some("localhost")),
                    node("b1", 7004, "replica", "loading", Some("localhost")),
                ]),
            ]),
            Value::Array(vec![
                bulk("slots"),
                Value::Array(vec![]),
                bulk("nodes"),
                Value::Array(vec![node("c1", 7002, "master", "failed", None)]),
            ]),
        ]);
        let shards = parse_shards(&reply).unwrap();
        assert_eq!(shards.len(), 2);
        assert_eq!(
            shards[0].slots,
            vec![
                SlotRange {
                    start: 0,
                    end: 5460
                },
                SlotRange {
                    start: 10923,
                    end: 10923
                }
            ]
        );
        let m = shards[0].master().unwrap();
        assert_eq!(
            (m.id.as_str(), m.port, m.online, m.endpoint.as_str()),
            ("a1", 7001, true, "localhost")
        );
        assert_eq!(m.hostname.as_deref(), Some("localhost"));
        assert!(!shards[0].nodes[1].master && !shards[0].nodes[1].online);
        assert!(shards[1].slots.is_empty());
        assert_eq!(shards[1].nodes[0].hostname, None);
        assert!(!shards[1].nodes[0].online);
    }

    #[test]
    fn a_resp3_map_reads_the_same() {
        let reply = Value::Array(vec![Value::Map(vec![
            (
                bulk("slots"),
                Value::Array(vec![Value::Int(0), Value::Int(16383)]),
            ),
            (
                bulk("nodes"),
                Value::Array(vec![node("a", 7000, "master", "online", None)]),
            ),
        ])]);
        let shards = parse_shards(&reply).unwrap();
        assert_eq!(shards[0].slots[0].len(), 16384);
        assert!(parse_shards(&Value::Int(3)).is_err());
        let bad = Value::Array(vec![Value::Array(vec![
            bulk("slots"),
            Value::Array(vec![Value::Int(9), Value::Int(2)]),
        ])]);
        assert!(parse_shards(&bad).is_err());
    }

    #[test]
    fn each_slot_goes_to_the_owner_with_the_newest_config_epoch() {
        let node = |id: &str| ShardNode {
            id: id.into(),
            master: true,
            online: true,
            ..Default::default()
        };
        let whole = |owner: &str| {
            vec![Shard {
                slots: vec![SlotRange {
                    start: 0,
                    end: 16383,
                }],
                nodes: vec![node(owner)],
            }]
        };
        let split = vec![
            Shard {
                slots: vec![SlotRange { start: 0, end: 99 }],
                nodes: vec![node("new")],
            },
            Shard {
                slots: vec![SlotRange {
                    start: 100,
                    end: 16383,
                }],
                nodes: vec![node("old")],
            },
        ];
        let epochs: std::collections::HashMap<String, u64> =
            [("old".to_string(), 1), ("new".to_string(), 7)].into();
        // Two stale views, one that saw the promotion of slots 0-99: the
        // newer epoch wins those slots, the rest stays with old.
        let got = newest_owners(&[whole("old"), split.clone(), whole("old")], &epochs).unwrap();
        let owner = |slot: u16| {
            got.iter()
                .find(|s| s.slots.iter().any(|r| r.contains(slot)))
                .and_then(Shard::master)
                .map(|m| m.id.clone())
        };
        assert_eq!(owner(0).as_deref(), Some("new"));
        assert_eq!(owner(99).as_deref(), Some("new"));
        assert_eq!(owner(100).as_deref(), Some("old"));
        // No epochs known: most views win.
        let got =
            newest_owners(&[whole("a"), whole("b"), whole("b")], &Default::default()).unwrap();
        assert_eq!(got[0].master().unwrap().id, "b");
        assert!(newest_owners(&[], &epochs).is_none());
    }
}
