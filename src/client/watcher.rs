//! The sentinel watcher: a subscription to every channel (`PSUBSCRIBE *`)
//! of every sentinel, each announcement recorded on the run's [`EventBus`]
//! as it arrives, so that the timeline holds Sentinel's own account of a
//! failover next to the faults and the client's moves. Subscribing goes
//! through [`super::subscribe`], like the pool's `+switch-master` listeners.

use super::{subscribe, Auth, Subscription};
use crate::metrics::{EventBus, EventKind};
use crate::topology::Topology;
use futures::StreamExt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Pause before trying a sentinel that went away again.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(250);

/// Subscribes to every channel (`PSUBSCRIBE *`) of every sentinel of
/// `topology` and records each announcement on `bus` as
/// [`EventKind::Sentinel`] with the sentinel's node name as source. A
/// sentinel that dies is subscribed to again when it comes back. The
/// returned task ends when `cancel` fires.
pub fn watch_sentinels(
    topology: &Topology,
    bus: EventBus,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let sentinels: Vec<(String, SocketAddr)> = topology
        .sentinels()
        .map(|n| (n.name.clone(), n.host_addr))
        .collect();
    let auth = topology.auth();
    tokio::spawn(async move {
        let watchers = sentinels.into_iter().map(|(name, addr)| {
            let bus = bus.clone();
            let cancel = cancel.clone();
            watch_one(name, addr, auth.clone(), bus, cancel)
        });
        futures::future::join_all(watchers).await;
    })
}

async fn watch_one(
    name: String,
    addr: SocketAddr,
    auth: Auth,
    bus: EventBus,
    cancel: CancellationToken,
) {
    let mut was_connected = false;
    loop {
        let subscribed = tokio::select! {
            _ = cancel.cancelled() => return,
            r = subscribe(addr, &auth, Subscription::Pattern("*")) => r,
        };
        match subscribed {
            Ok(mut stream) => {
                if was_connected {
                    tracing::info!(sentinel = %name, "sentinel events: subscribed again");
                }
                was_connected = true;
                loop {
                    let msg = tokio::select! {
                        _ = cancel.cancelled() => return,
                        m = stream.next() => m,
                    };
                    let Some(msg) = msg else { break };
                    let channel = msg.get_channel_name().to_string();
                    if channel.starts_with("__sentinel__") {
                        continue;
                    }
                    let payload: String = msg.get_payload().unwrap_or_default();
                    bus.emit(
                        name.clone(),
                        EventKind::Sentinel {
                            name: channel,
                            payload,
                        },
                    );
                }
                tracing::debug!(sentinel = %name, "sentinel events: subscription ended");
            }
            Err(e) => {
                tracing::debug!(sentinel = %name, error = %format!("{e:#}"), "sentinel events: not subscribed")
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(RESUBSCRIBE_DELAY) => {}
        }
    }
}
