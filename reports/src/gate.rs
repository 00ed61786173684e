//! The policy gate: rules on any figure of `summary.json`, evaluated per model, that CI enforces.
//!
//! A policy is TOML. Each `[[rule]]` names a `metric` (a dotted path inside a model's object of
//! `summary.json`, e.g. `mia.lira_online.auc`; `*` matches every key at that level, e.g.
//! `epsilon_lower_bounds.*.epsilon`; a path starting with `run.` reads the run metadata once,
//! e.g. `run.insecure_seed`), an optional `model` (default: the policy's top-level `models`, or
//! every model), and `max` and/or `min` (inclusive). Booleans count as 1 (true) and 0 (false).
//! A metric that is missing or null FAILS its rule: a gate never passes by omission.
//!
//! Named shorthands, written at the top level of the policy, expand to rules:
//!
//! | shorthand | expands to |
//! |---|---|
//! | `max_empirical_epsilon = X` | `epsilon_lower_bounds.*.epsilon` ≤ X (every method on its own) |
//! | `max_auc = X` | `mia.*.auc` ≤ X (every attack) |
//! | `max_tpr_at_fpr_1e-3 = X` | `mia.*.tpr_at_fpr_1e-3` ≤ X |
//! | `max_tpr_at_fpr_1e-2 = X` | `mia.*.tpr_at_fpr_1e-2` ≤ X |
//! | `max_exact_memorization = X` | `memorization.exact_rate` ≤ X |
//! | `max_approximate_memorization = X` | `memorization.approximate_rate` ≤ X |
//! | `max_fragment_hits = N` | `memorization.fragment_hits` ≤ N |
//! | `max_exposure = X` | `exposure.included.max` ≤ X (bits) |
//! | `max_theoretical_epsilon = X` | `dp.epsilon` ≤ X (fails for a non-private model) |
//! | `require_dp = true` | `private` ≥ 1 |
//! | `require_secure_noise = true` | `run.insecure_seed` ≤ 0 (no fixed noise seed) |

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::{Error, RuleResult, Summary};

/// A parsed, checked gate policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Where the policy came from (file path or "<string>").
    pub origin: String,
    /// Models rules apply to when they name none; `None` = every model in the summary.
    pub default_models: Option<Vec<String>>,
    /// Rules in policy order (shorthands first, then `[[rule]]` tables).
    pub rules: Vec<Rule>,
}

/// One rule: a metric path and its limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Display name: the shorthand, the `name` given, or the metric.
    pub name: String,
    /// Dotted metric path (may contain `*`; `run.` prefix = run metadata).
    pub metric: String,
    /// Model the rule is restricted to.
    pub model: Option<String>,
    /// Inclusive upper limit.
    pub max: Option<f64>,
    /// Inclusive lower limit.
    pub min: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    models: Option<Vec<String>>,
    max_empirical_epsilon: Option<f64>,
    max_auc: Option<f64>,
    #[serde(rename = "max_tpr_at_fpr_1e-3")]
    max_tpr_at_fpr_1e_3: Option<f64>,
    #[serde(rename = "max_tpr_at_fpr_1e-2")]
    max_tpr_at_fpr_1e_2: Option<f64>,
    max_exact_memorization: Option<f64>,
    max_approximate_memorization: Option<f64>,
    max_fragment_hits: Option<f64>,
    max_exposure: Option<f64>,
    max_theoretical_epsilon: Option<f64>,
    #[serde(default)]
    require_dp: bool,
    #[serde(default)]
    require_secure_noise: bool,
    #[serde(default)]
    rule: Vec<RuleTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleTable {
    metric: String,
    name: Option<String>,
    model: Option<String>,
    max: Option<f64>,
    min: Option<f64>,
}

impl Policy {
    /// Reads and checks a policy file.
    pub fn from_file(path: &Path) -> Result<Policy, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a policy given as TOML text.
    pub fn from_toml(text: &str) -> Result<Policy, Error> {
        Self::parse(text, "<string>")
    }

    fn parse(text: &str, origin: &str) -> Result<Policy, Error> {
        let err = |message: String| Error::Policy { origin: origin.to_string(), message };
        let file: PolicyFile = toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_string()))?;
        let mut rules = Vec::new();
        let mut max_rule = |name: &str, metric: &str, value: Option<f64>| {
            if let Some(v) = value {
                rules.push(Rule { name: name.into(), metric: metric.into(), model: None, max: Some(v), min: None });
            }
        };
        max_rule("max_empirical_epsilon", "epsilon_lower_bounds.*.epsilon", file.max_empirical_epsilon);
        max_rule("max_auc", "mia.*.auc", file.max_auc);
        max_rule("max_tpr_at_fpr_1e-3", "mia.*.tpr_at_fpr_1e-3", file.max_tpr_at_fpr_1e_3);
        max_rule("max_tpr_at_fpr_1e-2", "mia.*.tpr_at_fpr_1e-2", file.max_tpr_at_fpr_1e_2);
        max_rule("max_exact_memorization", "memorization.exact_rate", file.max_exact_memorization);
        max_rule("max_approximate_memorization", "memorization.approximate_rate", file.max_approximate_memorization);
        max_rule("max_fragment_hits", "memorization.fragment_hits", file.max_fragment_hits);
        max_rule("max_exposure", "exposure.included.max", file.max_exposure);
        max_rule("max_theoretical_epsilon", "dp.epsilon", file.max_theoretical_epsilon);
        if file.require_dp {
            rules.push(Rule { name: "require_dp".into(), metric: "private".into(), model: None, max: None, min: Some(1.0) });
        }
        if file.require_secure_noise {
            rules.push(Rule {
                name: "require_secure_noise".into(),
                metric: "run.insecure_seed".into(),
                model: None,
                max: Some(0.0),
                min: None,
            });
        }
        for (i, t) in file.rule.into_iter().enumerate() {
            let n = i + 1;
            if t.max.is_none() && t.min.is_none() {
                return Err(err(format!("[[rule]] #{n} (metric `{}`) has neither `max` nor `min`", t.metric)));
            }
            if t.metric.is_empty() || t.metric.split('.').any(str::is_empty) {
                return Err(err(format!("[[rule]] #{n}: metric `{}` is not a dotted path like `mia.loss.auc`", t.metric)));
            }
            if t.metric.starts_with("run.") && t.model.is_some() {
                return Err(err(format!("[[rule]] #{n}: metric `{}` reads run metadata; `model` does not apply", t.metric)));
            }
            rules.push(Rule { name: t.name.unwrap_or_else(|| t.metric.clone()), metric: t.metric, model: t.model, max: t.max, min: t.min });
        }
        for r in &rules {
            for (which, v) in [("max", r.max), ("min", r.min)] {
                if let Some(v) = v {
                    if !v.is_finite() {
                        return Err(err(format!("rule `{}`: `{which}` = {v} is not a finite number", r.name)));
                    }
                }
            }
            if let (Some(lo), Some(hi)) = (r.min, r.max) {
                if lo > hi {
                    return Err(err(format!("rule `{}`: min {lo} > max {hi}, no value can pass", r.name)));
                }
            }
        }
        if let Some(models) = &file.models {
            if models.is_empty() {
                return Err(err("`models = []` would check no model; omit it to check every model".into()));
            }
        }
        if rules.is_empty() {
            return Err(err("no rules: a policy must contain a shorthand (e.g. `max_empirical_epsilon = 1.0`) or a [[rule]] table".into()));
        }
        Ok(Policy { origin: origin.to_string(), default_models: file.models, rules })
    }
}

/// Evaluates every rule of `policy` on a summary.
pub fn evaluate(summary: &Summary, policy: &Policy) -> Vec<RuleResult> {
    let value = serde_json::to_value(summary).expect("summary serialises");
    evaluate_value(&value, policy)
}

/// Evaluates every rule on a summary given as JSON (so a summary with extra fields still gates).
pub fn evaluate_value(summary: &Value, policy: &Policy) -> Vec<RuleResult> {
    let empty = Vec::new();
    let models = summary.get("models").and_then(Value::as_array).unwrap_or(&empty);
    let mut out = Vec::new();
    for rule in &policy.rules {
        if let Some(run_path) = rule.metric.strip_prefix("run.") {
            let run = summary.get("run").unwrap_or(&Value::Null);
            check_paths(rule, None, run, run_path, "run.", &mut out);
            continue;
        }
        let wanted: Vec<String> = match (&rule.model, &policy.default_models) {
            (Some(m), _) => vec![m.clone()],
            (None, Some(ms)) => ms.clone(),
            (None, None) => models.iter().filter_map(|m| m.get("name")?.as_str().map(String::from)).collect(),
        };
        if wanted.is_empty() {
            out.push(fail(rule, None, &rule.metric, "the summary lists no models".into()));
        }
        for name in wanted {
            match models.iter().find(|m| m.get("name").and_then(Value::as_str) == Some(name.as_str())) {
                Some(model) => check_paths(rule, Some(&name), model, &rule.metric, "", &mut out),
                None => out.push(fail(rule, Some(&name), &rule.metric, format!("model `{name}` is not in the summary"))),
            }
        }
    }
    out
}

/// Expands `*` segments against `root` and checks each concrete value.
fn check_paths(rule: &Rule, model: Option<&str>, root: &Value, path: &str, prefix: &str, out: &mut Vec<RuleResult>) {
    let mut found: Vec<(String, Option<&Value>)> = vec![(String::new(), Some(root))];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for (at, v) in found {
            let join = |k: &str| if at.is_empty() { k.to_string() } else { format!("{at}.{k}") };
            match (seg, v) {
                ("*", Some(Value::Object(map))) => next.extend(map.iter().map(|(k, v)| (join(k), Some(v)))),
                ("*", _) => {}
                (key, Some(Value::Object(map))) => next.push((join(key), map.get(key))),
                (key, _) => next.push((join(key), None)),
            }
        }
        found = next;
    }
    if found.is_empty() {
        let reason = format!("no values match `{prefix}{path}`");
        out.push(fail(rule, model, &format!("{prefix}{path}"), reason));
        return;
    }
    for (concrete, v) in found {
        let metric = format!("{prefix}{concrete}");
        let value = match v {
            None => return_fail(out, rule, model, &metric, "missing"),
            Some(Value::Null) => return_fail(out, rule, model, &metric, "null"),
            Some(Value::Bool(b)) => Some(if *b { 1.0 } else { 0.0 }),
            Some(Value::Number(n)) => n.as_f64(),
            Some(_) => return_fail(out, rule, model, &metric, "not a number or boolean"),
        };
        let Some(x) = value else { continue };
        let over = rule.max.is_some_and(|m| x > m);
        let under = rule.min.is_some_and(|m| x < m);
        let reason = match (over, under) {
            (true, _) => format!("{} is above the maximum {}", fmt_num(x), fmt_num(rule.max.unwrap_or(0.0))),
            (_, true) => format!("{} is below the minimum {}", fmt_num(x), fmt_num(rule.min.unwrap_or(0.0))),
            _ => format!("{} within {}", fmt_num(x), limits(rule.min, rule.max)),
        };
        out.push(RuleResult {
            rule: rule.name.clone(),
            metric,
            model: model.map(String::from),
            value: Some(x),
            max: rule.max,
            min: rule.min,
            passed: !over && !under,
            reason,
        });
    }
}

/// Pushes a failing result for a missing value; returns `None` so the caller skips the value.
fn return_fail(out: &mut Vec<RuleResult>, rule: &Rule, model: Option<&str>, metric: &str, what: &str) -> Option<f64> {
    out.push(fail(rule, model, metric, format!("`{metric}` is {what}; a missing figure fails the rule")));
    None
}

fn fail(rule: &Rule, model: Option<&str>, metric: &str, reason: String) -> RuleResult {
    RuleResult {
        rule: rule.name.clone(),
        metric: metric.to_string(),
        model: model.map(String::from),
        value: None,
        max: rule.max,
        min: rule.min,
        passed: false,
        reason,
    }
}

fn limits(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!("[{}, {}]", fmt_num(lo), fmt_num(hi)),
        (Some(lo), None) => format!("min {}", fmt_num(lo)),
        (None, Some(hi)) => format!("max {}", fmt_num(hi)),
        (None, None) => "no limits".into(),
    }
}

/// Short human form of a number (integers without decimals, others to 4 significant digits).
pub fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e6) {
        // 1.000e-5 → 1e-5, 1.120e-10 → 1.12e-10
        let s = format!("{x:.3e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') { mantissa.trim_end_matches('0').trim_end_matches('.') } else { mantissa };
        format!("{mantissa}e{exp}")
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// One human line per result: `PASS  dp  mia.loss.auc = 0.51 (max 0.6)`.
pub fn format_result(r: &RuleResult) -> String {
    let status = if r.passed { "PASS" } else { "FAIL" };
    let model = r.model.as_deref().unwrap_or("(run)");
    let value = r.value.map(fmt_num).unwrap_or_else(|| "—".into());
    let name = if r.rule == r.metric { String::new() } else { format!("[{}] ", r.rule) };
    let line = format!("{status}  {model:<8} {name}{} = {value} ({})", r.metric, limits(r.min, r.max));
    if r.passed {
        line
    } else {
        format!("{line} — {}", r.reason)
    }
}

/// JUnit XML: one test suite, each result a test case (failed ones carry a `<failure>`).
pub fn junit_xml(results: &[RuleResult], suite: &str) -> String {
    let failures = results.iter().filter(|r| !r.passed).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(x, "<testsuites name=\"vg-audit gate\" tests=\"{}\" failures=\"{failures}\">", results.len());
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
        xml_escape(suite),
        results.len()
    );
    for r in results {
        let class = format!("vg-audit.gate.{}", r.model.as_deref().unwrap_or("run"));
        let name = if r.rule == r.metric { r.metric.clone() } else { format!("{}: {}", r.rule, r.metric) };
        let _ = write!(x, "    <testcase classname=\"{}\" name=\"{}\"", xml_escape(&class), xml_escape(&name));
        if r.passed {
            x.push_str("/>\n");
        } else {
            let _ = writeln!(
                x,
                ">\n      <failure message=\"{}\" type=\"GateRuleFailed\">{}</failure>\n    </testcase>",
                xml_escape(&r.reason),
                xml_escape(&format_result(r))
            );
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Escapes text for XML content and double-quoted attributes; drops characters XML 1.0 forbids.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}
