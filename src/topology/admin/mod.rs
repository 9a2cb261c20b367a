//! The Redis admin layer: what grabstorm asks Redis and Sentinel about the
//! topology, typed, each question written once. Everything above topology
//! (status, the lab's settle and audit, faults, the client, the workload)
//! reads the nodes through here.
//!
//! - [`probe`]: a connection and one command, each within a deadline.
//! - [`replication`]: `INFO replication`, typed, parsed once.
//! - [`sentinel`]: what the sentinels say, typed, each question once.
//! - [`master`]: THE rule for who the master is, and its options.
//! - [`errors`]: the one classifier of Redis errors.
//! - [`server`]: `INFO server` (the Redis version).
//! - [`cluster`]: what a Cluster node says (`CLUSTER NODES`, `CLUSTER INFO`)
//!   and the hash slot of a key.

pub mod cluster;
pub mod errors;
pub mod master;
pub(crate) mod probe;
pub mod replication;
pub mod sentinel;
pub mod server;
