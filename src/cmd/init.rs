//! `vg-audit init`: writes a commented example `audit.toml` (every key at its default).

use std::path::PathBuf;

use anyhow::Context;

use crate::Outcome;

/// Write a commented example configuration to start an audit from.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Where to write the example (refuses to overwrite an existing file unless --force).
    #[arg(default_value = "audit.toml")]
    pub(crate) path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub(crate) force: bool,
}

/// Writes the example configuration.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    if args.path.exists() && !args.force {
        anyhow::bail!("{} exists; pass --force to overwrite it", args.path.display());
    }
    vg_corpora::fsutil::atomic_write(&args.path, vg_audit::config::EXAMPLE.as_bytes())
        .with_context(|| format!("cannot write {}", args.path.display()))?;
    eprintln!(
        "wrote {} — edit it, then: vg-audit run --config {} --out audit-run",
        args.path.display(),
        args.path.display()
    );
    Ok(Outcome::Success)
}
