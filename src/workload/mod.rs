//! Workload: the grabbers (tokio tasks) and what they do to Redis: red
//! packets, seckill and distributed locks, each in an `atomic`/safe mode and
//! a naive mode that shows what goes wrong without atomicity.

pub mod engine;
pub mod grabber;
pub mod lock;
pub mod redpacket;
pub mod rounds;
pub mod seckill;

pub use crate::kinds::{LockKind, Mode, WorkloadKind};
