//! vg-attacks (skeleton)
