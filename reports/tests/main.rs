//! Integration tests of vg-reports: one test binary, one module per topic.

mod common;
mod gate;
mod html;
mod layout;
mod report;
mod release_policy;
mod scan_log;
mod schema;
