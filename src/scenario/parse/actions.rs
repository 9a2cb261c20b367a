//! What a step does: the value of its one action key, read into an
//! [`Action`]. A fault with its target, duration and the nodes it is cut
//! from; heal, resume, restart; a change of the load; a wait for an event;
//! a sleep; the end of the load.

use super::reader::{entry, normalise, Entry, Reader};
use super::steps::StepContext;
use super::targets::node_names;
use super::workload::workload_names;
use crate::faults::{FaultKind, FaultRequest, Target};
use crate::limits;
use crate::scenario::model::Action;
use crate::scenario::names::{closest, LAB_EVENTS, SENTINEL_EVENTS};
use crate::topology::migrate::Reshard;
use crate::topology::scale::ScaleStep;
use crate::topology::select::BackendChoice;
use std::time::Duration;
use toml::de::DeValue;
use toml::Spanned;

/// The keys that make a step do something; a step has exactly one.
pub(super) const STEP_ACTIONS: &[&str] = &[
    "fault", "heal", "resume", "restart", "reshard", "scale", "grabbers", "workload", "load",
    "wait_for", "sleep", "stop",
];

/// `load = "pause"` pauses the load, `load = "resume"` resumes it.
const LOAD_NAMES: &[(&str, bool)] = &[("pause", true), ("resume", false)];

/// Default for a `wait_for` step's `timeout`.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(30);

impl Reader<'_> {
    /// Reads the value `v` of a step's action key `name` (one of
    /// [`STEP_ACTIONS`]); `entries` are the step's keys.
    pub(super) fn action(
        &mut self,
        name: &str,
        v: &Spanned<DeValue<'_>>,
        entries: &[Entry<'_, '_>],
        context: &StepContext<'_>,
    ) -> Option<Action> {
        match name {
            "fault" => self.fault_step(v, entries, context),
            "heal" | "resume" | "restart" => {
                let kind = match name {
                    "heal" => FaultKind::Heal,
                    "resume" => FaultKind::Resume,
                    _ => FaultKind::Restart,
                };
                self.target(name, v, context.topology).map(|target| {
                    Action::Fault(FaultRequest {
                        kind,
                        target,
                        duration: None,
                        from: Vec::new(),
                        reshard: None,
                        scale: None,
                    })
                })
            }
            "reshard" => self.reshard_step(v, context),
            "scale" => self.scale_step(v, context),
            "grabbers" => {
                self.limited("grabbers", v, limits::GRABBERS)
                    .map(|n| Action::SetGrabbers {
                        grabbers: n as usize,
                    })
            }
            "workload" => self
                .choice("workload", v, &workload_names())
                .map(|w| Action::SetWorkload { workload: w }),
            "load" => self
                .choice("load", v, LOAD_NAMES)
                .map(|paused| Action::PauseLoad { paused }),
            "wait_for" => self.wait_step(v, entries),
            "sleep" => self
                .duration("sleep", v)
                .map(|d| Action::Sleep { duration: d }),
            "stop" => match self.boolean("stop", v) {
                Some(true) => Some(Action::Stop),
                Some(false) => {
                    self.error(
                        v.span(),
                        "`stop = false` does nothing: expected `stop = true` or no step",
                        None,
                    );
                    None
                }
                None => None,
            },
            // Every name in STEP_ACTIONS has an arm above.
            other => {
                debug_assert!(
                    !STEP_ACTIONS.contains(&other),
                    "`{other}` is an action but not read"
                );
                None
            }
        }
    }

    fn fault_step(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        entries: &[Entry<'_, '_>],
        context: &StepContext<'_>,
    ) -> Option<Action> {
        let topology = context.topology;
        let kinds = FaultKind::ALL.map(|k| (k.name(), k));
        let kind = self.choice("fault", v, &kinds);
        if kind == Some(FaultKind::Reshard) {
            self.error(
                v.span(),
                "a reshard is its own step: `reshard = \"3000 1->2\"` moves 3,000 slots from shard 1 to shard 2",
                None,
            );
            return None;
        }
        if kind == Some(FaultKind::Scale) {
            self.error(
                v.span(),
                "scaling is its own step: `scale = \"add\"` adds a shard, `scale = \"remove 4\"` removes shard 4",
                None,
            );
            return None;
        }
        let target = match entry(entries, "target") {
            Some((_, t)) => self.target("target", t, topology),
            None => Some(if kind == Some(FaultKind::Restart) {
                Target::All
            } else {
                Target::Master
            }),
        };
        let mut duration = None;
        if let Some((k, d)) = entry(entries, "for") {
            duration = self.duration("for", d);
            if let Some(kind) = kind {
                if !kind.takes_duration() {
                    self.error(
                        k.span(),
                        format!("`for` applies to pause, partition, slow and client-pause, not to {kind}"),
                        None,
                    );
                }
            }
        }
        let mut from = Vec::new();
        if let Some((k, f)) = entry(entries, "from") {
            if kind.is_some() && kind != Some(FaultKind::Partition) {
                self.error(k.span(), "`from` applies to partition only", None);
            }
            let nodes = node_names(topology);
            match f.get_ref() {
                DeValue::Array(items) => {
                    for item in items.iter() {
                        let Some(name) = self.string("from", item) else {
                            continue;
                        };
                        if nodes.contains(&name) {
                            from.push(name);
                        } else {
                            let help = closest(&name, nodes.iter().map(String::as_str))
                                .map(|c| format!("did you mean `{c}`?"));
                            self.error(
                                item.span(),
                                format!(
                                    "unknown node {name:?} in `from`: expected one of {}",
                                    nodes.join(", ")
                                ),
                                help,
                            );
                        }
                    }
                }
                _ => self.wrong_type(
                    "from",
                    f,
                    "an array of node names, e.g. [\"redis-2\", \"sentinel-1\"]",
                ),
            }
        }
        if kind == Some(FaultKind::Partition) && context.backend == BackendChoice::Local {
            self.error(
                v.span(),
                "partition needs the Docker backend, but this scenario says backend = \"local\"",
                context
                    .backend_span
                    .as_ref()
                    .map(|_| "set backend = \"docker\" (or \"auto\")".to_string()),
            );
            return None;
        }
        Some(Action::Fault(FaultRequest {
            kind: kind?,
            target: target?,
            duration,
            from,
            reshard: None,
            scale: None,
        }))
    }

    /// `reshard = "SLOTS FROM->TO"`: a live migration between two shards of
    /// the scenario's cluster.
    fn reshard_step(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        context: &StepContext<'_>,
    ) -> Option<Action> {
        self.cluster_step::<Reshard>("reshard", v, context, FaultRequest::reshard)
    }

    /// `scale = "add"` or `scale = "remove K"`: a shard joins or leaves the
    /// scenario's cluster, live.
    fn scale_step(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        context: &StepContext<'_>,
    ) -> Option<Action> {
        self.cluster_step::<ScaleStep>("scale", v, context, FaultRequest::scale)
    }

    /// A Cluster-only step written as one string under `key`: parsed as
    /// `T`, made into its fault request and checked against the scenario's
    /// topology like any fault.
    fn cluster_step<T>(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        context: &StepContext<'_>,
        request: fn(T) -> FaultRequest,
    ) -> Option<Action>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        let text = self.string(key, v)?;
        let req = match text.parse::<T>() {
            Ok(step) => request(step),
            Err(e) => {
                self.error(v.span(), format!("{key} = {text:?}: {e}"), None);
                return None;
            }
        };
        let plan = [crate::faults::ScheduledFault {
            at: Duration::ZERO,
            fault: req.clone(),
        }];
        if let Err(e) = crate::faults::check_plan(&plan, context.topology, None) {
            let help = (!context.topology.is_cluster())
                .then(|| "set mode = \"cluster\" in [topology]".to_string());
            self.error(v.span(), format!("{key} = {text:?}: {e}"), help);
            return None;
        }
        Some(Action::Fault(req))
    }

    fn wait_step(&mut self, v: &Spanned<DeValue<'_>>, entries: &[Entry<'_, '_>]) -> Option<Action> {
        let event = self.string("wait_for", v)?;
        let known = SENTINEL_EVENTS.contains(&event.as_str())
            || LAB_EVENTS.contains(&normalise(&event).as_str());
        let timeout = match entry(entries, "timeout") {
            Some((_, t)) => self.duration("timeout", t)?,
            None => DEFAULT_WAIT_TIMEOUT,
        };
        let required = match entry(entries, "required") {
            Some((_, r)) => self.boolean("required", r)?,
            None => true,
        };
        if !known {
            let all = SENTINEL_EVENTS.iter().chain(LAB_EVENTS.iter()).copied();
            let help = closest(&event, all).map(|c| format!("did you mean `{c}`?"));
            self.error(
                v.span(),
                format!(
                    "unknown event {event:?}: expected a Sentinel event such as \"+switch-master\" or \"+odown\", or a lab event: {}",
                    LAB_EVENTS.join(", ")
                ),
                help,
            );
            return None;
        }
        Some(Action::WaitFor {
            event: if event.starts_with(['+', '-']) {
                event
            } else {
                normalise(&event)
            },
            timeout,
            required,
        })
    }
}
