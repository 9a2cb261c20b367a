//! Integration tests, one binary, against real Redis processes and real
//! containers. Each module owns one area; `support` starts what they share.

mod support;

mod attach;
mod audit_cli;
mod audit_truth;
mod auth;
mod cluster;
mod cluster_lab;
mod cluster_migrate;
mod cluster_reshard;
mod cluster_scale;
mod cluster_topology;
mod conventions;
mod export;
mod faults;
mod journal;
mod leftovers;
mod lesson;
mod limits;
mod locks;
mod losses;
mod ring;
mod scenario;
mod shipped;
mod signals;
mod topology_docker;
mod topology_local;
mod tui;
mod workload;
