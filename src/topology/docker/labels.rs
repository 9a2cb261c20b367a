//! The labels every network and container of a run carries
//! (`grabstorm.run=<id>`, `grabstorm.managed=true` and
//! `grabstorm.state_dir=<canonical state dir>`), and removal by label:
//! teardown finds a run's objects by their labels, so a half-started or
//! crashed run is removed as completely as a finished one, and `down --all`
//! stays within its state dir.

use super::engine::{call, is_not_found};
use super::DockerBackend;
use crate::topology::state;
use crate::topology::{MANAGED_LABEL, RUN_LABEL, STATE_DIR_LABEL};
use anyhow::{bail, Result};
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
};
use futures::future::join_all;
use std::collections::HashMap;
use std::path::Path;

/// The labels every object of run `run_id` carries; `run_dir` (canonical,
/// `<state_dir>/runs/<run_id>`) names the state dir.
/// Label naming the node a container is (or works on).
pub(super) const NODE_LABEL: &str = "grabstorm.node";

pub fn run_labels(run_id: &str, run_dir: &Path) -> HashMap<String, String> {
    let state_dir = state::state_dir_of(run_dir).unwrap_or(run_dir);
    HashMap::from([
        (RUN_LABEL.to_string(), run_id.to_string()),
        (MANAGED_LABEL.to_string(), "true".to_string()),
        (STATE_DIR_LABEL.to_string(), label_value(state_dir)),
    ])
}

/// A path as a label value (and label filter) names it.
pub(super) fn label_value(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

impl DockerBackend {
    /// Removes every container and the network of run `run_id`, found by
    /// label (so a half-started run goes too); returns what was removed.
    pub async fn remove_run(&self, run_id: &str) -> Result<Vec<String>> {
        self.remove_labelled(&[format!("{RUN_LABEL}={run_id}")])
            .await
    }

    /// Removes every grabstorm container and network on the engine, of
    /// any state dir and any user; returns what was removed, one line each.
    pub async fn remove_everything_on_engine(&self) -> Result<Vec<String>> {
        self.remove_labelled(&[format!("{MANAGED_LABEL}=true")])
            .await
    }

    /// Removes the containers and networks carrying every one of `labels`.
    pub(super) async fn remove_labelled(&self, labels: &[String]) -> Result<Vec<String>> {
        let label = labels.join(", ");
        let filters = HashMap::from([("label".to_string(), labels.to_vec())]);
        let containers = call(
            format!("listing containers labelled {label}"),
            self.docker.list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            })),
        )
        .await?;
        let removals = containers.iter().map(|c| async move {
            let id = c.id.clone().unwrap_or_default();
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_else(|| id.clone());
            // `v`: the official redis image declares a volume for /data; it goes with the container.
            let options = RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            };
            match call(
                format!("removing container {name}"),
                self.docker.remove_container(&id, Some(options)),
            )
            .await
            {
                Ok(()) => Ok(format!("container {name} removed")),
                Err(e) if is_not_found(&e) => Ok(format!("container {name} already gone")),
                Err(e) => Err(e),
            }
        });
        let mut removed = Vec::new();
        let mut errors = Vec::new();
        for r in join_all(removals).await {
            match r {
                Ok(line) => removed.push(line),
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        let networks = call(
            format!("listing networks labelled {label}"),
            self.docker.list_networks(Some(ListNetworksOptions {
                filters: Some(filters),
            })),
        )
        .await?;
        for n in networks {
            let id = n.id.unwrap_or_default();
            let name = n.name.unwrap_or_else(|| id.clone());
            match call(
                format!("removing network {name}"),
                self.docker.remove_network(&id),
            )
            .await
            {
                Ok(()) => removed.push(format!("network {name} removed")),
                Err(e) if is_not_found(&e) => {}
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        if !errors.is_empty() {
            bail!("could not remove everything: {}", errors.join("; "));
        }
        Ok(removed)
    }
}
