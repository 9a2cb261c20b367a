//! Audit: the journal of every acknowledged write ([`journal`]: compact
//! binary records, written off the hot path by one writer task) and, once the run settles,
//! the checks of it against what Redis holds. Each workload knows its own
//! checks (`Workload::audit` in `workload::grabber`); the lab runs
//! them against the settled master ([`crate::lab::audit_into`]), and
//! `grabstorm audit DIR` runs them again later from the journal alone.

pub mod journal;
