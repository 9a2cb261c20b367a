//! The parser's tests, each through [`parse_str`] as a caller sees it: the
//! defaults, every key read, the positions and suggestions of errors.

use super::*;
use crate::scenario::model::{ClientMode, Comparator, Expected};
use crate::topology::select::BackendChoice;
use crate::topology::TopologySpec;
use crate::workload::Mode;
use std::time::Duration;

const MINIMAL: &str = "title = \"t\"\nteaches = \"x\"\n";

fn first_error(text: &str) -> Diagnostic {
    parse_str(text, "f.toml").unwrap_err().0.remove(0)
}

#[test]
fn a_minimal_file_takes_every_default() {
    let s = parse_str(MINIMAL, "f.toml").unwrap();
    assert_eq!(s.topology, TopologySpec::default());
    assert_eq!(s.duration, Duration::from_secs(30));
    assert_eq!(s.seed, 1);
    assert!(s.steps.is_empty());
}

#[test]
fn a_fault_typo_points_at_the_value_and_suggests() {
    let text = format!("{MINIMAL}[[step]]\nat = \"5s\"\nfault = \"segfalt\"\n");
    let d = first_error(&text);
    assert_eq!((d.line, d.col), (5, 9));
    assert!(
        d.message.contains("unknown fault \"segfalt\""),
        "{}",
        d.message
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `segfault`?"));
    let shown = d.to_string();
    assert!(shown.starts_with("f.toml:5:9: error: "), "{shown}");
    assert!(shown.contains("        ^^^^^^^^^"), "{shown}");
}

#[test]
fn unknown_keys_are_errors_with_suggestions() {
    let d = first_error(&format!("{MINIMAL}[topology]\nreplicsa = 2\n"));
    assert_eq!((d.line, d.col), (4, 1));
    assert_eq!(d.help.as_deref(), Some("did you mean `replicas`?"));
}

#[test]
fn every_allowed_key_is_read() {
    let text = format!(
        "{MINIMAL}seed = 3\nduration = \"20s\"\nsettle = \"5s\"\nbackend = \"local\"\n\
         [topology]\nmaster_name = \"m\"\nreplicas = 2\nsentinels = 3\nquorum = 2\n\
         down_after_ms = 500\nfailover_timeout_ms = 5000\nparallel_syncs = 2\n\
         persistence = \"rdb\"\nmin_replicas_to_write = 1\nmin_replicas_max_lag = 3\n\
         [workload]\nkind = \"mixed\"\ngrabbers = 10\nusers = 5\nconnections = 2\n\
         mode = \"naive\"\nclient = \"naive\"\nhash-tags = false\nuntil_done = true\nthink = \"1ms\"\n\
         naive_delay = \"2ms\"\npackets = 3\npacket_amount_cents = 500\npacket_count = 5\n\
         stock = 9\nitems = 2\nlocks = [\"naive\"]\nlock_keys = 2\nlock_ttl = \"1s\"\n\
         lock_hold = \"3ms\"\nlock_die_between = 1\n"
    );
    let s = parse_str(&text, "all.toml").unwrap();
    let w = &s.workload;
    assert_eq!(
        (s.seed, s.settle, s.backend),
        (3, Duration::from_secs(5), BackendChoice::Local)
    );
    assert_eq!(
        (
            s.topology.master_name.as_str(),
            s.topology.min_replicas_max_lag_s
        ),
        ("m", 3)
    );
    assert_eq!(
        (w.users, w.connections, w.items, w.stock),
        (Some(5), Some(2), Some(2), Some(9))
    );
    assert_eq!(
        (w.think, w.naive_delay),
        (
            Some(Duration::from_millis(1)),
            Some(Duration::from_millis(2))
        )
    );
    assert_eq!(
        (w.packets, w.packet_amount_cents, w.packet_count),
        (Some(3), Some(500), Some(5))
    );
    assert_eq!((w.lock_keys, w.lock_die_between), (Some(2), Some(1)));
    assert_eq!(
        (w.mode, w.client, w.until_done, w.hash_tags),
        (Mode::Naive, ClientMode::Naive, true, Some(false))
    );
}

#[test]
fn kebab_and_snake_keys_are_the_same() {
    let s = parse_str(
        &format!("{MINIMAL}[topology]\ndown-after-ms = 2000\nmin_replicas_to_write = 1\n"),
        "f",
    )
    .unwrap();
    assert_eq!(s.topology.down_after_ms, 2000);
    assert_eq!(s.topology.min_replicas_to_write, 1);
}

#[test]
fn timeouts_are_durations_named_like_their_flags_or_legacy_milliseconds() {
    let topology = |keys: &str| parse_str(&format!("{MINIMAL}[topology]\n{keys}\n"), "f");
    let s = topology(
        "down_after = \"1.5s\"\nfailover_timeout = \"2m\"\nnode_timeout = \"750ms\"\n\
         min_replicas_max_lag = \"1m\"",
    )
    .unwrap();
    let t = &s.topology;
    assert_eq!(
        (
            t.down_after_ms,
            t.failover_timeout_ms,
            t.node_timeout_ms,
            t.min_replicas_max_lag_s
        ),
        (1500, 120_000, 750, 60)
    );
    let legacy = topology("down_after_ms = 1500\nfailover_timeout_ms = 120000").unwrap();
    assert_eq!(
        (
            legacy.topology.down_after_ms,
            legacy.topology.failover_timeout_ms
        ),
        (1500, 120_000)
    );
    let d = topology("down_after = \"50ms\"").unwrap_err().0.remove(0);
    assert_eq!(d.line, 4);
    assert!(
        d.message
            .contains("`down_after` = \"50ms\" is out of range: it must be 100ms to 10m"),
        "{}",
        d.message
    );
    let d = topology("min_replicas_max_lag = \"1500ms\"")
        .unwrap_err()
        .0
        .remove(0);
    assert!(d.message.contains("whole seconds"), "{}", d.message);
}

#[test]
fn steps_must_be_in_time_order() {
    let text = format!(
        "{MINIMAL}[[step]]\nat = \"10s\"\nnote = \"a\"\n[[step]]\nat = \"5s\"\nnote = \"b\"\n"
    );
    let d = first_error(&text);
    assert_eq!((d.line, d.col), (7, 6));
    assert!(d.message.contains("time order"));
}

#[test]
fn expectations_parse_bare_and_compared_values() {
    let text = format!(
        "{MINIMAL}[expect]\nfailover_within = \"6s\"\nlost_acked_writes = \"> 0\"\np99_ms = 50\nconservation = true\n"
    );
    let s = parse_str(&text, "f").unwrap();
    let by: Vec<_> = s
        .expect
        .iter()
        .map(|e| (e.name.as_str(), e.expected.clone()))
        .collect();
    assert_eq!(
        by[0],
        (
            "failover_within",
            Expected::Number {
                cmp: Comparator::Le,
                value: 6000.0
            }
        )
    );
    assert_eq!(
        by[1],
        (
            "lost_acked_writes",
            Expected::Number {
                cmp: Comparator::Gt,
                value: 0.0
            }
        )
    );
    assert_eq!(
        by[2],
        (
            "p99_ms",
            Expected::Number {
                cmp: Comparator::Le,
                value: 50.0
            }
        )
    );
    assert_eq!(by[3], ("conservation", Expected::Bool(true)));
}

#[test]
fn impossible_topology_points_at_the_quorum() {
    let d = first_error(&format!("{MINIMAL}[topology]\nsentinels = 3\nquorum = 4\n"));
    assert_eq!((d.line, d.col), (5, 10));
    assert!(d.message.contains("impossible topology"));
}

#[test]
fn syntax_errors_carry_a_position() {
    let d = first_error("title = \"t\nteaches = 1\n");
    assert_eq!(d.line, 1);
    assert!(d.message.starts_with("invalid TOML"));
}

#[test]
fn a_cluster_topology_is_read_and_its_targets_checked_by_mode() {
    let s = parse_str(
        &format!(
            "{MINIMAL}[topology]\nmode = \"cluster\"\nmasters = 4\nreplicas-per-master = 2\n\
             node-timeout-ms = 1500\nrequire-full-coverage = false\n\
             [[step]]\nat = \"1s\"\nfault = \"segfault\"\ntarget = \"master-4\"\n\
             [[step]]\nat = \"2s\"\nfault = \"failover\"\ntarget = \"replica-2\"\n"
        ),
        "f.toml",
    )
    .unwrap();
    let t = &s.topology;
    assert_eq!(t.mode, crate::topology::HaMode::Cluster);
    assert_eq!(
        (
            t.masters,
            t.replicas_per_master,
            t.node_timeout_ms,
            t.require_full_coverage
        ),
        (4, 2, 1500, false)
    );
    let cluster = format!("{MINIMAL}[topology]\nmode = \"cluster\"\n");
    let d = first_error(&format!(
        "{cluster}[[step]]\nat = \"1s\"\nfault = \"kill\"\ntarget = \"master-4\"\n"
    ));
    assert_eq!((d.line, d.col), (8, 10), "{d:?}");
    assert!(
        d.message.contains("master-1..master-3") && d.message.contains("cluster mode"),
        "{}",
        d.message
    );
    let d = first_error(&format!(
        "{cluster}[[step]]\nat = \"1s\"\nfault = \"kill\"\ntarget = \"sentinel-1\"\n"
    ));
    assert!(
        d.message.contains("unknown target \"sentinel-1\""),
        "{}",
        d.message
    );
    let d = first_error(&format!(
        "{MINIMAL}[[step]]\nat = \"1s\"\nfault = \"kill\"\ntarget = \"master-2\"\n"
    ));
    assert!(d.message.contains("sentinel mode"), "{}", d.message);
    let d = first_error(&format!("{MINIMAL}[topology]\nmode = \"clustr\"\n"));
    assert_eq!((d.line, d.col), (4, 8), "{d:?}");
    let d = first_error(&format!("{cluster}masters = 2\n"));
    assert_eq!(d.line, 5, "{d:?}");
    assert!(d.message.contains("masters"), "{}", d.message);
}

#[test]
fn a_reshard_step_is_read_and_its_shards_checked() {
    let cluster = format!("{MINIMAL}[topology]\nmode = \"cluster\"\n");
    let s = parse_str(
        &format!("{cluster}[[step]]\nat = \"3s\"\nreshard = \"3000 1->2\"\n"),
        "f.toml",
    )
    .unwrap();
    assert_eq!(
        s.steps[0].action,
        crate::scenario::model::Action::Fault(crate::faults::FaultRequest::reshard(
            crate::topology::migrate::Reshard {
                slots: 3000,
                from: 1,
                to: 2
            }
        ))
    );
    assert_eq!(s.steps[0].action.sentence(), "reshard 3000 1->2");
    let d = first_error(&format!(
        "{cluster}[[step]]\nat = \"3s\"\nreshard = \"3000 1->4\"\n"
    ));
    assert_eq!((d.line, d.col), (7, 11), "{d:?}");
    assert_eq!(
        d.message,
        "reshard = \"3000 1->4\": no shard 4: the cluster has shards 1 to 3"
    );
    let d = first_error(&format!(
        "{cluster}[[step]]\nat = \"3s\"\nreshard = \"3000 slots\"\n"
    ));
    assert!(d.message.contains("SLOTS FROM->TO"), "{}", d.message);
    let d = first_error(&format!(
        "{MINIMAL}[[step]]\nat = \"3s\"\nreshard = \"3000 1->2\"\n"
    ));
    assert!(d.message.contains("runs Sentinel"), "{}", d.message);
    assert_eq!(
        d.help.as_deref(),
        Some("set mode = \"cluster\" in [topology]")
    );
    let d = first_error(&format!(
        "{cluster}[[step]]\nat = \"3s\"\nfault = \"reshard\"\n"
    ));
    assert!(d.message.contains("its own step"), "{}", d.message);
}

#[test]
fn a_scale_step_is_read_and_refused_outside_a_cluster() {
    use crate::topology::scale::ScaleStep;
    let cluster = format!("{MINIMAL}[topology]\nmode = \"cluster\"\n");
    let s = parse_str(
        &format!(
            "{cluster}[[step]]\nat = \"3s\"\nscale = \"add\"\n[[step]]\nat = \"9s\"\nscale = \"remove 4\"\n"
        ),
        "f.toml",
    )
    .unwrap();
    assert_eq!(
        s.steps[0].action,
        crate::scenario::model::Action::Fault(crate::faults::FaultRequest::scale(ScaleStep::Add))
    );
    assert_eq!(s.steps[0].action.sentence(), "scale add");
    assert_eq!(s.steps[1].action.sentence(), "scale remove 4");
    let d = first_error(&format!(
        "{cluster}[[step]]\nat = \"3s\"\nscale = \"remove\"\n"
    ));
    assert_eq!((d.line, d.col), (7, 9), "{d:?}");
    assert!(
        d.message
            .starts_with("scale = \"remove\": \"remove\" needs the shard to remove"),
        "{}",
        d.message
    );
    let d = first_error(&format!(
        "{MINIMAL}[[step]]\nat = \"3s\"\nscale = \"add\"\n"
    ));
    assert!(d.message.contains("runs Sentinel"), "{}", d.message);
    assert_eq!(
        d.help.as_deref(),
        Some("set mode = \"cluster\" in [topology]")
    );
    let d = first_error(&format!(
        "{cluster}[[step]]\nat = \"3s\"\nfault = \"scale\"\n"
    ));
    assert!(d.message.contains("its own step"), "{}", d.message);
}

#[test]
fn a_step_asks_a_question_answered_by_a_measured_name() {
    let text = format!(
        "{MINIMAL}[[step]]\nat = \"5s\"\nfault = \"segfault\"\nquestion = \"How long were writes failing?\"\nanswer = \"write_outage_ms\"\n[[step]]\nat = \"6s\"\nquestion = \"Lost?\"\nanswer = \"lost_acked_writes\"\n"
    );
    let s = parse_str(&text, "f.toml").unwrap();
    let q = s.steps[0].question.as_ref().unwrap();
    assert_eq!(q.text, "How long were writes failing?");
    assert_eq!(
        q.answer, "write_outage",
        "the _ms spelling names the same measure"
    );
    assert!(matches!(
        s.steps[1].action,
        crate::scenario::model::Action::Note
    ));
    assert_eq!(
        s.steps[1].question.as_ref().unwrap().answer,
        "lost_acked_writes"
    );

    let d = first_error(&format!(
        "{MINIMAL}[[step]]\nat = \"5s\"\nnote = \"n\"\nquestion = \"Q\"\nanswer = \"write_outage_sec\"\n"
    ));
    assert!(
        d.message.contains("unknown answer `write_outage_sec`"),
        "{}",
        d.message
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `write_outage`?"));
    let all = parse_str(
        &format!("{MINIMAL}[[step]]\nat = \"5s\"\nquestion = \"Q\"\n"),
        "f.toml",
    )
    .unwrap_err();
    assert_eq!(
        all.0.len(),
        1,
        "one error, not a second 'does nothing': {all}"
    );
    assert!(all.0[0].message.contains("names no `answer`"));
    let d = first_error(&format!(
        "{MINIMAL}[[step]]\nat = \"5s\"\nnote = \"n\"\nanswer = \"failovers\"\n"
    ));
    assert!(
        d.message.contains("`answer` without a `question`"),
        "{}",
        d.message
    );
}
