//! THE rule for who the master is. The sentinels that answer each name an
//! address (or none); the Redis nodes that answer each say whether they are
//! master (the *claimants*). The master is the address the sentinels agree
//! on, by one of two [`Agreement`]s, optionally confirmed by the nodes'
//! own roles ([`Confirm`]). The variants are options of this one rule,
//! [`decide`]; each caller picks the one it needs:
//!
//! - [`MasterRule::MOST_ANSWERS`]: the address most answering sentinels
//!   name, ties to the lowest-numbered sentinel. Used to *find* the master
//!   while things move: the client (which then confirms with the node's own
//!   `ROLE` on the connection it will use, and retries when it says
//!   replica), faults' `master` target, the lab's audit facts and
//!   `grabstorm audit`. A sentinel that lags one failover behind must not
//!   stop them.
//! - [`MasterRule::SETTLED`]: every answering sentinel names the same node,
//!   and that node is the only answering node that says it is master. Used
//!   by the lab's settle, which must not audit against a topology still
//!   moving: strict agreement, on purpose.
//!
//! With no sentinel to ask, callers that must still act say so in one
//! place each: faults' `master` target takes the first node that says it
//! is master (`faults::target::current_master`); the naive client and
//! `grabstorm audit` take the node started as master
//! ([`super::sentinel::master_or_first_node`]).
//!
//! [`claimants`] are the nodes that answer and say they are master; more
//! than one is split brain, in the words of `status` and settle.

use crate::topology::view::{Health, Role, TopologyView};

/// How the sentinels' answers choose a master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agreement {
    /// The address most answering sentinels name (ties: the first sentinel,
    /// in sentinel order, naming one of the tied addresses).
    MostAnswers,
    /// Every answering sentinel names the same address. No sentinel
    /// answering is no objection: the claimant then decides alone.
    Every,
}

/// What the nodes' own roles must say of the sentinels' choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirm {
    /// Nothing: the caller confirms (the client asks the node's `ROLE`).
    Nothing,
    /// The chosen node is the one and only answering node saying master.
    OnlyClaimant,
}

/// One choice of the options of the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MasterRule {
    pub agreement: Agreement,
    pub confirm: Confirm,
}

impl MasterRule {
    /// Finding the master while things move (see the module doc).
    pub const MOST_ANSWERS: MasterRule = MasterRule {
        agreement: Agreement::MostAnswers,
        confirm: Confirm::Nothing,
    };
    /// A topology that stopped moving (see the module doc).
    pub const SETTLED: MasterRule = MasterRule {
        agreement: Agreement::Every,
        confirm: Confirm::OnlyClaimant,
    };
}

/// The master by `rule`, from what each answering sentinel names (in
/// sentinel order; `None`: it names none) and the `claimants` (the
/// answering nodes that say they are master). `None`: no master by this rule.
pub fn decide<T: PartialEq + Copy>(
    named: &[Option<T>],
    claimants: &[T],
    rule: MasterRule,
) -> Option<T> {
    let chosen = match rule.agreement {
        Agreement::MostAnswers => most_answers(named),
        Agreement::Every => match named.first() {
            None => None,
            Some(first) => {
                if !named.iter().all(|n| n == first) {
                    return None;
                }
                Some((*first)?)
            }
        },
    };
    match rule.confirm {
        Confirm::Nothing => chosen,
        Confirm::OnlyClaimant => match (claimants, chosen) {
            ([only], None) if named.is_empty() => Some(*only),
            ([only], Some(c)) if *only == c => Some(c),
            _ => None,
        },
    }
}

/// The address most sentinels name; ties to the first one named.
fn most_answers<T: PartialEq + Copy>(named: &[Option<T>]) -> Option<T> {
    let mut best = None;
    let mut best_count = 0;
    for a in named.iter().flatten() {
        let count = named.iter().filter(|b| **b == Some(*a)).count();
        if count > best_count {
            best = Some(*a);
            best_count = count;
        }
    }
    best
}

/// The Redis nodes that answer and say they are master, in node order.
pub fn claimants(view: &TopologyView) -> Vec<&str> {
    view.nodes
        .iter()
        .filter(|n| n.role == Role::Master && n.health == Health::Up)
        .map(|n| n.name.as_str())
        .collect()
}

/// The master of an observed topology by `rule`: the sentinels that are up
/// answer with the master they name (`SENTINEL MASTER`), the claimants from
/// the nodes' own roles. A failover in progress (a sentinel's flag, or
/// answering sentinels naming different masters) is no master yet.
pub fn of_view(view: &TopologyView, rule: MasterRule) -> Option<String> {
    if view.failover_in_progress {
        return None;
    }
    let named: Vec<Option<&str>> = view
        .nodes
        .iter()
        .filter(|n| n.role == Role::Sentinel && n.health == Health::Up)
        .map(|n| n.sentinel_master.as_deref())
        .collect();
    decide(&named, &claimants(view), rule).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_answers_wins_and_ties_go_to_the_first_sentinel() {
        let rule = MasterRule::MOST_ANSWERS;
        assert_eq!(
            decide(&[Some("x:1"), Some("y:1"), Some("y:1")], &[], rule),
            Some("y:1")
        );
        assert_eq!(decide(&[Some("x:1"), Some("y:1")], &[], rule), Some("x:1"));
        assert_eq!(decide(&[None, Some("y:1")], &[], rule), Some("y:1"));
        assert_eq!(decide::<&str>(&[], &[], rule), None);
        assert_eq!(decide::<&str>(&[None, None], &[], rule), None);
    }

    #[test]
    fn settled_needs_every_sentinel_and_the_only_claimant() {
        let rule = MasterRule::SETTLED;
        let all = [Some("redis-2"), Some("redis-2"), Some("redis-2")];
        assert_eq!(decide(&all, &["redis-2"], rule), Some("redis-2"));
        // One sentinel lags behind: not settled, though most agree.
        let lagging = [Some("redis-2"), Some("redis-1"), Some("redis-2")];
        assert_eq!(decide(&lagging, &["redis-2"], rule), None);
        assert_eq!(
            decide(&lagging, &["redis-2"], MasterRule::MOST_ANSWERS),
            Some("redis-2")
        );
        // A sentinel naming none objects too.
        assert_eq!(decide(&[Some("redis-2"), None], &["redis-2"], rule), None);
        // Two claimants (split brain), or the named node is no master.
        assert_eq!(decide(&all, &["redis-1", "redis-2"], rule), None);
        assert_eq!(decide(&all, &["redis-1"], rule), None);
        assert_eq!(decide(&all, &[], rule), None);
        // No sentinel answering is no objection.
        assert_eq!(decide(&[], &["redis-3"], rule), Some("redis-3"));
    }
}
