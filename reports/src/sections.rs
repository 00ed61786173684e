//! Report sections with plots: membership inference, exposure, memorization, extraction
//! examples, training curves, engine audit, data manifest.

use std::fmt::Write as _;

use serde_json::Value;

use crate::gate::fmt_num;
use crate::html::escape;
use crate::page::{opt, pct, plot_box, table, td, tdn};
use crate::render::{rate_with_ci, roc_plot};
use crate::{plots, ReportData, Summary};

/// Score histograms shown per model at most (the rest are in the table).
const MAX_HISTOGRAMS_PER_MODEL: usize = 6;

pub(crate) fn mia(summary: &Summary, data: &ReportData) -> String {
    let mut b = String::from("<h2 id=\"mia\">Membership inference</h2>\n");
    b.push_str(
        "<p>Each attack scores every record (higher = more likely a member). AUC near 0.5 and TPR near the FPR mean \
the attack cannot tell members from non-members. TPR at a low FPR is the figure that matters for privacy: it \
says how many members an attacker identifies confidently. \"n/a\" means too few non-members for that FPR.</p>\n",
    );
    if let Some(line) = summary.shadow_sentence() { let _ = writeln!(b, "<p>{}</p>", escape(&line)); }
    let mut rows = Vec::new();
    for m in &summary.models {
        for (attack, r) in &m.mia {
            rows.push(vec![
                td(&m.name),
                td(attack),
                tdn(&opt(r.auc)),
                tdn(&pct(r.tpr_at_fpr_1e_3)),
                tdn(&pct(r.tpr_at_fpr_1e_2)),
                tdn(&r.members.map(|v| v.to_string()).unwrap_or_default()),
                tdn(&r.non_members.map(|v| v.to_string()).unwrap_or_default()),
                td(&r.warnings.join("; ")),
            ]);
        }
    }
    if rows.is_empty() {
        b.push_str("<p class=\"note\">No membership-inference results in this run.</p>\n");
    } else {
        b.push_str(&table(
            &["model", "attack", "AUC", "TPR at FPR 0.1 %", "TPR at FPR 1 %", "members", "non-members", "warnings"],
            &rows,
        ));
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
        b.push_str("<h3>Member vs non-member scores</h3>\n<div class=\"plots\">\n");
        for model in &models {
            for s in data.score_samples.iter().filter(|s| &s.model == model).take(MAX_HISTOGRAMS_PER_MODEL) {
                let series = [("members".to_string(), s.members.as_slice()), ("non-members".to_string(), s.non_members.as_slice())];
                b.push_str(&plot_box(plots::histograms(
                    &format!("{} — {}", s.model, s.attack),
                    "membership score (higher = member)",
                    &series,
                    40,
                )));
            }
        }
        b.push_str("</div>\n");
    }
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
        b.push_str(&table(
            &["model", "canaries", "count", "mean (bits)", "median", "max", "references", "log₂|R|", "method"],
            &rows,
        ));
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
    for m in &summary.models {
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
            td(&x.notes.join("; ")),
        ]);
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
        b.push_str(&table(
            &["model", "exact rate [95 % CI]", "approximate rate [95 % CI]", "floor: exact / approx.", "prompts", "canary secrets recovered", "notes"],
            &discover,
        ));
        b.push_str("<h3>Verbatim and fragment search in generations</h3>\n");
        b.push_str(&table(
            &["model", "generations with a verbatim span", "min span L", "longest span (tokens)", "fragment hits", "hits by type", "PII not in training"],
            &search,
        ));
    }
    b
}

pub(crate) fn examples(summary: &Summary, data: &ReportData) -> String {
    let mut b = String::from("<h2 id=\"examples\">Extraction examples</h2>\n");
    if summary.run.show_extracted {
        b.push_str("<div class=\"banner warn\">Shown verbatim (--show-extracted): this section may contain personal data and canary secrets.</div>\n");
    } else {
        b.push_str("<p class=\"note\">Redacted: PII replaced by typed placeholders, canary secrets masked except their first characters.</p>\n");
    }
    if data.examples.is_empty() {
        b.push_str("<p class=\"note\">No extraction examples.</p>\n");
        return b;
    }
    let rows: Vec<Vec<String>> = data
        .examples
        .iter()
        .map(|x| {
            vec![
                td(&x.model),
                td(&x.kind),
                tdn(&x.record_id.map(|v| v.to_string()).unwrap_or_default()),
                format!("<td class=\"text\">{}</td>", escape(&x.prompt)),
                format!("<td class=\"text\">{}</td>", escape(&x.generated)),
                format!("<td class=\"text\">{}</td>", escape(x.truth.as_deref().unwrap_or(""))),
                tdn(&x.matched_tokens.map(|v| v.to_string()).unwrap_or_default()),
            ]
        })
        .collect();
    b.push_str(&table(&["model", "test", "record", "prompt", "model output", "true continuation", "matched tokens"], &rows));
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
auditor plants gradient canaries (synthetic examples whose gradient points along one chosen coordinate) and \
reads the noisy gradient sums the engine releases at every step, something no real attacker sees. If clipping, \
noise or accounting were wrong, these canaries would show an ε lower bound above the claimed one. The ideal \
bound is what the same procedure reaches on the exact Gaussian mechanism: a bound close to it means the engine \
behaves as the mathematics says.</p>\n<p><strong>What this is not.</strong> It is not a measurement of what the \
trained model leaks about its training records: it audits a mechanism in which canaries take part in every step, \
with all intermediate gradients visible. The model's own leakage is bounded by the theoretical ε above and \
measured by the black-box attacks.</p>\n",
    );
    let Some(a) = &summary.engine_audit else {
        b.push_str("<p class=\"note\">The engine audit was not run (it is off in --quick runs; enable [engine_audit]).</p>\n");
        return b;
    };
    let _ = writeln!(
        b,
        "<p>Audited mechanism: {} gradient canaries, T = {} steps, σ = {}; theoretical ε = {} at δ = {} \
(T-fold Gaussian mechanism, μ = √T/σ).</p>",
        a.canaries,
        a.steps,
        escape(&fmt_num(a.noise_multiplier)),
        escape(&fmt_num(a.theoretical_epsilon)),
        escape(&fmt_num(a.delta))
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

pub(crate) fn manifest(data: &ReportData) -> String {
    let mut b = String::from("<h2 id=\"manifest\">Training data</h2>\n");
    if data.manifest.is_null() {
        b.push_str("<p class=\"note\">No corpus manifest recorded.</p>\n");
        return b;
    }
    b.push_str("<p>The corpus manifest as prepared: sources, counts after normalisation, exact and near-duplicate removal, PII found and how it was handled, and the splits.</p>\n");
    json_table(&data.manifest, 0, &mut b);
    b
}

/// Nested key/value tables of a JSON value; long arrays are summarised.
fn json_table(v: &Value, depth: usize, out: &mut String) {
    match v {
        Value::Object(map) if depth < 4 => {
            out.push_str("<table>\n<tbody>\n");
            for (k, v) in map {
                let _ = write!(out, "<tr><th>{}</th><td>", escape(k));
                json_table(v, depth + 1, out);
                out.push_str("</td></tr>\n");
            }
            out.push_str("</tbody>\n</table>\n");
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) && items.len() <= 20 => {
            let parts: Vec<String> = items.iter().map(scalar).collect();
            out.push_str(&escape(&parts.join(", ")));
        }
        Value::Array(items) if depth < 4 && items.len() <= 20 => {
            for item in items {
                json_table(item, depth + 1, out);
            }
        }
        Value::Array(items) => out.push_str(&escape(&format!("[{} items]", items.len()))),
        Value::Object(_) => out.push_str(&escape(&v.to_string())),
        other => out.push_str(&escape(&scalar(other))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map(fmt_num).unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
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
