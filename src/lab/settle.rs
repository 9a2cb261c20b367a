//! Settling after the load: wait until the topology agrees on one master
//! before the audit reads it: [`MasterRule::SETTLED`], the strict option of
//! the one rule (every answering sentinel names it, it is the only node
//! saying master), twice in a row after faults. When it never does (no quorum, no master
//! left, two masters), say so: the audit then reads every data node.

use crate::metrics::EventKind;
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
