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
