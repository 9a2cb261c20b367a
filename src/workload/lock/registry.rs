//! The in-process holder registry: the lab's exact overlap detector.
//!
//! Every grabber lives in this process, so the lab does not have to infer
//! lock safety from Redis: a grabber registers itself on a lock key when it
//! enters the critical section and unregisters when it leaves (before it
//! sends the release, so a successor acquiring right after the release can
//! never be mistaken for an overlap). A registration that finds another
//! holder already present is a violation: two holders at the same moment.
//!
//! Each lock key has its own tiny `std::sync::Mutex<Vec<u32>>`. It is taken
//! only at the two critical-section boundaries, held for a push or a remove
//! (never across an `.await`), and contended only by the grabbers of that one
//! key, which are serialised by the lock anyway; no global lock exists. The
//! holder list allocates only when a violation copies it out.

use std::sync::Mutex;

/// Holders per lock key (grabber ids).
#[derive(Debug)]
pub struct HolderRegistry {
    keys: Vec<Mutex<Vec<u32>>>,
}

impl HolderRegistry {
    /// A registry for `keys` lock keys, all free.
    pub fn new(keys: usize) -> HolderRegistry {
        HolderRegistry {
            keys: (0..keys)
                .map(|_| Mutex::new(Vec::with_capacity(2)))
                .collect(),
        }
    }

    /// Registers `holder` as inside the critical section of lock `key`.
    /// Returns the holders that were already inside (empty when the entry is
    /// clean; anything else is a violation).
    pub fn enter(&self, key: usize, holder: u32) -> Vec<u32> {
        let mut holders = self.keys[key].lock().unwrap_or_else(|e| e.into_inner());
        let already = if holders.is_empty() {
            Vec::new()
        } else {
            holders.clone()
        };
        holders.push(holder);
        already
    }

    /// Unregisters `holder` from lock `key` (no-op when absent).
    pub fn leave(&self, key: usize, holder: u32) {
        let mut holders = self.keys[key].lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = holders.iter().position(|h| *h == holder) {
            holders.swap_remove(i);
        }
    }

    /// Holders inside a critical section right now, over all keys.
    pub fn holders(&self) -> usize {
        self.keys
            .iter()
            .map(|k| k.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Holders of one key right now.
    pub fn holders_of(&self, key: usize) -> Vec<u32> {
        self.keys[key]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn keys(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_clean_handover_is_not_a_violation() {
        let reg = HolderRegistry::new(2);
        assert!(reg.enter(0, 1).is_empty());
        reg.leave(0, 1);
        assert!(reg.enter(0, 2).is_empty());
        assert_eq!(reg.holders_of(0), vec![2]);
        assert_eq!(reg.holders(), 1);
    }

    #[test]
    fn a_second_holder_sees_the_first() {
        let reg = HolderRegistry::new(1);
        assert!(reg.enter(0, 7).is_empty());
        assert_eq!(reg.enter(0, 9), vec![7]);
        assert_eq!(reg.enter(0, 11), vec![7, 9]);
        reg.leave(0, 9);
        assert_eq!(reg.holders_of(0), vec![7, 11]);
        reg.leave(0, 7);
        reg.leave(0, 11);
        assert_eq!(reg.holders(), 0);
    }

    #[test]
    fn keys_are_independent() {
        let reg = HolderRegistry::new(3);
        assert!(reg.enter(0, 1).is_empty());
        assert!(reg.enter(1, 2).is_empty());
        assert!(reg.enter(2, 3).is_empty());
        assert_eq!(reg.holders(), 3);
        reg.leave(1, 1); // not a holder of key 1: nothing happens
        assert_eq!(reg.holders_of(1), vec![2]);
    }

    /// Threads that take turns through a real mutex never overlap; the same
    /// threads without the mutex are caught overlapping.
    #[test]
    fn overlaps_are_counted_exactly_under_threads() {
        let reg = Arc::new(HolderRegistry::new(1));
        let turn = Arc::new(Mutex::new(()));
        let threads: Vec<_> = (0..8u32)
            .map(|id| {
                let reg = reg.clone();
                let turn = turn.clone();
                std::thread::spawn(move || {
                    let mut overlaps = 0;
                    for _ in 0..2000 {
                        let _held = turn.lock().unwrap();
                        overlaps += reg.enter(0, id).len();
                        reg.leave(0, id);
                    }
                    overlaps
                })
            })
            .collect();
        let overlaps: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(overlaps, 0);

        let barrier = Arc::new(std::sync::Barrier::new(2));
        let threads: Vec<_> = (0..2u32)
            .map(|id| {
                let reg = reg.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let seen = reg.enter(0, id);
                    // Both are inside before either leaves.
                    barrier.wait();
                    reg.leave(0, id);
                    seen
                })
            })
            .collect();
        let seen: Vec<Vec<u32>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        // Exactly one of the two saw the other.
        assert_eq!(seen.iter().filter(|s| s.len() == 1).count(), 1);
        assert_eq!(seen.iter().filter(|s| s.is_empty()).count(), 1);
        assert_eq!(reg.holders(), 0);
    }
}
