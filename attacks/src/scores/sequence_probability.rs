//! The per-(record, model) statistics that LiRA and RMIA start from, both functions of
//! m = mean token log-probability, i.e. log of the geometric-mean token probability p = e^m.

/// LiRA's logit statistic φ = log(p / (1 − p)) with p = e^m (Carlini et al. 2022, "Membership
/// Inference Attacks From First Principles"), computed as m − log(−expm1(m)) so that neither
/// m → 0⁻ (p → 1) nor m ≪ 0 loses precision. m > 0 (rounding in log-softmax) is treated as 0,
/// and 1 − p is floored at the smallest normal f64 so φ stays finite (≤ 708.4) when p = 1.
pub fn lira_phi(mean_logprob: f64) -> f64 {
    let m = mean_logprob.min(0.0);
    let one_minus_p = (-m.exp_m1()).max(f64::MIN_POSITIVE);
    m - one_minus_p.ln()
}

/// RMIA's P(x | θ) = e^m (Zarifzadeh et al. 2024, "Low-Cost High-Power Membership Inference
/// Attacks", with the sequence-level probability taken as the geometric mean over tokens).
pub fn rmia_probability(mean_logprob: f64) -> f64 {
    mean_logprob.min(0.0).exp()
}
