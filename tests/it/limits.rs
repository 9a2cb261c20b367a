//! Tests: every number a user gives is in range or refused, with exit 2
//! and a message naming the range, the same on the command line and in a
//! scenario file (`grabstorm check`); nothing is started for a refusal.

use crate::support::{grabstorm_bin, state_dir};
use std::process::Command;

/// (command line after `grabstorm`, the value refused, the range it names)
#[rustfmt::skip]
const REFUSED: &[(&str, &str, &str)] = &[
    ("load --grabbers 0", "0", "1 to 100000"),
    ("load --grabbers 100001", "100001", "1 to 100000"),
    ("load --grabbers 10000000", "10000000", "1 to 100000"),
    ("load --grabbers -5", "-5", "1 to 100000"),
    ("load --connections 0", "0", "1 to 1024"),
    ("load --connections 1025", "1025", "1 to 1024"),
    ("load --users 0", "0", "1 to 10000000"),
    ("load --users -1", "-1", "1 to 10000000"),
    ("load --duration 0s", "0s", "1s to 24h"),
    ("load --duration -5s", "-5s", "1s to 24h"),
    ("load --duration 25h", "25h", "1s to 24h"),
    ("load --hard-cap 0s", "0s", "1s to 24h"),
    ("load --think-ms 60001", "60001", "0 to 60000"),
    ("load --think-ms -1", "-1", "0 to 60000"),
    ("load --settle 0s", "0s", "1s to 1h"),
    ("load --packet-amount-cents 0", "0", "1 to 100000000"),
    ("load --packet-count 0", "0", "1 to 10000"),
    ("load --packet-count 10001", "10001", "1 to 10000"),
    ("load --packets 0", "0", "1 to 10000000"),
    ("load --naive-delay-ms 60001", "60001", "0 to 60000"),
    ("load --stock 0", "0", "1 to 100000000"),
    ("load --items 0", "0", "1 to 100000"),
    ("load --seckill-delay-ms -3", "-3", "0 to 60000"),
    ("load --lock-keys 0", "0", "1 to 100000"),
    ("load --lock-ttl-ms 0", "0", "1 to 3600000"),
    ("load --lock-hold-ms 3600001", "3600001", "0 to 3600000"),
    ("load --lock-die-between 100001", "100001", "0 to 100000"),
    ("load --lock-retry-ms 60001", "60001", "0 to 60000"),
    ("load --lock-max-wait-ms 0", "0", "1 to 3600000"),
    ("load --lock-rounds 0", "0", "1 to 1000000"),
    // The time flags take durations; a bare number is refused (no unit).
    ("load --think 61s", "61s", "0s to 1m"),
    ("load --think 5", "5", "0s to 1m"),
    ("load --think -1ms", "-1ms", "0s to 1m"),
    ("load --naive-delay 2m", "2m", "0s to 1m"),
    ("load --seckill-delay 61s", "61s", "0s to 1m"),
    ("load --lock-ttl 0s", "0s", "1ms to 1h"),
    ("load --lock-ttl 100", "100", "1ms to 1h"),
    ("load --lock-hold 2h", "2h", "0s to 1h"),
    ("load --lock-retry 61s", "61s", "0s to 1m"),
    ("load --lock-max-wait 0ms", "0ms", "1ms to 1h"),
    ("load --down-after 99ms", "99ms", "100ms to 10m"),
    ("load --down-after 1000", "1000", "100ms to 10m"),
    ("load --failover-timeout 999ms", "999ms", "1s to 1h"),
    ("load --node-timeout 11m", "11m", "100ms to 10m"),
    ("load --min-replicas-max-lag 2h", "2h", "1s to 1h"),
    ("load --min-replicas-max-lag 1500ms", "1500ms", "whole seconds, 1s to 1h"),
    ("bench --scale-duration 0s", "0s", "1s to 1h"),
    ("load --replicas 17", "17", "0 to 16"),
    ("load --sentinels 10", "10", "0 to 9"),
    ("load --quorum 0", "0", "1 to 9"),
    ("load --down-after-ms 5", "5", "100 to 600000"),
    ("load --failover-timeout-ms 999", "999", "1000 to 3600000"),
    ("load --parallel-syncs 0", "0", "1 to 16"),
    ("load --min-replicas-to-write 17", "17", "0 to 16"),
    ("load --min-replicas-max-lag 0", "0", "1 to 3600"),
    ("up --replicas -1", "-1", "0 to 16"),
    ("up --sentinels 12", "12", "0 to 9"),
    ("tui --grabbers 0", "0", "1 to 100000"),
    ("tui --fps 0", "0", "1 to 120"),
    ("tui --duration 0s", "0s", "1s to 24h"),
    ("bench --grabbers 100001", "100001", "1 to 100000"),
    ("bench --connections 0", "0", "1 to 1024"),
    ("bench --requests 0", "0", "1 to 100000000"),
    ("bench --scale 1000,0", "0", "1 to 100000"),
    ("bench --scale-seconds 0", "0", "1 to 3600"),
    ("bench --scale-duration 4", "4", "1s to 1h"),
    ("bench --compare-threads 0", "0", "1 to 1024"),
    ("--threads 0 load", "0", "1 to 1024"),
    ("runs prune --keep -1", "-1", "0 to 100000"),
    ("ring --servers 0", "0", "1 to 16"),
    ("ring --servers 17", "17", "1 to 16"),
    ("ring --vnodes 1,0", "0", "1 to 10000"),
    ("ring --vnodes 10001", "10001", "1 to 10000"),
    ("ring --keys 0", "0", "1 to 200000"),
    ("ring --keys 200001", "200001", "1 to 200000"),
];

#[test]
fn every_refused_number_on_the_command_line_exits_2_and_names_the_range() {
    let state = state_dir();
    for (line, value, range) in REFUSED {
        let args: Vec<&str> = line.split(' ').collect();
        let out = Command::new(grabstorm_bin())
            .args(&args)
            .env("GRABSTORM_STATE_DIR", state.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{line}: {err}");
        let flag = args.iter().rev().find(|a| a.starts_with("--")).unwrap();
        assert!(
            err.contains(&format!("invalid value '{value}' for '{flag}")),
            "{line}: {err}"
        );
        assert!(err.contains(&format!("must be {range}")), "{line}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(state.path()).unwrap().count(),
        0,
        "a refused number started something"
    );
}

#[test]
fn the_limits_themselves_are_accepted() {
    // `--help` after the flags: clap parses the values, then prints help
    // instead of starting anything.
    for line in [
        "load --grabbers 100000 --connections 1024 --duration 24h --think-ms 0 --users 1",
        "load --grabbers 1 --connections 1 --duration 1s --hard-cap 1s --settle-timeout 1h",
        "up --replicas 16 --sentinels 9 --quorum 9 --down-after-ms 100",
        "up --down-after 100ms --failover-timeout 1h --node-timeout 10m --min-replicas-max-lag 1h",
        "up --failover-timeout-ms 1000 --node-timeout-ms 100 --min-replicas-max-lag 3600",
        "load --think 1m --naive-delay 0s --seckill-delay 1.5s --lock-ttl 1ms --lock-hold 1h",
        "load --lock-retry 0ms --lock-max-wait 1h --settle 1s --packet-amount-cents 1",
        "load --think-ms 5 --naive-delay-ms 0 --seckill-delay-ms 60000 --lock-ttl-ms 1",
        "load --lock-hold-ms 0 --lock-retry-ms 2 --lock-max-wait-ms 1 --settle-timeout 1h",
        "load --packet-cents 1 --lock-kinds safe,naive",
        "load --locks fenced,reentrant",
        "bench --scale-duration 1h",
        "bench --scale-seconds 1",
        "bench --grabbers 100000 --scale 1,100000",
        "ring --servers 16 --vnodes 1,10000 --keys 200000",
        "ring --servers 1 --add 1 --keys 1",
    ] {
        let out = Command::new(grabstorm_bin())
            .args(line.split(' '))
            .arg("--help")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// (scenario key and value in their table, the range the error names)
#[rustfmt::skip]
const REFUSED_IN_SCENARIOS: &[(&str, &str, &str)] = &[
    ("", "duration = \"0s\"", "1s to 24h"),
    ("", "duration = \"25h\"", "1s to 24h"),
    ("", "settle = \"0s\"", "1s to 1h"),
    ("[workload]", "grabbers = 0", "from 1 to 100000"),
    ("[workload]", "grabbers = 100001", "from 1 to 100000"),
    ("[workload]", "grabbers = -5", "from 1 to 100000"),
    ("[workload]", "connections = 0", "from 1 to 1024"),
    ("[workload]", "users = 0", "from 1 to 10000000"),
    ("[workload]", "packets = 0", "from 1 to 10000000"),
    ("[workload]", "packet_amount_cents = 0", "from 1 to 100000000"),
    ("[workload]", "packet_count = 10001", "from 1 to 10000"),
    ("[workload]", "stock = 0", "from 1 to 100000000"),
    ("[workload]", "items = 100001", "from 1 to 100000"),
    ("[workload]", "think = \"61s\"", "0s to 1m"),
    ("[workload]", "naive_delay = \"2m\"", "0s to 1m"),
    ("[workload]", "lock_keys = 0", "from 1 to 100000"),
    ("[workload]", "lock_ttl = \"0s\"", "1ms to 1h"),
    ("[workload]", "lock_hold = \"2h\"", "0s to 1h"),
    ("[workload]", "lock_die_between = 100001", "from 0 to 100000"),
    ("[topology]", "replicas = 17", "from 0 to 16"),
    ("[topology]", "sentinels = 10", "from 0 to 9"),
    ("[topology]", "quorum = 0", "from 1 to 9"),
    ("[topology]", "down_after_ms = 99", "from 100 to 600000"),
    ("[topology]", "failover_timeout_ms = 999", "from 1000 to 3600000"),
    ("[topology]", "parallel_syncs = 17", "from 1 to 16"),
    ("[topology]", "min_replicas_to_write = 17", "from 0 to 16"),
    ("[topology]", "min_replicas_max_lag = 3601", "from 1 to 3600"),
    ("[[step]]", "at = \"1s\"\ngrabbers = 100001", "from 1 to 100000"),
];

#[test]
fn every_refused_number_in_a_scenario_file_is_an_error_naming_the_range() {
    let dir = state_dir();
    for (i, (table, entry, range)) in REFUSED_IN_SCENARIOS.iter().enumerate() {
        let file = dir.path().join(format!("refused-{i}.toml"));
        std::fs::write(
            &file,
            format!("title = \"refused\"\nteaches = \"limits\"\n{table}\n{entry}\n"),
        )
        .unwrap();
        let out = Command::new(grabstorm_bin())
            .arg("check")
            .arg(&file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{entry}: {err}");
        assert!(err.contains("out of range"), "{entry}: {err}");
        assert!(err.contains(range), "{entry}: {err}");
    }
}
