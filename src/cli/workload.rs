//! The workload flags (red packets, seckill, locks), flattened into `load`,
//! `tui` and `run`. Their defaults are the domain configs' own defaults;
//! each set of flags converts into the config it describes.

use crate::limits;
use crate::workload::lock::LockConfig;
use crate::workload::redpacket::RedPacketConfig;
use crate::workload::seckill::SeckillConfig;
use crate::workload::{LockKind, Mode};
use clap::Args;

/// Red-packet flags.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct RedPacketArgs {
    /// Amount in each red packet, in cents (10000 = 100.00 yuan).
    #[arg(long = "packet-cents", default_value_t = RedPacketConfig::default().total_cents, value_name = "CENTS", help_heading = "Red packets", allow_hyphen_values = true,
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
    /// Naive mode: pause between the read and the write, to force interleaving.
    #[arg(long = "naive-delay-ms", default_value_t = RedPacketConfig::default().naive_delay_ms, value_name = "MS", help_heading = "Red packets", allow_hyphen_values = true,
          value_parser = |s: &str| limits::NAIVE_DELAY_MS.parse::<u64>(s))]
    pub naive_delay_ms: u64,
}

impl Default for RedPacketArgs {
    fn default() -> Self {
        let c = RedPacketConfig::default();
        RedPacketArgs {
            total_cents: c.total_cents,
            count: c.count,
            packets: c.packets,
            mode: c.mode,
            naive_delay_ms: c.naive_delay_ms,
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
            naive_delay_ms: self.naive_delay_ms,
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
    /// Naive mode: pause between the GET and the SET, to force interleaving.
    #[arg(id = "seckill_delay_ms", long = "seckill-delay-ms", default_value_t = SeckillConfig::default().naive_delay_ms, value_name = "MS", help_heading = "Seckill", allow_hyphen_values = true,
          value_parser = |s: &str| limits::NAIVE_DELAY_MS.parse::<u64>(s))]
    pub naive_delay_ms: u64,
}

impl Default for SeckillArgs {
    fn default() -> Self {
        let c = SeckillConfig::default();
        SeckillArgs {
            stock: c.stock,
            items: c.items,
            mode: c.mode,
            naive_delay_ms: c.naive_delay_ms,
        }
    }
}

impl SeckillArgs {
    pub fn config(&self) -> SeckillConfig {
        SeckillConfig {
            stock: self.stock,
            items: self.items,
            mode: self.mode,
            naive_delay_ms: self.naive_delay_ms,
        }
    }
}

/// Lock workload flags of `grabstorm load` (and `tui`), flattened there.
#[derive(Args, Debug, Clone, PartialEq)]
#[command(next_help_heading = "Locks")]
pub struct LockArgs {
    /// Lock kinds the lock grabbers use, split evenly between them
    /// (comma-separated: naive,safe,reentrant,fenced).
    #[arg(long = "lock-kinds", value_delimiter = ',', default_values_t = LockConfig::default().kinds)]
    pub lock_kinds: Vec<LockKind>,
    /// Lock keys per kind the grabbers contend for.
    #[arg(long = "lock-keys", default_value_t = LockConfig::default().keys, allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_KEYS.parse::<usize>(s))]
    pub lock_keys: usize,
    /// Lock TTL in milliseconds.
    #[arg(long = "lock-ttl-ms", default_value_t = LockConfig::default().ttl_ms, allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_TTL_MS.parse::<u64>(s))]
    pub lock_ttl_ms: u64,
    /// Time the critical section holds the lock, in milliseconds; above the
    /// TTL it shows the classic failure (two holders).
    #[arg(long = "lock-hold-ms", default_value_t = LockConfig::default().hold_ms, allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_HOLD_MS.parse::<u64>(s))]
    pub lock_hold_ms: u64,
    /// Naive lock: how many grabbers die between SETNX and EXPIRE, leaving a
    /// lock without TTL.
    #[arg(long = "lock-die-between", default_value_t = LockConfig::default().die_between, allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_DIE_BETWEEN.parse::<u64>(s))]
    pub lock_die_between: u64,
    /// Naive lock: chance that an acquisition is one that dies (while deaths
    /// are left), drawn from the seed.
    #[arg(long = "lock-die-probability", default_value_t = LockConfig::default().die_probability)]
    pub lock_die_probability: f64,
    /// First retry backoff in milliseconds (doubles, jittered, up to 32x, so
    /// thousands of waiters do not flood Redis with attempts).
    #[arg(long = "lock-retry-ms", default_value_t = LockConfig::default().retry_ms, allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_RETRY_MS.parse::<u64>(s))]
    pub lock_retry_ms: u64,
    /// A grabber gives up acquiring after this many milliseconds (counted as failed).
    #[arg(long = "lock-max-wait-ms", default_value_t = LockConfig::default().max_wait_ms, allow_hyphen_values = true,
          value_parser = |s: &str| limits::LOCK_MAX_WAIT_MS.parse::<u64>(s))]
    pub lock_max_wait_ms: u64,
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
            lock_ttl_ms: c.ttl_ms,
            lock_hold_ms: c.hold_ms,
            lock_die_between: c.die_between,
            lock_die_probability: c.die_probability,
            lock_retry_ms: c.retry_ms,
            lock_max_wait_ms: c.max_wait_ms,
            lock_rounds: c.rounds,
        }
    }
}

impl LockArgs {
    pub fn config(&self) -> LockConfig {
        LockConfig {
            kinds: self.lock_kinds.clone(),
            keys: self.lock_keys,
            ttl_ms: self.lock_ttl_ms,
            hold_ms: self.lock_hold_ms,
            die_between: self.lock_die_between,
            die_probability: self.lock_die_probability,
            retry_ms: self.lock_retry_ms,
            max_wait_ms: self.lock_max_wait_ms,
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
