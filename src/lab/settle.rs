//! Settling after the load: wait until the topology agrees on one master
//! before the audit reads it: [`MasterRule::SETTLED`], the strict option of
//! the one rule (every answering sentinel names it, it is the only node
//! saying master), twice in a row after faults. When it never does (no quorum, no master
//! left, two masters), say so: the audit then reads every data node.
//! A Cluster settles when every answering node says `cluster_state:ok` and
//! all of them name the same master for every shard
//! ([`cluster::settled_masters`]), twice in a row after faults.

use crate::metrics::EventKind;
use crate::topology::admin::cluster;
use crate::topology::admin::master::{self, MasterRule};
use std::net::SocketAddr;
use std::time::Instant;

use super::{Lab, LabTarget, TOPOLOGY_POLL};

impl Lab {
    /// Waits (after faults) until the topology agrees on one master, and
    /// returns it; None when it did not within the settle timeout.
    pub(super) async fn settle(&self, faults: bool) -> Option<SocketAddr> {
        let (Some(shared), LabTarget::Start { .. } | LabTarget::Attach) =
            (&self.topology, &self.config.target)
        else {
            return Some(self.pool.current().master);
        };
        let deadline = Instant::now() + self.config.settle_timeout;
        let mut stable = 0;
        let mut last = None;
        let mut observer = crate::topology::live::Observer::new();
        loop {
            let t = shared.lock().await.clone();
            let view = observer
                .observe(&t, self.backend.as_ref().map(|b| b.as_ref()))
                .await;
            let agreed = master::of_view(&view, MasterRule::SETTLED);
            if agreed.is_some() && agreed == last {
                stable += 1;
            } else {
                stable = 0;
            }
            last = agreed.clone();
            if stable >= 2 || (!faults && agreed.is_some()) {
                let name = agreed.expect("settled has a master");
                self.bus.emit(
                    "lab",
                    EventKind::Note {
                        text: format!(
                            "topology settled: {name} is the master; auditing against it"
                        ),
                    },
                );
                match t.node(&name) {
                    Some(n) => return Some(n.host_addr),
                    None => tracing::warn!("the settled master {name} is not in the topology"),
                }
            }
            if Instant::now() >= deadline {
                let masters = master::claimants(&view);
                let state = match masters.as_slice() {
                    [] => "no node is an answering master".to_string(),
                    [one] => format!("{one} is master but the sentinels do not all name it"),
                    many => format!("{} all claim to be master", many.join(" and ")),
                };
                self.bus.emit(
                    "lab",
                    EventKind::Note {
                        text: format!(
                            "topology did not settle within {:?} ({state}); auditing every reachable data node",
                            self.config.settle_timeout
                        ),
                    },
                );
                return None;
            }
            tokio::time::sleep(TOPOLOGY_POLL).await;
        }
    }
}

impl Lab {
    /// Waits (after faults) until the cluster is ok everywhere and every
    /// answering node names the same master for each shard; returns those
    /// masters, shard 1 first. None when it did not within the settle
    /// timeout (a note says what was still wrong).
    pub(super) async fn settle_cluster(&self, faults: bool) -> Option<Vec<String>> {
        let shared = self.topology.as_ref()?;
        let deadline = Instant::now() + self.config.settle_timeout;
        let mut stable = 0;
        let mut last: Option<Vec<String>> = None;
        loop {
            let t = shared.lock().await.clone();
            let views = crate::topology::cluster::views(&t).await;
            let agreed = cluster::settled_masters(&t, &views);
            match (&agreed, &last) {
                (Ok(now), Some(before)) if now == before => stable += 1,
                _ => stable = 0,
            }
            last = agreed.as_ref().ok().cloned();
            if let Ok(masters) = &agreed {
                if stable >= 2 || !faults {
                    self.bus.emit(
                        "lab",
                        EventKind::Note {
                            text: format!(
                                "cluster settled: every node says ok; shard masters {}; auditing each key on its shard's master",
                                masters.join(", ")
                            ),
                        },
                    );
                    return Some(masters.clone());
                }
            }
            if Instant::now() >= deadline {
                let why = agreed.err().unwrap_or_else(|| "it kept changing".into());
                self.bus.emit(
                    "lab",
                    EventKind::Note {
                        text: format!(
                            "cluster did not settle within {:?} ({why}); auditing through the slot map the nodes give now",
                            self.config.settle_timeout
                        ),
                    },
                );
                return None;
            }
            tokio::time::sleep(TOPOLOGY_POLL).await;
        }
    }
}
