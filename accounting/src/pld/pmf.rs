//! A discretised privacy-loss distribution: probabilities on the grid of losses
//! k·interval plus a mass at +∞, its composition by FFT, and ε(δ), δ(ε). Facts follow
//! `dp_accounting`'s `pld_pmf.py` (`DensePLDPmf`) and `common.self_convolve`.
//!
//! Everything is pessimistic: mass cut from the upper tail goes to +∞, mass cut from the
//! lower tail is moved up, rounding noise of the FFT is clipped at 0 (adding mass).

use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

use crate::{Error, Result};

/// Largest FFT length used for a composition (memory guard: ~16 bytes per point).
pub const MAX_FFT_LEN: usize = 1 << 27;

/// Probability mass function of a discretised PLD.
#[derive(Debug, Clone, PartialEq)]
pub struct DensePmf {
    /// Grid spacing of the losses (the value discretisation interval).
    pub interval: f64,
    /// Index of `probs[0]`: its loss is `lower·interval`.
    pub lower: i64,
    /// Probability of loss (lower + i)·interval.
    pub probs: Vec<f64>,
    /// Probability of an infinite loss (counts fully towards δ at every ε).
    pub infinity_mass: f64,
}

impl DensePmf {
    /// Builds a PMF; `probs` must be non-empty.
    pub fn new(interval: f64, lower: i64, probs: Vec<f64>, infinity_mass: f64) -> Self {
        debug_assert!(!probs.is_empty());
        Self { interval, lower, probs, infinity_mass }
    }

    /// The PLD of T-fold self-composition: FFT, T-th power, inverse FFT on a domain
    /// chosen by a Chernoff bound so that at most `tail_mass_truncation` falls outside it
    /// (that mass is added to +∞; any wrap-around of it inside the domain only adds mass).
    pub fn self_compose(&self, times: u64, tail_mass_truncation: f64) -> Result<DensePmf> {
        if times == 0 {
            return Err(Error::InvalidParameter { name: "count", value: "0".into(), rule: "must be at least 1" });
        }
        if times == 1 {
            return Ok(self.clone());
        }
        let n = self.probs.len();
        let (lo, hi) = chernoff_bounds(&self.probs, times, tail_mass_truncation);
        let out_len = (hi - lo + 1) as usize;
        let fft_len = fast_len(out_len.max(n));
        if fft_len > MAX_FFT_LEN {
            return Err(Error::InvalidParameter {
                name: "steps",
                value: times.to_string(),
                rule: "composed PLD would need an FFT over 2^27 points; use a larger value discretization interval or the rdp accountant",
            });
        }
        let mut planner = RealFftPlanner::<f64>::new();
        let forward = planner.plan_fft_forward(fft_len);
        let inverse = planner.plan_fft_inverse(fft_len);
        let mut signal = forward.make_input_vec();
        signal[..n].copy_from_slice(&self.probs);
        let mut spectrum = forward.make_output_vec();
        forward.process(&mut signal, &mut spectrum).map_err(|e| Error::Numerical(format!("FFT: {e}")))?;
        for z in spectrum.iter_mut() {
            *z = complex_pow(*z, times);
        }
        // The DC (and Nyquist) bins of a real signal are real; keep them exactly so.
        spectrum[0].im = 0.0;
        if fft_len % 2 == 0 {
            spectrum[fft_len / 2].im = 0.0;
        }
        inverse.process(&mut spectrum, &mut signal).map_err(|e| Error::Numerical(format!("inverse FFT: {e}")))?;
        let scale = 1.0 / fft_len as f64;
        let start = (lo as usize) % fft_len;
        let probs: Vec<f64> = (0..out_len).map(|i| (signal[(start + i) % fft_len] * scale).max(0.0)).collect();
        let lower = self.lower * times as i64 + lo;
        // 1 − (1 − m)^T, computed stably, plus the truncated tail.
        let infinity_mass = (tail_mass_truncation - (times as f64 * (-self.infinity_mass).ln_1p()).exp_m1()).min(1.0);
        Ok(DensePmf::new(self.interval, lower, probs, infinity_mass))
    }

    /// The PLD of composing `self` then `other` (same interval): full convolution, then
    /// up to `tail_mass_truncation` cut from the tails (lower tail moved up onto the first
    /// kept point, upper tail to +∞).
    pub fn compose(&self, other: &DensePmf, tail_mass_truncation: f64) -> Result<DensePmf> {
        if self.interval != other.interval {
            return Err(Error::InvalidParameter {
                name: "value_discretization_interval",
                value: format!("{} vs {}", self.interval, other.interval),
                rule: "composed PLDs must share one interval",
            });
        }
        let len = self.probs.len() + other.probs.len() - 1;
        let fft_len = fast_len(len);
        if fft_len > MAX_FFT_LEN {
            return Err(Error::Numerical(format!("composition needs an FFT of {fft_len} points")));
        }
        let mut planner = RealFftPlanner::<f64>::new();
        let forward = planner.plan_fft_forward(fft_len);
        let inverse = planner.plan_fft_inverse(fft_len);
        let mut a = forward.make_input_vec();
        a[..self.probs.len()].copy_from_slice(&self.probs);
        let mut b = forward.make_input_vec();
        b[..other.probs.len()].copy_from_slice(&other.probs);
        let mut fa = forward.make_output_vec();
        let mut fb = forward.make_output_vec();
        forward.process(&mut a, &mut fa).map_err(|e| Error::Numerical(format!("FFT: {e}")))?;
        forward.process(&mut b, &mut fb).map_err(|e| Error::Numerical(format!("FFT: {e}")))?;
        for (x, y) in fa.iter_mut().zip(&fb) {
            *x *= *y;
        }
        fa[0].im = 0.0;
        if fft_len % 2 == 0 {
            fa[fft_len / 2].im = 0.0;
        }
        inverse.process(&mut fa, &mut a).map_err(|e| Error::Numerical(format!("inverse FFT: {e}")))?;
        let scale = 1.0 / fft_len as f64;
        let mut probs: Vec<f64> = a[..len].iter().map(|v| (v * scale).max(0.0)).collect();
        let infinity = self.infinity_mass + other.infinity_mass - self.infinity_mass * other.infinity_mass;
        let (offset, right_mass) = truncate_tails(&mut probs, tail_mass_truncation);
        Ok(DensePmf::new(self.interval, self.lower + other.lower + offset as i64, probs, (infinity + right_mass).min(1.0)))
    }

    /// δ(ε) = m∞ + Σ_{L > ε} (1 − e^{ε−L})·p(L).
    pub fn delta_for_epsilon(&self, epsilon: f64) -> f64 {
        let mut delta = self.infinity_mass;
        for (i, &p) in self.probs.iter().enumerate() {
            let loss = (self.lower + i as i64) as f64 * self.interval;
            if loss > epsilon {
                delta += -(epsilon - loss).exp_m1() * p;
            }
        }
        delta.min(1.0)
    }

    /// The smallest ε ≥ 0 with δ(ε) ≤ `delta` (∞ if the mass at +∞ exceeds δ), solved
    /// exactly for this discrete distribution by scanning losses from the top.
    pub fn epsilon_for_delta(&self, delta: f64) -> f64 {
        if self.infinity_mass > delta {
            return f64::INFINITY;
        }
        let (mut mass_upper, mut mass_lower) = (self.infinity_mass, 0.0f64);
        for (i, &p) in self.probs.iter().enumerate().rev() {
            let loss = (self.lower + i as i64) as f64 * self.interval;
            if mass_upper > delta && mass_lower > 0.0 && ((mass_upper - delta) / mass_lower).ln() >= loss {
                // ε is at least this loss: every lower loss contributes nothing.
                break;
            }
            mass_upper += p;
            mass_lower += (-loss).exp() * p;
            if mass_upper >= delta && mass_lower == 0.0 {
                // e^{−loss} underflowed: the loss is so large that ε = loss.
                return loss.max(0.0);
            }
        }
        if mass_upper <= mass_lower + delta {
            return 0.0;
        }
        ((mass_upper - delta) / mass_lower).ln()
    }
}

/// Removes up to `tail`/2 of mass from each end of `probs`: the lower part is added to the
/// first kept entry (rounded up), the upper part returned (it goes to +∞). Returns
/// (number of entries removed at the front, upper mass removed).
fn truncate_tails(probs: &mut Vec<f64>, tail: f64) -> (usize, f64) {
    if tail <= 0.0 || probs.len() < 2 {
        return (0, 0.0);
    }
    let prefix_len = |it: &mut dyn Iterator<Item = f64>| {
        let mut s = 0.0;
        let mut count = 0;
        for v in it {
            s += v;
            if s > tail / 2.0 {
                break;
            }
            count += 1;
        }
        count
    };
    let n = probs.len();
    let left = prefix_len(&mut probs.iter().cloned()).min(n - 1);
    let right_start = (n - prefix_len(&mut probs.iter().rev().cloned())).max(left + 1);
    let left_mass: f64 = probs[..left].iter().sum();
    let right_mass: f64 = probs[right_start..].iter().sum();
    probs.truncate(right_start);
    probs.drain(..left);
    probs[0] += left_mass;
    (left, right_mass)
}

/// z^t by binary exponentiation (|z| ≤ 1 for a characteristic function, so no overflow).
fn complex_pow(mut z: Complex<f64>, mut t: u64) -> Complex<f64> {
    let mut acc = Complex::new(1.0, 0.0);
    while t > 0 {
        if t & 1 == 1 {
            acc *= z;
        }
        t >>= 1;
        if t > 0 {
            z *= z;
        }
    }
    acc
}

/// Smallest n' ≥ n of the form 2^a·3^b·5^c (fast FFT sizes).
fn fast_len(n: usize) -> usize {
    let mut best = n.next_power_of_two();
    let mut p5 = 1usize;
    while p5 < best {
        let mut p35 = p5;
        while p35 < best {
            let mut m = p35;
            while m < n {
                m *= 2;
            }
            best = best.min(m);
            p35 *= 3;
        }
        p5 *= 5;
    }
    best
}

/// Chernoff bounds on the index sum of `times` independent draws from `probs` (indices
/// 0..n): [lo, hi] with P[sum < lo] ≤ tail/2 and P[sum > hi] ≤ tail/2, from
/// P[S ≥ u] ≤ e^{−λu}·M(λ)^T (and its mirror for λ < 0). The bound is quasi-convex in λ,
/// so a golden-section search over ln|λ| finds a tight one; any λ gives a valid bound.
/// Clamped to [0, times·(n−1)].
fn chernoff_bounds(probs: &[f64], times: u64, tail: f64) -> (i64, i64) {
    let n = probs.len();
    let full_hi = times as i64 * (n as i64 - 1);
    if tail <= 0.0 || n < 2 {
        return (0, full_hi);
    }
    let mgf = LogMgf::new(probs);
    let log_threshold = (2.0 / tail).ln();
    // bound(λ) = (T·ln M(λ) + ln(2/tail))/λ: an upper bound on S for λ > 0, lower for λ < 0.
    let bound = |lambda: f64| (times as f64 * mgf.upper(lambda) + log_threshold) / lambda;
    let upper = golden_min(|u| bound(u.exp()), (1e-9f64).ln(), (4.0f64).ln());
    let lower = -golden_min(|u| -bound(-u.exp()), (1e-9f64).ln(), (4.0f64).ln());
    let hi = if upper.is_finite() { (upper.ceil() as i64).saturating_add(1) } else { full_hi };
    let lo = if lower.is_finite() { (lower.floor() as i64).saturating_sub(1) } else { 0 };
    let lo = lo.clamp(0, full_hi);
    (lo, hi.clamp(lo, full_hi))
}

/// The smallest value of `f` seen by a golden-section search on [a, b] (f quasi-convex;
/// non-finite values count as +∞).
fn golden_min(f: impl Fn(f64) -> f64, mut a: f64, mut b: f64) -> f64 {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let finite = |v: f64| if v.is_finite() { v } else { f64::INFINITY };
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut fc, mut fd) = (finite(f(c)), finite(f(d)));
    let mut best = fc.min(fd).min(finite(f(a))).min(finite(f(b)));
    // 20 steps shrink the bracket 0.618^20 ≈ 7e-5-fold: ln λ to ~2e-3 over [1e-9, 4].
    for _ in 0..20 {
        if fc <= fd {
            b = d;
            d = c;
            fd = fc;
            c = b - ratio * (b - a);
            fc = finite(f(c));
            best = best.min(fc);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + ratio * (b - a);
            fd = finite(f(d));
            best = best.min(fd);
        }
    }
    best
}

/// ln M(λ) = ln Σ_i p_i e^{λi} of a PMF on indices 0..n, evaluated without overflow.
struct LogMgf<'a> {
    probs: &'a [f64],
    log_probs: Vec<f64>,
    /// Upper concave hull of the points (i, ln p_i): max_i (ln p_i + λi) is attained on it.
    hull: Vec<(f64, f64)>,
}

impl<'a> LogMgf<'a> {
    fn new(probs: &'a [f64]) -> Self {
        let log_probs: Vec<f64> = probs.iter().map(|&p| if p > 0.0 { p.ln() } else { f64::NEG_INFINITY }).collect();
        let mut hull: Vec<(f64, f64)> = Vec::new();
        for (i, &lp) in log_probs.iter().enumerate() {
            if lp == f64::NEG_INFINITY {
                continue;
            }
            let p = (i as f64, lp);
            while hull.len() >= 2 {
                let (o, a) = (hull[hull.len() - 2], hull[hull.len() - 1]);
                let cross = (a.0 - o.0) * (p.1 - o.1) - (a.1 - o.1) * (p.0 - o.0);
                if cross >= 0.0 {
                    hull.pop();
                } else {
                    break;
                }
            }
            hull.push(p);
        }
        Self { probs, log_probs, hull }
    }

    /// An upper bound (relative slack 1e-12) on ln M(λ): anchored at the largest term so
    /// nothing overflows, with e^{λi} by recurrence, re-anchored exactly every 256 steps.
    fn upper(&self, lambda: f64) -> f64 {
        // Along the concave hull y + λx rises then falls: binary search for the turn.
        let h = &self.hull;
        let rises = |k: usize| (h[k + 1].1 - h[k].1) + lambda * (h[k + 1].0 - h[k].0) > 0.0;
        let (mut lo, mut hi) = (0usize, h.len().saturating_sub(1));
        while lo < hi {
            let mid = (lo + hi) / 2;
            if rises(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let turn = lo;
        let anchor = h[turn.saturating_sub(1)..(turn + 2).min(h.len())].iter().map(|&(x, y)| y + lambda * x).fold(f64::NEG_INFINITY, f64::max);
        if !anchor.is_finite() {
            return f64::NAN;
        }
        let ratio = lambda.exp();
        let mut sum = 0.0f64;
        for (block, chunk) in self.probs.chunks(256).enumerate() {
            let first = block * 256;
            let e_first = lambda * first as f64 - anchor;
            let e_last = lambda * (first + chunk.len() - 1) as f64 - anchor;
            if e_first.max(e_last) < -740.0 {
                // Every term is below 1e-321: covered by the slack added below.
                continue;
            }
            if e_first.min(e_last) > -700.0 && e_first.max(e_last) < 700.0 {
                let mut weight = e_first.exp();
                let mut partial = 0.0;
                for &p in chunk {
                    partial += p * weight;
                    weight *= ratio;
                }
                sum += partial;
            } else {
                // Weights leave f64's range inside this block: exact terms (each ≤ 1 by the anchor).
                for (k, &lp) in self.log_probs[first..first + chunk.len()].iter().enumerate() {
                    sum += (lp + lambda * (first + k) as f64 - anchor).exp();
                }
            }
        }
        anchor + (sum * (1.0 + 1e-12) + self.probs.len() as f64 * 1e-300).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_compose_matches_repeated_compose() {
        let pmf = DensePmf::new(0.1, -2, vec![0.1, 0.2, 0.3, 0.25, 0.15], 1e-6);
        let by_power = pmf.self_compose(5, 0.0).unwrap();
        let mut by_steps = pmf.clone();
        for _ in 1..5 {
            by_steps = by_steps.compose(&pmf, 0.0).unwrap();
        }
        assert_eq!(by_power.lower, by_steps.lower);
        for (a, b) in by_power.probs.iter().zip(&by_steps.probs) {
            assert!((a - b).abs() < 1e-15);
        }
        assert!((by_power.infinity_mass - by_steps.infinity_mass).abs() < 1e-18);
    }

    #[test]
    fn fast_len_is_smooth_and_not_smaller() {
        for n in [1usize, 7, 11, 1000, 123_457] {
            let m = fast_len(n);
            assert!(m >= n);
            let mut r = m;
            for p in [2, 3, 5] {
                while r % p == 0 {
                    r /= p;
                }
            }
            assert_eq!(r, 1, "{m}");
        }
        assert_eq!(fast_len(1000), 1000);
    }

    #[test]
    fn epsilon_and_delta_are_inverse() {
        let pmf = DensePmf::new(0.01, -50, (0..200).map(|i| if i % 3 == 0 { 0.015 } else { 0.0 }).collect(), 0.0);
        let eps = pmf.epsilon_for_delta(1e-2);
        assert!((pmf.delta_for_epsilon(eps) - 1e-2).abs() < 1e-12);
    }
}
