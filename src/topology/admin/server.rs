//! `INFO server`: what a node says of the server it runs (its version).

use super::probe;
use super::replication::READ_TIMEOUT;
use crate::topology::Auth;
use std::net::SocketAddr;

/// The `redis_version` line of an `INFO server` reply.
pub fn parse_version(info: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.trim().strip_prefix("redis_version:"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The Redis version of the node at `addr`, or `None` when it does not
/// answer within [`READ_TIMEOUT`] (twice: to connect, then to reply).
pub async fn redis_version(addr: SocketAddr, auth: &Auth) -> Option<String> {
    let mut conn = probe::connect(addr, auth, READ_TIMEOUT).await.ok()?;
    let mut cmd = redis::cmd("INFO");
    cmd.arg("server");
    let info: String = probe::query(&mut conn, &cmd, READ_TIMEOUT).await.ok()?;
    parse_version(&info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_line_is_read() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n";
        assert_eq!(parse_version(info).as_deref(), Some("7.0.15"));
        assert_eq!(parse_version("# Server\r\n"), None);
    }
}
