//! Seckill (flash sale): items with a stock of S, buyers racing to buy one
//! each. `atomic` mode checks and takes the stock in one Lua script
//! (`lua/seckill_buy.lua`), so the stock never goes below zero; `naive` mode
//! reads the stock with GET and writes `stock - 1` with SET, so concurrent
//! buyers sell the same unit twice (oversell), as the tutorial shows.
//!
//! After the run, [`Seckill::audit`] reads every item's stock counter and
//! orders and checks them both ways: stock >= 0, orders held <= the initial
//! stock, orders + stock = initial stock (atomic mode), every acknowledged
//! sale held as an order, and orders no buyer was told of counted.

use super::grabber::{GrabberCtx, KeySpace, Step, Workload};
use super::rounds::{AckedRounds, RoundState, Rounds};
use super::Mode;
use crate::audit::journal::{JournalOp, JournalRecord, Ledger};
use crate::metrics::recorder::OpKind;
use crate::metrics::{SeckillView, Snapshot};
use crate::report::model::{Report, SeckillReport};
use redis::aio::ConnectionLike;
use redis::Script;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

static BUY: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/seckill_buy.lua")));

/// What the seckill workload does. Serde for scenario files and the
/// report; the command line's flags ([`crate::cli::SeckillArgs`]) give one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeckillConfig {
    /// Stock of each item.
    pub stock: u64,
    /// Items put on sale (with --until-done: the whole run; with --duration:
    /// per batch, put on sale again as they sell out).
    pub items: u64,
    /// atomic: check and take the stock in one Lua script; naive: GET, then SET.
    pub mode: Mode,
    /// Naive mode: pause between the GET and the SET, to force interleaving.
    pub naive_delay_ms: u64,
}

impl Default for SeckillConfig {
    fn default() -> Self {
        SeckillConfig {
            stock: 100,
            items: 1,
            mode: Mode::Atomic,
            naive_delay_ms: 0,
        }
    }
}

impl SeckillConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.stock == 0 || self.items == 0 {
            return Err("--stock and --items must be at least 1".into());
        }
        Ok(())
    }
}

/// The seckill workload of one run.
pub struct Seckill {
    pub config: SeckillConfig,
    pub rounds: Rounds,
    ledger: Arc<Mutex<Ledger>>,
}

/// A buyer's place in the items.
pub struct SeckillGrabber {
    item: u64,
}

impl Seckill {
    pub fn new(config: SeckillConfig, until_done: bool, ledger: Arc<Mutex<Ledger>>) -> Seckill {
        let limit = until_done.then_some(config.items);
        Seckill {
            rounds: Rounds::new(limit, config.items),
            config,
            ledger,
        }
    }

    async fn create(&self, ctx: &mut GrabberCtx, from: u64, to: u64) -> bool {
        let mut pipe = redis::pipe();
        for i in from..to {
            pipe.cmd("SET")
                .arg(ctx.keys.stock(i))
                .arg(self.config.stock)
                .ignore();
        }
        ctx.query_pipe::<()>(OpKind::Setup, true, &pipe)
            .await
            .is_ok()
    }

    /// Ok(true) sold, Ok(false) sold out / already bought / no such item.
    async fn buy(&self, ctx: &mut GrabberCtx, item: u64) -> Result<bool, ()> {
        let (stock, orders) = (ctx.keys.stock(item), ctx.keys.orders(item));
        match self.config.mode {
            Mode::Atomic => {
                let mut inv = BUY.prepare_invoke();
                inv.key(stock).key(orders).arg(ctx.user).arg(ctx.user);
                match ctx.invoke::<i64>(OpKind::SeckillBuy, true, &inv).await {
                    Ok(left) => Ok(left >= 0),
                    Err(_) => Err(()),
                }
            }
            Mode::Naive => {
                let mut read = redis::pipe();
                read.cmd("GET")
                    .arg(&stock)
                    .cmd("HEXISTS")
                    .arg(&orders)
                    .arg(ctx.user);
                let (left, already): (Option<i64>, bool) = ctx
                    .query_pipe(OpKind::SeckillBuy, false, &read)
                    .await
                    .map_err(|_| ())?;
                let Some(left) = left else { return Ok(false) };
                if already || left <= 0 {
                    return Ok(false);
                }
                if self.config.naive_delay_ms > 0
                    && !ctx
                        .sleep(Duration::from_millis(self.config.naive_delay_ms))
                        .await
                {
                    return Err(());
                }
                let mut write = redis::pipe();
                write
                    .cmd("SET")
                    .arg(&stock)
                    .arg(left - 1)
                    .ignore()
                    .cmd("HSET")
                    .arg(&orders)
                    .arg(ctx.user)
                    .arg(ctx.user)
                    .ignore();
                ctx.query_pipe::<()>(OpKind::SeckillBuy, true, &write)
                    .await
                    .map_err(|_| ())?;
                Ok(true)
            }
        }
    }
}

impl Workload for Seckill {
    type Grabber = SeckillGrabber;

    fn new_grabber(&self, _ctx: &GrabberCtx) -> SeckillGrabber {
        SeckillGrabber { item: 0 }
    }

    async fn step(&self, ctx: &mut GrabberCtx, me: &mut SeckillGrabber) -> Step {
        match self.rounds.state(me.item) {
            RoundState::Ready => {}
            RoundState::Exhausted => return Step::Done,
            RoundState::Missing => {
                let item = me.item;
                if !self
                    .rounds
                    .create_with(item, |from, to| self.create(ctx, from, to))
                    .await
                {
                    ctx.back_off().await;
                }
                return Step::Continue;
            }
        }
        match self.buy(ctx, me.item).await {
            Ok(true) => {
                ctx.journal(
                    JournalOp::SeckillSale,
                    me.item,
                    ctx.user,
                    ctx.user as i64,
                    0,
                )
                .await;
                me.item += 1;
            }
            Ok(false) => me.item += 1,
            Err(()) => {
                ctx.back_off().await;
            }
        }
        Step::Continue
    }

    fn fill_snapshot(&self, snap: &mut Snapshot) {
        let l = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        let sold = l.sales;
        let oversold: u64 = l
            .sales_by_item
            .values()
            .map(|s| s.saturating_sub(self.config.stock))
            .sum();
        drop(l);
        let stock = self.rounds.created() * self.config.stock;
        snap.seckill = Some(SeckillView {
            stock,
            sold,
            stock_left: stock as i64 - sold as i64,
            oversold,
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
            rounds: items,
            by_round: by_item,
        } = self.rounds.acked(journal, JournalOp::SeckillSale);
        let keys = KeySpace::of(&report.key_prefix, &report.run_id, report.hash_tags);
        let mut rep = SeckillReport {
            mode: self.config.mode,
            items,
            stock: self.config.stock,
            sold: acked.len() as u64,
            unknown_outcome_buys: report
                .ops
                .get(OpKind::SeckillBuy.name())
                .map_or(0, |o| o.errors.values().sum()),
            ..Default::default()
        };
        let initial = self.config.stock as i64;
        // Read items in pipelined chunks: one round trip per 200 items.
        let mut from = 0;
        while from < items {
            let to = (from + 200).min(items);
            let mut pipe = redis::pipe();
            for i in from..to {
                pipe.cmd("GET").arg(keys.stock(i));
                pipe.cmd("HGETALL").arg(keys.orders(i));
            }
            let rows: Vec<(Option<i64>, HashMap<u64, String>)> =
                tokio::time::timeout(Duration::from_secs(30), pipe.query_async(conn))
                    .await
                    .context("reading seckill stock and orders from Redis timed out")?
                    .context("reading seckill stock and orders from Redis")?;
            for (i, (left, orders)) in (from..to).zip(rows) {
                let held = orders.len() as u64;
                rep.orders_in_redis += held;
                match left {
                    None if orders.is_empty() => rep.items_missing += 1,
                    None => {
                        // No counter but orders: the stock is unknown, so
                        // the balance is off by the whole initial stock.
                        rep.unbalanced.insert(i, held as i64 - initial);
                    }
                    Some(left) => {
                        rep.stock_left += left;
                        if left < 0 {
                            rep.negative_stock.insert(i, left);
                        }
                        // Naive mode loses decrements by design (its lesson);
                        // only the atomic script promises the balance.
                        let off = held as i64 + left - initial;
                        if self.config.mode == Mode::Atomic && off != 0 {
                            rep.unbalanced.insert(i, off);
                        }
                    }
                }
                if held > self.config.stock {
                    rep.orders_over_stock.insert(i, held);
                }
                let acks = by_item.get(&i).map(|v| v.as_slice()).unwrap_or(&[]);
                rep.oversold += (acks.len() as u64).saturating_sub(self.config.stock);
                let mut seen: BTreeMap<u64, u64> = BTreeMap::new();
                for a in acks {
                    let n = seen.entry(a.user).or_default();
                    *n += 1;
                    let order_held = orders.get(&a.user).map(String::as_str)
                        == Some(a.value.to_string().as_str());
                    if !order_held || *n > 1 {
                        // Either Redis lost the order, or the same buyer was
                        // acknowledged twice and Redis holds one order for both.
                        rep.lost_acked_sales += 1;
                        lost.push((*a).clone());
                    }
                }
                rep.unacked_orders +=
                    orders.keys().filter(|u| !seen.contains_key(u)).count() as u64;
            }
            from = to;
        }
        report.seckill = Some(rep);
        Ok(())
    }
}
