//! Extraction (being built by EXTRACT).
