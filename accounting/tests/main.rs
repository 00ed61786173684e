//! Integration tests of vg-accounting: one test binary, one module per topic.

mod calibration;
mod properties;
mod reference;
mod truncated;
mod warm_calibration;
