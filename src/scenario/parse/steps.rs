//! The `[[step]]` tables: the timeline of a scenario. Each step has a time
//! (`at`, in order, within the run) and does one thing, named by its action
//! key (see [`super::actions`]); keys that belong to one action are refused
//! on a step of another.

use super::actions::STEP_ACTIONS;
use super::reader::{entry, normalise, quoted_list, Entry, Reader};
use crate::scenario::model::{Action, Question, Step};
use crate::topology::select::BackendChoice;
use crate::topology::TopologySpec;
use crate::words::duration as duration_text;
use std::ops::Range;
use std::time::Duration;
use toml::de::DeValue;
use toml::Spanned;

const STEP_KEYS: &[&str] = &[
    "at", "fault", "target", "for", "from", "heal", "resume", "restart", "reshard", "scale",
    "grabbers", "workload", "load", "wait_for", "timeout", "required", "sleep", "stop", "note",
    "question", "answer",
];

/// Keys that belong to one action only, and that action.
const ACTION_OWNED_KEYS: [(&str, &str); 5] = [
    ("target", "fault"),
    ("for", "fault"),
    ("from", "fault"),
    ("timeout", "wait_for"),
    ("required", "wait_for"),
];

/// What the rest of the file says that steps are checked against: the
/// topology their targets name, the backend a partition needs and the
/// run's duration, with the spans of the keys that set the backend and the
/// duration (`None`: left at the default).
pub(super) struct StepContext<'a> {
    pub(super) topology: &'a TopologySpec,
    pub(super) backend: BackendChoice,
    pub(super) backend_span: Option<Range<usize>>,
    pub(super) duration: Duration,
    pub(super) duration_span: Option<Range<usize>>,
}

impl Reader<'_> {
    /// Reads the `step` array; a step with an error is left out.
    pub(super) fn steps(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        context: &StepContext<'_>,
    ) -> Vec<Step> {
        let DeValue::Array(items) = v.get_ref() else {
            self.wrong_type("step", v, "an array of tables, each one written `[[step]]`");
            return Vec::new();
        };
        let mut steps: Vec<Step> = Vec::new();
        let mut last_at: Option<(Duration, usize)> = None;
        for item in items.iter() {
            let DeValue::Table(t) = item.get_ref() else {
                self.wrong_type("step", item, "a table written `[[step]]`");
                continue;
            };
            let line = self.line_of(&item.span());
            let entries = self.entries(t, STEP_KEYS, "a [[step]]");
            let before = self.errors.len();
            let at = match entry(&entries, "at") {
                Some((_, v)) => self.duration("at", v),
                None => {
                    self.error(
                        item.span(),
                        "this step has no `at`: expected at = \"5s\" (time since the start)",
                        None,
                    );
                    None
                }
            };
            if let (Some(at), Some((_, at_v))) = (at, entry(&entries, "at")) {
                self.check_time(at, at_v, last_at, context);
                last_at = Some((at, line));
            }
            let actions: Vec<Entry<'_, '_>> = entries
                .iter()
                .filter(|(k, _)| STEP_ACTIONS.contains(&normalise(k.get_ref()).as_str()))
                .copied()
                .collect();
            let note = entry(&entries, "note").and_then(|(_, v)| self.string("note", v));
            let question = self.question(&entries, item.span());
            if actions.len() > 1 {
                self.error(
                    actions[1].0.span(),
                    format!(
                        "a step does one thing, but this one has both `{}` and `{}`: split it into two steps",
                        actions[0].0.get_ref(),
                        actions[1].0.get_ref()
                    ),
                    None,
                );
                continue;
            }
            let action_name = actions
                .first()
                .map(|(k, _)| normalise(k.get_ref()))
                .unwrap_or_else(|| "note".into());
            for (key, owner) in ACTION_OWNED_KEYS {
                if let Some((k, _)) = entry(&entries, key) {
                    if action_name != owner {
                        self.error(
                            k.span(),
                            format!("`{key}` belongs to a `{owner}` step, but this step is `{action_name}`"),
                            None,
                        );
                    }
                }
            }
            let action = match actions.first() {
                None => {
                    let asks = entry(&entries, "question").is_some()
                        || entry(&entries, "answer").is_some();
                    if note.is_none() && !asks {
                        self.error(
                            item.span(),
                            format!(
                                "this step does nothing: expected one of {} (or a `note`)",
                                quoted_list(STEP_ACTIONS)
                            ),
                            None,
                        );
                    }
                    Some(Action::Note)
                }
                Some((_, v)) => self.action(&action_name, v, &entries, context),
            };
            if let (Some(at), Some(action), true) = (at, action, self.errors.len() == before) {
                steps.push(Step {
                    at,
                    action,
                    note,
                    question,
                    line,
                });
            }
        }
        steps
    }

    /// A step's `question` and its `answer` (a measured name), both or
    /// neither.
    fn question(&mut self, entries: &[Entry<'_, '_>], step: Range<usize>) -> Option<Question> {
        let text = entry(entries, "question").and_then(|(_, v)| self.string("question", v));
        let answer = entry(entries, "answer");
        match (text, answer) {
            (None, None) => None,
            (Some(_), None) => {
                self.error(
                    step,
                    "this step asks a `question` but names no `answer`",
                    Some("add answer = \"write_outage\" (any name [expect] knows: the value the run measured)".into()),
                );
                None
            }
            (text, Some((k, v))) => {
                let name = self.string("answer", v)?;
                let Some(def) = crate::scenario::expect::find_answer(&name) else {
                    let names = crate::scenario::expect::CATALOGUE.iter().map(|d| d.name);
                    let help = crate::scenario::names::closest(&name, names)
                        .map(|c| format!("did you mean `{c}`?"))
                        .or_else(|| {
                            Some("any name [expect] knows; see scenarios/README.md".into())
                        });
                    self.error(
                        v.span(),
                        format!("unknown answer `{name}`: no measured value has that name"),
                        help,
                    );
                    return None;
                };
                let Some(text) = text else {
                    self.error(
                        k.span(),
                        "`answer` without a `question`: add question = \"...\"",
                        None,
                    );
                    return None;
                };
                Some(Question {
                    text,
                    answer: def.name.to_string(),
                })
            }
        }
    }

    /// Checks a step's time against the step before it (`last`: its time
    /// and line) and the end of the run.
    fn check_time(
        &mut self,
        at: Duration,
        at_v: &Spanned<DeValue<'_>>,
        last: Option<(Duration, usize)>,
        context: &StepContext<'_>,
    ) {
        if let Some((prev, prev_line)) = last {
            if at < prev {
                self.error(
                    at_v.span(),
                    format!(
                        "step at {} comes after the step at {} (line {prev_line}): steps must be in time order",
                        duration_text(at),
                        duration_text(prev)
                    ),
                    None,
                );
            }
        }
        if at > context.duration {
            let help = context
                .duration_span
                .as_ref()
                .map(|_| "raise `duration` or move the step earlier".to_string())
                .or_else(|| Some("the default duration is 30s; set `duration`".into()));
            self.error(
                at_v.span(),
                format!(
                    "step at {} is after the end of the run (duration {})",
                    duration_text(at),
                    duration_text(context.duration)
                ),
                help,
            );
        }
    }
}
