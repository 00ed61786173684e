//! The comparison page of two runs (or two checkpoints) audited on the same corpus: a table of
//! every headline figure side by side and overlaid ROC and training curves.

use std::fmt::Write as _;

use crate::gate::fmt_num;
use crate::html::escape;
use crate::page::{page, plot_box, table, td, tdn};
use crate::{plots, Error, ModelSummary, ReportData, Summary};

/// One side of a comparison.
#[derive(Debug, Clone)]
pub struct RunView {
    /// Label shown in the table and legends (e.g. the run directory).
    pub label: String,
    /// The run's summary.
    pub summary: Summary,
    /// The run's plot data (empty when `report-data.json` was absent).
    pub data: ReportData,
}

/// The hash that says which corpus a run audited: its identity (content and settings) when
/// recorded, else (summaries written before it existed) the manifest's hash.
pub fn corpus_hash(run: &crate::RunMetadata) -> &str {
    run.corpus_identity_sha256.as_deref().unwrap_or(&run.corpus_manifest_sha256)
}

/// Whether two runs audited the same corpus (by content and preparation settings, not paths).
pub fn same_corpus(a: &crate::RunMetadata, b: &crate::RunMetadata) -> bool {
    corpus_hash(a) == corpus_hash(b)
}

/// Renders the comparison of `a` and `b`. Refuses runs audited on different corpora unless
/// `force` is set (then the page says so at the top).
pub fn render_comparison(a: &RunView, b: &RunView, force: bool) -> Result<String, Error> {
    let same_corpus = same_corpus(&a.summary.run, &b.summary.run);
    if !same_corpus && !force {
        return Err(Error::DifferentCorpora { a: corpus_hash(&a.summary.run).to_string(), b: corpus_hash(&b.summary.run).to_string() });
    }
    let mut body = String::from("<h1>Audit comparison</h1>\n");
    let _ = writeln!(
        body,
        "<p class=\"sub\">A = {} · B = {}</p>",
        escape(&a.label),
        escape(&b.label)
    );
    if !same_corpus {
        body.push_str("<div class=\"banner danger\" id=\"banner-different-corpora\">DIFFERENT CORPORA (compared with --force)\
<small>The two runs were audited on different data; differences below mix the effect of the data with the effect of training.</small></div>\n");
    }
    for (tag, v) in [("A", a), ("B", b)] {
        if v.summary.run.insecure_seed {
            let _ = writeln!(body, "<div class=\"banner danger\">Run {tag}: NO DP GUARANTEE: fixed noise seed</div>");
        }
        if v.summary.run.quick {
            let _ = writeln!(body, "<div class=\"banner warn\">Run {tag}: smoke run (--quick)</div>");
        }
    }
    body.push_str("<h2 id=\"table\">Figures side by side</h2>\n");
    let names = union_names(&a.summary, &b.summary);
    let cells: Vec<Vec<String>> = comparison_rows(&a.summary, &b.summary)
        .iter()
        .map(|r| {
            let delta = match (r.a, r.b) {
                (Some(x), Some(y)) => fmt_num(y - x),
                _ => String::new(),
            };
            vec![td(&r.model), td(&r.figure), tdn(&opt(r.a)), tdn(&opt(r.b)), tdn(&delta)]
        })
        .collect();
    body.push_str(&table(&["model", "figure", "A", "B", "B − A"], &cells));

    body.push_str("<h2 id=\"roc\">ROC curves, overlaid (log–log)</h2>\n<div class=\"plots\">\n");
    let mut any = false;
    for name in &names {
        let attacks: Vec<&str> = a.data.roc.iter().filter(|c| &c.model == name).map(|c| c.attack.as_str()).collect();
        for attack in attacks {
            let other = b.data.roc.iter().find(|c| &c.model == name && c.attack == attack);
            let mine = a.data.roc.iter().find(|c| &c.model == name && c.attack == attack);
            if let (Some(x), Some(y)) = (mine, other) {
                any = true;
                let curves = vec![(format!("A: {attack}"), x.points.clone()), (format!("B: {attack}"), y.points.clone())];
                body.push_str(&plot_box(plots::roc_loglog(&format!("{name} — {attack}"), &curves)));
            }
        }
    }
    if !any {
        body.push_str("<p class=\"note\">No ROC curve appears in both runs.</p>\n");
    }
    body.push_str("</div>\n<h2 id=\"training\">Training curves, overlaid</h2>\n<div class=\"plots\">\n");
    let mut any = false;
    for name in &names {
        let mut series = Vec::new();
        for (tag, v) in [("A", a), ("B", b)] {
            for c in v.data.training_curves.iter().filter(|c| &c.model == name) {
                series.push((format!("{tag}: {}", c.metric), c.points.clone()));
            }
        }
        if !series.is_empty() {
            any = true;
            body.push_str(&plot_box(plots::lines(&format!("Training — {name}"), "step", "loss (nats/token)", &series)));
        }
    }
    if !any {
        body.push_str("<p class=\"note\">No training curves recorded.</p>\n");
    }
    body.push_str("</div>\n<h2 id=\"runs\">Runs</h2>\n");
    let run_rows: Vec<Vec<String>> = [("A", a), ("B", b)]
        .iter()
        .map(|(tag, v)| {
            let r = &v.summary.run;
            vec![
                td(tag),
                td(&v.label),
                td(&format!("{} {}", r.tool, r.tool_version)),
                td(&r.config_sha256),
                td(corpus_hash(r)),
                td(&r.started_at),
            ]
        })
        .collect();
    body.push_str(&table(&["run", "directory", "tool", "config SHA-256", "corpus identity SHA-256", "started"], &run_rows));
    Ok(page("vg-audit comparison", &body))
}

/// One headline figure of one model in both runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ComparisonRow {
    /// Model name.
    pub model: String,
    /// What the figure is ("theoretical ε", "loss: AUC", ...).
    pub figure: String,
    /// Value in run A (None when absent there).
    pub a: Option<f64>,
    /// Value in run B.
    pub b: Option<f64>,
}

/// Every headline figure of every model of either run, side by side, in a fixed order.
pub fn comparison_rows(a: &Summary, b: &Summary) -> Vec<ComparisonRow> {
    let mut rows = Vec::new();
    for name in union_names(a, b) {
        let fa = figures(a.model(&name));
        let fb = figures(b.model(&name));
        let mut labels: Vec<&String> = fa.iter().map(|(k, _)| k).collect();
        for (k, _) in &fb {
            if !labels.contains(&k) {
                labels.push(k);
            }
        }
        let find = |f: &[(String, Option<f64>)], label: &str| f.iter().find(|(k, _)| k == label).and_then(|(_, v)| *v);
        for label in labels {
            rows.push(ComparisonRow { model: name.clone(), figure: label.clone(), a: find(&fa, label), b: find(&fb, label) });
        }
    }
    rows
}

fn union_names(a: &Summary, b: &Summary) -> Vec<String> {
    let mut names: Vec<String> = a.models.iter().map(|m| m.name.clone()).collect();
    for m in &b.models {
        if !names.contains(&m.name) {
            names.push(m.name.clone());
        }
    }
    names
}

/// The headline figures of one model as (label, value) pairs, in a fixed order.
fn figures(m: Option<&ModelSummary>) -> Vec<(String, Option<f64>)> {
    let Some(m) = m else { return Vec::new() };
    let mut f = vec![
        ("theoretical ε".to_string(), m.dp.as_ref().map(|d| d.epsilon)),
        ("δ".to_string(), m.dp.as_ref().map(|d| d.delta)),
        ("noise multiplier σ".to_string(), m.dp.as_ref().map(|d| d.noise_multiplier)),
        ("steps".to_string(), m.dp.as_ref().map(|d| d.steps as f64)),
        ("held-out loss".to_string(), m.utility.as_ref().map(|u| u.eval_loss)),
        ("perplexity".to_string(), m.utility.as_ref().map(|u| u.perplexity)),
    ];
    for (method, b) in &m.epsilon_lower_bounds {
        f.push((format!("ε lower bound: {method} ({:.0} %)", b.confidence * 100.0), Some(b.epsilon)));
    }
    for (attack, r) in &m.mia {
        f.push((format!("{attack}: AUC"), r.auc));
        f.push((format!("{attack}: TPR at FPR 0.1 %"), r.tpr_at_fpr_1e_3));
        f.push((format!("{attack}: TPR at FPR 1 %"), r.tpr_at_fpr_1e_2));
    }
    if let Some(e) = &m.exposure {
        f.push(("exposure of included canaries: mean (bits)".into(), e.included.mean));
        f.push(("exposure of included canaries: max (bits)".into(), e.included.max));
    }
    if let Some(x) = &m.memorization {
        f.push(("exact memorization rate".into(), x.exact_rate));
        f.push(("approximate memorization rate".into(), x.approximate_rate));
        f.push(("fragment hits".into(), Some(x.fragment_hits as f64)));
        f.push(("longest verbatim span (tokens)".into(), Some(x.longest_verbatim_tokens as f64)));
    }
    f
}

fn opt(x: Option<f64>) -> String {
    x.map(fmt_num).unwrap_or_else(|| "—".into())
}
