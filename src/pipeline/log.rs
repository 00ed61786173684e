//! `audit-log.jsonl`: the append-only record of finished steps, with the SHA-256 of each step's
//! inputs and outputs, so that `--resume` can prove a step finished before skipping it.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// One line of `audit-log.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LogEntry {
    /// Step name, e.g. `corpus`, `train:dp`.
    pub step: String,
    /// `started` or `done`.
    pub status: String,
    /// Hash of everything that determines the step's result (config slice, upstream outputs).
    pub inputs_sha256: String,
    /// Output files (relative to the run dir) and their SHA-256.
    pub outputs: BTreeMap<String, String>,
    /// Wall-clock time, RFC 3339.
    pub time: String,
    /// Seconds the step took (done entries).
    pub seconds: Option<f64>,
}

/// The log of one run directory.
pub struct AuditLog {
    path: PathBuf,
    entries: Vec<LogEntry>,
}

impl AuditLog {
    /// Opens (or starts) `<run>/audit-log.jsonl`; a torn last line from a crash is ignored.
    pub fn open(run_dir: &Path) -> anyhow::Result<Self> {
        let path = run_dir.join("audit-log.jsonl");
        let mut entries = Vec::new();
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                match serde_json::from_str::<LogEntry>(line) {
                    Ok(e) => entries.push(e),
                    // Only the last line may be torn (killed mid-write); anything else is corruption.
                    Err(_) if i + 1 == lines.len() => {}
                    Err(e) => anyhow::bail!("{}:{}: corrupt audit log entry: {e}", path.display(), i + 1),
                }
            }
        }
        Ok(AuditLog { path, entries })
    }

    /// The finished entry of `step` whose inputs hash matches and whose outputs are intact.
    pub fn finished(&self, run_dir: &Path, step: &str, inputs_sha256: &str) -> Option<&LogEntry> {
        let e = self.entries.iter().rev().find(|e| e.step == step)?;
        if e.status != "done" || e.inputs_sha256 != inputs_sha256 {
            return None;
        }
        let intact = e.outputs.iter().all(|(rel, sha)| {
            vg_corpora::fsutil::sha256_file(&run_dir.join(rel)).map(|h| &h == sha).unwrap_or(false)
        });
        intact.then_some(e)
    }

    /// Appends an entry (one line, flushed and synced).
    pub fn append(&mut self, entry: LogEntry) -> anyhow::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        let line = serde_json::to_string(&entry)?;
        writeln!(f, "{line}")?;
        f.sync_all()?;
        self.entries.push(entry);
        Ok(())
    }
}

/// Current time as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
