//! Tests: nothing a run creates outlives it unnoticed. A `load` killed with
//! SIGKILL leaves its nodes behind; plain `grabstorm down` removes them (on
//! both backends) but never a run whose owner still runs; `down --all`
//! stays within its state dir. What is left is counted with the Docker API
//! (by label) and `/proc` (by pid), never with grabstorm's own code.

use crate::support::{grabstorm_bin, grabstorm_in, pid_alive, processes_under, state_dir, text};
use bollard::models::{ContainerSummary, Network};
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
};
use bollard::Docker;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The label every Docker object of a state dir carries (its canonical path).
const STATE_DIR_LABEL: &str = "grabstorm.state_dir";

/// Runs `args` and panics with its output unless it succeeded; returns stdout.
fn ok(state: &Path, args: &[&str]) -> String {
    let out = grabstorm_in(state, args);
    assert!(
        out.status.success(),
        "grabstorm {args:?} failed: {}\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `up` of a small topology (1 replica, 1 sentinel: 3 nodes), kept running.
fn up_small(state: &Path, backend: &str) {
    let args = [
        "up",
        "--backend",
        backend,
        "--replicas",
        "1",
        "--sentinels",
        "1",
        "--quorum",
        "1",
    ];
    ok(state, &args);
}

/// A `grabstorm load` in the background, SIGKILLed on drop if still there.
struct Load(Child);

impl Load {
    fn start(state: &Path, backend: &str) -> Load {
        let child = Command::new(grabstorm_bin())
            .arg("--state-dir")
            .arg(state)
            .args([
                "load",
                "--backend",
                backend,
                "--grabbers",
                "20",
                "--connections",
                "2",
                "--duration",
                "120s",
                "--hard-cap",
                "150s",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn grabstorm load");
        Load(child)
    }

    /// Waits until the load runs (its journal exists: the topology is
    /// ready and the grabbers started).
    fn wait_running(&mut self, state: &Path) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let journal = std::fs::read_dir(state.join("runs"))
                .map(|d| {
                    d.flatten()
                        .any(|e| e.path().join(grabstorm::audit::journal::FILE_NAME).exists())
                })
                .unwrap_or(false);
            if journal {
                return;
            }
            if let Some(status) = self.0.try_wait().unwrap() {
                panic!("the load exited ({status}) before it ran");
            }
            assert!(
                Instant::now() < deadline,
                "the load did not start within 120s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL, and reap it.
    fn kill9(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `f` against the Docker engine on a small runtime of its own;
/// `None` when no engine answers (outside CI, the test is then skipped).
fn with_docker<T>(f: impl AsyncFnOnce(&Docker) -> T) -> Option<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = Docker::connect_with_local_defaults().ok()?;
        tokio::time::timeout(Duration::from_secs(3), docker.ping())
            .await
            .ok()?
            .ok()?;
        Some(f(&docker).await)
    })
}

fn docker_or_skip(test: &str) -> bool {
    if with_docker(async |_| ()).is_some() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: CI=true needs a Docker engine");
    }
    eprintln!("SKIPPED {test}: no Docker engine answers");
    false
}

fn label_of(state: &Path) -> String {
    format!(
        "{STATE_DIR_LABEL}={}",
        state.canonicalize().unwrap().display()
    )
}

/// The containers and networks carrying `label`, as the engine lists them.
async fn labelled(docker: &Docker, label: &str) -> (Vec<ContainerSummary>, Vec<Network>) {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .unwrap();
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .unwrap();
    (containers, networks)
}

/// What the engine holds with `state`'s label: containers (name, state) and network names.
fn docker_objects(state: &Path) -> (Vec<(String, String)>, Vec<String>) {
    let label = label_of(state);
    let (containers, networks) = with_docker(async |docker| labelled(docker, &label).await)
        .expect("the Docker engine answered a moment ago");
    let containers = containers
        .into_iter()
        .map(|c| {
            let name = c.names.unwrap_or_default().join(",");
            let state = c.state.map(|s| s.to_string()).unwrap_or_default();
            (name, state)
        })
        .collect();
    (
        containers,
        networks.into_iter().filter_map(|n| n.name).collect(),
    )
}

fn running(objects: &(Vec<(String, String)>, Vec<String>)) -> usize {
    objects.0.iter().filter(|(_, s)| s == "running").count()
}

/// Removes, when dropped, whatever the engine still holds with the state
/// dir's label and every process under it: a failed assertion leaves
/// nothing behind. Uses the engine and `/proc` directly, not grabstorm.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(canonical) = self.0.canonicalize() else {
            return;
        };
        for pid in processes_under(&canonical) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let label = label_of(&canonical);
        let _ = std::thread::spawn(move || {
            with_docker(async |docker| {
                let (containers, networks) = labelled(docker, &label).await;
                for c in containers {
                    let options = RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    };
                    let _ = docker
                        .remove_container(&c.id.unwrap_or_default(), Some(options))
                        .await;
                }
                for n in networks {
                    let _ = docker.remove_network(&n.id.unwrap_or_default()).await;
                }
            })
        })
        .join();
    }
}

#[test]
fn a_docker_load_killed_with_sigkill_is_removed_by_plain_down() {
    if !docker_or_skip("a_docker_load_killed_with_sigkill_is_removed_by_plain_down") {
        return;
    }
    let state = state_dir();
    let s = state.path();
    let _cleanup = Cleanup(s.to_path_buf());
    let mut load = Load::start(s, "docker");
    load.wait_running(s);
    load.kill9();

    // The crash left the default topology (3 Redis, 3 sentinels) and its network.
    let left = docker_objects(s);
    assert_eq!(left.0.len(), 6, "{left:?}");
    assert_eq!(running(&left), 6, "{left:?}");
    assert_eq!(left.1.len(), 1, "{left:?}");

    let said = ok(s, &["down"]);
    assert!(said.contains("crashed"), "{said}");
    assert_eq!(said.matches("container ").count(), 6, "{said}");
    assert_eq!(said.matches("network ").count(), 1, "{said}");
    let after = docker_objects(s);
    assert_eq!(after, (vec![], vec![]), "{said}");

    let again = ok(s, &["down"]);
    assert!(again.contains("nothing to remove"), "{again}");
}

#[test]
fn a_local_load_is_left_alone_while_it_runs_and_removed_once_killed() {
    let state = state_dir();
    let s = state.path();
    let _cleanup = Cleanup(s.to_path_buf());
    let mut load = Load::start(s, "local");
    load.wait_running(s);
    let pids = processes_under(s);
    assert_eq!(pids.len(), 6, "{pids:?}");

    // Its owner runs: plain `down` must not touch it.
    let said = ok(s, &["down"]);
    assert!(
        said.contains(&format!("in use by pid {}", load.pid())),
        "{said}"
    );
    assert!(pids.iter().all(|&p| pid_alive(p)), "{said}");

    load.kill9();
    assert!(
        pids.iter().all(|&p| pid_alive(p)),
        "the nodes outlive their owner"
    );
    let said = ok(s, &["down"]);
    assert!(said.contains("crashed"), "{said}");
    assert_eq!(said.matches("killed pid").count(), 6, "{said}");
    for pid in &pids {
        assert!(!pid_alive(*pid), "pid {pid} survived `down`:\n{said}");
    }
    assert_eq!(processes_under(s), Vec::<i32>::new());
}

#[test]
fn down_all_removes_its_own_state_dir_runs_only() {
    if !docker_or_skip("down_all_removes_its_own_state_dir_runs_only") {
        return;
    }
    let (a, b, c) = (state_dir(), state_dir(), state_dir());
    let _cleanup = [a.path(), b.path(), c.path()].map(|p| Cleanup(p.to_path_buf()));
    for s in [a.path(), b.path()] {
        up_small(s, "docker");
        let objects = docker_objects(s);
        assert_eq!(running(&objects), 3, "{objects:?}");
    }

    // A third state dir has nothing of its own: A's and B's runs stay.
    let said = ok(c.path(), &["down", "--all", "--backend", "docker"]);
    assert!(said.contains("nothing to remove"), "{said}");
    assert_eq!(running(&docker_objects(a.path())), 3, "{said}");
    assert_eq!(running(&docker_objects(b.path())), 3, "{said}");

    // A kept run that is not the state file's is left by plain `down`.
    std::fs::rename(
        a.path().join("current.json"),
        a.path().join("elsewhere.json"),
    )
    .unwrap();
    let said = ok(a.path(), &["down"]);
    assert!(said.contains("left running on purpose"), "{said}");
    assert_eq!(running(&docker_objects(a.path())), 3, "{said}");

    let said = ok(a.path(), &["down", "--all", "--backend", "docker"]);
    assert_eq!(said.matches("container ").count(), 3, "{said}");
    assert_eq!(docker_objects(a.path()), (vec![], vec![]), "{said}");
    assert_eq!(running(&docker_objects(b.path())), 3, "{said}");

    // B's run is its state file's: plain `down` removes it.
    let said = ok(b.path(), &["down"]);
    assert!(said.contains("removed run"), "{said}");
    assert_eq!(docker_objects(b.path()), (vec![], vec![]), "{said}");
}

#[test]
fn down_all_on_local_removes_its_own_state_dir_processes_only() {
    let (a, b, c) = (state_dir(), state_dir(), state_dir());
    let _cleanup = [a.path(), b.path(), c.path()].map(|p| Cleanup(p.to_path_buf()));
    up_small(a.path(), "local");
    up_small(b.path(), "local");
    let (pids_a, pids_b) = (processes_under(a.path()), processes_under(b.path()));
    assert_eq!((pids_a.len(), pids_b.len()), (3, 3));

    let said = ok(c.path(), &["down", "--all", "--backend", "local"]);
    assert!(said.contains("nothing to remove"), "{said}");
    assert!(
        pids_a.iter().chain(&pids_b).all(|&p| pid_alive(p)),
        "{said}"
    );

    let said = ok(a.path(), &["down", "--all", "--backend", "local"]);
    assert_eq!(said.matches("killed pid").count(), 3, "{said}");
    assert!(pids_a.iter().all(|&p| !pid_alive(p)), "{said}");
    assert!(pids_b.iter().all(|&p| pid_alive(p)), "{said}");

    ok(b.path(), &["down"]);
    assert!(pids_b.iter().all(|&p| !pid_alive(p)));
}
