//! `vg-audit plan` end to end with the shipped default law: the `--json` keys issue #13 lists,
//! the plot, exit code 2 naming the parameter for impossible budgets; and `"auto"` in audit.toml.

use crate::common::{s, vg};
use vg_audit::auto::Auto;
use vg_audit::config::AuditConfig;

/// The keys every configuration of `plan --json` has, and only these (issue #13).
const KEYS: [&str; 9] = ["preset", "params", "batch_size", "steps", "context", "noise_multiplier", "sigma_bar", "compute_flops", "predicted_eval_loss"];

fn assert_row(row: &serde_json::Value) {
    let obj = row.as_object().unwrap_or_else(|| panic!("not an object: {row}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    let mut want = KEYS.to_vec();
    want.sort();
    assert_eq!(keys, want, "{row}");
}

#[test]
fn plan_json_has_the_documented_keys_and_stays_within_epsilon() {
    let d = tempfile::tempdir().unwrap();
    let svg = d.path().join("p.svg");
    let (n, eps, delta) = (5000u64, 8.0, 1e-5);
    let o = vg(&["plan", "--records", "5000", "--epsilon", "8", "--delta", "1e-5", "--compute", "2e12", "--plot", s(&svg), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_row(&v["best"]);
    let cands = v["candidates"].as_array().unwrap();
    assert!(!cands.is_empty());
    assert_eq!(cands[0], v["best"], "the best is the first of the ranked list");
    for c in cands {
        assert_row(c);
        let (b, t, sigma) = (c["batch_size"].as_u64().unwrap(), c["steps"].as_u64().unwrap(), c["noise_multiplier"].as_f64().unwrap());
        // The exact accountant, independently: every listed σ keeps ε within the budget.
        let spent = vg_accounting::epsilon(vg_accounting::AccountantKind::Pld, b as f64 / n as f64, sigma, t, delta, vg_accounting::Neighbouring::AddOrRemoveOne).unwrap();
        assert!(spent <= eps, "{c}: ε = {spent}");
        assert!((c["sigma_bar"].as_f64().unwrap() - sigma / b as f64).abs() < 1e-12);
        assert!(c["compute_flops"].as_f64().unwrap() <= 2e12 * (1.0 + 1e-9));
    }
    for w in cands.windows(2) {
        assert!(w[0]["predicted_eval_loss"].as_f64() <= w[1]["predicted_eval_loss"].as_f64(), "ranked by predicted loss");
    }
    assert_row(&v["non_private"]);
    assert!(v["non_private"]["predicted_eval_loss"].as_f64().unwrap() <= v["best"]["predicted_eval_loss"].as_f64().unwrap());
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.starts_with("<svg") && plot.contains("chosen"), "{}", &plot[..plot.len().min(200)]);
}

#[test]
fn impossible_budgets_exit_2_naming_the_parameter() {
    for (args, word) in [
        (vec!["--epsilon", "0", "--delta", "1e-5", "--compute", "1e13"], "epsilon"),
        (vec!["--epsilon", "-2", "--delta", "1e-5", "--compute", "1e13"], "epsilon"),
        (vec!["--epsilon", "8", "--delta", "2e-4", "--compute", "1e13"], "delta"),
        (vec!["--epsilon", "8", "--delta", "1e-5", "--compute", "10"], "compute"),
    ] {
        let mut all = vec!["plan", "--records", "5000"];
        all.extend(args.iter());
        let o = vg(&all);
        assert_eq!(o.status.code(), Some(2), "{all:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(word), "{all:?}: {err}");
    }
    assert_eq!(vg(&["plan", "--records", "5000", "--epsilon", "8", "--delta", "1e-6"]).status.code(), Some(2), "no budget");
}

#[test]
fn auto_settings_parse_and_need_a_budget() {
    let cfg = AuditConfig::parse("[models]\npreset = \"auto\"\nsteps = \"auto\"\nbatch_size = \"auto\"\ntime_budget = 120.0\n").unwrap();
    assert!(cfg.plans());
    assert_eq!((cfg.models.steps, cfg.models.batch_size), (Auto::Auto, Auto::Auto));
    let back = AuditConfig::parse(&cfg.to_toml().unwrap()).unwrap();
    assert_eq!(back, cfg, "\"auto\" round-trips through the resolved config");
    for (text, word) in [
        ("[models]\nsteps = \"auto\"\n", "compute_budget"),
        ("[models]\nsteps = \"auto\"\ncompute_budget = 1e12\ntime_budget = 60.0\n", "not both"),
        ("[models]\nbatch_size = \"auto\"\ntime_budget = 60.0\n", "models.steps"),
        ("[models]\nsteps = \"many\"\n", "auto"),
        ("[models]\nfreeze = [\"attention\"]\n", "freeze"),
    ] {
        let err = format!("{:#}", AuditConfig::parse(text).unwrap_err());
        assert!(err.contains(word), "{text}: {err}");
    }
    let quick = cfg.quick();
    assert!(!quick.plans(), "a smoke run trains fixed tiny models");
}
