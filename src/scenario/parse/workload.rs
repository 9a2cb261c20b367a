//! The `[workload]` section: which workload the grabbers run, how many, how
//! they reach Redis, and the knobs of red packets, seckill and locks, each
//! number within the same limit as its flag.

use super::reader::{entry, normalise, Reader};
use crate::limits;
use crate::scenario::model::{ClientMode, WorkloadSpec};
use crate::workload::{LockKind, Mode, WorkloadKind};
use toml::de::{DeTable, DeValue};

const WORKLOAD_KEYS: &[&str] = &[
    "kind",
    "grabbers",
    "users",
    "connections",
    "mode",
    "client",
    "hash_tags",
    "until_done",
    "packets",
    "packet_amount_cents",
    "packet_count",
    "stock",
    "items",
    "naive_delay",
    "think",
    "locks",
    "lock_keys",
    "lock_ttl",
    "lock_hold",
    "lock_die_between",
];

/// The workload names a file may write, for `kind` and a `workload` step.
pub(super) fn workload_names() -> [(&'static str, WorkloadKind); 4] {
    WorkloadKind::ALL.map(|k| (k.name(), k))
}

impl Reader<'_> {
    /// Fills `w` from `[workload]`.
    pub(super) fn workload(&mut self, t: &DeTable<'_>, w: &mut WorkloadSpec) {
        let entries = self.entries(t, WORKLOAD_KEYS, "[workload]");
        for (k, v) in &entries {
            let key = normalise(k.get_ref());
            match key.as_str() {
                "kind" => {
                    w.kind = self
                        .choice("workload", v, &workload_names())
                        .unwrap_or(w.kind)
                }
                "grabbers" => {
                    if let Some(n) = self.limited(&key, v, limits::GRABBERS) {
                        w.grabbers = n as usize;
                    }
                }
                "users" => w.users = self.limited(&key, v, limits::USERS),
                "connections" => {
                    w.connections = self
                        .limited(&key, v, limits::CONNECTIONS)
                        .map(|n| n as usize)
                }
                "mode" => {
                    let names = Mode::ALL.map(|m| (m.name(), m));
                    w.mode = self.choice("mode", v, &names).unwrap_or(w.mode)
                }
                "client" => {
                    let names = ClientMode::ALL.map(|c| (c.name(), c));
                    w.client = self.choice("client", v, &names).unwrap_or(w.client)
                }
                "until_done" => w.until_done = self.boolean(&key, v).unwrap_or(false),
                "hash_tags" => w.hash_tags = self.boolean(&key, v),
                "packets" => w.packets = self.limited(&key, v, limits::PACKETS),
                "packet_amount_cents" => {
                    w.packet_amount_cents = self.limited(&key, v, limits::PACKET_CENTS)
                }
                "packet_count" => w.packet_count = self.limited(&key, v, limits::PACKET_COUNT),
                "stock" => w.stock = self.limited(&key, v, limits::STOCK),
                "items" => w.items = self.limited(&key, v, limits::ITEMS),
                "naive_delay" => w.naive_delay = self.limited_ms(&key, v, limits::NAIVE_DELAY_MS),
                "think" => w.think = self.limited_ms(&key, v, limits::THINK_MS),
                "locks" => {
                    let DeValue::Array(items) = v.get_ref() else {
                        self.wrong_type(
                            &key,
                            v,
                            "an array of lock kinds, e.g. [\"safe\", \"fenced\"]",
                        );
                        continue;
                    };
                    let names = LockKind::ALL.map(|l| (l.name(), l));
                    w.locks.clear();
                    for item in items.iter() {
                        if let Some(l) = self.choice("lock kind", item, &names) {
                            if !w.locks.contains(&l) {
                                w.locks.push(l);
                            }
                        }
                    }
                }
                "lock_keys" => w.lock_keys = self.limited(&key, v, limits::LOCK_KEYS),
                "lock_ttl" => w.lock_ttl = self.limited_ms(&key, v, limits::LOCK_TTL_MS),
                "lock_hold" => w.lock_hold = self.limited_ms(&key, v, limits::LOCK_HOLD_MS),
                "lock_die_between" => {
                    w.lock_die_between = self.limited(&key, v, limits::LOCK_DIE_BETWEEN)
                }
                // Unknown keys were reported by `entries`; an allowed key
                // without an arm here would be silently ignored.
                other => debug_assert!(
                    !WORKLOAD_KEYS.contains(&other),
                    "`{other}` is allowed but not read"
                ),
            }
        }
        if let (Some(amount), Some(count)) = (w.packet_amount_cents, w.packet_count) {
            if amount < count {
                let span = entry(&entries, "packet_amount_cents")
                    .map(|(_, v)| v.span())
                    .unwrap_or(0..0);
                self.error(
                    span,
                    format!("a packet of {amount} cents cannot be split into {count} grabs of at least 1 cent: expected packet_amount_cents >= packet_count"),
                    None,
                );
            }
        }
    }
}
