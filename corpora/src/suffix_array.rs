//! Suffix array (being built by EXTRACT).
