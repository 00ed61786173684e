//! vg-training (being built by TRAINING).
