//! report.html read from the top (issue 12, item 11): warnings said once per table, the manifest
//! as a paragraph and a PII chart, extraction examples labelled in words, the strongest attack
//! per model in view and the others folded, and a nav whose every link lands on the page.

use vg_reports::{ExtractionExample, ReportData, Summary, SyntheticSummary, TrainingPlan};

fn fixture() -> Summary {
    Summary::from_json(include_str!("fixtures/summary.json")).unwrap()
}

/// The part of the page from the `<h2 id="ID">` to the next `<h2`.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<h2 id=\"{id}\"")).unwrap_or_else(|| panic!("section {id} missing"));
    let rest = &html[start..];
    let end = rest[4..].find("<h2").map_or(rest.len(), |e| e + 4);
    &rest[..end]
}

/// vg-corpora's manifest layout, as the demo run writes it (values from a real quick run).
fn corpora_manifest() -> serde_json::Value {
    serde_json::json!({
        "format_version": 1,
        "tool": {"name": "vg-corpora", "version": "0.1.0"},
        "inputs": [{"path": "/data/<img src=x onerror=\"alert('x')\"> & co.jsonl", "format": "jsonl", "bytes": 752864, "sha256": "f8"}],
        "skipped_files": [],
        "options": {"records": "lines", "field": "text", "column": "text", "skip_bad": false, "min_chars": 20,
                    "max_chars": 20000, "dedup_span": 200, "population_fraction": 0.2, "context": 64,
                    "deidentify": true, "keep_pii": [], "vocab_size": 1024},
        "counts": {"read": 1200, "bad": 0, "bad_by_kind": {}, "too_short": 0, "too_long": 0, "exact_duplicates": 25,
                   "near_duplicates": 18, "kept": 1157, "pool": 936, "members": 467, "non_members": 469, "population": 221},
        "pii": {"deidentified": true, "replaced": {"CARD": 407, "EMAIL": 647, "IBAN": 397, "IP": 397, "PHONE": 830, "SSN": 150, "URL_CREDENTIALS": 26},
                "kept": {}, "kept_distinct": 0, "kept_hash_file": null, "key_fingerprint": null},
        "tokenizer": {"source": "trained", "trained_on": "byte-level BPE on the population split only", "training_records": 221,
                      "training_bytes": 120837, "vocab_size": 1024, "loaded_from": null, "loaded_sha256": null},
        "tokens": {"total": 229167, "pool": 186071, "members": 95302, "population": 43096, "max_per_record": 382,
                   "mean_per_record": 198.07, "context": 64, "records_truncated_at_context": 1157, "pool_records_truncated_at_context": 936},
        "seeds": {"split": 20260},
        "outputs": {}
    })
}

#[test]
fn warnings_shared_by_a_whole_table_are_stated_once_above_it() {
    let mut s = fixture();
    let shared = "TPR at FPR 0.1 % not reported: 469 non-members cannot resolve that rate (need ≥ 1000)";
    let only_dp = "RMIA: a = 0.3 tuned on reference model \"shadow-0\"";
    for m in &mut s.models {
        for r in m.mia.values_mut() {
            r.warnings = vec![shared.to_string()];
        }
    }
    s.models[0].mia.get_mut("rmia").unwrap().warnings.push(only_dp.into());
    let html = vg_reports::render_report(&s, &ReportData::default());
    let mia = section(&html, "mia");
    let escaped = vg_reports::html::escape(shared);
    assert_eq!(mia.matches(&escaped).count(), 1, "a warning on all 6 rows is said once");
    let common = &mia[mia.find("id=\"mia-common-warnings\"").expect("shared warnings block")..];
    assert!(common[..common.find("</div>").unwrap()].contains(&escaped), "said in the block above the tables");
    let own = vg_reports::html::escape(only_dp);
    assert_eq!(mia.matches(&own).count(), 1, "the warning of one row stays on that row");
    assert!(!common[..common.find("</div>").unwrap()].contains(&own));
    // one exposure method for every row: said once above the table, no column
    let exposure = section(&html, "exposure");
    let method = vg_reports::html::escape(&s.models[0].exposure.as_ref().unwrap().method);
    assert_eq!(exposure.matches(&method).count(), 1, "{exposure}");
    assert!(exposure.contains("id=\"exposure-common-method\"") && !exposure.contains("<th>method</th>"));
    // the bound notes: clauses every bound shares are said once too
    for m in &mut s.models {
        for (method, b) in m.epsilon_lower_bounds.iter_mut() {
            b.note = Some(format!("stated at δ = 1.000e-4; selection: {method}"));
        }
    }
    let html = vg_reports::render_report(&s, &ReportData::default());
    let bounds = section(&html, "bounds");
    assert_eq!(bounds.matches("stated at δ = 1.000e-4").count(), 1, "{bounds}");
    assert!(bounds.contains("id=\"bounds-common-notes\""));
    assert_eq!(bounds.matches("selection: one_run").count(), 2, "differing clauses stay per row, one per model");
    // a long clause on some rows of both models (not all) is numbered once and cited by number
    let heuristic = "records of one training run are not independent trials of the mechanism: a customary heuristic";
    for m in &mut s.models {
        let b = m.epsilon_lower_bounds.get_mut("clopper_pearson").unwrap();
        b.note = Some(format!("{}; {heuristic}", b.note.as_deref().unwrap()));
    }
    let html = vg_reports::render_report(&s, &ReportData::default());
    let bounds = section(&html, "bounds");
    assert_eq!(bounds.matches(heuristic).count(), 1, "{bounds}");
    let numbered = &bounds[bounds.find("id=\"bounds-numbered-notes\"").expect("numbered notes")..];
    assert!(numbered[..numbered.find("</div>").unwrap()].contains(heuristic));
    assert_eq!(bounds.matches("selection: clopper_pearson; note 1</td>").count(), 2, "each row cites it");
    // the guarantee every bound of a model is compared with is said once for that model
    let dp_block = &bounds[bounds.find("<h3>dp").unwrap()..bounds.find("<h3>non-dp").unwrap()];
    assert_eq!(dp_block.matches("per-record guarantee").count(), 1, "{dp_block}");
}

#[test]
fn manifest_is_a_paragraph_and_a_pii_chart_not_nested_tables() {
    let mut d = ReportData { manifest: corpora_manifest(), ..ReportData::default() };
    let html = vg_reports::render_report(&fixture(), &d);
    let m = section(&html, "manifest");
    assert!(!m.contains("<table"), "no JSON tables: {m}");
    let para = &m[m.find("id=\"manifest-summary\"").expect("paragraph")..];
    let para = &para[..para.find("</p>").unwrap()];
    for needle in [
        "1200 records in, 1157 kept.",
        "Removed: 25 exact duplicates, 18 near-duplicates.",
        "936 candidate records (467 members trained on, 469 non-members held out) and 221 population records never trained on.",
        "Tokenizer trained: byte-level BPE on the population split only, vocabulary 1024.",
        "De-identification replaced 2854 personal-data values by typed placeholders: 830 phone numbers, 647 e-mail addresses, 407 card numbers",
        "26 URLs with credentials.",
        "Read from <code>&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt; &amp; co.jsonl</code> (jsonl)",
    ] {
        assert!(para.contains(needle), "paragraph lacks {needle:?}:\n{para}");
    }
    assert!(!para.contains("<img"), "input names are escaped");
    let chart = &m[m.find("id=\"pii-chart\"").expect("PII chart")..];
    let svg = &chart[chart.find("<svg").expect("an inline SVG")..chart.find("</svg>").unwrap() + 6];
    crate::common::parse_xml(svg).unwrap_or_else(|e| panic!("SVG not well-formed: {e}"));
    for bar in ["phone numbers: 830", "card numbers: 407", "URLs with credentials: 26"] {
        assert!(svg.contains(bar), "chart lacks {bar}");
    }
    // not de-identified: said plainly, and no chart of replacements that did not happen
    d.manifest["options"]["deidentify"] = false.into();
    d.manifest["pii"]["deidentified"] = false.into();
    d.manifest["pii"]["replaced"] = serde_json::json!({});
    let html = vg_reports::render_report(&fixture(), &d);
    let m = section(&html, "manifest");
    assert!(m.contains("Records were NOT de-identified"), "{m}");
    assert!(!m.contains("id=\"pii-chart\""));
}

fn example(kind: &str, generated: &str, in_training: Option<bool>, found_in: Option<&str>) -> ExtractionExample {
    ExtractionExample {
        model: "dp".into(),
        kind: kind.into(),
        record_id: Some(3),
        prompt: String::new(),
        generated: generated.into(),
        truth: None,
        matched_tokens: Some(32),
        in_training,
        found_in: found_in.map(str::to_string),
    }
}

#[test]
fn every_extraction_example_says_in_words_what_it_shows() {
    let mut d = ReportData::default();
    d.examples = vec![
        example("fragment (CARD)", "my card <CARD> thanks", Some(false), Some("generation")),
        example("fragment (CANARY)", "the code is 48**", Some(true), Some("canary")),
        example("fragment (CANARY)", "the code is 91**", Some(false), Some("generation")),
        example("fragment (EMAIL)", "write to <EMAIL>", Some(true), Some("memorization")),
        example("fragment (IBAN)", "<IBAN>", None, None),
        example("memorization (exact)", "the rest of a record", None, Some("memorization")),
        example("memorization (approximate)", "most of a record", None, Some("memorization")),
        example("verbatim", "a long span", None, Some("generation")),
    ];
    let html = vg_reports::render_report(&fixture(), &d);
    let x = section(&html, "examples");
    let labels: Vec<&str> = x.split("<td class=\"label\">").skip(1).map(|c| &c[..c.find("</td>").unwrap()]).collect();
    assert_eq!(labels.len(), 8, "one label per example");
    let expected = [
        "a card number the model invented — not in the training data (found in a sampled generation)",
        "canary secret extracted: the secret of a canary inserted in training appeared in the continuation of a canary&#39;s prefix",
        "a canary secret that was never inserted in training, produced by chance in a sampled generation (the floor, not extraction)",
        "an e-mail address from the training data (kept in the training text), reproduced in the continuation of a training record&#39;s beginning",
        "an IBAN; whether it was in the training data could not be checked",
        "verbatim training text: prompted with a training record&#39;s beginning, the model reproduced its true continuation exactly (32 tokens)",
        "near-verbatim training text",
        "verbatim training text: a span of a sampled generation occurs word for word in the training data (32 tokens)",
    ];
    for (label, want) in labels.iter().zip(expected) {
        assert!(label.starts_with(want), "label {label:?} should start with {want:?}");
    }
    assert!(!x.contains("fragment ("), "the raw test names are not the labels");
    assert!(x.contains("my card &lt;CARD&gt; thanks"), "the output is still shown, escaped");
    assert!(!x.contains("<th>prompt</th>"), "a column no example fills is left out");
    // report data written before the run attributed hits: the manifest decides when
    // de-identification replaced every card number (none left in the training text)
    let mut d = ReportData { manifest: corpora_manifest(), ..ReportData::default() };
    d.examples = vec![example("fragment (CARD)", "<CARD>", None, None)];
    let html = vg_reports::render_report(&fixture(), &d);
    assert!(section(&html, "examples").contains("<td class=\"label\">a card number the model invented — not in the training data</td>"));
    // two hits in one output are one row with their count
    d.examples.push(example("fragment (CARD)", "<CARD>", None, None));
    let html = vg_reports::render_report(&fixture(), &d);
    let x = section(&html, "examples");
    assert_eq!(x.matches("<td class=\"label\">").count(), 1, "{x}");
    assert!(x.contains("not in the training data (2 hits in this output)</td>"));
    d.examples.pop();
    d.manifest["options"]["keep_pii"] = serde_json::json!(["CARD"]);
    d.manifest["pii"]["kept"] = serde_json::json!({"CARD": 12});
    let html = vg_reports::render_report(&fixture(), &d);
    assert!(section(&html, "examples").contains("<td class=\"label\">a card number; whether it was in the training data could not be checked</td>"));
}

#[test]
fn the_strongest_attack_per_model_is_in_view_and_the_others_are_folded() {
    let s = fixture();
    let html = vg_reports::render_report(&s, &ReportData::default());
    let mia = section(&html, "mia");
    for m in &s.models {
        let strongest = vg_reports::headline::strongest_attack(m).expect("the fixture resolves FPR 1 %").attack;
        let block = &mia[mia.find(&format!("<h3>{}</h3>", m.name)).unwrap()..];
        let block = &block[..block.find("</details>").expect("a fold per model")];
        let (shown, folded) = block.split_once("<details class=\"more\">").expect("the other attacks are folded");
        assert!(shown.contains(&format!("<td>{strongest}</td>")), "{strongest} in view for {}", m.name);
        assert!(!folded.contains(&format!("<td>{strongest}</td>")), "{strongest} not repeated in the fold");
        for other in m.mia.keys().filter(|k| **k != strongest) {
            assert!(folded.contains(&format!("<td>{other}</td>")), "{other} folded for {}", m.name);
            assert!(!shown.contains(&format!("<td>{other}</td>")), "{other} not in view for {}", m.name);
        }
    }
    // the per-model block right after the verdict names the strongest attack and lists the bounds
    let verdict_end = html.find("<h2 id=\"bounds\"").unwrap();
    assert!(html[..verdict_end].contains("id=\"five-line-summary\""), "the five-line summary comes first");
    let bounds = section(&html, "bounds");
    assert!(bounds.contains("<h3>dp — ε = 2 at δ = 1e-5</h3>"), "{bounds}");
    assert!(bounds.contains("Strongest attack"));
    assert!(html.find("id=\"bounds\"").unwrap() < html.find("id=\"mia\"").unwrap());
    assert!(html.find("id=\"mia\"").unwrap() < html.find("id=\"budget\"").unwrap(), "evidence after the per-model view");
}

fn nav_targets(html: &str) -> Vec<String> {
    let nav = &html[html.find("<nav>").unwrap()..html.find("</nav>").unwrap()];
    nav.split("href=\"#").skip(1).map(|r| r[..r.find('"').unwrap()].to_string()).collect()
}

#[test]
fn every_nav_link_lands_on_a_section_and_every_section_has_one() {
    let plan: TrainingPlan = serde_json::from_value(serde_json::json!({
        "law": "mckenna2025", "compute_flops": 2e12, "preset": "small", "params": 800000, "batch_size": 256, "steps": 150,
        "noise_multiplier": 0.57, "sigma_bar": 0.0022, "predicted_eval_loss": 5.9, "predicted_bits_per_byte": 2.1,
        "achieved_eval_loss": 5.98, "achieved_bits_per_byte": 2.2, "non_private_predicted_eval_loss": 1.5
    }))
    .unwrap();
    let synthetic: SyntheticSummary = serde_json::from_value(serde_json::json!({
        "count": 64, "drawn": 70, "tokens_per_second": 900.0,
        "guarantee": {"epsilon": 8.0, "delta": 1e-5, "unit": "record", "model_sha256": "ab", "status": "inherited",
                      "reason": null, "sentence": "The synthetic records inherit the DP model's guarantee.", "made_by": "vg-audit synth"}
    }))
    .unwrap();
    let bare = vg_reports::render_report(&fixture(), &ReportData::default());
    let mut s = fixture();
    s.plan = Some(plan);
    s.synthetic = Some(synthetic);
    let full = vg_reports::render_report(&s, &ReportData { manifest: corpora_manifest(), ..ReportData::default() });
    for html in [&bare, &full] {
        let targets = nav_targets(html);
        for t in &targets {
            assert_eq!(html.matches(&format!("id=\"{t}\"")).count(), 1, "nav link #{t} lands on exactly one element");
        }
        for h2 in html.split("<h2 id=\"").skip(1) {
            let id = &h2[..h2.find('"').unwrap()];
            assert!(targets.iter().any(|t| t == id), "section #{id} has no nav link");
        }
    }
    assert!(!nav_targets(&bare).iter().any(|t| t == "plan" || t == "post-processing"), "no link to a section not rendered");
    let full_targets = nav_targets(&full);
    assert!(full_targets.iter().any(|t| t == "plan") && full_targets.iter().any(|t| t == "post-processing"));
    assert!(!full.contains("<h2>"), "every section heading carries an id");
}

#[test]
fn a_distilled_student_shows_the_epsilon_it_inherits() {
    let mut s = fixture();
    s.plan = Some(
        serde_json::from_value(serde_json::json!({
            "law": "mckenna2025", "compute_flops": 2e12, "preset": "tiny", "params": 370432, "batch_size": 21, "steps": 313,
            "noise_multiplier": 0.55, "sigma_bar": 0.026, "predicted_eval_loss": 4.7, "predicted_bits_per_byte": 1.97
        }))
        .unwrap(),
    );
    let mut student = serde_json::to_value(s.models.iter().find(|m| m.dp.is_none()).unwrap()).unwrap();
    student["name"] = "student".into();
    student["inherited"] = serde_json::json!({"epsilon": 7.5, "delta": 1e-5, "unit": "record", "model_sha256": "ab", "status": "dp",
        "reason": null, "sentence": "The distilled model `student` inherits the DP model's guarantee.", "made_by": "distilled"});
    s.models.push(serde_json::from_value(student).unwrap());
    let html = vg_reports::render_report(&s, &ReportData::default());
    let table = &html[html.find("Privacy–utility across the run").unwrap()..];
    let row = &table[table.find("<td>student</td>").expect("the student's row")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("7.5 (inherited)"), "the student's ε is the teacher's, by post-processing: {row}");
}

#[test]
fn the_plan_section_says_which_tokens_its_budget_counts() {
    let mut s = fixture();
    let plan = |l: serde_json::Value| {
        serde_json::from_value(serde_json::json!({
            "law": "mckenna2025", "compute_flops": 1.37e12, "tokens_per_sequence": l, "preset": "tiny", "params": 370432,
            "batch_size": 21, "steps": 313, "noise_multiplier": 0.55, "sigma_bar": 0.026, "predicted_eval_loss": 4.7,
            "predicted_bits_per_byte": 1.97
        }))
        .unwrap()
    };
    s.plan = Some(plan(serde_json::json!(93.87)));
    let html = vg_reports::render_report(&s, &ReportData::default());
    let section = &html[html.find("id=\"plan\"").unwrap()..];
    assert!(section.contains("L = 93.9, the mean tokens per training sequence"), "{}", &section[..section.len().min(900)]);
    assert!(section.contains("padding included"));
    // A summary written before the field existed still renders, without the sentence.
    s.plan = Some(plan(serde_json::Value::Null));
    let html = vg_reports::render_report(&s, &ReportData::default());
    assert!(html.contains("id=\"plan\"") && !html.contains("mean tokens per training sequence"));
    vg_reports::schema::validate_summary(&serde_json::to_value(&s).unwrap()).expect("a plan with tokens_per_sequence = null validates");
    s.plan = Some(plan(serde_json::json!(93.87)));
    vg_reports::schema::validate_summary(&serde_json::to_value(&s).unwrap()).expect("and with a number");
}
