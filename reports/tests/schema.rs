//! summary.json against its JSON Schema: the fixture and a fully populated summary validate,
//! broken summaries are rejected with the offending pointer, and the types round-trip.

use serde_json::{json, Value};
use vg_reports::schema::{summary_schema, validate, validate_summary};
use vg_reports::{gate::Policy, Summary};

fn fixture_value() -> Value {
    serde_json::from_str(include_str!("fixtures/summary.json")).unwrap()
}

fn problems(v: &Value) -> Vec<String> {
    validate(v, &summary_schema()).err().unwrap_or_default()
}

#[test]
fn fixture_validates_and_round_trips() {
    let v = fixture_value();
    validate_summary(&v).unwrap();
    let s = Summary::from_json(include_str!("fixtures/summary.json")).unwrap();
    let back: Value = serde_json::from_str(&s.to_json_pretty()).unwrap();
    assert_eq!(back, v, "every fixture key is a Summary field and survives a round trip");
}

#[test]
fn summary_with_verdicts_and_every_optional_part_validates() {
    let mut s = Summary::from_json(include_str!("fixtures/summary.json")).unwrap();
    let p = Policy::from_toml("max_auc = 0.6\nrequire_secure_noise = true\n").unwrap();
    let r = vg_reports::gate::evaluate(&s, &p);
    s.apply_verdict("policy.toml", &r);
    s.run.machine.hostname = Some("auditor-1".into());
    validate_summary(&serde_json::to_value(&s).unwrap()).unwrap();
    // and with every nullable part null
    s.shadow_models = Vec::new();
    s.engine_audit = None;
    s.gate = None;
    for m in &mut s.models {
        m.exposure = None;
        m.memorization = None;
        m.utility = None;
        m.verdict = None;
    }
    validate_summary(&serde_json::to_value(&s).unwrap()).unwrap();
}

#[test]
fn broken_summaries_are_rejected_with_pointers() {
    let mut v = fixture_value();
    v["models"][0]["mia"]["loss"]["auc"] = json!(1.7);
    v["models"][1].as_object_mut().unwrap().remove("private");
    v["run"]["quick"] = json!("no");
    v["models"][0]["epsilon_lower_bounds"]["one_run"]["typo_key"] = json!(1);
    v["models"][0]["dp"]["steps"] = json!(-3);
    v["schema_version"] = json!(2);
    let p = problems(&v);
    let expect = [
        "/models/0/mia/loss/auc: 1.7 is above the maximum 1",
        "/models/1: missing required key `private`",
        "/run/quick: expected boolean, found string",
        "/models/0/epsilon_lower_bounds/one_run: unknown key `typo_key`",
        "/models/0/dp/steps: -3 is below the minimum 0",
        "/schema_version: 2 is not one of [1]",
    ];
    for e in expect {
        assert!(p.iter().any(|x| x == e), "missing problem {e:?} in {p:#?}");
    }
    assert_eq!(p.len(), expect.len(), "{p:#?}");
}

#[test]
fn null_where_an_object_is_required_is_rejected() {
    let mut v = fixture_value();
    v["run"]["machine"] = Value::Null;
    v["models"][0]["mia"]["loss"] = Value::Null;
    let p = problems(&v);
    assert!(p.contains(&"/run/machine: expected object, found null".to_string()), "{p:#?}");
    assert!(p.contains(&"/models/0/mia/loss: expected object, found null".to_string()), "{p:#?}");
    // nullable parts accept null
    let mut v = fixture_value();
    v["models"][0]["memorization"] = Value::Null;
    v["models"][0]["mia"]["loss"]["tpr_at_fpr_1e-3"] = Value::Null;
    assert!(problems(&v).is_empty());
}

#[test]
fn rust_types_refuse_what_the_schema_refuses() {
    let mut v = fixture_value();
    v["models"][0]["extra"] = json!(true);
    assert!(Summary::from_json(&v.to_string()).unwrap_err().to_string().contains("extra"));
    let mut v = fixture_value();
    v["schema_version"] = json!(7);
    let e = Summary::from_json(&v.to_string()).unwrap_err().to_string();
    assert!(e.contains("schema_version 7"), "{e}");
}

#[test]
fn validator_refuses_unsupported_keywords_and_bad_refs() {
    let schema = json!({"type": "object", "patternProperties": {"x": {}}, "properties": {"a": {"$ref": "#/$defs/nope"}}});
    let p = validate(&json!({"a": 1}), &schema).unwrap_err();
    assert!(p.iter().any(|x| x.contains("`patternProperties` is not supported")), "{p:?}");
    assert!(p.iter().any(|x| x.contains("unresolvable $ref")), "{p:?}");
    // integer: 2.0 is an integer, 2.5 is not
    let int = json!({"type": "integer"});
    assert!(validate(&json!(2.0), &int).is_ok());
    assert!(validate(&json!(2.5), &int).is_err());
}

#[test]
fn shadow_sets_name_their_dp_settings_and_models_name_their_set() {
    let v = fixture_value();
    let s = Summary::from_json(&v.to_string()).unwrap();
    let dp_set = s.shadow_models.iter().find(|x| x.name == "dp").unwrap();
    assert!(dp_set.private && dp_set.dp.as_ref().unwrap().noise_multiplier > 0.0);
    assert_eq!(s.models[0].shadow_set.as_deref(), Some("dp"));
    assert_eq!(
        s.shadow_sentence().unwrap(),
        "LiRA and RMIA used the non-private shadow set (8 models, trained without DP) against non-dp; the dp shadow set \
         (8 models, DP-SGD at σ = 0.575, q = 0.0221, C = 1, learning rate 0.003, 150 steps) against dp."
    );
    // a DP set without σ, a q above 1, a set without its models, a set name that is not a string
    let mut v = fixture_value();
    v["shadow_models"][1]["dp"].as_object_mut().unwrap().remove("noise_multiplier");
    v["shadow_models"][1]["dp"]["sampling_rate"] = json!(1.5);
    v["shadow_models"][0].as_object_mut().unwrap().remove("models");
    v["models"][0]["shadow_set"] = json!(3);
    let p = problems(&v);
    let expect = [
        "/shadow_models/1/dp: missing required key `noise_multiplier`",
        "/shadow_models/1/dp/sampling_rate: 1.5 is above the maximum 1",
        "/shadow_models/0: missing required key `models`",
        "/models/0/shadow_set: expected string or null, found integer",
    ];
    for e in expect {
        assert!(p.iter().any(|x| x == e), "missing problem {e:?} in {p:#?}");
    }
    assert_eq!(p.len(), expect.len(), "{p:#?}");
    // the old single-object form is refused
    let mut v = fixture_value();
    v["shadow_models"] = json!({"count": 8, "description": "x", "private": false});
    assert!(problems(&v).iter().any(|x| x.starts_with("/shadow_models: expected array")), "{:#?}", problems(&v));
}
