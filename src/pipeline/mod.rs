//! The `vg-audit run` pipeline: design.md's data flow, one resumable step at a time.
//!
//! Each step declares what determines its result (an inputs hash built from the resolved config
//! and the hashes of the upstream outputs it reads) and the files it writes. A step is skipped
//! on `--resume` only when `audit-log.jsonl` holds a `done` entry with the same inputs hash and
//! every output file still has the recorded SHA-256.

pub mod analysis;
pub mod executor;
pub mod external;
pub mod log;
pub mod plan;
pub mod records;
pub mod scoring;
pub mod shadows;
pub mod steps;
pub mod sweep;
pub mod summary;
pub mod synth;
pub mod distill;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::config::AuditConfig;
use log::{AuditLog, LogEntry};

/// A run directory being filled by the pipeline.
pub struct Pipeline {
    /// The run directory.
    pub dir: PathBuf,
    /// The resolved configuration.
    pub cfg: AuditConfig,
    /// SHA-256 of the resolved config TOML.
    pub config_sha256: String,
    /// One lock for the jobs of this process; the file itself is `flock`ed for other processes.
    log: Mutex<AuditLog>,
    resume: bool,
    /// Human step lines go to stderr unless quiet.
    pub quiet: bool,
}

/// What a finished (or skipped) step left behind.
pub struct StepOutcome {
    /// Output files and hashes.
    pub outputs: BTreeMap<String, String>,
}

impl Pipeline {
    /// Opens `dir` for a run: refuses a non-empty directory unless resuming.
    pub fn open(dir: &Path, cfg: AuditConfig, resume: bool) -> anyhow::Result<Self> {
        if dir.exists() && !resume && std::fs::read_dir(dir)?.next().is_some() {
            anyhow::bail!(
                "{} already exists and is not empty: pass --resume to continue that run, or choose another --out",
                dir.display()
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let resolved = cfg.to_toml()?;
        let config_path = dir.join("config.toml");
        if resume && config_path.exists() {
            let old = std::fs::read_to_string(&config_path)?;
            let old = AuditConfig::parse(&old).with_context(|| format!("in {}", config_path.display()))?;
            if old.to_toml()? != resolved {
                anyhow::bail!(
                    "--resume: the configuration differs from the one {} was started with; \
                     resume with the same config (see its config.toml) or start a new run",
                    dir.display()
                );
            }
        }
        vg_corpora::fsutil::atomic_write(&config_path, cfg.to_recorded_toml()?.as_bytes())?;
        let config_sha256 = vg_corpora::fsutil::sha256_bytes(resolved.as_bytes());
        let log = Mutex::new(AuditLog::open(dir)?);
        Ok(Pipeline { dir: dir.to_path_buf(), cfg, config_sha256, log, resume, quiet: false })
    }

    /// Opens a prepared run directory as it is, for one task (`vg-audit task train`): reads its
    /// `config.toml` and writes nothing but the task's own outputs and log lines.
    pub fn attach(dir: &Path) -> anyhow::Result<Self> {
        let config_path = dir.join("config.toml");
        let resolved = std::fs::read_to_string(&config_path).with_context(|| {
            format!("cannot read {}: is {} a run directory prepared by `vg-audit run`?", config_path.display(), dir.display())
        })?;
        let cfg = AuditConfig::parse(&resolved).with_context(|| format!("in {}", config_path.display()))?;
        let config_sha256 = vg_corpora::fsutil::sha256_bytes(cfg.to_toml()?.as_bytes());
        let log = Mutex::new(AuditLog::open(dir)?);
        Ok(Pipeline { dir: dir.to_path_buf(), cfg, config_sha256, log, resume: true, quiet: false })
    }

    /// The verified finished entry of `name` (matching inputs hash, outputs intact), re-reading the
    /// log first so that entries appended by other processes count.
    pub fn verified(&self, name: &str, inputs_sha256: &str) -> anyhow::Result<Option<StepOutcome>> {
        let mut log = self.log.lock().expect("audit log lock");
        log.reload()?;
        Ok(log.finished(&self.dir, name, inputs_sha256).map(|e| StepOutcome { outputs: e.outputs.clone() }))
    }

    /// Hash of the config plus upstream output hashes: what a step's result depends on.
    pub fn inputs_hash(&self, parts: &[&str]) -> String {
        let mut h = Sha256::new();
        h.update(self.config_sha256.as_bytes());
        for p in parts {
            h.update(b"\0");
            h.update(p.as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// The outputs of the latest `done` entry of `step`, whatever its inputs hash, when they are
    /// intact (re-reading the log first).
    pub fn last_verified(&self, step: &str) -> anyhow::Result<Option<StepOutcome>> {
        let mut log = self.log.lock().expect("audit log lock");
        log.reload()?;
        Ok(log.last_intact(&self.dir, step).map(|e| StepOutcome { outputs: e.outputs.clone() }))
    }

    /// The steps whose latest entry in the log (re-read) is `done`, with that entry's inputs hash,
    /// without hashing outputs: the cheap check of a progress poll ([`Pipeline::verified`] is the proof).
    pub fn reported_done(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let mut log = self.log.lock().expect("audit log lock");
        log.reload()?;
        let mut latest = BTreeMap::new();
        for e in log.entries() {
            latest.insert(e.step.clone(), (e.status == "done").then(|| e.inputs_sha256.clone()));
        }
        Ok(latest.into_iter().filter_map(|(k, v)| Some((k, v?))).collect())
    }

    /// Runs `body` as step `name` unless a verified finished entry exists (on resume).
    /// `outputs` are paths relative to the run dir that the step must have written.
    pub fn step(
        &self,
        name: &str,
        inputs_sha256: &str,
        outputs: &[&str],
        body: impl FnOnce(&Pipeline) -> anyhow::Result<()>,
    ) -> anyhow::Result<StepOutcome> {
        if self.resume {
            let done = self.log.lock().expect("audit log lock").finished(&self.dir, name, inputs_sha256).map(|e| e.outputs.clone());
            if let Some(outputs) = done {
                self.say(&format!("✓ {name:<22} already done (verified by audit-log.jsonl)"));
                return Ok(StepOutcome { outputs });
            }
        }
        self.log.lock().expect("audit log lock").append(LogEntry {
            step: name.into(),
            status: "started".into(),
            inputs_sha256: inputs_sha256.into(),
            outputs: BTreeMap::new(),
            time: log::now_rfc3339(),
            seconds: None,
        })?;
        let t0 = Instant::now();
        body(self).with_context(|| format!("step {name} failed"))?;
        let mut hashes = BTreeMap::new();
        for rel in outputs {
            let p = self.dir.join(rel);
            let sha = vg_corpora::fsutil::sha256_file(&p)
                .with_context(|| format!("step {name} did not write {}", p.display()))?;
            hashes.insert((*rel).to_string(), sha);
        }
        let secs = t0.elapsed().as_secs_f64();
        self.log.lock().expect("audit log lock").append(LogEntry {
            step: name.into(),
            status: "done".into(),
            inputs_sha256: inputs_sha256.into(),
            outputs: hashes.clone(),
            time: log::now_rfc3339(),
            seconds: Some(secs),
        })?;
        self.say(&format!("✓ {name:<22} done in {secs:.1} s"));
        Ok(StepOutcome { outputs: hashes })
    }

    /// A line per finished step, on stderr.
    pub fn say(&self, line: &str) {
        if !self.quiet {
            crate::progress::println(line);
        }
    }
}

/// Joins the hashes of a step's outputs into one string for downstream inputs hashes.
pub fn outputs_digest(o: &StepOutcome) -> String {
    o.outputs.iter().map(|(k, v)| format!("{k}={v};")).collect()
}
