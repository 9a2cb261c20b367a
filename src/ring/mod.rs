//! Client-side sharding over independent Redis servers, the way Jedis's
//! `ShardedJedisPool` did it before Redis Cluster (tutorial 2.4.5–2.4.6):
//! a consistent-hash [`Ring`] of 2^32 points where each server sits at V
//! points (virtual nodes) and a key belongs to the first point clockwise
//! from the key's own point, and, to compare, [`modulo_owner`]
//! (`hash % N`). [`lab`] writes keys through each scheme into real servers,
//! changes the set of servers and counts, from the servers, what moved;
//! [`narrate`] says what the numbers mean.
//!
//! The hash is Jedis's own, MurmurHash64A with seed `0x1234ABCD`
//! ([`murmur64a`]); a point of the tutorial's 2^32 ring is its high 32
//! bits ([`point`]). Jedis places the server's virtual node n at the hash
//! of `"{name}*{n}"`, so a server's points depend on its name only: adding
//! or removing another server leaves them where they are, which is what
//! makes the ring monotone.

pub mod lab;
pub mod narrate;

/// Jedis's seed for MurmurHash64A (`redis.clients.jedis.util.MurmurHash`).
pub const JEDIS_SEED: u64 = 0x1234_ABCD;

/// How the ring's points and the modulo scheme's numbers are made, in words
/// (for the report).
pub const HASH_NAME: &str =
    "MurmurHash64A (seed 0x1234ABCD, as Jedis), high 32 bits: a point of the 2^32 ring";

/// MurmurHash64A (Austin Appleby), reading 8-byte blocks little-endian as
/// Jedis does.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let mut k = u64::from_le_bytes(block.try_into().expect("an 8-byte block"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The point of `bytes` on the 2^32 ring (and the number the modulo scheme
/// divides): the high 32 bits of Jedis's hash, which are as evenly spread
/// as the whole 64.
pub fn point(bytes: &[u8]) -> u32 {
    (murmur64a(bytes, JEDIS_SEED) >> 32) as u32
}

/// The modulo scheme: the server (index into the list of `servers`) that
/// owns `key` is `point(key) % servers`.
pub fn modulo_owner(key: &[u8], servers: usize) -> usize {
    (point(key) as usize) % servers.max(1)
}

/// A consistent-hash ring: every server at `vnodes` points, each key owned
/// by the server of the first point at or after the key's point, wrapping
/// from 2^32-1 round to 0.
#[derive(Clone, Debug)]
pub struct Ring {
    servers: Vec<String>,
    /// (point, server index), sorted by point.
    points: Vec<(u32, usize)>,
}

impl Ring {
    /// The ring of `servers` (by name) with `vnodes` points each. Two
    /// servers' points may collide: the point goes to the smaller name, so
    /// the ring is the same whatever order the servers are given in.
    pub fn new<S: AsRef<str>>(servers: &[S], vnodes: u32) -> Ring {
        let servers: Vec<String> = servers.iter().map(|s| s.as_ref().to_string()).collect();
        let mut points: Vec<(u32, usize)> = servers
            .iter()
            .enumerate()
            .flat_map(|(i, name)| (0..vnodes).map(move |n| (vnode_point(name, n), i)))
            .collect();
        points.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| servers[a.1].cmp(&servers[b.1])));
        points.dedup_by_key(|p| p.0);
        Ring { servers, points }
    }

    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// The points on the ring, sorted (after collisions were settled).
    pub fn points(&self) -> &[(u32, usize)] {
        &self.points
    }

    /// The index (into [`servers`](Self::servers)) of the server that owns
    /// the ring point `at`; `None` on an empty ring.
    pub fn owner_of_point(&self, at: u32) -> Option<usize> {
        let i = self.points.partition_point(|p| p.0 < at);
        self.points
            .get(i)
            .or_else(|| self.points.first())
            .map(|p| p.1)
    }

    /// The index of the server that owns `key`.
    pub fn owner(&self, key: &[u8]) -> Option<usize> {
        self.owner_of_point(point(key))
    }

    /// The name of the server that owns `key`.
    pub fn owner_name(&self, key: &[u8]) -> Option<&str> {
        self.owner(key).map(|i| self.servers[i].as_str())
    }
}

/// Where server `name`'s virtual node `n` sits: Jedis's `name*n`.
pub fn vnode_point(name: &str, n: u32) -> u32 {
    point(format!("{name}*{n}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur64a_matches_published_vectors() {
        // Vectors of other MurmurHash64A implementations (C and Python).
        assert_eq!(murmur64a(b"hash me", 22), 15_828_218_858_260_124_487);
        assert_eq!(murmur64a(b"aaaa", 0x9747_b28c), 0x41da_53fd_abaf_04c8);
        assert_eq!(murmur64a(b"fransisco", 1), 0x083f_daf4_a6d0_d3d9);
    }

    #[test]
    fn ownership_wraps_round_from_the_last_point_to_the_first() {
        let ring = Ring::new(&["a", "b", "c"], 4);
        let first = ring.points()[0];
        let last = *ring.points().last().unwrap();
        assert_eq!(ring.owner_of_point(first.0), Some(first.1));
        assert_eq!(ring.owner_of_point(0), Some(first.1));
        // Past the last point the first point clockwise is the first one.
        if last.0 < u32::MAX {
            assert_eq!(ring.owner_of_point(last.0 + 1), Some(first.1));
            assert_eq!(ring.owner_of_point(u32::MAX), Some(first.1));
        }
        assert_eq!(ring.owner_of_point(last.0), Some(last.1));
        // Between two points: the later one owns.
        let (p0, p1) = (ring.points()[0], ring.points()[1]);
        assert_eq!(ring.owner_of_point(p0.0 + 1), Some(p1.1));
        assert_eq!(Ring::new::<&str>(&[], 10).owner(b"k"), None);
    }

    #[test]
    fn vnode_placement_is_deterministic_and_order_free() {
        let a = Ring::new(&["redis-1", "redis-2", "redis-3"], 100);
        let b = Ring::new(&["redis-3", "redis-1", "redis-2"], 100);
        assert_eq!(a.points().len(), 300);
        let named = |r: &Ring| -> Vec<(u32, String)> {
            r.points()
                .iter()
                .map(|&(p, i)| (p, r.servers()[i].clone()))
                .collect()
        };
        assert_eq!(named(&a), named(&b));
        assert_eq!(vnode_point("redis-1", 7), point(b"redis-1*7"));
        for k in 0..1000 {
            let key = format!("user:{k}");
            assert_eq!(a.owner_name(key.as_bytes()), b.owner_name(key.as_bytes()));
        }
    }

    #[test]
    fn adding_a_server_only_takes_keys_from_the_others() {
        let before = Ring::new(&["redis-1", "redis-2", "redis-3", "redis-4"], 100);
        let after = Ring::new(
            &["redis-1", "redis-2", "redis-3", "redis-4", "redis-5"],
            100,
        );
        let mut taken = 0;
        for k in 0..20_000 {
            let key = format!("user:{k}");
            let (was, now) = (
                before.owner_name(key.as_bytes()).unwrap(),
                after.owner_name(key.as_bytes()).unwrap(),
            );
            if was != now {
                assert_eq!(now, "redis-5", "{key} moved from {was} to {now}");
                taken += 1;
            }
        }
        // About a fifth: the new server's share.
        assert!((2_500..5_500).contains(&taken), "{taken}");
    }

    #[test]
    fn modulo_divides_the_same_point() {
        assert_eq!(modulo_owner(b"user:1", 4), point(b"user:1") as usize % 4);
        assert_eq!(modulo_owner(b"user:1", 0), 0);
    }
}
