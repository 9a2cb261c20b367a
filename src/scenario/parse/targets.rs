//! The nodes a step may name: a fault's `target` (a role such as `master`
//! or `replica-2`, or a node name) and a partition's `from` list, checked
//! against the topology the file starts.

use super::reader::Reader;
use crate::faults::Target;
use crate::scenario::names::closest;
use crate::topology::TopologySpec;
use toml::de::DeValue;
use toml::Spanned;

/// Node names and target words valid for this topology.
fn target_names(topology: &TopologySpec) -> Vec<String> {
    let mut names = vec![
        "master".to_string(),
        "replica".to_string(),
        "all".to_string(),
    ];
    if topology.is_cluster() {
        names.extend((1..=topology.masters).map(|i| format!("master-{i}")));
        names.extend((1..=topology.masters).map(|i| format!("replica-{i}")));
    } else {
        names.extend((1..=topology.replicas).map(|i| format!("replica-{i}")));
    }
    names.extend(node_names(topology));
    names
}

/// The nodes of this topology: `redis-N`, then `sentinel-N`.
pub(super) fn node_names(topology: &TopologySpec) -> Vec<String> {
    let mut names: Vec<String> = (1..=topology.redis_count())
        .map(|i| format!("redis-{i}"))
        .collect();
    names.extend((1..=topology.sentinel_count()).map(|i| format!("sentinel-{i}")));
    names
}

impl Reader<'_> {
    /// A target that exists in this topology.
    pub(super) fn target(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
        topology: &TopologySpec,
    ) -> Option<Target> {
        let s = self.string(key, v)?;
        let valid = target_names(topology);
        let unknown = |p: &mut Self, why: String| {
            let help = closest(&s, valid.iter().map(String::as_str))
                .map(|c| format!("did you mean `{c}`?"));
            p.error(v.span(), why, help);
        };
        match s.parse::<Target>() {
            Ok(t) => match t.check_in(topology) {
                Ok(()) => Some(t),
                Err(e) => {
                    unknown(self, e.to_string());
                    None
                }
            },
            Err(_) => {
                unknown(
                    self,
                    format!(
                        "unknown target {s:?}: expected master, master-K, replica, replica-N, sentinel-N, redis-N or all"
                    ),
                );
                None
            }
        }
    }
}
