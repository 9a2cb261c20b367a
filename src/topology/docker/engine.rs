//! The connection to the Docker engine: reaching it (the engine named by
//! `DOCKER_HOST`, answering a ping within seconds, so that an absent engine
//! never stalls `--backend auto`) and every call to it, each bounded by a
//! timeout and its error naming what was being done.

use anyhow::{bail, Context, Result};
use bollard::Docker;
use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// Bound on answering a ping when connecting: an absent engine must not stall `--backend auto`.
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on one engine call (create, start, inspect, kill, remove...).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound bollard puts on any request; the calls here have tighter bounds
/// of their own, except a pull the user asked for (see `image`).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(600);

/// Failures to reach the engine, with the fix in the message.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("no Docker engine answers at {host}: {cause}. Start Docker (e.g. `sudo systemctl start docker`), make sure this user may use its socket (group `docker`), or point DOCKER_HOST at a running engine; or use --backend local")]
    Unreachable { host: String, cause: String },
    #[error("{host} is not a usable Docker engine address ({cause}): unset DOCKER_HOST to use /var/run/docker.sock, or set it to unix:///path/to/docker.sock or tcp://HOST:PORT")]
    BadHost { host: String, cause: String },
}

/// Connects to the engine at `host` (`unix:///path`, `tcp://host:port`, as
/// DOCKER_HOST takes), negotiates the API version and pings it, within a
/// few seconds. Returns the connection and which engine answered, e.g.
/// `Docker engine 20.10.24 (API 1.41) at unix:///var/run/docker.sock`.
pub(super) async fn connect(host: &str) -> Result<(Docker, String)> {
    let host = host.to_string();
    let docker = Docker::connect_with_host(&host).map_err(|e| match e {
        bollard::errors::Error::SocketNotFoundError(path) => DockerError::Unreachable {
            host: host.clone(),
            cause: format!("the socket {path} does not exist"),
        },
        e => DockerError::BadHost {
            host: host.clone(),
            cause: e.to_string(),
        },
    })?;
    let unreachable = |cause: String| DockerError::Unreachable {
        host: host.clone(),
        cause,
    };
    let docker = match tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version()).await {
        Err(_) => return Err(unreachable(format!("no answer within {PING_TIMEOUT:?}")).into()),
        Ok(Err(e)) => return Err(unreachable(e.to_string()).into()),
        Ok(Ok(d)) => d.with_timeout(CLIENT_TIMEOUT),
    };
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Err(_) => {
            return Err(unreachable(format!("no answer to ping within {PING_TIMEOUT:?}")).into())
        }
        Ok(Err(e)) => return Err(unreachable(e.to_string()).into()),
        Ok(Ok(_)) => {}
    }
    let version = call("asking the Docker engine its version", docker.version()).await?;
    let engine = format!(
        "Docker engine {} (API {}) at {host}",
        version.version.as_deref().unwrap_or("?"),
        docker.client_version()
    );
    Ok((docker, engine))
}

/// Runs one engine call with a timeout; errors say what was being done.
pub(super) async fn call<T, F>(what: impl Display, fut: F) -> Result<T>
where
    F: Future<Output = Result<T, bollard::errors::Error>>,
{
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Err(_) => bail!("{what}: the Docker engine did not answer within {CALL_TIMEOUT:?}"),
        Ok(r) => r.with_context(|| what.to_string()),
    }
}

/// Whether the engine answered that the object does not exist.
pub(super) fn is_not_found(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<bollard::errors::Error>(),
        Some(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        })
    )
}
