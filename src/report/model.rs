//! The report of one run: the schema of `report.json` (issues 4, 5 and 7).
//! Built once by the lab when the run settles and audits, then written as
//! JSON, rendered as tables on stdout, as report.md and as charts, and read
//! by scenario expectations. Every field has a default so older or partial
//! reports still load.

use crate::audit::journal::JournalRecord;
use crate::kinds::{LockKind, Mode, WorkloadKind};
use crate::metrics::{ErrorClass, Event, LatencyBucket, LatencySummary, LockViolation};
use crate::metrics::{PositionStats, ThroughputPoint};
use crate::topology::TopologySpec;
use crate::words::{latency, millis, percent, secs, yuan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::metrics::aggregate::OpReport;

/// Red packets after the audit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedPacketReport {
    pub mode: Mode,
    /// Packets created.
    pub packets: u64,
    /// Grabs per packet (the packet's count).
    pub count_per_packet: u64,
    /// Grabs acknowledged to the client.
    pub grabs_ok: u64,
    /// Grabs Redis holds.
    pub grabs_in_redis: u64,
    pub amount_sent_cents: u64,
    /// Sum of the amounts Redis recorded as granted.
    pub amount_granted_cents: u64,
    /// Sum of what Redis says is left in the packets.
    pub amount_remaining_cents: i64,
    /// Sum of the amounts acknowledged to clients.
    pub amount_acked_cents: u64,
    /// Every packet: granted + remaining == total.
    pub conservation_ok: bool,
    /// Packets where granted + remaining != total.
    pub conservation_violations: u64,
    /// Money created (+) or lost (-) over all packets, in cents.
    pub money_created_cents: i64,
    /// Users holding more than one grant in one packet (extra grants counted).
    pub duplicate_grabs: u64,
    /// Grants below 1 cent.
    pub below_one_cent: u64,
    /// Acknowledged grabs that Redis does not hold: missing from the order
    /// list (same user, same amount) or their user missing from the grabs
    /// hash.
    pub lost_acked_grabs: u64,
    /// Packets created that Redis no longer holds at all (packet hash,
    /// grabs hash and order list all gone): their whole amount is lost and
    /// counts in `conservation_violations` and `money_created_cents`.
    pub packets_missing: u64,
    /// Fields of the grabs hashes (user -> amount), all packets.
    pub grabs_in_hash: u64,
    /// Sum of the amounts in the grabs hashes.
    pub amount_in_hash_cents: u64,
    /// Packets whose own records disagree: the grabs hash and the order list
    /// differ in count, users or amounts, the packet hash is missing, or its
    /// `remaining_count` does not match the grants held.
    pub records_disagree: u64,
    /// Grants Redis holds that no grabber was told of.
    pub unacked_grants: u64,
    /// Grab calls that ended in an error, whose outcome the grabber never
    /// learnt: each may be a grant Redis holds that nobody was told of.
    pub unknown_outcome_grabs: u64,
    /// The mean every position should get: total / count.
    pub expected_mean_cents: f64,
    pub by_position: Vec<PositionStats>,
    pub gini_mean: f64,
    /// Amounts in grab order, per packet (the first 1,000 packets), from Redis.
    pub amounts: BTreeMap<u64, Vec<i64>>,
}

/// Seckill after the audit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeckillReport {
    pub mode: Mode,
    /// Items put on sale (one stock counter each).
    pub items: u64,
    /// Stock per item.
    pub stock: u64,
    /// Sales acknowledged to buyers.
    pub sold: u64,
    /// Orders Redis holds.
    pub orders_in_redis: u64,
    /// Sum of the stock counters left in Redis.
    pub stock_left: i64,
    /// Acknowledged sales beyond the stock.
    pub oversold: u64,
    /// Acknowledged sales that Redis does not hold.
    pub lost_acked_sales: u64,
    /// Items whose stock counter Redis holds below zero: item -> stock.
    pub negative_stock: BTreeMap<u64, i64>,
    /// Items holding more orders than their initial stock: item -> orders.
    pub orders_over_stock: BTreeMap<u64, u64>,
    /// Atomic mode: items where orders + stock left != initial stock:
    /// item -> orders + stock - initial stock.
    pub unbalanced: BTreeMap<u64, i64>,
    /// Items put on sale that Redis no longer holds at all (no stock
    /// counter, no order).
    pub items_missing: u64,
    /// Orders Redis holds that no buyer was told of.
    pub unacked_orders: u64,
    /// Buy calls that ended in an error, whose outcome the buyer never
    /// learnt: each may be an order Redis holds that nobody was told of.
    pub unknown_outcome_buys: u64,
}

/// One lock kind after the run (filled by the lock workload).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LockReport {
    /// Acquire attempts sent (each SET NX, SETNX or acquire script call).
    pub attempts: u64,
    /// Attempts that got the lock.
    pub acquired: u64,
    /// Rounds that gave up waiting (`max_wait_ms` of refused attempts).
    pub failed: u64,
    /// Moments two grabbers held one lock: in the run, what the in-process
    /// holder registry saw (`violations_observed`); in `grabstorm audit
    /// DIR`, what the journal proves (`violations_journal`). `None`: not
    /// recomputable (printed so, never 0).
    pub violations: Option<u64>,
    /// Overlaps the in-process holder registry saw during the run; `None`
    /// when no run report is at hand.
    pub violations_observed: Option<u64>,
    /// Overlaps the journal proves (an acquisition acknowledged before
    /// another holder's write of the resource was); `None` when a section
    /// without an acknowledged write leaves it undecided.
    pub violations_journal: Option<u64>,
    /// Overlaps the journal proves, a lower bound when
    /// `violations_journal` is `None`.
    pub violations_proven: u64,
    /// Holders whose release found the lock gone or someone else's after
    /// the TTL had run out while they held it (slow holder): a lock-safety
    /// event, never a lost write.
    pub ttl_expired_while_held: u64,
    pub lost_updates: u64,
    pub stale_tokens_refused: u64,
    /// Locks left in Redis with no TTL (the naive lock's crash window).
    pub locks_without_ttl: u64,
    pub wait: LatencySummary,
    pub hold: LatencySummary,
    pub violation_list: Vec<LockViolation>,
    /// Acknowledged lock writes that Redis does not hold.
    pub lost_acked_writes: u64,
    // Details added by the lock workload (src/workload/lock.rs).
    /// Attempts refused because someone held the lock (contention).
    pub refused_attempts: u64,
    /// Critical sections whose write of the resource was acknowledged.
    pub increments_acked: u64,
    /// Sum of the protected counters in Redis after the run.
    pub counter_total: u64,
    /// Releases that found the lock gone or someone else's (it had expired).
    pub expired_before_release: u64,
    /// Reentrant lock: successful re-entries (hold count 2).
    pub reentries: u64,
    /// Naive lock: grabbers that died between SETNX and EXPIRE.
    pub died_between_setnx_and_expire: u64,
    /// The lock keys found without TTL.
    pub locks_without_ttl_keys: Vec<String>,
    /// Redis errors seen by this kind's grabbers.
    pub errors: u64,
    /// Acknowledged grants that vanished from Redis (e.g. in a failover):
    /// the holder's release found the lock gone or someone else's before
    /// its TTL could have run out (less than the TTL after the acquire was
    /// sent). Server-side evidence: the release's reply.
    pub locks_lost: u64,
    /// The grants behind `locks_lost` (up to 1,000), so that `grabstorm
    /// audit DIR` can report them again: only the run saw the releases.
    pub lost_grants: Vec<JournalRecord>,
}

/// What the audit did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditSummary {
    /// Whether Redis was read at all. False: no data node answered (or the
    /// run was cut short, or a second signal skipped it); every count below is then unknown, not zero.
    pub checked: bool,
    /// Why the audit was not made, or how its node was chosen.
    pub reason: Option<String>,
    /// Acknowledged writes in the journal (records read back for the audit).
    #[serde(alias = "journal_lines")]
    pub journal_records: u64,
    /// The node whose data was checked (the master once the run settled,
    /// else the reachable data node that holds the most acknowledged writes).
    pub checked_node: String,
    /// Every data node the audit read with what it lacked, when there was
    /// no agreed master: (node, acknowledged writes missing on it).
    pub nodes_checked: Vec<(String, u64)>,
    /// Acknowledged writes missing from Redis, all workloads.
    pub lost_acked_writes: u64,
    /// The first missing writes (up to 1,000), for the timeline.
    pub lost: Vec<JournalRecord>,
}

impl Default for AuditSummary {
    /// An audit that ran (an older report.json without `checked` was audited).
    fn default() -> Self {
        AuditSummary {
            checked: true,
            reason: None,
            journal_records: 0,
            checked_node: String::new(),
            nodes_checked: Vec::new(),
            lost_acked_writes: 0,
            lost: Vec::new(),
        }
    }
}

/// One expectation of a scenario with its verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExpectationVerdict {
    pub name: String,
    pub expected: String,
    pub measured: String,
    pub ok: bool,
}

/// The scenario a run played, as report.md tells it: the scenario's own
/// title, lesson and step sentences, recorded by the runner so the report
/// renders from the report alone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Script {
    /// The scenario file, as given on the command line.
    pub file: String,
    pub title: String,
    /// What the scenario shows a reader.
    pub teaches: String,
    /// The topology the scenario asked for.
    pub topology: Option<TopologySpec>,
    pub steps: Vec<ScriptStep>,
}

/// One step of a [`Script`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScriptStep {
    /// When it was due, in milliseconds after the lab started.
    pub at_ms: u64,
    /// What it does, in words (`segfault master`, `set grabbers to 200`).
    pub sentence: String,
    /// The narration the file gives it.
    pub note: Option<String>,
    /// The question it raises for the class (answered in
    /// [`Report::questions`] at the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
}

/// A lesson's question with the answer the run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuestionAnswer {
    /// When the step that asks it was due, ms after the start.
    pub at_ms: u64,
    pub question: String,
    /// The measured name that answers it (`write_outage`).
    pub measure: String,
    /// The answer in words (`2.3s`, `0`, `true`), or `unknown: why`.
    pub answer: String,
    /// Whether the run measured it (false: `answer` says why not).
    pub known: bool,
}

/// The overall verdict: every check of the audit, and whether all held.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Verdict {
    /// True when every audit check held (conservation, no duplicate, no
    /// oversell, no lost acknowledged write, no lock violation) and every
    /// scenario expectation held.
    pub ok: bool,
    /// One line per failed check, in plain words.
    pub findings: Vec<String>,
}

/// What the cluster client saw (cluster mode).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterClientReport {
    /// `cluster.redirects.moved`, `.ask`, `.refreshes`.
    pub redirects: crate::metrics::ClusterRedirects,
    /// Each shard's answered commands over the run.
    pub shards: Vec<crate::metrics::ShardOps>,
    /// `cluster.migrations[]`: every reshard of the run, from its timeline.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<Migration>,
}

/// One reshard of a run (`cluster.migrations[]`), as its `reshard_ended`
/// event tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Migration {
    /// The shards (from 1) the slots left and joined.
    pub from: usize,
    pub to: usize,
    /// Their masters during the move.
    pub from_node: String,
    pub to_node: String,
    /// Slots moved (of `slots_planned`).
    pub slots: u32,
    pub slots_planned: u32,
    pub keys_moved: u64,
    /// From the first SETSLOT to every node agreeing (or giving up on it).
    pub millis: u64,
    /// When it ended, ms since the run started.
    pub ended_ms: u64,
    pub complete: bool,
    pub every_node_agrees: bool,
    /// MOVED and ASK replies the run's client got while it ran (its
    /// counters after minus before).
    pub moved: u64,
    pub ask: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Migration {
    /// Every reshard of `events`, in order.
    pub fn all_in(events: &[crate::metrics::Event]) -> Vec<Migration> {
        events
            .iter()
            .filter_map(|e| match &e.kind {
                crate::metrics::EventKind::ReshardEnded {
                    from_shard,
                    to_shard,
                    from,
                    to,
                    slots_moved,
                    slots_total,
                    keys_moved,
                    millis,
                    complete,
                    every_node_agrees,
                    moved,
                    ask,
                    error,
                } => Some(Migration {
                    from: *from_shard,
                    to: *to_shard,
                    from_node: from.clone(),
                    to_node: to.clone(),
                    slots: *slots_moved,
                    slots_planned: *slots_total,
                    keys_moved: *keys_moved,
                    millis: *millis,
                    ended_ms: e.at_ms,
                    complete: *complete,
                    every_node_agrees: *every_node_agrees,
                    moved: *moved,
                    ask: *ask,
                    error: error.clone(),
                }),
                _ => None,
            })
            .collect()
    }
}

/// `report.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    /// What produced the report: versions, backend, mode, start time,
    /// command line, and the report's schema version.
    pub meta: super::meta::Meta,
    pub run_id: String,
    pub seed: u64,
    /// `local` or `docker` (or `standalone` for a fixed address).
    pub backend: String,
    pub workload: WorkloadKind,
    /// `sentinel` or `naive`.
    pub client: String,
    pub duration_s: f64,
    pub grabbers: usize,
    pub connections: usize,
    /// Whether the run's keys carried hash tags (cluster mode's default):
    /// the audit reads the same key names back.
    pub hash_tags: bool,
    /// The prefix of the run's keys (`<prefix>:<run id>:...`); empty in
    /// reports written before `--prefix` existed, which used `gs`.
    #[serde(default)]
    pub key_prefix: String,
    /// Cluster mode: what the cluster client counted; absent in Sentinel mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterClientReport>,
    /// Per operation kind, by name (e.g. `redpacket.grab`).
    pub ops: BTreeMap<String, OpReport>,
    /// All errors by class.
    pub errors: BTreeMap<ErrorClass, u64>,
    /// Per-second series: successful operations, errors, successful
    /// writes, and the p50/p99 latency of the second's successful operations.
    pub throughput: Vec<ThroughputPoint>,
    /// Whole-run latency of all Redis operations.
    pub latency: LatencySummary,
    /// Whole-run histogram on log-spaced buckets.
    pub latency_buckets: Vec<LatencyBucket>,
    pub redpacket: Option<RedPacketReport>,
    pub seckill: Option<SeckillReport>,
    pub locks: BTreeMap<LockKind, LockReport>,
    pub audit: AuditSummary,
    /// The timeline (issue 5).
    pub events: Vec<Event>,
    /// One entry per fault on the master (issue 5), failed over or not,
    /// filled from the timeline by `metrics::timeline`.
    pub failovers: Vec<crate::metrics::timeline::Failover>,
    /// Every lost acknowledged write attributed to a cause; the sum over
    /// the list is `audit.lost_acked_writes`.
    pub losses: Vec<crate::metrics::losses::Loss>,
    /// Scheduled faults that could not be injected, with why: each fails
    /// the verdict (the run did not test what it said).
    pub faults_failed: Vec<String>,
    /// States of the topology worth a word, read from Redis once the run
    /// settled (a master that reports itself a replica, a replica of itself
    /// or of an unreachable address, a replica whose link is down) and from
    /// the roles polled during the run (an old master that rejoined and was
    /// promoted again; a replica promoted after its replication had stalled,
    /// with the bytes it lacked).
    pub topology_findings: Vec<String>,
    /// The scenario that was played (issue 7), as given.
    pub scenario: Option<serde_json::Value>,
    /// The same scenario as report.md tells it: title, lesson and steps in words.
    pub script: Option<Script>,
    /// Its expectations with their verdicts (issue 7).
    pub expectations: Vec<ExpectationVerdict>,
    /// The lesson's questions with their measured answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub questions: Vec<QuestionAnswer>,
    pub verdict: Verdict,
}

impl Report {
    /// Acknowledged writes that Redis lost, all workloads.
    pub fn lost_acked_writes(&self) -> u64 {
        self.audit.lost_acked_writes
    }

    /// Lock violations over all kinds; `None` when some kind's count is
    /// not recomputable.
    pub fn lock_violations(&self) -> Option<u64> {
        self.locks.values().map(|l| l.violations).sum()
    }

    /// Re-derives `verdict` from the audit sections and the expectations.
    pub fn judge(&mut self) {
        let mut f = Vec::new();
        if !self.audit.checked {
            f.push(format!(
                "the audit could not be made: {}; lost writes, conservation and oversell are unknown",
                self.audit.reason.as_deref().unwrap_or("no reason recorded")
            ));
        }
        for failed in &self.faults_failed {
            f.push(format!("a scheduled fault failed: {failed}"));
        }
        if let Some(rp) = &self.redpacket {
            f.extend(rp.findings());
        }
        if let Some(sk) = &self.seckill {
            f.extend(sk.findings());
        }
        for (k, l) in &self.locks {
            f.extend(l.findings(*k));
        }
        let other_lost = self
            .audit
            .lost_acked_writes
            .saturating_sub(self.redpacket.as_ref().map_or(0, |r| r.lost_acked_grabs))
            .saturating_sub(self.seckill.as_ref().map_or(0, |s| s.lost_acked_sales))
            .saturating_sub(self.locks.values().map(|l| l.lost_acked_writes).sum());
        if other_lost > 0 {
            f.push(format!("{other_lost} other acknowledged write(s) lost"));
        }
        for e in &self.expectations {
            if !e.ok {
                f.push(format!(
                    "expectation {}: expected {}, measured {}",
                    e.name, e.expected, e.measured
                ));
            }
        }
        self.verdict = Verdict {
            ok: f.is_empty(),
            findings: f,
        };
    }
}

impl RedPacketReport {
    /// The failed red-packet checks, in words with their numbers.
    pub fn findings(&self) -> Vec<String> {
        let mut f = Vec::new();
        if !self.conservation_ok {
            let gone = if self.packets_missing > 0 {
                format!(
                    ", {} of them gone whole from Redis ({} cents never granted nor left)",
                    self.packets_missing,
                    self.packets_missing * self.amount_sent_cents / self.packets.max(1)
                )
            } else {
                String::new()
            };
            f.push(format!(
                "red packets: money not conserved in {} packet(s) ({:+} cents){gone}",
                self.conservation_violations, self.money_created_cents
            ));
        }
        if self.records_disagree > 0 {
            f.push(format!(
                "red packets: the packet hash, grabs hash and order list disagree in {} packet(s) \
                 (grabs hash: {} grants, {} cents; order lists: {} grants, {} cents)",
                self.records_disagree,
                self.grabs_in_hash,
                self.amount_in_hash_cents,
                self.grabs_in_redis,
                self.amount_granted_cents
            ));
        }
        if self.duplicate_grabs > 0 {
            f.push(format!(
                "red packets: {} duplicate grab(s)",
                self.duplicate_grabs
            ));
        }
        if self.below_one_cent > 0 {
            f.push(format!(
                "red packets: {} grant(s) below 1 cent",
                self.below_one_cent
            ));
        }
        if self.lost_acked_grabs > 0 {
            f.push(format!(
                "red packets: {} acknowledged grab(s) lost (missing from the order list or the grabs hash)",
                self.lost_acked_grabs
            ));
        }
        if self.unacked_grants > self.unknown_outcome_grabs {
            f.push(format!(
                "red packets: {} grant(s) held that no grabber was told of ({} grab call(s) ended without an answer)",
                self.unacked_grants, self.unknown_outcome_grabs
            ));
        }
        f
    }
}

impl SeckillReport {
    /// The failed seckill checks, in words with their numbers.
    pub fn findings(&self) -> Vec<String> {
        let mut f = Vec::new();
        for (item, stock) in &self.negative_stock {
            f.push(format!("seckill: stock of item {item} is {stock}"));
        }
        for (item, orders) in &self.orders_over_stock {
            f.push(format!(
                "seckill: item {item} holds {orders} orders for a stock of {}",
                self.stock
            ));
        }
        for (item, off) in &self.unbalanced {
            f.push(format!(
                "seckill: item {item}: orders + stock left = {} where the initial stock was {} ({off:+})",
                self.stock as i64 + off,
                self.stock
            ));
        }
        if self.items_missing > 0 {
            f.push(format!(
                "seckill: {} item(s) put on sale are gone from Redis (no stock, no order)",
                self.items_missing
            ));
        }
        if self.oversold > 0 {
            f.push(format!(
                "seckill: {} sale(s) acknowledged beyond the stock",
                self.oversold
            ));
        }
        if self.lost_acked_sales > 0 {
            f.push(format!(
                "seckill: {} acknowledged sale(s) lost",
                self.lost_acked_sales
            ));
        }
        if self.unacked_orders > self.unknown_outcome_buys {
            f.push(format!(
                "seckill: {} order(s) held that no buyer was told of ({} buy call(s) ended without an answer)",
                self.unacked_orders, self.unknown_outcome_buys
            ));
        }
        f
    }
}

impl LockReport {
    /// The failed checks of lock `kind`, in words with their numbers.
    pub fn findings(&self, kind: LockKind) -> Vec<String> {
        let mut f = Vec::new();
        match self.violations {
            Some(0) => {}
            Some(n) => {
                let why = if self.ttl_expired_while_held > 0 {
                    format!(
                        "; {} holder(s) outlived the lock's TTL (it ran out while they were slow): \
                         a lock-safety event, not lost data",
                        self.ttl_expired_while_held
                    )
                } else {
                    String::new()
                };
                f.push(format!(
                    "lock {kind}: {n} moment(s) two grabbers held one lock{why}"
                ));
            }
            None if self.violations_observed == Some(0) => {}
            None => f.push(format!(
                "lock {kind}: violations not recomputable from the journal (the run saw {})",
                self.violations_observed
                    .map_or_else(|| "no count".to_string(), |v| v.to_string())
            )),
        }
        if self.lost_updates > 0 {
            f.push(format!(
                "lock {kind}: {} lost update(s) ({} increments acknowledged, counters hold {})",
                self.lost_updates, self.increments_acked, self.counter_total
            ));
        }
        if self.locks_without_ttl > 0 {
            f.push(format!(
                "lock {kind}: {} lock(s) left without TTL",
                self.locks_without_ttl
            ));
        }
        if self.lost_acked_writes > 0 {
            f.push(format!(
                "lock {kind}: {} acknowledged write(s) lost ({} grant(s) gone from Redis before their TTL, {} counter write(s) Redis no longer holds)",
                self.lost_acked_writes,
                self.locks_lost,
                self.lost_acked_writes.saturating_sub(self.locks_lost)
            ));
        }
        f
    }
}

impl Report {
    /// The human summary printed by headless commands: tables of
    /// operations, checks and the verdict.
    pub fn summary_tables(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "\nrun {}  seed {}  backend {}  client {}  workload {}  grabbers {}  connections {}  {}",
            self.run_id,
            self.seed,
            self.backend,
            self.client,
            self.workload,
            self.grabbers,
            self.connections,
            secs((self.duration_s * 1000.0).round() as u64)
        );
        let _ = writeln!(
            o,
            "\n{:<26} {:>10} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>9}",
            "operation", "ok", "errors", "ops/s", "p50", "p90", "p99", "p99.9", "max"
        );
        for (name, op) in &self.ops {
            let errors: u64 = op.errors.values().sum();
            let _ = writeln!(
                o,
                "{:<26} {:>10} {:>8} {:>10.0} {:>8} {:>8} {:>8} {:>8} {:>9}",
                name,
                op.ok,
                errors,
                op.ops_per_s,
                latency(op.p50_us),
                latency(op.p90_us),
                latency(op.p99_us),
                latency(op.p999_us),
                latency(op.max_us)
            );
        }
        if !self.errors.is_empty() {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(c, n)| format!("{} {n}", c.name()))
                .collect();
            let _ = writeln!(o, "errors by class: {}", list.join(", "));
        }
        if let Some(rp) = &self.redpacket {
            let _ = writeln!(
                o,
                "\nred packets ({:?}): {} packets of {} yuan in {} grabs; {} grabs acknowledged, {} in Redis",
                rp.mode,
                rp.packets,
                yuan(rp.amount_sent_cents as f64 / rp.packets.max(1) as f64),
                rp.count_per_packet,
                rp.grabs_ok,
                rp.grabs_in_redis
            );
            let _ = writeln!(
                o,
                "  conservation {}  ({} packets off, {} gone whole, {:+} cents)  duplicates {}  below 1 cent {}  lost acknowledged {}",
                if rp.conservation_ok { "ok" } else { "BROKEN" },
                rp.conservation_violations,
                rp.packets_missing,
                rp.money_created_cents,
                rp.duplicate_grabs,
                rp.below_one_cent,
                rp.lost_acked_grabs
            );
            let _ = writeln!(
                o,
                "  grabs hash {} grants ({} cents), order lists {} grants ({} cents), {} packet(s) whose records disagree; {} grant(s) nobody was told of ({} grab call(s) unanswered)",
                rp.grabs_in_hash,
                rp.amount_in_hash_cents,
                rp.grabs_in_redis,
                rp.amount_granted_cents,
                rp.records_disagree,
                rp.unacked_grants,
                rp.unknown_outcome_grabs
            );
            if !rp.by_position.is_empty() {
                let _ = writeln!(
                    o,
                    "  {:<9} {:>8} {:>10} {:>10} {:>10}   (expected mean {})",
                    "position",
                    "packets",
                    "mean",
                    "stdev",
                    "luck king",
                    yuan(rp.expected_mean_cents)
                );
                for p in &rp.by_position {
                    let _ = writeln!(
                        o,
                        "  {:<9} {:>8} {:>10} {:>10} {:>10}",
                        p.position,
                        p.grabs,
                        yuan(p.mean_cents),
                        yuan(p.stdev_cents),
                        percent(p.luck_king_share)
                    );
                }
                let _ = writeln!(o, "  mean Gini per packet {:.3}", rp.gini_mean);
            }
        }
        if let Some(sk) = &self.seckill {
            let _ = writeln!(
                o,
                "\nseckill ({:?}): {} item(s) x stock {}; sold {} (acknowledged), orders in Redis {}, stock left {}, oversold {}, lost acknowledged {}, orders nobody was told of {} ({} buy call(s) unanswered)",
                sk.mode,
                sk.items,
                sk.stock,
                sk.sold,
                sk.orders_in_redis,
                sk.stock_left,
                sk.oversold,
                sk.lost_acked_sales,
                sk.unacked_orders,
                sk.unknown_outcome_buys
            );
        }
        if !self.locks.is_empty() {
            let _ = writeln!(
                o,
                "\n{:<10} {:>10} {:>9} {:>10} {:>8} {:>16} {:>12} {:>12} {:>12} {:>11} {:>10} {:>10}",
                "lock",
                "attempts",
                "acquired",
                "refused",
                "gave up",
                "violations",
                "TTL expired",
                "lost updates",
                "stale tokens",
                "no TTL left",
                "wait p99",
                "hold p99"
            );
            for (k, l) in &self.locks {
                let _ = writeln!(
                    o,
                    "{:<10} {:>10} {:>9} {:>10} {:>8} {:>16} {:>12} {:>12} {:>12} {:>11} {:>10} {:>10}",
                    k.to_string(),
                    l.attempts,
                    l.acquired,
                    l.refused_attempts,
                    l.failed,
                    l.violations
                        .map_or("not recomputable".to_string(), |v| v.to_string()),
                    l.ttl_expired_while_held,
                    l.lost_updates,
                    l.stale_tokens_refused,
                    l.locks_without_ttl,
                    latency(l.wait.p99_us),
                    latency(l.hold.p99_us)
                );
            }
        }
        if self.audit.checked {
            let _ = writeln!(
                o,
                "\naudit: {} acknowledged writes journaled, checked on {}: {} lost",
                self.audit.journal_records, self.audit.checked_node, self.audit.lost_acked_writes
            );
        } else {
            let _ = writeln!(
                o,
                "\naudit: {} acknowledged writes journaled, NOT checked: {}; lost writes unknown",
                self.audit.journal_records,
                self.audit.reason.as_deref().unwrap_or("no reason recorded")
            );
        }
        if let Some(why) = self.audit.reason.as_deref().filter(|_| self.audit.checked) {
            let _ = writeln!(o, "  ({why})");
        }
        for l in &self.losses {
            let _ = writeln!(o, "  lost ({}): {}", l.cause, l.explanation);
        }
        for t in &self.topology_findings {
            let _ = writeln!(o, "  topology: {t}");
        }
        for f in &self.failovers {
            let show = |v: Option<u64>| v.map_or("-".to_string(), millis);
            let lost = f
                .lost_acked_writes
                .map_or("unknown".into(), |v| v.to_string());
            if !f.failed_over {
                let _ = writeln!(
                    o,
                    "no failover after {} of {}: {}; lost {lost}",
                    f.fault,
                    f.old_master,
                    f.reason.as_deref().unwrap_or("no reason recorded")
                );
                continue;
            }
            if let Some(k) = f.shard {
                let _ = writeln!(
                    o,
                    "failover of shard {k} after {} of {}: pfail {}, fail {}, promoted {} ({}), cluster ok {}, client recovered {}, write outage {}, durable outage {}, lost {lost}",
                    f.fault,
                    f.old_master,
                    show(f.pfail_ms),
                    show(f.fail_ms),
                    show(f.promoted_ms),
                    f.new_master.as_deref().unwrap_or("?"),
                    show(f.state_ok_ms),
                    show(f.client_recovered_ms),
                    show(f.write_outage_ms),
                    show(f.durable_outage_ms),
                );
                continue;
            }
            let _ = writeln!(
                o,
                "failover after {} of {}: sdown {}, odown {}, switch {}, client recovered {}, write outage {}, durable outage {}, lost {lost}",
                f.fault,
                f.old_master,
                show(f.sdown_ms),
                show(f.odown_ms),
                show(f.switch_ms),
                show(f.client_recovered_ms),
                show(f.write_outage_ms),
                show(f.durable_outage_ms),
            );
        }
        if self.verdict.ok {
            let _ = writeln!(o, "verdict: OK, every check held");
        } else {
            let _ = writeln!(o, "verdict: FAILED");
            for f in &self.verdict.findings {
                let _ = writeln!(o, "  - {f}");
            }
        }
        o
    }
}

#[cfg(test)]
mod cluster_tests {
    use super::*;
    use crate::metrics::ClusterRedirects;

    #[test]
    fn redirects_are_written_only_in_cluster_mode() {
        let sentinel = serde_json::to_value(Report::default()).unwrap();
        assert!(sentinel.get("cluster").is_none());
        let r = Report {
            cluster: Some(ClusterClientReport {
                redirects: ClusterRedirects {
                    moved: 3,
                    ask: 1,
                    refreshes: 2,
                },
                shards: Vec::new(),
                migrations: Migration::all_in(&[crate::metrics::Event {
                    at_ms: 9000,
                    source: "faults".into(),
                    kind: crate::metrics::EventKind::ReshardEnded {
                        from_shard: 1,
                        to_shard: 2,
                        from: "redis-1".into(),
                        to: "redis-2".into(),
                        slots_moved: 3000,
                        slots_total: 3000,
                        keys_moved: 4100,
                        millis: 6200,
                        complete: true,
                        every_node_agrees: true,
                        moved: 120,
                        ask: 7,
                        error: None,
                    },
                }]),
            }),
            ..Default::default()
        };
        let json = serde_json::to_value(&r).unwrap();
        let m = &json["cluster"]["migrations"][0];
        assert_eq!(
            (
                &m["from"],
                &m["to"],
                &m["slots"],
                &m["keys_moved"],
                &m["millis"]
            ),
            (
                &1.into(),
                &2.into(),
                &3000.into(),
                &4100.into(),
                &6200.into()
            )
        );
        assert_eq!(
            (&m["moved"], &m["ask"], &m["ended_ms"]),
            (&120.into(), &7.into(), &9000.into())
        );
        assert_eq!(json["cluster"]["redirects"]["moved"], 3);
        assert_eq!(json["cluster"]["redirects"]["ask"], 1);
        assert_eq!(json["cluster"]["redirects"]["refreshes"], 2);
        let back: Report = serde_json::from_value(json).unwrap();
        assert_eq!(back.cluster, r.cluster);
        let md = crate::report::markdown::render(&back, None);
        assert!(md.contains("3 MOVED, 1 ASK, 2 slot-map refreshes"), "{md}");
        assert!(
            md.contains("| reshard 1->2 | 3,000 of 3,000 slots, 4,100 keys, redis-1 to redis-2 in 6200 ms; 120 MOVED, 7 ASK meanwhile |"),
            "{md}"
        );
    }
}
