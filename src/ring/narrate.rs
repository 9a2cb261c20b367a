//! What the ring lab's numbers mean, in sentences built from one measured
//! [`RingReport`] (`grabstorm ring --narrate`): the tutorial's properties
//! of consistent hashing (monotonicity, balance, the skew virtual nodes
//! cure), each shown by a number the servers gave.

use super::lab::{Change, RingReport, SchemeRow};

fn pct(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// The share a fair scheme moves: the leaving server's 1/N, or the new
/// server's 1/(N+1).
pub fn fair_share(report: &RingReport) -> f64 {
    match report.change {
        Change::Remove => 1.0 / report.servers as f64,
        Change::Add => 1.0 / (report.servers + 1) as f64,
    }
}

/// The share `hash % N` moves when N changes to M, for an evenly spread
/// hash: a key stays only where `h % N == h % M`, i.e. on min(N, M) of
/// every lcm(N, M) values.
pub fn modulo_expected_share(n: usize, m: usize) -> f64 {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let lcm = n / gcd(n, m) * m;
    1.0 - n.min(m) as f64 / lcm as f64
}

/// Servers after the change.
pub fn servers_after(report: &RingReport) -> usize {
    match report.change {
        Change::Remove => report.servers - 1,
        Change::Add => report.servers + 1,
    }
}

fn verb(report: &RingReport) -> String {
    match report.change {
        Change::Remove => format!(
            "removing 1 of {} servers ({})",
            report.servers, report.changed_server
        ),
        Change::Add => format!(
            "adding a server ({}) to {}",
            report.changed_server, report.servers
        ),
    }
}

fn ring_sentence(report: &RingReport, row: &SchemeRow) -> String {
    let v = row.vnodes.unwrap_or(0);
    let from_where = if row.moved_between_survivors == 0 {
        match report.change {
            Change::Remove => "all of them from the removed server: monotonicity".to_string(),
            Change::Add => "all of them to the new server: monotonicity".to_string(),
        }
    } else {
        format!(
            "{} of them between servers that stayed",
            row.moved_between_survivors
        )
    };
    let reached = row
        .changed_keys_by_server
        .iter()
        .filter(|&&n| n > 0)
        .count();
    let split = row
        .changed_keys_by_server
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" / ");
    let spread = match report.change {
        Change::Remove => format!(
            " Its keys went to {reached} of the {} servers that stayed ({split}).",
            row.changed_keys_by_server.len()
        ),
        Change::Add => format!(
            " The new server took keys from {reached} of the {} servers ({split}).",
            row.changed_keys_by_server.len()
        ),
    };
    let min = row.keys_per_server.iter().min().copied().unwrap_or(0);
    let max = row.keys_per_server.iter().max().copied().unwrap_or(0);
    format!(
        "With {v} virtual node{} per server, {} moved {} of keys ({} keys), {from_where}.{spread} \
         Before, the servers held {min} to {max} keys (spread {:.3}: standard deviation over mean){}.",
        if v == 1 { "" } else { "s" },
        verb(report),
        pct(row.moved_share),
        row.moved_keys,
        row.load_cv,
        if row.load_cv > 0.2 {
            ": unbalanced, a few points cannot cut 2^32 into even arcs"
        } else {
            ""
        }
    )
}

/// The narration, one paragraph per line.
pub fn narrate(report: &RingReport) -> Vec<String> {
    let mut lines = vec![format!(
        "{} keys were written into {} independent Redis servers through each scheme, then {}; \
         every count below was read back from the servers (SCAN and DBSIZE), not computed. \
         A fair scheme moves only the keys of the server that changes: {} here.",
        report.keys,
        report.servers,
        verb(report),
        pct(fair_share(report))
    )];
    let m = &report.modulo;
    let after = servers_after(report);
    lines.push(format!(
        "Modulo (hash % {n} becomes hash % {after}) moved {} of keys ({} keys); \
         {} of them moved between servers that stayed. For an even hash the expectation is {}: \
         a key stays only if hash % {n} equals hash % {after}.",
        pct(m.moved_share),
        m.moved_keys,
        m.moved_between_survivors,
        pct(modulo_expected_share(report.servers, after)),
        n = report.servers,
    ));
    for row in &report.rows {
        lines.push(ring_sentence(report, row));
    }
    if let (Some(first), Some(last)) = (report.rows.first(), report.rows.last()) {
        if report.rows.len() > 1 {
            lines.push(format!(
                "Virtual nodes are the cure for skew (2.4.6): from {} to {} points per server the spread fell from {:.3} to {:.3}, \
                 and the servers that share a changed server's keys went from {} to {} (see each line above).",
                first.vnodes.unwrap_or(0),
                last.vnodes.unwrap_or(0),
                first.load_cv,
                last.load_cv,
                first.changed_keys_by_server.iter().filter(|&&n| n > 0).count(),
                last.changed_keys_by_server.iter().filter(|&&n| n > 0).count(),
            ));
        }
    }
    let c = &report.cluster_slots;
    lines.push(format!(
        "Redis Cluster (computed, not measured: CRC16 slots, an even split rebalanced as redis-cli would) \
         moves whole slots: {} slots, {} of keys, {} between masters that stayed. \
         Slots are Cluster's virtual nodes: 16,384 of them, placed by the operator instead of by a hash.",
        c.slots_moved,
        pct(c.moved_share),
        c.moved_between_survivors
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::lab::sample_report;

    #[test]
    fn the_narration_names_what_each_number_shows() {
        let mut report = sample_report();
        let text = narrate(&report).join("\n");
        for want in [
            "Modulo (hash % 4 becomes hash % 3) moved 75.0% of keys (14995 keys); 9960 of them",
            "the expectation is 75.0%",
            "With 1 virtual node per server, removing 1 of 4 servers (redis-4) moved 16.8%",
            "all of them from the removed server: monotonicity. Its keys went to 1 of the 3 servers that stayed (0 / 0 / 3350)",
            "spread 0.667",
            "unbalanced",
            "With 1000 virtual nodes per server",
            "went to 3 of the 3 servers",
            "from 1 to 1000 points per server the spread fell from 0.667 to 0.015",
            "Redis Cluster (computed, not measured",
        ] {
            assert!(text.contains(want), "{want:?} missing in:\n{text}");
        }
        // Keys between survivors are told as such, never as monotonicity.
        report.rows[1].moved_between_survivors = 7;
        let line = &narrate(&report)[3];
        assert!(
            line.contains("7 of them between servers that stayed"),
            "{line}"
        );
        assert!(!line.contains("monotonicity"), "{line}");
    }

    #[test]
    fn modulo_keeps_the_keys_where_both_remainders_agree() {
        assert!((modulo_expected_share(4, 3) - 0.75).abs() < 1e-12);
        assert!((modulo_expected_share(4, 5) - 0.8).abs() < 1e-12);
        assert!((modulo_expected_share(2, 4) - 0.5).abs() < 1e-12);
    }
}
