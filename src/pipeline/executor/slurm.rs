//! The Slurm executor: one job-array task per model, each running `vg-audit task train` on the
//! shared run directory. `run` prepares the corpus and canaries, writes `slurm/models.txt` (array
//! index i trains the model on line i + 1) and `slurm/train.sbatch`, submits the pending models
//! with `sbatch --parsable --array=…`, polls `squeue` (progress: done / running / pending /
//! failed), resubmits failed tasks up to `retries` times, and returns when every model is
//! verified by the hashes its task wrote to `audit-log.jsonl`. Ctrl-C cancels the array (`scancel`).
//! Each submission is recorded in `slurm/submissions.jsonl` (job id, array, time), and each task's
//! log (`slurm/logs/<job>_<index>.out`) starts with the time the task started.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, Once};
use std::time::Duration;

use anyhow::{bail, Context};

use super::super::steps::TrainStep;
use super::super::{Pipeline, StepOutcome};
use super::Options;
use crate::config::SlurmSection;
use crate::device::DeviceChoice;
use crate::progress;

/// Job ids submitted and not yet finished, cancelled on Ctrl-C.
static ACTIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Trains the models of `models` not yet verified as a job array; `None` after a dry run.
pub fn train(p: &Pipeline, models: &[String], upstream: &str, opts: &Options) -> anyhow::Result<Option<Vec<StepOutcome>>> {
    let sl = &p.cfg.executor.slurm;
    let steps: Vec<TrainStep> = models.iter().map(|m| TrainStep::new(p, m, upstream)).collect();
    let mut pending = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        if p.verified(&s.step, &s.inputs_sha256)?.is_none() {
            pending.push(i);
        } else {
            p.say(&format!("✓ {:<22} already done (verified by audit-log.jsonl)", s.step));
        }
    }
    let dir = p.dir.canonicalize().with_context(|| format!("cannot resolve {}", p.dir.display()))?;
    let slurm_dir = dir.join("slurm");
    std::fs::create_dir_all(slurm_dir.join("logs")).with_context(|| format!("cannot create {}", slurm_dir.display()))?;
    let binary = match &sl.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe().context("cannot find this executable's path; set executor.slurm.binary")?,
    };
    let job_name = job_name(&dir);
    vg_corpora::fsutil::atomic_write(&slurm_dir.join("models.txt"), (models.join("\n") + "\n").as_bytes())?;
    let script_path = slurm_dir.join("train.sbatch");
    vg_corpora::fsutil::atomic_write(&script_path, script(sl, &dir, &binary, &job_name, DeviceChoice::selected()).as_bytes())?;
    let array = array_spec(&pending, sl.max_parallel);
    if opts.dry_run {
        p.say(&format!("  wrote {} and {} (dry run: nothing submitted)", script_path.display(), slurm_dir.join("models.txt").display()));
        if !pending.is_empty() {
            p.say(&format!(
                "  submit it with: sbatch --array={array} {}\n  then finish the run with: vg-audit run --resume --out {}",
                script_path.display(),
                p.dir.display()
            ));
        }
        return Ok(None);
    }
    if !pending.is_empty() {
        p.say(&format!("  Slurm: {} model(s) as job array {job_name} ({}); run directory {} must be visible from every node", pending.len(), array, dir.display()));
        wait_for(p, &steps, &pending, &script_path, &job_name, sl)?;
    }
    let mut out = Vec::with_capacity(steps.len());
    for (s, name) in steps.iter().zip(models) {
        let verified = p.verified(&s.step, &s.inputs_sha256)?;
        out.push(verified.with_context(|| {
            format!("model {name}: its task finished but {} does not verify against audit-log.jsonl", s.outputs.join(" and "))
        })?);
    }
    Ok(Some(out))
}

/// Submits the array, polls until every pending model is done, resubmits failures.
fn wait_for(p: &Pipeline, steps: &[TrainStep], pending: &[usize], script: &Path, job_name: &str, sl: &SlurmSection) -> anyhow::Result<()> {
    // Tasks of this run still queued (a submission after --dry-run, an earlier driver that was
    // killed) would train the same models into the same directories: wait for them instead.
    let queued: Vec<String> = squeue(job_name)?.keys().map(|(job, i)| format!("{job}_{i}")).collect();
    if !queued.is_empty() {
        bail!(
            "tasks of this run are still in the Slurm queue ({}); wait for them (then `run --resume`) or cancel them with scancel",
            queued.join(", ")
        );
    }
    cancel_on_interrupt();
    let mut attempts: BTreeMap<usize, u32> = pending.iter().map(|&i| (i, 1)).collect();
    // model index → the job id of its latest submission
    let mut active: BTreeMap<usize, String> = BTreeMap::new();
    let job = submit(script, pending, sl.max_parallel)?;
    active.extend(pending.iter().map(|&i| (i, job.clone())));
    let bar = progress::bar(pending.len() as u64, "slurm", "models");
    let mut done = 0u64;
    let mut queue_errors = 0;
    while !active.is_empty() {
        std::thread::sleep(Duration::from_secs_f64(sl.poll_seconds));
        // squeue first, then the log: a task writes its `done` line before it leaves the queue,
        // so a task absent from the queue and without that line has failed.
        let queue = match squeue(job_name) {
            Ok(q) => {
                queue_errors = 0;
                q
            }
            Err(e) if queue_errors < 5 => {
                queue_errors += 1;
                p.say(&format!("  squeue failed ({e:#}); retrying"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let (mut running, mut waiting, mut failed) = (0, 0, Vec::new());
        let reported = p.reported_done()?;
        for (&i, job) in active.clone().iter() {
            let s = &steps[i];
            if reported.get(&s.step) == Some(&s.inputs_sha256) {
                active.remove(&i);
                done += 1;
                continue;
            }
            match queue.get(&(job.clone(), i)).map(String::as_str) {
                Some("RUNNING" | "COMPLETING" | "CONFIGURING") => running += 1,
                Some(_) => waiting += 1,
                None => failed.push(i),
            }
        }
        let mut retry = Vec::new();
        for i in failed {
            let job = active.remove(&i).expect("active task");
            let state = sacct_state(&job, i).unwrap_or_else(|| "ended without a done entry".into());
            let log = p.dir.join(format!("slurm/logs/{job}_{i}.out"));
            let tries = attempts[&i];
            if tries > sl.retries {
                // The other tasks keep running: `run --resume` verifies and keeps what they train.
                ACTIVE.lock().expect("active jobs").clear();
                bail!(
                    "{} failed {tries} time(s) (last: job {job}_{i}, {state}); see {}. The other tasks keep running; \
                     `vg-audit run --resume --out {}` continues with what they train",
                    steps[i].step,
                    log.display(),
                    p.dir.display()
                );
            }
            p.say(&format!("  {} failed (job {job}_{i}, {state}; log {}); resubmitting ({tries}/{})", steps[i].step, log.display(), sl.retries));
            attempts.insert(i, tries + 1);
            retry.push(i);
        }
        if !retry.is_empty() {
            let job = submit(script, &retry, sl.max_parallel)?;
            active.extend(retry.iter().map(|&i| (i, job.clone())));
        }
        bar.set_position(done);
        bar.set_prefix(format!("{running} running · {waiting} pending · {} retried", attempts.values().map(|a| a - 1).sum::<u32>()));
    }
    bar.finish_and_clear();
    ACTIVE.lock().expect("active jobs").clear();
    p.say(&format!("  Slurm: {done} model(s) trained"));
    Ok(())
}

/// A job name unique to the run directory, so `squeue --name` finds exactly this run's tasks.
fn job_name(dir: &Path) -> String {
    let h = vg_corpora::fsutil::sha256_bytes(dir.as_os_str().as_encoded_bytes());
    format!("vg-audit-{}", &h[..10])
}

/// `0-3,5` style array indices (runs collapsed), with `%N` when the parallelism is limited.
pub fn array_spec(indices: &[usize], max_parallel: Option<usize>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        while i + 1 < indices.len() && indices[i + 1] == indices[i] + 1 {
            i += 1;
        }
        parts.push(if indices[i] == start { start.to_string() } else { format!("{start}-{}", indices[i]) });
        i += 1;
    }
    let spec = parts.join(",");
    match max_parallel {
        Some(n) => format!("{spec}%{n}"),
        None => spec,
    }
}

/// A string as one single-quoted shell word.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The sbatch script: `#SBATCH` lines from `[executor.slurm]`, then `vg-audit task train` for the
/// model named on line `SLURM_ARRAY_TASK_ID + 1` of `slurm/models.txt`, on `device` (a GPU is
/// named to every task as `--device cuda:N`; the CPU is the tasks' default and is not named).
pub fn script(sl: &SlurmSection, dir: &Path, binary: &Path, job_name: &str, device: DeviceChoice) -> String {
    let mut s = String::from("#!/bin/bash\n");
    s.push_str("# Written by `vg-audit run --executor slurm`: one array task trains one model of the run.\n");
    s.push_str(&format!("#SBATCH --job-name={job_name}\n"));
    s.push_str(&format!("#SBATCH --output={}\n", dir.join("slurm/logs/%A_%a.out").display()));
    s.push_str(&format!("#SBATCH --cpus-per-task={}\n", sl.cpus_per_task));
    s.push_str(&format!("#SBATCH --mem={}\n", sl.mem));
    s.push_str(&format!("#SBATCH --time={}\n", sl.time));
    if let Some(part) = &sl.partition {
        s.push_str(&format!("#SBATCH --partition={part}\n"));
    }
    for extra in &sl.extra {
        let extra = extra.trim();
        let extra = extra.strip_prefix("#SBATCH").map(str::trim).unwrap_or(extra);
        s.push_str(&format!("#SBATCH {extra}\n"));
    }
    s.push_str("set -euo pipefail\n");
    for line in &sl.setup {
        s.push_str(line);
        s.push('\n');
    }
    let models = sh_quote(&dir.join("slurm/models.txt").display().to_string());
    s.push_str(&format!("MODEL=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {models})\n"));
    // the task's start, next to the submission times in slurm/submissions.jsonl (queueing overhead)
    s.push_str("echo \"vg-audit task $MODEL: started $(date -u +%Y-%m-%dT%H:%M:%S.%NZ) on $(hostname)\"\n");
    s.push_str(&format!("export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-{}}}\"\n", sl.cpus_per_task));
    s.push_str(&format!(
        "exec {} task train --run {} --model \"$MODEL\"{}\n",
        sh_quote(&binary.display().to_string()),
        sh_quote(&dir.display().to_string()),
        match device {
            DeviceChoice::Cpu => String::new(),
            gpu => format!(" --device {gpu}"),
        }
    ));
    s
}

/// `sbatch --parsable --array=SPEC script`; the job id.
fn submit(script: &Path, indices: &[usize], max_parallel: Option<usize>) -> anyhow::Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(format!("--array={}", array_spec(indices, max_parallel)))
        .arg(script)
        .output()
        .context("cannot run sbatch: the Slurm executor runs where Slurm's commands are installed (or use --executor local)")?;
    if !out.status.success() {
        bail!("sbatch {} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    // `--parsable` prints `jobid` or `jobid;cluster`
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or_default().to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("sbatch printed no job id (got {:?})", text.trim());
    }
    ACTIVE.lock().expect("active jobs").push(id.clone());
    let record = serde_json::json!({
        "job": id,
        "array": array_spec(indices, max_parallel),
        "submitted_at": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
    });
    let log = script.with_file_name("submissions.jsonl");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&log).with_context(|| format!("cannot open {}", log.display()))?;
    std::io::Write::write_all(&mut f, format!("{record}\n").as_bytes())?;
    Ok(id)
}

/// This run's array tasks in the queue: (job id, index) → state (`PENDING`, `RUNNING`, …).
fn squeue(job_name: &str) -> anyhow::Result<BTreeMap<(String, usize), String>> {
    let out = Command::new("squeue")
        .args(["--noheader", "--array", "--name", job_name, "--format=%i %T"])
        .output()
        .context("cannot run squeue")?;
    if !out.status.success() {
        bail!("squeue: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(parse_squeue(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `squeue --array --format="%i %T"` lines: `123_4 RUNNING`, and the collapsed form of
/// pending tasks, `123_[0-3,5%2] PENDING`.
pub fn parse_squeue(text: &str) -> BTreeMap<(String, usize), String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(id), Some(state)) = (it.next(), it.next()) else { continue };
        let Some((job, idx)) = id.split_once('_') else { continue };
        let idx = idx.trim_start_matches('[').trim_end_matches(']');
        let idx = idx.split('%').next().unwrap_or_default();
        for part in idx.split(',') {
            let range = match part.split_once('-') {
                Some((a, b)) => a.parse::<usize>().ok().zip(b.parse::<usize>().ok()),
                None => part.parse::<usize>().ok().map(|a| (a, a)),
            };
            if let Some((a, b)) = range {
                for i in a..=b {
                    out.insert((job.to_string(), i), state.to_string());
                }
            }
        }
    }
    out
}

/// The final state of one array task from `sacct` (`FAILED 1:0`), where accounting is enabled.
fn sacct_state(job: &str, index: usize) -> Option<String> {
    let out = Command::new("sacct")
        .args(["--noheader", "--parsable2", "--allocations", "--format=State,ExitCode", "--jobs"])
        .arg(format!("{job}_{index}"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim();
    (out.status.success() && !line.is_empty()).then(|| line.replace('|', " exit "))
}

/// `scancel` of the given jobs (best effort).
fn cancel(jobs: &[String]) {
    if !jobs.is_empty() {
        let _ = Command::new("scancel").args(jobs).status();
    }
}

/// Ctrl-C (or SIGTERM) while jobs are active: cancel them, say so, exit 2.
fn cancel_on_interrupt() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM]);
        let Ok(mut signals) = signals else { return };
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                let jobs = ACTIVE.lock().map(|j| j.clone()).unwrap_or_default();
                if jobs.is_empty() {
                    eprintln!("vg-audit: interrupted");
                } else {
                    cancel(&jobs);
                    eprintln!("vg-audit: interrupted: cancelled Slurm job(s) {} (scancel)", jobs.join(", "));
                }
                std::process::exit(2);
            }
        });
    });
}
