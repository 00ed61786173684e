//! vg-corpora (being built by CORPUS).
pub mod suffix_array;
