//! The journal: one binary entry per acknowledged write (about 10 bytes,
//! [`format`]), written by one writer task off the hot path.
//!
//! A grabber sends a small `Copy` [`Ack`] (no string, no allocation) over a
//! bounded channel; the writer task encodes it (key and node names interned)
//! into `journal.bin`, and updates the [`Ledger`] the live views read. The
//! bound makes a lagging disk slow the grabbers down instead of growing
//! memory; an acknowledged write is never dropped, because the audit depends
//! on every one of them. [`read`] gives back the exact [`JournalRecord`]s;
//! `grabstorm journal DIR` prints them as JSON lines.

pub mod format;

use crate::kinds::LockKind;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The journal's file name inside a run directory.
pub const FILE_NAME: &str = "journal.bin";

/// The journal of the run directory `run_dir`.
pub fn in_dir(run_dir: &Path) -> PathBuf {
    run_dir.join(FILE_NAME)
}

/// Acks queued between the grabbers and the writer.
pub const JOURNAL_QUEUE: usize = 65_536;

/// What was acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum JournalOp {
    /// A red-packet grab: `value` = amount in cents, `pos` = grab position.
    RedpacketGrab,
    /// A seckill sale: `value` = the order number the client assigned.
    SeckillSale,
    /// A lock taken: `value` = fencing token or hold count, if any.
    LockAcquired(LockKind),
    /// A lock released: `value` = 1 if Redis confirmed the release.
    LockReleased(LockKind),
    /// A write of the lock-protected resource: `value` = the value written.
    ResourceWrite(LockKind),
}

impl JournalOp {
    pub fn name(self) -> String {
        match self {
            JournalOp::RedpacketGrab => "redpacket.grab".into(),
            JournalOp::SeckillSale => "seckill.sale".into(),
            JournalOp::LockAcquired(k) => format!("lock.{k}.acquired"),
            JournalOp::LockReleased(k) => format!("lock.{k}.released"),
            JournalOp::ResourceWrite(k) => format!("lock.{k}.resource_write"),
        }
    }
}

/// What a grabber sends for one acknowledged write (fixed size, `Copy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    /// When the acknowledgement arrived, ms since the run started.
    pub at_ms: u64,
    pub op: JournalOp,
    /// Packet number, seckill item, or lock index.
    pub round: u64,
    /// The user (red packets, seckill) or the grabber id (locks).
    pub user: u64,
    pub value: i64,
    /// Grab position (red packets), order sequence, or 0.
    pub pos: u32,
    /// The master the write was acknowledged by.
    pub master: SocketAddr,
}

/// One acknowledged write with its names spelled out, as the audit reads it
/// (and as `grabstorm journal` prints it, one JSON line each).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    pub at_ms: u64,
    pub op: JournalOp,
    pub key: String,
    pub round: u64,
    pub user: u64,
    pub value: i64,
    #[serde(default)]
    pub pos: u32,
    /// Node name of the master that acknowledged (or its address if unknown).
    pub node: String,
}

/// The sending side, cloned into every grabber.
#[derive(Clone)]
pub struct JournalSender {
    tx: mpsc::Sender<Ack>,
}

impl JournalSender {
    /// Queues an ack; waits only when the writer is `JOURNAL_QUEUE` behind.
    pub async fn send(&self, ack: Ack) {
        // A closed journal means the run is being torn down; the ack can no
        // longer be audited, and that is reported by the audit (missing lines).
        let _ = self.tx.send(ack).await;
    }
}

/// Spells out keys and node names for journal lines.
pub trait JournalNaming: Send + Sync + 'static {
    fn key(&self, op: JournalOp, round: u64) -> String;
    fn node(&self, addr: SocketAddr) -> String;
}

/// Live tallies of acknowledged writes, for the dashboard's views.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Red-packet grabs per packet: (position, user, amount).
    pub grabs: BTreeMap<u64, Vec<(u32, u64, i64)>>,
    pub sales: u64,
    /// Sales per seckill item.
    pub sales_by_item: BTreeMap<u64, u64>,
    pub acks: u64,
}

/// The writer task's handle.
pub struct Journal {
    pub path: PathBuf,
    pub sender: JournalSender,
    pub ledger: Arc<Mutex<Ledger>>,
    done: tokio::sync::oneshot::Receiver<std::io::Result<u64>>,
    closing: CancellationToken,
}

impl Journal {
    /// Creates `path` (truncating) and spawns the writer task.
    pub fn start(path: &Path, naming: Arc<dyn JournalNaming>) -> anyhow::Result<Journal> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating journal directory {}", dir.display()))?;
        }
        let file = std::fs::File::create(path)
            .with_context(|| format!("creating journal {}", path.display()))?;
        let (tx, mut rx) = mpsc::channel::<Ack>(JOURNAL_QUEUE);
        let ledger: Arc<Mutex<Ledger>> = Default::default();
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let led = ledger.clone();
        let shown = path.display().to_string();
        let stop = CancellationToken::new();
        let closing = stop.clone();
        tokio::spawn(async move {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
            let mut written = 0u64;
            let mut batch = Vec::with_capacity(1024);
            let mut encoder = format::Encoder::default();
            let mut bytes = Vec::with_capacity(1 << 16);
            let mut result = out.write_all(format::MAGIC);
            loop {
                // Closing drains what is queued: the grabbers have stopped,
                // but clones of the sender may still be alive.
                let closing = tokio::select! {
                    biased;
                    n = rx.recv_many(&mut batch, 1024) => n == 0,
                    _ = stop.cancelled() => {
                        while let Ok(a) = rx.try_recv() {
                            batch.push(a);
                        }
                        true
                    }
                };
                {
                    let mut l = led.lock().unwrap_or_else(|e| e.into_inner());
                    for a in &batch {
                        l.acks += 1;
                        match a.op {
                            JournalOp::RedpacketGrab => {
                                l.grabs
                                    .entry(a.round)
                                    .or_default()
                                    .push((a.pos, a.user, a.value));
                            }
                            JournalOp::SeckillSale => {
                                l.sales += 1;
                                *l.sales_by_item.entry(a.round).or_default() += 1;
                            }
                            _ => {}
                        }
                    }
                }
                if result.is_ok() {
                    bytes.clear();
                    for a in batch.iter() {
                        encoder.encode(a, &*naming, &mut bytes);
                    }
                    result = out.write_all(&bytes);
                    match &result {
                        Ok(()) => written += batch.len() as u64,
                        Err(e) => {
                            tracing::error!(journal = %shown, error = %e, "cannot write the journal")
                        }
                    }
                }
                batch.clear();
                if closing {
                    break;
                }
            }
            let r = result.and_then(|_| out.flush()).map(|_| written);
            let _ = done_tx.send(r);
        });
        Ok(Journal {
            path: path.to_path_buf(),
            sender: JournalSender { tx },
            ledger,
            done,
            closing,
        })
    }

    /// Writes every ack queued so far and closes the file (call once the
    /// grabbers have stopped; acks sent later are not written); returns the
    /// number of records written. Gives up when `cancel` fires.
    pub async fn close(self, cancel: CancellationToken) -> anyhow::Result<u64> {
        let Journal {
            path,
            sender,
            done,
            closing,
            ..
        } = self;
        drop(sender);
        closing.cancel();
        tokio::select! {
            r = done => Ok(r.context("journal writer vanished")?
                .with_context(|| format!("writing journal {}", path.display()))?),
            _ = cancel.cancelled() => anyhow::bail!("journal {} not closed: cancelled", path.display()),
        }
    }
}

/// Reads a journal file back, every record in the order written.
pub fn read(path: &Path) -> anyhow::Result<Vec<JournalRecord>> {
    records(path)?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading journal {}", path.display()))
}

/// The records of a journal file, one at a time (for journals too big to hold).
pub fn records(path: &Path) -> anyhow::Result<format::Decoder<impl std::io::BufRead>> {
    let f =
        std::fs::File::open(path).with_context(|| format!("opening journal {}", path.display()))?;
    format::Decoder::new(std::io::BufReader::with_capacity(1 << 16, f))
        .with_context(|| format!("reading journal {}", path.display()))
}
