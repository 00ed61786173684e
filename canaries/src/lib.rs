//! vg-canaries (skeleton)
