//! The run's timeline: every [`Event`] in time order ([`Timeline`]), as
//! the [`EventBus`](super::EventBus) keeps it for the report. What is made
//! of it lives beside it: the words of each event in [`super::explain`],
//! the failover phases and what they cost in [`super::failover`]; the
//! announcements themselves come from the sentinels through the client's
//! sentinel watcher.
//!
//! The re-exports keep the `metrics::timeline::` paths the dashboard, the
//! report and the tests name.

use super::event::Event;

pub use super::explain::{explain, votes_needed, Naming, NoNames};
pub use super::failover::{failovers, failovers_and_losses, Failover, LostAckedWrites};

/// Events in time order, ties in the order they were recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    events: Vec<Event>,
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Timeline {
        Timeline::default()
    }

    /// Records `event` at its place in time: after every event stamped at
    /// the same time or earlier.
    pub fn insert(&mut self, event: Event) {
        // Faults are stamped when they began, which on a loaded machine can
        // be after events recorded since (a partition's helpers take
        // seconds): the search runs from the end, where nearly every event
        // lands.
        let at = self
            .events
            .iter()
            .rposition(|e| e.at_ms <= event.at_ms)
            .map_or(0, |i| i + 1);
        self.events.insert(at, event);
    }

    /// Every event, in time order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The last `n` events (all of them when there are fewer).
    pub fn recent(&self, n: usize) -> &[Event] {
        &self.events[self.events.len().saturating_sub(n)..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::EventKind;

    fn note(at_ms: u64, text: &str) -> Event {
        Event {
            at_ms,
            source: "test".into(),
            kind: EventKind::Note { text: text.into() },
        }
    }

    fn texts(events: &[Event]) -> Vec<&str> {
        events
            .iter()
            .map(|e| match &e.kind {
                EventKind::Note { text } => text.as_str(),
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn a_late_stamp_goes_before_later_events_and_after_its_ties() {
        let mut t = Timeline::new();
        for (at, text) in [(100, "a"), (300, "c"), (300, "d"), (200, "b"), (300, "e")] {
            t.insert(note(at, text));
        }
        t.insert(note(50, "first"));
        assert_eq!(texts(t.events()), ["first", "a", "b", "c", "d", "e"]);
        assert_eq!(texts(t.recent(2)), ["d", "e"]);
        assert_eq!(t.recent(10).len(), 6);
    }
}
