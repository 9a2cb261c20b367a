//! Integration tests, one binary, against real Redis processes and real
//! containers. Each module owns one area; `support` starts what they share.

mod support;

mod audit_cli;
mod faults;
mod locks;
mod losses;
mod scenario;
mod topology_docker;
mod topology_local;
mod tui;
mod workload;
