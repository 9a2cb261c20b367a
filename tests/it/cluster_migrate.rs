//! The migration engine on a real cluster: slots with their keys moved
//! from one master to another, recounted with plain commands on each node
//! (`CLUSTER COUNTKEYSINSLOT`, `GET`) and checked by `redis-cli --cluster
//! check`.

use crate::support::UpCluster;
use grabstorm::topology::admin::cluster::{key_slot, SlotRange};
use grabstorm::topology::migrate::{move_slots, served_by};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_slots_move_with_their_keys_and_the_cluster_checks_clean() {
    let c = tokio::task::spawn_blocking(|| UpCluster::up("local", &[]))
        .await
        .unwrap();
    let t = c.topology.clone();
    // 2,000 keys; those in slots 0..=299 are the ones to move.
    let mut conn = c.conn(c.addr("redis-1"));
    let mut keys_moving = Vec::new();
    for i in 0..20_000 {
        let k = format!("k{i}");
        let slot = key_slot(k.as_bytes());
        if slot < 300 {
            let _: () = redis::cmd("SET").arg(&k).arg(i).query(&mut conn).unwrap();
            keys_moving.push((k, i));
        }
    }
    assert!(keys_moving.len() > 200, "{}", keys_moving.len());
    let slots = [SlotRange { start: 0, end: 299 }];
    let mut seen = Vec::new();
    let r = move_slots(
        &t,
        "redis-1",
        "redis-2",
        &slots,
        &CancellationToken::new(),
        |p| seen.push(p),
    )
    .await
    .unwrap();
    assert!(r.complete);
    assert!(r.every_node_agrees);
    assert_eq!(r.slots_moved, 300);
    assert_eq!(r.keys_moved, keys_moving.len() as u64);
    assert_eq!(seen.len(), 300);
    // redis-2 holds every moved key, read with a plain GET on its own port.
    let mut two = c.conn(c.addr("redis-2"));
    for (k, v) in &keys_moving {
        let got: Option<i64> = redis::cmd("GET").arg(k).query(&mut two).unwrap();
        assert_eq!(got, Some(*v), "{k}");
    }
    let left: i64 = redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(0)
        .query(&mut conn)
        .unwrap();
    assert_eq!(left, 0);
    let two_slots = served_by(&t, "redis-2").await.unwrap();
    assert!(
        two_slots.contains(&SlotRange { start: 0, end: 299 }),
        "{two_slots:?}"
    );
    let addr = c.addr("redis-1");
    let pw = t.password.clone().unwrap();
    let out = std::process::Command::new("redis-cli")
        .args([
            "--cluster",
            "check",
            &addr.to_string(),
            "-a",
            &pw,
            "--no-auth-warning",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
    assert!(
        text.contains("[OK] All nodes agree about slots configuration."),
        "{text}"
    );
    eprintln!(
        "moved {} keys in {} slots in {} ms",
        r.keys_moved, r.slots_moved, r.millis
    );
}
