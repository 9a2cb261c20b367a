//! The one classifier of Redis errors. Every failed Redis call is read once
//! into a [`RedisFailure`]: the [`ErrorClass`] the report counts it under,
//! and the [`ConnectionFate`] of the connection it ran on. Every decision
//! about an error is derived from those two: the workload's counters, the
//! client's "re-resolve the master?" ([`RedisFailure::re_resolve`]) and
//! "wait for new connections?" ([`RedisFailure::connection_dead`]), the
//! observer's "keep this connection?", a fault's "did the node go?".

use redis::{ErrorKind, RedisError, ServerErrorKind};
use serde::{Deserialize, Serialize};

/// Classes of errors the client sees, counted separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    Timeout,
    ConnectionRefused,
    ConnectionReset,
    Readonly,
    Loading,
    Masterdown,
    Noreplicas,
    Noscript,
    Other,
    /// Cluster: the keys of one command or script hash to different slots.
    #[serde(rename = "crossslot")]
    CrossSlot,
    /// Cluster: the slot has another master than the client thought (a
    /// naive client's stale map; the aware client follows it instead).
    Moved,
    /// Cluster: the slot is migrating and the key is on the importing node.
    Ask,
    /// Cluster: the cluster is down or the slot has no master
    /// (`CLUSTERDOWN`), or a multi-key command hit a slot mid-migration
    /// (`TRYAGAIN`).
    #[serde(rename = "clusterdown")]
    ClusterDown,
}

impl ErrorClass {
    /// Number of classes.
    pub const COUNT: usize = 13;

    /// New classes go at the end: a sample's outcome byte is its index.
    pub const ALL: [ErrorClass; Self::COUNT] = [
        ErrorClass::Timeout,
        ErrorClass::ConnectionRefused,
        ErrorClass::ConnectionReset,
        ErrorClass::Readonly,
        ErrorClass::Loading,
        ErrorClass::Masterdown,
        ErrorClass::Noreplicas,
        ErrorClass::Noscript,
        ErrorClass::Other,
        ErrorClass::CrossSlot,
        ErrorClass::Moved,
        ErrorClass::Ask,
        ErrorClass::ClusterDown,
    ];

    /// The class's index in [`ErrorClass::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::ConnectionRefused => "connection_refused",
            ErrorClass::ConnectionReset => "connection_reset",
            ErrorClass::Readonly => "readonly",
            ErrorClass::Loading => "loading",
            ErrorClass::Masterdown => "masterdown",
            ErrorClass::Noreplicas => "noreplicas",
            ErrorClass::Noscript => "noscript",
            ErrorClass::Other => "other",
            ErrorClass::CrossSlot => "crossslot",
            ErrorClass::Moved => "moved",
            ErrorClass::Ask => "ask",
            ErrorClass::ClusterDown => "clusterdown",
        }
    }
}

/// What a failed call says about the connection it ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConnectionFate {
    /// The node answered (an error reply): the connection is fine.
    Answered,
    /// The client could not use the reply (a type it did not expect): the
    /// node and the connection are probably fine, but nothing vouches for
    /// the connection either.
    Misread,
    /// No reply in time: the node may be frozen or stalled, and a request
    /// left on the connection would be answered, if ever, after the ones
    /// sent behind it.
    TimedOut,
    /// The client lost track of the stream (an unparsable reply, failed
    /// authentication): the connection must be replaced.
    Desynced,
    /// The connection is gone (reset, closed, refused): a multiplexed
    /// connection never reconnects by itself, and every later command on it
    /// fails at once.
    Gone,
}

/// One failed Redis call, classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedisFailure {
    pub class: ErrorClass,
    pub connection: ConnectionFate,
}

impl RedisFailure {
    /// The node written to is not the master (READONLY, MASTERDOWN).
    pub fn not_master(&self) -> bool {
        matches!(self.class, ErrorClass::Readonly | ErrorClass::Masterdown)
    }

    /// The connection or the node is gone, or may be (refused, reset,
    /// closed, timed out, desynced).
    pub fn connection_failed(&self) -> bool {
        matches!(
            self.connection,
            ConnectionFate::TimedOut | ConnectionFate::Desynced | ConnectionFate::Gone
        )
    }

    /// The connection is gone for good: a loop that retries on it never
    /// yields and starves the runtime. Timeouts are not: the connection may
    /// still answer.
    pub fn connection_dead(&self) -> bool {
        self.connection == ConnectionFate::Gone
    }

    /// Whether the client should ask again where the master is: the node
    /// said it is not the master, or the connection failed. NOREPLICAS,
    /// NOSCRIPT, LOADING, script errors...: the master is where we think.
    pub fn re_resolve(&self) -> bool {
        self.not_master() || self.connection_failed()
    }
}

/// Classifies a failed Redis call (see the module doc).
pub fn classify(e: &RedisError) -> RedisFailure {
    RedisFailure {
        class: class_of(e),
        connection: fate_of(e),
    }
}

/// What the error says about the connection.
fn fate_of(e: &RedisError) -> ConnectionFate {
    if e.is_timeout() {
        ConnectionFate::TimedOut
    } else if e.is_connection_dropped() || e.is_connection_refusal() || e.is_io_error() {
        ConnectionFate::Gone
    } else if e.code().is_some() {
        ConnectionFate::Answered
    } else if e.is_unrecoverable_error() {
        ConnectionFate::Desynced
    } else {
        ConnectionFate::Misread
    }
}

/// The class the report counts the error under.
fn class_of(e: &RedisError) -> ErrorClass {
    if e.is_timeout() {
        return ErrorClass::Timeout;
    }
    if e.is_connection_refusal() {
        return ErrorClass::ConnectionRefused;
    }
    match e.kind() {
        ErrorKind::Server(ServerErrorKind::ReadOnly) => return ErrorClass::Readonly,
        ErrorKind::Server(ServerErrorKind::BusyLoading) => return ErrorClass::Loading,
        ErrorKind::Server(ServerErrorKind::MasterDown) => return ErrorClass::Masterdown,
        ErrorKind::Server(ServerErrorKind::NoScript) => return ErrorClass::Noscript,
        ErrorKind::Server(ServerErrorKind::CrossSlot) => return ErrorClass::CrossSlot,
        ErrorKind::Server(ServerErrorKind::Moved) => return ErrorClass::Moved,
        ErrorKind::Server(ServerErrorKind::Ask) => return ErrorClass::Ask,
        ErrorKind::Server(ServerErrorKind::ClusterDown | ServerErrorKind::TryAgain) => {
            return ErrorClass::ClusterDown
        }
        _ => {}
    }
    match e.code() {
        Some("NOREPLICAS") => return ErrorClass::Noreplicas,
        Some("READONLY") => return ErrorClass::Readonly,
        Some("LOADING") => return ErrorClass::Loading,
        Some("MASTERDOWN") => return ErrorClass::Masterdown,
        Some("NOSCRIPT") => return ErrorClass::Noscript,
        Some("CROSSSLOT") => return ErrorClass::CrossSlot,
        Some("MOVED") => return ErrorClass::Moved,
        Some("ASK") => return ErrorClass::Ask,
        Some("CLUSTERDOWN") | Some("TRYAGAIN") => return ErrorClass::ClusterDown,
        _ => {}
    }
    if e.is_connection_dropped() || e.is_io_error() {
        return ErrorClass::ConnectionReset;
    }
    // Some client-side messages carry the cause only as text.
    let text = e.to_string();
    if text.contains("timed out") || text.contains("Timeout") {
        ErrorClass::Timeout
    } else if text.contains("refused") {
        ErrorClass::ConnectionRefused
    } else if text.contains("reset") || text.contains("closed") || text.contains("broken pipe") {
        ErrorClass::ConnectionReset
    } else {
        ErrorClass::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> RedisError {
        RedisError::from(std::io::Error::new(kind, "io"))
    }

    #[test]
    fn errors_are_classified_by_their_code() {
        let readonly = RedisError::from((
            ErrorKind::Extension,
            "READONLY",
            "You can't write against a read only replica.".to_string(),
        ));
        let _ = classify(&readonly);
        let refused = classify(&io(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(refused.class, ErrorClass::ConnectionRefused);
        let reset = classify(&io(std::io::ErrorKind::ConnectionReset));
        assert_eq!(reset.class, ErrorClass::ConnectionReset);
        let timeout = classify(&io(std::io::ErrorKind::TimedOut));
        assert_eq!(timeout.class, ErrorClass::Timeout);
    }

    #[test]
    fn decisions_follow_from_the_class_and_the_fate() {
        let reset = classify(&io(std::io::ErrorKind::ConnectionReset));
        assert_eq!(reset.connection, ConnectionFate::Gone);
        assert!(reset.connection_dead() && reset.re_resolve() && !reset.not_master());

        let timeout = classify(&io(std::io::ErrorKind::TimedOut));
        assert_eq!(timeout.connection, ConnectionFate::TimedOut);
        assert!(!timeout.connection_dead() && timeout.re_resolve());

        let readonly = classify(&RedisError::from((
            ErrorKind::Server(ServerErrorKind::ReadOnly),
            "You can't write against a read only replica.",
        )));
        assert_eq!(readonly.class, ErrorClass::Readonly);
        assert_eq!(readonly.connection, ConnectionFate::Answered);
        assert!(readonly.not_master() && readonly.re_resolve() && !readonly.connection_dead());

        let noscript = classify(&RedisError::from((
            ErrorKind::Server(ServerErrorKind::NoScript),
            "No matching script.",
        )));
        assert_eq!(noscript.class, ErrorClass::Noscript);
        assert!(!noscript.re_resolve());

        for (kind, class) in [
            (ServerErrorKind::CrossSlot, ErrorClass::CrossSlot),
            (ServerErrorKind::Moved, ErrorClass::Moved),
            (ServerErrorKind::Ask, ErrorClass::Ask),
            (ServerErrorKind::ClusterDown, ErrorClass::ClusterDown),
            (ServerErrorKind::TryAgain, ErrorClass::ClusterDown),
        ] {
            let f = classify(&RedisError::from((ErrorKind::Server(kind), "cluster")));
            assert_eq!(f.class, class);
            assert_eq!(f.connection, ConnectionFate::Answered);
            assert!(!f.re_resolve(), "{kind:?}");
        }
        for (i, c) in ErrorClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            // report.json and the words say the same name.
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
        }

        let typed = classify(&RedisError::from((
            ErrorKind::UnexpectedReturnType,
            "not an integer",
        )));
        assert_eq!(typed.connection, ConnectionFate::Misread);
        assert!(!typed.re_resolve());

        let auth = classify(&RedisError::from((
            ErrorKind::AuthenticationFailed,
            "WRONGPASS",
        )));
        assert_eq!(auth.connection, ConnectionFate::Desynced);
        assert!(auth.re_resolve() && !auth.connection_dead());
    }
}
