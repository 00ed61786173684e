//! Integration tests of vg-canaries: one test binary, one module per topic.

mod generate;
mod io;
