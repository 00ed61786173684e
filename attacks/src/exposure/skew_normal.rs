//! The skew-normal distribution (Azzalini 1985) used to extrapolate exposure beyond the
//! reference canaries: density (2/ω) φ(z) Φ(αz) with z = (x − ξ)/ω. Fitted by maximum
//! likelihood (Nelder–Mead) from a method-of-moments start; tail probabilities computed in
//! log space by quadrature, accurate far beyond where 1 − CDF underflows.

use serde::{Deserialize, Serialize};

/// Largest |α| the fit may return: the likelihood can run off to α = ±∞ on half-normal-looking
/// samples (Azzalini & Arellano-Valle 2013); beyond ~50 the shape is a half-normal anyway.
pub const MAX_SHAPE: f64 = 50.0;

// Sample skewness is capped below the skew-normal's limit 0.99527 for the moment start.
const MAX_MOMENT_SKEWNESS: f64 = 0.99;
// Quadrature: the integrand is kept where it is within e^-60 of its peak.
const TAIL_CUTOFF: f64 = 60.0;
const PANELS: usize = 200;
// 10-point Gauss–Legendre nodes and weights on [−1, 1] (Abramowitz & Stegun 25.4.30).
const GL_NODES: [f64; 5] = [0.148_874_338_981_631_2, 0.433_395_394_129_247_2, 0.679_409_568_299_024_4, 0.865_063_366_688_984_5, 0.973_906_528_517_171_7];
const GL_WEIGHTS: [f64; 5] = [0.295_524_224_714_752_9, 0.269_266_719_309_996_3, 0.219_086_362_515_982_0, 0.149_451_349_150_580_6, 0.066_671_344_308_688_1];

/// A skew-normal distribution SN(ξ, ω, α).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkewNormal {
    /// Location ξ.
    pub location: f64,
    /// Scale ω > 0.
    pub scale: f64,
    /// Shape α (0 = normal, > 0 = right-skewed).
    pub shape: f64,
}

use vg_accounting::special::{ln_normal_pdf, log_norm_cdf as ln_normal_cdf};


impl SkewNormal {
    /// δ = α / √(1 + α²).
    fn delta(&self) -> f64 {
        self.shape / (1.0 + self.shape * self.shape).sqrt()
    }

    /// Mean ξ + ωδ√(2/π).
    pub fn mean(&self) -> f64 {
        self.location + self.scale * self.delta() * (2.0 / std::f64::consts::PI).sqrt()
    }

    /// Variance ω²(1 − 2δ²/π).
    pub fn variance(&self) -> f64 {
        self.scale * self.scale * (1.0 - 2.0 * self.delta().powi(2) / std::f64::consts::PI)
    }

    /// ln P[X ≥ x], accurate in the far right tail (e.g. 1e-200) and near 1 alike.
    pub fn ln_sf(&self, x: f64) -> f64 {
        standard_ln_sf((x - self.location) / self.scale, self.shape)
    }

    /// Draws one value: δ|U| + √(1−δ²)V with U, V independent standard normals (Azzalini 1985).
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        use rand_distr::{Distribution, StandardNormal};
        let d = self.delta();
        let u: f64 = StandardNormal.sample(rng);
        let v: f64 = StandardNormal.sample(rng);
        self.location + self.scale * (d * u.abs() + (1.0 - d * d).sqrt() * v)
    }

    /// Method-of-moments estimate (sample skewness capped at ±0.99). `None` when the sample has
    /// fewer than 3 values, is not finite, or has zero variance.
    pub fn fit_moments(samples: &[f64]) -> Option<SkewNormal> {
        let (mean, sd, skew) = moments(samples)?;
        let standard = standard_moment_fit(skew);
        Some(SkewNormal { location: mean + sd * standard.location, scale: sd * standard.scale, shape: standard.shape })
    }

    /// Maximum-likelihood fit (Nelder–Mead on (ξ, ln ω, α) of the standardised sample, started
    /// at the method-of-moments estimate, |α| ≤ [`MAX_SHAPE`]). `None` as for [`Self::fit_moments`].
    pub fn fit(samples: &[f64]) -> Option<SkewNormal> {
        let (mean, sd, skew) = moments(samples)?;
        let z: Vec<f64> = samples.iter().map(|x| (x - mean) / sd).collect();
        let start = standard_moment_fit(skew);
        let nll = |p: &[f64; 3]| {
            let (xi, ln_omega, alpha) = (p[0], p[1], p[2].clamp(-MAX_SHAPE, MAX_SHAPE));
            let omega = ln_omega.exp();
            let sum: f64 = z
                .iter()
                .map(|x| {
                    let t = (x - xi) / omega;
                    ln_normal_pdf(t, 0.0, 1.0) + ln_normal_cdf(alpha * t)
                })
                .sum();
            -(sum / z.len() as f64 - ln_omega)
        };
        let best = nelder_mead(nll, [start.location, start.scale.ln(), start.shape]);
        Some(SkewNormal {
            location: mean + sd * best[0],
            scale: sd * best[1].exp(),
            shape: best[2].clamp(-MAX_SHAPE, MAX_SHAPE),
        })
    }
}

/// (mean, population sd, sample skewness) of finite samples with positive variance.
fn moments(samples: &[f64]) -> Option<(f64, f64, f64)> {
    if samples.len() < 3 || samples.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let m2 = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let m3 = samples.iter().map(|x| (x - mean).powi(3)).sum::<f64>() / n;
    let sd = m2.sqrt();
    if !(sd > 1e-300 * mean.abs().max(1.0)) {
        return None;
    }
    Some((mean, sd, m3 / (m2 * sd)))
}

/// Moment fit of a skew-normal with mean 0, variance 1 and skewness `skew`
/// (skewness γ = ((4−π)/2) (δ√(2/π))³ / (1 − 2δ²/π)^{3/2}, solved for δ).
fn standard_moment_fit(skew: f64) -> SkewNormal {
    let g = skew.clamp(-MAX_MOMENT_SKEWNESS, MAX_MOMENT_SKEWNESS);
    let g23 = g.abs().powf(2.0 / 3.0);
    let c = ((4.0 - std::f64::consts::PI) / 2.0).powf(2.0 / 3.0);
    let delta = g.signum() * (std::f64::consts::FRAC_PI_2 * g23 / (g23 + c)).sqrt();
    let shape = (delta / (1.0 - delta * delta).sqrt()).clamp(-MAX_SHAPE, MAX_SHAPE);
    let delta = shape / (1.0 + shape * shape).sqrt();
    let scale = (1.0 / (1.0 - 2.0 * delta * delta / std::f64::consts::PI)).sqrt();
    SkewNormal { location: -scale * delta * (2.0 / std::f64::consts::PI).sqrt(), scale, shape }
}

/// ln P[Z ≥ z] for Z ~ SN(0, 1, α): ln 2 + ln ∫_z^∞ φ(t) Φ(αt) dt. The log-integrand
/// h(t) = ln φ(t) + ln Φ(αt) is concave (both terms are), so it has one peak; we integrate
/// e^{h − h_max} by Gauss–Legendre over the interval where h ≥ h_max − 60.
fn standard_ln_sf(z: f64, alpha: f64) -> f64 {
    let h = |t: f64| ln_normal_pdf(t, 0.0, 1.0) + ln_normal_cdf(alpha * t);
    let dh = |t: f64| -t + alpha * (ln_normal_pdf(alpha * t, 0.0, 1.0) - ln_normal_cdf(alpha * t)).exp();
    // Peak of h on [z, ∞).
    let peak = if dh(z) <= 0.0 {
        z
    } else {
        let mut step = 1.0;
        while dh(z + step) > 0.0 {
            step *= 2.0;
        }
        bisect(z, z + step, |t| dh(t) > 0.0)
    };
    let h_max = h(peak);
    let keep = |t: f64| h(t) >= h_max - TAIL_CUTOFF;
    let mut step = 1.0;
    while keep(peak + step) {
        step *= 2.0;
    }
    let right = bisect(peak, peak + step, keep);
    let left = if peak == z || keep(z) {
        z
    } else {
        let mut step = 1.0;
        while peak - step > z && keep(peak - step) {
            step *= 2.0;
        }
        let far = (peak - step).max(z);
        // `keep` is false at `far`, true at `peak`: find the crossing from the left.
        bisect(far, peak, |t| !keep(t))
    };
    let width = (right - left) / PANELS as f64;
    let mut integral = 0.0;
    for panel in 0..PANELS {
        let mid = left + (panel as f64 + 0.5) * width;
        let half = width / 2.0;
        for (node, weight) in GL_NODES.iter().zip(GL_WEIGHTS) {
            integral += weight * half * ((h(mid - half * node) - h_max).exp() + (h(mid + half * node) - h_max).exp());
        }
    }
    (std::f64::consts::LN_2 + h_max + integral.ln()).min(0.0)
}

/// The point in [lo, hi] where `pred` turns from true to false (pred(lo) true, pred(hi) false).
fn bisect(mut lo: f64, mut hi: f64, pred: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if pred(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Minimises `f` over R³ by Nelder–Mead (reflection 1, expansion 2, contraction ½, shrink ½).
fn nelder_mead(f: impl Fn(&[f64; 3]) -> f64, start: [f64; 3]) -> [f64; 3] {
    let steps = [0.1, 0.1, (0.2 * start[2].abs()).max(0.5)];
    let mut simplex: Vec<([f64; 3], f64)> = vec![(start, f(&start))];
    for i in 0..3 {
        let mut p = start;
        p[i] += steps[i];
        simplex.push((p, f(&p)));
    }
    let combine = |a: &[f64; 3], b: &[f64; 3], t: f64| [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), a[2] + t * (b[2] - a[2])];
    for _ in 0..2000 {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        if (simplex[3].1 - simplex[0].1).abs() < 1e-12 {
            break;
        }
        let mut centroid = [0.0; 3];
        for (p, _) in &simplex[..3] {
            for k in 0..3 {
                centroid[k] += p[k] / 3.0;
            }
        }
        let worst = simplex[3];
        let reflected = combine(&centroid, &worst.0, -1.0);
        let fr = f(&reflected);
        if fr < simplex[0].1 {
            let expanded = combine(&centroid, &worst.0, -2.0);
            let fe = f(&expanded);
            simplex[3] = if fe < fr { (expanded, fe) } else { (reflected, fr) };
        } else if fr < simplex[2].1 {
            simplex[3] = (reflected, fr);
        } else {
            let contracted = if fr < worst.1 { combine(&centroid, &reflected, 0.5) } else { combine(&centroid, &worst.0, 0.5) };
            let fc = f(&contracted);
            if fc < fr.min(worst.1) {
                simplex[3] = (contracted, fc);
            } else {
                let best = simplex[0].0;
                for entry in simplex.iter_mut().skip(1) {
                    let p = combine(&best, &entry.0, 0.5);
                    *entry = (p, f(&p));
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex[0].0
}
