//! Integration tests of vg-training: one test binary, one module per topic.

mod common;
mod dp_engine;
mod freeze;
mod ghost_clipping;
mod hf_checkpoints;
mod hf_export;
mod hf_init;
mod kernel_paths;
mod model;
mod scaling;
mod training;
mod whole_pass;
