//! vg-corpora (skeleton)
