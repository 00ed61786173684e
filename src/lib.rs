//! Shared plumbing of the `vg-audit` binary.
