//! Live slot migration: moving hash slots with their keys from one Cluster
//! master to another while clients keep writing, the way `redis-cli
//! --cluster reshard` does it, for each slot (a [`GROUP`] of slots at a
//! time, each step one pipeline per node):
//!
//! 1. the target is told `CLUSTER SETSLOT <slot> IMPORTING <source id>`,
//!    the source `CLUSTER SETSLOT <slot> MIGRATING <target id>`: from now
//!    on the source answers `ASK` for a key it no longer has, and the
//!    target accepts a command for the slot only after `ASKING`;
//! 2. the source's keys of the slot (`CLUSTER GETKEYSINSLOT`, a batch at a
//!    time) are sent over with `MIGRATE <target internal address> ... KEYS`
//!    (one MIGRATE per slot: it refuses keys of two slots)
//!    (the source dials the target on the run's own network: the bridge
//!    on Docker, loopback locally);
//! 3. `CLUSTER SETSLOT <slot> NODE <target id>` on the target, the source
//!    and every other master: the slot is the target's, and clients that
//!    ask elsewhere get `MOVED`.
//!
//! Every command runs from the host through each node's loopback address.
//! [`move_slots`] reports its progress after every slot and can be
//! stopped between two groups (a slot is never left half moved by a stop:
//! only an error can, and the error says which slot and where it stood).
//! The reshard command and fault step and `scale` build on it: a
//! [`Reshard`] (`3000 1->2`: 3,000 slots from shard 1 to shard 2) is
//! planned by [`plan_reshard`] on the shards' masters now (shard identity:
//! [`cluster::shard_master`]) and moved by [`move_slots`].

use super::admin::cluster::{self, SlotRange, READ_TIMEOUT};
use super::admin::probe::{connect, query};
use super::{Node, Topology};
use anyhow::{anyhow, bail, Context, Result};
use redis::aio::MultiplexedConnection;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Time one migration command may take (MIGRATE of a batch included).
const STEP: Duration = Duration::from_secs(5);
/// Keys moved per `MIGRATE`, and asked per slot per round.
pub const BATCH: usize = 100;
/// Slots moved together: each step (SETSLOT IMPORTING, MIGRATING, the key
/// lists, SETSLOT NODE) goes to a node as one pipeline for the group, so a
/// move under load costs a few round trips per group rather than per slot
/// (a round trip to a busy node can take tens of milliseconds). Redis
/// keeps any number of slots importing or migrating at once.
pub const GROUP: usize = 50;
/// MIGRATE's own timeout for the target's answer, milliseconds.
const MIGRATE_TIMEOUT_MS: u64 = 5000;

/// How far a move has come, after each slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub slots_done: u32,
    pub slots_total: u32,
    pub keys_moved: u64,
}

/// What a finished (or stopped) move did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MoveReport {
    pub from: String,
    pub to: String,
    pub slots_moved: u32,
    pub keys_moved: u64,
    pub millis: u64,
    /// False when a stop came before every slot was moved.
    pub complete: bool,
    /// Every answering node names the new owner of every moved slot (the
    /// replicas learn it by gossip; waited for at most 10 s).
    pub every_node_agrees: bool,
    /// The shards (from 1) the slots left and joined, when the move was a
    /// [`Reshard`] between shards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_shard: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_shard: Option<usize>,
}

/// A reshard between shards: move the first `slots` slots shard `from`'s
/// master serves to shard `to`'s master (shards from 1). Written and read
/// as `3000 1->2`, the same in `--fault`, scenario steps and the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reshard {
    pub slots: u32,
    pub from: usize,
    pub to: usize,
}

impl std::fmt::Display for Reshard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}->{}", self.slots, self.from, self.to)
    }
}

impl std::str::FromStr for Reshard {
    type Err = String;
    /// `SLOTS FROM->TO`, e.g. `3000 1->2`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage =
            "expected \"SLOTS FROM->TO\", e.g. \"3000 1->2\" (3,000 slots from shard 1 to shard 2)";
        let words: Vec<&str> = s.split_whitespace().collect();
        let [slots, shards] = words[..] else {
            return Err(format!("{:?}: {usage}", s.trim()));
        };
        let slots: u32 = match slots.parse() {
            Ok(n) if (1..=u32::from(cluster::SLOTS)).contains(&n) => n,
            _ => {
                return Err(format!(
                    "{slots:?}: expected a number of slots from 1 to {}; {usage}",
                    cluster::SLOTS
                ))
            }
        };
        let shard = |w: &str| match w.parse::<usize>() {
            Ok(k) if k >= 1 => Ok(k),
            _ => Err(format!("{w:?}: expected a shard number from 1; {usage}")),
        };
        let (from, to) = shards
            .split_once("->")
            .ok_or_else(|| format!("{shards:?}: expected FROM->TO; {usage}"))?;
        let (from, to) = (shard(from)?, shard(to)?);
        if from == to {
            return Err(format!(
                "{shards:?}: shard {from} cannot give slots to itself"
            ));
        }
        Ok(Reshard { slots, from, to })
    }
}

/// A reshard names a shard the cluster does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no shard {shard}: the cluster has shards 1 to {shards}")]
pub struct NoSuchShard {
    pub shard: usize,
    pub shards: usize,
}

/// What a [`Reshard`] comes to on the cluster now: which masters, which slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReshardPlan {
    pub reshard: Reshard,
    pub from_node: String,
    pub to_node: String,
    pub slots: Vec<SlotRange>,
}

/// Plans `r` on the running cluster: the masters of both shards now and
/// the first `r.slots` slots the source serves. Refuses, touching nothing,
/// a topology that is not a cluster, a shard it does not have, a shard
/// given to itself, more slots than the source serves.
pub async fn plan_reshard(t: &Topology, r: &Reshard) -> Result<ReshardPlan> {
    if !t.spec.is_cluster() {
        bail!("reshard moves hash slots of a Redis Cluster, and this topology runs Sentinel: `grabstorm up --mode cluster` starts a cluster");
    }
    let shards = t.shard_count();
    let have = t.shard_numbers();
    if let Some(&shard) = [r.from, r.to].iter().find(|k| !have.contains(*k)) {
        return Err(NoSuchShard { shard, shards }.into());
    }
    if r.from == r.to {
        bail!("shard {} cannot give slots to itself", r.from);
    }
    let (from_node, _) = crate::topology::cluster::shard_nodes(t, r.from).await?;
    let (to_node, _) = crate::topology::cluster::shard_nodes(t, r.to).await?;
    let served = served_by(t, &from_node).await?;
    let serves: u32 = served.iter().map(|s| s.len()).sum();
    if r.slots > serves {
        bail!(
            "shard {} ({from_node}) serves {serves} slots: it cannot give {}",
            r.from,
            r.slots
        );
    }
    Ok(ReshardPlan {
        reshard: *r,
        from_node,
        to_node,
        slots: first_slots(&served, r.slots),
    })
}

/// Moves a planned reshard ([`move_slots`] between the two masters), the
/// report naming the shards.
pub async fn reshard(
    t: &Topology,
    plan: &ReshardPlan,
    cancel: &CancellationToken,
    progress: impl FnMut(Progress),
) -> Result<MoveReport> {
    let mut report = move_slots(
        t,
        &plan.from_node,
        &plan.to_node,
        &plan.slots,
        cancel,
        progress,
    )
    .await?;
    report.from_shard = Some(plan.reshard.from);
    report.to_shard = Some(plan.reshard.to);
    Ok(report)
}

/// One node of the move, connected, with its cluster id.
struct Party<'t> {
    node: &'t Node,
    conn: MultiplexedConnection,
    id: String,
}

/// Runs a pipeline on a party; the replies in order.
async fn pipeline<T: redis::FromRedisValue>(
    party: &mut Party<'_>,
    pipe: &redis::Pipeline,
    what: &str,
) -> Result<T> {
    match tokio::time::timeout(STEP, pipe.query_async::<T>(&mut party.conn)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => bail!("{}: {what} failed: {e}", party.node.name),
        Err(_) => bail!(
            "{}: {what} failed: no answer within {STEP:?}",
            party.node.name
        ),
    }
}

async fn party<'t>(t: &'t Topology, name: &str) -> Result<Party<'t>> {
    let node = t
        .node(name)
        .with_context(|| format!("no node named {name} in the run"))?;
    let mut conn = connect(node.host_addr, &t.auth(), READ_TIMEOUT)
        .await
        .map_err(|e| anyhow!("{name}: cannot connect to {}: {e}", node.host_addr))?;
    let id: String = query(&mut conn, redis::cmd("CLUSTER").arg("MYID"), STEP)
        .await
        .map_err(|e| anyhow!("{name}: CLUSTER MYID failed: {e}"))?;
    Ok(Party { node, conn, id })
}

/// The slots of `ranges`, in order.
pub fn slots_of(ranges: &[SlotRange]) -> impl Iterator<Item = u16> + '_ {
    ranges.iter().flat_map(|r| r.start..=r.end)
}

/// The first `count` slots `owner` serves, as ranges, by its own view.
pub fn first_slots(owner_slots: &[SlotRange], count: u32) -> Vec<SlotRange> {
    let mut left = count;
    let mut out = Vec::new();
    for r in owner_slots {
        if left == 0 {
            break;
        }
        let take = r.len().min(left);
        out.push(SlotRange {
            start: r.start,
            end: (u32::from(r.start) + take - 1) as u16,
        });
        left -= take;
    }
    out
}

/// Moves `slots` with their keys from master `from` to master `to` (node
/// names), a [`GROUP`] of slots at a time (see the module doc), calling
/// `progress` after each slot. Stops between two groups when `cancel` fires. Every other
/// master of the cluster is told each slot's new owner too.
pub async fn move_slots(
    t: &Topology,
    from: &str,
    to: &str,
    slots: &[SlotRange],
    cancel: &CancellationToken,
    mut progress: impl FnMut(Progress),
) -> Result<MoveReport> {
    if from == to {
        bail!("{from} cannot move slots to itself");
    }
    let started = Instant::now();
    let mut source = party(t, from).await?;
    let mut target = party(t, to).await?;
    let target_addr = target.node.internal_addr.clone();
    let (target_ip, target_port) = target_addr
        .rsplit_once(':')
        .with_context(|| format!("{to}: no port in its address {target_addr}"))?;
    // The other masters, to be told each slot's new owner at once.
    let mut others = Vec::new();
    for (name, view) in crate::topology::cluster::views(t).await {
        let Some(me) = view.as_ref().and_then(|v| v.myself()) else {
            continue;
        };
        if me.flags.master && name != from && name != to {
            others.push(party(t, &name).await?);
        }
    }
    let total: u32 = slots.iter().map(|r| r.len()).sum();
    let mut done = Progress {
        slots_total: total,
        ..Default::default()
    };
    let all: Vec<u16> = slots_of(slots).collect();
    let source_id = source.id.clone();
    let target_id = target.id.clone();
    for group in all.chunks(GROUP) {
        if cancel.is_cancelled() {
            break;
        }
        let at = |what: &str| match group {
            [one] => format!("slot {one}: {what}"),
            _ => format!(
                "slots {}\u{2013}{}: {what}",
                group[0],
                group[group.len() - 1]
            ),
        };
        let setslot = |state: &str, id: &str| {
            let mut p = redis::pipe();
            for slot in group {
                p.cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(*slot)
                    .arg(state)
                    .arg(id);
            }
            p
        };
        // The target first: once the source says MIGRATING it sends ASK
        // there, and the target must already accept it.
        pipeline::<()>(
            &mut target,
            &setslot("IMPORTING", &source_id),
            &at("SETSLOT IMPORTING"),
        )
        .await?;
        pipeline::<()>(
            &mut source,
            &setslot("MIGRATING", &target_id),
            &at("SETSLOT MIGRATING"),
        )
        .await?;
        // Every key of the group, a batch per slot at a time, until the
        // source has none left (a key written meanwhile to a slot being
        // moved goes to the target: the source answers ASK for it).
        loop {
            let mut ask = redis::pipe();
            for slot in group {
                ask.cmd("CLUSTER")
                    .arg("GETKEYSINSLOT")
                    .arg(*slot)
                    .arg(BATCH);
            }
            let keys: Vec<Vec<Vec<u8>>> = pipeline(&mut source, &ask, &at("GETKEYSINSLOT")).await?;
            // MIGRATE takes the keys of one slot at a time (CROSSSLOT
            // otherwise): one MIGRATE per slot with keys, pipelined.
            let per_slot: Vec<&Vec<Vec<u8>>> = keys.iter().filter(|k| !k.is_empty()).collect();
            if per_slot.is_empty() {
                break;
            }
            let mut migrate = redis::pipe();
            for batch in &per_slot {
                migrate
                    .cmd("MIGRATE")
                    .arg(target_ip)
                    .arg(target_port)
                    .arg("")
                    .arg(0)
                    .arg(MIGRATE_TIMEOUT_MS);
                if let Some(pw) = &t.password {
                    migrate.arg("AUTH").arg(pw);
                }
                migrate.arg("KEYS").arg(*batch);
            }
            pipeline::<redis::Value>(&mut source, &migrate, &at("MIGRATE")).await?;
            done.keys_moved += per_slot.iter().map(|k| k.len() as u64).sum::<u64>();
        }
        // The target, then the source, then every other master.
        let node = setslot("NODE", &target_id);
        pipeline::<()>(&mut target, &node, &at("SETSLOT NODE on the target")).await?;
        if let Err(e) = pipeline::<()>(&mut source, &node, &at("SETSLOT NODE on the source")).await
        {
            // A master that gave away its last slot may already be a replica
            // of the new owner (Redis 7's cluster-allow-replica-migration):
            // it refuses SETSLOT and learns the owner from the gossip, as
            // `redis-cli --cluster reshard` lets it.
            if !format!("{e:#}").contains("only with masters") {
                return Err(e);
            }
        }
        for other in &mut others {
            // A master that does not answer learns it from the gossip.
            let _ = pipeline::<()>(other, &node, &at("SETSLOT NODE")).await;
        }
        for _ in group {
            done.slots_done += 1;
            progress(done);
        }
    }
    let moved: Vec<u16> = slots_of(slots).take(done.slots_done as usize).collect();
    let agreed = wait_agreement(t, to, &moved, AGREEMENT_WAIT).await;
    Ok(MoveReport {
        from: from.to_string(),
        to: to.to_string(),
        slots_moved: done.slots_done,
        keys_moved: done.keys_moved,
        millis: started.elapsed().as_millis() as u64,
        complete: done.slots_done == total,
        every_node_agrees: agreed,
        from_shard: None,
        to_shard: None,
    })
}

/// Longest wait for every node (replicas learn by gossip) to name the new
/// owner of the moved slots.
const AGREEMENT_WAIT: Duration = Duration::from_secs(10);

/// Waits until every answering node names `owner` for each of `slots`;
/// false when they did not within `within`.
pub async fn wait_agreement(t: &Topology, owner: &str, slots: &[u16], within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let views = crate::topology::cluster::views(t).await;
        let owner_id = views
            .iter()
            .find(|(n, _)| n == owner)
            .and_then(|(_, v)| v.as_ref())
            .and_then(|v| v.myself())
            .map(|m| m.id.clone());
        let agree = owner_id.is_some_and(|id| {
            views.iter().filter_map(|(_, v)| v.as_ref()).all(|v| {
                slots
                    .iter()
                    .all(|s| v.owner_of(*s).is_some_and(|o| o.id == id))
            })
        });
        if agree {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The slots `node` serves now, as the node itself says.
pub async fn served_by(t: &Topology, node: &str) -> Result<Vec<SlotRange>> {
    let n = t
        .node(node)
        .with_context(|| format!("no node named {node} in the run"))?;
    let view = cluster::read_view(n.host_addr, &t.auth(), READ_TIMEOUT)
        .await
        .map_err(|e| anyhow!("{node}: {e}"))?;
    let me = view
        .myself()
        .with_context(|| format!("{node}: CLUSTER NODES has no line of its own"))?;
    if !me.flags.master {
        bail!("{node} is not a master: it serves no slots");
    }
    Ok(me.slots.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshards_read_as_slots_from_to() {
        let r: Reshard = "3000 1->2".parse().unwrap();
        assert_eq!(
            r,
            Reshard {
                slots: 3000,
                from: 1,
                to: 2
            }
        );
        assert_eq!(r.to_string(), "3000 1->2");
        for (bad, says) in [
            ("3000", "expected \"SLOTS FROM->TO\""),
            ("0 1->2", "from 1 to 16384"),
            ("20000 1->2", "from 1 to 16384"),
            ("3000 1-2", "expected FROM->TO"),
            ("3000 0->2", "a shard number from 1"),
            ("3000 2->2", "cannot give slots to itself"),
            ("3000 1->2 now", "expected \"SLOTS FROM->TO\""),
        ] {
            let e = bad.parse::<Reshard>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_first_slots_span_ranges_in_order() {
        let r = |start, end| SlotRange { start, end };
        let owned = [r(0, 99), r(200, 299)];
        assert_eq!(first_slots(&owned, 50), vec![r(0, 49)]);
        assert_eq!(first_slots(&owned, 150), vec![r(0, 99), r(200, 249)]);
        assert_eq!(first_slots(&owned, 1000), vec![r(0, 99), r(200, 299)]);
        assert_eq!(
            slots_of(&first_slots(&owned, 3)).collect::<Vec<_>>(),
            [0, 1, 2]
        );
    }
}
