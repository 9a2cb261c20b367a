//! Backend selection: `--backend auto|docker|local`. Auto picks Docker when
//! an engine answers within a short time, else local processes, and says
//! which and why, so the user is never surprised by where the nodes run.

use super::docker::DockerError;
use super::local::LocalBackend;
use super::{Backend, BackendKind};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Which backend to use (`--backend`, a scenario's `backend` key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// Docker when an engine answers, else local processes.
    #[default]
    Auto,
    Docker,
    Local,
}

impl BackendChoice {
    /// Every choice, in the order `--help` lists them.
    pub const ALL: [BackendChoice; 3] = [
        BackendChoice::Auto,
        BackendChoice::Docker,
        BackendChoice::Local,
    ];

    /// The word a user writes for it (flag value, scenario key).
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Docker => "docker",
            BackendChoice::Local => "local",
        }
    }

    /// The backend this choice names for sure (`None` for auto: it depends
    /// on whether an engine answers).
    pub fn kind(self) -> Option<BackendKind> {
        match self {
            BackendChoice::Auto => None,
            BackendChoice::Docker => Some(BackendKind::Docker),
            BackendChoice::Local => Some(BackendKind::Local),
        }
    }
}

/// Where a topology is to be started: the backend, and the Docker image
/// when it is Docker (None: a local redis:7* image, else one built here).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendSelection {
    pub choice: BackendChoice,
    pub image: Option<String>,
}

/// How long `auto` waits for a Docker engine to answer.
const DOCKER_PROBE: Duration = Duration::from_secs(3);

/// The backend for `choice`, and a sentence saying why it was chosen.
/// Local runs keep their dirs under the default state dir
/// ([`crate::logging::state_dir`]); commands with `--state-dir` call
/// [`backend_in`].
pub async fn backend(
    choice: BackendChoice,
    image: Option<String>,
) -> anyhow::Result<(Arc<dyn Backend>, String)> {
    backend_in(choice, image, &crate::logging::state_dir(None)).await
}

/// [`backend`], with local run dirs under `state_dir`.
pub async fn backend_in(
    choice: BackendChoice,
    image: Option<String>,
    state_dir: &Path,
) -> anyhow::Result<(Arc<dyn Backend>, String)> {
    let local = || -> Arc<dyn Backend> { Arc::new(LocalBackend::new(state_dir)) };
    match choice {
        BackendChoice::Local => Ok((local(), "as asked with --backend local".into())),
        BackendChoice::Docker => connect_docker(image, state_dir).await,
        BackendChoice::Auto => match connect_docker(image, state_dir).await {
            Ok(found) => Ok(found),
            Err(e) => {
                let cause = match e.downcast_ref::<DockerError>() {
                    Some(DockerError::Unreachable { host, cause }) => format!("at {host}: {cause}"),
                    _ => format!("{e:#}"),
                };
                Ok((
                    local(),
                    format!("no Docker engine answered ({cause}): using local processes"),
                ))
            }
        },
    }
}

/// The backend that runs an existing topology (for `status`, `down`, faults).
pub async fn backend_of(
    kind: BackendKind,
    state_dir: &Path,
) -> anyhow::Result<(Arc<dyn Backend>, String)> {
    let choice = match kind {
        BackendKind::Docker => BackendChoice::Docker,
        BackendKind::Local => BackendChoice::Local,
        BackendKind::External => {
            return Ok((
                Arc::new(super::external::ExternalBackend),
                "attached: grabstorm did not start this topology".into(),
            ))
        }
    };
    backend_in(choice, None, state_dir).await
}

/// Connects to the Docker engine through the Docker backend, bounded in time.
async fn connect_docker(
    image: Option<String>,
    state_dir: &Path,
) -> anyhow::Result<(Arc<dyn Backend>, String)> {
    let connect = super::docker::DockerBackend::connect(image);
    match tokio::time::timeout(DOCKER_PROBE, connect).await {
        Ok(Ok(docker)) => {
            let why = format!("{} answered", docker.engine());
            Ok((Arc::new(docker.with_state_dir(state_dir)), why))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(DockerError::Unreachable {
            host: std::env::var("DOCKER_HOST")
                .unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
            cause: format!("no answer within {DOCKER_PROBE:?}"),
        }
        .into()),
    }
}
