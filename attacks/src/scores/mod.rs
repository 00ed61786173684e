//! Per-record scores (being built by CANARIES).
