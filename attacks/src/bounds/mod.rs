//! Empirical ε lower bounds: what an attack achieved, turned into a statistical claim
//! "ε ≥ x with confidence c" that sits next to the accountant's upper bound. Every bound states
//! its confidence, and any choice made after looking at the data (threshold, k₊/k₋) is paid for.
//!
//! - [`clopper_pearson`]: from the error counts of a thresholded score (design.md formula).
//! - [`one_run`]: Steinke–Nasr–Jagielski one-run audit on randomly included canaries.
//! - [`fdp`]: the f-DP variant used by the DP-SGD engine audit.
//! - [`guesses`]: the guessing rules, counts and grid search both one-run bounds share.
pub mod clopper_pearson;
pub mod fdp;
pub mod guesses;
pub mod one_run;

pub use clopper_pearson::{
    clopper_pearson_epsilon, clopper_pearson_from_scores, clopper_pearson_lower, clopper_pearson_upper,
    ClopperPearsonBound, ErrorCounts, ScoreThresholdBound, ThresholdChoice,
};
pub use one_run::{
    one_run_epsilon, one_run_epsilon_appendix_d, one_run_from_scores, one_run_guesses, one_run_p_value, GuessChoice,
    OneRunBound,
};
pub use guesses::{guess_counts, GuessCounts, GuessRule};
