//! Exposure (being built by CANARIES).
