//! What the sentinels say, typed, each question written once:
//! `SENTINEL GET-MASTER-ADDR-BY-NAME` ([`master_addr_by_name`], which
//! changes the moment a sentinel switches), `SENTINEL MASTER`, `REPLICAS`
//! and `SENTINELS` ([`Instance`], where the flags and link states are).
//! A [`SentinelSet`] asks every sentinel of a run at once; which answer
//! names the master is [`super::master`]'s rule.

use super::master::{self, MasterRule};
use super::probe::{self, ProbeError};
use crate::topology::{AddrMap, Auth, Topology};
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Time allowed for one sentinel to answer one question (connect included).
pub const SENTINEL_TIMEOUT: Duration = Duration::from_millis(400);

/// `SENTINEL GET-MASTER-ADDR-BY-NAME name`: the `ip:port` this sentinel
/// names (as Sentinel gives it, internal), `None` when it does not monitor
/// `master_name`.
pub(crate) async fn master_addr_by_name(
    conn: &mut MultiplexedConnection,
    master_name: &str,
    timeout: Duration,
) -> Result<Option<String>, ProbeError> {
    let reply: Option<(String, String)> = probe::query(
        conn,
        redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(master_name),
        timeout,
    )
    .await?;
    Ok(reply.map(|(ip, port)| format!("{ip}:{port}")))
}

/// The instances a sentinel can be asked about for one master name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Question {
    /// `SENTINEL MASTER name`: one instance.
    Master,
    /// `SENTINEL REPLICAS name`: one instance per replica.
    Replicas,
    /// `SENTINEL SENTINELS name`: one instance per other sentinel.
    Sentinels,
}

impl Question {
    /// The command asking it about `master_name`.
    pub(crate) fn command(self, master_name: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg(match self {
            Question::Master => "MASTER",
            Question::Replicas => "REPLICAS",
            Question::Sentinels => "SENTINELS",
        })
        .arg(master_name);
        cmd
    }
}

/// One instance as a sentinel describes it (`SENTINEL MASTER`, `REPLICAS`,
/// `SENTINELS`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Instance {
    /// `ip:port` as Sentinel gives it (internal).
    pub addr: Option<String>,
    /// The flags (`master`, `slave`, `sentinel`, `s_down`, `o_down`,
    /// `disconnected`, `failover_in_progress`, ...).
    pub flags: Vec<String>,
    /// A replica's `master-link-status` (`ok`, `err`).
    pub master_link_status: Option<String>,
}

impl Instance {
    /// Reads Sentinel's field map.
    pub fn from_fields(fields: &HashMap<String, String>) -> Instance {
        Instance {
            addr: fields
                .get("ip")
                .zip(fields.get("port"))
                .map(|(ip, port)| format!("{ip}:{port}")),
            flags: fields
                .get("flags")
                .map(|f| f.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            master_link_status: fields.get("master-link-status").cloned(),
        }
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Whether its flags are exactly `only` (`slave` with nothing wrong).
    pub fn flags_are(&self, only: &[&str]) -> bool {
        self.flags
            .iter()
            .map(String::as_str)
            .eq(only.iter().copied())
    }

    /// The flags as Sentinel wrote them.
    pub fn flags_text(&self) -> String {
        self.flags.join(",")
    }
}

/// `SENTINEL REPLICAS name` or `SENTINEL SENTINELS name` on an open
/// connection, within `timeout`.
pub(crate) async fn instances(
    conn: &mut MultiplexedConnection,
    question: Question,
    master_name: &str,
    timeout: Duration,
) -> Result<Vec<Instance>, ProbeError> {
    let maps: Vec<HashMap<String, String>> =
        probe::query(conn, &question.command(master_name), timeout).await?;
    Ok(maps.iter().map(Instance::from_fields).collect())
}

/// Why the master could not be found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("the topology has no sentinel to ask")]
    NoSentinels,
    #[error("no sentinel answered for master {master_name:?} ({tried}); last error: {last_error}")]
    NoAnswer {
        master_name: String,
        tried: String,
        last_error: String,
    },
    #[error("sentinels name the master {master_name:?} at {addr}, an address this lab does not know; refusing to connect to it")]
    Unmapped { master_name: String, addr: String },
    #[error("the topology has neither sentinels nor a redis-1 node")]
    NoSentinelsNorFirstNode,
}

/// The sentinels of one topology and what is needed to ask them.
#[derive(Clone, Debug)]
pub struct SentinelSet {
    pub master_name: String,
    /// `(node name, host address)` of each sentinel.
    pub sentinels: Vec<(String, SocketAddr)>,
    pub addrs: AddrMap,
    /// The run's credentials, for the sentinels and the master alike.
    pub auth: Auth,
}

/// One sentinel's answer to `GET-MASTER-ADDR-BY-NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterAnswer {
    pub sentinel: String,
    /// The address as Sentinel gave it (internal).
    pub internal: String,
    /// Mapped to the host, `None` when unknown.
    pub host: Option<SocketAddr>,
}

impl SentinelSet {
    pub fn from_topology(topology: &Topology) -> SentinelSet {
        SentinelSet {
            master_name: topology.spec.master_name.clone(),
            sentinels: topology
                .sentinels()
                .map(|n| (n.name.clone(), n.host_addr))
                .collect(),
            addrs: topology.addr_map(),
            auth: topology.auth(),
        }
    }

    /// Every sentinel's answer, asked concurrently, in sentinel order;
    /// sentinels that do not answer in time are listed in the error strings.
    pub async fn ask_all(&self) -> (Vec<MasterAnswer>, Vec<String>) {
        let asks = self.sentinels.iter().map(|(name, addr)| async move {
            let r = ask_one(*addr, &self.auth, &self.master_name).await;
            (name.clone(), r)
        });
        let mut answers = Vec::new();
        let mut errors = Vec::new();
        for (name, r) in futures::future::join_all(asks).await {
            match r {
                Ok(internal) => {
                    let host = self.addrs.resolve(&internal);
                    answers.push(MasterAnswer {
                        sentinel: name,
                        internal,
                        host,
                    });
                }
                Err(e) => errors.push(format!("{name}: {e}")),
            }
        }
        (answers, errors)
    }

    /// The master's host address by [`MasterRule::MOST_ANSWERS`] (see
    /// [`super::master`]).
    pub async fn master_addr(&self) -> Result<SocketAddr, ResolveError> {
        if self.sentinels.is_empty() {
            return Err(ResolveError::NoSentinels);
        }
        let (answers, errors) = self.ask_all().await;
        let named: Vec<Option<&str>> = answers.iter().map(|a| Some(a.internal.as_str())).collect();
        let Some(best) = master::decide(&named, &[], MasterRule::MOST_ANSWERS) else {
            return Err(ResolveError::NoAnswer {
                master_name: self.master_name.clone(),
                tried: self
                    .sentinels
                    .iter()
                    .map(|(n, a)| format!("{n} at {a}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                last_error: errors.last().cloned().unwrap_or_default(),
            });
        };
        self.addrs
            .resolve(best)
            .ok_or_else(|| ResolveError::Unmapped {
                master_name: self.master_name.clone(),
                addr: best.to_string(),
            })
    }
}

/// The master's host address in `topology`: by the sentinels
/// ([`SentinelSet::master_addr`]), or, in a topology without sentinels,
/// the node it started as master (`redis-1`). For the callers that ask
/// once: the naive client and `grabstorm audit`.
pub async fn master_or_first_node(topology: &Topology) -> Result<SocketAddr, ResolveError> {
    match SentinelSet::from_topology(topology).master_addr().await {
        Err(ResolveError::NoSentinels) => topology
            .node("redis-1")
            .map(|n| n.host_addr)
            .ok_or(ResolveError::NoSentinelsNorFirstNode),
        found => found,
    }
}

/// `SENTINEL GET-MASTER-ADDR-BY-NAME` on one sentinel, on a connection of
/// its own, as `ip:port` (internal), within [`SENTINEL_TIMEOUT`].
pub async fn ask_one(
    sentinel: SocketAddr,
    auth: &Auth,
    master_name: &str,
) -> anyhow::Result<String> {
    let work = async {
        let mut conn = probe::connect(sentinel, auth, SENTINEL_TIMEOUT)
            .await
            .map_err(anyhow::Error::msg)?;
        master_addr_by_name(&mut conn, master_name, SENTINEL_TIMEOUT)
            .await
            .map_err(anyhow::Error::msg)?
            .ok_or_else(|| {
                anyhow::anyhow!("sentinel at {sentinel} does not monitor {master_name:?}")
            })
    };
    tokio::time::timeout(SENTINEL_TIMEOUT, work)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {SENTINEL_TIMEOUT:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_read_from_sentinel_fields() {
        let fields: HashMap<String, String> = [
            ("ip", "172.18.0.3"),
            ("port", "6379"),
            ("flags", "slave,s_down"),
            ("master-link-status", "err"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let i = Instance::from_fields(&fields);
        assert_eq!(i.addr.as_deref(), Some("172.18.0.3:6379"));
        assert!(i.has_flag("s_down") && !i.flags_are(&["slave"]));
        assert_eq!(i.flags_text(), "slave,s_down");
        assert_eq!(i.master_link_status.as_deref(), Some("err"));
        assert!(Instance::from_fields(&HashMap::new()).flags_are(&[]));
    }
}
