//! Asking the sentinels where the master is: `SENTINEL get-master-addr-by-name`
//! on every sentinel at once (each with a short timeout), the answers mapped
//! from internal addresses to host addresses, the most common answer wins.

use super::Auth;
use crate::topology::{AddrMap, Topology};
use std::net::SocketAddr;
use std::time::Duration;

/// Time allowed for one sentinel to answer one question (connect included).
pub const SENTINEL_TIMEOUT: Duration = Duration::from_millis(400);

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

/// One sentinel's answer.
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

    /// Every sentinel's answer, asked concurrently; sentinels that do not
    /// answer in time are listed in the error strings.
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

    /// The master's host address by the most common answer among the
    /// sentinels that answered (ties go to the lowest-numbered sentinel).
    pub async fn master_addr(&self) -> Result<SocketAddr, ResolveError> {
        if self.sentinels.is_empty() {
            return Err(ResolveError::NoSentinels);
        }
        let (answers, errors) = self.ask_all().await;
        if answers.is_empty() {
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
        }
        let best = most_common(&answers);
        best.host.ok_or_else(|| ResolveError::Unmapped {
            master_name: self.master_name.clone(),
            addr: best.internal.clone(),
        })
    }
}

fn most_common(answers: &[MasterAnswer]) -> &MasterAnswer {
    let mut best = &answers[0];
    let mut best_count = 0;
    for a in answers {
        let count = answers.iter().filter(|b| b.internal == a.internal).count();
        if count > best_count {
            best = a;
            best_count = count;
        }
    }
    best
}

/// `SENTINEL get-master-addr-by-name` on one sentinel, as `ip:port`.
pub async fn ask_one(
    sentinel: SocketAddr,
    auth: &Auth,
    master_name: &str,
) -> anyhow::Result<String> {
    let work = async {
        let mut conn = super::open(sentinel, auth, SENTINEL_TIMEOUT, SENTINEL_TIMEOUT).await?;
        let reply: Option<(String, String)> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(master_name)
            .query_async(&mut conn)
            .await?;
        let (host, port) = reply.ok_or_else(|| {
            anyhow::anyhow!("sentinel at {sentinel} does not monitor {master_name:?}")
        })?;
        Ok::<_, anyhow::Error>(format!("{host}:{port}"))
    };
    tokio::time::timeout(SENTINEL_TIMEOUT, work)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {SENTINEL_TIMEOUT:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_common_answer_wins() {
        let a = |s: &str, i: &str| MasterAnswer {
            sentinel: s.into(),
            internal: i.into(),
            host: None,
        };
        let answers = [a("s1", "x:1"), a("s2", "y:1"), a("s3", "y:1")];
        assert_eq!(most_common(&answers).internal, "y:1");
        let tie = [a("s1", "x:1"), a("s2", "y:1")];
        assert_eq!(most_common(&tie).internal, "x:1");
    }
}
