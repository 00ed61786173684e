//! Reproduces `shared/reference/lira/case*/expected/` (an independent numpy/scipy
//! implementation, conventions in CONVENTIONS.md): per-example LiRA and loss scores within 1e-6
//! absolute (or 1e-9 relative), ROC curves, AUC and TPR at FPR exactly, the optimistic
//! best-threshold Clopper–Pearson ε and the one-run ε of the summaries within 1e-6.

use crate::common;

use common::{close, lira_ref, parse_f64, Csv};
use vg_attacks::bounds::{clopper_pearson_epsilon, one_run_epsilon, one_run_epsilon_appendix_d, one_run_guesses, ErrorCounts};
use vg_attacks::metrics::{FprRule, Roc};
use vg_attacks::mia::lira::{lira, LiraOptions, LiraVariance, Location};
use vg_attacks::mia::threshold::loss_attack;
use vg_attacks::mia::{ShadowRole, ShadowScores};

struct Case {
    dir: &'static str,
    shadows: ShadowScores,
    target: Vec<f64>,
    members: Vec<bool>,
    loss: Vec<f64>,
}

fn load(dir: &'static str) -> Case {
    let shadow = Csv::read(&lira_ref(&format!("{dir}/shadow.csv")));
    let (cm, ce, cq, cs, ci) = (shadow.col("model"), shadow.col("example"), shadow.col("query"), shadow.col("score"), shadow.col("in"));
    let parse = |r: &Vec<String>, c: usize| r[c].parse::<usize>().unwrap();
    let models = shadow.rows.iter().map(|r| parse(r, cm)).max().unwrap() + 1;
    let records = shadow.rows.iter().map(|r| parse(r, ce)).max().unwrap() + 1;
    let queries = shadow.rows.iter().map(|r| parse(r, cq)).max().unwrap() + 1;
    assert_eq!(shadow.rows.len(), models * records * queries, "{dir}: full shadow grid");
    let mut scores = vec![f64::NAN; records * models * queries];
    let mut roles = vec![ShadowRole::Absent; records * models];
    for r in &shadow.rows {
        let (m, e, q) = (parse(r, cm), parse(r, ce), parse(r, cq));
        scores[(e * models + m) * queries + q] = parse_f64(&r[cs]);
        roles[e * models + m] = if r[ci] == "1" { ShadowRole::In } else { ShadowRole::Out };
    }
    let t = Csv::read(&lira_ref(&format!("{dir}/target.csv")));
    let mut target = vec![f64::NAN; records * queries];
    for r in &t.rows {
        target[r[0].parse::<usize>().unwrap() * queries + r[1].parse::<usize>().unwrap()] = parse_f64(&r[2]);
    }
    let mem = Csv::read(&lira_ref(&format!("{dir}/target_membership.csv")));
    Case {
        dir,
        shadows: ShadowScores::new(records, models, queries, scores, roles).unwrap(),
        target,
        members: mem.u64s("in").iter().map(|&v| v == 1).collect(),
        loss: mem.f64s("loss"),
    }
}

/// Every per-example score variant of the reference, computed here.
fn our_scores(c: &Case) -> Vec<(&'static str, Vec<f64>)> {
    let run = |variance, location| lira(&c.shadows, &c.target, &LiraOptions { variance, location }).unwrap();
    let med = run(LiraVariance::PerExample, Location::Median);
    let fixed = run(LiraVariance::Global, Location::Median);
    let mean = run(LiraVariance::PerExample, Location::Mean);
    vec![
        ("lira_online", med.online.clone().unwrap()),
        ("lira_online_fixed_var", fixed.online.clone().unwrap()),
        ("lira_offline", med.offline.clone()),
        ("lira_offline_fixed_var", fixed.offline.clone()),
        ("lira_offline_two_sided_official", med.offline_two_sided.clone()),
        ("lira_online_mean", mean.online.clone().unwrap()),
        ("lira_offline_mean", mean.offline.clone()),
        ("loss_threshold", loss_attack(&c.loss).unwrap()),
    ]
}

fn check_per_example(dir: &'static str) {
    let c = load(dir);
    let expected = Csv::read(&lira_ref(&format!("{dir}/expected/per_example_scores.csv")));
    let truth: Vec<bool> = expected.u64s("in").iter().map(|&v| v == 1).collect();
    assert_eq!(truth, c.members, "{dir}: membership column");
    for (name, ours) in our_scores(&c) {
        let theirs = expected.f64s(name);
        assert_eq!(ours.len(), theirs.len());
        for (j, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!(close(*a, *b, 1e-6, 1e-9), "{dir} {name} example {j}: ours {a} vs reference {b}");
        }
    }
}

#[test]
fn case1_per_example_scores() {
    check_per_example("case1_balanced");
}

#[test]
fn case2_per_example_scores() {
    check_per_example("case2_augs_ties");
}

/// ROC of the reference's own scores must equal the reference ROC exactly (thresholds, counts,
/// rates), and AUC / TPR at FPR must equal the summary.
fn check_roc_and_summary(dir: &'static str) {
    let c = load(dir);
    let expected = Csv::read(&lira_ref(&format!("{dir}/expected/per_example_scores.csv")));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lira_ref(&format!("{dir}/expected/summary.json"))).unwrap()).unwrap();
    let ours_all = our_scores(&c);
    for (name, ours) in &ours_all {
        let theirs = expected.f64s(name);
        let roc = Roc::from_scores(&theirs, &c.members).unwrap();
        let ref_roc = Csv::read(&lira_ref(&format!("{dir}/expected/roc_{name}.csv")));
        let (th, fp, fnn, fpr, tpr) = (ref_roc.f64s("threshold"), ref_roc.u64s("fp"), ref_roc.u64s("fn"), ref_roc.f64s("fpr"), ref_roc.f64s("tpr"));
        assert_eq!(roc.len(), th.len(), "{dir} {name}: number of ROC points");
        for i in 0..roc.len() {
            assert_eq!(roc.thresholds[i].to_bits(), th[i].to_bits(), "{dir} {name} point {i}: threshold");
            assert_eq!(roc.false_positives[i], fp[i], "{dir} {name} point {i}: fp");
            assert_eq!(roc.positives - roc.true_positives[i], fnn[i], "{dir} {name} point {i}: fn");
            assert_eq!(roc.fpr(i), fpr[i], "{dir} {name} point {i}: fpr");
            assert_eq!(roc.tpr(i), tpr[i], "{dir} {name} point {i}: tpr");
        }
        let s = &summary["attacks"][*name];
        let auc = s["auc"].as_f64().unwrap();
        assert!((roc.auc() - auc).abs() <= 1e-15, "{dir} {name}: AUC {} vs {auc}", roc.auc());
        // The same ROC point: the reference's summary computes TPR as 1 − FN/P, which can round
        // one ulp away from TP/P, so "exact" here is within 2 ulps.
        for (x, key) in [(1e-3, "0.001"), (1e-2, "0.01")] {
            for (rule, r) in [(FprRule::Strict, "strict"), (FprRule::AtMost, "le")] {
                let ours = roc.tpr_at_fpr(x, rule);
                let want = s[format!("tpr_at_fpr_{key}_{r}")].as_f64().unwrap();
                assert!((ours - want).abs() <= 4.0 * f64::EPSILON * want.max(1e-300), "{dir} {name} {r} {key}: {ours} vs {want}");
            }
        }
        // Our own scores give the same AUC (they agree to ~1e-12, which cannot reorder these data).
        let own = Roc::from_scores(ours, &c.members).unwrap();
        assert!((own.auc() - auc).abs() < 1e-12, "{dir} {name}: AUC from our scores {} vs {auc}", own.auc());

        // Optimistic best-threshold Clopper–Pearson ε over every ROC point (no correction).
        for (delta, key) in [(0.0, "0"), (1e-5, "1e-05")] {
            let best = (0..roc.len())
                .map(|i| {
                    let counts = ErrorCounts {
                        false_positives: roc.false_positives[i],
                        negatives: roc.negatives,
                        false_negatives: roc.positives - roc.true_positives[i],
                        positives: roc.positives,
                    };
                    clopper_pearson_epsilon(counts, delta, 0.95).unwrap().epsilon
                })
                .fold(0.0, f64::max);
            let want = s[format!("best_threshold_eps_lb_delta_{key}")].as_f64().unwrap();
            assert!((best - want).abs() < 1e-6, "{dir} {name} δ={delta}: best-threshold ε {best} vs {want}");
        }

        // One-run ε of the summary's (k₊, k₋) choices, on the reference scores.
        for run in s["one_run"].as_array().unwrap() {
            let (kp, km) = (run["k_plus"].as_u64().unwrap() as usize, run["k_minus"].as_u64().unwrap() as usize);
            let delta = run["delta"].as_f64().unwrap();
            let counts = one_run_guesses(&theirs, &c.members, kp, km).unwrap();
            assert_eq!(counts.guesses, run["r"].as_u64().unwrap(), "{dir} {name}: r");
            assert_eq!(counts.correct, run["v"].as_u64().unwrap(), "{dir} {name} k=({kp},{km}): v");
            let m = run["m"].as_u64().unwrap();
            let precise = one_run_epsilon(m, counts.guesses, counts.correct, delta, 0.95).unwrap();
            let appendix = one_run_epsilon_appendix_d(m, counts.guesses, counts.correct, delta, 0.95).unwrap();
            assert!((precise - run["eps_precise"].as_f64().unwrap()).abs() < 1e-6, "{dir} {name}: precise {precise} vs {run}");
            assert!((appendix - run["eps_appendix_d"].as_f64().unwrap()).abs() < 1e-6, "{dir} {name}: appendix-D {appendix} vs {run}");
        }
    }
}

#[test]
fn case1_roc_auc_tpr_and_summary_bounds() {
    check_roc_and_summary("case1_balanced");
}

#[test]
fn case2_roc_auc_tpr_and_summary_bounds() {
    check_roc_and_summary("case2_augs_ties");
}

#[test]
fn cases_cover_their_stated_shapes() {
    let c1 = load("case1_balanced");
    assert_eq!((c1.shadows.records(), c1.shadows.models(), c1.shadows.queries()), (256, 16, 1), "{}", c1.dir);
    let c2 = load("case2_augs_ties");
    assert_eq!((c2.shadows.records(), c2.shadows.models(), c2.shadows.queries()), (1000, 32, 2), "{}", c2.dir);
}
