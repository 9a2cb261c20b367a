//! How the host opens a connection to a node: a loopback address and the
//! run's credentials ([`Auth`]), bounded in time. The one place every part
//! of the lab (the client, the observer, faults, the audit) opens one.

use redis::aio::MultiplexedConnection;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The credentials a connection authenticates with: the run's password
/// (see [`Topology::auth`](super::Topology::auth)), or none (a standalone server). Passed along
/// with every address; cheap to clone. Its `Debug` never shows the secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Auth {
    password: Option<Arc<str>>,
}

impl Auth {
    /// No credentials.
    pub fn none() -> Auth {
        Auth::default()
    }

    /// `AUTH <password>` on connect, when there is one.
    pub fn password(password: Option<&str>) -> Auth {
        Auth {
            password: password.map(Arc::from),
        }
    }

    pub fn as_password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Where and how to connect to `addr`. Every connection the host opens
    /// passes here, so this is where an address that is not loopback is
    /// refused: the host never sends a packet anywhere else.
    pub(crate) fn connection_info(
        &self,
        addr: SocketAddr,
    ) -> redis::RedisResult<redis::ConnectionInfo> {
        use redis::IntoConnectionInfo;
        if !addr.ip().is_loopback() {
            return Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "refusing to connect to an address that is not loopback",
                addr.to_string(),
            )));
        }
        let info = format!("redis://{addr}/").into_connection_info()?;
        Ok(match &self.password {
            Some(pw) => {
                let settings = info.redis_settings().clone().set_password(pw.as_ref());
                info.set_redis_settings(settings)
            }
            None => info,
        })
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.password {
            Some(_) => "Auth(password)",
            None => "Auth(none)",
        })
    }
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect: {0}")]
    Failed(#[from] redis::RedisError),
    #[error("no answer to connect within {0:?}")]
    TimedOut(Duration),
}

/// Opens a multiplexed connection to a loopback address, giving up after
/// `timeout`; commands on it time out after `response_timeout`.
pub async fn open(
    addr: SocketAddr,
    auth: &Auth,
    timeout: Duration,
    response_timeout: Duration,
) -> Result<MultiplexedConnection, ConnectError> {
    let client = redis::Client::open(auth.connection_info(addr)?)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(response_timeout));
    tokio::time::timeout(
        timeout,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    .map_err(|_| ConnectError::TimedOut(timeout))?
    .map_err(ConnectError::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_get_a_connection() {
        let auth = Auth::password(Some("pw"));
        for ok in ["127.0.0.1:6379", "127.5.6.7:1", "[::1]:6379"] {
            assert!(auth.connection_info(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for refused in ["10.0.0.5:6379", "172.18.0.3:6379", "[2001:db8::1]:6379"] {
            let e = auth.connection_info(refused.parse().unwrap()).unwrap_err();
            assert!(e.to_string().contains("not loopback"), "{refused}: {e}");
        }
    }
}
