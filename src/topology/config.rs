//! The config files of a [`Plan`]: every line of redis.conf and
//! sentinel.conf, rendered once for both backends. A backend supplies the
//! addresses its nodes got ([`Addresses`]) and its placement lines (where
//! the process binds, keeps its files, whether it daemonizes); everything
//! else is the same on Docker and locally.
//!
//! In Cluster mode a data node gets no `replicaof`: the nodes are joined
//! into a cluster after they start (`cluster_setup`), and each node keeps
//! what it learns in `nodes.conf`, in its own data dir (the `dir` of its
//! placement), so a restarted node rejoins with its own identity. The bus
//! port (`cluster-port`) is a placement line too: a free loopback port
//! locally, a fixed one inside each container on Docker. Why the nodes
//! announce what they announce: see `cluster_lines`.

use super::plan::{Addresses, Plan, PlanError, PlannedNode, FIRST_MASTER};
use super::NodeKind;
use std::net::SocketAddr;

/// The address `node` was assigned.
fn address(addrs: &Addresses, node: &str) -> Result<SocketAddr, PlanError> {
    addrs
        .get(node)
        .copied()
        .ok_or_else(|| PlanError::NoAddress(node.to_string()))
}

/// The config file of `node` (redis.conf or sentinel.conf by its kind).
pub fn render(
    plan: &Plan,
    node: &str,
    addrs: &Addresses,
    placement: &[String],
) -> Result<String, PlanError> {
    let me = plan.node(node)?;
    let lines = match me.kind {
        NodeKind::Redis => redis_lines(plan, me, addrs)?,
        NodeKind::Sentinel => sentinel_lines(plan, me, addrs)?,
    };
    let header = format!(
        "# grabstorm: {} {} of run {}{}",
        me.kind,
        me.name,
        plan.run_id,
        match me.kind {
            NodeKind::Redis => "",
            NodeKind::Sentinel => "; Sentinel rewrites this file",
        }
    );
    let mut text = header;
    text.push('\n');
    for line in placement.iter().chain(&lines) {
        text.push_str(line);
        text.push('\n');
    }
    Ok(text)
}

/// The lines of a data node's redis.conf that do not depend on the backend.
fn redis_lines(plan: &Plan, me: &PlannedNode, addrs: &Addresses) -> Result<Vec<String>, PlanError> {
    let spec = &plan.spec;
    let own = address(addrs, &me.name)?;
    let mut lines = vec![
        format!("port {}", own.port()),
        // The lab's own network or loopback only; the password guards the node.
        "protected-mode no".into(),
        // Faults need DEBUG SEGFAULT / DEBUG SLEEP.
        "enable-debug-command yes".into(),
        // A crash should end the process at once, not run a memory test first.
        "crash-memcheck-enabled no".into(),
        // Without these a replica's first sync waits 5 s for more replicas to join.
        "repl-diskless-sync yes".into(),
        "repl-diskless-sync-delay 0".into(),
        format!("min-replicas-to-write {}", spec.min_replicas_to_write),
        format!("min-replicas-max-lag {}", spec.min_replicas_max_lag_s),
    ];
    lines.extend(spec.persistence.config_lines());
    // Sentinel and the master learn a replica's address from this, not from
    // a name or a connection's source address that may not stay valid.
    lines.push(format!("replica-announce-ip {}", own.ip()));
    if let Some(pw) = &plan.password {
        lines.push(format!("requirepass {pw}"));
        // A master may be demoted and must then authenticate to the new one.
        lines.push(format!("masterauth {pw}"));
    }
    if spec.is_cluster() {
        lines.extend(cluster_lines(plan, own));
    } else if me.name != FIRST_MASTER {
        let master = address(addrs, FIRST_MASTER)?;
        lines.push(format!("replicaof {} {}", master.ip(), master.port()));
    }
    Ok(lines)
}

/// A Cluster node's own lines. Two addresses matter, for two audiences:
///
/// - Its peers (the cluster bus, replication) reach it at `own`, announced
///   as `cluster-announce-ip`: the bridge address on Docker, 127.0.0.1
///   locally. Replicas dial their master's announced ip, never a hostname.
/// - Clients are told where a slot lives by MOVED/ASK and `CLUSTER SHARDS`/
///   `SLOTS`. With `cluster-preferred-endpoint-type hostname` that is the
///   announced hostname and the client port. The hostname is `127.0.0.1`
///   (a valid Redis hostname: letters, digits, '-' and '.'), and every
///   node listens on the port number the host reaches it at (Docker
///   publishes 127.0.0.1:P:P), so `redis-cli -c -p P` on the host follows
///   `MOVED 12182 127.0.0.1:P` to a reachable node. `127.0.0.1` rather than
///   `localhost`: `localhost` may resolve to `::1` first, where nothing
///   listens, and names nothing else on the host unambiguously either.
fn cluster_lines(plan: &Plan, own: SocketAddr) -> Vec<String> {
    let spec = &plan.spec;
    vec![
        "cluster-enabled yes".into(),
        // Relative to `dir`: the node's own data dir on both backends.
        "cluster-config-file nodes.conf".into(),
        format!("cluster-node-timeout {}", spec.node_timeout_ms),
        format!(
            "cluster-require-full-coverage {}",
            if spec.require_full_coverage {
                "yes"
            } else {
                "no"
            }
        ),
        format!("cluster-announce-ip {}", own.ip()),
        format!("cluster-announce-hostname {CLIENT_HOSTNAME}"),
        "cluster-preferred-endpoint-type hostname".into(),
    ]
}

/// What a Cluster node tells clients it is called (MOVED, ASK, `CLUSTER
/// SHARDS`): see `cluster_lines`.
pub const CLIENT_HOSTNAME: &str = "127.0.0.1";

/// The lines of a sentinel.conf that do not depend on the backend. The
/// replicas and the other sentinels are listed as `known-replica` /
/// `known-sentinel`, exactly what Sentinel itself writes after discovering
/// them: it would otherwise learn the replicas only at its next 10 s INFO
/// round and the peers after their first 2 s hello. The monitor line comes
/// before every line that names the master.
fn sentinel_lines(
    plan: &Plan,
    me: &PlannedNode,
    addrs: &Addresses,
) -> Result<Vec<String>, PlanError> {
    let spec = &plan.spec;
    let m = &spec.master_name;
    let own = address(addrs, &me.name)?;
    let master = address(addrs, FIRST_MASTER)?;
    let mut lines = vec![format!("port {}", own.port()), "protected-mode no".into()];
    if let Some(id) = &me.sentinel_id {
        lines.push(format!("sentinel myid {id}"));
    }
    // Peers learn this sentinel's address from its hellos.
    lines.push(format!("sentinel announce-ip {}", own.ip()));
    if let Some(pw) = &plan.password {
        // Sentinel also uses its requirepass to talk to its peers, which
        // share it.
        lines.push(format!("requirepass {pw}"));
    }
    lines.push(format!(
        "sentinel monitor {m} {} {} {}",
        master.ip(),
        master.port(),
        spec.quorum
    ));
    if let Some(pw) = &plan.password {
        lines.push(format!("sentinel auth-pass {m} {pw}"));
    }
    lines.extend([
        format!(
            "sentinel down-after-milliseconds {m} {}",
            spec.down_after_ms
        ),
        format!("sentinel failover-timeout {m} {}", spec.failover_timeout_ms),
        format!("sentinel parallel-syncs {m} {}", spec.parallel_syncs),
    ]);
    for replica in plan.redis_nodes().filter(|n| n.name != FIRST_MASTER) {
        let a = address(addrs, &replica.name)?;
        lines.push(format!(
            "sentinel known-replica {m} {} {}",
            a.ip(),
            a.port()
        ));
    }
    for peer in plan.sentinels().filter(|p| p.name != me.name) {
        let a = address(addrs, &peer.name)?;
        let id = peer.sentinel_id.as_deref().unwrap_or_default();
        lines.push(format!(
            "sentinel known-sentinel {m} {} {} {id}",
            a.ip(),
            a.port()
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Persistence, TopologySpec};

    fn addrs(plan: &Plan) -> Addresses {
        plan.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let port = match n.kind {
                    NodeKind::Redis => 7001 + i as u16,
                    NodeKind::Sentinel => 8001 + i as u16,
                };
                (n.name.clone(), SocketAddr::from(([127, 0, 0, 1], port)))
            })
            .collect()
    }

    #[test]
    fn replicas_follow_the_master_by_address_with_the_password() {
        let spec = TopologySpec {
            persistence: Persistence::AofEverysec,
            min_replicas_to_write: 1,
            min_replicas_max_lag_s: 5,
            ..Default::default()
        };
        let plan = Plan::with_password(&spec, "r1", Some("pw".into()));
        let a = addrs(&plan);
        let c = render(&plan, "redis-2", &a, &["bind 127.0.0.1".into()]).unwrap();
        let lines: Vec<&str> = c.lines().collect();
        for want in [
            "port 7002",
            "bind 127.0.0.1",
            "protected-mode no",
            "enable-debug-command yes",
            "crash-memcheck-enabled no",
            "repl-diskless-sync-delay 0",
            "appendonly yes",
            "appendfsync everysec",
            "min-replicas-to-write 1",
            "min-replicas-max-lag 5",
            "replica-announce-ip 127.0.0.1",
            "requirepass pw",
            "masterauth pw",
            "replicaof 127.0.0.1 7001",
        ] {
            assert!(lines.contains(&want), "missing {want:?} in\n{c}");
        }
        let master = render(&plan, "redis-1", &a, &[]).unwrap();
        assert!(!master.contains("replicaof"), "{master}");
        let open = Plan::with_password(&TopologySpec::default(), "r1", None);
        let c = render(&open, "redis-1", &addrs(&open), &[]).unwrap();
        assert!(
            !c.contains("requirepass") && !c.contains("masterauth"),
            "{c}"
        );
        assert!(c.contains("appendonly no\n") && c.contains("save \"\"\n"));
    }

    #[test]
    fn sentinels_monitor_the_master_by_address_and_know_their_peers() {
        let spec = TopologySpec {
            quorum: 3,
            sentinels: 5,
            down_after_ms: 1500,
            failover_timeout_ms: 20_000,
            parallel_syncs: 2,
            ..Default::default()
        };
        let plan = Plan::with_password(&spec, "r1", Some("pw".into()));
        let a = addrs(&plan);
        let c = render(&plan, "sentinel-1", &a, &[]).unwrap();
        let lines: Vec<&str> = c.lines().collect();
        let pos = |prefix: &str| lines.iter().position(|l| l.starts_with(prefix)).unwrap();
        let monitor = pos("sentinel monitor");
        assert!(monitor < pos("sentinel down-after"), "{c}");
        assert!(monitor < pos("sentinel auth-pass"), "{c}");
        assert!(monitor < pos("sentinel known-replica"), "{c}");
        let me = sentinel_id_of(&plan, "sentinel-1");
        let peer = sentinel_id_of(&plan, "sentinel-2");
        for want in [
            "port 8004".to_string(),
            "sentinel monitor mymaster 127.0.0.1 7001 3".into(),
            "sentinel auth-pass mymaster pw".into(),
            "requirepass pw".into(),
            "sentinel announce-ip 127.0.0.1".into(),
            "sentinel down-after-milliseconds mymaster 1500".into(),
            "sentinel failover-timeout mymaster 20000".into(),
            "sentinel parallel-syncs mymaster 2".into(),
            "sentinel known-replica mymaster 127.0.0.1 7002".into(),
            "sentinel known-replica mymaster 127.0.0.1 7003".into(),
            format!("sentinel myid {me}"),
            format!("sentinel known-sentinel mymaster 127.0.0.1 8005 {peer}"),
        ] {
            assert!(lines.contains(&want.as_str()), "missing {want:?} in\n{c}");
        }
        // A sentinel is not its own peer.
        assert!(!c.contains(&format!("8004 {me}")), "{c}");
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains("known-sentinel"))
                .count(),
            4
        );
    }

    fn sentinel_id_of(plan: &Plan, name: &str) -> String {
        plan.node(name).unwrap().sentinel_id.clone().unwrap()
    }

    #[test]
    fn cluster_nodes_join_by_config_not_replicaof_and_announce_loopback_to_clients() {
        let spec = TopologySpec {
            mode: crate::topology::HaMode::Cluster,
            node_timeout_ms: 1500,
            require_full_coverage: false,
            ..Default::default()
        };
        let plan = Plan::with_password(&spec, "r1", Some("pw".into()));
        assert_eq!(plan.sentinels().count(), 0);
        let mut a = addrs(&plan);
        a.insert("redis-4".into(), "172.20.0.5:41234".parse().unwrap());
        let c = render(&plan, "redis-4", &a, &["cluster-port 16379".into()]).unwrap();
        let lines: Vec<&str> = c.lines().collect();
        for want in [
            "port 41234",
            "cluster-port 16379",
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            "cluster-node-timeout 1500",
            "cluster-require-full-coverage no",
            "cluster-announce-ip 172.20.0.5",
            "cluster-announce-hostname 127.0.0.1",
            "cluster-preferred-endpoint-type hostname",
            "requirepass pw",
            "masterauth pw",
        ] {
            assert!(lines.contains(&want), "missing {want:?} in\n{c}");
        }
        assert!(!c.contains("replicaof"), "{c}");
        assert!(!c.contains("sentinel"), "{c}");
        let spec = TopologySpec {
            require_full_coverage: true,
            ..spec
        };
        let plan = Plan::with_password(&spec, "r1", None);
        let c = render(&plan, "redis-1", &addrs(&plan), &[]).unwrap();
        assert!(c.contains("cluster-require-full-coverage yes\n"), "{c}");
        assert!(!c.contains("masterauth"), "{c}");
    }

    #[test]
    fn a_node_without_an_address_is_an_error() {
        let plan = Plan::with_password(&TopologySpec::default(), "r1", None);
        let mut a = addrs(&plan);
        a.remove("redis-1");
        assert_eq!(
            render(&plan, "redis-2", &a, &[]),
            Err(PlanError::NoAddress("redis-1".into()))
        );
    }
}
