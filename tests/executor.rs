//! Executors (issue 17): concurrent local training equals sequential training, `task train`
//! trains one model of a prepared run with the driver's hashes, audit-log appends from
//! concurrent writers never interleave, and the Slurm driver (script, submission, polling,
//! retries, dry run, Ctrl-C → scancel) against stand-in `sbatch`/`squeue`/`scancel` commands.
//! The real Slurm test is tests/slurm/run-local-slurm.sh (daemons on localhost; .ci/run).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use vg_audit::config::{ExecutorSection, SlurmSection};
use vg_audit::device::DeviceChoice;
use vg_audit::pipeline::executor::local::Concurrency;
use vg_audit::pipeline::executor::slurm::{array_spec, parse_squeue, script};
use vg_audit::pipeline::log::{append_line, AuditLog, LogEntry};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vg-audit"));
    c.env("RAYON_NUM_THREADS", "1");
    c
}

/// Drops what legitimately differs between two runs of the same config in two directories: times,
/// durations, and the corpus manifest's hash (the manifest names the input files' paths).
pub fn comparable(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !(k.ends_with("_seconds") || k.ends_with("_at") || *k == "corpus_manifest_sha256"))
                .map(|(k, v)| (k.clone(), comparable(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(comparable).collect()),
        other => other.clone(),
    }
}

/// The first path at which two JSON values differ, for a readable failure.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.keys().chain(y.keys()).find_map(|k| first_difference(x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), &format!("{at}.{k}")))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}[{i}]")))
        }
        _ => (a != b).then(|| format!("{at}: {a} ≠ {b}")),
    }
}

/// Asserts that two runs' summaries agree on everything but times and paths.
fn assert_same_summary(a: &Path, b: &Path) {
    let (x, y) = (comparable(&summary(a)), comparable(&summary(b)));
    if let Some(d) = first_difference(&x, &y, "summary") {
        panic!("{} and {} differ at {d}", a.display(), b.display());
    }
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn log_entries(dir: &Path) -> Vec<LogEntry> {
    AuditLog::open(dir).unwrap().entries().to_vec()
}

/// The SHA-256 the audit log recorded for a model's weights.
fn weights_sha(dir: &Path, model: &str) -> String {
    let rel = format!("models/{model}/model.safetensors");
    let e = log_entries(dir).into_iter().rev().find(|e| e.step == format!("train:{model}") && e.status == "done").unwrap();
    assert_eq!(e.outputs[&rel], vg_corpora::fsutil::sha256_file(dir.join(&rel)).unwrap(), "{rel} does not match its log entry");
    e.outputs[&rel].clone()
}

const MODELS: [&str; 6] = ["dp", "non-dp", "shadow-0", "shadow-1", "shadow-dp-0", "shadow-dp-1"];

/// The quick run with two models training at once, next to tests/run.rs's sequential one.
fn quick_run_two_jobs() -> &'static PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep().join("run");
        let out = bin().args(["run", "--quick", "--insecure-seed", "11", "--jobs", "2", "--out"]).arg(&dir).output().unwrap();
        assert!(out.status.success(), "run --jobs 2 failed: {}", String::from_utf8_lossy(&out.stderr));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("6 models, 2 at a time"), "the models were not trained two at a time:\n{err}");
        dir
    })
}

#[test]
fn two_jobs_train_the_same_models_and_summary_as_one() {
    let seq = crate::run::quick_run();
    let par = quick_run_two_jobs();
    for m in MODELS {
        assert_eq!(weights_sha(seq, m), weights_sha(par, m), "model {m} differs between --jobs 1 and --jobs 2");
    }
    assert_same_summary(seq, par);
    // every model has one started and one done line, nothing torn
    let entries = log_entries(par);
    for m in MODELS {
        let n = |status: &str| entries.iter().filter(|e| e.step == format!("train:{m}") && e.status == status).count();
        assert_eq!((n("started"), n("done")), (1, 1), "log lines of train:{m}");
    }
    let cfg = std::fs::read_to_string(par.join("config.toml")).unwrap();
    assert!(cfg.contains("[executor]") && cfg.contains("jobs = 2"), "config.toml does not record the executor:\n{cfg}");
}

#[test]
fn task_train_retrains_one_model_with_the_drivers_hashes() {
    let full = crate::run::quick_run();
    let dir = full.parent().unwrap().join("task");
    crate::run::copy_dir(full, &dir);
    // forget shadow-1 as if its task never ran
    let kept: Vec<String> = std::fs::read_to_string(dir.join("audit-log.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.contains("\"train:shadow-1\""))
        .map(String::from)
        .collect();
    std::fs::write(dir.join("audit-log.jsonl"), kept.join("\n") + "\n").unwrap();
    std::fs::remove_dir_all(dir.join("models/shadow-1")).unwrap();

    let out = bin().args(["task", "train", "--json", "--model", "shadow-1", "--run"]).arg(&dir).output().unwrap();
    assert!(out.status.success(), "task train failed: {}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let original = log_entries(full).into_iter().find(|e| e.step == "train:shadow-1" && e.status == "done").unwrap();
    assert_eq!(json["inputs_sha256"], original.inputs_sha256, "the task computed another inputs hash than run");
    assert_eq!(weights_sha(&dir, "shadow-1"), weights_sha(full, "shadow-1"));

    // a second time: verified, not trained again
    let lines = log_entries(&dir).len();
    let out = bin().args(["task", "train", "--model", "shadow-1", "--run"]).arg(&dir).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already done"));
    assert_eq!(log_entries(&dir).len(), lines, "a verified model was trained again");

    let out = bin().args(["task", "train", "--model", "shadow-7", "--run"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("shadow-7") && err.contains("dp, non-dp, shadow-0, shadow-1, shadow-dp-0, shadow-dp-1"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let out = bin().args(["task", "train", "--model", "dp", "--run"]).arg(empty.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.toml"));
}

fn entry(step: String) -> LogEntry {
    LogEntry {
        step,
        status: "done".into(),
        inputs_sha256: "ab".repeat(32),
        outputs: [("models/x/model.safetensors".to_string(), "cd".repeat(32))].into(),
        time: "2026-12-05T00:00:00Z".into(),
        seconds: Some(1.5),
    }
}

#[test]
fn concurrent_appends_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit-log.jsonl");
    // 8 writers × 200 lines, each writer with its own open file (as separate processes have)
    std::thread::scope(|s| {
        for w in 0..8 {
            let path = &path;
            s.spawn(move || {
                for i in 0..200 {
                    append_line(path, &entry(format!("w{w}:{i}:{}", "x".repeat(3000)))).unwrap();
                }
            });
        }
    });
    let entries = AuditLog::open(dir.path()).unwrap().entries().to_vec();
    assert_eq!(entries.len(), 1600);
    for w in 0..8 {
        let seq: Vec<usize> = entries
            .iter()
            .filter_map(|e| e.step.strip_prefix(&format!("w{w}:"))?.split(':').next()?.parse().ok())
            .collect();
        assert_eq!(seq, (0..200).collect::<Vec<_>>(), "writer {w}'s lines are missing or out of order");
    }
}

#[test]
fn an_append_cuts_a_torn_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit-log.jsonl");
    append_line(&path, &entry("corpus".into())).unwrap();
    // a writer killed mid-line
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"step\":\"train:dp\",\"sta");
    std::fs::write(&path, &text).unwrap();
    assert_eq!(AuditLog::open(dir.path()).unwrap().entries().len(), 1, "a torn last line is ignored on open");
    append_line(&path, &entry("train:dp".into())).unwrap();
    let steps: Vec<String> = AuditLog::open(dir.path()).unwrap().entries().iter().map(|e| e.step.clone()).collect();
    assert_eq!(steps, ["corpus", "train:dp"]);
}

#[test]
fn local_plan_fills_in_jobs_and_threads_from_the_cores() {
    let x = |jobs, threads| ExecutorSection { jobs, threads_per_model: threads, ..ExecutorSection::default() };
    let plan = |x: ExecutorSection, models, cores| {
        let p = Concurrency::resolve(&x, models, cores);
        (p.jobs, p.threads)
    };
    assert_eq!(plan(x(None, None), 6, 2), (2, 1), "default run on 2 cores");
    assert_eq!(plan(x(None, None), 6, 16), (6, 2), "16 cores, 6 models: 2 threads each, all 6 at once");
    assert_eq!(plan(x(None, None), 6, 1), (1, 1));
    assert_eq!(plan(x(Some(2), None), 6, 1), (2, 1), "--jobs 2 on one core still runs two jobs");
    assert_eq!(plan(x(Some(3), None), 6, 12), (3, 4));
    assert_eq!(plan(x(None, Some(4)), 6, 8), (2, 4));
    assert_eq!(plan(x(Some(9), None), 2, 8), (2, 4), "never more jobs than models");
}

#[test]
fn slurm_array_specs_and_squeue_lines() {
    assert_eq!(array_spec(&[0, 1, 2, 3, 5], None), "0-3,5");
    assert_eq!(array_spec(&[1, 4, 5], Some(2)), "1,4-5%2");
    assert_eq!(array_spec(&[7], None), "7");
    let q = parse_squeue("101_[2-4,7%2] PENDING\n101_0 RUNNING\n102_1 COMPLETING\nnot a line\n");
    let get = |j: &str, i| q.get(&(j.to_string(), i)).map(String::as_str);
    assert_eq!(get("101", 0), Some("RUNNING"));
    assert_eq!(get("101", 3), Some("PENDING"));
    assert_eq!(get("101", 7), Some("PENDING"));
    assert_eq!(get("101", 5), None);
    assert_eq!(get("102", 1), Some("COMPLETING"));
    assert_eq!(q.len(), 6);
}

#[test]
fn the_sbatch_script_carries_the_config() {
    let sl = SlurmSection {
        partition: Some("gpu".into()),
        time: "01:30:00".into(),
        cpus_per_task: 8,
        mem: "16G".into(),
        extra: vec!["--account=privacy".into(), "#SBATCH --qos=high".into()],
        setup: vec!["module load rust".into()],
        ..SlurmSection::default()
    };
    let s = script(&sl, Path::new("/shared/runs/it's"), Path::new("/opt/vg-audit"), "vg-audit-abc", DeviceChoice::Cpu);
    for line in [
        "#SBATCH --job-name=vg-audit-abc",
        "#SBATCH --output=/shared/runs/it's/slurm/logs/%A_%a.out",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=16G",
        "#SBATCH --time=01:30:00",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=privacy",
        "#SBATCH --qos=high",
        "module load rust",
        "MODEL=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" '/shared/runs/it'\\''s/slurm/models.txt')",
        "exec '/opt/vg-audit' task train --run '/shared/runs/it'\\''s' --model \"$MODEL\"",
    ] {
        assert!(s.lines().any(|l| l == line), "missing line {line:?} in:\n{s}");
    }
    // every #SBATCH line comes before the first command, or sbatch ignores it
    let first_cmd = s.lines().position(|l| l.starts_with("set ")).unwrap();
    assert!(s.lines().skip(first_cmd).all(|l| !l.starts_with("#SBATCH")));
    // a GPU chosen with `run --device` is named to every task
    let gpu = script(&sl, Path::new("/runs/a"), Path::new("/opt/vg-audit"), "vg-audit-abc", DeviceChoice::Cuda(1));
    assert!(gpu.lines().any(|l| l == "exec '/opt/vg-audit' task train --run '/runs/a' --model \"$MODEL\" --device cuda:1"), "{gpu}");
}

/// A small audit (seconds per model) for the Slurm driver tests.
const SMALL: &str = "[corpus]\ndemo_records = 400\nvocab_size = 320\n\
[canaries]\ncount = 20\nreferences = 10\n\
[models]\ncontext = 32\nsteps = 4\nbatch_size = 8\nshadows = 2\n\
[attacks]\nrmia_population = 50\n\
[extraction]\nenabled = false\n[engine_audit]\nenabled = false\n\
[executor.slurm]\npoll_seconds = 0.2\nretries = 1\npartition = \"debug\"\n";

/// Stand-ins for Slurm's commands in `bin/`: `sbatch` runs every array task at once, in order (the
/// first attempt of index 1 fails when `fail-once` exists), `squeue` lists what `queue` holds,
/// `sacct` reports FAILED, `scancel` records its arguments in `cancelled`.
fn fake_slurm(root: &Path, run_tasks: bool) -> PathBuf {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let r = root.display();
    let run = if run_tasks {
        format!(
            r#"for i in $(seq "$a" "$b"); do
    out=$(sed -n 's/^#SBATCH --output=//p' "$script" | sed "s/%A/$id/; s/%a/$i/")
    if [ "$i" = 1 ] && [ -e {r}/fail-once ]; then rm {r}/fail-once; echo failed > "$out"; continue; fi
    SLURM_ARRAY_TASK_ID=$i SLURM_CPUS_PER_TASK=1 bash "$script" > "$out" 2>&1 || true
  done"#
        )
    } else {
        format!(r#"for i in $(seq "$a" "$b"); do echo "${{id}}_$i PENDING" >> {r}/queue; done"#)
    };
    let sbatch = format!(
        r#"#!/bin/bash
set -eu
spec=""; script=""
for arg in "$@"; do case "$arg" in --array=*) spec="${{arg#--array=}}";; --*) ;; *) script="$arg";; esac; done
echo "$spec" >> {r}/submitted
id=$((1000 + $(wc -l < {r}/submitted)))
spec="${{spec%%%*}}"
for part in ${{spec//,/ }}; do
  a="${{part%-*}}"; b="${{part#*-}}"
  {run}
done
echo "$id;cluster"
"#
    );
    for (name, body) in [
        ("sbatch", sbatch),
        ("squeue", format!("#!/bin/sh\ncat {r}/queue 2>/dev/null || true\n")),
        ("sacct", "#!/bin/sh\necho 'FAILED|1:0'\n".to_string()),
        ("scancel", format!("#!/bin/sh\necho \"$@\" >> {r}/cancelled\n")),
    ] {
        let p = bin.join(name);
        if std::fs::read_to_string(&p).is_ok_and(|old| old == body) {
            continue; // written by an earlier call (and perhaps still running: "text file busy")
        }
        std::fs::write(&p, body).unwrap();
        Command::new("chmod").arg("+x").arg(&p).status().unwrap();
    }
    bin
}

/// `run --executor slurm` of the small audit in `root`, with the stand-in Slurm commands first on PATH.
fn slurm_run(root: &Path, run_tasks: bool) -> Command {
    std::fs::write(root.join("audit.toml"), SMALL).unwrap();
    let fake = fake_slurm(root, run_tasks);
    let mut c = bin_cmd(root, "slurm");
    c.env("PATH", format!("{}:{}", fake.display(), std::env::var("PATH").unwrap()));
    c
}

#[test]
fn slurm_driver_submits_polls_retries_and_matches_local() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    std::fs::write(root.join("fail-once"), "").unwrap();
    let out = slurm_run(root, true).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run --executor slurm failed:\n{err}");
    assert!(err.contains("train:non-dp failed") && err.contains("FAILED exit 1:0") && err.contains("resubmitting (1/1)"), "{err}");
    let submitted = std::fs::read_to_string(root.join("submitted")).unwrap();
    assert_eq!(submitted.lines().collect::<Vec<_>>(), ["0-5", "1"], "first the array, then the failed index");
    let slurm = root.join("slurm-run");
    assert_eq!(std::fs::read_to_string(slurm.join("slurm/models.txt")).unwrap(), "dp\nnon-dp\nshadow-0\nshadow-1\nshadow-dp-0\nshadow-dp-1\n");
    assert!(std::fs::read_to_string(slurm.join("slurm/train.sbatch")).unwrap().contains("#SBATCH --partition=debug"));

    let out = bin_cmd(root, "local").output().unwrap();
    assert!(out.status.success(), "local run failed: {}", String::from_utf8_lossy(&out.stderr));
    let local = root.join("local-run");
    for m in MODELS {
        assert_eq!(weights_sha(&slurm, m), weights_sha(&local, m), "model {m}: Slurm and local differ");
    }
    assert_same_summary(&slurm, &local);
}

fn bin_cmd(root: &Path, kind: &str) -> Command {
    let mut c = bin();
    c.args(["run", "--insecure-seed", "5", "--executor", kind, "--config"])
        .arg(root.join("audit.toml"))
        .arg("--out")
        .arg(root.join(format!("{kind}-run")));
    c
}

#[test]
fn slurm_dry_run_writes_the_script_and_submits_nothing() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let out = slurm_run(root, true).arg("--dry-run").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("sbatch --array=0-5") && err.contains("--resume"), "{err}");
    assert!(!root.join("submitted").exists(), "a dry run submitted");
    let run = root.join("slurm-run");
    assert!(run.join("slurm/train.sbatch").is_file() && run.join("canaries.json").is_file());
    assert!(!run.join("models").exists());

    let out = bin().args(["run", "--dry-run", "--out"]).arg(root.join("x")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--executor slurm"));
}

#[test]
fn ctrl_c_cancels_the_job_array() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let child = slurm_run(root, false).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let t0 = std::time::Instant::now();
    while !root.join("submitted").exists() {
        assert!(t0.elapsed().as_secs() < 120, "nothing was submitted");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cancelled Slurm job(s) 1001"), "{err}");
    assert_eq!(std::fs::read_to_string(root.join("cancelled")).unwrap().trim(), "1001");

    // the stand-in scancel leaves the tasks queued: a resumed driver must not submit them twice
    let out = slurm_run(root, false).arg("--resume").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("still in the Slurm queue (1001_0, 1001_1, 1001_2, 1001_3, 1001_4, 1001_5)"), "{err}");
    assert_eq!(std::fs::read_to_string(root.join("submitted")).unwrap().lines().count(), 1, "submitted again");
}

#[test]
fn device_cuda_is_refused_before_any_work() {
    use vg_audit::device::DeviceChoice;
    assert_eq!("cpu".parse::<DeviceChoice>(), Ok(DeviceChoice::Cpu));
    assert_eq!("cuda".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(0)));
    assert_eq!("cuda:3".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(3)));
    assert!("gpu".parse::<DeviceChoice>().unwrap_err().contains("cpu, cuda or cuda:N"));
    assert!("cuda:x".parse::<DeviceChoice>().is_err());
    let dir = tempfile::tempdir().unwrap();
    let out = bin().args(["run", "--quick", "--device", "cuda:1", "--out"]).arg(dir.path().join("r")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cuda:1") && err.contains("--device cpu"), "{err}");
    assert!(!dir.path().join("r").exists(), "work started before the device was refused");
    let out = bin().args(["task", "train", "--device", "gpu", "--model", "dp", "--run"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn device_help_names_the_portable_path_and_a_cpu_build_refuses_cuda_everywhere() {
    let help = String::from_utf8_lossy(&bin().args(["train", "--help"]).output().unwrap().stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("portable path") && help.contains("--features cuda"), "{help}");
    if cfg!(feature = "cuda") {
        return;
    }
    // Refused with the reason before reading any input (the paths below do not exist).
    let commands: [&[&str]; 2] = [
        &["score", "--device", "cuda", "--model", "m", "--input", "x.jsonl", "--out", "o.csv"],
        &["generate", "--device", "cuda:2", "--model", "m", "--input", "p.jsonl", "--prompt-tokens", "2", "--max-new-tokens", "3", "--greedy", "--out", "o.jsonl"],
    ];
    for cmd in commands {
        let out = bin().args(cmd).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {err}");
        assert!(err.contains("built without CUDA support") && err.contains("--device cpu"), "{cmd:?}: {err}");
    }
    assert_eq!(vg_audit::device::DeviceChoice::Cpu.open().unwrap().location(), candle_core::DeviceLocation::Cpu);
}
