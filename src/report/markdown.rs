//! `report.md`: the story of a run for people. The setup, the scenario's
//! script, the timeline in plain language, the phases of every failover,
//! tables of throughput, latency, red-packet fairness, seckill and locks,
//! what the audit found, the scenario's expectations and the verdict. Built
//! from the same [`Report`] as report.json and the charts, which it embeds,
//! and from it alone: the scenario is its [`Report::script`], the events
//! are worded by [`explain`] and the numbers by [`crate::words`], as
//! everywhere else.

use crate::metrics::event::{Event, EventKind};
use crate::metrics::timeline::{explain, NoNames};
use crate::metrics::ErrorClass;
use crate::report::model::Report;
use crate::topology::{Topology, TopologySpec};
use crate::words::{self, count, duration, millis, percent, secs, yuan};
use std::fmt::Write as _;
use std::time::Duration;

/// Most timeline lines shown; the full timeline is in report.json.
const TIMELINE_LINES: usize = 250;

fn opt_ms(v: Option<u64>) -> String {
    v.map(millis).unwrap_or_else(|| "never".into())
}

/// One event in words: the timeline's own, with node names when the
/// topology is known.
fn describe(e: &Event, topology: Option<&Topology>) -> String {
    match topology {
        Some(t) => explain(e, t),
        None => explain(e, &NoNames),
    }
}

/// Sentinel repeats most announcements once per sentinel; the story keeps
/// the first of each within a second, and drops chatter nobody reads.
fn worth_telling(e: &Event, told: &mut Vec<(String, u64)>) -> bool {
    let EventKind::Sentinel { name, payload } = &e.kind else {
        return !matches!(&e.kind, EventKind::LockViolation { .. });
    };
    if matches!(
        name.as_str(),
        "+slave" | "+sentinel" | "+reboot" | "+fix-slave-config" | "+slave-reconf-inprog"
    ) {
        return false;
    }
    let key = format!(
        "{name} {}",
        payload
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if told
        .iter()
        .any(|(k, at)| *k == key && e.at_ms.saturating_sub(*at) < 1000)
    {
        return false;
    }
    told.push((key, e.at_ms));
    true
}

/// The whole report as Markdown. Charts are referenced by file name
/// (`throughput.png`, ...), written beside it.
pub fn render(report: &Report, topology: Option<&Topology>) -> String {
    let mut md = String::new();
    let scenario_ok = report.expectations.iter().all(|e| e.ok);
    let script = report.script.as_ref();
    match script {
        Some(s) => {
            let _ = writeln!(md, "# {}\n", s.title);
            let _ = writeln!(md, "> {}\n", s.teaches);
        }
        None => {
            let _ = writeln!(md, "# grabstorm run {}\n", report.run_id);
        }
    }
    let verdict = if script.is_some() {
        if scenario_ok {
            format!(
                "**Verdict: PASS**: all {} expectation(s) hold.",
                report.expectations.len()
            )
        } else {
            let failed = report.expectations.iter().filter(|e| !e.ok).count();
            format!(
                "**Verdict: FAIL**: {failed} of {} expectation(s) failed.",
                report.expectations.len()
            )
        }
    } else if report.verdict.ok {
        "**Verdict: PASS**: every audit check held.".to_string()
    } else {
        "**Verdict: FAIL**: see the findings below.".to_string()
    };
    let _ = writeln!(md, "{verdict}\n");

    let spec = topology
        .map(|t| &t.spec)
        .or(script.and_then(|s| s.topology.as_ref()));
    setup(&mut md, report, spec);
    if let Some(s) = script.filter(|s| !s.steps.is_empty()) {
        let _ = writeln!(md, "## The script\n");
        let _ = writeln!(md, "| at | step | note |\n|---:|---|---|");
        for step in &s.steps {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                duration(Duration::from_millis(step.at_ms)),
                step.sentence,
                step.note.as_deref().unwrap_or("").replace('|', "\\|")
            );
        }
        md.push('\n');
    }
    timeline(&mut md, report, topology);
    failovers(&mut md, report);
    throughput(&mut md, report);
    latency(&mut md, report);
    redpackets(&mut md, report);
    seckill(&mut md, report);
    locks(&mut md, report);
    audit(&mut md, report);
    if !report.expectations.is_empty() {
        let _ = writeln!(md, "## Expectations\n");
        let _ = writeln!(
            md,
            "| expectation | expected | measured | result |\n|---|---|---|---|"
        );
        for e in &report.expectations {
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} |",
                e.name,
                e.expected,
                e.measured,
                if e.ok { "PASS" } else { "**FAIL**" }
            );
        }
        md.push('\n');
    }
    if !report.questions.is_empty() {
        let _ = writeln!(md, "## Questions\n");
        for q in &report.questions {
            let _ = writeln!(
                md,
                "- **{}** {} (`{}`, asked at {})",
                q.question,
                q.answer,
                q.measure,
                crate::words::secs(q.at_ms)
            );
        }
        md.push('\n');
    }
    let _ = writeln!(md, "## Verdict\n\n{verdict}\n");
    if report.verdict.findings.is_empty() {
        let _ = writeln!(md, "The audit found nothing wrong.");
    } else {
        let _ = writeln!(
            md,
            "What the audit and the expectations found (for a scenario that sets out to break things, some of these are the point):\n"
        );
        for f in &report.verdict.findings {
            let _ = writeln!(md, "- {f}");
        }
    }
    md
}

fn setup(md: &mut String, r: &Report, spec: Option<&TopologySpec>) {
    let _ = writeln!(md, "## Setup\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| run | `{}` |", r.run_id);
    let _ = writeln!(md, "| backend | {} |", r.backend);
    // Reports written before `meta` existed have none to tell.
    if r.meta.schema_version > 0 {
        let _ = writeln!(md, "| started | {} (UTC) |", r.meta.started_at);
        let _ = writeln!(
            md,
            "| versions | grabstorm {}, Redis {} |",
            r.meta.grabstorm_version,
            r.meta.redis_version.as_deref().unwrap_or("unknown")
        );
    }
    if let Some(spec) = spec {
        let _ = writeln!(
            md,
            "| topology | 1 master, {} replica(s), {} sentinel(s), quorum {} |",
            spec.replicas, spec.sentinels, spec.quorum
        );
        let _ = writeln!(
            md,
            "| Sentinel timing | down-after {} ms, failover-timeout {} ms |",
            spec.down_after_ms, spec.failover_timeout_ms
        );
        let _ = writeln!(
            md,
            "| persistence | {}; min-replicas-to-write {} (max lag {} s) |",
            spec.persistence, spec.min_replicas_to_write, spec.min_replicas_max_lag_s
        );
    }
    let _ = writeln!(md, "| workload | {} |", r.workload);
    let _ = writeln!(
        md,
        "| grabbers | {} on {} connection(s) |",
        r.grabbers, r.connections
    );
    let _ = writeln!(md, "| client | {} |", r.client);
    if let Some(c) = &r.cluster {
        let d = &c.redirects;
        let _ = writeln!(
            md,
            "| cluster client | {} MOVED, {} ASK, {} slot-map refreshes; keys {} |",
            count(d.moved),
            count(d.ask),
            count(d.refreshes),
            if r.hash_tags {
                "with hash tags"
            } else {
                "without hash tags"
            }
        );
        for m in &c.migrations {
            let _ = writeln!(
                md,
                "| reshard {}->{} | {} of {} slots, {} keys, {} to {} in {}; {} MOVED, {} ASK meanwhile{} |",
                m.from,
                m.to,
                count(u64::from(m.slots)),
                count(u64::from(m.slots_planned)),
                count(m.keys_moved),
                m.from_node,
                m.to_node,
                millis(m.millis),
                count(m.moved),
                count(m.ask),
                match (&m.error, m.complete) {
                    (Some(e), _) => format!("; failed: {e}"),
                    (None, false) => "; stopped early".to_string(),
                    (None, true) => String::new(),
                }
            );
        }
        if !c.migrations.is_empty() && !c.shards.is_empty() {
            let _ = writeln!(
                md,
                "| per-shard rows | the slot ranges of the client's first map: after a reshard a row still counts its starting range, part of which another shard's master serves now |"
            );
        }
        for s in &c.shards {
            let ms = |v: Option<f64>| {
                v.map_or("unknown".to_string(), |v| {
                    words::latency((v * 1000.0) as u64)
                })
            };
            let _ = writeln!(
                md,
                "| shard {} (slot {} on, master {}) | {} replies, {:.0}/s; p50 {}, p99 {} |",
                s.shard,
                s.first_slot,
                s.master_node
                    .clone()
                    .or_else(|| s.master.map(|a| a.to_string()))
                    .unwrap_or_else(|| "unknown".into()),
                count(s.replies),
                s.replies_per_s,
                ms(s.p50_ms),
                ms(s.p99_ms)
            );
        }
    }
    let _ = writeln!(md, "| seed | {} |", r.seed);
    let _ = writeln!(
        md,
        "| load ran for | {} |",
        secs((r.duration_s * 1000.0).round() as u64)
    );
    if let Some(s) = &r.script {
        let _ = writeln!(md, "| scenario file | `{}` |", s.file);
    }
    md.push('\n');
}

fn timeline(md: &mut String, r: &Report, topology: Option<&Topology>) {
    if r.events.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Timeline\n");
    let mut told = Vec::new();
    let shown: Vec<&Event> = r
        .events
        .iter()
        .filter(|e| worth_telling(e, &mut told))
        .collect();
    let violations = r
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::LockViolation { .. }))
        .count();
    let _ = writeln!(md, "| time | from | what happened |\n|---:|---|---|");
    for e in shown.iter().take(TIMELINE_LINES) {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            secs(e.at_ms),
            e.source,
            describe(e, topology).replace('|', "\\|")
        );
    }
    if shown.len() > TIMELINE_LINES {
        let _ = writeln!(
            md,
            "\n{} more events are in report.json.",
            shown.len() - TIMELINE_LINES
        );
    }
    if violations > 0 {
        let _ = writeln!(
            md,
            "\n{violations} lock violation event(s) are listed in the locks section, not here."
        );
    }
    md.push('\n');
}

fn failovers(md: &mut String, r: &Report) {
    let list = &r.failovers;
    if list.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Failovers\n");
    for (i, f) in list.iter().enumerate() {
        let _ = writeln!(
            md,
            "### {}. {} of {} at {}\n",
            i + 1,
            f.fault,
            f.old_master,
            secs(f.at_ms)
        );
        if !f.failed_over {
            let _ = writeln!(
                md,
                "No failover: {}.\n",
                f.reason
                    .as_deref()
                    .unwrap_or("no sentinel switched the master")
            );
        }
        let _ = writeln!(md, "| phase | after the fault |\n|---|---:|");
        let rows: Vec<(&str, Option<u64>)> = if f.shard.is_some() {
            vec![
                ("fault injected", Some(f.fault_ms)),
                ("first node flags the master PFAIL", f.pfail_ms),
                ("a majority marks it FAIL", f.fail_ms),
                ("its replica serves the slots (promoted)", f.promoted_ms),
                ("cluster_state ok on every node", f.state_ok_ms),
                ("first successful write", f.client_recovered_ms),
            ]
        } else {
            vec![
                ("fault injected", Some(f.fault_ms)),
                ("first sentinel flags the master down (+sdown)", f.sdown_ms),
                ("quorum agrees (+odown)", f.odown_ms),
                ("a leader is elected (+elected-leader)", f.elected_ms),
                ("master switched (+switch-master)", f.switch_ms),
                ("client re-routed", f.client_rerouted_ms),
                ("first successful write", f.client_recovered_ms),
            ]
        };
        for (phase, v) in rows {
            let _ = writeln!(md, "| {phase} | {} |", opt_ms(v));
        }
        md.push('\n');
        let _ = writeln!(
            md,
            "- longest stretch without a successful write: {}",
            opt_ms(f.write_outage_ms)
        );
        let _ = writeln!(
            md,
            "- longest stretch without a write that survived (acknowledged and still in Redis at the audit): {}",
            opt_ms(f.durable_outage_ms)
        );
        if let Some(n) = f.new_master.as_deref() {
            let _ = writeln!(md, "- new master: {n}");
        }
        if let (Some(k), Some(before), Some(after)) = (f.shard, f.epoch_before, f.epoch_after) {
            let _ = writeln!(
                md,
                "- shard {k}; config epoch {before} (old master), {after} (the election won)"
            );
        }
        if !f.sentinels_switched.is_empty() {
            let _ = writeln!(
                md,
                "- sentinels that announced the switch: {}",
                f.sentinels_switched.join(", ")
            );
        }
        match f.lost_acked_writes {
            Some(lost) => {
                let _ = writeln!(md, "- acknowledged writes lost with it: {lost}");
            }
            None => {
                let _ = writeln!(md, "- acknowledged writes lost with it: unknown (no audit)");
            }
        }
        for l in r
            .losses
            .iter()
            .filter(|l| l.fault_index == Some(f.fault_index))
        {
            let _ = writeln!(
                md,
                "  - {}: {}",
                crate::metrics::losses::cause_words(l.cause),
                l.explanation
            );
        }
        if f.failed_over {
            let by = match f.old_master_rejoined_by.as_deref() {
                Some("sentinel") => " (Sentinel converted it: +convert-to-slave)",
                _ => "",
            };
            let said = f
                .old_master_role
                .as_deref()
                .map(|r| format!("; once the run settled it said of itself: {r}"))
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "- the old master {}{said}\n",
                if f.old_master_rejoined_as_replica {
                    format!(
                        "rejoined as a replica{}{by}",
                        f.old_master_rejoined_ms
                            .map(|m| format!(" {} after the fault", millis(m)))
                            .unwrap_or_default()
                    )
                } else {
                    "did not rejoin as a replica during the run".to_string()
                }
            );
        } else {
            md.push('\n');
        }
    }
}

fn throughput(md: &mut String, r: &Report) {
    let _ = writeln!(md, "## Throughput and errors\n");
    let _ = writeln!(md, "![throughput and errors over time](throughput.png)\n");
    let total_ok: u64 = r.ops.values().map(|o| o.ok).sum();
    let total_err: u64 = r.errors.values().sum();
    let peak = r.throughput.iter().map(|p| p.ok).max().unwrap_or(0);
    let _ = writeln!(
        md,
        "{} successful operations, {} errors; peak {} ops/s.\n",
        count(total_ok),
        count(total_err),
        count(peak)
    );
    if total_err > 0 {
        let _ = writeln!(md, "| error class | count |\n|---|---:|");
        for class in ErrorClass::ALL {
            if let Some(n) = r.errors.get(&class).filter(|n| **n > 0) {
                let _ = writeln!(md, "| {} | {n} |", class.name());
            }
        }
        md.push('\n');
    }
}

fn latency(md: &mut String, r: &Report) {
    let _ = writeln!(md, "## Latency\n");
    let _ = writeln!(md, "![latency histogram](latency.png)\n");
    let _ = writeln!(
        md,
        "| operation | ok | errors | p50 | p90 | p99 | p99.9 | max | ops/s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (name, o) in &r.ops {
        let errors: u64 = o.errors.values().sum();
        let _ = writeln!(
            md,
            "| {name} | {} | {errors} | {} | {} | {} | {} | {} | {:.0} |",
            o.ok,
            words::latency(o.p50_us),
            words::latency(o.p90_us),
            words::latency(o.p99_us),
            words::latency(o.p999_us),
            words::latency(o.max_us),
            o.ops_per_s
        );
    }
    let l = &r.latency;
    let _ = writeln!(
        md,
        "| **all** | {} | | {} | {} | {} | {} | {} | |\n",
        l.count,
        words::latency(l.p50_us),
        words::latency(l.p90_us),
        words::latency(l.p99_us),
        words::latency(l.p999_us),
        words::latency(l.max_us)
    );
}

fn redpackets(md: &mut String, r: &Report) {
    let Some(rp) = &r.redpacket else { return };
    let _ = writeln!(
        md,
        "## Red packets ({} mode)\n",
        format!("{:?}", rp.mode).to_lowercase()
    );
    let _ = writeln!(md, "| | |\n|---|---:|");
    let _ = writeln!(
        md,
        "| packets | {} of {} grabs each |",
        rp.packets, rp.count_per_packet
    );
    let _ = writeln!(
        md,
        "| grabs acknowledged / in Redis | {} / {} |",
        rp.grabs_ok, rp.grabs_in_redis
    );
    let _ = writeln!(
        md,
        "| amount sent | {} |",
        yuan(rp.amount_sent_cents as f64)
    );
    let _ = writeln!(
        md,
        "| amount granted | {} |",
        yuan(rp.amount_granted_cents as f64)
    );
    let _ = writeln!(
        md,
        "| amount left in packets | {} |",
        yuan(rp.amount_remaining_cents as f64)
    );
    let _ = writeln!(
        md,
        "| money conserved | {} |",
        if rp.conservation_ok {
            "yes".to_string()
        } else {
            format!(
                "**no**: {} packet(s), {:+.2} created",
                rp.conservation_violations,
                rp.money_created_cents as f64 / 100.0
            )
        }
    );
    let _ = writeln!(md, "| duplicate grabs | {} |", rp.duplicate_grabs);
    let _ = writeln!(md, "| grants below 1 cent | {} |", rp.below_one_cent);
    let _ = writeln!(md, "| packets gone whole | {} |", rp.packets_missing);
    let _ = writeln!(
        md,
        "| grants in the grabs hashes | {} ({}) |",
        rp.grabs_in_hash,
        yuan(rp.amount_in_hash_cents as f64)
    );
    let _ = writeln!(
        md,
        "| grants in the order lists | {} ({}) |",
        rp.grabs_in_redis,
        yuan(rp.amount_granted_cents as f64)
    );
    let _ = writeln!(
        md,
        "| packets whose records disagree | {} |",
        rp.records_disagree
    );
    let _ = writeln!(md, "| acknowledged grabs lost | {} |", rp.lost_acked_grabs);
    let _ = writeln!(
        md,
        "| grants nobody was told of | {} ({} grab calls unanswered) |",
        rp.unacked_grants, rp.unknown_outcome_grabs
    );
    let _ = writeln!(md, "| mean Gini per packet | {:.3} |\n", rp.gini_mean);
    if rp.by_position.is_empty() {
        return;
    }
    let _ = writeln!(md, "### Fairness by grab position\n");
    let _ = writeln!(md, "![fairness by grab position](fairness.png)\n");
    let _ = writeln!(
        md,
        "The double-average rule promises every position the same mean, {} yuan.\n",
        yuan(rp.expected_mean_cents)
    );
    let _ = writeln!(
        md,
        "| position | grabs | mean | vs equal mean | stdev | luck king |\n|---:|---:|---:|---:|---:|---:|"
    );
    for p in &rp.by_position {
        let gap = if rp.expected_mean_cents > 0.0 {
            (p.mean_cents - rp.expected_mean_cents) / rp.expected_mean_cents * 100.0
        } else {
            0.0
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {gap:+.1}% | {} | {} |",
            p.position,
            p.grabs,
            yuan(p.mean_cents),
            yuan(p.stdev_cents),
            percent(p.luck_king_share)
        );
    }
    md.push('\n');
}

fn seckill(md: &mut String, r: &Report) {
    let Some(s) = &r.seckill else { return };
    let _ = writeln!(
        md,
        "## Seckill ({} mode)\n",
        format!("{:?}", s.mode).to_lowercase()
    );
    let _ = writeln!(md, "| | |\n|---|---:|");
    let _ = writeln!(md, "| items x stock | {} x {} |", s.items, s.stock);
    let _ = writeln!(md, "| sales acknowledged | {} |", s.sold);
    let _ = writeln!(md, "| orders in Redis | {} |", s.orders_in_redis);
    let _ = writeln!(md, "| stock left | {} |", s.stock_left);
    let _ = writeln!(md, "| oversold | {} |", s.oversold);
    let _ = writeln!(md, "| acknowledged sales lost | {} |", s.lost_acked_sales);
    let _ = writeln!(
        md,
        "| orders nobody was told of | {} ({} buy calls unanswered) |",
        s.unacked_orders, s.unknown_outcome_buys
    );
    let _ = writeln!(md, "| items gone from Redis | {} |\n", s.items_missing);
    for f in s.findings() {
        let _ = writeln!(md, "- {}", f.trim_start_matches("seckill: "));
    }
    if !s.findings().is_empty() {
        md.push('\n');
    }
}

fn locks(md: &mut String, r: &Report) {
    if r.locks.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Locks\n");
    let _ = writeln!(
        md,
        "An attempt is one acquire call; most are refused while someone holds the lock. \
         Violations are the moments two grabbers held one lock, as the journal proves them.\n"
    );
    let _ = writeln!(
        md,
        "| kind | attempts | acquired | refused | gave up | violations | TTL ran out while held | grants vanished | lost updates | stale tokens refused | without TTL | wait p99 | hold p99 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (k, l) in &r.locks {
        let _ = writeln!(
            md,
            "| {k} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            l.attempts,
            l.acquired,
            l.refused_attempts,
            l.failed,
            l.violations
                .map_or_else(|| "not recomputable".to_string(), |v| v.to_string()),
            l.ttl_expired_while_held,
            l.locks_lost,
            l.lost_updates,
            l.stale_tokens_refused,
            l.locks_without_ttl,
            words::latency(l.wait.p99_us),
            words::latency(l.hold.p99_us)
        );
    }
    for (k, l) in &r.locks {
        match (l.violations_observed, l.violations_journal) {
            (Some(seen), Some(proven)) if seen != proven => {
                let _ = writeln!(
                    md,
                    "\nThe run saw {seen} overlap(s) of the {k} lock; the journal proves {proven} of them."
                );
            }
            (_, None) => {
                let _ = writeln!(
                    md,
                    "\nThe journal proves {} overlap(s) of the {k} lock, a lower bound: some holders \
                     neither wrote nor released (refused, failed or cancelled), so `grabstorm audit` \
                     cannot recount them exactly.",
                    l.violations_proven
                );
            }
            _ => {}
        }
        if l.ttl_expired_while_held > 0 {
            let _ = writeln!(
                md,
                "\nThe {k} lock's TTL ran out while {} holder(s) still worked under it (they were \
                 slower than the TTL): a lock-safety event, where a second holder can enter. \
                 No acknowledged write is lost by it; the counters show any lost update.",
                l.ttl_expired_while_held
            );
        }
        if l.locks_lost > 0 {
            let _ = writeln!(
                md,
                "\n{} acknowledged {k} lock(s) vanished from Redis before their TTL could run out \
                 (the holder's release found them gone): lost acknowledged writes.",
                l.locks_lost
            );
        }
    }
    md.push('\n');
    for (k, l) in &r.locks {
        if l.violation_list.is_empty() {
            continue;
        }
        let _ = writeln!(md, "Violations of the {k} lock (up to 10 shown):\n");
        for v in l.violation_list.iter().take(10) {
            let _ = writeln!(
                md,
                "- at {}: `{}` held by {} at once",
                secs(v.at_ms),
                v.lock,
                v.holders.join(" and ")
            );
        }
        md.push('\n');
    }
}

fn audit(md: &mut String, r: &Report) {
    let a = &r.audit;
    let _ = writeln!(md, "## Audit\n");
    if !a.checked {
        let _ = writeln!(
            md,
            "{} acknowledged write(s) journaled. **The audit could not be made**: {}. What Redis kept is unknown, and the verdict fails.\n",
            count(a.journal_records),
            a.reason.as_deref().unwrap_or("no reason recorded")
        );
        return;
    }
    if let Some(why) = &a.reason {
        let _ = writeln!(md, "{why}.\n");
    }
    let _ = writeln!(
        md,
        "{} acknowledged write(s) journaled, checked against {} once the topology settled: **{} lost**.\n",
        count(a.journal_records),
        if a.checked_node.is_empty() {
            "the master"
        } else {
            &a.checked_node
        },
        count(a.lost_acked_writes)
    );
    losses(md, r);
    if !a.lost.is_empty() {
        let _ = writeln!(
            md,
            "| acknowledged at | by | operation | key |\n|---:|---|---|---|"
        );
        for rec in a.lost.iter().take(10) {
            let _ = writeln!(
                md,
                "| {} | {} | {:?} | `{}` |",
                secs(rec.at_ms),
                rec.node,
                rec.op,
                rec.key
            );
        }
        if a.lost.len() > 10 {
            let _ = writeln!(
                md,
                "\n(first 10 of {} listed; all in report.json)",
                a.lost.len()
            );
        }
        md.push('\n');
    }
}

/// Every lost write by cause, in plain words, and the states of the
/// topology the lab found worth a word.
fn losses(md: &mut String, r: &Report) {
    if !r.losses.is_empty() {
        let _ = writeln!(
            md,
            "| lost | cause | acknowledged by | from | to |\n|---:|---|---|---:|---:|"
        );
        for l in &r.losses {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                l.lost_acked_writes,
                l.cause,
                l.node,
                secs(l.from_ms),
                secs(l.to_ms)
            );
        }
        md.push('\n');
        for l in &r.losses {
            let _ = writeln!(
                md,
                "- {} ({}): {}",
                crate::metrics::losses::cause_words(l.cause),
                l.cause,
                l.explanation
            );
        }
        md.push('\n');
    }
    for t in &r.topology_findings {
        let _ = writeln!(md, "- topology once the run settled: {t}");
    }
    if !r.topology_findings.is_empty() {
        md.push('\n');
    }
    for f in &r.faults_failed {
        let _ = writeln!(md, "- a scheduled fault failed: {f}");
    }
    if !r.faults_failed.is_empty() {
        md.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::timeline::Failover;
    use crate::report::model::{ExpectationVerdict, RedPacketReport};

    #[test]
    fn the_story_has_every_section_the_run_produced() {
        let mut r = Report {
            run_id: "r1".into(),
            redpacket: Some(RedPacketReport {
                packets: 3,
                conservation_ok: true,
                expected_mean_cents: 1000.0,
                by_position: vec![crate::metrics::PositionStats {
                    position: 1,
                    grabs: 3,
                    mean_cents: 1100.0,
                    stdev_cents: 10.0,
                    luck_king_share: 0.5,
                }],
                ..Default::default()
            }),
            events: vec![Event {
                at_ms: 5000,
                source: "lab".into(),
                kind: EventKind::FaultInjected {
                    fault: "segfault".into(),
                    node: "redis-1".into(),
                },
            }],
            failovers: vec![Failover {
                fault: "segfault".into(),
                at_ms: 5000,
                old_master: "redis-1".into(),
                failed_over: true,
                sdown_ms: Some(1100),
                switch_ms: Some(2450),
                ..Default::default()
            }],
            expectations: vec![ExpectationVerdict {
                name: "failover_within".into(),
                expected: "<= 6s".into(),
                measured: "2.45s".into(),
                ok: true,
            }],
            ..Default::default()
        };
        r.judge();
        let md = render(&r, None);
        for part in [
            "## Setup",
            "| 5.0s | lab | fault injected: segfault on redis-1 |",
            "### 1. segfault of redis-1 at 5.0s",
            "| master switched (+switch-master) | 2450 ms |",
            "| quorum agrees (+odown) | never |",
            "![fairness by grab position](fairness.png)",
            "| 1 | 3 | 11.00 | +10.0% | 0.10 | 50.0% |",
            "| `failover_within` | <= 6s | 2.45s | PASS |",
            "## Verdict",
        ] {
            assert!(md.contains(part), "report.md lacks {part:?}:\n{md}");
        }
    }

    #[test]
    fn the_scenario_and_its_events_are_told_from_the_report_alone() {
        use crate::report::model::{Script, ScriptStep};
        let r = Report {
            run_id: "r2".into(),
            script: Some(Script {
                file: "scenarios/segfault.toml".into(),
                title: "Segfault the master".into(),
                teaches: "Sentinel promotes a replica.".into(),
                topology: None,
                steps: vec![ScriptStep {
                    at_ms: 5000,
                    sentence: "segfault master".into(),
                    note: Some("the master dies | hard".into()),
                    question: None,
                }],
            }),
            events: vec![Event {
                at_ms: 6100,
                source: "sentinel-1".into(),
                kind: EventKind::Sentinel {
                    name: "+sdown".into(),
                    payload: "master mymaster 10.0.0.2 6379".into(),
                },
            }],
            ..Default::default()
        };
        let md = render(&r, None);
        for part in [
            "# Segfault the master",
            "> Sentinel promotes a replica.",
            "| scenario file | `scenarios/segfault.toml` |",
            "| 5s | segfault master | the master dies \\| hard |",
            "| 6.1s | sentinel-1 | sentinel-1 thinks the master 10.0.0.2:6379 is down (+sdown) |",
        ] {
            assert!(md.contains(part), "report.md lacks {part:?}:\n{md}");
        }
    }
}
