//! What a Redis node says of its own replication (`INFO replication`),
//! typed: its role, the master it follows, the state of that link and its
//! own offset; and its bare `ROLE` ([`role`]), which the client asks on
//! the connection it is about to use. [`Replication::parse`] is the one parser of that text; the
//! status table, readiness, the lab's audit facts and the faults' targets
//! all read roles through it.

use super::probe::{self, ProbeError};
use crate::topology::Auth;
use redis::aio::MultiplexedConnection;
use std::net::SocketAddr;
use std::time::Duration;

/// Time a node gets to answer in a one-off [`read`] (connect included,
/// then again for the command).
pub const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// The role a node says it has in `INFO replication`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicationRole {
    Master,
    /// `role:slave`.
    Replica,
}

impl ReplicationRole {
    /// The word Redis itself uses (`master`, `slave`).
    pub fn redis_word(self) -> &'static str {
        match self {
            ReplicationRole::Master => "master",
            ReplicationRole::Replica => "slave",
        }
    }
}

/// What a Redis node says of its own replication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replication {
    pub role: ReplicationRole,
    /// For a replica: the address it replicates from (`host:port`, as the
    /// node gives it: map it before naming or connecting to it).
    pub master: Option<String>,
    /// For a replica: `master_link_status` as given (`up`, `down`).
    pub link_status: Option<String>,
    /// For a replica whose link is down: for how long, in seconds.
    pub link_down_s: Option<u64>,
    /// Its own replication offset (a replica's `slave_repl_offset`, else
    /// `master_repl_offset`).
    pub offset: Option<u64>,
    /// For a master: its replicas whose sync is done (`slaveN:...,state=online`).
    pub replicas_online: usize,
}

impl Replication {
    /// Parses `INFO replication` text (`field:value` lines, `#` headers).
    /// `None` when it names no role this layer knows.
    pub fn parse(text: &str) -> Option<Replication> {
        let field = |name: &str| {
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .find_map(|l| l.trim_end().strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let role = match field("role")? {
            "master" => ReplicationRole::Master,
            "slave" => ReplicationRole::Replica,
            _ => return None,
        };
        let master = match (field("master_host"), field("master_port")) {
            (Some(h), Some(p)) => Some(format!("{h}:{p}")),
            _ => None,
        };
        let own_offset = match role {
            ReplicationRole::Replica => field("slave_repl_offset"),
            ReplicationRole::Master => None,
        };
        Some(Replication {
            role,
            master,
            link_status: field("master_link_status").map(str::to_string),
            link_down_s: field("master_link_down_since_seconds").and_then(|v| v.parse().ok()),
            offset: own_offset
                .or_else(|| field("master_repl_offset"))
                .and_then(|v| v.parse().ok()),
            replicas_online: text
                .lines()
                .filter(|l| l.starts_with("slave") && l.contains("state=online"))
                .count(),
        })
    }

    /// Whether a replica's link to its master is up.
    pub fn link_up(&self) -> bool {
        self.link_status.as_deref() == Some("up")
    }

    pub fn is_master(&self) -> bool {
        self.role == ReplicationRole::Master
    }

    pub fn is_replica(&self) -> bool {
        self.role == ReplicationRole::Replica
    }
}

/// `INFO replication`, the one way it is asked.
pub(crate) fn command() -> redis::Cmd {
    let mut cmd = redis::cmd("INFO");
    cmd.arg("replication");
    cmd
}

/// `INFO replication` on an open connection, within `timeout`: `Ok(None)`
/// when the node answered without a role this layer knows.
pub(crate) async fn query(
    conn: &mut MultiplexedConnection,
    timeout: Duration,
) -> Result<Option<Replication>, ProbeError> {
    let text: String = probe::query(conn, &command(), timeout).await?;
    Ok(Replication::parse(&text))
}

/// What the node at `addr` says of its replication, on a connection of its
/// own, or `None` when it does not answer within [`READ_TIMEOUT`].
pub async fn read(addr: SocketAddr, auth: &Auth) -> Option<Replication> {
    let work = async {
        let mut conn = probe::connect(addr, auth, READ_TIMEOUT).await.ok()?;
        query(&mut conn, READ_TIMEOUT).await.ok().flatten()
    };
    tokio::time::timeout(READ_TIMEOUT * 2, work)
        .await
        .ok()
        .flatten()
}

/// `ROLE` on an open connection, within `timeout`: the first word of the
/// reply (`master`, `slave`, `sentinel`), the node's own word on the
/// connection the caller will use.
pub async fn role(conn: &mut MultiplexedConnection, timeout: Duration) -> anyhow::Result<String> {
    let reply = tokio::time::timeout(
        timeout,
        redis::cmd("ROLE").query_async::<redis::Value>(conn),
    )
    .await
    .map_err(|_| anyhow::anyhow!("ROLE got no answer within {timeout:?}"))??;
    match reply {
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::BulkString(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
            Some(redis::Value::SimpleString(s)) => Ok(s.clone()),
            other => anyhow::bail!("unexpected ROLE reply {other:?}"),
        },
        other => anyhow::bail!("unexpected ROLE reply {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_says_whom_it_follows_and_how() {
        let text = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:7001\r\nmaster_link_status:up\r\nslave_repl_offset:42\r\nmaster_repl_offset:50\r\n";
        let r = Replication::parse(text).unwrap();
        assert_eq!(r.role, ReplicationRole::Replica);
        assert_eq!(r.master.as_deref(), Some("127.0.0.1:7001"));
        assert!(r.link_up());
        assert_eq!(r.link_down_s, None);
        assert_eq!(r.offset, Some(42));
    }

    #[test]
    fn a_replica_whose_link_is_down_says_since_when() {
        let text = "# Replication\r\nrole:slave\r\nmaster_host:172.18.0.2\r\nmaster_port:6379\r\nmaster_link_status:down\r\nmaster_link_down_since_seconds:17\r\nslave_repl_offset:-1\r\nmaster_repl_offset:0\r\n";
        let r = Replication::parse(text).unwrap();
        assert!(!r.link_up());
        assert_eq!(r.link_status.as_deref(), Some("down"));
        assert_eq!(r.link_down_s, Some(17));
        // -1 (never synced) is no offset.
        assert_eq!(r.offset, None);
    }

    #[test]
    fn a_master_has_its_own_offset_and_no_master() {
        let text = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=7002,state=online,offset=99,lag=0\r\nmaster_repl_offset:99\r\n";
        let r = Replication::parse(text).unwrap();
        assert!(r.is_master());
        assert_eq!(r.master, None);
        assert!(!r.link_up());
        assert_eq!(r.offset, Some(99));
        assert_eq!(r.replicas_online, 1);
        // A replica still syncing is connected but not online.
        let syncing = text.replace("connected_slaves:2\r\n", "connected_slaves:2\r\nslave1:ip=127.0.0.1,port=7003,state=wait_bgsave,offset=0,lag=0\r\n");
        assert_eq!(Replication::parse(&syncing).unwrap().replicas_online, 1);
        let both = syncing.replace("state=wait_bgsave", "state=online");
        assert_eq!(Replication::parse(&both).unwrap().replicas_online, 2);
    }

    #[test]
    fn text_without_a_known_role_is_not_a_replication() {
        assert_eq!(Replication::parse("# Replication\r\n"), None);
        assert_eq!(Replication::parse("role:sentinel\r\n"), None);
    }
}
