//! End to end: `vg-audit score`, `generate` and `audit --model` on the tiny Hugging Face
//! checkpoints of shared/reference/hf and training/tests/fixtures/hf (issue 14).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference/hf");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/training/tests/fixtures/hf");

fn vg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vg-audit")).args(args).output().expect("vg-audit runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Members = the first 20 shared texts, non-members = the last 20.
fn split(dir: &Path) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(Path::new(HF).join("texts.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (m, n) = (dir.join("members.jsonl"), dir.join("non-members.jsonl"));
    std::fs::write(&m, lines[..20].join("\n")).unwrap();
    std::fs::write(&n, lines[20..].join("\n")).unwrap();
    (m, n)
}

#[test]
fn score_writes_the_transformers_losses_and_generate_writes_continuations() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("scores.csv");
    let texts = Path::new(HF).join("texts.jsonl");
    let r = vg(&["score", "--model", &format!("{HF}/llama"), "--input", s(&texts), "--max-tokens", "128", "--out", s(&out), "--json"]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let csv = std::fs::read_to_string(&out).unwrap();
    let expected = std::fs::read_to_string(Path::new(HF).join("expected.csv")).unwrap();
    let mut checked = 0;
    for line in csv.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let want = expected.lines().find(|l| l.starts_with(&format!("llama,{},", c[0]))).unwrap();
        let w: Vec<&str> = want.split(',').collect();
        assert_eq!(c[1], w[2], "predicted tokens of {}", c[0]);
        assert!((c[2].parse::<f64>().unwrap() - w[3].parse::<f64>().unwrap()).abs() < 1e-4);
        checked += 1;
    }
    assert_eq!(checked, 40);
    let json: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(json["records"], 40);

    let gen = tmp.path().join("gen.jsonl");
    let r = vg(&["generate", "--model", &format!("{FIXTURES}/gemma3"), "--input", s(&texts), "--prompt-tokens", "16", "--max-new-tokens", "16", "--greedy", "--out", s(&gen)]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let first: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&gen).unwrap().lines().next().unwrap()).unwrap();
    let greedy = std::fs::read_to_string(Path::new(FIXTURES).join("greedy.csv")).unwrap();
    let want: Vec<u64> = greedy.lines().find(|l| l.starts_with("gemma3,t0,")).unwrap().split(',').nth(3).unwrap().split(' ').map(|x| x.parse().unwrap()).collect();
    let got: Vec<u64> = first["continuation_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    // Generation stops at <eos>; the reference does not, so compare the common prefix.
    assert_eq!(got[..], want[..got.len()]);
    assert_eq!(first["prompt_ids"].as_array().unwrap().len(), 16);

    // Bad input: not a model directory, a missing field, a bad output name → exit 2, nothing written.
    let bad = tmp.path().join("bad.csv");
    assert_eq!(vg(&["score", "--model", s(tmp.path()), "--input", s(&texts), "--out", s(&bad)]).status.code(), Some(2));
    let r = vg(&["score", "--model", &format!("{HF}/gpt2"), "--input", s(&texts), "--field", "body", "--out", s(&bad)]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("line 1: missing field \"body\""));
    assert_eq!(vg(&["score", "--model", &format!("{HF}/gpt2"), "--input", s(&texts), "--out", s(&tmp.path().join("x.txt"))]).status.code(), Some(2));
    assert!(!bad.exists());
}

#[test]
fn audit_of_two_checkpoints_writes_a_run_that_gate_and_compare_read() {
    let tmp = tempfile::tempdir().unwrap();
    let (m, n) = split(tmp.path());
    let run = tmp.path().join("run");
    let r = vg(&[
        "audit", "--model", &format!("{HF}/gemma2"), "--model", &format!("{HF}/vaultgemma"),
        "--reference-model", &format!("{HF}/llama"), "--claimed-epsilon", "2", "--claimed-delta", "1.1e-10",
        "--members", s(&m), "--non-members", s(&n), "--out", s(&run), "--json",
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    for f in ["summary.json", "report.html", "model-card.md", "scores.parquet", "inputs/audit.json", "analysis/attacks-gemma2.json", "analysis/extraction-vaultgemma.json"] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let names: Vec<&str> = summary["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["gemma2", "vaultgemma"], "the reference model is not audited");
    vg_reports::schema::validate_summary(&summary).expect("summary.json follows the schema");
    let x = &summary["external_audit"];
    assert_eq!(x["members"], 20);
    assert_eq!(x["random_inclusion"], false);
    assert_eq!(x["models"][1]["claimed_epsilon"], 2.0);
    let mia = &summary["models"][0]["mia"];
    for attack in ["loss", "zlib", "min_k", "min_k_plus_plus", "reference_calibrated"] {
        let auc = mia[attack]["auc"].as_f64().unwrap_or_else(|| panic!("{attack} missing: {mia}"));
        assert!((0.0..=1.0).contains(&auc));
        assert_eq!(mia[attack]["members"], 20);
    }
    let bound = &summary["models"][0]["epsilon_lower_bounds"]["clopper_pearson"];
    assert_eq!(bound["compared_with"]["epsilon"], 2.0);
    assert!(bound["compared_with"]["guarantee"].as_str().unwrap().contains("not a DP audit"));
    assert_eq!(summary["models"][0]["memorization"]["prompts"], 20);
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(report.contains("banner-external") && report.contains("not a DP audit"));
    assert!(std::fs::read_to_string(run.join("model-card.md")).unwrap().contains("2 (1.1e-10) stated"));

    // gate and compare read it like any run.
    let policy = tmp.path().join("gate.toml");
    std::fs::write(&policy, "models = [\"gemma2\", \"vaultgemma\"]\nmax_auc = 0.99\n").unwrap();
    assert_eq!(vg(&["gate", s(&run), "--policy", s(&policy)]).status.code(), Some(0));
    std::fs::write(&policy, "models = [\"gemma2\"]\nmax_auc = 0.01\n").unwrap();
    assert_eq!(vg(&["gate", s(&run), "--policy", s(&policy)]).status.code(), Some(1));
    let other = tmp.path().join("run2");
    let r = vg(&["audit", "--model", &format!("{FIXTURES}/gemma"), "--members", s(&m), "--non-members", s(&n), "--out", s(&other)]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let r = vg(&["compare", s(&run), s(&other), "--out", s(&tmp.path().join("cmp.html")), "--json"]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&r.stdout).unwrap()["same_corpus"], true);

    // Headless Chromium renders the report without console messages.
    let Some(chrome) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.exists()) else {
        println!("SKIPPED: chromium not found");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chrome)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(format!("file://{}", run.join("report.html").display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let console: Vec<String> = String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught")).map(String::from).collect();
    assert!(console.is_empty(), "{console:#?}");
    assert!(dom.contains("id=\"banner-external\"") && dom.contains("<svg") && dom.contains("id=\"mia\""));
}
