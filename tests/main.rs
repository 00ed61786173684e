//! Integration tests of the vg-audit binary and library: one test binary, one module per topic.

mod audit_external;
mod common;
mod canary_audit;
mod config;
mod corpus_cli;
mod engine_audit;
mod executor;
mod gate;
mod memorization;
mod plan;
mod report;
mod run;
mod scan;
mod synth;
mod train_init;
