//! The ring lab: K keys written through each sharding scheme (modulo, and
//! the ring at each V) into N real, independent Redis servers, one server
//! removed (or one added), the keys written again through the changed
//! scheme, and everything counted from the servers themselves.
//!
//! The servers are started by the topology plan every backend carries out
//! (a master and N-1 replicas, no sentinel, recorded and labelled like any
//! run, removed by the guard or by `down` after a crash), then each replica
//! is detached (`REPLICAOF NO ONE`): N masters that share nothing, as the
//! servers behind a `ShardedJedisPool` were.
//!
//! Each scheme keeps its keys in its own pair of databases on every server:
//! before the change in database 2s, after it in 2s+1 (s = 0 for modulo,
//! 1.. for the ring's V values), so both placements stay readable side by
//! side and anyone can recount them (`SELECT`, `SCAN`, `DBSIZE`). A key's
//! owner before and after is the server whose database holds it; a key on
//! two servers, or on none, is an error, not a count. After the change the
//! keys are written where the changed scheme sends them, as a sharded
//! client would: a key whose owner changed is a miss for a cache and a
//! move for a store.

use super::{modulo_owner, Ring, HASH_NAME};
use crate::topology::admin::cluster::{even_split, key_slot, SlotRange};
use crate::topology::plan::FIRST_MASTER;
use crate::topology::{Auth, Topology, TopologySpec};
use anyhow::{bail, Context};
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Databases of a default redis.conf: two per scheme, so at most 8 schemes.
pub const DATABASES: usize = 16;
/// Ring V values one run can hold next to the modulo scheme.
pub const MAX_VNODE_VALUES: usize = DATABASES / 2 - 1;
/// Keys per MSET and per SCAN page.
const BATCH: usize = 1000;
/// The longest the whole measurement may take.
pub const MEASURE_TIMEOUT: Duration = Duration::from_secs(300);

/// What changes between the two placements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// The last server leaves.
    Remove,
    /// A server joins (started with the others, outside every scheme before).
    Add,
}

/// One ring experiment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingPlan {
    /// Servers in every scheme before the change.
    pub servers: usize,
    pub vnodes: Vec<u32>,
    pub keys: u64,
    pub change: Change,
}

impl RingPlan {
    /// Servers to start: one more when one is to join.
    pub fn started(&self) -> usize {
        self.servers + usize::from(self.change == Change::Add)
    }

    /// What to start: a master and its replicas, no sentinel; the replicas
    /// are detached once ready ([`detach`]).
    pub fn spec(&self) -> TopologySpec {
        TopologySpec {
            replicas: (self.started() - 1) as u16,
            sentinels: 0,
            quorum: 1,
            ..TopologySpec::default()
        }
    }

    /// Refuses a plan the servers cannot hold.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.change == Change::Remove && self.servers < 2 {
            bail!("removing a server needs at least 2 servers");
        }
        if self.vnodes.is_empty() || self.vnodes.len() > MAX_VNODE_VALUES {
            bail!(
                "give 1 to {MAX_VNODE_VALUES} virtual-node counts: each scheme keeps its keys in two of a server's {DATABASES} databases"
            );
        }
        Ok(())
    }

    /// Server names in the ring before the change, and after it.
    fn members(&self, names: &[String]) -> (Vec<String>, Vec<String>) {
        let n = self.servers;
        match self.change {
            Change::Remove => (names[..n].to_vec(), names[..n - 1].to_vec()),
            Change::Add => (names[..n].to_vec(), names[..n + 1].to_vec()),
        }
    }
}

/// What was measured for one scheme. Counts are read from the servers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchemeRow {
    /// Virtual nodes per server; absent for the modulo scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vnodes: Option<u32>,
    /// Keys whose server changed, over all keys.
    pub moved_share: f64,
    /// Keys that moved from one server that stayed to another that stayed.
    pub moved_between_survivors: u64,
    /// Standard deviation (population) of keys per server over the mean,
    /// before the change.
    pub load_cv: f64,
    /// Keys each server held before the change (servers in the scheme then).
    pub keys_per_server: Vec<u64>,
    pub moved_keys: u64,
    /// Keys each server held after the change (servers in the scheme then).
    pub keys_per_server_after: Vec<u64>,
    pub load_cv_after: f64,
    /// Keys the server that left held (removal), or took (addition).
    pub changed_server_keys: u64,
    /// Removal: where the leaving server's keys went, per server after the
    /// change; addition: where the new server's keys came from, per server
    /// before it.
    pub changed_keys_by_server: Vec<u64>,
    /// Where the placements are: database numbers on every server.
    pub db_before: u32,
    pub db_after: u32,
}

/// Redis Cluster's answer for the same keys, computed (not measured): a
/// cluster of N masters with an even slot split loses its last master and
/// its slots are split evenly among the rest (or gains one that takes an
/// even share from each).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterSlotsRow {
    pub computed: bool,
    pub moved_share: f64,
    pub moved_keys: u64,
    pub moved_between_survivors: u64,
    pub load_cv: f64,
    pub keys_per_master: Vec<u64>,
    pub keys_per_master_after: Vec<u64>,
    pub slots_moved: u32,
}

/// The whole experiment, as `grabstorm ring --json` prints it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RingReport {
    pub servers: usize,
    pub keys: u64,
    pub modulo_moved_share: f64,
    /// The ring, one row per V.
    pub rows: Vec<SchemeRow>,
    pub change: Change,
    /// The server that left or joined.
    pub changed_server: String,
    /// Every server started, in order; `keys_per_server` follows it.
    pub server_names: Vec<String>,
    pub hash: String,
    pub modulo: SchemeRow,
    pub cluster_slots: ClusterSlotsRow,
    /// Wall time of the measurement.
    pub measured_in_ms: u64,
}

/// The key number `i` of the experiment (no `{`: no Cluster hash tag).
pub fn key_name(i: u64) -> String {
    format!("user:{i}")
}

/// Makes every data node of `topology` an independent master: the
/// replicas stop replicating (`REPLICAOF NO ONE`), then every node must say
/// `role:master`, and every database is emptied.
pub async fn detach(topology: &Topology) -> anyhow::Result<()> {
    let auth = topology.auth();
    for node in topology.redis_nodes() {
        let mut conn = connect(node.host_addr, &auth).await?;
        if node.name != FIRST_MASTER {
            let _: () = redis::cmd("REPLICAOF")
                .arg("NO")
                .arg("ONE")
                .query_async(&mut conn)
                .await
                .with_context(|| format!("REPLICAOF NO ONE on {}", node.name))?;
        }
    }
    for node in topology.redis_nodes() {
        let mut conn = connect(node.host_addr, &auth).await?;
        let role = crate::topology::admin::replication::role(&mut conn, Duration::from_secs(2))
            .await
            .with_context(|| format!("reading the role of {}", node.name))?;
        if role != "master" {
            bail!("{} is still a {role} after REPLICAOF NO ONE", node.name);
        }
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut conn)
            .await
            .with_context(|| format!("FLUSHALL on {}", node.name))?;
    }
    Ok(())
}

async fn connect(addr: std::net::SocketAddr, auth: &Auth) -> anyhow::Result<MultiplexedConnection> {
    crate::client::connect(addr, auth).await
}

/// The started servers, in name order, with a connection each.
struct Servers {
    names: Vec<String>,
    conns: Vec<MultiplexedConnection>,
}

impl Servers {
    async fn open(topology: &Topology) -> anyhow::Result<Servers> {
        let auth = topology.auth();
        let mut nodes: Vec<_> = topology.redis_nodes().collect();
        nodes.sort_by(|a, b| crate::topology::plan::name_order(&a.name, &b.name));
        let mut names = Vec::new();
        let mut conns = Vec::new();
        for n in nodes {
            names.push(n.name.clone());
            conns.push(connect(n.host_addr, &auth).await?);
        }
        Ok(Servers { names, conns })
    }

    /// Writes `keys` (already grouped by server index) into database `db`.
    async fn write(&mut self, db: u32, by_server: &[Vec<String>]) -> anyhow::Result<()> {
        for (i, keys) in by_server.iter().enumerate() {
            for chunk in keys.chunks(BATCH) {
                let mut pipe = redis::pipe();
                pipe.cmd("SELECT").arg(db).ignore();
                let mset = pipe.cmd("MSET");
                for k in chunk {
                    mset.arg(k).arg("1");
                }
                pipe.ignore();
                pipe.query_async::<()>(&mut self.conns[i])
                    .await
                    .with_context(|| format!("MSET into db {db} of {}", self.names[i]))?;
            }
        }
        Ok(())
    }

    /// Every key of database `db` on each server (SCAN), checked against
    /// its DBSIZE.
    async fn read(&mut self, db: u32, keys: u64) -> anyhow::Result<Vec<HashSet<String>>> {
        let mut all = Vec::new();
        // Enough pages for every key even at one key per page, and a cap.
        let max_pages = keys as usize + 16;
        for i in 0..self.conns.len() {
            let name = self.names[i].clone();
            let conn = &mut self.conns[i];
            let mut seen = HashSet::new();
            let mut cursor: u64 = 0;
            let mut pages = 0usize;
            loop {
                let (next, page): (u64, Vec<String>) = redis::pipe()
                    .cmd("SELECT")
                    .arg(db)
                    .ignore()
                    .cmd("SCAN")
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(BATCH)
                    .query_async::<((u64, Vec<String>),)>(conn)
                    .await
                    .with_context(|| format!("SCAN db {db} of {name}"))?
                    .0;
                seen.extend(page);
                cursor = next;
                pages += 1;
                if cursor == 0 {
                    break;
                }
                if pages > max_pages {
                    bail!("SCAN of db {db} on {name} did not end after {pages} pages");
                }
            }
            let (size,): (u64,) = redis::pipe()
                .cmd("SELECT")
                .arg(db)
                .ignore()
                .cmd("DBSIZE")
                .query_async(conn)
                .await
                .with_context(|| format!("DBSIZE db {db} of {name}"))?;
            if size != seen.len() as u64 {
                bail!(
                    "db {db} of {name}: SCAN found {} keys, DBSIZE says {size}",
                    seen.len()
                );
            }
            all.push(seen);
        }
        Ok(all)
    }
}

/// Key → server index, from what each server holds; every key of the
/// experiment exactly once.
fn owners(
    names: &[String],
    held: &[HashSet<String>],
    keys: u64,
    db: u32,
) -> anyhow::Result<HashMap<String, usize>> {
    let mut owner = HashMap::with_capacity(keys as usize);
    for (i, set) in held.iter().enumerate() {
        for k in set {
            if let Some(j) = owner.insert(k.clone(), i) {
                bail!("db {db}: {k} is on both {} and {}", names[j], names[i]);
            }
        }
    }
    if owner.len() as u64 != keys {
        bail!(
            "db {db}: the servers hold {} keys, {keys} were written",
            owner.len()
        );
    }
    Ok(owner)
}

/// Population standard deviation over the mean (0 for no load).
pub fn coefficient_of_variation(counts: &[u64]) -> f64 {
    if counts.is_empty() {
        return 0.0;
    }
    let n = counts.len() as f64;
    let mean = counts.iter().sum::<u64>() as f64 / n;
    if mean == 0.0 {
        return 0.0;
    }
    let var = counts
        .iter()
        .map(|&c| (c as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    var.sqrt() / mean
}

/// Writes the keys through one scheme before and after the change, reads
/// both placements back and counts.
async fn measure_scheme(
    servers: &mut Servers,
    plan: &RingPlan,
    vnodes: Option<u32>,
    db_before: u32,
    owner: impl Fn(&[String], &[u8]) -> usize,
) -> anyhow::Result<SchemeRow> {
    let names = servers.names.clone();
    let (before, after) = plan.members(&names);
    let index_of = |name: &str| names.iter().position(|n| n == name).unwrap_or(0);
    let group = |members: &[String]| -> Vec<Vec<String>> {
        let mut by = vec![Vec::new(); names.len()];
        for i in 0..plan.keys {
            let key = key_name(i);
            let m = owner(members, key.as_bytes());
            by[index_of(&members[m])].push(key);
        }
        by
    };
    let db_after = db_before + 1;
    let (by_before, by_after) = (group(&before), group(&after));
    servers.write(db_before, &by_before).await?;
    servers.write(db_after, &by_after).await?;
    let held_before = servers.read(db_before, plan.keys).await?;
    let held_after = servers.read(db_after, plan.keys).await?;
    let was = owners(&names, &held_before, plan.keys, db_before)?;
    let now = owners(&names, &held_after, plan.keys, db_after)?;
    let survivors: HashSet<usize> = before
        .iter()
        .filter(|n| after.contains(n))
        .map(|n| index_of(n))
        .collect();
    let mut moved = 0u64;
    let mut between = 0u64;
    let changed_index = match plan.change {
        Change::Remove => index_of(&before[before.len() - 1]),
        Change::Add => index_of(&after[after.len() - 1]),
    };
    let mut changed_by = vec![0u64; names.len()];
    for (key, &from) in &was {
        let to = now[key];
        if from != to {
            moved += 1;
            match plan.change {
                Change::Remove if from == changed_index => changed_by[to] += 1,
                Change::Add if to == changed_index => changed_by[from] += 1,
                _ => {}
            }
            if survivors.contains(&from) && survivors.contains(&to) {
                between += 1;
            }
        }
    }
    let counts = |held: &[HashSet<String>], members: &[String]| -> anyhow::Result<Vec<u64>> {
        for (i, set) in held.iter().enumerate() {
            if !members.contains(&names[i]) && !set.is_empty() {
                bail!(
                    "{} is outside the scheme but holds {} keys",
                    names[i],
                    set.len()
                );
            }
        }
        Ok(members
            .iter()
            .map(|m| held[index_of(m)].len() as u64)
            .collect())
    };
    let keys_per_server = counts(&held_before, &before)?;
    let keys_per_server_after = counts(&held_after, &after)?;
    let changed = match plan.change {
        Change::Remove => held_before[index_of(&before[before.len() - 1])].len(),
        Change::Add => held_after[index_of(&after[after.len() - 1])].len(),
    } as u64;
    Ok(SchemeRow {
        vnodes,
        moved_share: moved as f64 / plan.keys.max(1) as f64,
        moved_between_survivors: between,
        load_cv: coefficient_of_variation(&keys_per_server),
        keys_per_server,
        moved_keys: moved,
        load_cv_after: coefficient_of_variation(&keys_per_server_after),
        keys_per_server_after,
        changed_server_keys: changed,
        changed_keys_by_server: match plan.change {
            Change::Remove => after.iter().map(|m| changed_by[index_of(m)]).collect(),
            Change::Add => before.iter().map(|m| changed_by[index_of(m)]).collect(),
        },
        db_before,
        db_after,
    })
}

/// Runs the experiment on the started, detached servers of `topology`.
pub async fn measure(topology: &Topology, plan: &RingPlan) -> anyhow::Result<RingReport> {
    plan.validate()?;
    let started = Instant::now();
    let work = async {
        let mut servers = Servers::open(topology).await?;
        if servers.names.len() != plan.started() {
            bail!(
                "{} servers are running, {} were planned",
                servers.names.len(),
                plan.started()
            );
        }
        let modulo = measure_scheme(&mut servers, plan, None, 0, |members, key| {
            modulo_owner(key, members.len())
        })
        .await?;
        let mut rows = Vec::new();
        for (s, &v) in plan.vnodes.iter().enumerate() {
            let db = 2 * (s as u32 + 1);
            // Rings are built once per placement, not once per key.
            let (before, after) = plan.members(&servers.names);
            let rings = [Ring::new(&before, v), Ring::new(&after, v)];
            let row = measure_scheme(&mut servers, plan, Some(v), db, |members, key| {
                let ring = if members.len() == before.len() {
                    &rings[0]
                } else {
                    &rings[1]
                };
                ring.owner(key).unwrap_or(0)
            })
            .await?;
            rows.push(row);
        }
        let (before, after) = plan.members(&servers.names);
        let changed_server = match plan.change {
            Change::Remove => before[before.len() - 1].clone(),
            Change::Add => after[after.len() - 1].clone(),
        };
        Ok(RingReport {
            servers: plan.servers,
            keys: plan.keys,
            modulo_moved_share: modulo.moved_share,
            rows,
            change: plan.change,
            changed_server,
            server_names: servers.names.clone(),
            hash: HASH_NAME.to_string(),
            modulo,
            cluster_slots: cluster_slots(plan),
            measured_in_ms: 0,
        })
    };
    let mut report = tokio::time::timeout(MEASURE_TIMEOUT, work)
        .await
        .map_err(|_| anyhow::anyhow!("the ring lab took longer than {MEASURE_TIMEOUT:?}"))??;
    report.measured_in_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// The master (index) owning `slot` in `ranges` (one list of ranges per master).
fn slot_owner(ranges: &[Vec<SlotRange>], slot: u16) -> usize {
    ranges
        .iter()
        .position(|rs| rs.iter().any(|r| r.contains(slot)))
        .unwrap_or(0)
}

/// Splits `range` into `parts` consecutive ranges as evenly as possible.
fn split_range(range: SlotRange, parts: usize) -> Vec<SlotRange> {
    let len = range.len() as usize;
    let (per, extra) = (len / parts, len % parts);
    let mut start = range.start as usize;
    (0..parts)
        .filter_map(|k| {
            let n = per + usize::from(k < extra);
            if n == 0 {
                return None;
            }
            let r = SlotRange {
                start: start as u16,
                end: (start + n - 1) as u16,
            };
            start += n;
            Some(r)
        })
        .collect()
}

/// Redis Cluster's slot assignments before and after the change (one list
/// of ranges per master), the way `redis-cli --cluster` would rebalance.
pub fn cluster_assignments(plan: &RingPlan) -> (Vec<Vec<SlotRange>>, Vec<Vec<SlotRange>>) {
    let n = plan.servers;
    let before: Vec<Vec<SlotRange>> = even_split(n).into_iter().map(|r| vec![r]).collect();
    let mut after = before.clone();
    match plan.change {
        Change::Remove => {
            let gone = after.pop().expect("at least 2 masters")[0];
            for (k, piece) in split_range(gone, n - 1).into_iter().enumerate() {
                after[k].push(piece);
            }
        }
        Change::Add => {
            // Each master gives the new one the tail of its range, down to
            // an even share of n+1.
            let target = crate::topology::admin::cluster::SLOTS as usize / (n + 1);
            let mut new = Vec::new();
            for ranges in after.iter_mut() {
                let r = ranges[0];
                let give = (r.len() as usize).saturating_sub(target);
                if give > 0 {
                    let keep_end = r.end - give as u16;
                    ranges[0] = SlotRange {
                        start: r.start,
                        end: keep_end,
                    };
                    new.push(SlotRange {
                        start: keep_end + 1,
                        end: r.end,
                    });
                }
            }
            after.push(new);
        }
    }
    (before, after)
}

/// The Cluster row: each key's CRC16 slot, its master before and after.
pub fn cluster_slots(plan: &RingPlan) -> ClusterSlotsRow {
    let (before, after) = cluster_assignments(plan);
    let mut per_before = vec![0u64; before.len()];
    let mut per_after = vec![0u64; after.len()];
    let (mut moved, mut between) = (0u64, 0u64);
    let survivors = plan.servers - usize::from(plan.change == Change::Remove);
    for i in 0..plan.keys {
        let slot = key_slot(key_name(i).as_bytes());
        let (from, to) = (slot_owner(&before, slot), slot_owner(&after, slot));
        per_before[from] += 1;
        per_after[to] += 1;
        if from != to {
            moved += 1;
            if from < survivors && to < survivors {
                between += 1;
            }
        }
    }
    let owned = |a: &[Vec<SlotRange>]| -> Vec<u16> {
        (0..crate::topology::admin::cluster::SLOTS)
            .map(|s| slot_owner(a, s) as u16)
            .collect()
    };
    let slots_moved = owned(&before)
        .iter()
        .zip(owned(&after))
        .filter(|(a, b)| **a != *b)
        .count() as u32;
    ClusterSlotsRow {
        computed: true,
        moved_share: moved as f64 / plan.keys.max(1) as f64,
        moved_keys: moved,
        moved_between_survivors: between,
        load_cv: coefficient_of_variation(&per_before),
        keys_per_master: per_before,
        keys_per_master_after: per_after,
        slots_moved,
    }
}

/// A report shaped like the measured N = 4, remove-one run (the README's
/// table), for tests of what reads it.
#[cfg(test)]
pub(crate) fn sample_report() -> RingReport {
    let row = |vnodes: Option<u32>, moved: u64, between: u64, before: [u64; 4], to: [u64; 3]| {
        let after: Vec<u64> = (0..3).map(|i| before[i] + to[i]).collect();
        SchemeRow {
            vnodes,
            moved_share: moved as f64 / 20_000.0,
            moved_between_survivors: between,
            load_cv: coefficient_of_variation(&before),
            keys_per_server: before.to_vec(),
            moved_keys: moved,
            load_cv_after: coefficient_of_variation(&after),
            keys_per_server_after: after,
            changed_server_keys: before[3],
            changed_keys_by_server: to.to_vec(),
            db_before: 0,
            db_after: 1,
        }
    };
    let plan = RingPlan {
        servers: 4,
        vnodes: vec![1, 1000],
        keys: 20_000,
        change: Change::Remove,
    };
    let modulo = row(
        None,
        14_995,
        9_960,
        [5025, 4965, 4975, 5035],
        [1678, 1679, 1678],
    );
    RingReport {
        servers: 4,
        keys: 20_000,
        modulo_moved_share: modulo.moved_share,
        rows: vec![
            row(Some(1), 3350, 0, [2204, 3752, 10694, 3350], [0, 0, 3350]),
            row(
                Some(1000),
                5015,
                0,
                [4923, 5119, 4943, 5015],
                [1593, 1680, 1742],
            ),
        ],
        change: Change::Remove,
        changed_server: "redis-4".into(),
        server_names: (1..=4).map(|i| format!("redis-{i}")).collect(),
        hash: HASH_NAME.into(),
        modulo,
        cluster_slots: cluster_slots(&plan),
        measured_in_ms: 900,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(change: Change) -> RingPlan {
        RingPlan {
            servers: 4,
            vnodes: vec![1, 10],
            keys: 20_000,
            change,
        }
    }

    #[test]
    fn cluster_loses_a_master_and_only_its_slots_move() {
        let (before, after) = cluster_assignments(&plan(Change::Remove));
        assert_eq!(before.len(), 4);
        assert_eq!(after.len(), 3);
        let total = |a: &[Vec<SlotRange>]| a.iter().flatten().map(|r| r.len()).sum::<u32>();
        assert_eq!(total(&after), 16384);
        let row = cluster_slots(&plan(Change::Remove));
        assert_eq!(row.slots_moved, 4096);
        assert_eq!(row.moved_between_survivors, 0);
        assert_eq!(row.moved_keys, row.keys_per_master[3]);
        assert!(
            (0.22..0.28).contains(&row.moved_share),
            "{}",
            row.moved_share
        );
    }

    #[test]
    fn cluster_gains_a_master_that_takes_an_even_share() {
        let (_, after) = cluster_assignments(&plan(Change::Add));
        let lens: Vec<u32> = after
            .iter()
            .map(|rs| rs.iter().map(|r| r.len()).sum())
            .collect();
        assert_eq!(lens.iter().sum::<u32>(), 16384);
        assert!(lens.iter().all(|&l| (3276..=3280).contains(&l)), "{lens:?}");
        let row = cluster_slots(&plan(Change::Add));
        assert_eq!(row.moved_between_survivors, 0);
        assert_eq!(row.moved_keys, row.keys_per_master_after[4]);
    }

    #[test]
    fn variation_is_stdev_over_mean() {
        assert_eq!(coefficient_of_variation(&[5, 5, 5]), 0.0);
        assert!((coefficient_of_variation(&[0, 10]) - 1.0).abs() < 1e-12);
        assert_eq!(coefficient_of_variation(&[]), 0.0);
    }

    #[test]
    fn plans_refuse_what_the_servers_cannot_hold() {
        let mut p = plan(Change::Remove);
        assert!(p.validate().is_ok());
        assert_eq!(p.spec().redis_count(), 4);
        assert_eq!(plan(Change::Add).spec().redis_count(), 5);
        p.vnodes = vec![1; MAX_VNODE_VALUES + 1];
        assert!(p.validate().is_err());
        p.vnodes = vec![1];
        p.servers = 1;
        assert!(p.validate().is_err());
    }
}
