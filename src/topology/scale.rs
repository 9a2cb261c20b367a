//! Scaling a running Cluster out and in, live (`grabstorm scale add`,
//! `grabstorm scale remove K`), the same on both backends:
//!
//! - [`add`]: a new master and `replicas_per_master` replicas are started
//!   ([`Backend::add_node`]), met through a node of the cluster and their
//!   replicas attached ([`cluster::join`]); then the new master takes an
//!   even share of the slots: each existing master hands over the slots
//!   above its new fair share (the end of its ranges), moved live with
//!   their keys by [`migrate::move_slots`]. Every master ends within one
//!   slot of 16,384 / (M+1).
//! - [`remove`]: shard K's master hands its slots to the other masters
//!   first, evenly (each ends within one slot of 16,384 / (M-1)); then
//!   every remaining node is told `CLUSTER FORGET` of each of the shard's
//!   nodes, and those are stopped and removed at once, well within the
//!   60 s during which a forgotten node is not re-learnt from gossip.
//!
//! Shard numbers: a shard is the replication group of the nodes that
//! started in it ([`Topology::start_shard`]); the first scaling records
//! every data node's shard in [`Topology::shards`], which is the record
//! from then on. A new shard takes the number after the highest shard of
//! the run, and its nodes the names after the highest `redis-N`; a removed
//! shard's number is not given to the others: removing shard 2 of 4
//! leaves shards 1, 3 and 4, and the next `scale add` makes shard 5.
//! `spec.masters` counts the masters there are.
//!
//! Both refuse to start unless every data node answers and says
//! `cluster_state:ok` with no node flagged failing (a doubt is given 5 s
//! to pass: a PFAIL under load is often gone the next second), and `remove` refuses
//! to leave fewer than three masters (a majority of masters must still
//! be able to agree on a failure).

use super::admin::cluster::{ClusterView, SlotRange, SLOTS};
use super::admin::probe::{connect, query};
use super::migrate::{self, MoveReport, Progress};
use super::plan::name_order;
use super::{cluster, Backend, Topology};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The fewest masters `scale remove` leaves.
pub const MIN_MASTERS: usize = 3;
/// Time one `CLUSTER FORGET` may take.
const STEP: Duration = Duration::from_secs(2);
/// Longest wait for every remaining node to stop listing removed nodes.
const FORGET_WAIT: Duration = Duration::from_secs(10);

/// Why a scaling was refused before it changed anything.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScaleError {
    #[error("the running topology is not a cluster (started with --mode sentinel): scale needs `grabstorm up --mode cluster`")]
    NotCluster,
    #[error("no shard {shard} in this run (shards: {known})")]
    UnknownShard { shard: usize, known: String },
    #[error(
        "removing shard {shard} would leave {left} masters: a cluster keeps at least {MIN_MASTERS}"
    )]
    TooFewMasters { shard: usize, left: usize },
    #[error("{node} is not well: {why}; scale only a healthy cluster (see `grabstorm status`)")]
    NodeDown { node: String, why: String },
}

/// What a scaling did, for the command's output and `--json`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ScaleReport {
    /// `add` or `remove`.
    pub action: String,
    /// The shard added or removed.
    pub shard: usize,
    /// Its nodes, master first.
    pub nodes: Vec<String>,
    /// Every move of slots, in order.
    pub moves: Vec<MoveReport>,
    pub slots_moved: u32,
    pub keys_moved: u64,
    /// From the first check to the last node removed or slot moved.
    pub millis: u64,
    /// Slots each master serves afterwards, as the masters say.
    pub slots_per_master: BTreeMap<String, u32>,
    /// Every move finished (a stop came after none of them).
    pub complete: bool,
}

/// One scaling as a timed step (`--fault "5s scale add"`, scenario
/// `scale = "remove 4"`): a shard joins, or shard K leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScaleStep {
    Add,
    Remove(usize),
}

impl std::fmt::Display for ScaleStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScaleStep::Add => f.write_str("add"),
            ScaleStep::Remove(k) => write!(f, "remove {k}"),
        }
    }
}

impl std::str::FromStr for ScaleStep {
    type Err = String;
    /// `add` or `remove K`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = "expected \"add\" (a new shard joins) or \"remove K\" (shard K leaves), e.g. \"remove 4\"";
        let words: Vec<&str> = s.split_whitespace().collect();
        match words[..] {
            ["add"] => Ok(ScaleStep::Add),
            ["add", extra, ..] => Err(format!(
                "{extra:?}: `add` takes nothing after it (the new shard's number is the next one); {usage}"
            )),
            ["remove"] => Err(format!("\"remove\" needs the shard to remove; {usage}")),
            ["remove", k] => match k.parse::<usize>() {
                Ok(k) if k >= 1 => Ok(ScaleStep::Remove(k)),
                _ => Err(format!("{k:?}: expected a shard number from 1; {usage}")),
            },
            _ => Err(format!("{:?}: {usage}", s.trim())),
        }
    }
}

/// What a scaling reports as it goes, one sentence each.
pub type Say<'a> = &'a mut (dyn FnMut(String) + Send);
/// Persists the topology after each change (the state file).
pub type Save<'a> = &'a mut (dyn FnMut(&Topology) -> Result<()> + Send);

/// Every data node's view, when every one answers, says ok and flags no
/// node failing; else why not.
async fn healthy_views(t: &Topology) -> Result<Vec<(String, ClusterView)>> {
    if !t.spec.is_cluster() {
        return Err(ScaleError::NotCluster.into());
    }
    let deadline = Instant::now() + HEALTH_WAIT;
    loop {
        match healthy_now(t).await {
            Err(e) if Instant::now() < deadline => {
                tracing::debug!("not healthy yet: {e:#}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            done => return done,
        }
    }
}

/// How long a passing doubt (a PFAIL under load, a slow answer) may last
/// before `scale` refuses.
const HEALTH_WAIT: Duration = Duration::from_secs(5);

/// [`healthy_views`] as the nodes answer now.
async fn healthy_now(t: &Topology) -> Result<Vec<(String, ClusterView)>> {
    let down = |node: &str, why: String| ScaleError::NodeDown {
        node: node.to_string(),
        why,
    };
    let views = cluster::views(t).await;
    // A node that does not answer is named before what the others think of it.
    if let Some((node, _)) = views.iter().find(|(_, v)| v.is_none()) {
        return Err(down(node, "it does not answer".into()).into());
    }
    let views: Vec<(String, ClusterView)> = views
        .into_iter()
        .filter_map(|(n, v)| Some((n, v?)))
        .collect();
    for (node, view) in &views {
        if !view.info.state_ok {
            return Err(down(node, "it says cluster_state is not ok".into()).into());
        }
        if let Some(f) = view.nodes.iter().find(|n| n.failing()) {
            let name = cluster::node_of(t, f).map_or(f.addr.clone(), |n| n.name.clone());
            return Err(down(node, format!("it flags {name} as failing")).into());
        }
    }
    Ok(views)
}

/// The masters serving slots now, by name, with their slots, by their own view.
fn masters_of(views: &[(String, ClusterView)]) -> Vec<(String, Vec<SlotRange>)> {
    let mut masters: Vec<(String, Vec<SlotRange>)> = views
        .iter()
        .filter_map(|(name, v)| {
            let me = v.myself()?;
            (me.flags.master && !me.slots.is_empty()).then(|| (name.clone(), me.slots.clone()))
        })
        .collect();
    masters.sort_by(|a, b| name_order(&a.0, &b.0));
    masters
}

fn count(slots: &[SlotRange]) -> u32 {
    slots.iter().map(|r| r.len()).sum()
}

/// Records every data node's shard in `t.shards` (once the plan can no
/// longer tell: `spec.masters` is about to change).
fn record_shards(t: &mut Topology) {
    let names: Vec<String> = t.redis_nodes().map(|n| n.name.clone()).collect();
    for name in names {
        if let Some(shard) = t.start_shard(&name) {
            t.shards.entry(name).or_insert(shard);
        }
    }
}

/// The number in `redis-N`.
fn number(name: &str) -> Option<usize> {
    name.strip_prefix("redis-")?.parse().ok()
}

/// The even share of `total` slots for masters now serving `counts`: each
/// gets total/n, and the remainder goes one slot each to those serving
/// the most now (the first of equals first), so that the fewest move.
pub fn fair_shares(counts: &[u32], total: u32) -> Vec<u32> {
    let n = counts.len() as u32;
    if n == 0 {
        return Vec::new();
    }
    let (per, extra) = (total / n, total % n);
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(counts[i]));
    let mut shares = vec![per; counts.len()];
    for &i in order.iter().take(extra as usize) {
        shares[i] += 1;
    }
    shares
}

/// The last `count` slots of `owned`, as ranges in order.
pub fn last_slots(owned: &[SlotRange], count: u32) -> Vec<SlotRange> {
    let mut left = count;
    let mut out = Vec::new();
    for r in owned.iter().rev() {
        if left == 0 {
            break;
        }
        let take = r.len().min(left);
        out.push(SlotRange {
            start: (u32::from(r.end) + 1 - take) as u16,
            end: r.end,
        });
        left -= take;
    }
    out.reverse();
    out
}

/// Runs one move, reporting every 10% of it.
async fn move_reporting(
    t: &Topology,
    from: &str,
    to: &str,
    slots: &[SlotRange],
    cancel: &CancellationToken,
    say: Say<'_>,
) -> Result<MoveReport> {
    let total: u32 = count(slots);
    say(format!("moving {total} slots from {from} to {to}"));
    let mut last_tenth = 0;
    let r = migrate::move_slots(t, from, to, slots, cancel, |p: Progress| {
        let tenth = p.slots_done * 10 / p.slots_total.max(1);
        if tenth > last_tenth && p.slots_done < p.slots_total {
            last_tenth = tenth;
            say(format!(
                "  {from} -> {to}: {}/{} slots, {} keys",
                p.slots_done, p.slots_total, p.keys_moved
            ));
        }
    })
    .await?;
    say(format!(
        "  {from} -> {to}: {} slots, {} keys in {} ms{}",
        r.slots_moved,
        r.keys_moved,
        r.millis,
        if r.every_node_agrees {
            ", every node agrees"
        } else {
            ", NOT every node agrees yet"
        }
    ));
    Ok(r)
}

/// Sums the moves up and reads each master's slots afterwards.
async fn finish(t: &Topology, mut report: ScaleReport, started: Instant) -> ScaleReport {
    report.slots_moved = report.moves.iter().map(|m| m.slots_moved).sum();
    report.keys_moved = report.moves.iter().map(|m| m.keys_moved).sum();
    report.complete = report.moves.iter().all(|m| m.complete);
    report.millis = started.elapsed().as_millis() as u64;
    let views: Vec<(String, ClusterView)> = cluster::views(t)
        .await
        .into_iter()
        .filter_map(|(n, v)| Some((n, v?)))
        .collect();
    report.slots_per_master = masters_of(&views)
        .into_iter()
        .map(|(n, s)| (n, count(&s)))
        .collect();
    report
}

/// `grabstorm scale add` on the running cluster `t` (see the module doc).
pub async fn add(
    backend: &dyn Backend,
    t: &mut Topology,
    cancel: &CancellationToken,
    say: Say<'_>,
    save: Save<'_>,
) -> Result<ScaleReport> {
    let started = Instant::now();
    let views = healthy_views(t).await?;
    let masters = masters_of(&views);
    record_shards(t);
    let shard = t.shards.values().copied().max().unwrap_or(0) + 1;
    let first = t
        .redis_nodes()
        .filter_map(|n| number(&n.name))
        .chain(t.shards.keys().filter_map(|n| number(n)))
        .max()
        .unwrap_or(0)
        + 1;
    let names: Vec<String> = (0..=t.spec.replicas_per_master as usize)
        .map(|i| format!("redis-{}", first + i))
        .collect();
    let master = names[0].clone();
    say(format!(
        "shard {shard}: starting {} ({} master{})",
        names.join(", "),
        master,
        match names.len() {
            1 => String::new(),
            2 => format!(", {} its replica", names[1]),
            _ => format!(", {} its replicas", names[1..].join(", ")),
        }
    ));
    for name in &names {
        if let Err(e) = backend.add_node(t, name).await {
            undo_added(backend, t, &names, save).await;
            return Err(e);
        }
        t.shards.insert(name.clone(), shard);
        save(t)?;
    }
    let via = masters
        .first()
        .map(|(n, _)| n.clone())
        .context("no master serves slots")?;
    let replicate: Vec<(String, String)> = names[1..]
        .iter()
        .map(|r| (r.clone(), master.clone()))
        .collect();
    if let Err(e) = cluster::join(t, &via, &names, &replicate).await {
        let e = e.context(format!("joining {} to the cluster", names.join(", ")));
        say(format!("{e:#}; removing the new nodes again"));
        forget_and_remove(backend, t, &names, say, save).await?;
        return Err(e);
    }
    say(format!(
        "{} met the cluster through {via}{}",
        names.join(", "),
        if replicate.is_empty() {
            String::new()
        } else {
            format!("; {} replicate {master}", names[1..].join(", "))
        }
    ));
    // A node that just joined answers CLUSTERDOWN (and refuses the keys
    // MIGRATE brings) until it has the slot map and its own 2 s start
    // delay has passed.
    let ok_after = wait_state_ok(t, JOIN_WAIT).await?;
    say(format!(
        "every node says cluster_state:ok ({} ms after the join)",
        ok_after.as_millis()
    ));
    t.spec.masters = masters.len() as u16 + 1;
    save(t)?;

    let counts: Vec<u32> = masters.iter().map(|(_, s)| count(s)).chain([0]).collect();
    let shares = fair_shares(&counts, u32::from(SLOTS));
    let mut report = ScaleReport {
        action: "add".into(),
        shard,
        nodes: names.clone(),
        ..Default::default()
    };
    for ((from, slots), (have, share)) in masters.iter().zip(counts.iter().zip(&shares)) {
        let give = have.saturating_sub(*share);
        if give == 0 || cancel.is_cancelled() {
            continue;
        }
        let r = move_reporting(t, from, &master, &last_slots(slots, give), cancel, say).await?;
        report.moves.push(r);
    }
    Ok(finish(t, report, started).await)
}

/// Longest wait for every node to say `cluster_state:ok` after a join.
const JOIN_WAIT: Duration = Duration::from_secs(15);

/// Waits until every data node of `t` says `cluster_state:ok` with all
/// 16,384 slots assigned; returns how long it took.
async fn wait_state_ok(t: &Topology, within: Duration) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let views = cluster::views(t).await;
        let not_ok: Vec<&str> = views
            .iter()
            .filter(|(_, v)| {
                !v.as_ref()
                    .is_some_and(|v| v.info.state_ok && v.info.slots_assigned == u32::from(SLOTS))
            })
            .map(|(n, _)| n.as_str())
            .collect();
        if not_ok.is_empty() {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= within {
            bail!(
                "{} did not say cluster_state:ok within {within:?} after the join",
                not_ok.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Removes nodes added by a failed `add`, saying what could not be.
async fn undo_added(backend: &dyn Backend, t: &mut Topology, names: &[String], save: Save<'_>) {
    for name in names {
        if t.node(name).is_some() {
            if let Err(e) = backend.remove_node(t, name).await {
                tracing::warn!(node = %name, "removing a node after a failed add: {e:#}");
            }
        }
        t.shards.remove(name);
    }
    let _ = save(t);
}

/// `grabstorm scale remove K` on the running cluster `t` (see the module doc).
pub async fn remove(
    backend: &dyn Backend,
    t: &mut Topology,
    shard: usize,
    cancel: &CancellationToken,
    say: Say<'_>,
    save: Save<'_>,
) -> Result<ScaleReport> {
    let started = Instant::now();
    let views = healthy_views(t).await?;
    record_shards(t);
    let mut group: Vec<String> = t
        .redis_nodes()
        .filter(|n| t.start_shard(&n.name) == Some(shard))
        .map(|n| n.name.clone())
        .collect();
    if group.is_empty() {
        let known: BTreeSet<usize> = t
            .redis_nodes()
            .filter_map(|n| t.start_shard(&n.name))
            .collect();
        let known: Vec<String> = known.iter().map(|k| k.to_string()).collect();
        return Err(ScaleError::UnknownShard {
            shard,
            known: known.join(", "),
        }
        .into());
    }
    let masters = masters_of(&views);
    let (leaving, staying): (Vec<_>, Vec<_>) =
        masters.into_iter().partition(|(n, _)| group.contains(n));
    if staying.len() < MIN_MASTERS {
        return Err(ScaleError::TooFewMasters {
            shard,
            left: staying.len(),
        }
        .into());
    }
    // The shard's master (the one of its nodes serving slots) first.
    group.sort_by(|a, b| {
        let serving = |n: &String| !leaving.iter().any(|(m, _)| m == n);
        serving(a).cmp(&serving(b)).then_with(|| name_order(a, b))
    });
    let mut report = ScaleReport {
        action: "remove".into(),
        shard,
        nodes: group.clone(),
        ..Default::default()
    };
    say(format!(
        "shard {shard}: {} leave{}",
        group.join(", "),
        if group.len() == 1 { "s" } else { "" }
    ));
    // A master that loses its last slot turns itself into a replica of
    // the slot's new owner (`cluster-allow-replica-migration yes`, the
    // default), its replicas follow, and the move's last `SETSLOT NODE` on
    // it is refused ("use SETSLOT only with masters"): the leaving nodes
    // stay as they are until they are removed.
    for name in &group {
        config_set(t, name, "cluster-allow-replica-migration", "no").await?;
    }
    for (from, slots) in &leaving {
        let counts: Vec<u32> = staying.iter().map(|(_, s)| count(s)).collect();
        let moving = count(slots);
        let shares = fair_shares(&counts, counts.iter().sum::<u32>() + moving);
        let mut takes: Vec<u32> = counts
            .iter()
            .zip(&shares)
            .map(|(c, s)| s.saturating_sub(*c))
            .collect();
        // Unevenly loaded receivers: the slots still all go.
        while takes.iter().sum::<u32>() > moving {
            let i = (0..takes.len()).max_by_key(|&i| takes[i]).unwrap_or(0);
            takes[i] -= 1;
        }
        let mut rest = slots.clone();
        for ((to, _), take) in staying.iter().zip(&takes) {
            if *take == 0 {
                continue;
            }
            if cancel.is_cancelled() {
                break;
            }
            let part = migrate::first_slots(&rest, *take);
            rest = last_slots(&rest, count(&rest) - take);
            let r = move_reporting(t, from, to, &part, cancel, say).await?;
            report.moves.push(r);
        }
        if !rest.is_empty() && !cancel.is_cancelled() {
            let (to, _) = &staying[0];
            let r = move_reporting(t, from, to, &rest, cancel, say).await?;
            report.moves.push(r);
        }
    }
    if cancel.is_cancelled() {
        say(format!(
            "stopped: shard {shard} keeps its nodes (some of its slots may have moved)"
        ));
        for name in &group {
            let _ = config_set(t, name, "cluster-allow-replica-migration", "yes").await;
        }
        return Ok(finish(t, report, started).await);
    }
    for (from, _) in &leaving {
        let left = migrate::served_by(t, from).await.unwrap_or_default();
        if !left.is_empty() {
            bail!(
                "{from} still serves {} slots after the moves: its nodes stay",
                count(&left)
            );
        }
    }
    forget_and_remove(backend, t, &group, say, save).await?;
    t.spec.masters = staying.len() as u16;
    save(t)?;
    report.complete = true;
    Ok(finish(t, report, started).await)
}

/// `CONFIG SET parameter value` on node `name`.
async fn config_set(t: &Topology, name: &str, parameter: &str, value: &str) -> Result<()> {
    let node = t
        .node(name)
        .with_context(|| format!("no node {name} in the run"))?;
    let mut conn = connect(node.host_addr, &t.auth(), STEP)
        .await
        .map_err(|e| anyhow!("{name}: cannot connect to {}: {e}", node.host_addr))?;
    query::<()>(
        &mut conn,
        redis::cmd("CONFIG").arg("SET").arg(parameter).arg(value),
        STEP,
    )
    .await
    .map_err(|e| anyhow!("{name}: CONFIG SET {parameter} {value} failed: {e}"))
}

/// Every node of `t` not in `gone` forgets each of `gone`, which are then
/// stopped and removed (within the 60 s a forgotten node stays banned);
/// waits until no remaining node lists them.
async fn forget_and_remove(
    backend: &dyn Backend,
    t: &mut Topology,
    gone: &[String],
    say: Say<'_>,
    save: Save<'_>,
) -> Result<()> {
    let auth = t.auth();
    let mut ids = BTreeMap::new();
    for name in gone {
        let Some(node) = t.node(name) else { continue };
        if let Ok(mut conn) = connect(node.host_addr, &auth, STEP).await {
            if let Ok(id) =
                query::<String>(&mut conn, redis::cmd("CLUSTER").arg("MYID"), STEP).await
            {
                ids.insert(name.clone(), id);
            }
        }
    }
    let staying: Vec<_> = t
        .redis_nodes()
        .filter(|n| !gone.contains(&n.name))
        .cloned()
        .collect();
    for node in &staying {
        let mut conn = connect(node.host_addr, &auth, STEP)
            .await
            .map_err(|e| anyhow!("{}: cannot connect to {}: {e}", node.name, node.host_addr))?;
        for (name, id) in &ids {
            match query::<()>(&mut conn, redis::cmd("CLUSTER").arg("FORGET").arg(id), STEP).await {
                Ok(()) => {}
                // Already forgotten.
                Err(e) if e.to_string().contains("Unknown node") => {}
                Err(e) => bail!("{}: CLUSTER FORGET {name} ({id}) failed: {e}", node.name),
            }
        }
    }
    say(format!(
        "{} forgotten by {} nodes",
        gone.join(", "),
        staying.len()
    ));
    for name in gone {
        if t.node(name).is_some() {
            backend.remove_node(t, name).await?;
        }
        t.shards.remove(name);
        save(t)?;
    }
    say(format!("{} stopped and removed", gone.join(", ")));
    let deadline = Instant::now() + FORGET_WAIT;
    loop {
        let views = cluster::views(t).await;
        let listing: Vec<String> = views
            .iter()
            .filter(|(_, v)| {
                v.as_ref()
                    .is_some_and(|v| ids.values().any(|id| v.by_id(id).is_some()))
            })
            .map(|(n, _)| n.clone())
            .collect();
        if listing.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{} still list a removed node after {FORGET_WAIT:?}",
                listing.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u16, end: u16) -> SlotRange {
        SlotRange { start, end }
    }

    #[test]
    fn fair_shares_differ_by_one_slot_at_most_and_sum_up() {
        let add = fair_shares(&[5461, 5462, 5461, 0], 16384);
        assert_eq!(add, [4096, 4096, 4096, 4096]);
        let remove = fair_shares(&[4096, 4096, 4096], 16384);
        assert_eq!(remove, [5462, 5461, 5461]);
        let five = fair_shares(&[4096, 4096, 4096, 4096, 0], 16384);
        assert_eq!(five.iter().sum::<u32>(), 16384);
        assert_eq!(five, [3277, 3277, 3277, 3277, 3276]);
        assert!(fair_shares(&[], 16384).is_empty());
    }

    #[test]
    fn the_last_slots_span_ranges_from_the_end() {
        let owned = [r(0, 99), r(200, 299)];
        assert_eq!(last_slots(&owned, 50), vec![r(250, 299)]);
        assert_eq!(last_slots(&owned, 150), vec![r(50, 99), r(200, 299)]);
        assert_eq!(last_slots(&owned, 500), owned.to_vec());
        assert!(last_slots(&owned, 0).is_empty());
    }
}
