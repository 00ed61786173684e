//! The pipeline entry point on a run-like table: two audited models (DP target and baseline),
//! shadow models named explicitly, records, canaries and population rows, several queries.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Normal};
use vg_attacks::membership_audit::{audit_membership, AuditOptions, BoundDetail};
use vg_attacks::score_table::{RowKind, ScoreColumn, ScoreTable};

/// Records 0..400, canaries 0..200, population 0..100; `leak` = membership shift of the model.
fn run_table(seed: u64) -> ScoreTable {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let noise = Normal::new(0.0, 0.1).unwrap();
    let mut t = ScoreTable {
        columns: vec![
            ScoreColumn { name: "loss".into(), values: vec![] },
            ScoreColumn { name: "lira_phi".into(), values: vec![] },
        ],
        ..Default::default()
    };
    let subjects: Vec<(RowKind, u64)> = (0..400)
        .map(|i| (RowKind::Record, i))
        .chain((0..200).map(|i| (RowKind::Canary, i)))
        .chain((0..100).map(|i| (RowKind::Population, i)))
        .collect();
    let truth: Vec<bool> = subjects.iter().map(|&(k, _)| k != RowKind::Population && rng.random_bool(0.5)).collect();
    let models = [("dp", 0.0), ("baseline", 1.0), ("shadow-0", 1.0), ("shadow-1", 1.0), ("shadow-2", 1.0), ("shadow-3", 1.0)];
    for (name, leak) in models {
        for (s, &(kind, id)) in subjects.iter().enumerate() {
            let member = if name == "dp" || name == "baseline" { truth[s] } else { kind != RowKind::Population && rng.random_bool(0.5) };
            for q in 0..2u32 {
                let m: f64 = (-2.0 - 0.01 * (id % 50) as f64 + if member { leak } else { 0.0 } + noise.sample(&mut rng)).min(-1e-3);
                t.kind.push(kind);
                t.id.push(id);
                t.model.push(name.into());
                t.member.push(Some(member));
                t.query.push(q);
                t.columns[0].values.push(m);
                t.columns[1].values.push(m - (-m.exp_m1()).ln());
            }
        }
    }
    t
}

#[test]
fn leaky_baseline_is_caught_and_dp_model_is_not() {
    let t = run_table(11);
    let shadows: Vec<String> = (0..4).map(|i| format!("shadow-{i}")).collect();
    let audit = |target: &str| {
        let mut o = AuditOptions::for_run(target);
        o.shadows = Some(shadows.clone());
        o.canary_repetitions = 2;
        let mut calls = 0;
        let a = audit_membership(&t, &o, &mut |done, total| {
            calls += 1;
            assert!(done <= total);
        })
        .unwrap();
        assert!(calls > 0, "progress reported");
        a
    };
    let base = audit("baseline");
    assert_eq!(base.shadow_models, shadows, "the other audited model is not a shadow");
    for name in ["loss", "lira_online", "lira_offline", "rmia"] {
        let auc = base.attacks[name].metrics.auc;
        assert!(auc > 0.95, "baseline {name}: AUC {auc}");
    }
    assert_eq!(base.primary_attack, "lira_online");
    let or = &base.epsilon_lower_bounds["one_run"];
    match &or.detail {
        BoundDetail::OneRun { counts, audited, .. } => {
            assert_eq!(audited, "canaries");
            assert_eq!(counts.canaries, 200);
        }
        other => panic!("one_run detail {other:?}"),
    }
    assert!(or.epsilon > 2.0, "baseline one-run ε {}", or.epsilon);
    assert!(or.notes.iter().any(|n| n.contains("group")), "r = 2 note: {:?}", or.notes);
    assert!(base.epsilon_lower_bounds["clopper_pearson"].epsilon > 2.0);
    assert!(!base.warnings.iter().any(|w| w.contains("population z")), "population rows were used: {:?}", base.warnings);
    let json = serde_json::to_value(&base).unwrap();
    for key in ["auc", "tpr_at_fpr_1e-3", "tpr_at_fpr_1e-2"] {
        assert!(json["attacks"]["lira_online"].get(key).is_some(), "attacks.lira_online.{key}");
    }
    for key in ["epsilon", "confidence", "attack", "counts"] {
        assert!(json["epsilon_lower_bounds"]["one_run"].get(key).is_some(), "one_run.{key}");
        assert!(json["epsilon_lower_bounds"]["clopper_pearson"].get(key).is_some(), "clopper_pearson.{key}");
    }
    // Per-record output covers every target subject (records, canaries, population).
    assert_eq!(base.per_record.id.len(), 700);

    let dp = audit("dp");
    for (method, b) in &dp.epsilon_lower_bounds {
        assert!(b.epsilon < 0.5, "no-leak model: {method} ε {}", b.epsilon);
    }
    assert!(dp.attacks["lira_online"].metrics.auc < 0.6);
}

#[test]
fn rmia_a_tuned_on_a_reference_model() {
    let t = run_table(12);
    let mut o = AuditOptions::for_run("baseline");
    o.shadows = Some((0..4).map(|i| format!("shadow-{i}")).collect());
    o.rmia_tune_a = true;
    let a = audit_membership(&t, &o, &mut |_, _| {}).unwrap();
    let note = a.warnings.iter().find(|w| w.contains("tuned on reference model \"shadow-0\"")).expect("tuning reported");
    assert!(a.attacks["rmia"].description.contains("a = "), "{}", a.attacks["rmia"].description);
    assert!(a.attacks["rmia"].metrics.auc > 0.95, "{note}");
}
