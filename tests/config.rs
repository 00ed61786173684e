//! audit.toml: the commented example is the defaults, unknown keys are named, impossible
//! parameters are refused, and the resolved configuration round-trips.

use vg_audit::config::{AuditConfig, EXAMPLE};

#[test]
fn example_parses_to_defaults() {
    let cfg = AuditConfig::parse(EXAMPLE).unwrap();
    assert_eq!(cfg, AuditConfig::default());
}

#[test]
fn unknown_key_is_named_with_a_suggestion() {
    let err = AuditConfig::parse("[models]\nepsilonn = 2.0\n").unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("epsilonn"), "{msg}");
    assert!(msg.contains("did you mean `epsilon`"), "{msg}");
}

#[test]
fn impossible_parameters_are_refused() {
    assert!(AuditConfig::parse("[models]\ndelta = 1.0\n").is_err());
    assert!(AuditConfig::parse("[models]\nepsilon = 0.0\n").is_err());
    assert!(AuditConfig::parse("[models]\nshadows = 3\n").is_err());
    assert!(AuditConfig::parse("[attacks]\nconfidence = 1.5\n").is_err());
}

#[test]
fn resolved_config_round_trips() {
    let cfg = AuditConfig::default().quick();
    let back = AuditConfig::parse(&cfg.to_toml().unwrap()).unwrap();
    assert_eq!(cfg, back);
}

#[test]
fn the_demo_audit_plans_the_dp_model_and_quick_does_not() {
    let demo = AuditConfig::demo();
    demo.validate().unwrap();
    assert!(demo.plans(), "the built-in demo audit plans the DP model with the shipped law");
    assert_eq!(demo.models.compute_budget, Some(vg_audit::config::DEMO_DP_COMPUTE));
    // The fixed schedule's compute: 6 · 370,432 parameters · 32 · 150 · 128 tokens.
    assert!((vg_audit::config::DEMO_DP_COMPUTE / (6.0 * 370_432.0 * 32.0 * 150.0 * 128.0) - 1.0).abs() < 0.01);
    assert!(!demo.quick().plans(), "a smoke run trains fixed tiny models");
}
