//! Report sections with plots: membership inference, exposure, memorization, training curves,
//! engine audit.

use std::fmt::Write as _;

use crate::gate::fmt_num;
use crate::html::escape;
use crate::page::{capitalised, common_note, opt, pct, plot_box, split_common, table, td, tdn};
use crate::render::{rate_with_ci, roc_plot};
use crate::{plots, ReportData, Summary};

/// Score histograms shown per model at most (the rest are in the table).
const MAX_HISTOGRAMS_PER_MODEL: usize = 6;

pub(crate) fn mia(summary: &Summary, data: &ReportData) -> String {
    let mut b = String::from("<h2 id=\"mia\">Membership inference</h2>\n");
    b.push_str(
        "<p>Each attack scores every record (higher = more likely a member). AUC near 0.5 and TPR near the FPR mean \
the attack cannot tell members from non-members. TPR at a low FPR is the figure that matters for privacy: it \
says how many members an attacker identifies confidently. \"n/a\" means too few non-members for that FPR. \
Per model, the strongest attack (best TPR at the lowest FPR the run resolves) is shown first; the others are folded.</p>\n",
    );
    if let Some(line) = summary.shadow_sentence() {
        let _ = writeln!(b, "<p>{}</p>", escape(&line));
    }
    let all: Vec<Vec<String>> = summary.models.iter().flat_map(|m| m.mia.values().map(|r| r.warnings.clone())).collect();
    if all.is_empty() {
        b.push_str("<p class=\"note\">No membership-inference results in this run.</p>\n");
    } else {
        let (common, _) = split_common(&all);
        b.push_str(&common_note(Some("mia-common-warnings"), "Holds for every attack on every model below:", &common));
        for m in summary.models.iter().filter(|m| !m.mia.is_empty()) {
            b.push_str(&mia_model(m, &common));
        }
    }
    let models = model_order(summary, data.roc.iter().map(|c| c.model.as_str()));
    if !models.is_empty() {
        b.push_str("<h3>ROC curves (log–log; the grey diagonal is chance)</h3>\n<div class=\"plots\">\n");
        for model in &models {
            let curves: Vec<(String, Vec<[f64; 2]>)> =
                data.roc.iter().filter(|c| &c.model == model).map(|c| (c.attack.clone(), c.points.clone())).collect();
            b.push_str(&roc_plot(&format!("ROC — {model}"), &curves));
        }
        b.push_str("</div>\n");
    }
    let models = model_order(summary, data.score_samples.iter().map(|s| s.model.as_str()));
    if !models.is_empty() {
        // the strongest attack's histogram per model in view, the others folded
        let strongest = |model: &str| {
            summary.models.iter().find(|m| m.name == model).and_then(crate::headline::strongest_attack).map(|a| a.attack)
        };
        let histogram = |s: &crate::ScoreSamples| {
            let series = [("members".to_string(), s.members.as_slice()), ("non-members".to_string(), s.non_members.as_slice())];
            plot_box(plots::histograms(&format!("{} — {}", s.model, s.attack), "membership score (higher = member)", &series, 40))
        };
        let mut shown = String::new();
        let mut folded = String::new();
        let mut folded_count = 0;
        for model in &models {
            let samples: Vec<&crate::ScoreSamples> = data.score_samples.iter().filter(|s| &s.model == model).take(MAX_HISTOGRAMS_PER_MODEL).collect();
            let lead = strongest(model).and_then(|a| samples.iter().position(|s| s.attack == a)).unwrap_or(0);
            for (i, s) in samples.iter().enumerate() {
                if i == lead {
                    shown.push_str(&histogram(s));
                } else {
                    folded.push_str(&histogram(s));
                    folded_count += 1;
                }
            }
        }
        b.push_str("<h3>Member vs non-member scores of the strongest attack</h3>\n<div class=\"plots\">\n");
        b.push_str(&shown);
        b.push_str("</div>\n");
        if folded_count > 0 {
            let _ = writeln!(b, "<details class=\"more\"><summary>Score histograms of the other attacks ({folded_count})</summary>\n<div class=\"plots\">");
            b.push_str(&folded);
            b.push_str("</div>\n</details>\n");
        }
    }
    b
}

/// One model's attacks: the strongest in a table of its own, the rest folded; warnings shared
/// by all its attacks (beyond `section_common`) stated once above.
fn mia_model(m: &crate::ModelSummary, section_common: &[String]) -> String {
    let strongest = crate::headline::strongest_attack(m).map(|a| a.attack);
    let lead = strongest.clone().or_else(|| {
        m.mia.iter().filter_map(|(k, r)| Some((k, r.auc?))).max_by(|a, b| a.1.total_cmp(&b.1)).map(|(k, _)| k.clone())
    });
    let rows: Vec<(&String, &crate::MiaResult)> = m.mia.iter().collect();
    let own: Vec<Vec<String>> =
        rows.iter().map(|(_, r)| r.warnings.iter().filter(|w| !section_common.contains(w)).cloned().collect()).collect();
    let (model_common, rest) = split_common(&own);
    let with_warnings = rest.iter().any(|w| !w.is_empty());
    let mut headers = vec!["attack", "AUC", "TPR at FPR 0.1 %", "TPR at FPR 1 %", "members", "non-members"];
    if with_warnings {
        headers.push("warnings (beyond those above)");
    }
    let row = |i: usize| {
        let (attack, r) = rows[i];
        let mut cells = vec![
            td(attack),
            tdn(&opt(r.auc)),
            tdn(&pct(r.tpr_at_fpr_1e_3)),
            tdn(&pct(r.tpr_at_fpr_1e_2)),
            tdn(&r.members.map(|v| v.to_string()).unwrap_or_default()),
            tdn(&r.non_members.map(|v| v.to_string()).unwrap_or_default()),
        ];
        if with_warnings {
            cells.push(td(&rest[i].join("; ")));
        }
        cells
    };
    let lead_index = lead.as_ref().and_then(|l| rows.iter().position(|(k, _)| *k == l)).unwrap_or(0);
    let mut b = format!("<div class=\"model-block\">\n<h3>{}</h3>\n", escape(&m.name));
    let why = if strongest.is_some() { "" } else { "; the attack with the highest AUC is shown first" };
    let _ = writeln!(b, "<p class=\"note\">{}{why}.</p>", escape(&capitalised(&crate::headline::resistance_words(m))));
    b.push_str(&common_note(None, &format!("Holds for every attack on {}:", m.name), &model_common));
    b.push_str(&table(&headers, &[row(lead_index)]));
    let others: Vec<Vec<String>> = (0..rows.len()).filter(|&i| i != lead_index).map(row).collect();
    if !others.is_empty() {
        let _ = writeln!(b, "<details class=\"more\"><summary>The other {} attacks on {}</summary>", others.len(), escape(&m.name));
        b.push_str(&table(&headers, &others));
        b.push_str("</details>\n");
    }
    b.push_str("</div>\n");
    b
}

pub(crate) fn exposure(summary: &Summary, data: &ReportData) -> String {
    let mut b = String::from("<h2 id=\"exposure\">Canary exposure</h2>\n");
    b.push_str(
        "<p>Exposure (Carlini et al. 2019) measures, in bits, how much more likely the model finds a planted canary's \
secret than random secrets of the same form. It is estimated from the canary's rank among reference canaries that \
were never inserted, and extrapolated beyond them with a skew-normal fit. Included canaries should look like \
not-included ones. Exposure is not an ε bound.</p>\n",
    );
    let mut rows = Vec::new();
    for m in &summary.models {
        if let Some(e) = &m.exposure {
            for (which, s) in [("included", &e.included), ("not included", &e.not_included)] {
                rows.push(vec![
                    td(&m.name),
                    td(which),
                    tdn(&s.count.to_string()),
                    tdn(&opt(s.mean)),
                    tdn(&opt(s.median)),
                    tdn(&opt(s.max)),
                    tdn(&e.reference_canaries.to_string()),
                    tdn(&opt(e.secret_space_bits)),
                    td(&e.method),
                ]);
            }
        }
    }
    if rows.is_empty() {
        b.push_str("<p class=\"note\">No canary exposure in this run.</p>\n");
    } else {
        // one method for every row is said once above the table
        let methods: Vec<Vec<String>> = summary.models.iter().filter_map(|m| m.exposure.as_ref()).map(|e| vec![e.method.clone()]).collect();
        let (common, _) = split_common(&methods);
        let mut headers = vec!["model", "canaries", "count", "mean (bits)", "median", "max", "references", "log₂|R|"];
        if common.is_empty() {
            headers.push("method");
        } else {
            b.push_str(&common_note(Some("exposure-common-method"), "Method for every row below:", &common));
            rows.iter_mut().for_each(|r| drop(r.pop()));
        }
        b.push_str(&table(&headers, &rows));
    }
    let models = model_order(summary, data.exposure.iter().map(|e| e.model.as_str()));
    if !models.is_empty() {
        b.push_str("<div class=\"plots\">\n");
        for model in &models {
            for e in data.exposure.iter().filter(|e| &e.model == model) {
                let series = [("included".to_string(), e.included.as_slice()), ("not included".to_string(), e.not_included.as_slice())];
                b.push_str(&plot_box(plots::histograms(&format!("Exposure — {}", e.model), "exposure (bits)", &series, 30)));
            }
        }
        b.push_str("</div>\n");
    }
    b
}

pub(crate) fn memorization(summary: &Summary) -> String {
    let mut b = String::from("<h2 id=\"memorization\">Memorization and extraction</h2>\n");
    b.push_str(
        "<p>Discoverable memorization (Carlini et al. 2022; the Gemma/VaultGemma protocol): prompt with the first P \
tokens of a training sequence, decode S tokens greedily, and compare with the true continuation (exact, and \
approximate = within 10 % token edit distance). Intervals are 95 % Clopper–Pearson. The same test on text never \
trained on gives the floor. Verbatim search looks for spans of sampled generations that occur in the training \
text; fragment search looks for canary secrets and kept PII in every output.</p>\n",
    );
    let mut discover = Vec::new();
    let mut search = Vec::new();
    let notes: Vec<Vec<String>> = summary.models.iter().filter_map(|m| m.memorization.as_ref().map(|x| x.notes.clone())).collect();
    let (common_notes, own_notes) = split_common(&notes);
    for (m, own) in summary.models.iter().filter(|m| m.memorization.is_some()).zip(&own_notes) {
        let Some(x) = &m.memorization else { continue };
        let by_type = x.fragment_hits_by_type.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ");
        let canaries = x
            .canary_recovery
            .as_ref()
            .map(|c| format!("{}/{} included vs {}/{} not included", c.included_recovered, c.included, c.not_included_recovered, c.not_included))
            .unwrap_or_else(|| "n/a".into());
        discover.push(vec![
            td(&m.name),
            tdn(&rate_with_ci(x.exact_rate, x.exact_rate_ci)),
            tdn(&rate_with_ci(x.approximate_rate, x.approximate_rate_ci)),
            tdn(&format!("{} / {}", pct(x.population_exact_rate), pct(x.population_approximate_rate))),
            tdn(&format!("{} (P = {}, S = {})", x.prompts.map(|v| v.to_string()).unwrap_or_else(|| "n/a".into()), x.prefix_tokens, x.suffix_tokens)),
            td(&canaries),
            td(&own.join("; ")),
        ]);
        if own_notes.iter().all(Vec::is_empty) {
            discover.last_mut().expect("pushed above").pop();
        }
        search.push(vec![
            td(&m.name),
            tdn(&format!(
                "{} of {}{}",
                x.verbatim_generations.map(|v| v.to_string()).unwrap_or_else(|| "n/a".into()),
                x.generations.map(|g| g.to_string()).unwrap_or_else(|| "n/a".into()),
                x.population_verbatim_generations.map(|p| format!(" (floor {p})")).unwrap_or_default()
            )),
            tdn(&x.verbatim_min_tokens.map(|l| l.to_string()).unwrap_or_else(|| "n/a".into())),
            tdn(&x.longest_verbatim_tokens.map(|v| v.to_string()).unwrap_or_else(|| "n/a".into())),
            tdn(&x.fragment_hits.map(|v| v.to_string()).unwrap_or_else(|| "n/a".into())),
            td(&by_type),
            tdn(&x.pii_not_in_training.map(|v| v.to_string()).unwrap_or_else(|| "n/a".into())),
        ]);
    }
    if discover.is_empty() {
        b.push_str("<p class=\"note\">No extraction results in this run.</p>\n");
    } else {
        b.push_str("<h3>Discoverable memorization</h3>\n");
        b.push_str(&common_note(Some("memorization-common-notes"), "Holds for every model below:", &common_notes));
        let mut headers = vec!["model", "exact rate [95 % CI]", "approximate rate [95 % CI]", "floor: exact / approx.", "prompts", "canary secrets recovered"];
        if own_notes.iter().any(|n| !n.is_empty()) {
            headers.push("notes (beyond those above)");
        }
        b.push_str(&table(&headers, &discover));
        b.push_str("<h3>Verbatim and fragment search in generations</h3>\n");
        b.push_str(&table(
            &["model", "generations with a verbatim span", "min span L", "longest span (tokens)", "fragment hits", "hits by type", "PII not in training"],
            &search,
        ));
    }
    b
}

pub(crate) fn training(summary: &Summary, data: &ReportData) -> String {
    let mut b = String::from("<h2 id=\"training\">Training curves</h2>\n");
    let models = model_order(summary, data.training_curves.iter().map(|c| c.model.as_str()));
    if models.is_empty() {
        b.push_str("<p class=\"note\">No training curves recorded.</p>\n");
        return b;
    }
    b.push_str("<div class=\"plots\">\n");
    for model in &models {
        let series: Vec<(String, Vec<[f64; 2]>)> = data
            .training_curves
            .iter()
            .filter(|c| &c.model == model)
            .map(|c| (c.metric.clone(), c.points.clone()))
            .collect();
        b.push_str(&plot_box(plots::lines(&format!("Training — {model}"), "step", "loss (nats/token)", &series)));
    }
    b.push_str("</div>\n");
    b
}

pub(crate) fn engine_audit(summary: &Summary) -> String {
    let mut b = String::from("<h2 id=\"engine-audit\">White-box audit of the DP-SGD engine</h2>\n");
    b.push_str(
        "<p><strong>What this is.</strong> A <em>white-box</em> audit tests the training engine, not the model. The \
auditor plants gradient canaries — synthetic per-example gradients, each with one non-zero coordinate in the token \
embedding — as extra rows of the engine's per-example norm table, so they pass the same total norm, clip factor, \
weighted sum and noise as real examples, at the DP model's clipping norm, noise multiplier and sampling rate. It \
then reads the noisy gradient sums the engine releases, something no real attacker sees. What it tests: the noise \
scale, the clipping and the per-example norm of the token embedding, and the noise on it; each of these broken \
(σ halved, clipping skipped, the norm under-estimated ×¼, the noise left out) gives a bound above the claim in this \
project's tests. The ideal bound is what the same procedure reaches on the exact Gaussian mechanism: a bound close \
to it means the engine behaves as the mathematics says.</p>\n<p><strong>What this is not.</strong> It does not \
test the norms of other tensors or the Poisson sampling, and it is not a measurement of what the trained model \
leaks about its training records: the canaries take part in every step, with all intermediate gradients visible. \
The model's own leakage is bounded by the theoretical ε above and measured by the black-box attacks.</p>\n",
    );
    let Some(a) = &summary.engine_audit else {
        b.push_str("<p class=\"note\">The engine audit was not run (it is off in --quick runs; enable [engine_audit]).</p>\n");
        return b;
    };
    let m = &a.mechanism;
    let _ = writeln!(
        b,
        "<p>Audited engine: preset {}, vocabulary {}, C = {}, σ = {}, q = {} (the DP model's); T = {} step(s), {} \
gradient canaries ({}). Theoretical ε = {} at δ = {}: the {} accountant's ε for a record present in every step \
(T-fold Gaussian, μ = √T/σ). With {} canaries no bound can exceed {}.</p>",
        escape(&m.preset),
        m.vocab_size,
        escape(&fmt_num(m.clip_norm)),
        escape(&fmt_num(m.noise_multiplier)),
        escape(&fmt_num(m.sampling_rate)),
        m.steps,
        m.canaries,
        escape(&m.canary_kind),
        escape(&fmt_num(a.theoretical_epsilon)),
        escape(&fmt_num(a.delta)),
        escape(&m.accountant.to_uppercase()),
        m.canaries,
        escape(&fmt_num(a.ceiling_epsilon))
    );
    let rows: Vec<Vec<String>> = a
        .lower_bounds
        .iter()
        .map(|(method, lb)| {
            let fidelity = if lb.ideal_epsilon > 0.0 { format!("{:.2}", lb.epsilon / lb.ideal_epsilon) } else { "n/a".into() };
            let value = if lb.epsilon > a.theoretical_epsilon {
                format!("<td class=\"num exceeds\">{} ⚠ exceeds ε</td>", escape(&fmt_num(lb.epsilon)))
            } else {
                tdn(&fmt_num(lb.epsilon))
            };
            vec![
                td(method),
                value,
                tdn(&fmt_num(lb.ideal_epsilon)),
                tdn(&fidelity),
                tdn(&format!("{:.0} %", lb.confidence * 100.0)),
                td(&lb.observation),
            ]
        })
        .collect();
    b.push_str(&table(&["method", "ε lower bound", "ideal bound", "bound / ideal", "confidence", "observation"], &rows));
    b
}

/// Model names in summary order first, then any others appearing in the data, without repeats.
pub(crate) fn model_order<'a>(summary: &'a Summary, present: impl Iterator<Item = &'a str>) -> Vec<String> {
    let present: Vec<&str> = present.collect();
    let mut out: Vec<String> = Vec::new();
    for name in summary.models.iter().map(|m| m.name.as_str()).chain(present.iter().copied()) {
        if present.contains(&name) && !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    out
}
