//! The accountant interface, in the shape of `dp_accounting`'s `PrivacyAccountant`:
//! check first, then mutate; a refused event leaves the accountant untouched.

use crate::event::{DpEvent, Neighbouring};
use crate::Result;

/// A privacy accountant: consumes [`DpEvent`]s and answers ε(δ) and δ(ε) for everything
/// composed so far.
pub trait Accountant {
    /// Short name of the method, as printed in reports ("rdp", "pld").
    fn name(&self) -> &'static str;

    /// The neighbouring relation (privacy unit) this accountant was built for.
    fn neighbouring(&self) -> Neighbouring;

    /// Dry run: `Ok` when `event` can be composed, otherwise the error `compose` would
    /// return, naming the offending sub-event. Never changes state.
    fn check(&self, event: &DpEvent) -> Result<()>;

    /// Whether `event` can be composed (unknown or unsupported events: false).
    fn supports(&self, event: &DpEvent) -> bool {
        self.check(event).is_ok()
    }

    /// Composes `event` into the state. On error nothing was composed.
    fn compose(&mut self, event: &DpEvent) -> Result<()>;

    /// The smallest ε (≥ 0) this accountant can certify at `delta`, or ∞.
    fn epsilon(&self, delta: f64) -> Result<f64>;

    /// The smallest δ this accountant can certify at `epsilon` (1 when nothing better).
    fn delta(&self, epsilon: f64) -> Result<f64>;

    /// Every event composed so far, in order (save it to recompute ε later).
    fn ledger(&self) -> &[DpEvent];
}
