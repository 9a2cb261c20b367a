//! Tests: the Docker backend against the real engine, with the image built
//! from the host's redis-server (nothing is ever pulled). Without an engine
//! they skip with a reason, except on CI (`CI=true`), where they fail.
//! Traffic from the tests goes only to the 127.0.0.1 ports the containers
//! publish.

use grabstorm::topology::docker::DockerBackend;
use grabstorm::topology::image::ensure_redis_image;
use grabstorm::topology::{state, Backend, NodeKind, ProcessState, Topology, RUN_LABEL};
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The backend, or `None` (test skipped, reason printed) when no engine
/// answers outside CI.
pub(crate) async fn docker_or_skip(test: &str) -> Option<DockerBackend> {
    match DockerBackend::connect(None).await {
        Ok(d) => Some(d),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: CI=true needs a Docker engine: {e:#}")
        }
        Err(e) => {
            eprintln!("SKIPPED {test}: no Docker engine answers: {e:#}");
            None
        }
    }
}

/// Removes run `run_id` by label when dropped, so a failed assertion leaves
/// no containers behind (teardown runs on its own thread and runtime,
/// because `Drop` cannot await).
pub(crate) struct RemoveOnDrop(pub(crate) String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let run_id = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(d) = DockerBackend::connect(None).await {
                    let _ = d.remove_run(&run_id).await;
                }
            })
        })
        .join();
    }
}

async fn conn(t: &Topology, addr: SocketAddr) -> MultiplexedConnection {
    let url = crate::support::url_with(t.password.as_deref(), addr);
    let client = redis::Client::open(url).unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        client.get_multiplexed_async_connection(),
    )
    .await
    .unwrap_or_else(|_| panic!("{addr}: no connection within 5s"))
    .unwrap_or_else(|e| panic!("{addr}: {e}"))
}

async fn query<T: redis::FromRedisValue>(t: &Topology, addr: SocketAddr, cmd: &redis::Cmd) -> T {
    let mut c = conn(t, addr).await;
    tokio::time::timeout(Duration::from_secs(5), cmd.query_async(&mut c))
        .await
        .unwrap_or_else(|_| panic!("{addr}: no reply within 5s"))
        .unwrap_or_else(|e| panic!("{addr}: {e}"))
}

/// `INFO replication` of the node at `addr`, as field -> value.
async fn replication(t: &Topology, addr: SocketAddr) -> HashMap<String, String> {
    let info: String = query(t, addr, redis::cmd("INFO").arg("replication")).await;
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// `SENTINEL MASTER <name>` of the sentinel at `addr`, as field -> value.
async fn sentinel_master(t: &Topology, addr: SocketAddr, name: &str) -> HashMap<String, String> {
    let flat: Vec<String> = query(t, addr, redis::cmd("SENTINEL").arg("MASTER").arg(name)).await;
    flat.chunks(2)
        .map(|kv| (kv[0].clone(), kv[1].clone()))
        .collect()
}

/// Containers and networks the engine still holds for `run_id` (by label),
/// asked of the engine directly, not through the backend under test.
pub(crate) async fn leftovers(
    docker: &bollard::Docker,
    run_id: &str,
) -> (Vec<String>, Vec<String>) {
    use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};
    let filters = HashMap::from([("label".to_string(), vec![format!("{RUN_LABEL}={run_id}")])]);
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
    (
        containers.into_iter().filter_map(|c| c.id).collect(),
        networks.into_iter().filter_map(|n| n.name).collect(),
    )
}

/// `grabstorm --state-dir <state> <args>`, run to completion (blocking, on
/// a blocking thread).
async fn grabstorm(state: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(crate::support::grabstorm_bin());
    cmd.arg("--state-dir").arg(state).args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run grabstorm"))
        .await
        .unwrap()
}

/// `grabstorm up --backend docker --json <spec flags>`: the run it started,
/// as recorded in the state file (with its address map).
async fn up(state: &Path, spec_flags: &[&str]) -> Topology {
    let mut args = vec!["up", "--backend", "docker", "--json"];
    args.extend_from_slice(spec_flags);
    let out = grabstorm(state, &args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "grabstorm up failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_str(&stdout).expect("up --json prints JSON");
    let t = state::load(state).expect("up leaves a state file");
    assert_eq!(printed["run_id"], t.run_id.as_str());
    assert_eq!(printed["backend"], "docker");
    assert_eq!(printed["nodes"].as_array().unwrap().len(), t.nodes.len());
    t
}

/// `grabstorm down`, then the engine holds nothing of the run and its
/// run dir is gone.
async fn down_leaves_nothing(docker: &bollard::Docker, state: &Path, topology: &Topology) {
    let out = grabstorm(state, &["down"]).await;
    assert!(out.status.success(), "grabstorm down: {out:?}");
    assert_eq!(
        leftovers(docker, &topology.run_id).await,
        (vec![], vec![]),
        "containers / networks of run {} left after down",
        topology.run_id
    );
    assert!(
        !topology.run_dir.exists(),
        "run dir {} left after down",
        topology.run_dir.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_up_replicates_sentinels_agree_and_down_leaves_nothing() {
    let Some(backend) = docker_or_skip("default_up").await else {
        return;
    };
    let state = crate::support::state_dir();
    let t = up(state.path(), &[]).await;
    let _cleanup = RemoveOnDrop(t.run_id.clone());
    assert!(t.image.is_some() && t.network_id.is_some());
    assert!(
        t.run_dir.starts_with(state.path()),
        "{}",
        t.run_dir.display()
    );

    // Names, kinds and addresses: loopback for the host, the bridge inside.
    let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "redis-1",
            "redis-2",
            "redis-3",
            "sentinel-1",
            "sentinel-2",
            "sentinel-3"
        ]
    );
    for n in &t.nodes {
        assert!(n.host_addr.ip().is_loopback(), "{n:?}");
        let internal: SocketAddr = n.internal_addr.parse().unwrap();
        assert!(!internal.ip().is_loopback(), "{n:?}");
        let port = if n.kind == NodeKind::Redis {
            6379
        } else {
            26379
        };
        assert_eq!(internal.port(), port);
        // Sentinel names nodes by their fixed addresses, which map to the host's.
        assert_eq!(t.addr_map().resolve(&n.internal_addr), Some(n.host_addr));
    }

    // Roles: one master with two replicas linked to it.
    let master = t.node("redis-1").unwrap();
    let m = replication(&t, master.host_addr).await;
    assert_eq!(
        (m["role"].as_str(), m["connected_slaves"].as_str()),
        ("master", "2")
    );
    for r in ["redis-2", "redis-3"] {
        let info = replication(&t, t.node(r).unwrap().host_addr).await;
        assert_eq!(info["role"], "slave", "{r}");
        assert_eq!(info["master_link_status"], "up", "{r}");
        let (master_ip, _) = master.internal_addr.rsplit_once(':').unwrap();
        assert_eq!(info["master_host"], master_ip, "{r}");
    }

    // A write on the master is read on every replica.
    let _: () = query(
        &t,
        master.host_addr,
        redis::cmd("SET").arg("grab:probe").arg("42"),
    )
    .await;
    let acked: i64 = query(&t, master.host_addr, redis::cmd("WAIT").arg(2).arg(2000)).await;
    assert_eq!(acked, 2);
    for r in ["redis-2", "redis-3"] {
        let v: Option<String> = query(
            &t,
            t.node(r).unwrap().host_addr,
            redis::cmd("GET").arg("grab:probe"),
        )
        .await;
        assert_eq!(v.as_deref(), Some("42"), "{r}");
    }

    // Every sentinel names the master; mapped, it is the master's host address.
    let map = t.addr_map();
    for s in t.sentinels() {
        let named = named_master(&t, s.host_addr).await;
        assert_eq!(map.resolve(&named), Some(master.host_addr), "{}", s.name);
        let sm = sentinel_master(&t, s.host_addr, "mymaster").await;
        assert_eq!(
            (sm["quorum"].as_str(), sm["num-slaves"].as_str()),
            ("2", "2")
        );
        assert_eq!(sm["num-other-sentinels"], "2", "{}", s.name);
    }

    down_leaves_nothing(backend.docker(), state.path(), &t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_default_spec_comes_up_as_asked_and_a_killed_node_restarts_as_before() {
    let Some(backend) = docker_or_skip("non_default_spec").await else {
        return;
    };
    let state = crate::support::state_dir();
    let backend = backend.with_state_dir(state.path());
    let flags = [
        "--replicas",
        "1",
        "--sentinels",
        "5",
        "--quorum",
        "3",
        "--down-after-ms",
        "2000",
    ];
    let mut t = up(state.path(), &flags).await;
    let _cleanup = RemoveOnDrop(t.run_id.clone());
    assert_eq!(t.redis_nodes().count(), 2);
    assert_eq!(t.sentinels().count(), 5);
    for s in t.sentinels() {
        let sm = sentinel_master(&t, s.host_addr, "mymaster").await;
        assert_eq!(sm["quorum"], "3", "{}", s.name);
        assert_eq!(sm["num-slaves"], "1", "{}", s.name);
        assert_eq!(sm["num-other-sentinels"], "4", "{}", s.name);
        assert_eq!(sm["down-after-milliseconds"], "2000", "{}", s.name);
    }

    // kill / state / restart: the replica comes back at the same addresses,
    // with its config (it follows the master again).
    let before = t.node("redis-2").unwrap().clone();
    backend.kill(&t, "redis-2").await.unwrap();
    assert_eq!(
        backend.state(&t, "redis-2").await.unwrap(),
        ProcessState::Exited
    );
    backend.restart(&mut t, "redis-2").await.unwrap();
    assert_eq!(
        backend.state(&t, "redis-2").await.unwrap(),
        ProcessState::Running
    );
    let after = t.node("redis-2").unwrap().clone();
    assert_eq!(after, before);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let linked = tokio::time::timeout(Duration::from_secs(2), async {
            let url = crate::support::url_with(t.password.as_deref(), after.host_addr);
            let c = redis::Client::open(url).unwrap();
            let mut c = c.get_multiplexed_async_connection().await.ok()?;
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut c)
                .await
                .ok()?;
            Some(info.contains("master_link_status:up"))
        })
        .await;
        if let Ok(Some(true)) = linked {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "redis-2 did not rejoin within 10s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // pause / resume, and the log.
    backend.pause(&t, "sentinel-5").await.unwrap();
    assert_eq!(
        backend.state(&t, "sentinel-5").await.unwrap(),
        ProcessState::Paused
    );
    backend.resume(&t, "sentinel-5").await.unwrap();
    assert_eq!(
        backend.state(&t, "sentinel-5").await.unwrap(),
        ProcessState::Running
    );
    let log = backend.log_tail(&t, "sentinel-5", 50).await;
    assert!(log.contains("+monitor master mymaster"), "{log}");

    // A frozen node does not hold up the teardown.
    backend.pause(&t, "redis-1").await.unwrap();
    down_leaves_nothing(backend.docker(), state.path(), &t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_during_up_leaves_nothing() {
    let Some(backend) = docker_or_skip("sigint_during_up").await else {
        return;
    };
    let state = crate::support::state_dir();
    let mut child = Command::new(crate::support::grabstorm_bin())
        .arg("--state-dir")
        .arg(state.path())
        .args(["up", "--backend", "docker"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the run exists in the engine: its run dir is made
    // right after its network, and its first container soon after.
    let runs = state.path().join("runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    let run_id = loop {
        let found = std::fs::read_dir(&runs)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned());
        if let Some(id) = found {
            if !leftovers(backend.docker(), &id).await.0.is_empty() {
                break id;
            }
        }
        assert!(Instant::now() < deadline, "up made no container within 60s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _cleanup = RemoveOnDrop(run_id.clone());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if child.try_wait().unwrap().is_some() {
                return child.wait_with_output().unwrap();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("grabstorm up did not exit within 60s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    assert!(!out.status.success(), "up exited 0 after SIGINT");
    assert_eq!(leftovers(backend.docker(), &run_id).await, (vec![], vec![]));
    assert!(!runs.join(&run_id).exists(), "run dir left after SIGINT");
    assert!(
        state::load(state.path()).is_err(),
        "state file left after SIGINT"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_image_is_built_once_and_then_reused() {
    let test = "image_reuse";
    let Some(backend) = docker_or_skip(test).await else {
        return;
    };
    let docker = backend.docker();
    let (first, _) = ensure_redis_image(docker, None).await.unwrap();
    let (second, how) = ensure_redis_image(docker, None).await.unwrap();
    assert_eq!(first, second);
    let inspect = |tag: String| async move { docker.inspect_image(&tag).await.unwrap() };
    let image = inspect(second.clone()).await;
    if second.starts_with("grabstorm-redis:") {
        assert!(how.contains("reused"), "{how}");
        assert_eq!(second.len(), "grabstorm-redis:".len() + 12, "{second}");
        let labels = image.config.and_then(|c| c.labels).unwrap_or_default();
        assert_eq!(
            labels.get("grabstorm.managed").map(String::as_str),
            Some("true")
        );
    } else {
        assert!(second.starts_with("redis:7"), "{second}");
    }
    assert_eq!(inspect(first).await.id, image.id);

    // Asked for by name and present: used as is, not pulled.
    let (asked, how) = ensure_redis_image(docker, Some(second.clone()))
        .await
        .unwrap();
    assert_eq!(asked, second);
    assert!(how.contains("present locally (no pull)"), "{how}");
}

#[tokio::test]
async fn an_unreachable_engine_is_one_line_with_the_fix() {
    let err = DockerBackend::connect_to("unix:///nonexistent/grabstorm-test/docker.sock", None)
        .await
        .err()
        .expect("no engine behind a missing socket");
    let text = format!("{err:#}");
    assert!(
        text.contains("no Docker engine answers at unix:///nonexistent"),
        "{text}"
    );
    assert!(
        text.contains("--backend local") && text.contains("DOCKER_HOST"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");

    // The same through the command, which starts nothing.
    let state = crate::support::state_dir();
    let out = Command::new(crate::support::grabstorm_bin())
        .arg("--state-dir")
        .arg(state.path())
        .args(["up", "--backend", "docker"])
        .env(
            "DOCKER_HOST",
            "unix:///nonexistent/grabstorm-test/docker.sock",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The lab could not run: exit 3.
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no Docker engine answers"), "{stderr}");
    assert!(
        !state.path().join("runs").exists()
            || std::fs::read_dir(state.path().join("runs"))
                .unwrap()
                .next()
                .is_none()
    );
}

#[test]
fn compose_file_is_valid_and_describes_the_default_topology() {
    let compose = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/docker-compose.yml");
    let password = "0123456789abcdef0123456789abcdef";
    let run_with = |password: Option<&str>, image: Option<&str>, args: &[&str]| {
        let mut cmd = std::process::Command::new("docker-compose");
        cmd.arg("-f").arg(&compose).args(args);
        cmd.env_remove("REDIS_IMAGE").env_remove("REDIS_PASSWORD");
        if let Some(i) = image {
            cmd.env("REDIS_IMAGE", i);
        }
        if let Some(pw) = password {
            cmd.env("REDIS_PASSWORD", pw);
        }
        cmd.output()
    };
    let run = |image: Option<&str>, args: &[&str]| run_with(Some(password), image, args);
    let out = match run(None, &["config", "--services"]) {
        Ok(o) => o,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED compose check: docker-compose not runnable: {e}");
            return;
        }
        Err(e) => panic!("CI=true needs docker-compose: {e}"),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut services: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    services.sort();
    assert_eq!(
        services,
        [
            "redis-1",
            "redis-2",
            "redis-3",
            "sentinel-1",
            "sentinel-2",
            "sentinel-3"
        ]
    );
    let config = |image| {
        let o = run(image, &["config"]).unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let default = config(None);
    assert_eq!(default.matches("image: redis:7.2").count(), 6);
    // Long command lines come back folded: compare them unfolded.
    let flat = default.split_whitespace().collect::<Vec<_>>().join(" ");
    // Replicas follow the master by its fixed address, never by name.
    assert_eq!(flat.matches("--replicaof 172.28.0.11 6379").count(), 2);
    assert_eq!(flat.matches("--replica-announce-ip 172.28.0.1").count(), 3);
    // A password on every node, and none without one.
    assert_eq!(
        flat.matches(&format!("--requirepass {password}")).count(),
        3
    );
    assert_eq!(flat.matches(&format!("--masterauth {password}")).count(), 3);
    assert_eq!(
        flat.matches(&format!("REDIS_PASSWORD: {password}")).count(),
        6
    );
    // No obsolete `version:` key; a healthcheck on every service, with the
    // password, and the sentinels and replicas wait for healthy masters.
    let file = std::fs::read_to_string(&compose).unwrap();
    assert!(!file.lines().any(|l| l.starts_with("version:")), "{file}");
    let ping = |port| {
        format!("REDISCLI_AUTH=\"$$REDIS_PASSWORD\" redis-cli -p {port} ping | grep -q PONG")
    };
    assert_eq!(flat.matches(&ping(6379)).count(), 3, "{flat}");
    assert_eq!(flat.matches(&ping(26379)).count(), 3, "{flat}");
    assert_eq!(
        flat.matches("condition: service_healthy").count(),
        2 + 3 * 3
    );
    let refused = run_with(None, None, &["config"]).unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("set REDIS_PASSWORD first"));
    assert_eq!(
        config(Some("redis:7.0.15"))
            .matches("image: redis:7.0.15")
            .count(),
        6
    );
    // Published on loopback only.
    for line in default.lines().filter(|l| {
        l.trim_start().starts_with("- ") && l.contains(":6379") || l.contains(":26379/")
    }) {
        assert!(line.contains("127.0.0.1:"), "{line}");
    }
    // Each sentinel monitors the master by its fixed address, announces its
    // own and authenticates; nothing resolves names.
    for (line, count) in [
        ("sentinel monitor mymaster 172.28.0.11 6379 2", 3),
        ("sentinel auth-pass mymaster %s", 3),
        ("requirepass %s", 3),
        ("sentinel announce-ip %s", 3),
        ("ANNOUNCE_IP: 172.28.0.2", 3),
    ] {
        assert_eq!(flat.matches(line).count(), count, "{line}\n{flat}");
    }
    let sentinel = std::fs::read_to_string(compose.with_file_name("sentinel.conf")).unwrap();
    assert!(!sentinel.contains("resolve-hostnames") && !default.contains("resolve-hostnames"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scratch_image_runs_host_binaries_with_their_libraries() {
    use bollard::models::ContainerCreateBody;
    use bollard::query_parameters::{
        CreateContainerOptions, LogsOptions, RemoveContainerOptions, WaitContainerOptions,
    };
    use futures::StreamExt;
    let Some(backend) = docker_or_skip("scratch_image").await else {
        return;
    };
    let docker = backend.docker();
    let ls = std::path::PathBuf::from("/bin/ls");
    let tag = grabstorm::topology::image::build_scratch_image(
        docker,
        "grabstorm-test-ls",
        std::slice::from_ref(&ls),
    )
    .await
    .unwrap();
    let again = grabstorm::topology::image::build_scratch_image(docker, "grabstorm-test-ls", &[ls])
        .await
        .unwrap();
    assert_eq!(tag, again);
    assert!(tag.starts_with("grabstorm-test-ls:"), "{tag}");

    // `ls` starts (loader and libraries are there) and shows a world-writable /tmp.
    let name = format!("grabstorm-test-ls-{}", std::process::id());
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            ContainerCreateBody {
                image: Some(tag.clone()),
                cmd: Some(vec!["ls".into(), "-ld".into(), "/tmp".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    docker.start_container(&created.id, None).await.unwrap();
    let waited = tokio::time::timeout(
        Duration::from_secs(20),
        docker
            .wait_container(&created.id, None::<WaitContainerOptions>)
            .next(),
    )
    .await
    .expect("ls exits");
    let mut out = String::new();
    let mut logs = docker.logs(
        &created.id,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        }),
    );
    while let Some(Ok(chunk)) = logs.next().await {
        out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    let _ = docker
        .remove_container(
            &created.id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await;
    assert!(
        matches!(waited, Some(Ok(ref w)) if w.status_code == 0),
        "{waited:?}: {out}"
    );
    assert!(out.starts_with("drwxrwxrwt"), "{out}");
}

/// The `ip:port` the sentinel at `addr` names as master of `mymaster`.
async fn named_master(t: &Topology, addr: SocketAddr) -> String {
    let (host, port): (String, u16) = query(
        t,
        addr,
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg("mymaster"),
    )
    .await;
    format!("{host}:{port}")
}

/// `SENTINEL REPLICAS mymaster` of the sentinel at `addr`: each replica's
/// `ip:port` and flags.
async fn sentinel_replicas(t: &Topology, addr: SocketAddr) -> Vec<(String, String)> {
    let replicas: Vec<HashMap<String, String>> = query(
        t,
        addr,
        redis::cmd("SENTINEL").arg("REPLICAS").arg("mymaster"),
    )
    .await;
    let mut out: Vec<(String, String)> = replicas
        .iter()
        .map(|r| {
            let field = |k: &str| r.get(k).cloned().unwrap_or_default();
            (format!("{}:{}", field("ip"), field("port")), field("flags"))
        })
        .collect();
    out.sort();
    out
}

/// Issue 10 case 11: a master crashed and restarted after the failover
/// rejoins as a replica, and every sentinel then lists exactly the real
/// replicas at their real addresses (before fixed addresses, a phantom
/// ":6379" appeared: Sentinel had monitored the master by a DNS name the
/// engine forgets while the container is stopped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_and_restarted_master_leaves_no_phantom_replica() {
    let Some(_backend) = docker_or_skip("no_phantom_replica").await else {
        return;
    };
    let state = crate::support::state_dir();
    let t = up(state.path(), &[]).await;
    let _cleanup = RemoveOnDrop(t.run_id.clone());
    let internal = |name: &str| t.node(name).unwrap().internal_addr.clone();

    let crash = grabstorm(state.path(), &["fault", "segfault", "redis-1"]).await;
    assert!(crash.status.success(), "{crash:?}");
    // Every sentinel names a new master.
    let deadline = Instant::now() + Duration::from_secs(30);
    let new_master = loop {
        let mut named = Vec::new();
        for s in t.sentinels() {
            named.push(named_master(&t, s.host_addr).await);
        }
        named.dedup();
        if named.len() == 1 && named[0] != internal("redis-1") {
            break t
                .node_by_addr(&named[0])
                .expect("a known node")
                .name
                .clone();
        }
        assert!(Instant::now() < deadline, "no agreed failover: {named:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let restart = grabstorm(state.path(), &["fault", "restart", "redis-1"]).await;
    assert!(restart.status.success(), "{restart:?}");
    let old = t.node("redis-1").unwrap().host_addr;
    let mut want: Vec<String> = ["redis-1", "redis-2", "redis-3"]
        .into_iter()
        .filter(|n| *n != new_master)
        .map(internal)
        .collect();
    want.sort();
    // Sentinel converts the stale master (no REPLICAOF from grabstorm), and
    // every sentinel lists the two real replicas, neither down.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = replication(&t, old).await;
        let mut views = Vec::new();
        for s in t.sentinels() {
            views.push(sentinel_replicas(&t, s.host_addr).await);
        }
        let settled = info["role"] == "slave"
            && info["master_link_status"] == "up"
            && views.iter().all(|v| {
                v.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>() == want
                    && v.iter().all(|(_, flags)| flags == "slave")
            });
        if settled {
            assert_eq!(views.len(), 3);
            for v in &views {
                assert_eq!(v.len(), 2, "{v:?}");
                assert!(v.iter().all(|(a, _)| !a.starts_with(':')), "{v:?}");
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled within 60s: redis-1 {:?}/{:?}, sentinels list {views:?}, want {want:?}",
            info.get("role"),
            info.get("master_link_status")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let down = grabstorm(state.path(), &["down"]).await;
    assert!(down.status.success(), "{down:?}");
}
