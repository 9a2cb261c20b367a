//! Metrics: per-grabber latency histograms and counters merged on a snapshot
//! tick, the error classes, the [`Snapshot`] the engine publishes for the
//! dashboard, the headless runner and the report, the event timeline, and
//! the losses the audit found, attributed to their causes.

pub mod aggregate;
pub mod event;
pub mod losses;
pub mod recorder;
pub mod snapshot;
pub mod timeline;

pub use event::{Event, EventBus, EventKind};
pub use snapshot::*;
