//! report.html, model-card.md and the comparison page: escaping of corpus/model strings,
//! banners, sections, well-formed inline SVG, atomic run-directory rendering.

use crate::common;

use vg_reports::{
    render_comparison, render_model_card, render_report, render_run_dir, save_report_data, save_summary, ExposureValues,
    ExtractionExample, ReportData, RocCurve, RunView, ScoreSamples, Summary, TrainingCurve,
};

const EVIL: &str = "<script>alert(\"x\")</script> & 'quoted' \"double\"";

fn fixture() -> Summary {
    Summary::from_json(include_str!("fixtures/summary.json")).unwrap()
}

/// Deterministic plot data for both models (a small LCG; no RNG dependency).
fn sample_data() -> ReportData {
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut unif = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut d = ReportData::default();
    for (model, shift) in [("dp", 0.05), ("non-dp", 1.0)] {
        let members: Vec<f64> = (0..400).map(|_| unif() + shift * unif()).collect();
        let non: Vec<f64> = (0..400).map(|_| unif()).collect();
        for attack in ["loss", "lira_online"] {
            let points: Vec<[f64; 2]> = (0..=200).map(|i| {
                let f = 10f64.powf(-4.0 + 4.0 * i as f64 / 200.0);
                [f, f.powf(1.0 / (1.0 + shift)).min(1.0)]
            }).collect();
            d.roc.push(RocCurve::thinned(model, attack, &points, 120));
            d.score_samples.push(ScoreSamples { model: model.into(), attack: attack.into(), members: members.clone(), non_members: non.clone() });
        }
        d.exposure.push(ExposureValues {
            model: model.into(),
            included: (0..200).map(|_| unif() * 4.0 + shift * 10.0 * unif()).collect(),
            not_included: (0..200).map(|_| unif() * 4.0).collect(),
        });
        d.training_curves.push(TrainingCurve { model: model.into(), metric: "train_loss".into(), points: (0..50).map(|s| [s as f64 * 10.0, 6.0 * (-(s as f64) / 20.0).exp() + 3.0]).collect() });
        d.training_curves.push(TrainingCurve { model: model.into(), metric: "eval_loss".into(), points: (0..10).map(|s| [s as f64 * 50.0, 6.2 * (-(s as f64) / 4.0).exp() + 3.1]).collect() });
    }
    d.examples.push(ExtractionExample {
        model: "non-dp".into(),
        kind: "memorization".into(),
        record_id: Some(42),
        prompt: format!("Customer wrote: {EVIL}"),
        generated: "my card is [CREDIT_CARD] & PIN 12**".into(),
        truth: Some("my card is [CREDIT_CARD] & PIN 12**".into()),
        matched_tokens: Some(50),
        in_training: None,
        found_in: None,
    });
    d.manifest = serde_json::json!({
        "records_in": 12000, "exact_duplicates": 310, "near_duplicates": 95,
        "pii": { "email": 41, "phone": 17, "note": EVIL },
        "sources": ["demo <builtin>"]
    });
    d
}

#[test]
fn corpus_and_model_strings_are_escaped_everywhere() {
    let mut s = fixture();
    s.models[1].name = EVIL.into();
    let loss = s.models[1].mia["loss"].clone();
    s.models[1].mia.insert(EVIL.into(), loss);
    let mut d = sample_data();
    for c in d.roc.iter_mut().filter(|c| c.model == "non-dp") {
        c.model = EVIL.into();
        c.attack = EVIL.into();
    }
    for x in &mut d.training_curves {
        if x.model == "non-dp" {
            x.model = EVIL.into();
        }
    }
    let html = render_report(&s, &d);
    assert!(!html.contains("<script"), "a raw <script> tag reached the report");
    assert!(!html.contains("alert(\"x\")"), "raw quotes reached the report");
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;"), "HTML text not escaped as expected");
    // SVG text (legends, titles) is escaped by the SVG backend
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &apos;quoted&apos;"), "SVG text not escaped");
    // no bare ampersand anywhere: every '&' starts an entity
    for (i, _) in html.match_indices('&') {
        // the next 8 characters (not bytes: an entity may be followed by "—")
        let tail: String = html[i..].chars().take(8).collect();
        assert!(tail.starts_with("&amp;") || tail.starts_with("&lt;") || tail.starts_with("&gt;") || tail.starts_with("&quot;") || tail.starts_with("&#39;") || tail.starts_with("&apos;"), "bare & at {i}: {tail}");
    }
    let card = render_model_card(&s, &d);
    assert!(!card.contains("<script"), "model card carries raw markup");
}

#[test]
fn report_has_every_section_and_well_formed_svg() {
    let html = render_report(&fixture(), &sample_data());
    for id in ["verdict", "bounds", "budget", "mia", "exposure", "memorization", "examples", "training", "engine-audit", "manifest", "reproducibility"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "section {id} missing");
    }
    assert!(!html.contains("<link") && !html.contains("src=\"http"), "report must not load external resources");
    // bounds (2 models), ROC (2), histograms (2 × 2), exposure (2), training (2)
    let svgs: Vec<&str> = html.split("<svg").skip(1).map(|rest| &rest[..rest.find("</svg>").unwrap() + 6]).collect();
    assert_eq!(svgs.len(), 12, "plots drawn");
    for svg in svgs {
        common::parse_xml(&format!("<svg{svg}")).unwrap_or_else(|e| panic!("SVG not well-formed: {e}"));
    }
    // numbers a reviewer looks for
    assert!(html.contains("ε = 2 at δ = 1e-5"));
    assert!(html.contains("No gate policy was applied"));
    assert!(!html.contains("id=\"banner-insecure-seed\"") && !html.contains("id=\"banner-quick\""));
    assert!(html.contains("4.30 % [3.12 %, 5.76 %]"), "memorization rate with its interval");
}

#[test]
fn banners_for_fixed_seed_quick_and_verbatim_extraction() {
    let mut s = fixture();
    s.run.insecure_seed = true;
    s.run.quick = true;
    s.run.show_extracted = true;
    let html = render_report(&s, &sample_data());
    assert!(html.contains("id=\"banner-insecure-seed\">NO DP GUARANTEE: fixed noise seed"));
    assert!(html.contains("id=\"banner-quick\">SMOKE RUN (--quick)"));
    assert!(html.contains("id=\"banner-show-extracted\""));
    let card = render_model_card(&s, &ReportData::default());
    assert!(card.contains("NO DP GUARANTEE: fixed noise seed"));
    assert!(card.contains("privacy_guarantee: \"none: fixed noise seed (--insecure-seed)\""));
    assert!(card.contains("smoke_run: true"));
}

#[test]
fn bound_above_its_guarantee_is_flagged_and_verdict_shown() {
    let mut s = fixture();
    s.models[0].epsilon_lower_bounds.get_mut("one_run").unwrap().epsilon = 2.5;
    let p = vg_reports::gate::Policy::from_toml("max_empirical_epsilon = 1.0").unwrap();
    let r = vg_reports::gate::evaluate(&s, &p);
    s.apply_verdict("release.toml", &r);
    let html = render_report(&s, &ReportData::default());
    assert!(html.contains("2.5 ⚠ exceeds"));
    assert!(html.contains("FAIL — 3 of 4 rule checks failed"), "{}", &html[html.find("id=\"verdict\"").unwrap()..][..600]);
    // without plot data the report still renders, with notes
    assert!(html.contains("No training curves recorded."));
}

#[test]
fn model_card_front_matter_and_sections() {
    let card = render_model_card(&fixture(), &sample_data());
    assert!(card.starts_with("---\nlibrary_name: vg-audit\n"));
    let front = &card[4..card[4..].find("\n---\n").unwrap() + 4];
    for line in ["- name: \"dp\"", "    epsilon: 2", "    delta: 0.00001", "    noise_multiplier: 1.12", "    sampling_rate: 0.01",
                 "    steps: 2000", "    accountant: \"pld\"", "      tpr_at_fpr_1e-3: 0.0011", "  dp: null", "    exact_rate: 0.043"] {
        assert!(front.lines().any(|l| l == line), "front matter lacks {line:?}:\n{front}");
    }
    for h in ["## Training data", "## Privacy guarantee", "## Privacy unit", "## Audit method", "## Audit results", "## Limitations"] {
        assert!(card.contains(h), "{h} missing");
    }
    assert!(card.contains("Per-record DP does not bound facts repeated across many records"));
    assert!(card.contains("- exact_duplicates: 310"));
}

#[test]
fn comparison_refuses_other_corpora_unless_forced() {
    let a = RunView { label: "runs/a".into(), summary: fixture(), data: sample_data() };
    let mut other = fixture();
    other.run.corpus_manifest_sha256 = "ff".repeat(32);
    other.models[0].dp.as_mut().unwrap().epsilon = 8.0;
    let b = RunView { label: "runs/<b>".into(), summary: other, data: sample_data() };
    let e = render_comparison(&a, &b, false).unwrap_err().to_string();
    assert!(e.contains("different corpora") && e.contains("--force"), "{e}");
    let html = render_comparison(&a, &b, true).unwrap();
    assert!(html.contains("id=\"banner-different-corpora\""));
    assert!(html.contains("runs/&lt;b&gt;"));
    assert!(html.contains("<td>theoretical ε</td><td class=\"num\">2</td><td class=\"num\">8</td><td class=\"num\">6</td>"), "side-by-side row with difference");
    assert_eq!(html.matches("<svg").count(), 4 + 2, "overlaid ROC per (model, attack) and training per model");
    let same = RunView { label: "runs/c".into(), summary: fixture(), data: ReportData::default() };
    let html = render_comparison(&a, &same, false).unwrap();
    assert!(!html.contains("banner-different-corpora"));
}

#[test]
fn run_directory_render_is_atomic_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    save_summary(dir.path(), &fixture()).unwrap();
    save_report_data(dir.path(), &sample_data()).unwrap();
    let out = render_run_dir(dir.path()).unwrap();
    assert!(out.had_report_data);
    let html = std::fs::read_to_string(&out.report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
    assert!(std::fs::read_to_string(&out.model_card).unwrap().starts_with("---\n"));
    let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "temp files left behind: {names:?}");
    assert_eq!(names.len(), 4);
    // a summary that does not match the schema is refused, naming the file
    std::fs::write(dir.path().join("summary.json"), include_str!("fixtures/summary.json").replace("\"quick\": false", "\"quick\": 0")).unwrap();
    let e = render_run_dir(dir.path()).unwrap_err().to_string();
    assert!(e.contains("summary.json"), "{e}");
}

#[test]
fn roc_thinning_keeps_ends_and_low_fpr_detail() {
    let pts: Vec<[f64; 2]> = (0..=100_000).map(|i| { let f = i as f64 / 100_000.0; [f, f.sqrt()] }).collect();
    let c = RocCurve::thinned("m", "a", &pts, 200);
    assert!(c.points.len() <= 200, "{}", c.points.len());
    assert_eq!(c.points.first(), Some(&[0.0, 0.0]));
    assert_eq!(c.points.last(), Some(&[1.0, 1.0]));
    assert!(c.points.iter().any(|p| p[0] > 0.0 && p[0] <= 2e-5), "lowest FPR decade kept");
    assert!(c.points.windows(2).all(|w| w[0][0] <= w[1][0]), "order kept");
}

/// A sample run directory (fixture summary, synthetic plot data, a failing gate) rendered from
/// disk: both files are written and carry the verdict, every plot and the escaped corpus text.
/// `VG_REPORT_SAMPLE_DIR=DIR` keeps the directory for looking at in a browser.
#[test]
fn run_dir_renders_from_disk_with_plots_and_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("VG_REPORT_SAMPLE_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = fixture();
    let p = vg_reports::gate::Policy::from_toml("models = [\"dp\"]\nmax_empirical_epsilon = 1.0\nmax_auc = 0.501\nrequire_secure_noise = true\n").unwrap();
    let r = vg_reports::gate::evaluate(&s, &p);
    assert!(r.iter().any(|x| !x.passed), "the fixture's attacks beat AUC 0.501, so this policy fails");
    s.apply_verdict("release-gate.toml", &r);
    save_summary(&dir, &s).unwrap();
    save_report_data(&dir, &sample_data()).unwrap();
    let files = render_run_dir(&dir).unwrap();
    assert!(files.had_report_data);
    let html = std::fs::read_to_string(&files.report).unwrap();
    let card = std::fs::read_to_string(&files.model_card).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.matches("<svg").count() >= 4, "ROC, histograms, exposure and training curves are drawn");
    assert!(html.contains("release-gate.toml") && card.contains("release-gate.toml"), "the gate verdict is shown");
    assert!(html.contains("Customer wrote: &lt;script&gt;") && !html.contains("<script>alert"), "corpus text is escaped");
}

#[test]
fn score_subsampling_is_even_and_bounded() {
    let members: Vec<f64> = (0..10_000).map(f64::from).collect();
    let s = ScoreSamples::subsampled("m", "loss", &members, &[1.0, 2.0], 100);
    assert_eq!(s.members.len(), 100);
    assert_eq!(s.members[0], 0.0);
    assert_eq!(s.members[99], 9900.0);
    assert_eq!(s.non_members, vec![1.0, 2.0]);
}

#[test]
fn fixed_seed_voids_the_theoretical_epsilon_in_the_bounds_table() {
    let mut s = fixture();
    assert!(!render_report(&s, &ReportData::default()).contains("void: fixed noise seed"));
    s.run.insecure_seed = true;
    assert!(render_report(&s, &ReportData::default()).contains("ε = 2 at δ = 1e-5 — void: fixed noise seed"));
}
