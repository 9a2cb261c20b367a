//! The names a scenario file may use where a free string would hide typos:
//! events a step can wait for, and the closest-name suggestion (edit
//! distance) behind every "did you mean ...?".

/// Sentinel's own event channels (`PSUBSCRIBE *` on a sentinel shows these).
pub const SENTINEL_EVENTS: &[&str] = &[
    "+reset-master",
    "+slave",
    "+sentinel",
    "-dup-sentinel",
    "+sdown",
    "-sdown",
    "+odown",
    "-odown",
    "+new-epoch",
    "+try-failover",
    "+vote-for-leader",
    "+elected-leader",
    "+failover-state-select-slave",
    "+selected-slave",
    "-failover-abort-no-good-slave",
    "-failover-abort-not-elected",
    "+failover-state-send-slaveof-noone",
    "+failover-state-wait-promotion",
    "+promoted-slave",
    "+failover-state-reconf-slaves",
    "+slave-reconf-sent",
    "+slave-reconf-inprog",
    "+slave-reconf-done",
    "+failover-detected",
    "+failover-end",
    "+failover-end-for-timeout",
    "+switch-master",
    "+convert-to-slave",
    "+fix-slave-config",
    "+config-update-from",
    "+role-change",
    "-role-change",
    "+reboot",
    "+tilt",
    "-tilt",
];

/// The lab's own events (the `type` of an event in report.json).
pub const LAB_EVENTS: &[&str] = &[
    "fault_injected",
    "fault_healed",
    "node_started",
    "node_stopped",
    "client_rerouted",
    "writes_recovered",
    "load_changed",
    "lock_violation",
    "cluster_flagged",
    "cluster_promoted",
    "cluster_state",
    "cluster_rejoined",
    "reshard_started",
    "reshard_progress",
    "reshard_ended",
    "scale_started",
    "scale_progress",
    "scale_ended",
];

/// Levenshtein distance between two short names.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `found`, if it is close enough to be a typo
/// (at most a third of the word's length, and at least 1 edit allowed).
pub fn closest<'a>(found: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let found_lower = found.to_ascii_lowercase();
    let limit = (found.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&found_lower, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_single_edits() {
        assert_eq!(edit_distance("segfalt", "segfault"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn closest_suggests_only_plausible_typos() {
        let kinds = ["segfault", "shutdown", "kill", "pause"];
        assert_eq!(closest("segfalt", kinds), Some("segfault"));
        assert_eq!(closest("SEGFAULT", kinds), Some("segfault"));
        assert_eq!(closest("explode", kinds), None);
        assert_eq!(
            closest("+switch-mastr", SENTINEL_EVENTS.iter().copied()),
            Some("+switch-master")
        );
    }
}
