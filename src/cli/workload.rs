//! The workload flags (red packets, seckill, locks), flattened into `load`,
//! `tui` and `run`. Their defaults are the domain configs' own defaults;
//! each set of flags converts into the config it describes.

use crate::limits;
use crate::workload::lock::LockConfig;
use crate::workload::redpacket::RedPacketConfig;
use crate::workload::seckill::SeckillConfig;
use crate::workload::{LockKind, Mode};
use clap::Args;
use std::time::Duration;

use super::{millis, millis_text};

/// Red-packet flags.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct RedPacketArgs {
    /// Amount in each red packet, in cents (10000 = 100.00 yuan). Also
    /// --packet-cents.
    #[arg(long = "packet-amount-cents", alias = "packet-cents", default_value_t = RedPacketConfig::default().total_cents, value_name = "CENTS", help_heading = "Red packets", allow_hyphen_values = true,
          value_parser = |s: &str| limits::PACKET_CENTS.parse::<u64>(s))]
    pub total_cents: u64,
    /// Grabs per packet.
    #[arg(long = "packet-count", default_value_t = RedPacketConfig::default().count, value_name = "N", help_heading = "Red packets", allow_hyphen_values = true,
          value_parser = |s: &str| limits::PACKET_COUNT.parse::<u64>(s))]
    pub count: u64,
    /// Packets the sender creates (with --until-done: the whole run; with
    /// --duration: per batch, created again as grabbers empty them).
    #[arg(long, default_value_t = RedPacketConfig::default().packets, value_name = "N", help_heading = "Red packets", allow_hyphen_values = true,
          value_parser = |s: &str| limits::PACKETS.parse::<u64>(s))]
    pub packets: u64,
    /// atomic: one Lua script per grab; naive: read, compute, write as separate commands.
    #[arg(id = "redpacket_mode", long = "redpacket-mode", value_enum, default_value_t = RedPacketConfig::default().mode, help_heading = "Red packets")]
    pub mode: Mode,
    /// Naive mode: pause between the read and the write, to force
    /// interleaving, e.g. 20ms (0s to 1m).
    #[arg(long = "naive-delay", default_value = millis_text(RedPacketConfig::default().naive_delay_ms), value_name = "DURATION", help_heading = "Red packets", allow_hyphen_values = true,
          value_parser = |s: &str| limits::NAIVE_DELAY_MS.parse_millis(s))]
    pub naive_delay: Duration,
    /// The legacy form of --naive-delay, in milliseconds.
    #[arg(long = "naive-delay-ms", hide = true, conflicts_with = "naive_delay", value_name = "MS", allow_hyphen_values = true,
          value_parser = |s: &str| limits::NAIVE_DELAY_MS.parse_legacy_millis(s))]
    pub naive_delay_ms: Option<Duration>,
}

impl Default for RedPacketArgs {
    fn default() -> Self {
        let c = RedPacketConfig::default();
        RedPacketArgs {
            total_cents: c.total_cents,
            count: c.count,
            packets: c.packets,
            mode: c.mode,
            naive_delay: Duration::from_millis(c.naive_delay_ms),
            naive_delay_ms: None,
        }
    }
}

impl RedPacketArgs {
    pub fn config(&self) -> RedPacketConfig {
        RedPacketConfig {
            total_cents: self.total_cents,
            count: self.count,
            packets: self.packets,
            mode: self.mode,
            naive_delay_ms: millis(self.naive_delay_ms.unwrap_or(self.naive_delay)),
        }
    }
}

/// Seckill flags.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct SeckillArgs {
    /// Stock of each item.
    #[arg(long, default_value_t = SeckillConfig::default().stock, value_name = "N", help_heading = "Seckill", allow_hyphen_values = true,
          value_parser = |s: &str| limits::STOCK.parse::<u64>(s))]
    pub stock: u64,
    /// Items put on sale (with --until-done: the whole run; with --duration:
    /// per batch, put on sale again as they sell out).
    #[arg(long, default_value_t = SeckillConfig::default().items, value_name = "N", help_heading = "Seckill", allow_hyphen_values = true,
          value_parser = |s: &str| limits::ITEMS.parse::<u64>(s))]
    pub items: u64,
    /// atomic: check and take the stock in one Lua script; naive: GET, then SET.
    #[arg(id = "seckill_mode", long = "seckill-mode", value_enum, default_value_t = SeckillConfig::default().mode, help_heading = "Seckill")]
    pub mode: Mode,
    /// Naive mode: pause between the GET and the SET, to force
    /// interleaving, e.g. 20ms (0s to 1m).
    #[arg(id = "seckill_delay", long = "seckill-delay", default_value = millis_text(SeckillConfig::default().naive_delay_ms), value_name = "DURATION", help_heading = "Seckill", allow_hyphen_values = true,
          value_parser = |s: &str| limits::NAIVE_DELAY_MS.parse_millis(s))]
    pub naive_delay: Duration,
    /// The legacy form of --seckill-delay, in milliseconds.
    #[arg(id = "seckill_delay_ms", long = "seckill-delay-ms", hide = true, conflicts_with = "seckill_delay", value_name = "MS", allow_hyphen_values = true,
          value_parser = |s: &str| limits::NAIVE_DELAY_MS.parse_legacy_millis(s))]
    pub naive_delay_ms: Option<Duration>,
}

impl Default for SeckillArgs {
    fn default() -> Self {
        let c = SeckillConfig::default();
        SeckillArgs {
            stock: c.stock,
            items: c.items,
            mode: c.mode,
            naive_delay: Duration::from_millis(c.naive_delay_ms),
            naive_delay_ms: None,
        }
    }
}

impl SeckillArgs {
    pub fn config(&self) -> SeckillConfig {
        SeckillConfig {
            stock: self.stock,
            items: self.items,
            mode: self.mode,
            naive_delay_ms: millis(self.naive_delay_ms.unwrap_or(self.naive_delay)),
        }
    }
}

/// Lock workload flags of `grabstorm load` (and `tui`), flattened there.
#[derive(Args, Debug, Clone, PartialEq)]
#[command(next_help_heading = "Locks")]
pub struct LockArgs {
    /// Lock kinds the lock grabbers use, split evenly between them
    /// (comma-separated: naive,safe,reentrant,fenced). Also --lock-kinds.
    #[arg(long = "locks", alias = "lock-kinds", value_name = "KINDS", value_delimiter = ',', default_values_t = LockConfig::default().kinds)]
    pub lock_kinds: Vec<LockKind>,
    /// Lock keys per kind the grabbers contend for.
    #[arg(long = "lock-keys", default_value_t = LockConfig::default().keys, allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_KEYS.parse::<usize>(s))]
    pub lock_keys: usize,
    /// Lock TTL, e.g. 100ms, 10s (1ms to 1h).
    #[arg(long = "lock-ttl", default_value = millis_text(LockConfig::default().ttl_ms), value_name = "DURATION", allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_TTL_MS.parse_millis(s))]
    pub lock_ttl: Duration,
    /// The legacy form of --lock-ttl, in milliseconds.
    #[arg(long = "lock-ttl-ms", hide = true, conflicts_with = "lock_ttl", value_name = "MS", allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_TTL_MS.parse_legacy_millis(s))]
    pub lock_ttl_ms: Option<Duration>,
    /// Time the critical section holds the lock, e.g. 5ms (0s to 1h); above
    /// the TTL it shows the classic failure (two holders).
    #[arg(long = "lock-hold", default_value = millis_text(LockConfig::default().hold_ms), value_name = "DURATION", allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_HOLD_MS.parse_millis(s))]
    pub lock_hold: Duration,
    /// The legacy form of --lock-hold, in milliseconds.
    #[arg(long = "lock-hold-ms", hide = true, conflicts_with = "lock_hold", value_name = "MS", allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_HOLD_MS.parse_legacy_millis(s))]
    pub lock_hold_ms: Option<Duration>,
    /// Naive lock: how many grabbers die between SETNX and EXPIRE, leaving a
    /// lock without TTL.
    #[arg(long = "lock-die-between", default_value_t = LockConfig::default().die_between, allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_DIE_BETWEEN.parse::<u64>(s))]
    pub lock_die_between: u64,
    /// Naive lock: chance that an acquisition is one that dies (while deaths
    /// are left), drawn from the seed.
    #[arg(long = "lock-die-probability", default_value_t = LockConfig::default().die_probability)]
    pub lock_die_probability: f64,
    /// First retry backoff, e.g. 2ms (0s to 1m; doubles, jittered, up to
    /// 32x, so thousands of waiters do not flood Redis with attempts).
    #[arg(long = "lock-retry", default_value = millis_text(LockConfig::default().retry_ms), value_name = "DURATION", allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_RETRY_MS.parse_millis(s))]
    pub lock_retry: Duration,
    /// The legacy form of --lock-retry, in milliseconds.
    #[arg(long = "lock-retry-ms", hide = true, conflicts_with = "lock_retry", value_name = "MS", allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_RETRY_MS.parse_legacy_millis(s))]
    pub lock_retry_ms: Option<Duration>,
    /// A grabber gives up acquiring after this long, counted as failed, e.g.
    /// 2s (1ms to 1h).
    #[arg(long = "lock-max-wait", default_value = millis_text(LockConfig::default().max_wait_ms), value_name = "DURATION", allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_MAX_WAIT_MS.parse_millis(s))]
    pub lock_max_wait: Duration,
    /// The legacy form of --lock-max-wait, in milliseconds.
    #[arg(long = "lock-max-wait-ms", hide = true, conflicts_with = "lock_max_wait", value_name = "MS", allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_MAX_WAIT_MS.parse_legacy_millis(s))]
    pub lock_max_wait_ms: Option<Duration>,
    /// With --until-done: lock rounds (acquire, work, release) per lock grabber.
    #[arg(long = "lock-rounds", default_value_t = LockConfig::default().rounds, allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_ROUNDS.parse::<u64>(s))]
    pub lock_rounds: u64,
}

impl Default for LockArgs {
    fn default() -> Self {
        let c = LockConfig::default();
        LockArgs {
            lock_kinds: c.kinds,
            lock_keys: c.keys,
            lock_ttl: Duration::from_millis(c.ttl_ms),
            lock_ttl_ms: None,
            lock_hold: Duration::from_millis(c.hold_ms),
            lock_hold_ms: None,
            lock_die_between: c.die_between,
            lock_die_probability: c.die_probability,
            lock_retry: Duration::from_millis(c.retry_ms),
            lock_retry_ms: None,
            lock_max_wait: Duration::from_millis(c.max_wait_ms),
            lock_max_wait_ms: None,
            lock_rounds: c.rounds,
        }
    }
}

impl LockArgs {
    pub fn config(&self) -> LockConfig {
        LockConfig {
            kinds: self.lock_kinds.clone(),
            keys: self.lock_keys,
            ttl_ms: millis(self.lock_ttl_ms.unwrap_or(self.lock_ttl)),
            hold_ms: millis(self.lock_hold_ms.unwrap_or(self.lock_hold)),
            die_between: self.lock_die_between,
            die_probability: self.lock_die_probability,
            retry_ms: millis(self.lock_retry_ms.unwrap_or(self.lock_retry)),
            max_wait_ms: millis(self.lock_max_wait_ms.unwrap_or(self.lock_max_wait)),
            rounds: self.lock_rounds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_defaults_are_the_config_defaults() {
        assert_eq!(
            RedPacketArgs::default().config(),
            RedPacketConfig::default()
        );
        assert_eq!(SeckillArgs::default().config(), SeckillConfig::default());
        assert_eq!(LockArgs::default().config(), LockConfig::default());
    }
}
