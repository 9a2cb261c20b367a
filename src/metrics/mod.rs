//! Metrics: per-grabber latency histograms and counters merged on a snapshot
//! tick, the error classes, the [`Snapshot`] the engine publishes for the
//! dashboard, the headless runner and the report, and the event timeline.

pub mod aggregate;
pub mod event;
pub mod losses;
pub mod recorder;
pub mod snapshot;
pub mod timeline;

pub use event::{Event, EventBus, EventKind};
pub use snapshot::*;
