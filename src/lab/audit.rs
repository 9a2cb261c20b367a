//! The end of a run: close the journal, audit it against Redis, build and
//! write the report. Every run gets its report: when no master was agreed
//! the audit reads every reachable data node (and says which), when none
//! answers it says so (`audit.checked: false`) and the verdict fails. The
//! facts the report states about the topology (who rejoined as what, odd
//! replication states) are read from Redis here, once the run settled.

use crate::audit::journal;
use crate::audit::journal::JournalOp;
use crate::client::cluster::NodeAddrs;
use crate::client::{Auth, ClientMode, LabConn, MasterPool};
use crate::metrics::aggregate::Aggregator;
use crate::metrics::losses::{Loss, LossCause};
use crate::metrics::recorder::{LockStep, OpKind};
use crate::metrics::timeline::{failovers_and_losses, LostAckedWrites};
use crate::metrics::EventKind;
use crate::report::model::Report;
use crate::topology::admin::replication::{self, Replication, ReplicationRole};
use crate::words::secs;
use crate::workload::engine::Workloads;
use crate::workload::grabber::Workload;
use crate::workload::WorkloadKind;
use anyhow::Context;
use serde::Serialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::roles::{self, RoleReading};
use super::{Lab, LabTarget, RunRecord};

impl Lab {
    pub(super) async fn audit_and_report(&mut self) -> anyhow::Result<Report> {
        self.follow_attached_membership().await;
        let load_s = self
            .load_ended
            .unwrap_or_else(Instant::now)
            .duration_since(self.started)
            .as_secs_f64();
        let faults = self.faults_injected.load(Ordering::Relaxed)
            || !self.config.faults.is_empty()
            || self
                .bus
                .all()
                .iter()
                .any(|e| matches!(e.kind, EventKind::FaultInjected { .. }));
        let cluster = self.topology().await.filter(|t| t.spec.is_cluster());
        let cluster_topology = cluster.clone();
        // Outer None: a second signal skipped the audit.
        let (settled, cluster_masters) = match &cluster {
            Some(_) => match self.unless_audit_skipped(self.settle_cluster(faults)).await {
                Some(masters) => (Some(None), Some(masters)),
                None => (None, None),
            },
            None => (self.unless_audit_skipped(self.settle(faults)).await, None),
        };
        let mut skipped = settled.is_none();
        let settled = settled.flatten();

        self.publisher_stop.cancel();
        let (mut agg, snapshots) = match self.publisher.take() {
            Some(p) => {
                let (agg, tx) = p.await.context("the snapshot publisher failed")?;
                (agg, Some(tx))
            }
            None => (Aggregator::new(), None),
        };
        let journal = self.journal.take().context("journal already closed")?;
        let journal_path = journal.path.clone();
        // The writer only has the queue left to write: bounded by the disk.
        let lines = tokio::time::timeout(
            Duration::from_secs(60),
            journal.close(CancellationToken::new()),
        )
        .await
        .context("closing the journal: not done within 60s")?
        .context("closing the journal")?;
        tracing::info!(lines, journal = %journal_path.display(), "journal closed");

        let w = self.engine.workloads().clone();
        let record = RunRecord {
            run_id: self.run_id.clone(),
            seed: self.config.seed,
            backend: self.backend_name.clone(),
            until_done: self.config.until_done,
            workloads: self.used_kinds(),
            redpacket: self.config.redpacket.clone(),
            seckill: self.config.seckill.clone(),
            locks: Some(self.config.locks.clone()),
            packets_created: w.redpacket.rounds.created(),
            items_created: w.seckill.rounds.created(),
            fixed_addr: match self.config.target {
                LabTarget::Fixed(a) => Some(a),
                _ => None,
            },
            hash_tags: self.engine.keys().hash_tags(),
            key_prefix: self.config.key_prefix.clone().unwrap_or_default(),
        };
        write_json(&self.run_dir.join("run.json"), &record)?;

        let mut report = Report {
            meta: crate::report::meta::Meta::new(
                self.redis_version.clone(),
                &self.backend_name,
                &match (&self.config.target, &cluster_topology) {
                    (LabTarget::Fixed(_), _) => "standalone".to_string(),
                    (_, Some(t)) => t.spec.mode.to_string(),
                    (_, None) => crate::topology::HaMode::Sentinel.to_string(),
                },
                self.started_at,
                self.config.command_line.clone(),
            ),
            run_id: self.run_id.clone(),
            seed: self.config.seed,
            backend: self.backend_name.clone(),
            workload: self.config.workload,
            client: match self.config.target {
                LabTarget::Fixed(_) => "fixed".into(),
                _ => self.config.client.to_string(),
            },
            duration_s: load_s,
            grabbers: self.engine.grabbers(),
            connections: self.config.connections,
            ops: agg.op_reports(load_s),
            errors: agg.errors(),
            throughput: agg.throughput().to_vec(),
            latency: agg.total_latency(),
            latency_buckets: agg.total_buckets(),
            hash_tags: record.hash_tags,
            key_prefix: record.key_prefix.clone(),
            cluster: self.pool.redirects().map(|redirects| {
                let mut shards = self.pool.shard_ops();
                for s in &mut shards {
                    s.master_node = s.master.and_then(|a| {
                        cluster_topology
                            .as_ref()
                            .and_then(|t| t.node_by_addr(&a.to_string()))
                            .map(|n| n.name.clone())
                    });
                    s.replies_per_s = if load_s > 0.0 {
                        s.replies as f64 / load_s
                    } else {
                        0.0
                    };
                }
                crate::report::model::ClusterClientReport {
                    redirects,
                    shards,
                    migrations: Vec::new(),
                }
            }),
            ..Default::default()
        };
        let records = journal::read(&journal_path)?;
        let topology = self.topology().await;
        let candidates = match (settled, &cluster) {
            // A cluster is read whole, each key on its slot's master.
            (_, Some(t)) => vec![(
                match cluster_masters.as_ref().and_then(|m| m.as_ref()) {
                    Some(m) => format!("each shard's master ({})", m.join(", ")),
                    None => "each slot's master as the nodes map it now".to_string(),
                },
                AuditSource::Cluster(Box::new(t.clone())),
            )],
            (Some(addr), None) => vec![(self.node_name(addr).await, AuditSource::Node(addr))],
            (None, None) => match &topology {
                Some(t) => t
                    .redis_nodes()
                    .map(|n| (n.name.clone(), AuditSource::Node(n.host_addr)))
                    .collect(),
                None => vec![(
                    self.pool.current().master.to_string(),
                    AuditSource::Node(self.pool.current().master),
                )],
            },
        };
        let auth = topology
            .as_ref()
            .map(|t| t.auth())
            .unwrap_or_else(Auth::none);
        let lost = if skipped {
            None
        } else {
            let audit = audit_best(&record, &w, &candidates, &auth, &records, &mut report);
            match self.unless_audit_skipped(audit).await {
                Some(lost) => lost,
                None => {
                    skipped = true;
                    None
                }
            }
        };
        if cluster.is_some() && cluster_masters.as_ref().is_some_and(|m| m.is_none()) {
            report.audit.reason = Some(
                "the cluster did not settle (see the timeline's last note): each key was read on the master the nodes map its slot to now".into(),
            );
        }
        if skipped {
            report.audit.checked = false;
            report.audit.reason = Some(crate::shutdown::AUDIT_SKIPPED.to_string());
            report.audit.journal_records = lines;
        }
        for (kind, l) in report.locks.iter_mut() {
            l.wait = agg.op_summary(OpKind::Lock(*kind, LockStep::Wait));
            l.hold = agg.op_summary(OpKind::Lock(*kind, LockStep::Hold));
        }
        report.events = self.bus.all();
        if let Some(c) = &mut report.cluster {
            c.migrations = crate::report::model::Migration::all_in(&report.events);
        }
        report.faults_failed = self
            .injector
            .as_ref()
            .map(|i| i.failures())
            .unwrap_or_default();
        match &topology {
            Some(t) => {
                explain_losses(&mut report, lost.as_deref(), &records, t);
                // After a second signal the run ends now: no more reads.
                if !skipped {
                    let facts = read_facts(t).await;
                    apply_facts(&mut report, &facts, &self.roles.readings(), t);
                }
            }
            // A single Redis at a fixed address: no timeline to explain a loss.
            None => report.losses = unexplained(lost.as_deref().unwrap_or(&[])),
        }
        report.judge();
        crate::report::files::write_data(&report, topology.as_ref(), &self.run_dir)?;
        write_latency_log(&agg, &self.run_dir, self.started_at, &self.run_id)?;
        // The last snapshot: every sample, and what only the end measures.
        if let Some(tx) = snapshots {
            let mut last = (**tx.borrow()).clone();
            agg.fill_snapshot(&mut last);
            last.ended = Some(crate::metrics::RunEndView {
                audited: report.audit.checked,
                failovers: report.failovers.clone(),
                losses: report.losses.clone(),
            });
            tx.send_replace(std::sync::Arc::new(last));
        }
        Ok(report)
    }

    fn used_kinds(&self) -> Vec<WorkloadKind> {
        self.load
            .used()
            .iter()
            .filter(|(_, used)| **used)
            .map(|(kind, _)| kind)
            .collect()
    }

    async fn node_name(&self, addr: SocketAddr) -> String {
        match self.topology().await {
            Some(t) => t
                .nodes
                .iter()
                .find(|n| n.host_addr == addr)
                .map(|n| n.name.clone())
                .unwrap_or_else(|| addr.to_string()),
            None => addr.to_string(),
        }
    }
}

/// Writes `latency.hlog` into `dir`: the run's HdrHistogram interval log.
fn write_latency_log(
    agg: &Aggregator,
    dir: &Path,
    started: std::time::SystemTime,
    run_id: &str,
) -> anyhow::Result<()> {
    let path = dir.join("latency.hlog");
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let comment = format!("grabstorm {} run {run_id}", env!("CARGO_PKG_VERSION"));
    agg.write_interval_log(&mut out, started, &comment)
        .and_then(|()| std::io::Write::flush(&mut out))
        .with_context(|| format!("writing {}", path.display()))
}

/// Where the audit reads Redis.
#[derive(Clone, Debug)]
pub enum AuditSource {
    /// One node: the settled master, a candidate, a fixed address.
    Node(SocketAddr),
    /// A Cluster, through the cluster client: each key read on the master
    /// of its slot (following MOVED), so every shard is audited against
    /// its own final master.
    Cluster(Box<crate::topology::Topology>),
}

impl std::fmt::Display for AuditSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditSource::Node(addr) => write!(f, "{addr}"),
            AuditSource::Cluster(_) => f.write_str("the cluster"),
        }
    }
}

/// Audits `records` against each of `candidates` (node name, address) in
/// turn and keeps the audit of the node that lacks the fewest acknowledged
/// writes: with one candidate (the agreed master) that is simply its audit.
/// Returns every lost write of the kept audit, or None when no candidate
/// could be audited (then `report.audit.checked` is false, with the reason).
pub async fn audit_best(
    record: &RunRecord,
    w: &Workloads,
    candidates: &[(String, AuditSource)],
    auth: &Auth,
    records: &[journal::JournalRecord],
    report: &mut Report,
) -> Option<Vec<journal::JournalRecord>> {
    let mut best: Option<(Report, Vec<journal::JournalRecord>)> = None;
    let mut checked = Vec::new();
    let mut failures = Vec::new();
    for (node, source) in candidates {
        let mut r = report.clone();
        match audit_into(record, w, source, auth, node, records, &mut r).await {
            Ok(lost) => {
                checked.push((node.clone(), lost.len() as u64));
                if best.as_ref().is_none_or(|(_, b)| lost.len() < b.len()) {
                    best = Some((r, lost));
                }
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let Some((mut r, lost)) = best else {
        report.audit.checked = false;
        report.audit.journal_records = records.len() as u64;
        report.audit.reason = Some(if failures.is_empty() {
            "no data node to read".to_string()
        } else {
            format!("no data node answered: {}", failures.join("; "))
        });
        report.judge();
        return None;
    };
    if candidates.len() > 1 {
        let others: Vec<String> = checked
            .iter()
            .filter(|(n, _)| *n != r.audit.checked_node)
            .map(|(n, lost)| format!("{n} lacks {lost}"))
            .chain(failures.iter().cloned())
            .collect();
        r.audit.reason = Some(format!(
            "no master was agreed on: read every reachable data node and kept {}, which lacks the fewest acknowledged writes{}",
            r.audit.checked_node,
            if others.is_empty() {
                String::new()
            } else {
                format!(" ({})", others.join("; "))
            }
        ));
        r.audit.nodes_checked = checked;
    }
    *report = r;
    Some(lost)
}

/// Audits `records` against the Redis at `master` for every workload of
/// `record`, filling `report` (workload sections, audit summary). Returns
/// every lost write (the report keeps the first 1,000).
pub async fn audit_into(
    record: &RunRecord,
    w: &Workloads,
    source: &AuditSource,
    auth: &Auth,
    node: &str,
    records: &[journal::JournalRecord],
    report: &mut Report,
) -> anyhow::Result<Vec<journal::JournalRecord>> {
    let (mut conn, pool): (LabConn, Option<MasterPool>) = match source {
        AuditSource::Node(master) => {
            let conn = crate::client::connect(*master, auth)
                .await
                .with_context(|| format!("connecting to {node} ({master}) for the audit"))?;
            (conn.into(), None)
        }
        AuditSource::Cluster(t) => {
            let seeds = t.redis_nodes().map(|n| n.host_addr).collect();
            let pool = MasterPool::cluster(
                seeds,
                NodeAddrs::of_topology(t),
                auth,
                1,
                ClientMode::Sentinel,
                CancellationToken::new(),
            )
            .await
            .context("reading the cluster's slot map for the audit")?;
            (pool.current().conn(0), Some(pool))
        }
    };
    let lost = audit_on(record, w, &mut conn, node, records, report).await;
    if let Some(pool) = pool {
        pool.close().await;
    }
    lost
}

/// [`audit_into`] on an open connection.
async fn audit_on(
    record: &RunRecord,
    w: &Workloads,
    conn: &mut LabConn,
    node: &str,
    records: &[journal::JournalRecord],
    report: &mut Report,
) -> anyhow::Result<Vec<journal::JournalRecord>> {
    report.run_id = record.run_id.clone();
    report.hash_tags = record.hash_tags;
    report.key_prefix = record.key_prefix.clone();
    let mut lost = Vec::new();
    for kind in &record.workloads {
        match kind {
            WorkloadKind::Redpacket => {
                w.redpacket
                    .audit(conn, records, report, &mut lost)
                    .await
                    .with_context(|| format!("auditing red packets on {node}"))?;
            }
            WorkloadKind::Seckill => {
                w.seckill
                    .audit(conn, records, report, &mut lost)
                    .await
                    .with_context(|| format!("auditing seckill on {node}"))?;
            }
            WorkloadKind::Lock => {
                w.lock
                    .audit(conn, records, report, &mut lost)
                    .await
                    .with_context(|| format!("auditing locks on {node}"))?;
            }
            WorkloadKind::Mixed => {}
        }
    }
    lost.sort_by_key(|r| r.at_ms);
    report.audit.checked = true;
    report.audit.journal_records = records.len() as u64;
    report.audit.checked_node = node.to_string();
    report.audit.lost_acked_writes = lost.len() as u64;
    report.audit.lost = lost.iter().take(1000).cloned().collect();
    report.judge();
    Ok(lost)
}

/// Fills `failovers` (one row per fault on the master) and `losses` (every
/// lost write attributed, by the master the journal says acknowledged it),
/// and each row's durable outage from the writes that survived the audit.
/// Without an audit (`lost` None) losses stay unknown: rows say None.
fn explain_losses(
    report: &mut Report,
    lost: Option<&[journal::JournalRecord]>,
    records: &[journal::JournalRecord],
    t: &crate::topology::Topology,
) {
    let listed = LostAckedWrites {
        total: lost.map_or(0, |l| l.len() as u64),
        at_ms: lost.unwrap_or(&[]).iter().map(|r| r.at_ms).collect(),
        nodes: lost.unwrap_or(&[]).iter().map(|r| r.node.clone()).collect(),
    };
    let (mut failovers, losses) =
        failovers_and_losses(&report.events, &report.throughput, t, &listed);
    let Some(lost) = lost else {
        for f in &mut failovers {
            f.lost_acked_writes = None;
        }
        report.failovers = failovers;
        return;
    };
    let gone: HashSet<(u64, JournalOp, u64, u64, u32, i64)> = lost.iter().map(identity).collect();
    let mut survived: Vec<u64> = records
        .iter()
        .filter(|r| !gone.contains(&identity(r)))
        .map(|r| r.at_ms)
        .collect();
    survived.sort_unstable();
    let end_ms = (report.duration_s * 1000.0) as u64;
    crate::metrics::losses::durable_outages(&mut failovers, &survived, end_ms);
    report.failovers = failovers;
    report.losses = losses;
}

/// Losses of a run without a topology (a fixed address): one per node,
/// cause `unexplained`, so that the losses still add up to the audit's total.
fn unexplained(lost: &[journal::JournalRecord]) -> Vec<Loss> {
    let mut by_node: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
    for r in lost {
        by_node.entry(&r.node).or_default().push(r.at_ms);
    }
    by_node
        .into_iter()
        .map(|(node, at)| {
            let (from, to) = (at[0], at[at.len() - 1]);
            Loss {
                cause: LossCause::Unexplained,
                fault_index: None,
                node: node.to_string(),
                from_ms: from,
                to_ms: to,
                lost_acked_writes: at.len() as u64,
                explanation: format!(
                    "{} acknowledged write(s) by {node} are missing from Redis; this run talks to one Redis at a fixed address, with no timeline to explain why",
                    at.len()
                ),
            }
        })
        .collect()
}

/// What tells one journal line from another.
fn identity(r: &journal::JournalRecord) -> (u64, JournalOp, u64, u64, u32, i64) {
    (r.at_ms, r.op, r.round, r.user, r.pos, r.value)
}

/// What each Redis node and the sentinels say once the run settled.
struct Facts {
    /// Per Redis node: what it says of its replication (None: no answer).
    nodes: Vec<(String, Option<Replication>)>,
    /// The master the sentinels name (by most answers), if any answered.
    sentinel_master: Option<String>,
}

async fn read_facts(t: &crate::topology::Topology) -> Facts {
    let auth = t.auth();
    let redis: Vec<_> = t.redis_nodes().collect();
    let answers =
        futures::future::join_all(redis.iter().map(|n| replication::read(n.host_addr, &auth)))
            .await;
    let sentinel_master = match crate::client::SentinelSet::from_topology(t)
        .master_addr()
        .await
    {
        Ok(addr) => t.node_by_addr(&addr.to_string()).map(|n| n.name.clone()),
        Err(_) => None,
    };
    Facts {
        nodes: redis.iter().map(|n| n.name.clone()).zip(answers).collect(),
        sentinel_master,
    }
}

/// Sets each failover's rejoin from the old master's own `ROLE` (and who
/// made it a replica), and lists the odd replication states in words: the
/// settled state from `facts`, what happened in between from the run's
/// role `readings`.
fn apply_facts(
    report: &mut Report,
    facts: &Facts,
    readings: &[RoleReading],
    t: &crate::topology::Topology,
) {
    let name_of = |addr: &str| t.node_by_addr(addr).map(|n| n.name.clone());
    let role_words = |r: &Replication| match (r.role, &r.master) {
        (ReplicationRole::Master, _) => "master".to_string(),
        (_, Some(m)) => format!("replica of {}", name_of(m).unwrap_or_else(|| m.clone())),
        (role, None) => role.redis_word().to_string(),
    };
    let mut found = Vec::new();
    for f in report.failovers.iter_mut().filter(|f| f.failed_over) {
        let switched_ms = f.at_ms + f.replaced_ms().unwrap_or(0);
        if let Some(s) = f
            .new_master
            .as_deref()
            .and_then(|m| roles::stalled_promotion(readings, m, switched_ms))
        {
            found.push(format!(
                "{} was promoted at {} although its replication from {} had not advanced since {}: it lacked {} bytes of {}'s data",
                s.node,
                secs(s.promoted_ms),
                s.master,
                secs(s.stalled_since_ms),
                s.lacked_bytes,
                s.master,
            ));
        }
        // A replica reading after the switch is Redis's own word that the
        // old master rejoined, even if it was promoted again later.
        let seen = roles::replica_after(readings, &f.old_master, switched_ms);
        let settled = facts
            .nodes
            .iter()
            .find(|(n, _)| *n == f.old_master)
            .and_then(|(_, r)| r.as_ref());
        if let Some(r) = settled {
            f.old_master_role = Some(role_words(r));
        }
        // ROLE is the fact; +convert-to-slave only says who did it.
        // Silent at the end and never read as a replica: Sentinel's
        // +convert-to-slave (already in the row) is all there is.
        f.old_master_rejoined_as_replica = seen.is_some()
            || settled.map_or(f.old_master_rejoined_as_replica, Replication::is_replica);
        if let (Some(seen), true) = (seen, settled.is_some_and(Replication::is_master)) {
            found.push(format!(
                "{} rejoined as a replica{} at {} and was master again by the end",
                f.old_master,
                seen.master
                    .as_deref()
                    .map(|m| format!(" of {m}"))
                    .unwrap_or_default(),
                secs(seen.at_ms)
            ));
        }
        if f.old_master_rejoined_as_replica {
            // grabstorm never sends REPLICAOF (a restart is a real restart)
            // nor, once a cluster is assembled, CLUSTER REPLICATE: Sentinel
            // or the cluster itself did it, or its announcement was missed.
            f.old_master_rejoined_by = Some(if t.spec.is_cluster() {
                "cluster".to_string()
            } else if f.old_master_rejoined_ms.is_some() {
                "sentinel".to_string()
            } else {
                "unknown".to_string()
            });
        }
    }
    if let Some(m) = &facts.sentinel_master {
        if let Some((_, Some(r))) = facts.nodes.iter().find(|(n, _)| n == m) {
            if !r.is_master() {
                found.push(format!(
                    "{m} is the master the sentinels name, but {m} reports itself a {}: writes to it fail",
                    role_words(r)
                ));
            }
        }
    }
    let masters: Vec<&str> = facts
        .nodes
        .iter()
        .filter(|(_, r)| r.as_ref().is_some_and(Replication::is_master))
        .map(|(n, _)| n.as_str())
        .collect();
    // Several masters are a Cluster's nature; in Sentinel mode, split brain.
    if masters.len() > 1 && !t.spec.is_cluster() {
        found.push(format!(
            "{} all report themselves master: clients that reach different ones write to different datasets",
            masters.join(" and ")
        ));
    }
    for (node, r) in &facts.nodes {
        let Some(r) = r.as_ref().filter(|r| r.is_replica()) else {
            continue;
        };
        let Some(master) = &r.master else { continue };
        match name_of(master) {
            Some(m) if m == *node => {
                found.push(format!("{node} is a replica of itself ({master}): it never receives new data"))
            }
            None => found.push(format!(
                "{node} replicates from {master}, an address no node of the run has: it receives nothing"
            )),
            Some(m) if !r.link_up() => found.push(format!(
                "{node}'s link to its master {m} is down{}: it lacks every write since",
                r.link_down_s
                    .map(|s| format!(" since {s} s ago"))
                    .unwrap_or_default()
            )),
            Some(_) => {}
        }
    }
    report.topology_findings = found;
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).expect("serialises");
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
