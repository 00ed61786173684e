//! Gate policies that must pass and must fail on the fixed summary fixture, policy errors,
//! and JUnit XML well-formedness.

use crate::common;

use vg_reports::gate::{evaluate, evaluate_value, junit_xml, Policy};
use vg_reports::Summary;

fn fixture() -> Summary {
    Summary::from_json(include_str!("fixtures/summary.json")).expect("fixture parses")
}

fn run(policy: &str) -> Vec<vg_reports::RuleResult> {
    evaluate(&fixture(), &Policy::from_toml(policy).expect("policy parses"))
}

#[test]
fn dp_target_passes_a_release_policy() {
    let results = run(r#"
models = ["dp"]
max_empirical_epsilon = 1.0
max_auc = 0.55
max_tpr_at_fpr_1e-2 = 0.02
max_exact_memorization = 0.001
max_approximate_memorization = 0.01
max_fragment_hits = 0
max_exposure = 8.0
max_theoretical_epsilon = 2.0
require_dp = true
require_secure_noise = true
"#);
    for r in &results {
        assert!(r.passed, "expected PASS: {r:?}");
    }
    // 2 bounds + 3 AUCs + 3 TPRs + 5 single figures + require_dp + 1 run-level rule
    assert_eq!(results.len(), 15);
    let one_run = results.iter().find(|r| r.metric == "epsilon_lower_bounds.one_run.epsilon").unwrap();
    assert_eq!(one_run.value, Some(0.31));
    assert_eq!(one_run.model.as_deref(), Some("dp"));
    let secure = results.iter().find(|r| r.rule == "require_secure_noise").unwrap();
    assert_eq!((secure.metric.as_str(), secure.model.as_deref(), secure.value), ("run.insecure_seed", None, Some(0.0)));
}

#[test]
fn baseline_fails_the_same_policy_on_every_leaking_figure() {
    let results = run("models = [\"non-dp\"]\nmax_empirical_epsilon = 1.0\nmax_auc = 0.6\nrequire_dp = true\nmax_theoretical_epsilon = 2.0\n");
    let failed: Vec<&str> = results.iter().filter(|r| !r.passed).map(|r| r.metric.as_str()).collect();
    assert_eq!(
        failed,
        [
            "epsilon_lower_bounds.clopper_pearson.epsilon",
            "epsilon_lower_bounds.one_run.epsilon",
            "mia.lira_online.auc",
            "mia.loss.auc",
            "mia.rmia.auc",
            "dp.epsilon",
            "private",
        ]
    );
    let theo = results.iter().find(|r| r.metric == "dp.epsilon").unwrap();
    assert_eq!(theo.value, None, "non-private dp is null: fails by omission, never passes");
}

#[test]
fn explicit_rules_with_min_max_and_model() {
    let results = run(r#"
[[rule]]
metric = "mia.lira_online.auc"
model = "non-dp"
min = 0.8
max = 0.9

[[rule]]
metric = "utility.perplexity"
model = "dp"
max = 30.0
"#);
    assert_eq!(results.len(), 2);
    assert!(results[0].passed, "{:?}", results[0]);
    assert_eq!(results[0].value, Some(0.83));
    assert!(!results[1].passed, "30.27 > 30 must fail");
    assert!(results[1].reason.contains("above the maximum 30"), "{}", results[1].reason);
}

#[test]
fn missing_or_null_metrics_fail() {
    let results = run(r#"
[[rule]]
metric = "mia.rmia.tpr_at_fpr_1e-3"
model = "dp"
max = 0.5

[[rule]]
metric = "mia.no_such_attack.auc"
max = 1.0

[[rule]]
metric = "mia.loss.auc"
model = "ghost"
max = 1.0

[[rule]]
metric = "epsilon_lower_bounds.*.epsilon"
model = "dp"
max = 10.0
"#);
    assert!(!results[0].passed && results[0].reason.contains("null"), "{:?}", results[0]);
    assert_eq!(results.iter().filter(|r| r.metric == "mia.no_such_attack.auc" && !r.passed).count(), 2);
    let ghost = results.iter().find(|r| r.model.as_deref() == Some("ghost")).unwrap();
    assert!(!ghost.passed && ghost.reason.contains("not in the summary"));
    assert!(results.iter().filter(|r| r.metric.starts_with("epsilon_lower_bounds.")).all(|r| r.passed));

    // a wildcard that matches nothing fails instead of passing vacuously
    let mut s = serde_json::to_value(fixture()).unwrap();
    s["models"][0]["epsilon_lower_bounds"] = serde_json::json!({});
    let p = Policy::from_toml("models = [\"dp\"]\nmax_empirical_epsilon = 5.0\n").unwrap();
    let r = evaluate_value(&s, &p);
    assert_eq!(r.len(), 1);
    assert!(!r[0].passed && r[0].reason.contains("no values match"), "{:?}", r[0]);
}

#[test]
fn insecure_seed_fails_require_secure_noise() {
    let mut s = fixture();
    s.run.insecure_seed = true;
    let r = evaluate(&s, &Policy::from_toml("require_secure_noise = true").unwrap());
    assert_eq!(r.len(), 1);
    assert!(!r[0].passed);
    assert_eq!(r[0].value, Some(1.0));
}

#[test]
fn bad_policies_are_refused_with_the_key_name() {
    let unknown = Policy::from_toml("max_aucc = 0.6").unwrap_err().to_string();
    assert!(unknown.contains("max_aucc"), "{unknown}");
    let unknown_in_rule = Policy::from_toml("[[rule]]\nmetric = \"dp.epsilon\"\nmaximum = 2\n").unwrap_err().to_string();
    assert!(unknown_in_rule.contains("maximum"), "{unknown_in_rule}");
    let no_limit = Policy::from_toml("[[rule]]\nmetric = \"dp.epsilon\"\n").unwrap_err().to_string();
    assert!(no_limit.contains("neither `max` nor `min`"), "{no_limit}");
    let crossed = Policy::from_toml("[[rule]]\nmetric = \"dp.epsilon\"\nmin = 3\nmax = 2\n").unwrap_err().to_string();
    assert!(crossed.contains("min 3 > max 2"), "{crossed}");
    let empty = Policy::from_toml("").unwrap_err().to_string();
    assert!(empty.contains("no rules"), "{empty}");
    let bad_path = Policy::from_toml("[[rule]]\nmetric = \"mia..auc\"\nmax = 1\n").unwrap_err().to_string();
    assert!(bad_path.contains("mia..auc"), "{bad_path}");
}

#[test]
fn verdict_is_recorded_per_model_and_overall() {
    let mut s = fixture();
    let p = Policy::from_toml("max_auc = 0.6").unwrap();
    let results = evaluate(&s, &p);
    s.apply_verdict("gate.toml", &results);
    let gate = s.gate.as_ref().unwrap();
    assert!(!gate.passed);
    assert_eq!(gate.rules.len(), 6);
    assert_eq!(s.model("dp").unwrap().verdict.as_ref().unwrap().len(), 3);
    assert!(s.model("dp").unwrap().verdict.as_ref().unwrap().iter().all(|r| r.passed));
    assert!(s.model("non-dp").unwrap().verdict.as_ref().unwrap().iter().all(|r| !r.passed));
    // still a valid summary
    vg_reports::schema::validate_summary(&serde_json::to_value(&s).unwrap()).unwrap();
}

#[test]
fn junit_is_well_formed_and_escaped() {
    let mut s = fixture();
    s.models[1].name = "evil<&\"'>".into();
    let p = Policy::from_toml("max_auc = 0.6\nrequire_secure_noise = true").unwrap();
    let results = evaluate(&s, &p);
    let xml = junit_xml(&results, "gate <policy> & \"co\"");
    let root = common::parse_xml(&xml).unwrap_or_else(|e| panic!("not well-formed: {e}\n{xml}"));
    assert_eq!(root.name, "testsuites");
    let suite = &root.children[0];
    assert_eq!(suite.name, "testsuite");
    assert_eq!(suite.attr("name"), Some("gate <policy> & \"co\""));
    assert_eq!(suite.attr("tests"), Some("7"));
    assert_eq!(suite.attr("failures"), Some("3"));
    assert_eq!(suite.children.len(), 7);
    let failing: Vec<_> = suite.children.iter().filter(|c| c.children.iter().any(|f| f.name == "failure")).collect();
    assert_eq!(failing.len(), 3);
    assert!(failing.iter().all(|c| c.attr("classname") == Some("vg-audit.gate.evil<&\"'>")));
}

#[test]
fn numbers_print_short() {
    use vg_reports::gate::fmt_num;
    assert_eq!(fmt_num(1e-5), "1e-5");
    assert_eq!(fmt_num(1.12e-10), "1.12e-10");
    assert_eq!(fmt_num(0.521), "0.521");
    assert_eq!(fmt_num(2.0), "2");
    assert_eq!(fmt_num(30.27), "30.27");
    assert_eq!(fmt_num(2.5e6), "2500000");
    assert_eq!(fmt_num(1234567.5), "1.235e6");
}
