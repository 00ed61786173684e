//! f-DP one-run bound (being built by ENGINE_AUDIT).
