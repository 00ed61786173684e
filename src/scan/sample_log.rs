//! Continued inspection after launch: every r-th verdict appended to a JSON Lines log (opened in
//! append mode, one `write` per line, never truncated or rewritten), which `vg-audit report`
//! renders. Entries carry the redacted text only.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::Serialize;
use vg_attacks::extraction::scan::Verdict;

/// One line of the sample log.
#[derive(Serialize)]
struct Entry<'a> {
    /// Seconds since the Unix epoch.
    t: f64,
    /// The same instant, RFC 3339.
    ts: String,
    #[serde(flatten)]
    verdict: &'a Verdict,
}

/// The append-only sample log.
pub struct SampleLog {
    path: PathBuf,
    every: u64,
    seen: AtomicU64,
    file: Mutex<File>,
}

impl SampleLog {
    /// Opens (creating if needed) `path` for appending; keeps every `every`-th verdict (≥ 1).
    pub fn open(path: &Path, every: u64) -> anyhow::Result<Self> {
        anyhow::ensure!(every >= 1, "--sample-rate must be at least 1 (keep every r-th verdict), got {every}");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening the sample log {}", path.display()))?;
        Ok(SampleLog { path: path.to_path_buf(), every, seen: AtomicU64::new(0), file: Mutex::new(file) })
    }

    /// Counts `verdict` and appends it when it is an r-th one.
    pub fn offer(&self, verdict: &Verdict) -> anyhow::Result<()> {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if n % self.every != 0 {
            return Ok(());
        }
        let now = SystemTime::now();
        let t = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        let entry = Entry { t, ts: humantime::format_rfc3339_millis(now).to_string(), verdict };
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line).with_context(|| format!("appending to {}", self.path.display()))
    }
}
