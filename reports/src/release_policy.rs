//! The default release policy: the verdict a run gives when no `--policy` is named, so every
//! report opens with one. It holds each DP model to what its guarantee promises and what the
//! audit can check:
//!
//! 1. `empirical_epsilon_within_guarantee`: every ε lower bound is at or below the guarantee of
//!    its own unit (per record, or the group guarantee of a canary repeated r times);
//! 2. `no_canary_secret_extracted`: no canary secret inserted into training is recovered
//!    exactly by the extraction probes;
//! 3. `exact_memorization_at_floor`: exact discoverable memorization of training records is
//!    not above the upper confidence limit of the same rate on population records never
//!    trained on (the rate at which a model "memorizes" text it never saw);
//! 4. `secret_noise`: the noise and sampling were not seeded (`--insecure-seed` voids ε).
//!
//! A figure that was not measured fails its rule (a verdict never passes by omission). The
//! non-private baseline is not held to it: it is the yardstick, not a release candidate. A
//! run with no DP model fails (nothing to release under a guarantee).

use crate::gate::fmt_num;
use crate::{GateOutcome, ModelSummary, RuleResult, Summary};

/// The name the report and summary.json give the default policy.
pub const DEFAULT_POLICY_NAME: &str = "default release policy (vg-audit)";

/// The rules of the default policy, (name, what it checks), in evaluation order.
pub const DEFAULT_POLICY_RULES: [(&str, &str); 4] = [
    ("empirical_epsilon_within_guarantee", "every ε lower bound ≤ the guarantee of its own unit"),
    ("no_canary_secret_extracted", "no inserted canary secret recovered by extraction"),
    ("exact_memorization_at_floor", "exact memorization ≤ the population floor's upper confidence limit"),
    ("secret_noise", "DP noise and sampling not seeded (--insecure-seed voids the guarantee)"),
];

fn result(rule: &str, metric: &str, model: &str, value: Option<f64>, max: Option<f64>, passed: bool, reason: String) -> RuleResult {
    RuleResult { rule: rule.into(), metric: metric.into(), model: Some(model.into()), value, max, min: None, passed, reason }
}

/// `value ≤ max`, failing when either is missing.
fn at_most(rule: &str, metric: &str, model: &str, value: Option<f64>, max: Option<f64>, missing: &str) -> RuleResult {
    match (value, max) {
        (Some(v), Some(m)) => {
            let passed = v <= m;
            let reason = if passed { format!("{} ≤ {}", fmt_num(v), fmt_num(m)) } else { format!("{} is above {}", fmt_num(v), fmt_num(m)) };
            result(rule, metric, model, Some(v), Some(m), passed, reason)
        }
        _ => result(rule, metric, model, value, max, false, format!("{missing}; a figure that was not measured fails the rule")),
    }
}

fn model_rules(m: &ModelSummary, insecure: bool) -> Vec<RuleResult> {
    let [(bounds_rule, _), (canary_rule, _), (floor_rule, _), (noise_rule, _)] = DEFAULT_POLICY_RULES;
    let name = m.name.as_str();
    let mut out = Vec::new();
    if m.epsilon_lower_bounds.is_empty() {
        out.push(at_most(bounds_rule, "epsilon_lower_bounds", name, None, None, "no ε lower bound was computed"));
    }
    for (method, b) in &m.epsilon_lower_bounds {
        let metric = format!("epsilon_lower_bounds.{method}.epsilon");
        out.push(at_most(bounds_rule, &metric, name, Some(b.epsilon), b.compared_with.epsilon, "the bound has no guarantee to meet"));
    }
    let recovered = m.memorization.as_ref().and_then(|x| x.canary_recovery.as_ref()).map(|c| c.included_recovered as f64);
    out.push(at_most(canary_rule, "memorization.canary_recovery.included_recovered", name, recovered, Some(0.0), "canary extraction did not run"));
    let exact = m.memorization.as_ref().and_then(|x| x.exact_rate);
    let floor = m.memorization.as_ref().and_then(|x| x.population_exact_rate_ci.map(|ci| ci.high));
    out.push(at_most(floor_rule, "memorization.exact_rate", name, exact, floor, "discoverable memorization (or its population floor) was not measured"));
    out.push(at_most(noise_rule, "run.insecure_seed", name, Some(if insecure { 1.0 } else { 0.0 }), Some(0.0), ""));
    out
}

/// Evaluates the default release policy on every DP model of `summary`.
pub fn default_release_verdict(summary: &Summary) -> GateOutcome {
    let mut rules: Vec<RuleResult> =
        summary.models.iter().filter(|m| m.private).flat_map(|m| model_rules(m, summary.run.insecure_seed)).collect();
    if rules.is_empty() {
        rules.push(RuleResult {
            rule: "dp_model_present".into(),
            metric: "private".into(),
            model: None,
            value: Some(0.0),
            max: None,
            min: Some(1.0),
            passed: false,
            reason: "no model was trained with DP: nothing can be released under a guarantee".into(),
        });
    }
    GateOutcome { policy: DEFAULT_POLICY_NAME.into(), passed: rules.iter().all(|r| r.passed), rules }
}
