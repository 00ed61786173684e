//! `model-card.md`: a Hugging Face style model card (YAML front matter with the DP parameters and
//! audit results, then plain-language sections a reader outside the privacy field can follow).

use std::fmt::Write as _;

use serde_json::Value;

use crate::gate::fmt_num;
use crate::headline::count;
use crate::{ModelSummary, ReportData, Summary};

/// Renders the model card of a run: every audited model, the DP target first in the prose.
pub fn render_model_card(summary: &Summary, data: &ReportData) -> String {
    let mut c = front_matter(summary);
    let target = summary.models.iter().find(|m| m.private).or(summary.models.first());
    let title = target.map(|m| m.name.as_str()).unwrap_or("(no model)");
    let _ = writeln!(c, "# Model card: `{}`\n", md(title));
    if summary.run.insecure_seed {
        c.push_str("> **NO DP GUARANTEE: fixed noise seed.** This run used `--insecure-seed`; the DP noise and \
sampling can be replayed by anyone holding the seed, so the ε below is not a privacy guarantee. Do not release \
this model on the strength of this card.\n\n");
    }
    if summary.run.quick {
        c.push_str("> **Smoke run (`--quick`).** Fewer canaries and steps than an audit needs; the audit figures \
are too imprecise to support a release decision.\n\n");
    }
    if summary.external_audit.is_none() {
        let _ = writeln!(
            c,
            "This card was written by {} {} from an audit that trained {} model(s) on the same data: {}.\n",
            md(&summary.run.tool),
            md(&summary.run.tool_version),
            summary.models.len(),
            summary.models.iter().map(|m| format!("`{}` ({})", md(&m.name), if m.private { "DP-SGD" } else { "non-private" })).collect::<Vec<_>>().join(", ")
        );
    }
    c.push_str(&crate::external::card_section(summary));

    c.push_str("## Summary\n\n");
    let _ = writeln!(c, "- **Verdict**: {}", md(&crate::headline::verdict_line(summary)));
    for (label, text) in crate::headline::five_lines(summary) {
        let _ = writeln!(c, "- **{label}**: {}", md(&text));
    }
    c.push('\n');

    c.push_str("## Training data\n\n");
    let _ = writeln!(c, "- Corpus manifest SHA-256: `{}`", md(&summary.run.corpus_manifest_sha256));
    if let Value::Object(map) = &data.manifest {
        for (k, v) in map.iter().filter(|(_, v)| v.is_number() || v.is_string()) {
            let shown = match v {
                Value::String(s) => s.clone(),
                other => other.as_f64().map(fmt_num).unwrap_or_else(|| other.to_string()),
            };
            let _ = writeln!(c, "- {}: {}", md(k), md(&shown));
        }
    }
    if summary.external_audit.is_none() {
        let _ = writeln!(c, "- {}\n", md(&crate::corpus::preparation_words(&data.manifest)));
    } else {
        c.push_str("- The audited models were trained elsewhere; the manifest above describes the member and non-member files of the audit.\n\n");
    }

    c.push_str("## Privacy guarantee\n\n");
    for m in &summary.models {
        c.push_str(&guarantee_words(m, summary.run.insecure_seed));
    }
    c.push_str("\n## Privacy unit\n\n");
    let unit = summary.models.iter().find_map(|m| m.dp.as_ref().map(|d| d.neighbouring.clone()));
    let _ = writeln!(
        c,
        "One record is one training example: one token sequence, truncated to the model's context, never packed \
with other records{}. The guarantee protects each record, not each person: someone who appears in many records \
is protected only by the group guarantee of that many records (roughly k·ε for k records). A canary repeated r \
times is r units, and its audit is compared with the group guarantee of r records.\n",
        unit.map(|u| format!(" (neighbouring relation: {})", md(&u))).unwrap_or_default()
    );

    c.push_str("## Audit method\n\n");
    c.push_str(&method_words(summary));
    c.push_str("\n## Cost and the three indicators\n\n");
    c.push_str(&indicators(summary));
    c.push_str("## Audit results\n\n");
    c.push_str("| model | theoretical ε (δ) | method | ε lower bound | confidence | compared with |\n|---|---|---|---|---|---|\n");
    for m in &summary.models {
        let stated = crate::external::stated_guarantee(summary, &m.name);
        let theo = m.dp.as_ref().map(|d| format!("{} ({})", fmt_num(d.epsilon), fmt_num(d.delta))).or(stated).unwrap_or_else(|| "∞ (non-private)".into());
        if m.epsilon_lower_bounds.is_empty() {
            let _ = writeln!(c, "| {} | {} | — | n/a | | |", md(&m.name), theo);
        }
        for (method, b) in &m.epsilon_lower_bounds {
            let _ = writeln!(
                c,
                "| {} | {} | {} | {} | {:.0} % | {} |",
                md(&m.name),
                theo,
                md(method),
                fmt_num(b.epsilon),
                b.confidence * 100.0,
                md(&b.compared_with.describe())
            );
        }
    }
    c.push_str("\n| model | attack | AUC | TPR at FPR 0.1 % | TPR at FPR 1 % |\n|---|---|---|---|---|\n");
    for m in &summary.models {
        for (attack, r) in &m.mia {
            let _ = writeln!(c, "| {} | {} | {} | {} | {} |", md(&m.name), md(attack), opt(r.auc), opt(r.tpr_at_fpr_1e_3), opt(r.tpr_at_fpr_1e_2));
        }
    }
    c.push_str("\n| model | exact memorization | approximate memorization | fragment hits | longest verbatim span (tokens) |\n|---|---|---|---|---|\n");
    for m in &summary.models {
        if let Some(x) = &m.memorization {
            let _ = writeln!(c, "| {} | {} | {} | {} | {} |", md(&m.name), opt(x.exact_rate), opt(x.approximate_rate), count(x.fragment_hits), count(x.longest_verbatim_tokens));
        }
    }
    if let Some(g) = &summary.gate {
        let _ = writeln!(c, "\nGate policy `{}`: **{}** ({} rule checks).", md(&g.policy), if g.passed { "PASSED" } else { "FAILED" }, g.rules.len());
    }

    c.push_str("\n## Limitations\n\n");
    c.push_str("- Per-record DP does not bound facts repeated across many records: a fact that appears in many training records can be learned and repeated by the model while every single record stays protected.\n");
    c.push_str("- Empirical ε figures are *lower* bounds from specific attacks; a small lower bound does not show that the model leaks little, only that these attacks could not show more. The guarantee is the theoretical ε.\n");
    c.push_str("- The guarantee holds for the training procedure as run (Poisson sampling, per-example clipping, Gaussian noise from a secure generator) and the stated privacy unit; de-identification before training is a separate safeguard.\n");
    c.push_str("- The non-private baseline has no guarantee; it is included only to show what the same data leaks without DP.\n");
    if summary.run.insecure_seed {
        c.push_str("- This run used a fixed noise seed: it carries NO DP guarantee.\n");
    }
    if summary.run.quick {
        c.push_str("- This was a smoke run (`--quick`); its audit figures are not meaningful.\n");
    }
    c.push_str("\n## Reproducibility\n\n");
    let _ = writeln!(c, "- Config SHA-256: `{}`", md(&summary.run.config_sha256));
    if let Some(t) = &summary.run.tokenizer_sha256 {
        let _ = writeln!(c, "- Tokenizer SHA-256: `{}`", md(t));
    }
    let seeds: Vec<String> = summary.run.seeds.iter().map(|(k, v)| format!("{}={v}", md(k))).collect();
    let _ = writeln!(c, "- Published seeds: {}", if seeds.is_empty() { "none".into() } else { seeds.join(", ") });
    let _ = writeln!(c, "- Run: {} → {}", md(&summary.run.started_at), md(&summary.run.finished_at));
    c
}

/// The audit method, sentence by sentence from what ran.
fn method_words(summary: &Summary) -> String {
    let mut c = String::new();
    let canaries = summary.models.iter().find_map(|m| m.exposure.as_ref());
    match canaries {
        Some(e) => {
            let _ = writeln!(c, "- **Canaries**: {} random secrets in templates, each inserted with probability ½, ranked against {} reference canaries never inserted (exposure, Carlini et al. 2019).", e.canaries, e.reference_canaries);
        }
        None => c.push_str("- **Canaries**: none were planted in this run.\n"),
    }
    let attacks: std::collections::BTreeSet<&str> = summary.models.iter().flat_map(|m| m.mia.keys().map(String::as_str)).collect();
    if attacks.is_empty() {
        c.push_str("- **Membership inference**: not run.\n");
    } else {
        let shadows = summary.shadow_sentence().map(|s| format!(" {}", md(&s))).unwrap_or_default();
        let _ = writeln!(c, "- **Membership inference**: {}; AUC and TPR at FPR 0.1 % and 1 %.{shadows}", md(&attacks.iter().copied().collect::<Vec<_>>().join(", ")));
    }
    let methods: std::collections::BTreeSet<&str> = summary.models.iter().flat_map(|m| m.epsilon_lower_bounds.keys().map(String::as_str)).collect();
    if !methods.is_empty() {
        let _ = writeln!(c, "- **Empirical ε lower bounds**: {}, each a statistical claim at its stated confidence, compared with the guarantee of its own unit (a record once, or a canary repeated r times as a group of r).", md(&methods.iter().copied().collect::<Vec<_>>().join(", ")));
    }
    match summary.models.iter().find_map(|m| m.memorization.as_ref()) {
        Some(x) => {
            let _ = writeln!(c, "- **Extraction**: discoverable memorization of {} training records ({}-token prefix → {}-token greedy suffix, exact and ≤ 10 % edit distance, against {} population records never trained on), {} sampled generations searched for verbatim training spans, and a fragment search for canary secrets and kept PII.", count(x.prompts), x.prefix_tokens, x.suffix_tokens, count(x.population_prompts), count(x.generations));
        }
        None => c.push_str("- **Extraction**: not run.\n"),
    }
    c
}

/// Cost next to the three indicators, one row per model.
fn indicators(summary: &Summary) -> String {
    let mut c = String::from("| model | ε (δ) | privacy leakage | membership-inference resistance | task score | cost |\n|---|---|---|---|---|---|\n");
    let base = crate::headline::baseline(summary);
    for m in &summary.models {
        let eps = m.dp.as_ref().map(|d| format!("{} ({})", fmt_num(d.epsilon), fmt_num(d.delta))).unwrap_or_else(|| "∞ (non-private)".into());
        let _ = writeln!(
            c,
            "| {} | {} | {} | {} | {} | {} |",
            md(&m.name),
            eps,
            md(&crate::headline::leakage_words(m)),
            md(&crate::headline::resistance_words(m)),
            md(&crate::headline::utility_words(m, base)),
            md(&crate::headline::cost_words(m, summary))
        );
    }
    c.push_str("\nFLOPs are estimated as 6 × parameters × token positions (expected batch × steps × context), from the configuration alone.\n\n");
    c
}

fn guarantee_words(m: &ModelSummary, insecure: bool) -> String {
    match &m.dp {
        Some(d) if !insecure => format!(
            "- `{}`: trained with DP-SGD at **(ε = {}, δ = {})**. In plain words: for any single training record, \
including it or leaving it out changes the probability of any outcome of training by at most a factor of \
e^ε ≈ {}, except with probability δ. Noise multiplier σ = {}, Poisson sampling rate q = {}, {} steps, clip norm {}, \
{} accountant.{}\n",
            md(&m.name),
            fmt_num(d.epsilon),
            fmt_num(d.delta),
            fmt_num(d.epsilon.exp()),
            fmt_num(d.noise_multiplier),
            fmt_num(d.sampling_rate),
            d.steps,
            fmt_num(d.clip_norm),
            md(&d.accountant),
            d.truncation_note.as_ref().map(|n| format!(" Batch truncation: {}.", md(n))).unwrap_or_default()
        ),
        Some(d) => format!(
            "- `{}`: trained with DP-SGD parameters that would give (ε = {}, δ = {}), but with a fixed noise seed: \
**no DP guarantee**.\n",
            md(&m.name),
            fmt_num(d.epsilon),
            fmt_num(d.delta)
        ),
        None => format!("- `{}`: trained without DP: **no privacy guarantee**.\n", md(&m.name)),
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(fmt_num).unwrap_or_else(|| "n/a".into())
}

/// Makes text safe inside Markdown table cells and prose (no HTML, no cell breaks, one line).
fn md(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('|', "\\|").replace('`', "'").replace(['\n', '\r'], " ")
}

fn front_matter(summary: &Summary) -> String {
    let mut y = String::from("---\nlibrary_name: vg-audit\ntags:\n- differential-privacy\n- dp-sgd\n- privacy-audit\n");
    let _ = writeln!(y, "privacy_guarantee: {}", q(if summary.run.insecure_seed {
        "none: fixed noise seed (--insecure-seed)"
    } else if summary.models.iter().any(|m| m.private) {
        "(epsilon, delta)-differential privacy per training record"
    } else {
        "none: no model was trained with DP"
    }));
    let _ = writeln!(y, "smoke_run: {}", summary.run.quick);
    let _ = writeln!(y, "insecure_seed: {}", summary.run.insecure_seed);
    y.push_str("models:\n");
    for m in &summary.models {
        let _ = writeln!(y, "- name: {}\n  private: {}", q(&m.name), m.private);
        match &m.dp {
            None => y.push_str("  dp: null\n"),
            Some(d) => {
                y.push_str("  dp:\n");
                let _ = writeln!(y, "    epsilon: {}\n    delta: {}\n    noise_multiplier: {}", n(d.epsilon), n(d.delta), n(d.noise_multiplier));
                let _ = writeln!(y, "    sampling_rate: {}\n    steps: {}\n    clip_norm: {}", n(d.sampling_rate), d.steps, n(d.clip_norm));
                let _ = writeln!(y, "    accountant: {}\n    neighbouring: {}", q(&d.accountant), q(&d.neighbouring));
            }
        }
        if let Some(u) = &m.utility {
            let _ = writeln!(y, "  eval_loss: {}\n  perplexity: {}", n(u.eval_loss), n(u.perplexity));
        }
        if !m.epsilon_lower_bounds.is_empty() {
            y.push_str("  epsilon_lower_bounds:\n");
            for (method, b) in &m.epsilon_lower_bounds {
                let _ = writeln!(y, "    {}:\n      epsilon: {}\n      confidence: {}\n      attack: {}", q(method), n(b.epsilon), n(b.confidence), q(&b.attack));
            }
        }
        if !m.mia.is_empty() {
            y.push_str("  mia:\n");
            for (attack, r) in &m.mia {
                let _ = writeln!(
                    y,
                    "    {}:\n      auc: {}\n      tpr_at_fpr_1e-3: {}\n      tpr_at_fpr_1e-2: {}",
                    q(attack),
                    on(r.auc),
                    on(r.tpr_at_fpr_1e_3),
                    on(r.tpr_at_fpr_1e_2)
                );
            }
        }
        if let Some(x) = &m.memorization {
            let _ = writeln!(
                y,
                "  memorization:\n    exact_rate: {}\n    approximate_rate: {}\n    fragment_hits: {}",
                on(x.exact_rate),
                on(x.approximate_rate),
                x.fragment_hits.map_or("null".to_string(), |v| v.to_string())
            );
        }
    }
    let _ = writeln!(y, "audit:\n  tool: {}\n  config_sha256: {}\n  corpus_manifest_sha256: {}", q(&format!("{} {}", summary.run.tool, summary.run.tool_version)), q(&summary.run.config_sha256), q(&summary.run.corpus_manifest_sha256));
    let _ = writeln!(y, "  gate: {}", summary.gate.as_ref().map(|g| q(if g.passed { "passed" } else { "failed" })).unwrap_or_else(|| "null".into()));
    y.push_str("---\n\n");
    y
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML), with `<`, `>` and `&` as
/// `\u` escapes so no markup survives into a page that renders the front matter.
fn q(s: &str) -> String {
    serde_json::to_string(s)
        .expect("strings serialise")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// A YAML number: plain decimal (Rust's `Display` never uses an exponent, which YAML 1.1 readers
/// would otherwise take for a string).
fn n(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}

fn on(x: Option<f64>) -> String {
    x.map(n).unwrap_or_else(|| "null".into())
}
