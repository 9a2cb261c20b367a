//! The end of a run: close the journal, audit it against Redis, build and
//! write the report.

use crate::audit::journal;
use crate::client::Auth;
use crate::metrics::aggregate::Aggregator;
use crate::metrics::recorder::{LockStep, OpKind};
use crate::metrics::EventKind;
use crate::report::model::Report;
use crate::workload::engine::Workloads;
use crate::workload::grabber::Workload;
use crate::workload::WorkloadKind;
use anyhow::Context;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::{Lab, LabTarget, RunRecord};

impl Lab {
    pub(super) async fn audit_and_report(&mut self) -> anyhow::Result<Report> {
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
        // None: a second signal skipped the audit.
        let master = self
            .unless_audit_skipped(self.settle(faults))
            .await
            .transpose()?;

        self.publisher_stop.cancel();
        let agg = match self.publisher.take() {
            Some(p) => p.await.context("the snapshot publisher failed")?,
            None => Aggregator::new(),
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
        };
        write_json(&self.run_dir.join("run.json"), &record)?;

        let mut report = Report {
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
            ..Default::default()
        };
        // Audited into a copy, so a skip half-way leaves no half-checked figure.
        let mut audited = report.clone();
        let done = match master {
            Some(master) => {
                let node = self.node_name(master).await;
                let records = journal::read(&journal_path)?;
                let auth = match self.topology().await {
                    Some(t) => t.auth(),
                    None => Auth::none(),
                };
                let audit = audit_into(&record, &w, master, &auth, &node, &records, &mut audited);
                self.unless_audit_skipped(audit).await.transpose()?
            }
            None => None,
        };
        match done {
            Some(()) => report = audited,
            None => {
                report.audit.checked = false;
                report.audit.reason = Some(crate::shutdown::AUDIT_SKIPPED.to_string());
                report.audit.journal_records = lines;
            }
        }
        for (kind, l) in report.locks.iter_mut() {
            l.wait = agg.op_summary(OpKind::Lock(*kind, LockStep::Wait));
            l.hold = agg.op_summary(OpKind::Lock(*kind, LockStep::Hold));
        }
        report.events = self.bus.all();
        if let Some(t) = self.topology().await {
            let lost = crate::metrics::timeline::LostAckedWrites {
                total: report.audit.lost_acked_writes,
                at_ms: report.audit.lost.iter().map(|r| r.at_ms).collect(),
            };
            report.failovers =
                crate::metrics::timeline::failovers(&report.events, &report.throughput, &t, &lost);
        }
        report.judge();
        write_json(&self.run_dir.join("report.json"), &report)?;
        Ok(report)
    }

    fn used_kinds(&self) -> Vec<WorkloadKind> {
        let used = self.load.used();
        [
            WorkloadKind::Redpacket,
            WorkloadKind::Seckill,
            WorkloadKind::Lock,
        ]
        .into_iter()
        .zip(used)
        .filter(|(_, u)| *u)
        .map(|(k, _)| k)
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

/// Audits `records` against the Redis at `master` for every workload of
/// `record`, filling `report` (workload sections, audit summary).
pub async fn audit_into(
    record: &RunRecord,
    w: &Workloads,
    master: SocketAddr,
    auth: &Auth,
    node: &str,
    records: &[journal::JournalRecord],
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut conn = crate::client::connect(master, auth)
        .await
        .with_context(|| format!("connecting to {node} ({master}) for the audit"))?;
    report.run_id = record.run_id.clone();
    let mut lost = Vec::new();
    for kind in &record.workloads {
        match kind {
            WorkloadKind::Redpacket => {
                w.redpacket
                    .audit(&mut conn, records, report, &mut lost)
                    .await
                    .with_context(|| format!("auditing red packets on {node}"))?;
            }
            WorkloadKind::Seckill => {
                w.seckill
                    .audit(&mut conn, records, report, &mut lost)
                    .await
                    .with_context(|| format!("auditing seckill on {node}"))?;
            }
            WorkloadKind::Lock => {
                w.lock
                    .audit(&mut conn, records, report, &mut lost)
                    .await
                    .with_context(|| format!("auditing locks on {node}"))?;
            }
            WorkloadKind::Mixed => {}
        }
    }
    lost.sort_by_key(|r| r.at_ms);
    report.audit.journal_records = records.len() as u64;
    report.audit.checked_node = node.to_string();
    report.audit.lost_acked_writes = lost.len() as u64;
    lost.truncate(1000);
    report.audit.lost = lost;
    report.judge();
    Ok(())
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).expect("serialises");
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
