//! The exit statuses, one rule for every command: 0 every check held, 1 a
//! check failed or could not be made, 2 bad usage or input, 3 the lab could
//! not run (no Docker engine, no redis-server, no running topology, Redis
//! unreachable); 128 + N when signal N stopped it.
//!
//! A command that decides its status itself returns it (`Ok(Exit::Failed
//! .into())`). An error says its status by what failed: [`Exit::of`] reads
//! the typed errors in its chain (a Docker engine that does not answer is
//! 3, an impossible spec is 2), and a command tags the errors of a step
//! whose failure means more than its type says with [`ExitAs::or_exit`].
//! `main` turns an error into its status with [`Exit::of`].

use crate::faults::FaultError;
use crate::topology::admin::sentinel::ResolveError;
use crate::topology::conn::ConnectError;
use crate::topology::docker::DockerError;
use crate::topology::external::AttachError;
use crate::topology::guard::StartError;
use crate::topology::local::LocalError;
use crate::topology::scale::ScaleError;
use crate::topology::state::StateError;
use crate::topology::SpecError;
use std::process::ExitCode;

/// What a command's end means, as its exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// A check failed (an expectation, the audit), or could not be made.
    Failed = 1,
    /// Bad usage or input: a flag, a file, a refused request.
    Usage = 2,
    /// The lab could not run: no Docker engine, no redis-server, no running
    /// topology, Redis unreachable.
    LabDown = 3,
}

impl Exit {
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The status `e` means: its tag if a command gave it one, else what
    /// the typed errors in its chain say, else bad usage or input.
    pub fn of(e: &anyhow::Error) -> Exit {
        Exit::of_or(e, Exit::Usage)
    }

    /// The status `e` means, `otherwise` when it says none by itself.
    pub fn of_or(e: &anyhow::Error, otherwise: Exit) -> Exit {
        Exit::known(e).unwrap_or(otherwise)
    }

    /// The status `e` says by itself, if any.
    fn known(e: &anyhow::Error) -> Option<Exit> {
        if let Some(t) = e.downcast_ref::<Tagged>() {
            return Some(t.exit);
        }
        e.chain().find_map(|cause| {
            // Nobody to ask or the backend failed: the lab is down; any
            // other fault error is a refusal of the request.
            let fault_lab_down = matches!(
                cause.downcast_ref(),
                Some(FaultError::NoMaster | FaultError::Backend { .. })
            );
            // Attaching: a wrong address or name is bad input; nobody
            // answering is a lab that cannot run.
            let attach = cause.downcast_ref::<AttachError>();
            let usage = attach.is_some_and(AttachError::is_usage)
                || cause.is::<SpecError>()
                || (cause.is::<FaultError>() && !fault_lab_down)
                || cause.is::<ScaleError>()
                || matches!(cause.downcast_ref(), Some(StartError::Spec(_)));
            let lab_down = fault_lab_down
                || attach.is_some_and(|a| !a.is_usage())
                || cause.is::<StateError>()
                || cause.is::<DockerError>()
                || cause.is::<ConnectError>()
                || matches!(
                    cause.downcast_ref(),
                    Some(
                        LocalError::MissingBinary
                            | LocalError::PortClash { .. }
                            | LocalError::StartFailed { .. }
                    )
                )
                || matches!(cause.downcast_ref(), Some(ResolveError::NoAnswer { .. }))
                || cause.downcast_ref::<redis::RedisError>().is_some_and(|r| {
                    r.is_io_error() || r.is_connection_refusal() || r.is_timeout()
                });
            match (usage, lab_down) {
                (true, _) => Some(Exit::Usage),
                (_, true) => Some(Exit::LabDown),
                _ => None,
            }
        })
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// An error tagged with the status it means; shows as the error it wraps.
#[derive(Debug)]
struct Tagged {
    exit: Exit,
    error: anyhow::Error,
}

impl std::fmt::Display for Tagged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for Tagged {}

/// Tags the error of a step with the status its failure means.
pub trait ExitAs<T> {
    /// On error, tag it `exit` unless what failed says otherwise (an
    /// impossible spec stays bad input where starting a lab fails).
    fn or_exit(self, exit: Exit) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> ExitAs<T> for Result<T, E> {
    fn or_exit(self, exit: Exit) -> anyhow::Result<T> {
        self.map_err(|e| {
            let error = e.into();
            let exit = Exit::known(&error).unwrap_or(exit);
            anyhow::Error::new(Tagged { exit, error })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn an_error_says_its_status_by_what_failed() {
        let no_topology = anyhow::Error::new(StateError::NoTopology("/x/state.json".into()))
            .context("reading the state");
        assert_eq!(Exit::of(&no_topology), Exit::LabDown);
        let no_docker = anyhow::Error::new(DockerError::Unreachable {
            host: "unix:///var/run/docker.sock".into(),
            cause: "no such file".into(),
        });
        assert_eq!(Exit::of(&no_docker), Exit::LabDown);
        let bad_spec = anyhow::Error::new(StartError::Spec(SpecError::QuorumZero));
        assert_eq!(Exit::of(&bad_spec), Exit::Usage);
        assert_eq!(Exit::of(&anyhow::anyhow!("something else")), Exit::Usage);
    }

    #[test]
    fn a_tag_decides_unless_the_error_says_otherwise() {
        let r: Result<(), _> = Err(anyhow::anyhow!("redis-server did not answer"));
        let e = r.or_exit(Exit::LabDown).context("starting").unwrap_err();
        assert_eq!(Exit::of(&e), Exit::LabDown);
        assert_eq!(format!("{e:#}"), "starting: redis-server did not answer");
        let r: Result<(), _> = Err(StartError::Spec(SpecError::QuorumZero));
        assert_eq!(
            Exit::of(&r.or_exit(Exit::LabDown).unwrap_err()),
            Exit::Usage
        );
    }
}
