//! `vg-audit scan`: the output filter that sits next to a deployed model. The matching (index,
//! scanner, verdicts) lives in `vg_attacks::extraction::scan`; this layer reads the sources of an
//! index ([`sources`]), runs the batch filter over JSON Lines ([`batch`]), serves the HTTP sidecar
//! ([`serve`]) and keeps the continued-inspection sample log ([`sample_log`]).

pub mod batch;
pub mod sample_log;
pub mod serve;
pub mod sources;

use std::path::Path;

use anyhow::Context;
use vg_attacks::extraction::scan::{ScanIndex, Scanner};
use vg_corpora::pii::{default_key_path, PiiHasher};

/// Opens and verifies the index at `index` and builds the scanner; the PII key (`pii_key`, else
/// the default key file) is read only when the index holds keyed hashes of training PII.
pub fn open_scanner(index: &Path, pii_key: Option<&Path>, min_span: usize) -> anyhow::Result<Scanner> {
    let opened = ScanIndex::open(index).with_context(|| format!("opening the scan index {}", index.display()))?;
    let key = match opened.meta().pii_key_fingerprint {
        Some(_) => {
            let path = pii_key.map(Path::to_path_buf).or_else(default_key_path).context("no --pii-key and no user data directory for the default key")?;
            Some(PiiHasher::from_key_file(&path).with_context(|| format!("reading the PII key {}", path.display()))?)
        }
        None => None,
    };
    Ok(Scanner::new(opened, key, min_span)?)
}
