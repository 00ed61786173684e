//! ε lower bounds (being built).
pub mod fdp;
