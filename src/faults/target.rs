//! Turning a [`Target`] into node names at the moment of injection, from
//! live roles: `master` is whoever the sentinels name now (or, with no
//! sentinel answering, the node whose `INFO replication` says master),
//! `replica-N` the N-th of the nodes that are replicas now, in name order.
//! In Cluster mode `master-K` (and `master` = `master-1`) is shard K's
//! master now and `replica-K` a replica of shard K now, by the one rule of
//! [`crate::topology::cluster::shard_nodes`].

use super::{FaultError, FaultKind, Target};
use crate::topology::admin::replication::{self, Replication};
use crate::topology::admin::sentinel::SentinelSet;
use crate::topology::{Backend, ProcessState, Topology};

pub use crate::topology::plan::name_order;

/// The current master's node name: asked of the sentinels by
/// [`MasterRule::MOST_ANSWERS`](crate::topology::admin::master::MasterRule)
/// (a lagging sentinel must not stop a fault), else, with no sentinel
/// answering with a known address, the first node that says it is master.
pub async fn current_master(topology: &Topology) -> Result<String, FaultError> {
    let set = SentinelSet::from_topology(topology);
    if let Ok(addr) = set.master_addr().await {
        if let Some(node) = topology.node_by_addr(&addr.to_string()) {
            return Ok(node.name.clone());
        }
    }
    let redis: Vec<_> = topology.redis_nodes().collect();
    let auth = topology.auth();
    let roles =
        futures::future::join_all(redis.iter().map(|n| replication::read(n.host_addr, &auth)))
            .await;
    redis
        .iter()
        .zip(roles)
        .find(|(_, r)| r.as_ref().is_some_and(Replication::is_master))
        .map(|(n, _)| n.name.clone())
        .ok_or(FaultError::NoMaster)
}

/// The Redis nodes that are replicas right now, in name order.
pub async fn current_replicas(topology: &Topology) -> Vec<String> {
    let redis: Vec<_> = topology.redis_nodes().collect();
    let auth = topology.auth();
    let roles =
        futures::future::join_all(redis.iter().map(|n| replication::read(n.host_addr, &auth)))
            .await;
    let mut names: Vec<String> = redis
        .iter()
        .zip(roles)
        .filter(|(_, r)| r.as_ref().is_some_and(Replication::is_replica))
        .map(|(n, _)| n.name.clone())
        .collect();
    names.sort_by(|a, b| name_order(a, b));
    names
}

/// The nodes `target` means now, for a fault of `kind`.
pub async fn resolve(
    target: &Target,
    kind: FaultKind,
    topology: &Topology,
    backend: &dyn Backend,
) -> Result<Vec<String>, FaultError> {
    let named = |name: String| -> Result<Vec<String>, FaultError> {
        if topology.node(&name).is_some() {
            Ok(vec![name])
        } else {
            let mut known: Vec<String> = topology.nodes.iter().map(|n| n.name.clone()).collect();
            known.sort_by(|a, b| name_order(a, b));
            Err(FaultError::UnknownNode {
                name,
                known: known.join(", "),
            })
        }
    };
    // A node name is checked against the run's nodes below, by name.
    if !matches!(target, Target::All | Target::Node(_)) {
        target.check_in(&topology.spec)?;
    }
    if topology.spec.is_cluster() {
        let shard = match target {
            Target::Master => Some((1, true)),
            Target::ShardMaster(k) => Some((*k, true)),
            Target::Replica(k) => Some((*k, false)),
            _ => None,
        };
        if let Some((k, master)) = shard {
            let (m, mut replicas) = crate::topology::cluster::shard_nodes(topology, k)
                .await
                .map_err(|e| FaultError::Backend {
                    node: target.to_string(),
                    cause: format!("{e:#}"),
                })?;
            if master {
                return Ok(vec![m]);
            }
            replicas.sort_by(|a, b| name_order(a, b));
            return replicas.into_iter().next().map(|r| vec![r]).ok_or_else(|| {
                FaultError::NoSuchReplica {
                    target: target.to_string(),
                    replicas: format!("shard {k} (master {m}) has no replica now"),
                }
            });
        }
    }
    match target {
        Target::ShardMaster(_) => unreachable!("checked: master-K exists in Cluster mode only"),
        Target::Node(name) => named(name.clone()),
        Target::Sentinel(n) => named(format!("sentinel-{n}")),
        Target::Master => Ok(vec![current_master(topology).await?]),
        Target::AnyReplica | Target::Replica(_) => {
            let replicas = current_replicas(topology).await;
            let n = match target {
                Target::Replica(n) => *n,
                _ => 1,
            };
            replicas
                .get(n - 1)
                .cloned()
                .map(|r| vec![r])
                .ok_or_else(|| FaultError::NoSuchReplica {
                    target: target.to_string(),
                    replicas: if replicas.is_empty() {
                        "none".into()
                    } else {
                        replicas.join(", ")
                    },
                })
        }
        Target::All => {
            let wanted = match kind {
                FaultKind::Restart => ProcessState::Exited,
                FaultKind::Resume => ProcessState::Paused,
                // `heal all` never gets here: the injector undoes every cut
                // in one round (`Injector::heal_all`), without resolving.
                _ => return Err(FaultError::AllNotAllowed(kind)),
            };
            let mut picked = Vec::new();
            for n in &topology.nodes {
                let state =
                    backend
                        .state(topology, &n.name)
                        .await
                        .map_err(|e| FaultError::Backend {
                            node: n.name.clone(),
                            cause: format!("{e:#}"),
                        })?;
                if state == wanted {
                    picked.push(n.name.clone());
                }
            }
            if picked.is_empty() {
                return Err(FaultError::NothingToDo(match kind {
                    FaultKind::Restart => "every node is running: nothing to restart".into(),
                    _ => "no node is paused: nothing to resume".into(),
                }));
            }
            picked.sort_by(|a, b| name_order(a, b));
            Ok(picked)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_number() {
        let mut v = vec!["redis-10", "sentinel-1", "redis-2", "redis-1"];
        v.sort_by(|a, b| name_order(a, b));
        assert_eq!(v, ["redis-1", "redis-2", "redis-10", "sentinel-1"]);
    }
}
