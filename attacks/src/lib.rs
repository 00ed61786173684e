//! vg-attacks: everything that turns a model's behaviour on individual records into privacy
//! evidence — per-record scores, membership-inference attacks, ROC metrics, empirical ε lower
//! bounds, canary exposure and extraction. It knows no model: it asks for the small traits in
//! [`model`], so the same code audits a model we trained, an external checkpoint, or a score
//! table produced elsewhere.
//!
//! # Brief overview
//!
//! The data flows one way: **scores → attacks → ROC → ε lower bounds**.
//!
//! 1. [`scores`] turns per-token log-probabilities into per-record statistics (loss, zlib ratio,
//!    min-k%, min-k%++, reference-calibrated loss, the LiRA logit φ); [`score_table`] stores them as one
//!    row per (record, model) in `scores.parquet` or reads a user's long score table.
//! 2. [`mia`] attacks membership: loss threshold (Yeom et al. 2018) and any single score, LiRA
//!    online/offline (Carlini et al. 2022) from shadow models, RMIA offline (Zarifzadeh et al. 2024).
//! 3. [`metrics`] computes the exact ROC, AUC, TPR at low FPR and balanced accuracy.
//! 4. [`bounds`] turns attack outcomes into ε lower bounds with a stated confidence
//!    (Clopper–Pearson, the one-run audit of Steinke et al. 2023); [`exposure`] ranks canaries
//!    (not an ε bound). [`membership_audit`] runs 2–4 on a score table for the pipeline and the CLI.
//! 5. [`extraction`] tests memorization by generation (prefix → suffix, suffix-array search).
//!
//! **Sign convention, stated once:** every membership score in this crate is oriented so that
//! *higher = more likely a member*; the decision rule at threshold t is "member iff score ≥ t".
//! Attacks produce scores in that orientation, user tables with the opposite sign are flipped on
//! reading (`lower_is_member`), and metrics and bounds assume it without checking.
//!
//! ```
//! use vg_attacks::bounds::{clopper_pearson_epsilon, one_run_epsilon, ErrorCounts};
//! // 100 correct guesses out of 100 on 1000 canaries: ε ≥ 3.49 with 95 % confidence.
//! let eps = one_run_epsilon(1000, 100, 100, 0.0, 0.95).unwrap();
//! assert!((eps - 3.4929654311523057).abs() < 1e-9);
//! let counts = ErrorCounts { false_positives: 0, negatives: 1000, false_negatives: 500, positives: 1000 };
//! let b = clopper_pearson_epsilon(counts, 0.0, 0.95).unwrap();
//! assert!((b.epsilon - 4.846162186259231).abs() < 1e-9);
//! ```
#![warn(missing_docs)]

pub mod membership_audit;
pub mod bounds;
mod error;
pub mod exposure;
pub mod extraction;
pub mod metrics;
pub mod mia;
pub mod model;
pub mod scores;
pub mod score_table;

pub use error::{AttackError, Result};
