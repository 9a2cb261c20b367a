//! The lock workload's settings: the [`LockConfig`] that scenario files, the
//! lab and the `--lock-*` flags ([`crate::cli::LockArgs`]) build (serde,
//! every field defaulted), and its checks.

use crate::workload::LockKind;
use serde::{Deserialize, Serialize};

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
