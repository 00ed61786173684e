//! vg-accounting (skeleton)
