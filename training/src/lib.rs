//! vg-training (skeleton)
