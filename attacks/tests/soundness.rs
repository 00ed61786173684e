//! Soundness and orientation of the whole audit:
//! - when members and non-members score alike, every reported ε lower bound stays ≤ 0.1 in at
//!   least 95 % of 200 seeded trials (a 95 % bound may exceed the true ε = 0 in 5 % of them);
//! - perfectly separated scores give large bounds that grow with the number of canaries;
//! - a planted member with a far lower loss gets a higher membership score in every attack.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Normal};
use vg_attacks::membership_audit::{audit_membership, AuditOptions};
use vg_attacks::bounds::{clopper_pearson_from_scores, one_run_from_scores, GuessChoice, ThresholdChoice};
use vg_attacks::score_table::{RowKind, ScoreColumn, ScoreTable};

/// A table of `records` records and `canaries` canaries under a target and `shadows` shadow
/// models; `score(rng, member, subject)` draws the log-prob-like score (≤ 0) of one row.
fn table(seed: u64, records: usize, canaries: usize, shadows: usize, score: &dyn Fn(&mut ChaCha20Rng, bool, usize) -> f64) -> ScoreTable {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut t = ScoreTable { columns: vec![ScoreColumn { name: "score".into(), values: vec![] }], ..Default::default() };
    let subjects: Vec<(RowKind, u64)> =
        (0..records as u64).map(|i| (RowKind::Record, i)).chain((0..canaries as u64).map(|i| (RowKind::Canary, i))).collect();
    for m in 0..=shadows {
        let name = if m == 0 { "target".to_string() } else { format!("shadow-{m}") };
        for (s, &(kind, id)) in subjects.iter().enumerate() {
            let member = rng.random_bool(0.5);
            t.kind.push(kind);
            t.id.push(id);
            t.model.push(name.clone());
            t.member.push(Some(member));
            t.query.push(0);
            let v = score(&mut rng, member, s);
            t.columns[0].values.push(v);
        }
    }
    t
}

#[test]
fn null_scores_give_no_bound_in_95_percent_of_trials() {
    let noise = Normal::new(0.0, 0.3).unwrap();
    let mut exceed = std::collections::BTreeMap::<String, usize>::new();
    let mut seen = std::collections::BTreeSet::new();
    for trial in 0..200u64 {
        // Same distribution for members and non-members; a per-subject difficulty shared by all models.
        let difficulty: Vec<f64> = {
            let mut r = ChaCha20Rng::seed_from_u64(10_000 + trial);
            (0..300).map(|_| -2.0 + noise.sample(&mut r)).collect()
        };
        let t = table(trial, 200, 100, 8, &|rng, _member, s| (difficulty[s] + 0.1 * noise.sample(rng)).min(0.0));
        let mut opts = AuditOptions::for_score_table("target");
        opts.delta = 1e-5;
        let audit = audit_membership(&t, &opts, &mut |_, _| {}).unwrap();
        assert!(audit.attacks.contains_key("lira_online") && audit.attacks.contains_key("rmia"), "{:?}", audit.attacks.keys());
        for (method, b) in &audit.epsilon_lower_bounds {
            seen.insert(method.clone());
            if b.epsilon > 0.1 {
                *exceed.entry(method.clone()).or_default() += 1;
            }
        }
    }
    for m in ["clopper_pearson", "one_run", "clopper_pearson_best_attack", "one_run_best_attack"] {
        assert!(seen.contains(m), "method {m} never reported");
    }
    for (method, n) in &exceed {
        assert!(*n <= 10, "{method}: bound > 0.1 in {n} of 200 null trials");
    }
}

#[test]
fn separated_scores_give_large_bounds_growing_with_m() {
    let mut last_or = 0.0;
    let mut last_cp = 0.0;
    for m in [100usize, 1000, 10000] {
        let mut rng = ChaCha20Rng::seed_from_u64(m as u64);
        let included: Vec<bool> = (0..m).map(|_| rng.random_bool(0.5)).collect();
        let scores: Vec<f64> = included.iter().map(|&i| if i { 1.0 + rng.random::<f64>() } else { -rng.random::<f64>() }).collect();
        let or = one_run_from_scores(&scores, &included, 1e-5, 0.95, &GuessChoice::default()).unwrap();
        let cp = clopper_pearson_from_scores(&scores, &included, 1e-5, 0.95, &ThresholdChoice::default()).unwrap();
        assert!(or.epsilon > last_or && cp.bound.epsilon > last_cp, "m = {m}: one-run {} (prev {last_or}), CP {} (prev {last_cp})", or.epsilon, cp.bound.epsilon);
        last_or = or.epsilon;
        last_cp = cp.bound.epsilon;
    }
    assert!(last_or > 3.0 && last_cp > 5.0, "m = 10⁴: one-run {last_or}, CP {last_cp}");
    // Held-out choice is valid too and also large.
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let included: Vec<bool> = (0..2000).map(|_| rng.random_bool(0.5)).collect();
    let scores: Vec<f64> = included.iter().map(|&i| if i { 1.0 } else { 0.0 }).collect();
    let held = one_run_from_scores(&scores, &included, 0.0, 0.95, &GuessChoice::HeldOut { grid: GuessChoice::default_grid(), seed: 1 }).unwrap();
    assert_eq!(held.counts.canaries, 1000);
    assert!(held.epsilon > 2.0, "held-out one-run {}", held.epsilon);
    let cp = clopper_pearson_from_scores(&scores, &included, 0.0, 0.95, &ThresholdChoice::HeldOut { fractions: ThresholdChoice::default_fractions(), seed: 1 }).unwrap();
    assert_eq!(cp.bound.counts.negatives + cp.bound.counts.positives, 1000, "bound evaluated on the other half only");
    assert!(cp.bound.epsilon > 4.0, "held-out Clopper–Pearson {}", cp.bound.epsilon);
}

#[test]
fn planted_low_loss_member_scores_higher_in_every_attack() {
    let noise = Normal::new(0.0, 0.05).unwrap();
    // Subject 0 is a member whose target log-prob is far higher (loss far lower) than its shadows';
    // subject 1 looks like every shadow.
    // Shadows that trained on a record give it a higher log-prob (the effect LiRA models).
    let t = table(3, 300, 0, 16, &|rng, member, _s| -2.0 + if member { 0.5 } else { 0.0 } + noise.sample(rng));
    let mut t = t;
    for i in 0..t.len() {
        if t.model[i] == "target" && t.kind[i] == RowKind::Record && t.id[i] < 2 {
            t.member[i] = Some(t.id[i] == 0);
            t.columns[0].values[i] = if t.id[i] == 0 { -0.2 } else { -2.0 };
        }
    }
    let audit = audit_membership(&t, &AuditOptions::for_score_table("target"), &mut |_, _| {}).unwrap();
    let names: Vec<&String> = audit.per_record.scores.keys().collect();
    for n in ["loss", "lira_online", "lira_offline", "rmia"] {
        assert!(audit.per_record.scores.contains_key(n), "attack {n} missing: {names:?}");
    }
    for (name, s) in &audit.per_record.scores {
        assert!(s[0] > s[1], "{name}: planted member {} should beat typical record {}", s[0], s[1]);
    }
}
