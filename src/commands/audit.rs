//! `grabstorm audit DIR`: re-runs the checks of a finished run from its
//! journal (`DIR/journal.bin`, `DIR/run.json`) against the live Redis:
//! the master of the running topology (state file), the fixed address the
//! run used, or `--addr`. Prints the checks (or JSON), writes
//! `DIR/audit.json`, and exits 1 when a check fails.

use crate::audit::journal;
use crate::cli::GlobalArgs;
use crate::commands::{Exit, ExitAs, EXIT_FAILED, EXIT_USAGE};
use crate::lab::{audit_into, AuditSource, RunRecord};
use crate::report::model::Report;
use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug, Clone, Default)]
pub struct AuditArgs {
    /// Run directory of a finished `grabstorm load` (its --out DIR).
    pub dir: PathBuf,
    /// Check against this Redis instead of the running topology's master.
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<SocketAddr>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub attach: crate::cli::AttachArgs,
}

pub async fn run(global: &GlobalArgs, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let run_json = args.dir.join("run.json");
    let text = match std::fs::read_to_string(&run_json) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "grabstorm audit: cannot read {}: {e} (expected the --out DIR of a finished `grabstorm load`)",
                run_json.display()
            );
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let record: RunRecord = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a grabstorm run record", run_json.display()))?;
    let records = journal::read(&journal::in_dir(&args.dir))?;
    let state_dir = crate::logging::state_dir(global.state_dir.as_ref());
    let (source, node, auth) = match (args.addr, record.fixed_addr) {
        // A node of the running topology needs its password; a standalone server none.
        (Some(a), _) | (None, Some(a)) => {
            let auth = match &args.attach.external.password {
                Some(pw) => crate::topology::Auth::password(Some(pw)),
                None => crate::topology::state::load(&state_dir)
                    .ok()
                    .filter(|t| t.node_by_addr(&a.to_string()).is_some())
                    .map(|t| t.auth())
                    .unwrap_or_default(),
            };
            (AuditSource::Node(a), a.to_string(), auth)
        }
        (None, None) => {
            let t = match args.attach.target() {
                Some(target) => crate::topology::external::discover(&target)
                    .await
                    .context("attaching to the topology")?,
                None => crate::topology::state::load(&state_dir).with_context(|| {
                    format!(
                        "no running topology in {} to audit against (or pass --addr, --sentinel or --cluster)",
                        state_dir.display()
                    )
                })?,
            };
            if t.spec.is_cluster() {
                let auth = t.auth();
                (
                    AuditSource::Cluster(Box::new(t)),
                    "each slot's master as the cluster maps it now".to_string(),
                    auth,
                )
            } else {
                let addr = crate::topology::admin::sentinel::master_or_first_node(&t)
                    .await
                    .context("asking the sentinels for the master")?;
                let name = t
                    .nodes
                    .iter()
                    .find(|n| n.host_addr == addr)
                    .map(|n| n.name.clone())
                    .unwrap_or_else(|| addr.to_string());
                (AuditSource::Node(addr), name, t.auth())
            }
        }
    };
    // Keep what only the live run measured (latency, timeline), redo the checks.
    let mut report: Report = std::fs::read_to_string(args.dir.join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    report.seed = record.seed;
    report.redpacket = None;
    report.seckill = None;
    // The run's lock sections keep what only the run could count (attempts,
    // waits, TTL expiries, vanished grants); the audit redoes the rest.
    report.audit = Default::default();
    report.expectations.clear();
    let w = record.workloads()?;
    let audited = audit_into(&record, &w, &source, &auth, &node, &records, &mut report).await;
    let from_sentinel = args.addr.is_none() && record.fixed_addr.is_none();
    let unreachable = |e: &anyhow::Error| {
        e.chain()
            .any(|c| c.downcast_ref::<crate::client::ConnectError>().is_some())
    };
    match audited {
        // Sentinel names the master it last agreed on: in the seconds of a
        // failover that is the node that just died.
        Err(e) if from_sentinel && unreachable(&e) => {
            return Err(anyhow::anyhow!(
                "Sentinel names {node} ({source}) as the master, but it does not answer ({e:#}). \
                 A failover may be under way: retry once `grabstorm status` shows the sentinels \
                 agree on a live master, or pass --addr"
            ))
            .or_exit(Exit::LabDown)
        }
        r => {
            r?;
        }
    }
    let out = args.dir.join("audit.json");
    std::fs::write(&out, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.summary_tables());
        println!("audit: {}", out.display());
    }
    Ok(if report.verdict.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}
