//! Timed questions to one node: a connection opened within a deadline, and
//! one command run within a deadline, whose failure says what it means for
//! the connection it ran on (kept, dropped after a timeout, replaced).

use super::errors::{classify, ConnectionFate};
use crate::topology::Auth;
use redis::aio::MultiplexedConnection;
use std::net::SocketAddr;
use std::time::Duration;

/// Why a probe got no answer, as a short phrase for "last seen" messages.
pub(crate) type ProbeError = String;

/// Opens a connection to a loopback address, bounded by `timeout` (for the
/// connect and for each command on it).
pub(crate) async fn connect(
    addr: SocketAddr,
    auth: &Auth,
    timeout: Duration,
) -> Result<MultiplexedConnection, ProbeError> {
    crate::topology::conn::open(addr, auth, timeout, timeout)
        .await
        .map_err(|e| e.to_string())
}

/// Runs one command with a deadline.
pub(crate) async fn query<T: redis::FromRedisValue>(
    conn: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
    timeout: Duration,
) -> Result<T, ProbeError> {
    probe(conn, cmd, timeout).await.map_err(|f| f.message)
}

/// What a failed probe says about the connection it ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ConnVerdict {
    /// The node answered (an error reply): the connection is fine.
    Fine,
    /// No reply in time: the node may be frozen or stalled, and a request
    /// left on the connection would be answered, if ever, after the ones
    /// sent behind it.
    TimedOut,
    /// The connection is gone (reset, closed, refused), or nothing vouches
    /// for it: a multiplexed connection never reconnects by itself.
    Broken,
}

/// A probe that got no answer: the short phrase for messages, and the verdict
/// on the connection.
pub(crate) struct ProbeFailure {
    pub(crate) message: ProbeError,
    pub(crate) verdict: ConnVerdict,
}

/// [`query`], keeping the verdict on the connection.
pub(crate) async fn probe<T: redis::FromRedisValue>(
    conn: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
    timeout: Duration,
) -> Result<T, ProbeFailure> {
    match tokio::time::timeout(timeout, cmd.query_async::<T>(conn)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ProbeFailure {
            message: e.to_string(),
            verdict: match classify(&e).connection {
                ConnectionFate::Answered => ConnVerdict::Fine,
                // The connection's own response timeout.
                ConnectionFate::TimedOut => ConnVerdict::TimedOut,
                // Misread and desynced replies too: a connection nothing
                // vouches for is replaced.
                ConnectionFate::Misread | ConnectionFate::Desynced | ConnectionFate::Gone => {
                    ConnVerdict::Broken
                }
            },
        }),
        Err(_) => Err(ProbeFailure {
            message: format!("no reply within {timeout:?}"),
            verdict: ConnVerdict::TimedOut,
        }),
    }
}

/// The verdict on a connection after a probe's result.
pub(crate) fn verdict_of<T>(result: &Result<T, ProbeFailure>) -> ConnVerdict {
    result
        .as_ref()
        .err()
        .map_or(ConnVerdict::Fine, |f| f.verdict)
}
