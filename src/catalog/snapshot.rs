//! The compiled control plane: per bus one matcher over its enabled rules, and
//! per target what delivering to it needs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::Arns;
use super::records::{ApiDestinationRecord, ConnectionRecord, RuleRecord, TargetRecord};
use crate::pattern::{EventError, Limits, Matcher, MatcherBuilder, Pattern};

/// An immutable view of the control plane; replaced whole on every change.
#[derive(Default)]
pub struct Snapshot {
    buses: HashMap<String, BusRoutes>,
    /// Every target of every rule (enabled or not), by uid.
    pub targets: HashMap<u64, Arc<TargetRoute>>,
    pub connections: HashMap<String, Arc<ConnectionRecord>>,
    pub destinations: HashMap<String, Arc<ApiDestinationRecord>>,
    /// subject (API destination name or target URL) → its signing keys.
    pub signing: HashMap<String, Arc<super::SigningKeys>>,
}

/// The enabled rules of one bus, compiled.
pub struct BusRoutes {
    matcher: Matcher<u32>,
    rules: Vec<RuleRoute>,
    /// Some enabled rule has a target.
    delivers: bool,
}

pub struct RuleRoute {
    pub name: String,
    pub arn: String,
    pub targets: Vec<u64>,
}

/// A target with the rule it belongs to.
#[derive(Debug)]
pub struct TargetRoute {
    pub bus: String,
    pub rule: String,
    pub rule_arn: String,
    pub rule_enabled: bool,
    pub target: TargetRecord,
}

impl Snapshot {
    pub(super) fn compile(
        rules: &BTreeMap<(String, String), RuleRecord>,
        connections: &BTreeMap<String, ConnectionRecord>,
        destinations: &BTreeMap<String, ApiDestinationRecord>,
        arns: &Arns,
        limits: &Limits,
    ) -> Snapshot {
        let mut builders: HashMap<String, (MatcherBuilder<u32>, Vec<RuleRoute>)> = HashMap::new();
        let mut targets = HashMap::new();
        for rule in rules.values() {
            let arn = arns.rule(&rule.bus, &rule.name);
            for target in &rule.targets {
                targets.insert(
                    target.uid,
                    Arc::new(TargetRoute {
                        bus: rule.bus.clone(),
                        rule: rule.name.clone(),
                        rule_arn: arn.clone(),
                        rule_enabled: rule.enabled,
                        target: target.clone(),
                    }),
                );
            }
            if !rule.enabled || rule.targets.is_empty() {
                continue;
            }
            // Patterns were validated when put; a limit lowered since then is
            // reported here rather than silently dropping the rule's traffic.
            let pattern = match Pattern::parse(&rule.pattern, limits) {
                Ok(p) => p,
                Err(error) => {
                    tracing::error!(bus = %rule.bus, rule = %rule.name, %error, "stored pattern no longer valid; rule not routed");
                    continue;
                }
            };
            let (builder, routes) = builders
                .entry(rule.bus.clone())
                .or_insert_with(|| (MatcherBuilder::new(), Vec::new()));
            let index = u32::try_from(routes.len()).unwrap_or(u32::MAX);
            builder.add(index, &pattern);
            routes.push(RuleRoute {
                name: rule.name.clone(),
                arn,
                targets: rule.targets.iter().map(|t| t.uid).collect(),
            });
        }
        Snapshot {
            buses: builders
                .into_iter()
                .map(|(bus, (builder, rules))| {
                    (
                        bus,
                        BusRoutes {
                            matcher: builder.build(),
                            delivers: rules.iter().any(|rule| !rule.targets.is_empty()),
                            rules,
                        },
                    )
                })
                .collect(),
            targets,
            connections: connections
                .iter()
                .map(|(k, v)| (k.clone(), Arc::new(v.clone())))
                .collect(),
            destinations: destinations
                .iter()
                .map(|(k, v)| (k.clone(), Arc::new(v.clone())))
                .collect(),
            signing: HashMap::new(),
        }
    }

    /// The targets (uids) of every enabled rule of `bus` that matches the
    /// event's envelope JSON, each once.
    /// Whether any enabled rule of `bus` has a target: if not, its events
    /// need not even be rendered to be routed.
    pub fn routes_anything(&self, bus: &str) -> bool {
        self.buses.get(bus).is_some_and(|routes| routes.delivers)
    }

    pub fn route(&self, bus: &str, envelope_json: &[u8]) -> Result<Vec<u64>, EventError> {
        self.route_where(bus, envelope_json, |_| true)
    }

    /// `route`, limited to the rules named in `rules` (a replay's FilterArns).
    pub fn route_rules(
        &self,
        bus: &str,
        envelope_json: &[u8],
        rules: &HashSet<String>,
    ) -> Result<Vec<u64>, EventError> {
        self.route_where(bus, envelope_json, |name| rules.contains(name))
    }

    fn route_where(
        &self,
        bus: &str,
        envelope_json: &[u8],
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<u64>, EventError> {
        let Some(routes) = self.buses.get(bus) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for index in routes.matcher.matches(envelope_json)? {
            if let Some(rule) = routes.rules.get(index as usize)
                && wanted(&rule.name)
            {
                out.extend_from_slice(&rule.targets);
            }
        }
        Ok(out)
    }
}
