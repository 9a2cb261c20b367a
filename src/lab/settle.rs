//! Settling after the load: wait until the topology agrees on one master
//! before the audit reads it. When it never does (no quorum, no master
//! left, two masters), say so: the audit then reads every data node.

use crate::metrics::{EventKind, Role, TopologyView};
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
            let agreed = settled_master(&view);
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
                let masters = live_masters(&view);
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

/// The Redis nodes that answer and say they are master.
fn live_masters(view: &TopologyView) -> Vec<&str> {
    view.nodes
        .iter()
        .filter(|n| n.role == Role::Master && n.health == crate::metrics::Health::Up)
        .map(|n| n.name.as_str())
        .collect()
}

/// The master everybody agrees on: every sentinel that answers names it,
/// it is up and a master, and no other live Redis node claims to be master.
fn settled_master(view: &TopologyView) -> Option<String> {
    let masters = live_masters(view);
    if masters.len() != 1 || view.failover_in_progress {
        return None;
    }
    let m = masters[0];
    let sentinels_agree = view
        .nodes
        .iter()
        .filter(|n| n.role == Role::Sentinel && n.health == crate::metrics::Health::Up)
        .all(|n| n.sentinel_master.as_deref() == Some(m));
    sentinels_agree.then(|| m.to_string())
}
