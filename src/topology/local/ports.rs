//! Free loopback ports for the nodes of a local run.

use anyhow::Context;
use std::net::TcpListener;

/// Free ports on 127.0.0.1, all distinct: the listeners are held until every
/// port is picked. Racy against other processes by nature; a clash is
/// detected at launch and retried with a fresh port.
pub(super) fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .context("cannot bind a port on 127.0.0.1")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}
