//! Calibration, independent of the accountant: the smallest noise multiplier σ whose ε
//! meets a target, and the largest number of steps a σ allows. Monotone bisection that
//! only ever returns a value it has checked against the target, so the answer never
//! overshoots ε (in the spirit of dp_accounting's `mechanism_calibration.py`).

use crate::{Error, Result};

/// Relative precision of calibrated σ.
pub const SIGMA_RELATIVE_TOLERANCE: f64 = 1e-4;

/// Smallest σ (to `rel_tol` relative, rounded up) with `epsilon_of(σ)` ≤ `target`, for an
/// ε non-increasing in σ. An `Err` from `epsilon_of` at some σ (e.g. a PLD grid too large
/// for a tiny σ) counts as missing the target there.
pub fn smallest_sigma(epsilon_of: &mut dyn FnMut(f64) -> Result<f64>, target: f64, rel_tol: f64) -> Result<f64> {
    let mut meets = |sigma: f64| -> Result<bool> {
        match epsilon_of(sigma) {
            Ok(eps) => Ok(eps <= target),
            Err(Error::InvalidParameter { name: "noise_multiplier", .. }) => Ok(false),
            Err(e) => Err(e),
        }
    };
    let (mut lo, mut hi) = (0.5, 1.0);
    if meets(hi)? {
        // Walk down until the target is missed (or σ is negligible).
        loop {
            if !meets(lo)? {
                break;
            }
            hi = lo;
            lo /= 2.0;
            if lo < 1e-3 {
                return Ok(hi);
            }
        }
    } else {
        loop {
            lo = hi;
            hi *= 2.0;
            if hi > 1e6 {
                return Err(Error::Calibration(format!("no noise multiplier up to 1e6 reaches epsilon <= {target}")));
            }
            if meets(hi)? {
                break;
            }
        }
    }
    // Invariant: ε(lo) > target ≥ ε(hi).
    while hi - lo > rel_tol * hi {
        let mid = 0.5 * (lo + hi);
        if meets(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// Largest T ≥ 0 with `epsilon_of(T)` ≤ `target`, for an ε non-decreasing in T; at most
/// `cap` (returned when even `cap` steps meet the target).
pub fn largest_steps(epsilon_of: &mut dyn FnMut(u64) -> Result<f64>, target: f64, cap: u64) -> Result<u64> {
    if epsilon_of(1)? > target {
        return Ok(0);
    }
    let (mut lo, mut hi) = (1u64, 2u64);
    loop {
        if hi >= cap {
            if epsilon_of(cap)? <= target {
                return Ok(cap);
            }
            hi = cap;
            break;
        }
        if epsilon_of(hi)? > target {
            break;
        }
        lo = hi;
        hi *= 2;
    }
    // Invariant: ε(lo) ≤ target < ε(hi).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if epsilon_of(mid)? <= target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// First step away from a rough guess when bracketing (relative; doubled until the target is
/// crossed): a few per cent, how far a closed-form approximation of σ typically is.
pub const ROUGH_GUESS_STEP: f64 = 0.02;

/// [`smallest_sigma`] started from an estimate `guess` of the answer: the bracket is searched
/// outward from the guess (first step `first_step` relative, doubling), then closed by
/// interpolating ln ε between its ends, aimed just past the crossing so that one point on each
/// side ends it. Same contract as [`smallest_sigma`] (returns a σ checked to meet the target, and
/// a σ less than `rel_tol` below it was checked to miss it), in about 4–8 evaluations from a
/// guess a few per cent off (about 2 from one within `rel_tol`) instead of about 16.
/// Returns (σ, `epsilon_of(σ)`).
pub fn smallest_sigma_near(
    epsilon_of: &mut dyn FnMut(f64) -> Result<f64>,
    target: f64,
    rel_tol: f64,
    guess: f64,
    first_step: f64,
) -> Result<(f64, f64)> {
    // ε at σ, with +∞ where the accountant cannot certify one (counts as missing the target).
    let mut eps_at = |sigma: f64| -> Result<f64> {
        match epsilon_of(sigma) {
            Ok(eps) => Ok(eps),
            Err(Error::InvalidParameter { name: "noise_multiplier", .. }) => Ok(f64::INFINITY),
            Err(e) => Err(e),
        }
    };
    let guess = if guess.is_finite() { guess.clamp(1e-3, 1e6) } else { 1.0 };
    let mut step = if first_step > 0.0 && first_step.is_finite() { first_step } else { ROUGH_GUESS_STEP };
    let e0 = eps_at(guess)?;
    // Invariant once bracketed: ε(lo) > target ≥ ε(hi).
    let (mut lo, mut e_lo, mut hi, mut e_hi);
    if e0 <= target {
        (hi, e_hi) = (guess, e0);
        loop {
            lo = hi / (1.0 + step);
            if lo < 1e-3 {
                return Ok((hi, e_hi));
            }
            e_lo = eps_at(lo)?;
            if e_lo > target {
                break;
            }
            (hi, e_hi) = (lo, e_lo);
            step *= 2.0;
        }
    } else {
        (lo, e_lo) = (guess, e0);
        loop {
            hi = lo * (1.0 + step);
            if hi > 1e6 {
                return Err(Error::Calibration(format!("no noise multiplier up to 1e6 reaches epsilon <= {target}")));
            }
            e_hi = eps_at(hi)?;
            if e_hi <= target {
                break;
            }
            (lo, e_lo) = (hi, e_hi);
            step *= 2.0;
        }
    }
    let mut bisect_next = false;
    while hi - lo > rel_tol * hi {
        let width = hi - lo;
        let interpolable = e_lo.is_finite() && e_hi > 0.0 && target > 0.0;
        let x = if bisect_next || !interpolable {
            0.5 * (lo + hi)
        } else {
            // Where ln ε crosses ln target on the chord; step just past it towards the farther end.
            let r = lo + (e_lo.ln() - target.ln()) / (e_lo.ln() - e_hi.ln()) * width;
            let offset = 0.45 * rel_tol * hi;
            let x = if r - lo > hi - r { r - offset } else { r + offset };
            if x > lo && x < hi { x } else { 0.5 * (lo + hi) }
        };
        let e = eps_at(x)?;
        if e <= target {
            (hi, e_hi) = (x, e);
        } else {
            (lo, e_lo) = (x, e);
        }
        // A step that did not halve the bracket is followed by a bisection, so the worst case
        // stays within twice the bisection's evaluations.
        bisect_next = !bisect_next && hi - lo > 0.5 * width + rel_tol * hi;
    }
    Ok((hi, e_hi))
}
