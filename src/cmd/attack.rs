//! PLACEHOLDER — owned by a helper; replace entirely.
use std::process::ExitCode;

/// Arguments (placeholder).
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand (placeholder).
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this subcommand is being built")
}
