//! Issue 16: `vg-audit synth` and `vg-audit distill` on a small run (tiny models, few steps):
//! the inherited guarantee, what keeps it and what voids it, and the refusals.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{s, vg};

/// One small run with secret randomness (so its DP model carries a guarantee), shared by the tests.
fn small_run() -> &'static PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let cfg = dir.join("audit.toml");
        std::fs::write(
            &cfg,
            "[corpus]\ndemo_records = 500\nvocab_size = 384\n[canaries]\ncount = 40\nreferences = 10\n\
             [models]\ncontext = 40\nsteps = 30\nbatch_size = 16\nshadows = 0\n\
             [extraction]\nenabled = false\n[engine_audit]\nenabled = false\n",
        )
        .unwrap();
        let run = dir.join("run");
        let out = vg(&["run", "--config", s(&cfg), "--out", s(&run)]);
        assert!(out.status.success(), "run failed: {}", String::from_utf8_lossy(&out.stderr));
        run
    })
}

fn synth(run: &Path, extra: &[&str], out: &Path) -> std::process::Output {
    let mut args = vec!["synth", "--run", s(run), "--out", s(out), "--max-tokens", "24", "--json"];
    args.extend_from_slice(extra);
    vg(&args)
}

fn json_out(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "failed ({:?}): {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn model_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).unwrap()).unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn synth_inherits_the_dp_models_guarantee() {
    let run = small_run();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("synthetic.jsonl");
    let j = json_out(&synth(run, &["--count", "40", "--unconditional", "--top-k", "50", "--drop-pii", "--dedup", "--min-chars", "3"], &out));
    assert_eq!(keys(&j), ["count", "guarantee", "tokens_per_second"]);
    assert_eq!(keys(&j["guarantee"]), ["delta", "epsilon", "model_sha256", "reason", "status", "unit"]);
    assert_eq!(j["count"], 40);
    assert!(j["tokens_per_second"].as_f64().unwrap() > 0.0);
    let g = &j["guarantee"];
    let dp = model_json(&run.join("models/dp"));
    assert_eq!(g["status"], "dp", "{g}");
    assert!(g["reason"].is_null());
    assert_eq!(g["epsilon"], dp["dp"]["epsilon"]);
    assert_eq!(g["delta"], dp["dp"]["delta"]);
    assert_eq!(g["model_sha256"].as_str().unwrap(), vg_corpora::fsutil::sha256_file(run.join("models/dp/model.safetensors")).unwrap());
    let recs = lines(&out);
    assert_eq!(recs.len(), 40);
    let texts: Vec<&str> = recs.iter().map(|r| r["text"].as_str().unwrap()).collect();
    assert_eq!(recs.iter().map(|r| r["id"].as_u64().unwrap()).collect::<Vec<_>>(), (0..40).collect::<Vec<_>>());
    // The filters that read no private data did their work: no repeats, no PII, nothing shorter than 3 characters.
    let unique: std::collections::HashSet<&&str> = texts.iter().collect();
    assert_eq!(unique.len(), texts.len());
    let det = vg_corpora::pii::PiiDetector::new();
    assert!(texts.iter().all(|t| det.find(t).is_empty() && t.chars().count() >= 3));
    // The sidecar carries the same guarantee and the records' hash.
    let side: Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("synthetic.guarantee.json")).unwrap()).unwrap();
    assert_eq!(side["guarantee"], *g);
    assert_eq!(side["data_sha256"].as_str().unwrap(), vg_corpora::fsutil::sha256_file(&out).unwrap());
    // Same seed, same records (sampling streams per record, not per thread or chunk).
    let again = tmp.path().join("again.jsonl");
    json_out(&synth(run, &["--count", "40", "--unconditional", "--top-k", "50", "--drop-pii", "--dedup", "--min-chars", "3"], &again));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn a_non_private_source_or_a_training_data_filter_is_outside_the_guarantee() {
    let run = small_run();
    let tmp = tempfile::tempdir().unwrap();
    let j = json_out(&synth(run, &["--model", "non-dp", "--count", "5", "--unconditional"], &tmp.path().join("a.jsonl")));
    assert_eq!(j["guarantee"]["status"], "outside-guarantee");
    assert!(j["guarantee"]["epsilon"].is_null());
    assert!(j["guarantee"]["reason"].as_str().unwrap().contains("without differential privacy"));
    let index = tmp.path().join("index");
    let built = vg(&["scan", "index", "--from", s(run), "--out", s(&index)]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let j = json_out(&synth(run, &["--count", "5", "--unconditional", "--filter-training", s(&index), "--min-span", "8"], &tmp.path().join("b.jsonl")));
    assert_eq!(j["guarantee"]["status"], "outside-guarantee");
    assert!(j["guarantee"]["reason"].as_str().unwrap().contains("filtered against the training data"), "{}", j["guarantee"]);
    // The DP model's own numbers are still stated, for what they would have been.
    assert!(j["guarantee"]["epsilon"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_language_filter_knows_its_codes_and_reads_no_private_data() {
    use vg_audit::pipeline::synth::{is_language, language_code};
    let eng = language_code("eng").unwrap();
    assert!(is_language("The patient was admitted to the hospital on Monday and was sent home two days later.", eng));
    assert!(!is_language("Der Patient wurde am Montag in das Krankenhaus eingeliefert und zwei Tage später entlassen.", eng));
    assert!(!is_language("12345 67890 !!! ###", eng), "no identification counts as another language");
    assert!(language_code("xx").unwrap_err().to_string().contains("--language xx"));
    // On the command line an unknown code is refused before any sampling (exit 2, nothing written).
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.jsonl");
    let bad = synth(small_run(), &["--count", "5", "--unconditional", "--language", "xx"], &out);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an ISO 639-3 code"));
    assert!(!out.exists());
}

#[test]
fn prompts_from_the_private_data_are_refused() {
    let run = small_run();
    let tmp = tempfile::tempdir().unwrap();
    for private in [run.join("input/demo.jsonl"), run.join("corpus/splits.jsonl")] {
        let out = synth(run, &["--count", "3", "--prompts", s(&private)], &tmp.path().join("x.jsonl"));
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("refused as a prompt file"), "{err}");
        assert!(!tmp.path().join("x.jsonl").exists());
    }
    // Templates are fine, and every record continues its prompt.
    let prompts = tmp.path().join("templates.jsonl");
    std::fs::write(&prompts, "{\"text\": \"Customer wrote:\"}\n{\"text\": \"Clinical note:\"}\n").unwrap();
    let out = tmp.path().join("p.jsonl");
    let j = json_out(&synth(run, &["--count", "6", "--prompts", s(&prompts)], &out));
    assert_eq!(j["guarantee"]["status"], "dp");
    let recs = lines(&out);
    for (i, r) in recs.iter().enumerate() {
        let start = if i % 2 == 0 { "Customer" } else { "Clinical" };
        assert!(r["text"].as_str().unwrap().starts_with(start), "{r}");
    }
}

#[test]
fn distilled_students_record_the_inherited_guarantee() {
    let run = small_run();
    let tmp = tempfile::tempdir().unwrap();
    let syn = tmp.path().join("syn.jsonl");
    json_out(&synth(run, &["--count", "48", "--unconditional"], &syn));
    let teacher_sha = vg_corpora::fsutil::sha256_file(run.join("models/dp/model.safetensors")).unwrap();
    let common = ["--steps", "6", "--batch-size", "8", "--json"];
    // Hard labels on synthetic records.
    let hard = tmp.path().join("hard");
    let mut args = vec!["distill", "--run", s(run), "--student", "tiny", "--synthetic", s(&syn), "--out", s(&hard)];
    args.extend_from_slice(&common);
    let j = json_out(&vg(&args));
    assert_eq!(j["guarantee"]["status"], "dp");
    let m = model_json(&hard);
    let d = &m["train_config"]["distill"];
    assert_eq!(d["labels"]["kind"], "hard");
    assert_eq!(d["teacher_sha256"], teacher_sha.as_str());
    assert_eq!(d["data_source"], "synthetic");
    assert_eq!(d["guarantee"]["model_sha256"], teacher_sha.as_str());
    assert!(m["dp"].is_null() && m["dp_guarantee"] == false, "the student is not trained with DP-SGD");
    assert!(m["metrics"]["eval_loss"].as_f64().unwrap().is_finite());
    // Soft labels over public text.
    let public = tmp.path().join("public.jsonl");
    let text: String = (0..20).map(|i| format!("{{\"text\": \"The weather report number {i} says rain, then sun over the hills.\"}}\n")).collect();
    std::fs::write(&public, text).unwrap();
    let soft = tmp.path().join("soft");
    let mut args = vec!["distill", "--run", s(run), "--student", "tiny", "--public", s(&public), "--temperature", "2", "--out", s(&soft)];
    args.extend_from_slice(&common);
    let j = json_out(&vg(&args));
    assert_eq!(j["guarantee"]["status"], "dp");
    assert_eq!(j["distill"]["labels"], serde_json::json!({"kind": "soft", "temperature": 2.0}));
    assert_eq!(j["distill"]["data_source"], "public");
    // The private training input as "public" text is refused; so is a synthetic file changed after synth.
    let no = tmp.path().join("no");
    let mut args = vec!["distill", "--run", s(run), "--student", "tiny", "--out", s(&no)];
    let input = run.join("input/demo.jsonl");
    args.extend_from_slice(&["--public", s(&input)]);
    let out = vg(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused as public text"));
    let mut edited = std::fs::read_to_string(&syn).unwrap();
    edited.push_str("{\"id\": 99, \"text\": \"added later\"}\n");
    std::fs::write(&syn, edited).unwrap();
    let out = vg(&["distill", "--run", s(run), "--student", "tiny", "--synthetic", s(&syn), "--out", s(&tmp.path().join("no2"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("changed after `synth`"));
}

#[test]
fn a_student_of_outside_guarantee_records_stays_outside() {
    let run = small_run();
    let tmp = tempfile::tempdir().unwrap();
    let syn = tmp.path().join("nondp.jsonl");
    let j = json_out(&synth(run, &["--model", "non-dp", "--count", "16", "--unconditional"], &syn));
    assert_eq!(j["guarantee"]["status"], "outside-guarantee");
    // Distilled "from dp" with records of another model: refused, the records are not the teacher's.
    let out = vg(&["distill", "--run", s(run), "--student", "tiny", "--synthetic", s(&syn), "--steps", "2", "--out", s(&tmp.path().join("x"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not from the teacher"));
    let student = tmp.path().join("s");
    let j = json_out(&vg(&["distill", "--run", s(run), "--teacher", "non-dp", "--student", "tiny", "--synthetic", s(&syn), "--steps", "2", "--batch-size", "4", "--out", s(&student), "--json"]));
    assert_eq!(j["guarantee"]["status"], "outside-guarantee");
}

#[test]
fn run_with_synthetic_data_and_a_student_audits_the_student() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("audit.toml");
    std::fs::write(
        &cfg,
        "[corpus]\ndemo_records = 500\nvocab_size = 384\n[canaries]\ncount = 40\nreferences = 10\n\
         [models]\ncontext = 40\nsteps = 30\nbatch_size = 16\nshadows = 0\n\
         [extraction]\nenabled = false\n[engine_audit]\nenabled = false\n\
         [synthetic]\nenabled = true\ncount = 64\nmax_tokens = 30\n[distill]\nstudent = \"tiny\"\nsteps = 10\n",
    )
    .unwrap();
    let run = dir.path().join("run");
    let out = vg(&["run", "--config", s(&cfg), "--out", s(&run)]);
    assert!(out.status.success(), "run failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines(&run.join("synthetic/synthetic.jsonl")).len(), 64);
    let sum: Value = serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/schema/summary.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    if let Err(errors) = vg_reports::schema::validate(&sum, &schema) {
        panic!("summary.json does not match the schema: {errors:?}");
    }
    let models = sum["models"].as_array().unwrap();
    let dp = models.iter().find(|m| m["name"] == "dp").unwrap();
    let student = models.iter().find(|m| m["name"] == "student").expect("the student is audited");
    assert_eq!(sum["synthetic"]["guarantee"]["status"], "dp");
    assert_eq!(sum["synthetic"]["count"], 64);
    let g = &student["inherited"];
    assert_eq!(g["status"], "dp");
    assert_eq!(g["epsilon"], dp["dp"]["epsilon"]);
    assert!(student["utility"]["eval_loss"].as_f64().unwrap().is_finite());
    assert!(student["mia"]["loss"]["auc"].as_f64().is_some(), "the student is attacked with the teacher's members");
    // Its bounds are compared with the guarantee it inherits, and stay under it.
    for (method, b) in student["epsilon_lower_bounds"].as_object().unwrap() {
        assert_eq!(b["compared_with"]["epsilon"], dp["dp"]["epsilon"], "{method}");
        assert!(b["epsilon"].as_f64().unwrap() <= dp["dp"]["epsilon"].as_f64().unwrap(), "{method}: {b}");
    }
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("Synthetic data and distillation"));
    assert!(html.contains("The synthetic set inherits the DP model&#39;s guarantee") || html.contains("The synthetic set inherits the DP model's guarantee"), "sentence missing");
    assert!(html.contains("The distilled model `student` inherits") && !html.contains("The student student"), "student sentence");
}
