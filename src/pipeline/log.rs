//! `audit-log.jsonl`: the append-only record of finished steps, with the SHA-256 of each step's
//! inputs and outputs, so that `--resume` can prove a step finished before skipping it.
//!
//! Several writers may append at once: the jobs of the local executor (threads of one process)
//! and `vg-audit task train` processes on other nodes of a cluster. Every append takes an
//! exclusive `flock` on the file and writes its whole line with one `write_all`, so lines never
//! interleave; a writer killed mid-line leaves a torn tail that the next append cuts off.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
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
        let mut log = AuditLog { path: run_dir.join("audit-log.jsonl"), entries: Vec::new() };
        log.reload()?;
        Ok(log)
    }

    /// Reads the file again, picking up what other processes (cluster tasks) appended.
    pub fn reload(&mut self) -> anyhow::Result<()> {
        let path = &self.path;
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
        self.entries = entries;
        Ok(())
    }

    /// The latest entry of `step`, if any.
    pub fn last(&self, step: &str) -> Option<&LogEntry> {
        self.entries.iter().rev().find(|e| e.step == step)
    }

    /// The finished entry of `step` whose inputs hash matches and whose outputs are intact.
    pub fn finished(&self, run_dir: &Path, step: &str, inputs_sha256: &str) -> Option<&LogEntry> {
        let e = self.last(step).filter(|e| e.inputs_sha256 == inputs_sha256)?;
        (e.status == "done" && intact(run_dir, e)).then_some(e)
    }

    /// The latest entry of `step` when it is `done` and its outputs still have their hashes.
    pub fn last_intact(&self, run_dir: &Path, step: &str) -> Option<&LogEntry> {
        let e = self.last(step)?;
        (e.status == "done" && intact(run_dir, e)).then_some(e)
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }

    /// Appends an entry: one line, written under an exclusive lock, then synced.
    pub fn append(&mut self, entry: LogEntry) -> anyhow::Result<()> {
        append_line(&self.path, &entry)?;
        self.entries.push(entry);
        Ok(())
    }
}

/// Whether every output of `e` still has its recorded SHA-256.
fn intact(run_dir: &Path, e: &LogEntry) -> bool {
    e.outputs.iter().all(|(rel, sha)| vg_corpora::fsutil::sha256_file(&run_dir.join(rel)).map(|h| &h == sha).unwrap_or(false))
}

/// Appends `entry` to the log file at `path` under an exclusive advisory lock (`flock`, which
/// Linux also maps onto NFS locks), first cutting off a torn last line left by a killed writer.
pub fn append_line(path: &Path, entry: &LogEntry) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    fs4::FileExt::lock(&f).with_context(|| format!("cannot lock {}", path.display()))?;
    let len = f.metadata()?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        f.seek(SeekFrom::Start(len - 1))?;
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            // A torn line (its writer died mid-write): only a last line can be torn, cut it.
            let mut text = Vec::new();
            f.seek(SeekFrom::Start(0))?;
            f.read_to_end(&mut text)?;
            let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            f.set_len(keep as u64)?;
        }
    }
    let mut line = serde_json::to_string(entry)?;
    line.push('\n');
    // One write of the whole line (O_APPEND), inside the lock: lines never interleave.
    f.write_all(line.as_bytes()).with_context(|| format!("cannot append to {}", path.display()))?;
    f.sync_all()?;
    Ok(())
}

/// Current time as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
