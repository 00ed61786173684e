//! The default release policy and what the report and model card say from the summary alone:
//! each DP model held to its own guarantee, a missing figure failing, the baseline exempt; the
//! card's sentences follow the manifest and the results, with the cost beside ε.

use serde_json::json;
use vg_reports::release_policy::{default_release_verdict, DEFAULT_POLICY_NAME};
use vg_reports::{render_model_card, render_report, Cost, Interval, ReportData, Summary};

fn fixture() -> Summary {
    let mut s = Summary::from_json(include_str!("fixtures/summary.json")).unwrap();
    for m in &mut s.models {
        if let Some(x) = m.memorization.as_mut() {
            x.population_exact_rate_ci = Some(Interval { low: 0.0, high: 0.02, confidence: 0.95 });
            x.exact_rate = Some(0.01);
        }
        m.cost = Some(Cost { wall_seconds: 95.0, cpu_seconds: Some(180.0), parameters: 1_000_000, token_positions: 4.0e5, flops: 2.4e12 });
    }
    s
}

#[test]
fn default_policy_checks_dp_models_against_their_own_guarantee() {
    let s = fixture();
    let v = default_release_verdict(&s);
    assert_eq!(v.policy, DEFAULT_POLICY_NAME);
    assert!(v.rules.iter().all(|r| r.model.as_deref() == Some("dp")), "the non-private baseline is not a release candidate");
    let dp = s.models.iter().find(|m| m.private).unwrap();
    let bound_rules = v.rules.iter().filter(|r| r.rule == "empirical_epsilon_within_guarantee").count();
    assert_eq!(bound_rules, dp.epsilon_lower_bounds.len());
    assert!(v.passed, "{:?}", v.rules.iter().filter(|r| !r.passed).collect::<Vec<_>>());

    // A bound above the guarantee of its unit fails, naming the bound.
    let mut broken = s.clone();
    let b = broken.models.iter_mut().find(|m| m.private).unwrap().epsilon_lower_bounds.get_mut("one_run").unwrap();
    b.epsilon = b.compared_with.epsilon.unwrap() * 1.01;
    let v = default_release_verdict(&broken);
    assert!(!v.passed);
    assert!(v.rules.iter().any(|r| !r.passed && r.metric == "epsilon_lower_bounds.one_run.epsilon"));

    // Memorization above the population floor's upper limit, or a recovered canary, fails.
    let mut leaky = s.clone();
    let x = leaky.models.iter_mut().find(|m| m.private).unwrap().memorization.as_mut().unwrap();
    x.exact_rate = Some(0.05);
    x.canary_recovery.as_mut().unwrap().included_recovered = 1;
    let failed: Vec<String> = default_release_verdict(&leaky).rules.into_iter().filter(|r| !r.passed).map(|r| r.rule).collect();
    assert_eq!(failed, ["no_canary_secret_extracted", "exact_memorization_at_floor"]);
}

#[test]
fn a_figure_not_measured_fails_and_a_seeded_run_fails() {
    let mut s = fixture();
    s.models.iter_mut().for_each(|m| m.memorization = None);
    s.run.insecure_seed = true;
    let failed: Vec<String> = default_release_verdict(&s).rules.into_iter().filter(|r| !r.passed).map(|r| r.rule).collect();
    assert_eq!(failed, ["no_canary_secret_extracted", "exact_memorization_at_floor", "secret_noise"]);
    s.models.retain(|m| !m.private);
    let v = default_release_verdict(&s);
    assert!(!v.passed && v.rules[0].rule == "dp_model_present");
}

#[test]
fn report_and_card_open_with_the_verdict_and_the_cost() {
    let mut s = fixture();
    s.gate = Some(default_release_verdict(&s));
    let data = ReportData { manifest: json!({"options": {"deidentify": false, "keep_pii": []}, "pii": {"replaced": {}}}), ..ReportData::default() };
    let html = render_report(&s, &data);
    let verdict = html.find("PASS — all").expect("verdict line");
    let summary = html.find("id=\"five-line-summary\"").expect("five-line summary");
    assert!(verdict < summary && summary < html.find("id=\"bounds\"").unwrap(), "the summary comes first");
    for label in ["Guarantee", "Strongest attack", "Memorization", "Utility", "Cost"] {
        assert!(html[summary..].contains(&format!("<th>{label}</th>")), "{label}");
    }
    let card = render_model_card(&s, &data);
    assert!(card.contains("NOT de-identified"), "deidentify = false must not be called de-identified");
    assert!(!card.contains("replaced by typed placeholders ("), "{card}");
    assert!(card.contains("## Cost and the three indicators") && card.contains("2.40e12 FLOPs"), "{card}");
    assert!(card.contains("1 min 35 s wall") && card.contains("3 min 00 s CPU"), "{card}");
    let x = s.models[0].memorization.as_ref().unwrap();
    assert!(card.contains(&format!("{}-token prefix → {}-token greedy suffix", x.prefix_tokens, x.suffix_tokens)));

    // Without extraction the card says so instead of describing it.
    s.models.iter_mut().for_each(|m| m.memorization = None);
    let card = render_model_card(&s, &data);
    assert!(card.contains("- **Extraction**: not run.") && !card.contains("greedy suffix"), "{card}");
    let kept = ReportData { manifest: json!({"options": {"deidentify": true, "keep_pii": ["EMAIL"]}, "pii": {"replaced": {"PHONE": 3}}}), ..ReportData::default() };
    let card = render_model_card(&s, &kept);
    assert!(card.contains("replaced 3 PHONE") && card.contains("except EMAIL which were kept"), "{card}");
}
