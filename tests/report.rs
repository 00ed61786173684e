//! End-to-end tests of `vg-audit report` and `vg-audit compare`, and the headless Chromium check
//! that report.html renders without console errors (skipped, visibly, when Chromium is absent).

use std::path::PathBuf;


use vg_reports::{ExtractionExample, ReportData, RocCurve, ScoreSamples, Summary, TrainingCurve};

use crate::common::{chromium, load_in_chromium, s, vg};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/reports/tests/fixtures/summary.json");
const EVIL: &str = "<script>alert('pwned')</script> \"quoted\" & more";



/// A run directory with the fixture summary and plot data carrying hostile corpus strings.
fn run_dir(manifest_sha: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut summary = Summary::from_json(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    if let Some(h) = manifest_sha {
        summary.run.corpus_manifest_sha256 = h.to_string();
    }
    vg_reports::save_summary(dir.path(), &summary).unwrap();
    let mut data = ReportData::default();
    for (model, power) in [("dp", 0.95), ("non-dp", 0.5)] {
        let points: Vec<[f64; 2]> = (0..=100).map(|i| {
            let f = 10f64.powf(-3.0 + 3.0 * i as f64 / 100.0);
            [f, f.powf(power)]
        }).collect();
        data.roc.push(RocCurve::thinned(model, "loss", &points, 64));
        data.score_samples.push(ScoreSamples {
            model: model.into(),
            attack: "loss".into(),
            members: (0..100).map(|i| i as f64 / 100.0 + (1.0 - power)).collect(),
            non_members: (0..100).map(|i| i as f64 / 100.0).collect(),
        });
        data.training_curves.push(TrainingCurve { model: model.into(), metric: "train_loss".into(), points: (0..20).map(|i| [i as f64, 5.0 - i as f64 * 0.1]).collect() });
    }
    data.examples.push(ExtractionExample {
        model: "non-dp".into(),
        kind: "verbatim".into(),
        record_id: Some(7),
        prompt: EVIL.into(),
        generated: format!("reply {EVIL}"),
        truth: None,
        matched_tokens: Some(61),
        in_training: None,
        found_in: None,
    });
    data.manifest = serde_json::json!({"records": 100, "source": EVIL});
    vg_reports::save_report_data(dir.path(), &data).unwrap();
    dir
}

#[test]
fn report_rerenders_from_the_run_directory_with_everything_escaped() {
    let dir = run_dir(None);
    let out = vg(&["report", s(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; &quot;quoted&quot; &amp; more"));
    assert!(!html.contains("<script"), "raw script tag in the report");
    assert_eq!(html.matches("<svg").count(), 2 + 2 + 2 + 2, "bounds, ROC, histograms, training curves");
    let card = std::fs::read_to_string(dir.path().join("model-card.md")).unwrap();
    assert!(card.starts_with("---\n") && card.contains("## Limitations"));
    // without plot data: still renders, warns
    std::fs::remove_file(dir.path().join("report-data.json")).unwrap();
    let out = vg(&["report", s(dir.path()), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["plots"], false);
    assert!(String::from_utf8_lossy(&out.stderr).contains("report-data.json"));
}

#[test]
fn report_of_a_missing_or_broken_run_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(vg(&["report", s(dir.path())]).status.code(), Some(2));
    std::fs::write(dir.path().join("summary.json"), std::fs::read_to_string(FIXTURE).unwrap().replace("\"private\": true", "\"private\": \"yes\"")).unwrap();
    let out = vg(&["report", s(dir.path())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("summary.json"));
}

#[test]
fn compare_refuses_different_corpora_unless_forced() {
    let a = run_dir(None);
    let b = run_dir(None);
    let c = run_dir(Some(&"cd".repeat(32)));
    let out_file: PathBuf = a.path().join("cmp.html");
    let out = vg(&["compare", s(a.path()), s(b.path()), "--out", s(&out_file)]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&out_file).unwrap();
    assert!(html.contains("Figures side by side") && html.contains("<svg"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("theoretical ε"));

    let refused = a.path().join("refused.html");
    let out = vg(&["compare", s(a.path()), s(c.path()), "--out", s(&refused)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("different corpora"));
    assert!(!refused.exists(), "nothing written when refused");

    let out = vg(&["compare", s(a.path()), s(c.path()), "--out", s(&refused), "--force", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["same_corpus"], false);
    assert!(std::fs::read_to_string(&refused).unwrap().contains("DIFFERENT CORPORA"));
}

#[test]
fn report_renders_in_headless_chromium_without_console_errors() {
    let Some(chrome) = chromium() else {
        eprintln!("SKIPPED: chromium not found (install it, e.g. `apt-get install -y chromium`, to run this check)");
        println!("SKIPPED: chromium not found");
        return;
    };
    let dir = run_dir(None);
    assert_eq!(vg(&["report", s(dir.path())]).status.code(), Some(0));
    let profile = tempfile::tempdir().unwrap();

    // the detector must see a console error when there is one
    let bad = dir.path().join("bad.html");
    std::fs::write(&bad, "<!DOCTYPE html><html><body><script>undefinedFunction()</script></body></html>").unwrap();
    let (_, console) = load_in_chromium(&chrome, &bad, profile.path());
    assert!(console.iter().any(|l| l.contains("Uncaught")), "console error not detected: {console:?}");

    let (dom, console) = load_in_chromium(&chrome, &dir.path().join("report.html"), profile.path());
    assert!(console.is_empty(), "console messages while loading the report: {console:#?}");
    for needle in ["id=\"verdict\"", "id=\"bounds\"", "id=\"budget\"", "id=\"mia\"", "id=\"engine-audit\"", "id=\"reproducibility\"", "<svg", "ROC — dp"] {
        assert!(dom.contains(needle), "rendered DOM lacks {needle}");
    }
    assert!(!dom.contains("<script"), "a script element exists in the rendered DOM");
    assert!(dom.contains("&lt;script&gt;alert('pwned')&lt;/script&gt;"), "escaped text rendered as text");
}
