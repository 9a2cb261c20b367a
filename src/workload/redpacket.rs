//! Red packets, the WeChat design: a sender puts an amount (in cents) into a
//! packet for `count` grabbers; grabbers race; each share is drawn by the
//! double-average rule (uniform in [1 cent, 2 x remaining / remaining count],
//! the last grab takes the rest).
//!
//! `atomic` mode runs every step of a grab in one Lua script
//! (`lua/redpacket_grab.lua`); `naive` mode runs the same steps as separate
//! commands (read, compute in the client, write), so that under contention
//! two grabbers compute from the same remainder: money is created or lost
//! and a user can be granted twice. The random number for grab position `p`
//! of packet `n` derives from (seed, n, p) only, so a seed replays the same
//! amounts whichever grabber wins each position.
//!
//! After the run, [`RedPacket::audit`] reads every packet's three records
//! (packet hash, grabs hash, order list) and checks them both ways: they
//! agree with each other on count, users and sums; granted + remaining =
//! total (a packet gone whole is lost money); no duplicate, no grant below
//! one cent; every acknowledged grab is in both records, and grants nobody
//! was told of are counted. It also measures fairness per grab position.

use super::grabber::{GrabberCtx, Step, Workload};
use super::rounds::{rng_for, AckedRounds, RoundState, Rounds, Stream};
use super::Mode;
use crate::audit::journal::{JournalOp, JournalRecord, Ledger};
use crate::metrics::recorder::OpKind;
use crate::metrics::{PositionStats, RedPacketView, Snapshot};
use crate::report::model::{RedPacketReport, Report};
use rand::Rng;
use redis::aio::ConnectionLike;
use redis::Script;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

static GRAB: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/redpacket_grab.lua")));

/// Largest number of grabs per packet (the script receives one random
/// number per position).
pub const MAX_COUNT: u64 = crate::limits::PACKET_COUNT.max;

/// What the red-packet workload does. Serde for scenario files and the
/// report; the command line's flags ([`crate::cli::RedPacketArgs`]) give one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedPacketConfig {
    /// Amount in each red packet, in cents (10000 = 100.00 yuan).
    pub total_cents: u64,
    /// Grabs per packet.
    pub count: u64,
    /// Packets the sender creates (with --until-done: the whole run; with
    /// --duration: per batch, created again as grabbers empty them).
    pub packets: u64,
    /// atomic: one Lua script per grab; naive: read, compute, write as separate commands.
    pub mode: Mode,
    /// Naive mode: pause between the read and the write, to force interleaving.
    pub naive_delay_ms: u64,
}

impl Default for RedPacketConfig {
    fn default() -> Self {
        RedPacketConfig {
            total_cents: 10_000,
            count: 10,
            packets: 10,
            mode: Mode::Atomic,
            naive_delay_ms: 0,
        }
    }
}

impl RedPacketConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.count == 0 || self.count > MAX_COUNT {
            return Err(format!(
                "--packet-count {}: expected 1 to {MAX_COUNT}",
                self.count
            ));
        }
        if self.total_cents < self.count {
            return Err(format!(
                "--packet-amount-cents {} is less than 1 cent per grab for --packet-count {}",
                self.total_cents, self.count
            ));
        }
        if self.packets == 0 {
            return Err("--packets must be at least 1".into());
        }
        Ok(())
    }
}

/// One double-average draw: the amount for a grab when `remaining` cents
/// are left for `left` grabs, from a random `r` in [0, 2^31). The same
/// arithmetic as `lua/redpacket_grab.lua`.
pub fn draw(remaining: i64, left: i64, r: u32) -> i64 {
    if left <= 1 {
        return remaining;
    }
    let upper = 2 * remaining / left;
    let amount = 1 + (r as i64 * upper) / (1i64 << 31);
    amount.min(remaining - (left - 1)).max(1)
}

/// Fills `out` with the random numbers of every grab position of `packet`.
pub fn position_randoms(seed: u64, packet: u64, count: u64, out: &mut Vec<u32>) {
    let mut rng = rng_for(seed, Stream::Packet, packet);
    out.clear();
    out.extend((0..count).map(|_| rng.random::<u32>() >> 1));
}

/// The amounts packet `packet` grants, in position order, as the atomic
/// script will draw them.
pub fn expected_amounts(seed: u64, packet: u64, total: u64, count: u64) -> Vec<i64> {
    let mut r = Vec::new();
    position_randoms(seed, packet, count, &mut r);
    let mut remaining = total as i64;
    (0..count as i64)
        .map(|p| {
            let a = draw(remaining, count as i64 - p, r[p as usize]);
            remaining -= a;
            a
        })
        .collect()
}

/// Fairness per position over packets (each a list of amounts in grab
/// order; only packets with exactly `count` grants count), and the mean
/// Gini coefficient of those packets.
pub fn fairness<'a>(
    packets: impl Iterator<Item = &'a [i64]>,
    count: usize,
) -> (Vec<PositionStats>, f64) {
    let mut sum = vec![0f64; count];
    let mut sq = vec![0f64; count];
    let mut kings = vec![0u64; count];
    let mut n = 0u64;
    let mut gini_sum = 0f64;
    for amounts in packets {
        if amounts.len() != count || count == 0 {
            continue;
        }
        n += 1;
        let mut king = 0;
        for (i, a) in amounts.iter().enumerate() {
            let a = *a as f64;
            sum[i] += a;
            sq[i] += a * a;
            if amounts[i] > amounts[king] {
                king = i;
            }
        }
        kings[king] += 1;
        gini_sum += gini(amounts);
    }
    let stats = (0..count)
        .map(|i| {
            let mean = if n > 0 { sum[i] / n as f64 } else { 0.0 };
            let var = if n > 0 {
                (sq[i] / n as f64 - mean * mean).max(0.0)
            } else {
                0.0
            };
            PositionStats {
                position: i + 1,
                grabs: n,
                mean_cents: mean,
                stdev_cents: var.sqrt(),
                luck_king_share: if n > 0 {
                    kings[i] as f64 / n as f64
                } else {
                    0.0
                },
            }
        })
        .collect();
    (stats, if n > 0 { gini_sum / n as f64 } else { 0.0 })
}

/// Gini coefficient of one packet's amounts (0 = equal shares).
pub fn gini(amounts: &[i64]) -> f64 {
    let n = amounts.len();
    let total: i64 = amounts.iter().sum();
    if n < 2 || total <= 0 {
        return 0.0;
    }
    let mut diff = 0i64;
    for a in amounts {
        for b in amounts {
            diff += (a - b).abs();
        }
    }
    diff as f64 / (2.0 * (n * n) as f64 * (total as f64 / n as f64))
}

/// `remaining_cents`, `remaining_count` and `count` of a packet, as read.
type PacketRead = (Option<i64>, Option<i64>, Option<i64>);

/// The red-packet workload of one run.
pub struct RedPacket {
    pub config: RedPacketConfig,
    seed: u64,
    pub rounds: Rounds,
    ledger: Arc<Mutex<Ledger>>,
}

/// A grabber's place in the packets.
pub struct RedPacketGrabber {
    packet: u64,
    /// Random numbers of `packet`'s positions (recomputed per packet).
    randoms: Vec<u32>,
    randoms_of: Option<u64>,
}

impl RedPacket {
    pub fn new(
        config: RedPacketConfig,
        seed: u64,
        until_done: bool,
        ledger: Arc<Mutex<Ledger>>,
    ) -> RedPacket {
        let limit = until_done.then_some(config.packets);
        RedPacket {
            rounds: Rounds::new(limit, config.packets),
            config,
            seed,
            ledger,
        }
    }

    async fn create(&self, ctx: &mut GrabberCtx, from: u64, to: u64) -> bool {
        let mut pipe = redis::pipe();
        for p in from..to {
            pipe.cmd("HSET")
                .arg(ctx.keys.packet(p))
                .arg("total")
                .arg(self.config.total_cents)
                .arg("count")
                .arg(self.config.count)
                .arg("remaining_cents")
                .arg(self.config.total_cents)
                .arg("remaining_count")
                .arg(self.config.count)
                .ignore();
        }
        ctx.query_pipe::<()>(OpKind::Setup, true, &pipe)
            .await
            .is_ok()
    }

    /// Outcome code of one grab attempt: Some((amount, position)) when granted.
    async fn grab_atomic(
        &self,
        ctx: &mut GrabberCtx,
        me: &mut RedPacketGrabber,
    ) -> Result<Option<(i64, u32)>, ()> {
        let p = me.packet;
        let (k1, k2, k3) = (
            ctx.keys.packet(p),
            ctx.keys.packet_grabs(p),
            ctx.keys.packet_order(p),
        );
        let mut inv = GRAB.prepare_invoke();
        inv.key(k1)
            .key(k2)
            .key(k3)
            .arg(ctx.user)
            .arg(&me.randoms[..]);
        match ctx
            .invoke::<(i64, i64)>(OpKind::RedpacketGrab, true, &inv)
            .await
        {
            Ok((amount, pos)) if amount > 0 => Ok(Some((amount, pos as u32))),
            Ok(_) => Ok(None),
            Err(_) => Err(()),
        }
    }

    /// The same steps as separate commands: read, compute, (pause), write.
    async fn grab_naive(
        &self,
        ctx: &mut GrabberCtx,
        me: &mut RedPacketGrabber,
    ) -> Result<Option<(i64, u32)>, ()> {
        let p = me.packet;
        let mut read = redis::pipe();
        read.cmd("HMGET")
            .arg(ctx.keys.packet(p))
            .arg("remaining_cents")
            .arg("remaining_count")
            .arg("count")
            .cmd("HEXISTS")
            .arg(ctx.keys.packet_grabs(p))
            .arg(ctx.user);
        let ((remaining, left, count), already): (PacketRead, bool) = ctx
            .query_pipe(OpKind::RedpacketGrab, false, &read)
            .await
            .map_err(|_| ())?;
        let (Some(remaining), Some(left), Some(count)) = (remaining, left, count) else {
            return Ok(None);
        };
        if already || left <= 0 {
            return Ok(None);
        }
        let pos = (count - left).max(0) as u32;
        let r = me.randoms.get(pos as usize).copied().unwrap_or(0);
        let amount = draw(remaining, left, r);
        if self.config.naive_delay_ms > 0
            && !ctx
                .sleep(Duration::from_millis(self.config.naive_delay_ms))
                .await
        {
            return Err(());
        }
        let mut write = redis::pipe();
        write
            .cmd("HSET")
            .arg(ctx.keys.packet(p))
            .arg("remaining_cents")
            .arg(remaining - amount)
            .arg("remaining_count")
            .arg(left - 1)
            .ignore()
            .cmd("HSET")
            .arg(ctx.keys.packet_grabs(p))
            .arg(ctx.user)
            .arg(amount)
            .ignore()
            .cmd("RPUSH")
            .arg(ctx.keys.packet_order(p))
            .arg(format!("{pos}:{}:{amount}", ctx.user))
            .ignore();
        ctx.query_pipe::<()>(OpKind::RedpacketGrab, true, &write)
            .await
            .map_err(|_| ())?;
        Ok(Some((amount, pos)))
    }
}

impl Workload for RedPacket {
    type Grabber = RedPacketGrabber;

    fn new_grabber(&self, _ctx: &GrabberCtx) -> RedPacketGrabber {
        RedPacketGrabber {
            packet: 0,
            randoms: Vec::with_capacity(self.config.count as usize),
            randoms_of: None,
        }
    }

    async fn step(&self, ctx: &mut GrabberCtx, me: &mut RedPacketGrabber) -> Step {
        match self.rounds.state(me.packet) {
            RoundState::Ready => {}
            RoundState::Exhausted => return Step::Done,
            RoundState::Missing => {
                let packet = me.packet;
                let ok = self
                    .rounds
                    .create_with(packet, |from, to| self.create(ctx, from, to))
                    .await;
                if !ok {
                    ctx.back_off().await;
                }
                return Step::Continue;
            }
        }
        if me.randoms_of != Some(me.packet) {
            position_randoms(self.seed, me.packet, self.config.count, &mut me.randoms);
            me.randoms_of = Some(me.packet);
        }
        let r = match self.config.mode {
            Mode::Atomic => self.grab_atomic(ctx, me).await,
            Mode::Naive => self.grab_naive(ctx, me).await,
        };
        match r {
            Ok(Some((amount, pos))) => {
                ctx.journal(JournalOp::RedpacketGrab, me.packet, ctx.user, amount, pos)
                    .await;
                me.packet += 1;
            }
            // Empty, already grabbed, or missing (lost in a failover): next packet.
            Ok(None) => me.packet += 1,
            Err(()) => {
                ctx.back_off().await;
            }
        }
        Step::Continue
    }

    fn fill_snapshot(&self, snap: &mut Snapshot) {
        let count = self.config.count as usize;
        let l = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        let mut done = 0u64;
        let mut grabs = 0u64;
        let mut granted = 0u64;
        let mut dups = 0u64;
        let mut conserved = true;
        let mut ordered: Vec<Vec<i64>> = Vec::new();
        for g in l.grabs.values() {
            grabs += g.len() as u64;
            let sum: i64 = g.iter().map(|x| x.2).sum();
            granted += sum.max(0) as u64;
            let mut users: Vec<u64> = g.iter().map(|x| x.1).collect();
            users.sort_unstable();
            users.dedup();
            dups += (g.len() - users.len()) as u64;
            if g.len() >= count {
                done += 1;
                if sum != self.config.total_cents as i64 {
                    conserved = false;
                }
                let mut by_pos = g.clone();
                by_pos.sort_by_key(|x| x.0);
                ordered.push(by_pos.iter().map(|x| x.2).collect());
            }
        }
        drop(l);
        let (by_position, gini_mean) = fairness(ordered.iter().map(|v| v.as_slice()), count);
        snap.redpacket = Some(RedPacketView {
            packets: self.rounds.created(),
            packets_done: done,
            grabs_ok: grabs,
            amount_sent_cents: self.rounds.created() * self.config.total_cents,
            amount_granted_cents: granted,
            conservation_ok: conserved,
            duplicate_grabs: dups,
            expected_mean_cents: self.config.total_cents as f64 / self.config.count as f64,
            by_position,
            gini_mean,
        });
    }

    async fn audit<C: ConnectionLike + Send>(
        &self,
        conn: &mut C,
        journal: &[JournalRecord],
        report: &mut Report,
        lost: &mut Vec<JournalRecord>,
    ) -> anyhow::Result<()> {
        use anyhow::Context;
        let AckedRounds {
            acked,
            rounds: packets,
            by_round: acked_by_packet,
        } = self.rounds.acked(journal, JournalOp::RedpacketGrab);
        let mut rep = RedPacketReport {
            mode: self.config.mode,
            packets,
            count_per_packet: self.config.count,
            grabs_ok: acked.len() as u64,
            amount_sent_cents: packets * self.config.total_cents,
            amount_acked_cents: acked.iter().map(|r| r.value.max(0) as u64).sum(),
            conservation_ok: true,
            expected_mean_cents: self.config.total_cents as f64 / self.config.count as f64,
            unknown_outcome_grabs: report
                .ops
                .get(OpKind::RedpacketGrab.name())
                .map_or(0, |o| o.errors.values().sum()),
            ..Default::default()
        };
        let mut complete: Vec<Vec<i64>> = Vec::new();
        let keys =
            super::grabber::KeySpace::of(&report.key_prefix, &report.run_id, report.hash_tags);
        // Read packets in pipelined chunks: one round trip per 200 packets.
        let mut p = 0;
        while p < packets {
            let end = (p + 200).min(packets);
            let mut pipe = redis::pipe();
            for q in p..end {
                pipe.cmd("HGETALL").arg(keys.packet(q));
                pipe.cmd("HGETALL").arg(keys.packet_grabs(q));
                pipe.cmd("LRANGE").arg(keys.packet_order(q)).arg(0).arg(-1);
            }
            let rows: Vec<PacketRecords> = tokio::time::timeout(
                Duration::from_secs(30),
                pipe.query_async::<Vec<redis::Value>>(conn),
            )
            .await
            .context("reading red packets from Redis timed out")?
            .context("reading red packets from Redis")
            .and_then(|vals| {
                vals.chunks(3)
                    .map(|c| {
                        Ok(PacketRecords {
                            packet: redis::from_redis_value(c[0].clone())?,
                            grabs: redis::from_redis_value(c[1].clone())?,
                            order: redis::from_redis_value(c[2].clone())?,
                        })
                    })
                    .collect::<Result<Vec<_>, redis::RedisError>>()
                    .context("unexpected red-packet data in Redis")
            })?;
            for (i, records) in rows.into_iter().enumerate() {
                let q = p + i as u64;
                let acks = acked_by_packet.get(&q).map(Vec::as_slice).unwrap_or(&[]);
                let amounts = self.audit_packet(&records, acks, &mut rep, lost);
                if q < 1000 {
                    rep.amounts.insert(q, amounts.clone());
                }
                if amounts.len() as u64 == self.config.count {
                    complete.push(amounts);
                }
            }
            p = end;
        }
        rep.conservation_ok = rep.conservation_violations == 0;
        let (by_position, gini_mean) = fairness(
            complete.iter().map(|v| v.as_slice()),
            self.config.count as usize,
        );
        rep.by_position = by_position;
        rep.gini_mean = gini_mean;
        report.redpacket = Some(rep);
        Ok(())
    }
}

/// What Redis holds of one packet: its hash, its grabs hash (user ->
/// amount) and its order list ("position:user:amount" in grab order).
struct PacketRecords {
    packet: HashMap<String, i64>,
    grabs: HashMap<u64, i64>,
    order: Vec<String>,
}

impl RedPacket {
    /// Checks one packet's three records against each other, against the
    /// packet's total and against its acknowledged grabs (`acks`), adding to
    /// `rep` and `lost`. Returns the amounts of the order list, in order.
    fn audit_packet(
        &self,
        r: &PacketRecords,
        acks: &[&JournalRecord],
        rep: &mut RedPacketReport,
        lost: &mut Vec<JournalRecord>,
    ) -> Vec<i64> {
        let total = self.config.total_cents as i64;
        // An entry that does not parse is kept as a grant of 0 cents to no
        // user, so it shows as a disagreement rather than vanishing.
        let order: Vec<(u64, i64)> = r
            .order
            .iter()
            .map(|e| {
                let mut it = e.split(':').skip(1);
                let user = it.next().and_then(|u| u.parse().ok()).unwrap_or(u64::MAX);
                let amount = it.next().and_then(|a| a.parse().ok()).unwrap_or(0);
                (user, amount)
            })
            .collect();
        let order_sum: i64 = order.iter().map(|g| g.1).sum();
        let hash_sum: i64 = r.grabs.values().sum();
        rep.grabs_in_redis += order.len() as u64;
        rep.amount_granted_cents += order_sum.max(0) as u64;
        rep.grabs_in_hash += r.grabs.len() as u64;
        rep.amount_in_hash_cents += hash_sum.max(0) as u64;
        rep.below_one_cent += order.iter().filter(|g| g.1 < 1).count() as u64;
        let mut users: Vec<u64> = order.iter().map(|g| g.0).collect();
        users.sort_unstable();
        users.dedup();
        rep.duplicate_grabs += (order.len() - users.len()) as u64;

        let gone_whole = r.packet.is_empty() && r.grabs.is_empty() && order.is_empty();
        if gone_whole {
            // Created (the sender's write was acknowledged) and now nowhere:
            // its whole amount is lost money.
            rep.packets_missing += 1;
            rep.conservation_violations += 1;
            rep.money_created_cents -= total;
        } else {
            let remaining = r.packet.get("remaining_cents").copied().unwrap_or(0);
            rep.amount_remaining_cents += remaining;
            // The order list records every grant made (the grabs hash keeps
            // one per user, so a user granted twice shows once there): the
            // money is counted from it; the hash must agree with it below.
            let off = order_sum + remaining - total;
            if off != 0 {
                rep.conservation_violations += 1;
                rep.money_created_cents += off;
            }
            let mut listed: Vec<(u64, i64)> = order.clone();
            listed.sort_unstable();
            let mut hashed: Vec<(u64, i64)> = r.grabs.iter().map(|(u, a)| (*u, *a)).collect();
            hashed.sort_unstable();
            let left_matches = r
                .packet
                .get("remaining_count")
                .is_some_and(|left| *left + order.len() as i64 == self.config.count as i64);
            if r.packet.is_empty() || listed != hashed || !left_matches {
                rep.records_disagree += 1;
            }
        }

        // Lost: an acknowledged (user, amount) missing from the order list,
        // or a user missing from the grabs hash. (A user granted twice, in
        // naive mode, holds its last amount there: a duplicate, not a loss.)
        let mut in_order: BTreeMap<(u64, i64), u64> = BTreeMap::new();
        for g in &order {
            *in_order.entry(*g).or_default() += 1;
        }
        let mut told: HashSet<u64> = HashSet::new();
        for a in acks {
            told.insert(a.user);
            let listed = match in_order.get_mut(&(a.user, a.value)) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            };
            if !listed || !r.grabs.contains_key(&a.user) {
                rep.lost_acked_grabs += 1;
                lost.push((*a).clone());
            }
        }
        let held: HashSet<u64> = r.grabs.keys().copied().chain(users).collect();
        rep.unacked_grants += held.difference(&told).count() as u64;
        order.iter().map(|g| g.1).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_bounds_and_the_last_takes_the_rest() {
        for seed in 0..200u64 {
            let amounts = expected_amounts(seed, seed * 7, 10_000, 10);
            assert_eq!(amounts.iter().sum::<i64>(), 10_000);
            let mut remaining = 10_000i64;
            for (p, a) in amounts.iter().enumerate() {
                let left = 10 - p as i64;
                assert!(*a >= 1, "seed {seed} position {p}: {a}");
                if left > 1 {
                    assert!(*a <= 2 * remaining / left, "seed {seed} position {p}: {a}");
                } else {
                    assert_eq!(*a, remaining);
                }
                remaining -= a;
            }
        }
        // Tight packets: exactly one cent each.
        assert_eq!(expected_amounts(1, 1, 5, 5), vec![1, 1, 1, 1, 1]);
        assert_eq!(draw(3, 2, u32::MAX >> 1), 2);
        assert_eq!(draw(3, 2, 0), 1);
    }

    #[test]
    fn every_position_has_the_same_mean_over_many_packets() {
        let packets: Vec<Vec<i64>> = (0..20_000)
            .map(|p| expected_amounts(42, p, 10_000, 10))
            .collect();
        let (stats, gini) = fairness(packets.iter().map(|v| v.as_slice()), 10);
        for s in &stats {
            let off = (s.mean_cents - 1000.0).abs() / 1000.0;
            assert!(off < 0.03, "position {}: mean {}", s.position, s.mean_cents);
        }
        let kings: f64 = stats.iter().map(|s| s.luck_king_share).sum();
        assert!((kings - 1.0).abs() < 1e-9);
        assert!(gini > 0.1 && gini < 0.6, "gini {gini}");
    }

    #[test]
    fn gini_is_zero_for_equal_shares_and_grows_with_inequality() {
        assert_eq!(gini(&[5, 5, 5, 5]), 0.0);
        assert!(gini(&[1, 1, 1, 97]) > 0.7);
    }
}
