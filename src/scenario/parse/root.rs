//! The root of a scenario file: its top-level keys (title, teaches, seed,
//! duration, settle, backend) and the order the sections are read in, so
//! that the steps are checked against the topology, backend and duration
//! the file sets, and the expectations against the workloads it runs.

use super::reader::{entry, normalise, Reader};
use super::steps::StepContext;
use crate::limits;
use crate::scenario::model::{Action, Scenario, WorkloadSpec};
use crate::topology::select::BackendChoice;
use crate::topology::TopologySpec;
use std::time::Duration;
use toml::de::DeTable;

const TOP_KEYS: &[&str] = &[
    "title", "teaches", "seed", "duration", "settle", "backend", "topology", "workload", "step",
    "expect",
];

/// Default for `settle`: the longest wait for the topology to agree on one
/// master before the audit.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(30);

impl Reader<'_> {
    /// Reads the whole file; what is wrong is in `self.errors`.
    pub(super) fn scenario(&mut self, root: &DeTable<'_>) -> Scenario {
        let entries = self.entries(root, TOP_KEYS, "the scenario");
        let mut title = None;
        let mut teaches = None;
        let mut seed = 1u64;
        let mut duration = Duration::from_secs(30);
        let mut duration_span = None;
        let mut settle = DEFAULT_SETTLE;
        let mut backend = BackendChoice::Auto;
        let mut backend_span = None;
        let mut topology = TopologySpec::default();
        let mut workload = WorkloadSpec::default();
        let mut steps_value = None;
        let mut expect_value = None;
        for (k, v) in &entries {
            let key = normalise(k.get_ref());
            match key.as_str() {
                "title" => title = self.string("title", v),
                "teaches" => teaches = self.string("teaches", v),
                "seed" => {
                    if let Some(n) = self.integer("seed", v, 0, i64::MAX) {
                        seed = n as u64;
                    }
                }
                "duration" => {
                    if let Some(d) = self.limited_duration("duration", v, limits::DURATION) {
                        duration = d;
                        duration_span = Some(v.span());
                    }
                }
                "settle" => {
                    if let Some(d) = self.limited_duration("settle", v, limits::SETTLE_TIMEOUT) {
                        settle = d;
                    }
                }
                "backend" => {
                    let names = BackendChoice::ALL.map(|b| (b.name(), b));
                    if let Some(b) = self.choice("backend", v, &names) {
                        backend = b;
                        backend_span = Some(v.span());
                    }
                }
                "topology" => {
                    if let Some(t) = self.table("topology", v) {
                        self.topology(t, &mut topology, k.span());
                    }
                }
                "workload" => {
                    if let Some(t) = self.table("workload", v) {
                        self.workload(t, &mut workload);
                    }
                }
                "step" => steps_value = Some(*v),
                "expect" => expect_value = Some(*v),
                // Unknown keys were reported by `entries`; an allowed key
                // without an arm here would be silently ignored.
                other => debug_assert!(
                    !TOP_KEYS.contains(&other),
                    "`{other}` is allowed but not read"
                ),
            }
        }
        // A missing key is reported at the top of the file; a key given
        // with the wrong type was reported where it is.
        if title.is_none() && entry(&entries, "title").is_none() {
            self.error(
                0..0,
                "missing `title`: every scenario needs a title = \"...\"",
                None,
            );
        }
        if teaches.is_none() && entry(&entries, "teaches").is_none() {
            self.error(
                0..0,
                "missing `teaches`: say in one sentence what the scenario shows",
                None,
            );
        }
        let steps = match steps_value {
            Some(v) => {
                let context = StepContext {
                    topology: &topology,
                    backend,
                    backend_span,
                    duration,
                    duration_span,
                };
                self.steps(v, &context)
            }
            None => Vec::new(),
        };
        // An expectation may be about a workload a step switches to later.
        let later_workloads: Vec<_> = steps
            .iter()
            .filter_map(|s| match s.action {
                Action::SetWorkload { workload } => Some(workload),
                _ => None,
            })
            .collect();
        let expect = match expect_value {
            Some(v) => self.expectations(v, workload.kind, &later_workloads),
            None => Vec::new(),
        };
        Scenario {
            file: self.file.clone(),
            title: title.unwrap_or_default(),
            teaches: teaches.unwrap_or_default(),
            seed,
            duration,
            settle,
            backend,
            topology,
            workload,
            steps,
            expect,
        }
    }
}
