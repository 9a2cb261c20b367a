//! Rounds: the numbered things grabbers race for (red packets, seckill
//! items), created ahead of the grabbers by whichever grabber first needs a
//! round that does not exist yet, and the seed derivation that makes every
//! round's random numbers depend on the run seed and the round alone.

use crate::audit::journal::{JournalOp, JournalRecord};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// SplitMix64 finaliser: spreads `x` over 64 bits.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// What a derived random stream is for, so streams never collide.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Grabber = 1,
    Packet = 2,
    Lock = 3,
}

/// A generator for (`seed`, `stream`, `n`): the same inputs always give the
/// same numbers, whoever asks and whenever.
pub fn rng_for(seed: u64, stream: Stream, n: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(stream_seed(seed, stream, n))
}

fn stream_seed(seed: u64, stream: Stream, n: u64) -> u64 {
    mix(mix(seed ^ ((stream as u64) << 56)) ^ n)
}

/// A grabber's own random numbers (back-off, lock key choice, die draws):
/// SplitMix64, 8 bytes of state instead of ChaCha's ~330, because at
/// 100,000 grabbers every byte of a grabber counts 100,000 times and these
/// draws need no cryptographic quality. Still fully derived from the seed.
#[derive(Clone, Debug)]
pub struct GrabberRng {
    state: u64,
}

impl GrabberRng {
    pub fn from_seed(seed: u64) -> GrabberRng {
        GrabberRng { state: seed }
    }
}

impl rand::RngCore for GrabberRng {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        // SplitMix64: a Weyl sequence through the finaliser.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Grabber `id`'s generator for the run seeded `seed`.
pub fn grabber_rng(seed: u64, id: u64) -> GrabberRng {
    GrabberRng::from_seed(stream_seed(seed, Stream::Grabber, id))
}

/// The rounds of one workload and how far they have been created.
#[derive(Debug)]
pub struct Rounds {
    created: AtomicU64,
    /// `Some(n)`: exactly `n` rounds (`--until-done`); `None`: as many as the
    /// grabbers get through until the run ends.
    limit: Option<u64>,
    /// Rounds created at once.
    batch: u64,
    creating: tokio::sync::Mutex<()>,
}

/// A journal's acknowledged records of one operation, as an audit reads them.
pub struct AckedRounds<'j> {
    /// Every acknowledged record of the operation, in journal order.
    pub acked: Vec<&'j JournalRecord>,
    /// Rounds the audit covers: those created, or more if the journal
    /// names later ones (an audit from a journal alone).
    pub rounds: u64,
    /// The acknowledged records of each round.
    pub by_round: HashMap<u64, Vec<&'j JournalRecord>>,
}

/// Where a grabber's next round stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundState {
    Ready,
    /// Every round of a bounded run is behind this grabber.
    Exhausted,
    /// This grabber must create the rounds from `from` (it holds no lock:
    /// call [`Rounds::create_with`]).
    Missing,
}

impl Rounds {
    pub fn new(limit: Option<u64>, batch: u64) -> Rounds {
        Rounds {
            created: AtomicU64::new(0),
            limit,
            batch: batch.max(1),
            creating: tokio::sync::Mutex::new(()),
        }
    }

    /// Rounds created so far.
    pub fn created(&self) -> u64 {
        self.created.load(Ordering::Acquire)
    }

    /// Sets the count of created rounds (for an audit of a finished run).
    pub fn set_created(&self, n: u64) {
        self.created.store(n, Ordering::Release);
    }

    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// The acknowledged records of `op` in `journal`, grouped by round.
    pub fn acked<'j>(&self, journal: &'j [JournalRecord], op: JournalOp) -> AckedRounds<'j> {
        let acked: Vec<&JournalRecord> = journal.iter().filter(|r| r.op == op).collect();
        let rounds = self
            .created()
            .max(acked.iter().map(|r| r.round + 1).max().unwrap_or(0));
        let mut by_round: HashMap<u64, Vec<&JournalRecord>> = HashMap::new();
        for r in &acked {
            by_round.entry(r.round).or_default().push(r);
        }
        AckedRounds {
            acked,
            rounds,
            by_round,
        }
    }

    pub fn state(&self, round: u64) -> RoundState {
        if round < self.created() {
            RoundState::Ready
        } else if self.limit.is_some_and(|l| round >= l) {
            RoundState::Exhausted
        } else {
            RoundState::Missing
        }
    }

    /// Creates the rounds up to and including `round` with `create(from, to)`
    /// (one grabber at a time; the others wait and then find them created).
    /// Returns false when `create` failed; the caller backs off and retries.
    pub async fn create_with<F, Fut>(&self, round: u64, create: F) -> bool
    where
        F: FnOnce(u64, u64) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let _guard = self.creating.lock().await;
        let from = self.created();
        if round < from {
            return true;
        }
        let mut to = round.max(from) + self.batch;
        if let Some(l) = self.limit {
            to = to.min(l);
        }
        if to <= from {
            return true;
        }
        if create(from, to).await {
            self.created.store(to, Ordering::Release);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn derived_streams_depend_on_seed_stream_and_number_only() {
        let a: u32 = rng_for(7, Stream::Packet, 3).random();
        let b: u32 = rng_for(7, Stream::Packet, 3).random();
        let c: u32 = rng_for(7, Stream::Packet, 4).random();
        let d: u32 = rng_for(7, Stream::Grabber, 3).random();
        let e: u32 = rng_for(8, Stream::Packet, 3).random();
        assert_eq!(a, b);
        assert!(a != c && a != d && a != e);
        let g: Vec<u64> = (0..4).map(|_| grabber_rng(7, 3).random()).collect();
        let mut h = grabber_rng(7, 3);
        assert_eq!(g[0], h.random::<u64>());
        assert_ne!(h.random::<u64>(), grabber_rng(7, 4).random::<u64>());
        assert!(grabber_rng(7, 3).random_range(20..50) >= 20);
    }

    #[tokio::test]
    async fn rounds_are_created_in_batches_up_to_the_limit() {
        let r = Rounds::new(Some(5), 2);
        assert_eq!(r.state(0), RoundState::Missing);
        assert!(
            r.create_with(0, |from, to| async move { from == 0 && to == 2 })
                .await
        );
        assert_eq!(r.state(1), RoundState::Ready);
        assert!(
            r.create_with(4, |from, to| async move { from == 2 && to == 5 })
                .await
        );
        assert_eq!(r.created(), 5);
        assert_eq!(r.state(5), RoundState::Exhausted);
    }
}
