//! End to end: `vg-audit run --quick` on the demo corpus, its run directory, summary schema,
//! DP-vs-baseline leakage, soundness of the DP model's bounds, and resume equivalence.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vg-audit"));
    c.env("RAYON_NUM_THREADS", "1");
    c
}

/// One quick run shared by the tests of this file and tests/executor.rs (training is the expensive part).
pub(crate) fn quick_run() -> &'static PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep().join("run");
        let out = bin()
            .args(["run", "--quick", "--insecure-seed", "11", "--out"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "run --quick failed ({:?}):\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn model<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["models"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("no model {name}"))
}

#[test]
fn quick_run_writes_the_whole_run_directory() {
    let dir = quick_run();
    for f in [
        "config.toml",
        "corpus/manifest.json",
        "corpus/tokenizer.json",
        "corpus/splits.bin",
        "canaries.json",
        "models/dp/model.safetensors",
        "models/dp/model.json",
        "models/non-dp/model.safetensors",
        "models/non-dp/model.json",
        "scores.parquet",
        "summary.json",
        "report.html",
        "model-card.md",
        "audit-log.jsonl",
    ] {
        let p = dir.join(f);
        assert!(p.is_file() && std::fs::metadata(&p).unwrap().len() > 0, "missing or empty: {f}");
    }
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("smoke run") || html.contains("Smoke run"), "quick run not labelled in the report");
}

#[test]
fn summary_validates_against_the_schema() {
    let dir = quick_run();
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/schema/summary.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let s = summary(dir);
    if let Err(errors) = vg_reports::schema::validate(&s, &schema) {
        panic!("summary.json does not match the schema: {errors:?}");
    }
    assert_eq!(s["schema_version"], 1);
    assert_eq!(s["run"]["quick"], true);
    assert_eq!(s["run"]["insecure_seed"], true);
    assert!(model(&s, "dp")["private"].as_bool().unwrap());
    assert!(!model(&s, "non-dp")["private"].as_bool().unwrap());
    assert!(model(&s, "non-dp")["dp"].is_null());
}

#[test]
fn baseline_leaks_more_than_the_dp_model_and_dp_bounds_are_sound() {
    let s = summary(quick_run());
    let (dp, base) = (model(&s, "dp"), model(&s, "non-dp"));
    let theoretical = dp["dp"]["epsilon"].as_f64().unwrap();
    for (method, b) in dp["epsilon_lower_bounds"].as_object().unwrap() {
        let lb = b["epsilon"].as_f64().unwrap();
        assert!(lb <= theoretical, "DP model: {method} lower bound {lb} exceeds the theoretical ε {theoretical}");
    }
    let one_run = |m: &Value| m["epsilon_lower_bounds"]["one_run"]["epsilon"].as_f64().unwrap();
    assert!(
        one_run(base) > one_run(dp),
        "baseline one-run bound {} not above the DP model's {}",
        one_run(base),
        one_run(dp)
    );
    let exposure = |m: &Value| m["exposure"]["included"]["mean"].as_f64().unwrap();
    assert!(exposure(base) > exposure(dp), "baseline canary exposure {} not above DP {}", exposure(base), exposure(dp));
}

/// The steps after training, and their files, removed as if the run had been killed there.
fn cut_after_training(dir: &Path) {
    let log = std::fs::read_to_string(dir.join("audit-log.jsonl")).unwrap();
    let mut kept = Vec::new();
    for line in log.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let step = e["step"].as_str().unwrap();
        if step == "corpus" || step == "canaries" || step.starts_with("train:") {
            kept.push(line);
        }
    }
    std::fs::write(dir.join("audit-log.jsonl"), kept.join("\n") + "\n").unwrap();
    for f in ["scores.parquet", "summary.json", "report.html", "model-card.md", "report-data.json"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let _ = std::fs::remove_dir_all(dir.join("analysis"));
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Drops what legitimately differs between two runs: wall-clock times.
fn comparable(mut s: Value) -> Value {
    s["run"]["started_at"] = Value::Null;
    s["run"]["finished_at"] = Value::Null;
    s
}

#[test]
fn resume_after_training_gives_the_same_summary() {
    let full = quick_run();
    let cut = full.parent().unwrap().join("cut");
    copy_dir(full, &cut);
    cut_after_training(&cut);
    let out = bin().args(["run", "--quick", "--insecure-seed", "11", "--resume", "--out"]).arg(&cut).output().unwrap();
    assert!(out.status.success(), "resume failed: {}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("train:dp") && err.contains("already done"), "training was not skipped:\n{err}");
    assert_eq!(comparable(summary(&cut)), comparable(summary(full)));
}

#[test]
fn resume_of_a_finished_run_redoes_no_step() {
    let full = quick_run();
    let again = full.parent().unwrap().join("again");
    copy_dir(full, &again);
    let before = std::fs::read_to_string(again.join("audit-log.jsonl")).unwrap().lines().count();
    let out =
        bin().args(["run", "--quick", "--insecure-seed", "11", "--resume", "--out"]).arg(&again).output().unwrap();
    assert!(out.status.success(), "resume failed: {}", String::from_utf8_lossy(&out.stderr));
    let log = std::fs::read_to_string(again.join("audit-log.jsonl")).unwrap();
    let new_starts = log.lines().skip(before).filter(|l| l.contains("\"started\"")).count();
    assert_eq!(new_starts, 0, "a finished step was started again:\n{log}");
}

#[test]
fn a_non_empty_out_dir_is_refused_without_resume() {
    let full = quick_run();
    let out = bin().args(["run", "--quick", "--out"]).arg(full).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
}

#[test]
fn config_with_an_unknown_key_is_refused_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("audit.toml");
    std::fs::write(&cfg, "[models]\nepsilom = 2.0\n").unwrap();
    let out = bin().args(["run", "--config"]).arg(&cfg).arg("--out").arg(dir.path().join("r")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("epsilom") && err.contains("did you mean `epsilon`"), "{err}");
    assert!(!dir.path().join("r").exists(), "a refused config must not create the run directory");
}

#[test]
fn init_writes_a_config_that_run_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("audit.toml");
    let out = bin().arg("init").arg(&cfg).output().unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("[models]") && text.contains("epsilon"));
    let again = bin().arg("init").arg(&cfg).output().unwrap();
    assert_eq!(again.status.code(), Some(2), "init must not overwrite without --force");
}

#[test]
fn the_other_commands_work_on_a_real_run_directory() {
    let dir = quick_run();
    let work = tempfile::tempdir().unwrap();
    // Commands that write into a run directory work on a copy (other tests read the original).
    let copy = work.path().join("copy");
    copy_dir(dir, &copy);
    // attack --run: every target model, JSON with the issue's keys.
    let out = bin().args(["attack", "--json", "--run"]).arg(dir).output().unwrap();
    assert!(out.status.success(), "attack --run: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"epsilon_lower_bounds\"") && text.contains("tpr_at_fpr_1e-3"), "{text}");
    // extract --run on the DP model, JSON with the memorization object's keys.
    let out = bin().args(["extract", "--json", "--model", "dp", "-n", "20", "-G", "4", "--run"]).arg(&copy).output().unwrap();
    assert!(out.status.success(), "extract --run: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for key in ["exact_rate", "approximate_rate", "verbatim_generations", "longest_verbatim_tokens", "fragment_hits"] {
        assert!(text.contains(key), "extract --json lacks {key}");
    }
    // gate: a policy that must pass (exit 0) and one that must fail (exit 1), with JUnit XML.
    let pass = work.path().join("pass.toml");
    std::fs::write(&pass, "[[rule]]\nmetric = \"dp.epsilon\"\nmodel = \"dp\"\nmax = 8.5\n").unwrap();
    let fail = work.path().join("fail.toml");
    std::fs::write(&fail, "[[rule]]\nmetric = \"dp.epsilon\"\nmodel = \"non-dp\"\nmax = 8.5\n").unwrap();
    let junit = work.path().join("gate.xml");
    let out = bin().arg("gate").arg(dir).arg("--policy").arg(&pass).arg("--junit").arg(&junit).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(std::fs::read_to_string(&junit).unwrap().contains("<testcase"));
    // The non-private model has no dp.epsilon: a missing metric fails its rule.
    let out = bin().arg("gate").arg(dir).arg("--policy").arg(&fail).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    // report re-renders; compare of a run with its copy works.
    std::fs::remove_file(copy.join("report.html")).unwrap();
    let out = bin().arg("report").arg(&copy).output().unwrap();
    assert!(out.status.success() && copy.join("report.html").is_file(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = work.path().join("compare.html");
    let out = bin().arg("compare").arg(dir).arg(&copy).arg("--out").arg(&html).output().unwrap();
    assert!(out.status.success() && html.is_file(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `attacks-<model>.json` of the run.
fn attacks(dir: &Path, model: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(format!("analysis/attacks-{model}.json"))).unwrap()).unwrap()
}

#[test]
fn the_dp_model_is_attacked_with_dp_shadows_trained_like_it() {
    let dir = quick_run();
    let s = summary(dir);
    let sets = s["shadow_models"].as_array().unwrap();
    let set = |name: &str| sets.iter().find(|x| x["name"] == name).unwrap_or_else(|| panic!("no shadow set {name}: {sets:#?}"));
    let (np, dps) = (set("non-private"), set("dp"));
    assert_eq!(sets.len(), 2);
    assert_eq!(np["models"], serde_json::json!(["shadow-0", "shadow-1"]));
    assert_eq!(dps["models"], serde_json::json!(["shadow-dp-0", "shadow-dp-1"]));
    assert_eq!((np["private"].as_bool(), dps["private"].as_bool()), (Some(false), Some(true)));
    assert!(np["dp"].is_null());

    // Each DP shadow ran the DP model's mechanism: σ, C, learning rate and steps exactly, q to
    // within the rounding of its expected batch (½ / N), noise from its own derived seed.
    let target = vg_training::ModelJson::load(&dir.join("models/dp")).unwrap();
    let t = target.dp.as_ref().unwrap();
    let mut seeds = Vec::new();
    for (k, m) in ["shadow-dp-0", "shadow-dp-1"].iter().enumerate() {
        let info = vg_training::ModelJson::load(&dir.join("models").join(m)).unwrap();
        let d = info.dp.as_ref().unwrap_or_else(|| panic!("{m} trained without DP-SGD"));
        assert_eq!((d.noise_multiplier, d.clip_norm, d.steps), (t.noise_multiplier, t.clip_norm, t.steps), "{m}");
        assert_eq!(info.train_config.lr, target.train_config.lr, "{m}");
        assert_eq!(info.architecture.n_layer, target.architecture.n_layer, "{m}");
        let n = d.expected_batch_size / d.sampling_rate;
        assert!((d.sampling_rate - t.sampling_rate).abs() <= 0.5 / n + 1e-12, "{m}: q {} vs the DP model's {}", d.sampling_rate, t.sampling_rate);
        seeds.push(d.insecure_seed.unwrap());
        // same halves as the non-private shadow k: the scores' member column agrees row by row
        let members = |name: &str| -> Vec<Option<bool>> {
            let table = vg_attacks::score_table::ScoreTable::read_parquet(&dir.join("scores.parquet")).unwrap();
            (0..table.len()).filter(|&i| table.model[i] == name).map(|i| table.member[i]).collect()
        };
        let mine = members(m);
        assert!(mine.iter().any(|x| *x == Some(true)) && mine.iter().any(|x| *x == Some(false)));
        assert_eq!(mine, members(&format!("shadow-{k}")), "{m} trained on another half than shadow-{k}");
        let sd = &dps["dp"];
        assert_eq!(sd["noise_multiplier"].as_f64(), Some(t.noise_multiplier));
        assert_eq!(sd["steps"].as_u64(), Some(t.steps));
    }
    assert!(seeds[0] != seeds[1] && !seeds.contains(&t.insecure_seed.unwrap()), "DP shadows share noise: {seeds:?}");

    // LiRA and RMIA against the DP model used the DP set, against the baseline the non-private one
    assert_eq!(model(&s, "dp")["shadow_set"], "dp");
    assert_eq!(model(&s, "non-dp")["shadow_set"], "non-private");
    assert_eq!(attacks(dir, "dp")["membership"]["shadow_models"], serde_json::json!(["shadow-dp-0", "shadow-dp-1"]));
    assert_eq!(attacks(dir, "non-dp")["membership"]["shadow_models"], serde_json::json!(["shadow-0", "shadow-1"]));
    // (online LiRA needs IN and OUT shadows per subject: not with the quick run's two)
    for attack in ["lira_offline", "rmia"] {
        assert!(model(&s, "dp")["mia"][attack]["auc"].is_number(), "no {attack} on the DP model");
    }
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let line = html.lines().find(|l| l.contains("LiRA and RMIA used")).expect("report does not say which shadow set attacked which model");
    assert!(line.contains("the non-private shadow set (2 models, trained without DP) against non-dp;"), "{line}");
    assert!(line.contains(&format!("the dp shadow set (2 models, DP-SGD at σ = {:.3}, ", t.noise_multiplier)) && line.contains(" steps) against dp."), "{line}");

    // `attack --run` picks the same set by default, and the other on request
    let shadows_of = |set: &str| -> Value {
        let out = bin().args(["attack", "--json", "--target", "dp", "--shadow-set", set, "--run"]).arg(dir).output().unwrap();
        assert!(out.status.success(), "attack --shadow-set {set}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["shadow_models"].clone()
    };
    assert_eq!(shadows_of("matching"), serde_json::json!(["shadow-dp-0", "shadow-dp-1"]));
    assert_eq!(shadows_of("non-private"), serde_json::json!(["shadow-0", "shadow-1"]));
}

// The shadow sets' names and which set attacks which target (src/pipeline/shadows.rs).
mod shadow_sets {
    use vg_audit::pipeline::shadows::*;

    #[test]
    fn names_parse_into_their_set_and_index() {
        assert_eq!(parse(&shadow_name(3)), Some((NON_PRIVATE_SET, 3)));
        assert_eq!(parse(&dp_shadow_name(11)), Some((DP_SET, 11)));
        assert_eq!(parse("dp"), None);
        assert_eq!(parse("non-dp"), None);
        assert_eq!(parse("shadow-x"), None);
    }

    #[test]
    fn a_private_target_gets_the_dp_set_and_falls_back_without_one() {
        let models: Vec<String> = ["dp", "non-dp", "shadow-0", "shadow-1", "shadow-dp-0", "shadow-dp-1"].map(String::from).into();
        assert_eq!(set_for(true, &models), Some((DP_SET, vec!["shadow-dp-0".to_string(), "shadow-dp-1".to_string()])));
        assert_eq!(set_for(false, &models), Some((NON_PRIVATE_SET, vec!["shadow-0".to_string(), "shadow-1".to_string()])));
        let old = &models[..4];
        assert_eq!(set_for(true, old).map(|s| s.0), Some(NON_PRIVATE_SET));
        assert_eq!(set_for(false, &models[..2]), None);
    }
}
