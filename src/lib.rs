//! The library layer of `vg-audit`: everything the subcommands call, so that the commands only
//! parse arguments and print. It owns the audit configuration (`audit.toml`), the `run`
//! pipeline and its run directory, the adapters through which vg-attacks sees the models of
//! vg-training, the corpus side of the extraction tests, the white-box engine audit, and the
//! progress bars. Dependency arrows point down only: this layer uses every crate of the
//! workspace; `src/cmd` (the binary) uses this layer; nothing here uses `src/cmd`.

pub mod adapters;
pub mod auto;
pub mod config;
pub mod device;
pub mod engine_audit;
pub mod extraction;
pub mod pipeline;
pub mod progress;
pub mod scan;
