//! What a lab is told to do ([`LabConfig`], [`LabTarget`]), what it leaves
//! behind for a later `grabstorm audit` ([`RunRecord`]) and why its load ended.

use crate::client::ClientMode;
use crate::faults::{FaultError, ScheduledFault};
use crate::report::endpoint::LoopbackAddr;
use crate::shutdown::Shutdown;
use crate::topology::select::BackendSelection;
use crate::topology::TopologySpec;
use crate::workload::engine::Workloads;
use crate::workload::grabber::KeySpace;
use crate::workload::lock::{LockConfig, LockWorkload};
use crate::workload::redpacket::{RedPacket, RedPacketConfig};
use crate::workload::seckill::{Seckill, SeckillConfig};
use crate::workload::WorkloadKind;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the Redis of a lab comes from.
#[derive(Clone, Debug)]
pub enum LabTarget {
    /// Start a topology (removed at the end unless `keep`).
    Start {
        backend: BackendSelection,
        spec: TopologySpec,
        keep: bool,
        /// Write the state file, so `grabstorm status/fault` see the run.
        save_state: bool,
    },
    /// The topology a running `grabstorm up` left in the state dir.
    Attach,
    /// A topology grabstorm did not start, found through the sentinels or
    /// cluster nodes given (`--sentinel`, `--cluster`); never removed.
    External(crate::topology::external::ExternalTarget),
    /// One Redis at a fixed loopback address: no Sentinel, no faults
    /// (engine tests, `bench`).
    Fixed(SocketAddr),
}

impl LabTarget {
    /// Refuses, before anything starts, the scheduled faults this target
    /// cannot have: on a topology to start, those its spec and backend
    /// rule out (`segfault replica-9` of two, a partition of local
    /// processes); on an attached one, those that need a node's process
    /// or container. Targets on a running or attached topology are checked
    /// when each fault fires, against the nodes there are then.
    pub fn check_faults(&self, faults: &[ScheduledFault]) -> Result<(), FaultError> {
        match self {
            LabTarget::Start { backend, spec, .. } => {
                crate::faults::check_plan(faults, spec, backend.choice.kind())
            }
            LabTarget::External(_) => faults.iter().try_for_each(|f| {
                crate::faults::check_shape(&f.fault, Some(crate::topology::BackendKind::External))
            }),
            LabTarget::Attach | LabTarget::Fixed(_) => Ok(()),
        }
    }
}

/// Everything a lab run needs.
#[derive(Clone, Debug)]
pub struct LabConfig {
    pub target: LabTarget,
    pub state_dir: PathBuf,
    /// Run directory (journal, report.json, run.json); default
    /// `<state dir>/runs/<run id>`.
    pub out_dir: Option<PathBuf>,
    pub workload: WorkloadKind,
    pub grabbers: usize,
    pub connections: usize,
    /// Users the grabbers act for (0: one per grabber).
    pub users: u64,
    pub seed: u64,
    /// Stop after this long (None: until done, stopped, or the hard cap).
    pub duration: Option<Duration>,
    pub until_done: bool,
    /// The run never lasts longer than this.
    pub hard_cap: Duration,
    /// Pause between two steps of one grabber.
    pub think: Duration,
    pub redpacket: RedPacketConfig,
    pub seckill: SeckillConfig,
    pub locks: LockConfig,
    pub client: ClientMode,
    /// Hash tags in key names (`None`: on in cluster mode, off elsewhere;
    /// `Some(false)`: `--no-hash-tags`, the CROSSSLOT demo).
    pub hash_tags: Option<bool>,
    /// The prefix of every key of the run (`None`: `gs`): the run touches
    /// nothing outside `<prefix>:<run id>:`.
    pub key_prefix: Option<String>,
    pub faults: Vec<ScheduledFault>,
    /// Longest wait for the topology to settle before the audit.
    pub settle_timeout: Duration,
    /// The first stop signal ends the load (and interrupts a start), a
    /// second one skips the audit.
    pub shutdown: Shutdown,
    /// Serve the OpenMetrics exposition of the run's snapshots here while
    /// the run lasts (`--metrics`).
    pub metrics: Option<LoopbackAddr>,
    /// The command line that started the run, word by word, for the
    /// report's `meta` (empty: not from a command line).
    pub command_line: Vec<String>,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            target: LabTarget::Attach,
            state_dir: crate::logging::state_dir(None),
            out_dir: None,
            workload: WorkloadKind::Mixed,
            grabbers: 1000,
            connections: 16,
            users: 0,
            seed: 1,
            duration: Some(Duration::from_secs(10)),
            until_done: false,
            hard_cap: Duration::from_secs(3600),
            think: Duration::ZERO,
            redpacket: RedPacketConfig::default(),
            seckill: SeckillConfig::default(),
            locks: LockConfig::default(),
            client: ClientMode::Sentinel,
            hash_tags: None,
            key_prefix: None,
            faults: Vec::new(),
            settle_timeout: Duration::from_secs(30),
            shutdown: Shutdown::default(),
            metrics: None,
            command_line: Vec::new(),
        }
    }
}

/// What `grabstorm audit DIR` needs to re-run the checks: written as
/// `run.json` next to the journal.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRecord {
    pub run_id: String,
    pub seed: u64,
    pub backend: String,
    pub until_done: bool,
    /// Workloads that ran.
    pub workloads: Vec<WorkloadKind>,
    pub redpacket: RedPacketConfig,
    pub seckill: SeckillConfig,
    pub locks: Option<LockConfig>,
    /// Red packets and seckill items created.
    pub packets_created: u64,
    pub items_created: u64,
    /// The Redis checked (fixed address runs).
    pub fixed_addr: Option<SocketAddr>,
    /// Whether the keys carried hash tags (false in records written before).
    #[serde(default)]
    pub hash_tags: bool,
    /// The prefix of the run's keys (empty in records written before
    /// `--prefix` existed: `gs`).
    #[serde(default)]
    pub key_prefix: String,
}

impl RunRecord {
    /// The workloads of this record, for an audit (nothing touches Redis).
    pub fn workloads(&self) -> anyhow::Result<Workloads> {
        let ledger = Default::default();
        let rp = RedPacket::new(
            self.redpacket.clone(),
            self.seed,
            self.until_done,
            Arc::clone(&ledger),
        );
        rp.rounds.set_created(self.packets_created);
        let sk = Seckill::new(self.seckill.clone(), self.until_done, ledger);
        sk.rounds.set_created(self.items_created);
        let lock = LockWorkload::new(
            self.locks.clone().unwrap_or_default(),
            &KeySpace::of(&self.key_prefix, &self.run_id, self.hash_tags),
        )
        .map_err(|e| anyhow::anyhow!("lock settings of run {}: {e}", self.run_id))?;
        Ok(Workloads {
            redpacket: rp,
            seckill: sk,
            lock,
        })
    }
}

/// Why the load ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Duration,
    Done,
    Stopped,
    HardCap,
}
