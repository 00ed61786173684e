//! vg-attacks (being built): scores, membership inference, ε lower bounds, extraction.
pub mod model;
pub mod bounds;
pub mod extraction;
pub mod scores;
pub mod exposure;
