//! Faults: the ways the lab breaks a node (crash, shutdown, kill, freeze,
//! partition, restart, stall, and in Cluster mode a manual failover), how a
//! target like `master` or `replica-2` is resolved from live roles at the
//! moment of injection, and how each backend performs them.
//!
//! Targets by mode: in Sentinel mode `master` is the master now and
//! `replica-N` the N-th replica now; in Cluster mode `master-K` is shard
//! K's master now (`master` = `master-1`) and `replica-K` a replica of
//! shard K now. Which targets a spec has is decided once, by
//! [`Target::check_in`].

pub mod inject;
pub mod target;

pub use inject::{FaultOutcome, Injector};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Why a fault was refused or failed. Refusals happen before anything is
/// touched: the topology is left as it was.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaultError {
    #[error("no node named {name:?} in this run (nodes: {known})")]
    UnknownNode { name: String, known: String },
    #[error("{target}: there is no such replica now (current replicas: {replicas})")]
    NoSuchReplica { target: String, replicas: String },
    #[error("no master found: no sentinel answered and no Redis node says it is master")]
    NoMaster,
    #[error("target `all` is only for restart, resume and heal, not for {0}")]
    AllNotAllowed(FaultKind),
    #[error("{0}")]
    NothingToDo(String),
    #[error("{node} is already down: {}", if *.attached { "it does not answer, and grabstorm did not start it: start it again where it runs".to_string() } else { format!("`grabstorm fault restart {}` starts it again", .node) })]
    AlreadyDown { node: String, attached: bool },
    #[error("{node} is paused: resume it first (`grabstorm fault resume {node}`)")]
    Paused { node: String },
    #[error("{node} is not paused: nothing to resume")]
    NotPaused { node: String },
    #[error("{node} is running: restart only starts a node that is down")]
    StillRunning { node: String },
    #[error("{kind} needs the Docker backend: local processes all share the host's loopback, so a node cannot be cut off from its peers while the host still reaches it; start the topology with --backend docker")]
    NeedsDocker { kind: FaultKind },
    #[error("{kind} needs the node's process or container, and grabstorm did not start this topology (attached with --sentinel/--cluster): on an attached topology the faults are the ones sent as Redis commands: segfault (DEBUG SEGFAULT), shutdown, shutdown-save (SHUTDOWN), slow (DEBUG SLEEP), and on a cluster failover, failover-force, failover-takeover (CLUSTER FAILOVER)")]
    NotOurs { kind: FaultKind },
    #[error("{kind} moves or adds nodes and keys of a cluster grabstorm did not start (attached with --cluster): refused, the run touches only its own keys")]
    NotOursToReshape { kind: FaultKind },
    #[error("{kind} needs a Redis node, and {node} is a sentinel (sentinels have no DEBUG command): use kill or shutdown")]
    NeedsRedis { kind: FaultKind, node: String },
    #[error(
        "{0} takes no duration (`for ...` / --for is for pause, partition, slow and client-pause)"
    )]
    DurationNotAllowed(FaultKind),
    #[error("{0} takes no peers (`from ...` / --from is for partition)")]
    FromNotAllowed(FaultKind),
    #[error("partition {node} from {peer}: a node cannot be cut off from itself")]
    SelfPeer { node: String, peer: String },
    #[error("{node}: {cause}")]
    Backend { node: String, cause: String },
    #[error("unknown target {target:?} in {mode} mode: allowed {allowed}")]
    NoSuchTarget {
        target: String,
        mode: crate::topology::HaMode,
        allowed: String,
    },
    #[error("{kind} is a Redis Cluster fault ({}): this topology runs Sentinel; `grabstorm up --mode cluster` starts a cluster{}", match kind { FaultKind::Reshard => "slot migration", FaultKind::Scale => "a shard joins or leaves", _ => "CLUSTER FAILOVER" }, if *kind == FaultKind::Failover { " (in Sentinel mode, `failover sentinel-K` asks sentinel K for SENTINEL FAILOVER)" } else { "" })]
    NeedsCluster { kind: FaultKind },
    #[error("{kind} {node}: {node} is not a replica now ({role}); target a replica, e.g. `{kind} replica-1`")]
    NeedsReplica {
        kind: FaultKind,
        node: String,
        role: String,
    },
    #[error(transparent)]
    NoSuchShard(#[from] crate::topology::migrate::NoSuchShard),
    #[error("reshard needs how many slots and between which shards: `reshard 3000 1->2` in --fault and scenario steps, or `grabstorm reshard --slots 3000 --from 1 --to 2`")]
    ReshardNeedsSlots,
    #[error("scale needs what to do: `scale add` or `scale remove 4` in --fault, `scale = \"add\"` in scenario steps, or `grabstorm scale add`")]
    ScaleNeedsStep,
}

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// `DEBUG SEGFAULT`: the process crashes.
    Segfault,
    /// `SHUTDOWN NOSAVE`.
    Shutdown,
    /// `SHUTDOWN SAVE`.
    ShutdownSave,
    /// SIGKILL / container kill.
    Kill,
    /// SIGSTOP / docker pause; thawed after the duration, if one is given.
    Pause,
    /// Thaw a paused node.
    Resume,
    /// Cut the node off from its peers (Docker only).
    Partition,
    /// Undo a partition.
    Heal,
    /// Start a dead node again with its config.
    Restart,
    /// Stall the node (`DEBUG SLEEP`).
    Slow,
    /// `CLIENT PAUSE <ms> ALL`: the node answers no client (Sentinel's
    /// pings and the grabbers included) for the duration, while its
    /// replicas still stream from it. A Redis command: it works on a
    /// topology grabstorm did not start.
    ClientPause,
    /// Cluster mode: `CLUSTER FAILOVER` sent to a replica, which takes
    /// over its master's slots after catching up (nothing acknowledged is
    /// lost). Sentinel mode: `SENTINEL FAILOVER` sent to a sentinel, which
    /// promotes a replica without waiting for the master to fail.
    Failover,
    /// `CLUSTER FAILOVER FORCE`: without the old master's agreement (it may
    /// be down), still with the other masters' votes.
    FailoverForce,
    /// `CLUSTER FAILOVER TAKEOVER`: without any vote: the replica bumps the
    /// epoch on its own.
    FailoverTakeover,
    /// Cluster mode: a live migration of slots between two shards
    /// ([`FaultRequest::reshard`] says how many, from and to which): not a
    /// failure but the other thing that moves keys under the clients.
    Reshard,
    /// Cluster mode: a shard joins (`scale add`) or leaves (`scale remove
    /// K`), its slots moved live ([`FaultRequest::scale`] says which).
    Scale,
}

impl FaultKind {
    pub const ALL: [FaultKind; 16] = [
        FaultKind::Segfault,
        FaultKind::Shutdown,
        FaultKind::ShutdownSave,
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Resume,
        FaultKind::Partition,
        FaultKind::Heal,
        FaultKind::Restart,
        FaultKind::Slow,
        FaultKind::ClientPause,
        FaultKind::Failover,
        FaultKind::FailoverForce,
        FaultKind::FailoverTakeover,
        FaultKind::Reshard,
        FaultKind::Scale,
    ];

    /// Whether it needs the node's process or container (a signal, a
    /// freeze, a network cut, a start), not only a Redis command: what an
    /// attached topology cannot have.
    pub fn needs_process(self) -> bool {
        matches!(
            self,
            FaultKind::Kill
                | FaultKind::Pause
                | FaultKind::Resume
                | FaultKind::Partition
                | FaultKind::Heal
                | FaultKind::Restart
        )
    }

    /// Whether it lasts a while (`for D`): pause, partition, slow, client-pause.
    pub fn takes_duration(self) -> bool {
        matches!(
            self,
            FaultKind::Pause | FaultKind::Partition | FaultKind::Slow | FaultKind::ClientPause
        )
    }

    /// Whether it acts through a Redis data node's own commands (`DEBUG`,
    /// `CLIENT PAUSE`), which a sentinel does not have.
    pub fn needs_redis(self) -> bool {
        matches!(
            self,
            FaultKind::Segfault | FaultKind::Slow | FaultKind::ClientPause
        )
    }

    /// A kind of failover asked for (`CLUSTER FAILOVER` and its variants,
    /// `SENTINEL FAILOVER`).
    pub fn is_cluster_failover(self) -> bool {
        matches!(
            self,
            FaultKind::Failover | FaultKind::FailoverForce | FaultKind::FailoverTakeover
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Segfault => "segfault",
            FaultKind::Shutdown => "shutdown",
            FaultKind::ShutdownSave => "shutdown-save",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Resume => "resume",
            FaultKind::Partition => "partition",
            FaultKind::Heal => "heal",
            FaultKind::Restart => "restart",
            FaultKind::Slow => "slow",
            FaultKind::ClientPause => "client-pause",
            FaultKind::Failover => "failover",
            FaultKind::FailoverForce => "failover-force",
            FaultKind::FailoverTakeover => "failover-takeover",
            FaultKind::Reshard => "reshard",
            FaultKind::Scale => "scale",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown fault {s:?}: expected one of {}", names.join(", "))
            })
    }
}

/// Which node a fault acts on, resolved from live roles at injection time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Target {
    /// Whoever is master now (asked of Sentinel, or of the nodes); in
    /// Cluster mode shard 1's master.
    Master,
    /// Cluster mode: shard K's master now (1-based), `master-K`.
    ShardMaster(usize),
    /// Any replica (the first one found).
    AnyReplica,
    /// The N-th replica (1-based) in name order of the current replicas;
    /// in Cluster mode a replica of shard N now.
    Replica(usize),
    /// The N-th sentinel (1-based): `sentinel-N`.
    Sentinel(usize),
    /// Every node that is down (for `restart`) or every node.
    All,
    /// A node by name, e.g. `redis-2`.
    Node(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Master => f.write_str("master"),
            Target::ShardMaster(k) => write!(f, "master-{k}"),
            Target::AnyReplica => f.write_str("replica"),
            Target::Replica(n) => write!(f, "replica-{n}"),
            Target::Sentinel(n) => write!(f, "sentinel-{n}"),
            Target::All => f.write_str("all"),
            Target::Node(name) => f.write_str(name),
        }
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let numbered = |prefix: &str| -> Option<Result<usize, String>> {
            let rest = s.strip_prefix(prefix)?;
            Some(match rest.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(format!("{s:?}: expected {prefix}N with N a number from 1")),
            })
        };
        match s {
            "master" => Ok(Target::Master),
            "replica" => Ok(Target::AnyReplica),
            "all" => Ok(Target::All),
            _ => {
                if let Some(n) = numbered("replica-") {
                    return n.map(Target::Replica);
                }
                if let Some(n) = numbered("master-") {
                    return n.map(Target::ShardMaster);
                }
                if let Some(n) = numbered("sentinel-") {
                    return n.map(Target::Sentinel);
                }
                if s.starts_with("redis-") && s[6..].parse::<usize>().is_ok() {
                    return Ok(Target::Node(s.to_string()));
                }
                Err(format!(
                    "unknown target {s:?}: expected master, master-K, replica, replica-N, sentinel-N, redis-N or all"
                ))
            }
        }
    }
}

impl Target {
    /// The target words a topology of `spec` has, for messages.
    pub fn allowed_in(spec: &crate::topology::TopologySpec) -> String {
        // `replica-1` alone, or `replica-1..replica-3`.
        let numbered = |prefix: &str, n: usize| match n {
            1 => format!("{prefix}-1"),
            n => format!("{prefix}-1..{prefix}-{n}"),
        };
        let redis = numbered("redis", spec.redis_count());
        if spec.is_cluster() {
            let m = spec.masters as usize;
            let replicas = match spec.replicas_per_master {
                0 => String::new(),
                _ => format!(
                    "replica, {} (a replica of shard K), ",
                    numbered("replica", m)
                ),
            };
            format!(
                "master (= master-1), {} (shard K's master now), {replicas}{redis}, all",
                numbered("master", m)
            )
        } else {
            let replicas = match spec.replicas as usize {
                0 => String::new(),
                r => format!("replica, {}, ", numbered("replica", r)),
            };
            let sentinels = match spec.sentinel_count() {
                0 => String::new(),
                s => format!("{}, ", numbered("sentinel", s)),
            };
            format!("master, {replicas}{sentinels}{redis}, all")
        }
    }

    /// Refuses a target a topology of `spec` does not have, saying which it has.
    pub fn check_in(&self, spec: &crate::topology::TopologySpec) -> Result<(), FaultError> {
        let cluster = spec.is_cluster();
        let exists = match self {
            Target::Master | Target::All => true,
            Target::ShardMaster(k) => cluster && *k <= spec.masters as usize,
            Target::AnyReplica if cluster => spec.replicas_per_master > 0,
            Target::AnyReplica => spec.replicas > 0,
            Target::Replica(k) if cluster => {
                spec.replicas_per_master > 0 && *k <= spec.masters as usize
            }
            Target::Replica(n) => *n <= spec.replicas as usize,
            Target::Sentinel(n) => *n <= spec.sentinel_count(),
            Target::Node(name) => name
                .strip_prefix("redis-")
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| (1..=spec.redis_count()).contains(&i)),
        };
        if exists {
            Ok(())
        } else {
            Err(FaultError::NoSuchTarget {
                target: self.to_string(),
                mode: spec.mode,
                allowed: Target::allowed_in(spec),
            })
        }
    }
}

impl From<Target> for String {
    fn from(t: Target) -> String {
        t.to_string()
    }
}

impl TryFrom<String> for Target {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// One fault to inject: kind, target and, for pause/partition/slow, how long.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRequest {
    pub kind: FaultKind,
    pub target: Target,
    /// Pause: thaw after; partition: heal after; slow: sleep length.
    pub duration: Option<Duration>,
    /// Partition only: cut the target off from these nodes only (empty: from all peers).
    #[serde(default)]
    pub from: Vec<String>,
    /// Reshard only: how many slots, from and to which shard. The target
    /// is then the giving shard's master (`master-K`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reshard: Option<crate::topology::migrate::Reshard>,
    /// Scale only: a shard joins or which one leaves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<crate::topology::scale::ScaleStep>,
}

impl FaultRequest {
    /// A reshard step (see [`FaultKind::Reshard`]).
    pub fn reshard(r: crate::topology::migrate::Reshard) -> FaultRequest {
        FaultRequest {
            kind: FaultKind::Reshard,
            target: Target::ShardMaster(r.from),
            duration: None,
            from: Vec::new(),
            reshard: Some(r),
            scale: None,
        }
    }

    /// A scaling step (see [`FaultKind::Scale`]).
    pub fn scale(step: crate::topology::scale::ScaleStep) -> FaultRequest {
        use crate::topology::scale::ScaleStep;
        FaultRequest {
            kind: FaultKind::Scale,
            target: match step {
                ScaleStep::Add => Target::All,
                ScaleStep::Remove(k) => Target::ShardMaster(k),
            },
            duration: None,
            from: Vec::new(),
            reshard: None,
            scale: Some(step),
        }
    }

    /// The fault in words, as scenario steps and the dashboard say it:
    /// `segfault master`, `pause redis-3 for 5s`, `partition master from
    /// redis-2, sentinel-1`.
    pub fn sentence(&self) -> String {
        if let Some(r) = &self.reshard {
            return format!("{} {r}", self.kind);
        }
        if let Some(step) = &self.scale {
            return format!("{} {step}", self.kind);
        }
        let mut s = format!("{} {}", self.kind, self.target);
        if let Some(d) = self.duration {
            s.push_str(&format!(" for {}", crate::words::duration(d)));
        }
        if !self.from.is_empty() {
            s.push_str(&format!(" from {}", self.from.join(", ")));
        }
        s
    }
}

/// A fault scheduled into a run: `--fault "5s segfault master for 3s"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledFault {
    pub at: Duration,
    pub fault: FaultRequest,
}

/// Parses a duration such as `250ms`, `5s`, `1.5s`, `2m`, up to 24h (what
/// [`crate::words::duration`] writes).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = parse_any_duration(s)?;
    if d > Duration::from_secs(86_400) {
        return Err(format!("{:?}: expected a duration from 0 to 24h", s.trim()));
    }
    Ok(d)
}

/// Parses a duration of any length (the callers check the range).
pub fn parse_any_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|i| s.split_at(i))
        .ok_or_else(|| format!("{s:?}: expected a duration with a unit, e.g. 500ms, 5s, 2m"))?;
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number before the unit, e.g. 5s"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?}, expected ms, s, m or h"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?}: not a duration"))
}

impl FromStr for ScheduledFault {
    type Err = String;
    /// `AT KIND TARGET [for DURATION] [from NODE,NODE]`, or `AT reshard
    /// SLOTS FROM->TO`, or `AT scale add|remove K`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let words: Vec<&str> = s.split_whitespace().collect();
        if words.get(1) == Some(&FaultKind::Reshard.name()) {
            let at = parse_duration(words[0])?;
            let reshard: crate::topology::migrate::Reshard = words[2..]
                .join(" ")
                .parse()
                .map_err(|e| format!("{s:?}: {e}"))?;
            return Ok(ScheduledFault {
                at,
                fault: FaultRequest::reshard(reshard),
            });
        }
        if words.get(1) == Some(&FaultKind::Scale.name()) {
            let at = parse_duration(words[0])?;
            let step: crate::topology::scale::ScaleStep = words[2..]
                .join(" ")
                .parse()
                .map_err(|e| format!("{s:?}: {e}"))?;
            return Ok(ScheduledFault {
                at,
                fault: FaultRequest::scale(step),
            });
        }
        if words.len() < 3 {
            return Err(format!(
                "{s:?}: expected \"AT KIND TARGET [for DURATION] [from NODES]\", e.g. \"5s segfault master\""
            ));
        }
        let at = parse_duration(words[0])?;
        let kind: FaultKind = words[1].parse()?;
        let target: Target = words[2].parse()?;
        let mut duration = None;
        let mut from = Vec::new();
        let mut rest = words[3..].iter();
        while let Some(w) = rest.next() {
            match *w {
                "for" => {
                    let d = rest
                        .next()
                        .ok_or_else(|| format!("{s:?}: expected a duration after \"for\""))?;
                    duration = Some(parse_duration(d)?);
                }
                "from" => {
                    let nodes = rest
                        .next()
                        .ok_or_else(|| format!("{s:?}: expected node names after \"from\""))?;
                    from = nodes.split(',').map(str::to_string).collect();
                }
                other => {
                    return Err(format!(
                        "{s:?}: unexpected {other:?}, expected \"for DURATION\" or \"from NODES\""
                    ))
                }
            }
        }
        Ok(ScheduledFault {
            at,
            fault: FaultRequest {
                kind,
                target,
                duration,
                from,
                reshard: None,
                scale: None,
            },
        })
    }
}

/// Refuses a request whose parts do not fit its kind (a duration or peers
/// where none apply, a partition on local processes), whatever the
/// topology's state. `backend` None: not chosen yet.
pub fn check_shape(
    req: &FaultRequest,
    backend: Option<crate::topology::BackendKind>,
) -> Result<(), FaultError> {
    let kind = req.kind;
    if (kind == FaultKind::Reshard) != req.reshard.is_some() {
        return Err(FaultError::ReshardNeedsSlots);
    }
    if (kind == FaultKind::Scale) != req.scale.is_some() {
        return Err(FaultError::ScaleNeedsStep);
    }
    if req.duration.is_some() && !kind.takes_duration() {
        return Err(FaultError::DurationNotAllowed(kind));
    }
    if !req.from.is_empty() && kind != FaultKind::Partition {
        return Err(FaultError::FromNotAllowed(kind));
    }
    if backend == Some(crate::topology::BackendKind::External) {
        if matches!(kind, FaultKind::Reshard | FaultKind::Scale) {
            return Err(FaultError::NotOursToReshape { kind });
        }
        if kind.needs_process() {
            return Err(FaultError::NotOurs { kind });
        }
    }
    if matches!(kind, FaultKind::Partition | FaultKind::Heal)
        && backend == Some(crate::topology::BackendKind::Local)
    {
        return Err(FaultError::NeedsDocker { kind });
    }
    Ok(())
}

/// Refuses, before anything starts, the scheduled faults that cannot
/// happen on a topology of `spec` (a replica or sentinel it does not have,
/// a segfault of a sentinel, a partition on local processes). `backend` is
/// None when it is not chosen yet (`--backend auto`).
pub fn check_plan(
    faults: &[ScheduledFault],
    spec: &crate::topology::TopologySpec,
    backend: Option<crate::topology::BackendKind>,
) -> Result<(), FaultError> {
    let mut names: Vec<String> = (1..=spec.redis_count())
        .map(|i| format!("redis-{i}"))
        .collect();
    names.extend((1..=spec.sentinel_count()).map(|i| format!("sentinel-{i}")));
    let unknown = |name: String| FaultError::UnknownNode {
        name,
        known: names.join(", "),
    };
    for f in faults {
        let req = &f.fault;
        let kind = req.kind;
        check_shape(req, backend)?;
        // Sentinel mode's failover asks one sentinel (SENTINEL FAILOVER).
        let sentinel_failover =
            kind == FaultKind::Failover && matches!(req.target, Target::Sentinel(_));
        if (kind.is_cluster_failover() || matches!(kind, FaultKind::Reshard | FaultKind::Scale))
            && !spec.is_cluster()
            && !sentinel_failover
        {
            return Err(FaultError::NeedsCluster { kind });
        }
        if let Some(r) = &req.reshard {
            let shards = spec.masters as usize;
            if let Some(&shard) = [r.from, r.to].iter().find(|k| **k > shards) {
                return Err(crate::topology::migrate::NoSuchShard { shard, shards }.into());
            }
            continue;
        }
        // Which shards there are by then depends on the steps before it:
        // `scale::remove` names the shards it knows when it refuses.
        if req.scale.is_some() {
            continue;
        }
        if req.target == Target::All
            && !matches!(
                kind,
                FaultKind::Restart | FaultKind::Resume | FaultKind::Heal
            )
        {
            return Err(FaultError::AllNotAllowed(kind));
        }
        match &req.target {
            Target::Replica(n) if !spec.is_cluster() && *n > spec.replicas as usize => {
                return Err(FaultError::NoSuchReplica {
                    target: req.target.to_string(),
                    replicas: format!("the topology has {} replica(s)", spec.replicas),
                })
            }
            Target::Sentinel(_) if kind.needs_redis() => {
                req.target.check_in(spec)?;
                return Err(FaultError::NeedsRedis {
                    kind,
                    node: req.target.to_string(),
                });
            }
            Target::Node(name) if !names.contains(name) => return Err(unknown(name.clone())),
            t => t.check_in(spec)?,
        }
        if let Some(peer) = req.from.iter().find(|p| !names.contains(p)) {
            return Err(unknown(peer.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_faults_are_refused_before_the_run() {
        let spec = crate::topology::TopologySpec {
            replicas: 2,
            ..Default::default()
        };
        let plan = |s: &str| vec![s.parse::<ScheduledFault>().unwrap()];
        let local = Some(crate::topology::BackendKind::Local);
        assert!(matches!(
            check_plan(&plan("5s segfault replica-9"), &spec, local),
            Err(FaultError::NoSuchReplica { .. })
        ));
        assert!(matches!(
            check_plan(&plan("5s partition master for 3s"), &spec, local),
            Err(FaultError::NeedsDocker { .. })
        ));
        assert_eq!(
            check_plan(&plan("5s partition master for 3s"), &spec, None),
            Ok(())
        );
        assert!(matches!(
            check_plan(&plan("5s kill redis-4"), &spec, local),
            Err(FaultError::UnknownNode { .. })
        ));
        assert!(matches!(
            check_plan(&plan("5s segfault sentinel-1"), &spec, local),
            Err(FaultError::NeedsRedis { .. })
        ));
        assert_eq!(
            check_plan(&plan("5s segfault replica-2"), &spec, local),
            Ok(())
        );
    }

    #[test]
    fn cluster_targets_name_shards_and_are_refused_outside_them() {
        let spec = crate::topology::TopologySpec {
            mode: crate::topology::HaMode::Cluster,
            masters: 3,
            ..Default::default()
        };
        let plan = |s: &str| vec![s.parse::<ScheduledFault>().unwrap()];
        let local = Some(crate::topology::BackendKind::Local);
        for ok in [
            "1s segfault master-3",
            "1s kill replica-2",
            "1s failover replica-2",
            "1s failover-takeover replica-1",
            "1s restart redis-6",
            "1s segfault master",
        ] {
            assert_eq!(check_plan(&plan(ok), &spec, local), Ok(()), "{ok}");
        }
        let err = check_plan(&plan("1s segfault master-4"), &spec, local).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown target \"master-4\" in cluster mode: allowed master (= master-1), master-1..master-3 (shard K's master now), replica, replica-1..replica-3 (a replica of shard K), redis-1..redis-6, all"
        );
        assert!(matches!(
            check_plan(&plan("1s kill replica-4"), &spec, local),
            Err(FaultError::NoSuchTarget { .. })
        ));
        assert!(matches!(
            check_plan(&plan("1s kill sentinel-1"), &spec, local),
            Err(FaultError::NoSuchTarget { .. })
        ));
        assert!(matches!(
            check_plan(&plan("1s kill redis-7"), &spec, local),
            Err(FaultError::UnknownNode { .. })
        ));
        let sentinel = crate::topology::TopologySpec::default();
        assert_eq!(
            check_plan(&plan("1s failover replica-1"), &sentinel, local),
            Err(FaultError::NeedsCluster {
                kind: FaultKind::Failover
            })
        );
        assert_eq!(
            check_plan(&plan("1s failover sentinel-2"), &sentinel, local),
            Ok(())
        );
        assert_eq!(
            check_plan(&plan("1s client-pause master for 2s"), &sentinel, local),
            Ok(())
        );
        assert!(matches!(
            check_plan(&plan("1s client-pause sentinel-1"), &sentinel, local),
            Err(FaultError::NeedsRedis { .. })
        ));
        let external = Some(crate::topology::BackendKind::External);
        for refused in ["1s kill master", "1s pause master for 1s", "1s restart all"] {
            assert!(
                matches!(
                    check_plan(&plan(refused), &sentinel, external),
                    Err(FaultError::NotOurs { .. })
                ),
                "{refused}"
            );
        }
        for allowed in [
            "1s segfault master",
            "1s shutdown replica-1",
            "1s slow master for 1s",
            "1s client-pause master for 1s",
            "1s failover sentinel-1",
        ] {
            assert_eq!(
                check_plan(&plan(allowed), &sentinel, external),
                Ok(()),
                "{allowed}"
            );
        }
        assert!(matches!(
            check_plan(&plan("1s segfault master-1"), &sentinel, local),
            Err(FaultError::NoSuchTarget { .. })
        ));
        let t: Target = "master-2".parse().unwrap();
        assert_eq!(
            (t.clone(), t.to_string()),
            (Target::ShardMaster(2), "master-2".into())
        );
        assert!("master-0".parse::<Target>().is_err());
    }

    #[test]
    fn scheduled_faults_parse_with_duration_and_peers() {
        let f: ScheduledFault = "5s pause master for 3s".parse().unwrap();
        assert_eq!(f.at, Duration::from_secs(5));
        assert_eq!(f.fault.kind, FaultKind::Pause);
        assert_eq!(f.fault.target, Target::Master);
        assert_eq!(f.fault.duration, Some(Duration::from_secs(3)));
        let p: ScheduledFault = "1.5s partition redis-1 from redis-2,sentinel-1"
            .parse()
            .unwrap();
        assert_eq!(p.at, Duration::from_millis(1500));
        assert_eq!(
            p.fault.from,
            vec!["redis-2".to_string(), "sentinel-1".to_string()]
        );
    }

    #[test]
    fn a_scale_step_says_add_or_which_shard_leaves() {
        use crate::topology::scale::ScaleStep;
        let f: ScheduledFault = "5s scale add".parse().unwrap();
        assert_eq!(f.at, Duration::from_secs(5));
        assert_eq!(f.fault.kind, FaultKind::Scale);
        assert_eq!(f.fault.scale, Some(ScaleStep::Add));
        assert_eq!(f.fault.sentence(), "scale add");
        let r: ScheduledFault = "20s scale remove 4".parse().unwrap();
        assert_eq!(r.fault.scale, Some(ScaleStep::Remove(4)));
        assert_eq!(r.fault.target, Target::ShardMaster(4));
        assert_eq!(r.fault.sentence(), "scale remove 4");
        let e = "5s scale remove".parse::<ScheduledFault>().unwrap_err();
        assert!(e.contains("needs the shard to remove"), "{e}");
        let e = "5s scale remove 0".parse::<ScheduledFault>().unwrap_err();
        assert!(e.contains("\"0\": expected a shard number from 1"), "{e}");
        let e = "5s scale add 2".parse::<ScheduledFault>().unwrap_err();
        assert!(e.contains("`add` takes nothing after it"), "{e}");
        let e = "5s scale grow".parse::<ScheduledFault>().unwrap_err();
        assert!(e.contains("expected \"add\""), "{e}");
        let cluster = crate::topology::TopologySpec {
            mode: crate::topology::HaMode::Cluster,
            masters: 3,
            ..Default::default()
        };
        let plan = |s: &str| vec![s.parse::<ScheduledFault>().unwrap()];
        assert_eq!(check_plan(&plan("5s scale add"), &cluster, None), Ok(()));
        // Shard 4 exists by then when a `scale add` came first.
        assert_eq!(
            check_plan(&plan("20s scale remove 4"), &cluster, None),
            Ok(())
        );
        let sentinel = crate::topology::TopologySpec::default();
        let e = check_plan(&plan("5s scale add"), &sentinel, None).unwrap_err();
        assert_eq!(
            e,
            FaultError::NeedsCluster {
                kind: FaultKind::Scale
            }
        );
        assert!(e.to_string().contains("runs Sentinel"), "{e}");
        // `scale` without a step, as `grabstorm fault scale master` would send it.
        let bare = FaultRequest {
            kind: FaultKind::Scale,
            target: Target::Master,
            duration: None,
            from: Vec::new(),
            reshard: None,
            scale: None,
        };
        assert_eq!(check_shape(&bare, None), Err(FaultError::ScaleNeedsStep));
    }

    #[test]
    fn a_reshard_step_names_slots_and_shards() {
        let f: ScheduledFault = "5s reshard 3000 1->2".parse().unwrap();
        assert_eq!(f.at, Duration::from_secs(5));
        assert_eq!(f.fault.kind, FaultKind::Reshard);
        assert_eq!(f.fault.target, Target::ShardMaster(1));
        assert_eq!(f.fault.sentence(), "reshard 3000 1->2");
        let e = "5s reshard 3000 1=>2"
            .parse::<ScheduledFault>()
            .unwrap_err();
        assert!(e.contains("expected FROM->TO"), "{e}");
        let spec = crate::topology::TopologySpec {
            mode: crate::topology::HaMode::Cluster,
            masters: 3,
            ..Default::default()
        };
        let plan = |s: &str| vec![s.parse::<ScheduledFault>().unwrap()];
        assert_eq!(
            check_plan(&plan("5s reshard 3000 1->2"), &spec, None),
            Ok(())
        );
        assert_eq!(
            check_plan(&plan("5s reshard 3000 1->4"), &spec, None),
            Err(FaultError::NoSuchShard(
                crate::topology::migrate::NoSuchShard {
                    shard: 4,
                    shards: 3
                }
            ))
        );
        assert_eq!(
            check_plan(&plan("5s reshard 3000 4->1"), &spec, None)
                .unwrap_err()
                .to_string(),
            "no shard 4: the cluster has shards 1 to 3"
        );
        let sentinel = crate::topology::TopologySpec::default();
        let e = check_plan(&plan("5s reshard 3000 1->2"), &sentinel, None).unwrap_err();
        assert_eq!(
            e,
            FaultError::NeedsCluster {
                kind: FaultKind::Reshard
            }
        );
        assert!(e.to_string().contains("slot migration"), "{e}");
        // `reshard master-1`, without slots and shards, says how to write it.
        let e = "5s reshard master-1".parse::<ScheduledFault>().unwrap_err();
        assert!(e.contains("SLOTS FROM->TO"), "{e}");
    }

    #[test]
    fn bad_faults_say_what_was_expected() {
        assert!("5s segfalt master"
            .parse::<ScheduledFault>()
            .unwrap_err()
            .contains("expected one of"));
        assert!("5s kill leader"
            .parse::<ScheduledFault>()
            .unwrap_err()
            .contains("unknown target"));
        assert!("5x kill master"
            .parse::<ScheduledFault>()
            .unwrap_err()
            .contains("unknown unit"));
    }
}
