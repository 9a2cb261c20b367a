//! The lock workload's settings: the `--lock-*` flags ([`LockArgs`], flattened
//! into `load` and `tui`) and the [`LockConfig`] they produce, which scenario
//! files and the lab also build directly (serde, every field defaulted).

use crate::workload::LockKind;
use serde::{Deserialize, Serialize};

/// Lock workload flags of `grabstorm load` (and `tui`), flattened there.
#[derive(clap::Args, Debug, Clone, PartialEq)]
#[command(next_help_heading = "Locks")]
pub struct LockArgs {
    /// Lock kinds the lock grabbers use, split evenly between them
    /// (comma-separated: naive,safe,reentrant,fenced).
    #[arg(long = "lock-kinds", value_delimiter = ',', default_value = "safe")]
    pub lock_kinds: Vec<LockKind>,
    /// Lock keys per kind the grabbers contend for.
    #[arg(long = "lock-keys", default_value_t = 4, allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::LOCK_KEYS.parse::<usize>(s))]
    pub lock_keys: usize,
    /// Lock TTL in milliseconds.
    #[arg(long = "lock-ttl-ms", default_value_t = 1000, allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::LOCK_TTL_MS.parse::<u64>(s))]
    pub lock_ttl_ms: u64,
    /// Time the critical section holds the lock, in milliseconds; above the
    /// TTL it shows the classic failure (two holders).
    #[arg(long = "lock-hold-ms", default_value_t = 5, allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::LOCK_HOLD_MS.parse::<u64>(s))]
    pub lock_hold_ms: u64,
    /// Naive lock: how many grabbers die between SETNX and EXPIRE, leaving a
    /// lock without TTL.
    #[arg(long = "lock-die-between", default_value_t = 0, allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::LOCK_DIE_BETWEEN.parse::<u64>(s))]
    pub lock_die_between: u64,
    /// Naive lock: chance that an acquisition is one that dies (while deaths
    /// are left), drawn from the seed.
    #[arg(long = "lock-die-probability", default_value_t = 1.0)]
    pub lock_die_probability: f64,
    /// First retry backoff in milliseconds (doubles, jittered, up to 32x, so
    /// thousands of waiters do not flood Redis with attempts).
    #[arg(long = "lock-retry-ms", default_value_t = 2, allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::LOCK_RETRY_MS.parse::<u64>(s))]
    pub lock_retry_ms: u64,
    /// A grabber gives up acquiring after this many milliseconds (counted as failed).
    #[arg(long = "lock-max-wait-ms", default_value_t = 2000, allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::LOCK_MAX_WAIT_MS.parse::<u64>(s))]
    pub lock_max_wait_ms: u64,
    /// With --until-done: lock rounds (acquire, work, release) per lock grabber.
    #[arg(long = "lock-rounds", default_value_t = 10, allow_hyphen_values = true,
          value_parser = |s: &str| crate::limits::LOCK_ROUNDS.parse::<u64>(s))]
    pub lock_rounds: u64,
}

impl Default for LockArgs {
    fn default() -> Self {
        let c = LockConfig::default();
        LockArgs {
            lock_kinds: c.kinds,
            lock_keys: c.keys,
            lock_ttl_ms: c.ttl_ms,
            lock_hold_ms: c.hold_ms,
            lock_die_between: c.die_between,
            lock_die_probability: c.die_probability,
            lock_retry_ms: c.retry_ms,
            lock_max_wait_ms: c.max_wait_ms,
            lock_rounds: c.rounds,
        }
    }
}

impl LockArgs {
    pub fn config(&self) -> LockConfig {
        LockConfig {
            kinds: self.lock_kinds.clone(),
            keys: self.lock_keys,
            ttl_ms: self.lock_ttl_ms,
            hold_ms: self.lock_hold_ms,
            die_between: self.lock_die_between,
            die_probability: self.lock_die_probability,
            retry_ms: self.lock_retry_ms,
            max_wait_ms: self.lock_max_wait_ms,
            rounds: self.lock_rounds,
        }
    }
}

/// Errors in a lock configuration.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LockConfigError {
    #[error("no lock kind given (expected some of naive, safe, reentrant, fenced)")]
    NoKinds,
    #[error("lock kind `{0}` given twice")]
    DuplicateKind(LockKind),
    #[error("lock keys must be at least 1, got {0}")]
    NoKeys(usize),
    #[error("lock TTL must be at least 1 ms, got {0}")]
    ZeroTtl(u64),
    #[error("die probability must be within 0..=1, got {0}")]
    BadProbability(f64),
    #[error("max wait must be at least 1 ms")]
    ZeroMaxWait,
}

/// What the lock workload does. Serde for scenario files and the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockConfig {
    pub kinds: Vec<LockKind>,
    pub keys: usize,
    pub ttl_ms: u64,
    pub hold_ms: u64,
    pub die_between: u64,
    pub die_probability: f64,
    pub retry_ms: u64,
    pub max_wait_ms: u64,
    /// Rounds per grabber in `--until-done` runs.
    pub rounds: u64,
}

impl Default for LockConfig {
    fn default() -> Self {
        LockConfig {
            kinds: vec![LockKind::Safe],
            keys: 4,
            ttl_ms: 1000,
            hold_ms: 5,
            die_between: 0,
            die_probability: 1.0,
            retry_ms: 2,
            max_wait_ms: 2000,
            rounds: 10,
        }
    }
}

impl LockConfig {
    pub fn validate(&self) -> Result<(), LockConfigError> {
        if self.kinds.is_empty() {
            return Err(LockConfigError::NoKinds);
        }
        for (i, k) in self.kinds.iter().enumerate() {
            if self.kinds[..i].contains(k) {
                return Err(LockConfigError::DuplicateKind(*k));
            }
        }
        if self.keys == 0 {
            return Err(LockConfigError::NoKeys(self.keys));
        }
        if self.ttl_ms == 0 {
            return Err(LockConfigError::ZeroTtl(self.ttl_ms));
        }
        if !(0.0..=1.0).contains(&self.die_probability) {
            return Err(LockConfigError::BadProbability(self.die_probability));
        }
        if self.max_wait_ms == 0 {
            return Err(LockConfigError::ZeroMaxWait);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_names_the_problem() {
        assert!(LockConfig::default().validate().is_ok());
        let c = LockConfig {
            kinds: vec![],
            ..LockConfig::default()
        };
        assert_eq!(c.validate(), Err(LockConfigError::NoKinds));
        let c = LockConfig {
            kinds: vec![LockKind::Safe, LockKind::Safe],
            ..LockConfig::default()
        };
        assert_eq!(
            c.validate(),
            Err(LockConfigError::DuplicateKind(LockKind::Safe))
        );
        let c = LockConfig {
            die_probability: 1.5,
            ..LockConfig::default()
        };
        assert_eq!(c.validate(), Err(LockConfigError::BadProbability(1.5)));
        let c: LockConfig = toml::from_str("kinds = [\"naive\", \"fenced\"]\nttl_ms = 50").unwrap();
        assert_eq!(c.kinds, vec![LockKind::Naive, LockKind::Fenced]);
        assert_eq!(c.ttl_ms, 50);
        assert_eq!(c.keys, LockConfig::default().keys);
        assert!(toml::from_str::<LockConfig>("ttl = 5").is_err());
    }
}
