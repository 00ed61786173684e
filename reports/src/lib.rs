//! vg-reports (skeleton)
