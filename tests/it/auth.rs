//! Tests: the run's password on every node of both backends. Without it
//! `redis-cli -p PORT PING` answers NOAUTH on every Redis node and every
//! sentinel; with the password `status --json` shows, PONG. The state file
//! holding it is readable by its owner only.

use crate::support::{grabstorm_in as grabstorm, state_dir};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Runs `grabstorm down` when dropped, so a failed assertion leaves nothing.
struct DownOnDrop<'a>(&'a Path);

impl Drop for DownOnDrop<'_> {
    fn drop(&mut self) {
        let _ = grabstorm(self.0, &["down"]);
    }
}

/// What `redis-cli -p PORT [-a PW] PING` prints.
fn ping(port: u16, password: Option<&str>) -> String {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-p", &port.to_string()]);
    if let Some(pw) = password {
        cmd.args(["-a", pw, "--no-auth-warning"]);
    }
    let out = cmd
        .arg("PING")
        .output()
        .expect("redis-cli must be installed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Starts a topology on `backend`, checks every node refuses a client
/// without the password and answers one with it, and removes it.
fn every_node_requires_the_password(backend: &str) {
    let state = state_dir();
    let s = state.path();
    let up = grabstorm(s, &["up", "--backend", backend]);
    let _down = DownOnDrop(s);
    let printed = String::from_utf8_lossy(&up.stdout).to_string();
    assert!(
        up.status.success(),
        "up: {}",
        String::from_utf8_lossy(&up.stderr)
    );

    let mode = std::fs::metadata(s.join("current.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the state file holds the password");

    let status = grabstorm(s, &["status", "--json"]);
    assert!(status.status.success());
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let password = status["password"]
        .as_str()
        .expect("status shows the password");
    assert!(
        password.len() >= 32 && password.chars().all(|c| c.is_ascii_hexdigit()),
        "{password}"
    );
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6);
    let master_port = nodes
        .iter()
        .find(|n| n["name"] == "redis-1")
        .and_then(|n| n["host_addr"].as_str())
        .and_then(|a| a.rsplit_once(':'))
        .map(|(_, p)| p.to_string())
        .unwrap();
    assert!(
        printed.contains(&format!("redis-cli -p {master_port} -a {password}")),
        "up prints a ready redis-cli line:\n{printed}"
    );

    for n in nodes {
        let port: u16 = n["host_addr"]
            .as_str()
            .and_then(|a| a.rsplit_once(':'))
            .and_then(|(_, p)| p.parse().ok())
            .unwrap();
        let name = n["name"].as_str().unwrap();
        let without = ping(port, None);
        assert!(without.starts_with("NOAUTH"), "{name} without: {without}");
        let wrong = ping(port, Some("wrong"));
        assert!(
            wrong.starts_with("NOAUTH"),
            "{name} with a wrong one: {wrong}"
        );
        assert_eq!(ping(port, Some(password)), "PONG", "{name}");
        // grabstorm's own view reads every node with the password.
        assert_eq!(n["health"], "up", "{name}: {n}");
    }

    let down = grabstorm(s, &["down"]);
    assert!(down.status.success());
}

#[test]
fn every_local_node_requires_the_run_password() {
    every_node_requires_the_password("local");
}

#[test]
fn every_docker_node_requires_the_run_password() {
    if std::env::var("CI").as_deref() != Ok("true")
        && !Path::new("/var/run/docker.sock").exists()
        && std::env::var_os("DOCKER_HOST").is_none()
    {
        eprintln!("SKIPPED every_docker_node_requires_the_run_password: no Docker engine");
        return;
    }
    every_node_requires_the_password("docker");
}
