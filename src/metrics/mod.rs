//! Metrics: per-grabber latency histograms and counters merged on a snapshot
//! tick, the error classes, the [`Snapshot`] the engine publishes for the
//! dashboard, the headless runner and the report; the event timeline
//! ([`timeline`]), each event in plain words ([`explain`]), the failover
//! phases measured from it ([`failover`]), the latency of each second
//! ([`seconds`], also the HdrHistogram interval log), and the losses the audit found,
//! attributed to their causes ([`losses`]). Metrics never listens to Redis
//! itself: the client's sentinel watcher and the lab record on the
//! [`EventBus`].

pub mod aggregate;
mod cluster_failover;
pub mod event;
pub mod explain;
pub mod failover;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod losses;
pub mod recorder;
pub mod seconds;
pub mod snapshot;
pub mod timeline;

pub use event::{Event, EventBus, EventKind};
pub use snapshot::*;
