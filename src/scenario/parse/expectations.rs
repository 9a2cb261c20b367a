//! The `[expect]` table: each key an expectation of the catalogue
//! ([`crate::scenario::expect`]) measured by a workload the scenario runs,
//! each value a bare value or `"OP VALUE"` of the kind that expectation
//! takes.

use super::reader::{normalise, type_name, Entry, Reader};
use crate::faults::parse_duration;
use crate::scenario::expect::{self, ExpectKind};
use crate::scenario::model::{Comparator, Expectation, Expected};
use crate::scenario::names::closest;
use crate::workload::WorkloadKind;
use toml::de::DeValue;
use toml::Spanned;

impl Reader<'_> {
    /// Reads `[expect]`; `workload` is the scenario's workload and `later`
    /// the ones its steps switch to.
    pub(super) fn expectations(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        workload: WorkloadKind,
        later: &[WorkloadKind],
    ) -> Vec<Expectation> {
        let Some(t) = self.table("expect", v) else {
            return Vec::new();
        };
        let names: Vec<&str> = expect::CATALOGUE.iter().map(|d| d.name).collect();
        let mut entries: Vec<Entry<'_, '_>> = t.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        let mut out = Vec::new();
        for (k, v) in entries {
            let name = normalise(k.get_ref());
            let Some(def) = expect::find(&name) else {
                let help = closest(&name, names.iter().copied())
                    .map(|c| format!("did you mean `{c}`?"))
                    .or_else(|| Some("see scenarios/README.md for every expectation".into()));
                self.error(
                    k.span(),
                    format!(
                        "unknown expectation `{}`: no report field has that name",
                        k.get_ref()
                    ),
                    help,
                );
                continue;
            };
            if !def.workloads.is_empty()
                && !def.workloads.contains(&workload)
                && !later.iter().any(|w| def.workloads.contains(w))
            {
                let wanted: Vec<String> = def.workloads.iter().map(|w| w.to_string()).collect();
                self.error(
                    k.span(),
                    format!(
                        "`{name}` is measured only by the {} workload, but this scenario runs {workload}",
                        wanted.join(" or ")
                    ),
                    None,
                );
                continue;
            }
            if let Some(expected) = self.expected(&name, def.kind, v) {
                let written = match v.get_ref() {
                    DeValue::String(s) => s.to_string(),
                    DeValue::Integer(i) => i.as_str().to_string(),
                    DeValue::Float(f) => f.as_str().to_string(),
                    DeValue::Boolean(b) => b.to_string(),
                    _ => String::new(),
                };
                out.push(Expectation {
                    name,
                    expected,
                    written,
                    line: self.line_of(&k.span()),
                });
            }
        }
        out
    }

    /// Reads an expectation's value: a bare value, or `"OP VALUE"`.
    fn expected(
        &mut self,
        name: &str,
        kind: ExpectKind,
        v: &Spanned<DeValue<'_>>,
    ) -> Option<Expected> {
        let bad = |p: &mut Self, what: String| {
            p.error(
                v.span(),
                format!(
                    "bad value for `{name}`: {what}; expected {}",
                    kind.describe()
                ),
                None,
            );
        };
        let default_cmp = expect::default_comparator(kind);
        match (kind, v.get_ref()) {
            (ExpectKind::Bool, DeValue::Boolean(b)) => Some(Expected::Bool(*b)),
            (ExpectKind::Bool, other) => {
                bad(self, format!("found {}", type_name(other)));
                None
            }
            (ExpectKind::Count | ExpectKind::Number, DeValue::Integer(_) | DeValue::Float(_)) => {
                let n = self.float(name, v, f64::MIN, f64::MAX)?;
                if kind == ExpectKind::Count && (n < 0.0 || n.fract() != 0.0) {
                    bad(self, format!("found {n}"));
                    return None;
                }
                Some(Expected::Number {
                    cmp: default_cmp,
                    value: n,
                })
            }
            (_, DeValue::String(s)) => {
                let s = s.trim();
                let (cmp, rest) = Comparator::ALL
                    .iter()
                    .find_map(|c| s.strip_prefix(c.symbol()).map(|r| (*c, r.trim())))
                    .unwrap_or((default_cmp, s));
                let value = if kind == ExpectKind::Duration {
                    match parse_duration(rest) {
                        Ok(d) => d.as_secs_f64() * 1000.0,
                        Err(_) => {
                            bad(self, format!("found {s:?}"));
                            return None;
                        }
                    }
                } else {
                    match rest.parse::<f64>() {
                        Ok(n) if n.is_finite() => n,
                        _ => {
                            bad(self, format!("found {s:?}"));
                            return None;
                        }
                    }
                };
                Some(Expected::Number { cmp, value })
            }
            (_, other) => {
                bad(self, format!("found {}", type_name(other)));
                None
            }
        }
    }
}
