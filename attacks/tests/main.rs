//! Integration tests of vg-attacks: one test binary, one module per topic.

mod common;
mod audit_run_table;
mod bounds_reference;
mod exposure;
mod extraction;
mod fdp_bound;
mod lira_reference;
mod scanner;
mod scores;
mod soundness;
mod table_and_metrics;
