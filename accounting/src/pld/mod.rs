//! Privacy-loss-distribution accounting (Koskela et al. 2020; Doroshenko et al. 2022;
//! Google `dp_accounting`'s `pld/`): discretise the loss of one step pessimistically
//! with connect-the-dots, compose by FFT, read ε(δ) and δ(ε) off the result.
//!
//! Layers: [`mechanism`] (one step's privacy loss and its discretisation), [`truncated`]
//! (truncated Poisson batches), [`pmf`] (a discretised PLD and its composition),
//! [`PldAccountant`] (events → PLDs).

pub mod mechanism;
pub mod pmf;
pub mod truncated;

use crate::accountant::Accountant;
use crate::error::{check, check_delta};
use crate::event::{flatten, DpEvent, Flat, Neighbouring};
use crate::Result;
use mechanism::{Direction, SubsampledGaussianLoss};
use pmf::DensePmf;

/// Default value discretisation interval (dp_accounting's default).
pub const DEFAULT_VALUE_DISCRETIZATION_INTERVAL: f64 = 1e-4;

/// Mass that each composition may cut from the tails (added to +∞; dp_accounting's 1e-15).
pub const TAIL_MASS_TRUNCATION: f64 = 1e-15;

/// The state of a PLD accountant: the PLD of the "remove" pair and, when it differs, of
/// the "add" pair (`None` = same as remove, i.e. symmetric).
#[derive(Debug, Clone)]
struct PldPair {
    remove: DensePmf,
    add: Option<DensePmf>,
}

/// The add/remove pair of PLDs from `build(direction)`, the two directions built at once on two
/// threads (they are independent).
fn both_directions(build: &(dyn Fn(Direction) -> Result<DensePmf> + Sync)) -> Result<PldPair> {
    let (remove, add) = std::thread::scope(|scope| {
        let add = scope.spawn(|| build(Direction::Add));
        let remove = build(Direction::Remove);
        (remove, add.join())
    });
    let add = add.map_err(|_| crate::Error::Numerical("PLD worker thread panicked".into()))??;
    Ok(PldPair { remove: remove?, add: Some(add) })
}

impl PldPair {
    fn compose(&self, other: &PldPair) -> Result<PldPair> {
        let remove = self.remove.compose(&other.remove, TAIL_MASS_TRUNCATION)?;
        let add = match (&self.add, &other.add) {
            (None, None) => None,
            (a, b) => {
                let a = a.as_ref().unwrap_or(&self.remove);
                let b = b.as_ref().unwrap_or(&other.remove);
                Some(a.compose(b, TAIL_MASS_TRUNCATION)?)
            }
        };
        Ok(PldPair { remove, add })
    }
}

/// `state` followed by `pair` (just `pair` when nothing was composed yet).
fn then(state: Option<PldPair>, pair: PldPair) -> Result<PldPair> {
    match state {
        None => Ok(pair),
        Some(s) => s.compose(&pair),
    }
}

/// PLD accountant for (subsampled) Gaussian events.
///
/// Tight: the pessimistic connect-the-dots discretisation makes the reported ε an upper
/// bound whose excess over the exact ε shrinks with the interval (1e-4 by default); it
/// reproduces Google dp_accounting's PLD to ~1e-8 relative and agrees with Microsoft's
/// PRV estimate to 0.5 % + 2e-3 over q ∈ [0.001, 0.1], σ ∈ [0.5, 5], T ≤ 1e4, and it is
/// the accountant to report. Loose where ε is only a few intervals, because each step's
/// losses are rounded up to the grid: T = 1, q = 0.001, σ = 5 gives 3e-4 where the truth
/// is ≈ 0, and at q = 1e-4, σ = 30, T = 1000 the rounding of 1000 tiny per-step losses
/// gives 1.3e-3 where RDP certifies 2.8e-4 — lower the interval there. Cost grows with
/// the loss range: small σ, large q and very large T need large
/// FFTs (about 16 bytes per grid point, refused beyond 2^27 points).
#[derive(Debug, Clone)]
pub struct PldAccountant {
    interval: f64,
    neighbouring: Neighbouring,
    state: Option<PldPair>,
    non_private: bool,
    ledger: Vec<DpEvent>,
}

impl PldAccountant {
    /// An empty accountant with the default interval 1e-4.
    pub fn new(neighbouring: Neighbouring) -> Self {
        Self::with_interval(DEFAULT_VALUE_DISCRETIZATION_INTERVAL, neighbouring).expect("default interval is valid")
    }

    /// An empty accountant with value discretisation `interval` ∈ (0, 1].
    pub fn with_interval(interval: f64, neighbouring: Neighbouring) -> Result<Self> {
        check(interval > 0.0 && interval <= 1.0, "value_discretization_interval", interval, "must lie in (0, 1]")?;
        Ok(Self { interval, neighbouring, state: None, non_private: false, ledger: Vec::new() })
    }

    /// The PLD pair of `count` runs of the (subsampled) Gaussian.
    fn gaussian_pair(&self, q: f64, sigma: f64, count: u64) -> Result<PldPair> {
        let replace = self.neighbouring == Neighbouring::ReplaceOne;
        if q == 1.0 {
            // No subsampling: T Gaussians with σ compose exactly to one with σ/√T.
            let sigma_t = sigma / (count as f64).sqrt();
            let direction = if replace { Direction::Replace } else { Direction::Remove };
            let remove = SubsampledGaussianLoss::new(sigma_t, 1.0, direction).connect_the_dots(self.interval)?;
            return Ok(PldPair { remove, add: None });
        }
        if replace {
            let one = SubsampledGaussianLoss::new(sigma, q, Direction::Replace).connect_the_dots(self.interval)?;
            return Ok(PldPair { remove: one.self_compose(count, TAIL_MASS_TRUNCATION)?, add: None });
        }
        // The two directions are independent: build them on two threads.
        let interval = self.interval;
        let build = move |direction| {
            SubsampledGaussianLoss::new(sigma, q, direction)
                .connect_the_dots(interval)
                .and_then(|one| one.self_compose(count, TAIL_MASS_TRUNCATION))
        };
        both_directions(&build)
    }

    fn flat(&self, event: &DpEvent) -> Result<Vec<Flat>> {
        let mut flat = Vec::new();
        flatten(event, 1, "pld", &mut flat)?;
        Ok(flat)
    }

    fn worst<F: Fn(&DensePmf) -> f64>(&self, f: F) -> f64 {
        match &self.state {
            None => f64::NAN,
            Some(pair) => {
                let r = f(&pair.remove);
                pair.add.as_ref().map_or(r, |a| r.max(f(a)))
            }
        }
    }
}

impl Accountant for PldAccountant {
    fn name(&self) -> &'static str {
        "pld"
    }

    fn neighbouring(&self) -> Neighbouring {
        self.neighbouring
    }

    fn check(&self, event: &DpEvent) -> Result<()> {
        self.flat(event).map(|_| ())
    }

    fn compose(&mut self, event: &DpEvent) -> Result<()> {
        let flat = self.flat(event)?;
        // Build everything first; commit only when all of it succeeded.
        let mut state = self.state.clone();
        let mut non_private = self.non_private;
        for f in flat {
            match f {
                Flat::NonPrivate => non_private = true,
                Flat::Gaussian(g) => state = Some(then(state, self.gaussian_pair(g.q, g.sigma, g.count)?)?),
                Flat::Truncated(t) => state = Some(then(state, truncated::truncated_pair(self.interval, self.neighbouring, t)?)?),
            }
        }
        self.state = state;
        self.non_private = non_private;
        self.ledger.push(event.clone());
        Ok(())
    }

    fn epsilon(&self, delta: f64) -> Result<f64> {
        check_delta(delta)?;
        if self.non_private {
            return Ok(f64::INFINITY);
        }
        if self.state.is_none() {
            return Ok(0.0);
        }
        Ok(self.worst(|p| p.epsilon_for_delta(delta)))
    }

    fn delta(&self, epsilon: f64) -> Result<f64> {
        check(epsilon >= 0.0 && !epsilon.is_nan(), "epsilon", epsilon, "must be >= 0")?;
        if self.non_private {
            return Ok(1.0);
        }
        if self.state.is_none() {
            return Ok(0.0);
        }
        Ok(self.worst(|p| p.delta_for_epsilon(epsilon)))
    }

    fn ledger(&self) -> &[DpEvent] {
        &self.ledger
    }
}
