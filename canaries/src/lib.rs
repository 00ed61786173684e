//! vg-canaries owns the canaries of a privacy audit: random secrets placed in realistic
//! template sentences (customer-service, clinical, financial), each *inserted* canary included
//! in training with probability ½ (S_i = ±1, recorded) and repeated r times when asked, plus
//! *reference* canaries of the same families that are never inserted, so exposure
//! (Carlini et al. 2019) can be estimated from ranks. The set is the audit's answer key,
//! `canaries.json`, written atomically and checked when read back.
//!
//! # Brief overview
//! - [`CanaryOptions`] says what to generate (m, n per family, r, families, optional insecure
//!   seed); [`CanaryOptions::validate`] refuses impossible requests before any work.
//! - [`CanarySet::generate`] draws distinct secrets from each family's [`SecretSpace`] with
//!   ChaCha20 seeded from the operating system (or a recorded seed for tests).
//! - [`CanarySet::training_examples`] gives the texts to insert as ordinary training examples.
//! - [`CanarySet::save`] / [`CanarySet::load`] write and read `canaries.json`.
//!
//! # Example
//! ```
//! use vg_canaries::{CanaryOptions, CanarySet};
//! let options = CanaryOptions { count: 12, references_per_family: 5, insecure_seed: Some(7), ..Default::default() };
//! let set = CanarySet::generate(&options, Some(10_000)).unwrap();
//! assert_eq!(set.inserted().count(), 12);
//! let c = &set.canaries[0];
//! assert!(c.text().starts_with(c.prefix()) && c.text().contains(&c.secret));
//! assert_eq!(set.training_examples().len(), set.included().count()); // r = 1
//! ```
#![deny(missing_docs)]

mod error;
mod io;
pub mod secret;
mod set;
pub mod template;
pub mod words;

pub use error::{CanaryError, Result};
pub use secret::SecretSpace;
pub use set::{
    Canary, CanaryKind, CanaryOptions, CanarySet, Randomness, TrainingCanary, FORMAT_NAME, FORMAT_VERSION,
    INCLUSION_PROBABILITY, MAX_REPETITIONS,
};
pub use template::{default_families, Domain, TemplateFamily, SECRET_SLOT};
