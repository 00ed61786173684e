//! Exposure: ranks against hand-computed examples, the skew-normal tail against closed forms,
//! parameter recovery of the fit on seeded data, and extrapolation past the references.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vg_accounting::special::log_norm_cdf;
use vg_attacks::exposure::*;
use vg_attacks::AttackError;

fn canary(id: u64, family: &str, included: bool, score: f64) -> ExposureCanary {
    ExposureCanary { id, family: family.into(), included, score, secret_space_log2: 40.0 }
}

fn refs(family: &str, scores: &[f64]) -> Vec<ExposureReference> {
    scores.iter().map(|s| ExposureReference { family: family.into(), score: *s }).collect()
}

#[test]
fn ranks_and_rank_exposure_by_hand() {
    let r = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(rank_among(5.0, &r), 1); // above all 4: rank 1 of 5
    assert_eq!(rank_among(3.0, &r), 3); // tie with 3 counts against the canary: 1 + #{3, 4}
    assert_eq!(rank_among(2.5, &r), 3);
    assert_eq!(rank_among(0.0, &r), 5);
    // −log₂(1/5) = log₂ 5 = 2.321928094887362; −log₂(3/5) = 0.7369655941662061; −log₂(5/5) = 0.
    assert!((rank_exposure(1, 4) - 2.321928094887362).abs() < 1e-15);
    assert!((rank_exposure(3, 4) - 0.7369655941662061).abs() < 1e-15);
    assert_eq!(rank_exposure(5, 4), 0.0);
}

#[test]
fn report_by_hand() {
    let canaries = [canary(0, "f", true, 5.0), canary(1, "f", false, 2.5), canary(2, "g", true, 0.5)];
    let mut references = refs("f", &[1.0, 2.0, 3.0, 4.0]);
    references.extend(refs("g", &[0.0, 1.0]));
    let report = compute_exposures(&canaries, &references, DEFAULT_MIN_REFERENCES_FOR_FIT).unwrap();
    let ranks: Vec<usize> = report.canaries.iter().map(|c| c.rank).collect();
    assert_eq!(ranks, vec![1, 3, 2]); // g: 1 + #{1.0} = 2 of 3
    // Canary 2: −log₂(2/3) = 0.5849625007211562.
    assert!((report.canaries[2].exposure_rank - 0.5849625007211562).abs() < 1e-15);
    // Too few references for a fit: no fit exposure, and the family says why.
    assert!(report.canaries.iter().all(|c| c.exposure_fit.is_none()));
    assert_eq!(report.families.len(), 2);
    assert_eq!(report.families[0].family, "f");
    assert!(report.families[0].note.as_deref().unwrap().contains("4 references"));
    assert!((report.families[0].max_rank_exposure - 2.321928094887362).abs() < 1e-15);
    // Included: {2.3219…, 0.5849…}: mean = median = 1.4534452978042591, max 2.3219…
    let inc = report.included.rank.unwrap();
    assert_eq!((report.included.count, inc.count), (2, 2));
    assert!((inc.mean - 1.4534452978042591).abs() < 1e-15 && (inc.median - inc.mean).abs() < 1e-15);
    assert!((inc.max - 2.321928094887362).abs() < 1e-15);
    let not = report.not_included.rank.unwrap();
    assert!((not.mean - 0.7369655941662061).abs() < 1e-15 && not.count == 1);
    assert_eq!(report.all.count, 3);
    assert!(report.all.fit.is_none());
}

#[test]
fn refuses_missing_references_and_bad_scores() {
    let err = compute_exposures(&[canary(7, "h", true, 1.0)], &refs("f", &[1.0]), 30).unwrap_err();
    assert!(matches!(&err, AttackError::NoReferences { canary: 7, family } if family == "h"), "{err}");
    assert!(compute_exposures(&[canary(0, "f", true, f64::NAN)], &refs("f", &[1.0]), 30).is_err());
    assert!(compute_exposures(&[canary(0, "f", true, 1.0)], &refs("f", &[f64::INFINITY]), 30).is_err());
}

#[test]
fn ln_normal_cdf_matches_erfc_values() {
    // Python: math.log(0.5 * math.erfc(-x / math.sqrt(2))).
    let cases = [(-35.0, -616.9751012619224), (-29.99, -454.020961304468), (-10.0, -53.23128515051246), (0.0, -0.6931471805599453), (3.0, -0.0013508099647482027)];
    for (x, want) in cases {
        let got = log_norm_cdf(x);
        assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0), "lnΦ({x}) = {got}, want {want}");
    }
}

#[test]
fn skew_normal_tail_matches_closed_forms() {
    let standard = |shape| SkewNormal { location: 0.0, scale: 1.0, shape };
    // α = 0: S(z) = Φ(−z). Values: Python math.log(0.5 * math.erfc(z / math.sqrt(2))).
    for (z, want) in [(-3.0, -0.0013508099647482027), (0.0, -0.6931471805599453), (1.0, -1.8410216450092634), (5.0, -15.064998393988724), (10.0, -53.23128515051246), (30.0, -454.3212439563431)] {
        let got = standard(0.0).ln_sf(z);
        assert!((got - want).abs() < 1e-9 * want.abs().max(1.0), "α=0 z={z}: {got} vs {want}");
    }
    // α = 1: density 2φΦ = (Φ²)', so S(z) = 1 − Φ(z)² = Φ(−z)(1 + Φ(z)).
    for (z, want) in [(-2.0, -0.0005177024884703347), (0.0, -0.2876820724517809), (1.0, -1.230525500067416), (3.0, -5.91525421784685), (6.0, -20.04362176990805)] {
        let got = standard(1.0).ln_sf(z);
        assert!((got - want).abs() < 1e-9 * want.abs().max(1.0), "α=1 z={z}: {got} vs {want}");
    }
    // α = −1: density 2φ(z)Φ(−z), so S(z) = Φ(−z)²: 2 lnΦ(−z).
    for (z, want) in [(-2.0, -0.04602581865792698), (0.0, -1.3862943611198906), (1.0, -3.6820432900185267), (3.0, -13.215452443020697), (10.0, -106.46257030102493), (20.0, -407.8343107421945)] {
        let got = standard(-1.0).ln_sf(z);
        assert!((got - want).abs() < 1e-9 * want.abs().max(1.0), "α=−1 z={z}: {got} vs {want}");
    }
    // α = 5 at z = 6: Φ(5t) = 1 to ~1e−197 on [6, ∞), so S = 2Φ(−6).
    assert!((standard(5.0).ln_sf(6.0) - -20.043621769414756).abs() < 1e-9);
    // α = 50 (near half-normal) at z = 1: S ≈ 2Φ(−1) = 0.31731…; ln = −1.147874464449318.
    assert!((standard(50.0).ln_sf(1.0) - -1.147874464449318).abs() < 1e-9);
    // Location and scale: X = 2 + 3Z.
    let shifted = SkewNormal { location: 2.0, scale: 3.0, shape: 1.0 };
    assert!((shifted.ln_sf(2.0 + 3.0 * 3.0) - -5.91525421784685).abs() < 1e-9);
}

#[test]
fn sampling_matches_mean_and_variance() {
    let d = SkewNormal { location: 2.0, scale: 3.0, shape: 4.0 };
    let mut rng = ChaCha20Rng::seed_from_u64(17);
    let xs: Vec<f64> = (0..100_000).map(|_| d.sample(&mut rng)).collect();
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
    // δ = 4/√17; mean = 2 + 3δ√(2/π) = 4.322185…, var = 9(1 − 2δ²/π) = 3.607456…
    assert!((d.mean() - 4.322185167933956).abs() < 1e-12 && (d.variance() - 3.6074560458275458).abs() < 1e-12);
    assert!((mean - d.mean()).abs() < 0.02, "{mean}");
    assert!((var - d.variance()).abs() < 0.05, "{var}");
}

#[test]
fn fit_recovers_parameters() {
    let truth = SkewNormal { location: 2.0, scale: 3.0, shape: 4.0 };
    let mut rng = ChaCha20Rng::seed_from_u64(2019);
    let xs: Vec<f64> = (0..20_000).map(|_| truth.sample(&mut rng)).collect();
    let fit = SkewNormal::fit(&xs).unwrap();
    assert!((fit.location - 2.0).abs() < 0.1, "{fit:?}");
    assert!((fit.scale - 3.0).abs() < 0.1, "{fit:?}");
    assert!((fit.shape - 4.0).abs() < 0.6, "{fit:?}");
    let moments = SkewNormal::fit_moments(&xs).unwrap();
    assert!((moments.location - 2.0).abs() < 0.3 && (moments.shape - 4.0).abs() < 2.0, "{moments:?}");
    // A normal sample fits α near 0 and the normal's tail.
    let normal = SkewNormal { location: -1.0, scale: 0.5, shape: 0.0 };
    let ys: Vec<f64> = (0..20_000).map(|_| normal.sample(&mut rng)).collect();
    let fit = SkewNormal::fit(&ys).unwrap();
    assert!(fit.shape.abs() < 1.0 && (fit.mean() - -1.0).abs() < 0.02 && (fit.variance().sqrt() - 0.5).abs() < 0.02, "{fit:?}");
    // Degenerate samples have no fit.
    assert!(SkewNormal::fit(&[1.0; 50]).is_none());
    assert!(SkewNormal::fit(&[1.0, 2.0]).is_none());
}

#[test]
fn fit_extrapolates_beyond_the_references() {
    let normal = SkewNormal { location: 0.0, scale: 1.0, shape: 0.0 };
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let reference_scores: Vec<f64> = (0..1000).map(|_| normal.sample(&mut rng)).collect();
    let mut canaries = [canary(0, "f", true, 8.0), canary(1, "f", true, 6.0), canary(2, "f", false, 0.0), canary(3, "f", true, 100.0)];
    for c in &mut canaries {
        c.secret_space_log2 = 80.0;
    }
    let report = compute_exposures(&canaries, &refs("f", &reference_scores), DEFAULT_MIN_REFERENCES_FOR_FIT).unwrap();
    let max_rank = 1001f64.log2(); // 9.967226258835993
    let far = &report.canaries[0];
    assert_eq!(far.rank, 1);
    assert!((far.exposure_rank - max_rank).abs() < 1e-12);
    // True tail: −log₂ Φ(−8) = 50.51; the fit must go far past the rank ceiling.
    let fit_exposure = far.exposure_fit.unwrap();
    assert!(fit_exposure > max_rank + 20.0, "{fit_exposure}");
    assert!((fit_exposure - 50.5).abs() < 12.0, "{fit_exposure}");
    // Monotone in the score, ≈ 1 bit at the median, and capped at log₂|R| = 80.
    assert!(report.canaries[1].exposure_fit.unwrap() < fit_exposure);
    assert!((report.canaries[2].exposure_fit.unwrap() - 1.0).abs() < 0.2);
    assert_eq!(report.canaries[3].exposure_fit, Some(80.0));
    assert!(report.canaries[3].fit_capped && !far.fit_capped);
    assert!(report.families[0].fit.is_some() && report.families[0].note.is_none());
    let fit_summary = report.included.fit.unwrap();
    assert_eq!(fit_summary.count, 3);
    assert_eq!(fit_summary.max, 80.0);
}

