//! Tests: the audit reads Redis's own state, both ways, and its figures
//! match plain recounts (HLEN, HGETALL, LRANGE, GET and the journal read
//! line by line), made here without the audit's code. One test per case of
//! issue 10 that the audit owns (4, 5, 6, 7 and 10).

use crate::audit_cli::{cli, live_master, Down};
use crate::support::{state_dir, StandaloneRedis};
use grabstorm::lab::{Lab, LabConfig, LabTarget};
use grabstorm::report::model::Report;
use grabstorm::workload::lock::LockConfig;
use grabstorm::workload::redpacket::RedPacketConfig;
use grabstorm::workload::seckill::SeckillConfig;
use grabstorm::workload::{LockKind, WorkloadKind};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

/// A finished run against a standalone Redis, and where it wrote.
struct Run {
    redis: StandaloneRedis,
    state: tempfile::TempDir,
    dir: PathBuf,
    report: Report,
}

impl Run {
    fn key(&self, rest: &str) -> String {
        format!("gs:{}:{rest}", self.report.run_id)
    }

    /// `grabstorm audit DIR --json`: exit code and report.
    fn audit(&self) -> (i32, Value) {
        let (code, json, out) = cli(
            self.state.path(),
            &["audit", self.dir.to_str().unwrap(), "--json"],
        );
        assert!(code == 0 || code == 1, "audit exited {code}: {out}");
        (code, json)
    }
}

async fn run(config: LabConfig) -> Run {
    let redis = StandaloneRedis::start();
    let state = state_dir();
    let dir = state.path().join("run");
    let lab = Lab::start(LabConfig {
        target: LabTarget::Fixed(redis.addr),
        state_dir: state.path().to_path_buf(),
        out_dir: Some(dir.clone()),
        connections: 4,
        until_done: true,
        hard_cap: Duration::from_secs(60),
        ..config
    })
    .await
    .unwrap();
    lab.wait_end().await;
    let report = lab.finish().await.unwrap();
    Run {
        redis,
        state,
        dir,
        report,
    }
}

fn findings(json: &Value) -> Vec<String> {
    json["verdict"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

fn redpacket_run(seed: u64, packets: u64) -> LabConfig {
    LabConfig {
        workload: WorkloadKind::Redpacket,
        grabbers: 120,
        seed,
        redpacket: RedPacketConfig {
            packets,
            count: 10,
            total_cents: 10_000,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Case 4: fields deleted from the grabs hashes (the order lists intact)
/// are acknowledged grabs lost, and the records disagree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grabs_deleted_from_the_grabs_hashes_are_lost_grabs() {
    let r = run(redpacket_run(41, 7)).await;
    let rp = r.report.redpacket.as_ref().unwrap();
    let mut c = r.redis.conn();
    // The run's own figures against plain counts, before any tampering.
    let mut hlen = 0u64;
    let mut hash_cents = 0i64;
    for p in 0..7 {
        let g: HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(r.key(&format!("rp:{p}:grabs")))
            .query(&mut c)
            .unwrap();
        hlen += g.len() as u64;
        hash_cents += g.values().sum::<i64>();
    }
    eprintln!(
        "run: grabs_in_hash {} / HLEN sum {hlen}; {} cents / HGETALL sum {hash_cents}",
        rp.grabs_in_hash, rp.amount_in_hash_cents
    );
    assert_eq!((rp.grabs_in_hash, rp.grabs_ok), (hlen, 70));
    assert_eq!(rp.amount_in_hash_cents as i64, hash_cents);
    assert!(r.report.verdict.ok, "{:?}", r.report.verdict);

    // Delete 3 fields of packet 1, 5 of packet 4 and all 10 of packet 6.
    let mut deleted: Vec<(u64, String)> = Vec::new();
    for (p, n) in [(1u64, 3usize), (4, 5), (6, 10)] {
        let key = r.key(&format!("rp:{p}:grabs"));
        let users: Vec<String> = redis::cmd("HKEYS").arg(&key).query(&mut c).unwrap();
        for u in users.into_iter().take(n) {
            let _: i64 = redis::cmd("HDEL").arg(&key).arg(&u).query(&mut c).unwrap();
            deleted.push((p, u));
        }
    }
    let mut hlen_after = 0u64;
    for p in 0..7 {
        let n: u64 = redis::cmd("HLEN")
            .arg(r.key(&format!("rp:{p}:grabs")))
            .query(&mut c)
            .unwrap();
        hlen_after += n;
    }
    let (code, json) = r.audit();
    eprintln!(
        "re-audit: lost {} / deleted {}; grabs_in_hash {} / HLEN {hlen_after}",
        json["redpacket"]["lost_acked_grabs"],
        deleted.len(),
        json["redpacket"]["grabs_in_hash"]
    );
    assert_eq!(code, 1);
    assert_eq!(deleted.len(), 18);
    assert_eq!(json["redpacket"]["lost_acked_grabs"], 18);
    assert_eq!(json["audit"]["lost_acked_writes"], 18);
    assert_eq!(json["redpacket"]["grabs_in_hash"], hlen_after);
    assert_eq!(json["redpacket"]["records_disagree"], 3);
    // Every deleted (packet, user) is in the lost list, and nothing else.
    let mut lost: Vec<(u64, String)> = json["audit"]["lost"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["round"].as_u64().unwrap(), l["user"].to_string()))
        .collect();
    lost.sort();
    deleted.sort();
    assert_eq!(lost, deleted);
    assert!(findings(&json)
        .iter()
        .any(|f| f.contains("18 acknowledged grab(s) lost")));
}

/// Case 5: emptied and trimmed order lists and a packet gone whole all
/// count in conservation, with the true cents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conservation_counts_emptied_order_lists_and_vanished_packets() {
    let r = run(redpacket_run(53, 9)).await;
    assert!(r.report.verdict.ok, "{:?}", r.report.verdict);
    let mut c = r.redis.conn();
    for p in [0u64, 3, 5] {
        let _: i64 = redis::cmd("DEL")
            .arg(r.key(&format!("rp:{p}:order")))
            .query(&mut c)
            .unwrap();
    }
    let _: () = redis::cmd("LTRIM")
        .arg(r.key("rp:7:order"))
        .arg(0)
        .arg(3)
        .query(&mut c)
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(r.key("rp:8"))
        .arg(r.key("rp:8:grabs"))
        .arg(r.key("rp:8:order"))
        .query(&mut c)
        .unwrap();

    // Recount: per packet, order-list cents + remaining - total.
    let (mut off, mut cents, mut gone, mut listed) = (0u64, 0i64, 0u64, 0u64);
    for p in 0..9 {
        let order: Vec<String> = redis::cmd("LRANGE")
            .arg(r.key(&format!("rp:{p}:order")))
            .arg(0)
            .arg(-1)
            .query(&mut c)
            .unwrap();
        let packet: HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(r.key(&format!("rp:{p}")))
            .query(&mut c)
            .unwrap();
        listed += order.len() as u64;
        if packet.is_empty() && order.is_empty() {
            gone += 1;
        }
        let sum: i64 = order
            .iter()
            .map(|e| e.rsplit(':').next().unwrap().parse::<i64>().unwrap())
            .sum();
        let d = sum + packet.get("remaining_cents").copied().unwrap_or(0) - 10_000;
        if d != 0 {
            off += 1;
            cents += d;
        }
    }
    let (code, json) = r.audit();
    eprintln!(
        "re-audit: {} packets off / recount {off}; {} cents / recount {cents}; gone {} / {gone}; lost {} / {}",
        json["redpacket"]["conservation_violations"],
        json["redpacket"]["money_created_cents"],
        json["redpacket"]["packets_missing"],
        json["redpacket"]["lost_acked_grabs"],
        90 - listed
    );
    assert_eq!(code, 1);
    assert_eq!((off, gone), (5, 1));
    assert_eq!(json["redpacket"]["conservation_violations"], off);
    assert_eq!(json["redpacket"]["money_created_cents"], cents);
    assert_eq!(json["redpacket"]["packets_missing"], gone);
    assert_eq!(json["redpacket"]["conservation_ok"], false);
    assert_eq!(json["redpacket"]["lost_acked_grabs"], 90 - listed);
    assert!(findings(&json).iter().any(|f| f.contains(&format!(
        "money not conserved in {off} packet(s) ({cents:+} cents)"
    ))));
}

/// Case 6: extra orders nobody bought and a negative stock are found in
/// Redis, with the numbers named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seckill_compares_stock_and_orders_in_redis() {
    let r = run(LabConfig {
        workload: WorkloadKind::Seckill,
        grabbers: 90,
        seed: 67,
        seckill: SeckillConfig {
            stock: 30,
            items: 2,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let sk = r.report.seckill.as_ref().unwrap();
    let mut c = r.redis.conn();
    let orders0: u64 = redis::cmd("HLEN")
        .arg(r.key("sk:0:orders"))
        .query(&mut c)
        .unwrap();
    let orders1: u64 = redis::cmd("HLEN")
        .arg(r.key("sk:1:orders"))
        .query(&mut c)
        .unwrap();
    eprintln!(
        "run: orders_in_redis {} / HLEN {}; sold {}",
        sk.orders_in_redis,
        orders0 + orders1,
        sk.sold
    );
    assert_eq!(sk.orders_in_redis, orders0 + orders1);
    assert_eq!((sk.sold, orders0, orders1), (60, 30, 30));
    assert!(r.report.verdict.ok, "{:?}", r.report.verdict);

    // 4 orders for buyers nobody sold to, and item 1's stock set to -2.
    for u in 0..4 {
        let _: i64 = redis::cmd("HSET")
            .arg(r.key("sk:0:orders"))
            .arg(900_000 + u)
            .arg(900_000 + u)
            .query(&mut c)
            .unwrap();
    }
    let _: () = redis::cmd("SET")
        .arg(r.key("sk:1:stock"))
        .arg(-2)
        .query(&mut c)
        .unwrap();
    let held0: u64 = redis::cmd("HLEN")
        .arg(r.key("sk:0:orders"))
        .query(&mut c)
        .unwrap();
    let stock0: i64 = redis::cmd("GET")
        .arg(r.key("sk:0:stock"))
        .query(&mut c)
        .unwrap();
    let stock1: i64 = redis::cmd("GET")
        .arg(r.key("sk:1:stock"))
        .query(&mut c)
        .unwrap();
    let (code, json) = r.audit();
    let s = &json["seckill"];
    eprintln!(
        "re-audit: over stock {} / HLEN {held0}; negative {} / GET {stock1}; unacked {} / 4; unbalanced {}",
        s["orders_over_stock"], s["negative_stock"], s["unacked_orders"], s["unbalanced"]
    );
    assert_eq!(code, 1);
    assert_eq!((held0, stock0, stock1), (34, 0, -2));
    assert_eq!(s["orders_over_stock"]["0"], held0);
    assert_eq!(s["negative_stock"]["1"], stock1);
    assert_eq!(s["unbalanced"]["0"], held0 as i64 + stock0 - 30);
    assert_eq!(s["unbalanced"]["1"], orders1 as i64 + stock1 - 30);
    assert_eq!(s["unacked_orders"], 4);
    assert_eq!(s["lost_acked_sales"], 0);
    assert_eq!(s["orders_in_redis"], held0 + orders1);
    let f = findings(&json);
    assert!(
        f.iter().any(|f| f.contains("stock of item 1 is -2")),
        "{f:?}"
    );
    assert!(
        f.iter()
            .any(|f| f.contains("item 0 holds 34 orders for a stock of 30")),
        "{f:?}"
    );
    assert!(
        f.iter()
            .any(|f| f.contains("4 order(s) held that no buyer was told of")),
        "{f:?}"
    );
}

/// Lock violations recounted from the journal lines alone: per lock, the
/// acquisitions sorted by time; one is a violation when it was stamped
/// before an earlier holder's acknowledged write of the resource. Also
/// whether that count is exact: not when a holder that neither wrote nor
/// released is followed by another grabber's acquisition (the journal
/// cannot say whether they overlapped).
fn violations_in_journal(lines: &[Value], kind: &str) -> (u64, bool) {
    let mut by_lock: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for l in lines {
        let op = &l["op"];
        let mine = ["lock_acquired", "lock_released", "resource_write"]
            .iter()
            .any(|o| op[*o] == kind);
        if mine {
            by_lock
                .entry(l["round"].as_u64().unwrap())
                .or_default()
                .push(l);
        }
    }
    let (mut total, mut exact) = (0, true);
    for (_, mut steps) in by_lock {
        steps.sort_by_key(|l| l["at_ms"].as_u64().unwrap());
        // Each grabber's open acquisition; sections as (user, start, end, released).
        let mut open: HashMap<u64, usize> = HashMap::new();
        let mut sections: Vec<(u64, u64, Option<u64>, bool)> = Vec::new();
        for l in steps {
            let (user, at) = (l["user"].as_u64().unwrap(), l["at_ms"].as_u64().unwrap());
            if l["op"]["lock_acquired"] == kind {
                open.remove(&user);
                // A naive grabber that died after SETNX never entered.
                if l["value"] == 0 {
                    continue;
                }
                open.insert(user, sections.len());
                sections.push((user, at, None, false));
            } else if l["op"]["resource_write"] == kind {
                if let Some(i) = open.get(&user) {
                    sections[*i].2.get_or_insert(at);
                }
            } else if let Some(i) = open.remove(&user) {
                sections[i].3 = true;
            }
        }
        for (i, (user, start, end, released)) in sections.iter().enumerate() {
            let next = sections.get(i + 1);
            if end.is_none() && !released && next.is_some_and(|n| n.0 != *user) {
                exact = false;
            }
            if sections[..i]
                .iter()
                .any(|(_, _, end, _)| end.is_some_and(|e| e > *start))
            {
                total += 1;
            }
        }
    }
    (total, exact)
}

/// Case 7: `audit DIR` on a lock run recomputes the violations from the
/// journal (the run's own count), never prints 0 for what it did not see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaudit_recomputes_lock_violations_from_the_journal() {
    let r = run(LabConfig {
        workload: WorkloadKind::Lock,
        grabbers: 24,
        seed: 71,
        locks: LockConfig {
            kinds: vec![LockKind::Naive, LockKind::Safe],
            keys: 2,
            ttl_ms: 40,
            hold_ms: 90,
            rounds: 4,
            ..LockConfig::default()
        },
        ..Default::default()
    })
    .await;
    let lines = crate::support::journal_json(&r.dir);
    let (code, json) = r.audit();
    for kind in ["naive", "safe"] {
        let recount = violations_in_journal(&lines, kind);
        let k = if kind == "naive" {
            LockKind::Naive
        } else {
            LockKind::Safe
        };
        let l = &r.report.locks[&k];
        eprintln!(
            "{kind}: run {:?} (journal {:?}), re-audit {}, test's journal recount {recount:?}; \
             TTL ran out while held {}, attempts {} / acquired {}",
            l.violations,
            l.violations_journal,
            json["locks"][kind]["violations"],
            l.ttl_expired_while_held,
            l.attempts,
            l.acquired
        );
        let (recount, exact) = recount;
        assert!(exact, "{kind}: every section wrote or released");
        assert!(recount > 0, "{kind}: a hold over the TTL overlaps");
        assert_eq!(l.violations_journal, Some(recount), "{kind}");
        assert_eq!(json["locks"][kind]["violations"], recount, "{kind}");
        // The registry saw them as they happened (the journal proves at most as many).
        assert!(l.violations >= Some(recount), "{kind}");
        assert!(l.ttl_expired_while_held > 0, "{kind}: {l:?}");
        assert_eq!(l.locks_lost, 0, "{kind}: an expiry is no loss: {l:?}");
        assert!(l.attempts > l.acquired, "{kind}: {l:?}");
        // The run's counters survive the re-audit.
        assert_eq!(json["locks"][kind]["attempts"], l.attempts);
    }
    assert_eq!(code, 1, "violations fail the verdict");
    assert_eq!(json["audit"]["lost_acked_writes"], 0);
    assert_eq!(r.report.audit.lost_acked_writes, 0);
}

/// Case 10: a healthy local topology under 100,000 grabbers for 60 s: slow
/// holders outlive their TTL, which is a lock-safety event; no acknowledged
/// write is claimed lost, violations are those the journal proves, and
/// attempts are not acquisitions.
#[test]
fn a_healthy_topology_under_heavy_load_claims_no_loss() {
    let state = state_dir();
    let s = state.path();
    let dir = s.join("run");
    let (code, _, out) = cli(s, &["up", "--backend", "local", "--json"]);
    assert_eq!(code, 0, "{out}");
    let _down = Down(s);
    let (code, report, out) = cli(
        s,
        &[
            "load",
            "--attach",
            "--workload",
            "mixed",
            "--grabbers",
            "100000",
            "--duration",
            "60s",
            "--seed",
            "10",
            "--json",
            "--out",
            dir.to_str().unwrap(),
        ],
    );
    assert!(code == 0 || code == 1, "{out}");
    let lines = crate::support::journal_json(&dir);
    let locks = report["locks"].as_object().unwrap();
    for (kind, l) in locks {
        let recount = violations_in_journal(&lines, kind);
        eprintln!(
            "{kind}: violations {} (journal {}, proven {}) / test's journal recount {recount:?}; attempts {}, acquired {}, refused {}, gave up {}, TTL ran out while held {}, grants vanished {}",
            l["violations"],
            l["violations_journal"],
            l["violations_proven"],
            l["attempts"],
            l["acquired"],
            l["refused_attempts"],
            l["failed"],
            l["ttl_expired_while_held"],
            l["locks_lost"]
        );
        let (proven, exact) = recount;
        assert_eq!(l["violations_proven"], proven, "{kind}");
        assert_eq!(
            l["violations_journal"],
            serde_json::json!(exact.then_some(proven)),
            "{kind}"
        );
        // The registry saw every overlap the journal proves.
        assert!(l["violations"].as_u64().unwrap() >= proven, "{kind}");
        assert!(l["attempts"].as_u64() > l["acquired"].as_u64(), "{kind}");
        assert_eq!(l["locks_lost"], 0, "{kind}");
        assert_eq!(l["lost_acked_writes"], 0, "{kind}");
    }
    // Sales and grabs: recount what Redis holds against the journal.
    let (_, addr) = live_master(s).expect("the master");
    let password = crate::support::password_in(s);
    let mut c = redis::Client::open(crate::support::url_with(password.as_deref(), &addr))
        .unwrap()
        .get_connection()
        .unwrap();
    let run_id = report["run_id"].as_str().unwrap();
    let items = report["seckill"]["items"].as_u64().unwrap();
    let mut orders = 0u64;
    for i in 0..items {
        let n: u64 = redis::cmd("HLEN")
            .arg(format!("gs:{run_id}:sk:{i}:orders"))
            .query(&mut c)
            .unwrap();
        orders += n;
    }
    let sales = lines.iter().filter(|l| l["op"] == "seckill_sale").count() as u64;
    let grabs = lines.iter().filter(|l| l["op"] == "redpacket_grab").count() as u64;
    eprintln!(
        "seckill: sold {} / journal {sales}; orders_in_redis {} / HLEN {orders}; red packets: grabs_ok {} / journal {grabs}; lost acknowledged writes {}; findings {}",
        report["seckill"]["sold"],
        report["seckill"]["orders_in_redis"],
        report["redpacket"]["grabs_ok"],
        report["audit"]["lost_acked_writes"],
        report["verdict"]["findings"]
    );
    assert_eq!(report["seckill"]["sold"], sales);
    assert_eq!(report["seckill"]["orders_in_redis"], orders);
    assert_eq!(report["redpacket"]["grabs_ok"], grabs);
    assert!(sales > 0 && grabs > 0);
    assert_eq!(report["audit"]["lost_acked_writes"], 0, "{out}");
    for f in report["verdict"]["findings"].as_array().unwrap() {
        let f = f.as_str().unwrap();
        for claim in ["write(s) lost", "grab(s) lost", "sale(s) lost"] {
            assert!(!f.contains(claim), "{f}");
        }
    }
    // The re-audit says the same.
    let (_, again, out) = cli(s, &["audit", dir.to_str().unwrap(), "--json"]);
    assert_eq!(again["audit"]["lost_acked_writes"], 0, "{out}");
    for (kind, l) in locks {
        // Recounted from the journal, or "not recomputable" (null), never 0.
        assert_eq!(
            again["locks"][kind]["violations"], l["violations_journal"],
            "{kind}"
        );
        assert_eq!(
            again["locks"][kind]["violations_proven"], l["violations_proven"],
            "{kind}"
        );
    }
}
