//! Per-record scores against hand-computed values (derivations in the comments), edge cases,
//! and the membership orientation (a lower loss never lowers a score).

use vg_attacks::model::TokenLogProbs;
use vg_attacks::scores::*;
use vg_attacks::AttackError;

fn stats(logprob: &[f64], mu: &[f64], sigma: &[f64]) -> TokenLogProbs {
    TokenLogProbs { logprob: logprob.to_vec(), mu: mu.to_vec(), sigma: sigma.to_vec() }
}

// logprob = [−1, −2, −3, −4, −0.5]: Σ = −10.5, n = 5, m = −2.1 (mean loss 2.1 nats).
// μ = [−1.5, −1.5, −2, −2, −1], σ = [0.5, 1, 2, 1, 0.25]
// → z = (lp − μ)/σ = [1, −0.5, −0.5, −2, 2].
fn example() -> TokenLogProbs {
    stats(&[-1.0, -2.0, -3.0, -4.0, -0.5], &[-1.5, -1.5, -2.0, -2.0, -1.0], &[0.5, 1.0, 2.0, 1.0, 0.25])
}

#[test]
fn hand_computed_scores() {
    let s = compute_scores(&example(), "abc", 0.2).unwrap();
    assert_eq!(s.n_tokens, 5);
    assert_eq!(s.total_logprob, -10.5);
    assert!((s.mean_logprob - -2.1).abs() < 1e-15);
    assert!((s.mean_loss() - 2.1).abs() < 1e-15);
    // zlib("abc") = 11 bytes (see zlib_lengths_match_python); score = m / 11 = −2.1/11.
    assert_eq!(s.zlib_bytes, 11);
    assert!((s.zlib - -0.19090909090909092).abs() < 1e-15);
    // k = 0.2: ⌈0.2·5⌉ = 1 token: the lowest log-prob −4 and the lowest z −2.
    assert_eq!(s.min_k, -4.0);
    assert_eq!(s.min_k_plus_plus, Some(-2.0));
    // p = e^−2.1 = 0.1224564282529819; φ = ln(p/(1−p)) = −1.9693713295377007 (Python math).
    assert!((s.rmia_p - 0.1224564282529819).abs() < 1e-15);
    assert!((s.lira_phi - -1.9693713295377007).abs() < 1e-12);
    // k = 0.5: ⌈2.5⌉ = 3 tokens: mean(−4, −3, −2) = −3; z: mean(−2, −0.5, −0.5) = −1.
    let s = compute_scores(&example(), "abc", 0.5).unwrap();
    assert_eq!(s.min_k, -3.0);
    assert_eq!(s.min_k_plus_plus, Some(-1.0));
    // k = 1: every token: min-k = m.
    let s = compute_scores(&example(), "abc", 1.0).unwrap();
    assert!((s.min_k - -2.1).abs() < 1e-15);
    assert_eq!(s.get(ScoreKind::Loss), Some(s.mean_logprob));
    assert_eq!(s.get(ScoreKind::MinKPlusPlus), s.min_k_plus_plus);
}

#[test]
fn zlib_lengths_match_python() {
    // Python: len(zlib.compress(b"")) = 8: 2-byte header 78 9c, a fixed-Huffman block with only
    // end-of-block (3 + 7 bits → 2 bytes), Adler-32 (4 bytes).
    assert_eq!(zlib_len(""), 8);
    // b"a" = 9: 3 + 8 (literal 0x61: 8-bit code) + 7 = 18 bits → 3 bytes; 2 + 3 + 4 = 9.
    assert_eq!(zlib_len("a"), 9);
    // b"abc" = 11: 3 + 3·8 + 7 = 34 bits → 5 bytes; 2 + 5 + 4 = 11.
    assert_eq!(zlib_len("abc"), 11);
    // 32 ASCII bytes with no repeat of 3+ bytes: 3 + 32·8 + 7 = 266 bits → 34 bytes; 40 in all.
    assert_eq!(zlib_len("My account number is 1234567890."), 40);
    // The reused per-thread compressor gives what a fresh encoder gives, call after call.
    let long = "Patient verification code: 48213. Please confirm before discharge. ".repeat(50);
    let fresh = {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(long.as_bytes()).unwrap();
        e.finish().unwrap().len()
    };
    for _ in 0..3 {
        assert_eq!(zlib_len(&long), fresh);
        assert_eq!(zlib_len("abc"), 11);
    }
    assert!(fresh < long.len() / 10, "repetitive text compresses: {fresh}");
}

#[test]
fn min_k_count_rounds_up_with_at_least_one() {
    assert_eq!(min_k_count(0.2, 10), 2);
    assert_eq!(min_k_count(0.2, 11), 3); // 2.2 → 3
    assert_eq!(min_k_count(0.1, 30), 3); // 0.1·30 = 3.0000000000000004 in f64, still 3
    assert_eq!(min_k_count(0.2, 1), 1);
    assert_eq!(min_k_count(0.01, 5), 1); // 0.05 → at least 1
    assert_eq!(min_k_count(1.0, 7), 7);
}

#[test]
fn one_token_record() {
    let s = compute_scores(&stats(&[-0.7], &[-0.2], &[0.5]), "x", 0.2).unwrap();
    assert_eq!(s.n_tokens, 1);
    assert_eq!(s.mean_logprob, -0.7);
    assert_eq!(s.min_k, -0.7);
    assert!((s.min_k_plus_plus.unwrap() - -1.0).abs() < 1e-15); // (−0.7 + 0.2) / 0.5
}

#[test]
fn lira_phi_is_stable() {
    assert_eq!(lira_phi(0.5f64.ln()), 0.0); // p = ½: logit 0
    assert!((lira_phi(0.9f64.ln()) - 9f64.ln()).abs() < 1e-12); // logit(0.9) = ln 9
    // m = −1e−20: 1 − p = 1e−20 to double precision, φ = −1e−20 − ln 1e−20 = 46.0517…;
    // the naive m − ln(1 − e^m) gives +∞ here because e^m rounds to 1.
    assert!((lira_phi(-1e-20) - 46.051701859880914).abs() < 1e-12);
    assert!((-1e-20f64 - (1.0 - (-1e-20f64).exp()).ln()).is_infinite());
    // m = 0 (p = 1): finite, 1 − p floored at the smallest normal double: −ln(2.2250738585072014e−308).
    assert!((lira_phi(0.0) - 708.3964185322641).abs() < 1e-9);
    assert_eq!(lira_phi(1e-9), lira_phi(0.0));
    // m ≪ 0: φ = m − ln(1 − e^m) → m.
    assert_eq!(lira_phi(-800.0), -800.0);
    assert!((lira_phi(-50.0) - -50.0).abs() < 1e-15);
    assert_eq!(rmia_probability(0.25f64.ln()), 0.25);
}

#[test]
fn min_k_plus_plus_needs_mu_sigma_and_floors_sigma() {
    let s = compute_scores(&stats(&[-1.0, -2.0], &[], &[]), "ab", 0.5).unwrap();
    assert_eq!(s.min_k_plus_plus, None);
    assert_eq!(s.get(ScoreKind::MinKPlusPlus), None);
    // σ = 0 with lp = μ: z = 0 instead of 0/0; lp < μ: −1/1e−6 (floor).
    let s = compute_scores(&stats(&[0.0, -1.0], &[0.0, 0.0], &[0.0, 0.0]), "ab", 1.0).unwrap();
    assert_eq!(s.min_k_plus_plus, Some((0.0 + -1.0 / SIGMA_FLOOR) / 2.0));
}

#[test]
fn invalid_inputs_are_refused() {
    let e = example();
    for k in [0.0, -0.1, 1.5, f64::NAN] {
        assert!(matches!(compute_scores(&e, "a", k), Err(AttackError::InvalidK(_))), "k = {k}");
    }
    assert!(matches!(compute_scores(&stats(&[], &[], &[]), "", 0.2), Err(AttackError::NoPredictedTokens)));
    let err = compute_scores(&stats(&[-1.0, -2.0], &[-1.0], &[1.0]), "", 0.2).unwrap_err();
    assert!(matches!(err, AttackError::TokenStatLengths { logprob: 2, mu: 1, sigma: 1 }), "{err}");
    let err = compute_scores(&stats(&[-1.0, 0.1], &[], &[]), "", 0.2).unwrap_err();
    assert!(err.to_string().contains("log-prob = 0.1 at token 1"), "{err}");
    assert!(compute_scores(&stats(&[-1.0, f64::NAN], &[], &[]), "", 0.2).is_err());
    assert!(compute_scores(&stats(&[-1.0], &[-1.0], &[-0.5]), "", 0.2).is_err());
    // Rounding above 0 is clamped: log-prob 1e−9 counts as 0.
    let s = compute_scores(&stats(&[1e-9, -1.0], &[], &[]), "", 1.0).unwrap();
    assert_eq!(s.mean_logprob, -0.5);
}

#[test]
fn batch_equals_single_and_names_the_failing_record() {
    let texts = ["abc", "My account number is 1234567890.", "x"];
    let all = vec![example(), stats(&[-0.1, -0.3], &[], &[]), stats(&[-2.0], &[-1.0], &[1.0])];
    let batch = compute_scores_batch(&all, &texts, 0.2).unwrap();
    for ((s, t), b) in all.iter().zip(texts).zip(&batch) {
        assert_eq!(&compute_scores(s, t, 0.2).unwrap(), b);
    }
    let lens = zlib_lengths(&texts);
    assert_eq!(lens, vec![11, 40, 9]);
    assert_eq!(compute_scores_batch_with_zlib_lens(&all, &lens, 0.2).unwrap(), batch);
    let mut broken = all.clone();
    broken[2].logprob[0] = f64::INFINITY;
    match compute_scores_batch(&broken, &texts, 0.2) {
        Err(AttackError::Record { record: 2, .. }) => {}
        other => panic!("expected an error for record 2, got {other:?}"),
    }
    assert!(matches!(compute_scores_batch(&all, &texts[..2], 0.2), Err(AttackError::BatchMismatch { stats: 3, other: 2, .. })));
}

#[test]
fn reference_calibrated_loss() {
    // Target loss 1 (m = −1); OUT losses 2 and 3 (mean 2.5): calibrated loss 1 − 2.5 = −1.5,
    // oriented score 1.5.
    assert_eq!(reference_calibrated(-1.0, &[-2.0, -3.0]).unwrap(), 1.5);
    assert!(matches!(reference_calibrated(-1.0, &[]), Err(AttackError::NoOutReferences)));
    let batch = reference_calibrated_batch(&[-1.0, -4.0], &[vec![-2.0, -3.0], vec![-1.0]]).unwrap();
    assert_eq!(batch, vec![1.5, -3.0]);
    assert!(matches!(
        reference_calibrated_batch(&[-1.0, -4.0], &[vec![-2.0], vec![]]),
        Err(AttackError::Record { record: 1, .. })
    ));
}

#[test]
fn lower_loss_means_higher_score_everywhere() {
    // The same record, once fitted well (member-like) and once badly.
    let text = "Patient verification code: 48213902.";
    let mu = [-1.0, -1.2, -0.8, -1.5, -1.1, -0.9];
    let sigma = [0.7, 0.9, 0.6, 1.1, 0.8, 0.5];
    let member = stats(&[-0.2, -0.1, -0.4, -0.3, -0.2, -0.1], &mu, &sigma);
    let outsider = stats(&[-2.5, -3.1, -1.9, -4.2, -2.2, -2.8], &mu, &sigma);
    let a = compute_scores(&member, text, 0.2).unwrap();
    let b = compute_scores(&outsider, text, 0.2).unwrap();
    for kind in ScoreKind::ALL {
        assert!(a.get(kind).unwrap() > b.get(kind).unwrap(), "{}", kind.name());
    }
    assert!(a.lira_phi > b.lira_phi && a.rmia_p > b.rmia_p && a.total_logprob > b.total_logprob);
    assert!(reference_calibrated(a.mean_logprob, &[-2.0]).unwrap() > reference_calibrated(b.mean_logprob, &[-2.0]).unwrap());
}

