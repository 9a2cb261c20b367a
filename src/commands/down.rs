//! `grabstorm down`: remove the runs of this state dir, found by the state
//! file and by the manifests every run keeps in its run dir
//! ([`crate::topology::manifest`]). Plain `down` removes the state file's
//! run and every crashed run (owner dead, not kept on purpose); `--all`
//! every run of this state dir, recorded or only labelled; and
//! `--everything-on-engine` also every grabstorm object on the Docker
//! engine, whoever made it. A run whose owner still runs is never touched
//! without `--all`. What is removed (and what is left, and why) is printed
//! as it happens, or with `--json` as one object at the end.

use crate::cli::{BackendChoice, GlobalArgs};
use crate::topology::docker::DockerBackend;
use crate::topology::local::LocalBackend;
use crate::topology::manifest::{self, RecordedRun};
use crate::topology::state::StateError;
use crate::topology::{select, state, Backend, BackendKind, Topology};
use anyhow::Context;
use clap::Args;
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

const DOWN_HELP: &str = "\
What is removed:
  grabstorm down          the state file's run, and every crashed run of this state dir
                          (its grabstorm process is gone and it was not left running on
                          purpose by `up` or `--keep`). A run whose grabstorm process
                          still runs is left alone.
  grabstorm down --all    every run of this state dir, running or not, kept or not: the
                          runs on record, local processes under its run dirs, and Docker
                          objects labelled with this state dir. Nothing of other state dirs.
  grabstorm down --everything-on-engine
                          --all, and then every grabstorm container and network on the
                          Docker engine, of any state dir or user, each listed.";

#[derive(Args, Debug, Clone, Default)]
#[command(after_help = DOWN_HELP)]
pub struct DownArgs {
    /// Remove every run of this state dir, even a kept one or one whose
    /// grabstorm process still runs (nothing of other state dirs).
    #[arg(long)]
    pub all: bool,
    /// --all, then also every grabstorm container and network on the Docker
    /// engine, of any state dir or user; lists what it removed.
    #[arg(long)]
    pub everything_on_engine: bool,
    /// With --all: whose leftovers to look for. auto: local processes, and
    /// Docker objects when an engine answers.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Print one JSON object at the end: `{removed: [{run_id, backend, why,
    /// nodes, what}], left: [{run_id, backend, why}], leftovers, engine,
    /// notes, errors}`.
    #[arg(long)]
    pub json: bool,
}

/// One run removed, or left alone.
#[derive(Serialize)]
struct RunEntry {
    run_id: String,
    backend: String,
    /// Why it was removed or left, in words.
    why: String,
    /// Its nodes by name (the state file's run; empty for a run known only
    /// by its record).
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<Vec<String>>,
    /// What was removed, one line each (processes, containers, networks, dirs).
    #[serde(skip_serializing_if = "Option::is_none")]
    what: Option<Vec<String>>,
}

/// Everything `down` did: printed as it happens, or kept for `--json`.
#[derive(Serialize, Default)]
struct DownOutput {
    removed: Vec<RunEntry>,
    left: Vec<RunEntry>,
    /// `--all`: processes and Docker objects of this state dir no record named.
    leftovers: Vec<String>,
    /// `--everything-on-engine`: every grabstorm object removed from the engine.
    engine: Vec<String>,
    notes: Vec<String>,
    errors: Vec<String>,
    #[serde(skip)]
    json: bool,
}

impl DownOutput {
    fn say(&self, line: String) {
        if !self.json {
            println!("{line}");
        }
    }

    fn note(&mut self, line: String) {
        self.say(line.clone());
        self.notes.push(line);
    }

    fn left(&mut self, run_id: &str, backend: BackendKind, why: String, line: String) {
        self.say(line);
        self.left.push(RunEntry {
            run_id: run_id.to_string(),
            backend: backend.to_string(),
            why,
            nodes: None,
            what: None,
        });
    }

    fn removed(&mut self, entry: RunEntry, headline: String) {
        self.say(headline);
        for line in entry.what.iter().flatten() {
            self.say(format!("  {line}"));
        }
        self.removed.push(entry);
    }
}

pub async fn run(global: &GlobalArgs, args: DownArgs) -> anyhow::Result<ExitCode> {
    let state_dir = crate::logging::state_dir(global.state_dir.as_ref());
    let all = args.all || args.everything_on_engine;
    let current = match state::load(&state_dir) {
        Ok(t) => Some(t),
        Err(StateError::NoTopology(_)) => None,
        Err(e @ StateError::Corrupt { .. }) if !all => return Err(e.into()),
        Err(e) => {
            tracing::warn!("{e}: removing it");
            state::clear(&state_dir)?;
            None
        }
    };
    let runs = manifest::runs_of(&state_dir);
    let mut backends = Backends::default();
    let mut out = DownOutput {
        json: args.json,
        ..Default::default()
    };

    if let Some(t) = &current {
        let recorded = runs.iter().find(|r| r.run_id == t.run_id);
        match recorded.map(|r| r.owner).filter(|o| o.is_alive()) {
            Some(owner) if !all => out.left(
                &t.run_id,
                t.backend,
                format!("in use by pid {} (still running)", owner.pid),
                format!(
                    "run {} is in use by pid {} (still running): left alone; stop that process, or use `grabstorm down --all`",
                    t.run_id, owner.pid
                ),
            ),
            _ => match remove_current(&mut backends, t, recorded, &state_dir).await {
                Ok(lines) => out.removed(
                    RunEntry {
                        run_id: t.run_id.clone(),
                        backend: t.backend.to_string(),
                        why: "the state file's run".into(),
                        nodes: Some(t.nodes.iter().map(|n| n.name.clone()).collect()),
                        what: Some(lines),
                    },
                    format!(
                        "removed run {} ({} backend): {} nodes, {}",
                        t.run_id,
                        t.backend,
                        t.nodes.len(),
                        t.run_dir.display()
                    ),
                ),
                Err(e) => out.errors.push(format!("run {}: {e:#}", t.run_id)),
            },
        }
    }

    for run in runs
        .iter()
        .filter(|r| current.as_ref().is_none_or(|t| t.run_id != r.run_id))
    {
        if !all {
            if run.owner.is_alive() {
                out.left(
                    &run.run_id,
                    run.backend,
                    format!("in use by pid {} (still running)", run.owner.pid),
                    format!(
                        "left run {} ({}): in use by pid {} (still running)",
                        run.run_id, run.backend, run.owner.pid
                    ),
                );
                continue;
            }
            if run.kept {
                out.left(
                    &run.run_id,
                    run.backend,
                    "left running on purpose (`up`, `--keep`)".into(),
                    format!(
                        "left run {} ({}): left running on purpose (`up`, `--keep`); `grabstorm down --all` removes it",
                        run.run_id, run.backend
                    ),
                );
                continue;
            }
        }
        match remove_recorded(&mut backends, run, &state_dir).await {
            Ok(lines) => {
                let why = if run.owner.is_alive() {
                    format!("its owner pid {} still runs", run.owner.pid)
                } else if run.kept {
                    "kept".to_string()
                } else {
                    format!("crashed: its owner pid {} is gone", run.owner.pid)
                };
                let headline = format!("removed run {} ({}, {why}):", run.run_id, run.backend);
                out.removed(
                    RunEntry {
                        run_id: run.run_id.clone(),
                        backend: run.backend.to_string(),
                        why,
                        nodes: None,
                        what: Some(lines),
                    },
                    headline,
                );
            }
            Err(e) => out.errors.push(format!("run {}: {e:#}", run.run_id)),
        }
    }

    if all {
        let mut leftovers = LocalBackend::new(&state_dir).down_all().await?;
        if args.backend != BackendChoice::Local {
            match backends.get(BackendKind::Docker, &state_dir).await {
                Ok(docker) => leftovers.extend(docker.down_all().await?),
                Err(e) if args.backend == BackendChoice::Docker => return Err(e),
                Err(e) => out.note(format!("Docker leftovers not checked: {e:#}")),
            }
        }
        for line in &leftovers {
            out.say(line.clone());
        }
        out.leftovers = leftovers;
    }
    if args.everything_on_engine {
        let docker = DockerBackend::connect(None)
            .await
            .context("--everything-on-engine needs the Docker engine")?;
        let lines = docker.remove_everything_on_engine().await?;
        out.say(format!(
            "{} grabstorm objects on the engine (any state dir):",
            lines.len()
        ));
        for line in &lines {
            out.say(format!("  {line}"));
        }
        out.engine = lines;
    }
    let removed_any =
        !out.removed.is_empty() || !out.leftovers.is_empty() || !out.engine.is_empty();
    if !removed_any && out.errors.is_empty() {
        out.note(format!(
            "no running topology in {}: nothing to remove{}",
            state_dir.display(),
            if all {
                ""
            } else {
                " (`grabstorm down --all` also removes kept runs and leftovers)"
            }
        ));
    }
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    }
    if !out.errors.is_empty() {
        anyhow::bail!("could not remove everything: {}", out.errors.join("; "));
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes the state file's run and the state file; returns what went
/// (one line each) when the run is on record.
async fn remove_current(
    backends: &mut Backends,
    t: &Topology,
    recorded: Option<&RecordedRun>,
    state_dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let backend = backends.get(t.backend, state_dir).await?;
    let lines = match recorded {
        Some(run) => backend.remove_recorded(run).await?,
        None => {
            backend.down(t).await?;
            Vec::new()
        }
    };
    state::clear(state_dir)?;
    Ok(lines)
}

async fn remove_recorded(
    backends: &mut Backends,
    run: &RecordedRun,
    state_dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let backend = backends.get(run.backend, state_dir).await?;
    backend.remove_recorded(run).await
}

/// The backends met so far, each connected once.
#[derive(Default)]
struct Backends(Vec<(BackendKind, Arc<dyn Backend>)>);

impl Backends {
    async fn get(
        &mut self,
        kind: BackendKind,
        state_dir: &Path,
    ) -> anyhow::Result<Arc<dyn Backend>> {
        if let Some((_, b)) = self.0.iter().find(|(k, _)| *k == kind) {
            return Ok(b.clone());
        }
        let (backend, _) = select::backend_of(kind, state_dir).await?;
        self.0.push((kind, backend.clone()));
        Ok(backend)
    }
}
