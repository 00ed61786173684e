//! The report's "Training plan" section: the configuration a DP scaling law chose for the DP
//! model, its predicted held-out loss next to the achieved one, and the privacy–utility picture
//! across the run's models.

use std::fmt::Write as _;

use crate::gate::fmt_num;
use crate::html::escape;
use crate::page::{opt, table, td, tdn};
use crate::Summary;

/// The section, or nothing when the run did not plan.
pub(crate) fn plan(summary: &Summary) -> String {
    let Some(pl) = &summary.plan else { return String::new() };
    let mut b = String::from("<h2 id=\"plan\">Training plan (DP scaling law)</h2>\n");
    let _ = writeln!(
        b,
        "<p>The DP model's size, batch and steps were chosen by the scaling law <em>{}</em> (McKenna et al. 2025): \
among model sizes and batches that fit the compute budget of {} FLOPs, the one with the lowest predicted \
held-out loss at this run's ε, δ and number of records. σ comes from the accountant.{}</p>",
        escape(&pl.law),
        fmt_num(pl.compute_flops),
        pl.tokens_per_sequence.map_or(String::new(), |l| format!(
            " The budget counts real tokens (C = 6·M·B·T·L with L = {l:.1}, the mean tokens per training sequence); \
the model's cost line counts every position up to the context, padding included, so it shows more FLOPs."
        ))
    );
    let rows = vec![
        vec![td("preset (parameters)"), td(&format!("{} ({})", pl.preset, pl.params))],
        vec![td("expected batch B"), tdn(&pl.batch_size.to_string())],
        vec![td("steps T"), tdn(&pl.steps.to_string())],
        vec![td("noise multiplier σ"), tdn(&fmt_num(pl.noise_multiplier))],
        vec![td("noise-batch ratio σ̄ = σ/B"), tdn(&fmt_num(pl.sigma_bar))],
        vec![td("predicted held-out loss (nats/token)"), tdn(&fmt_num(pl.predicted_eval_loss))],
        vec![td("achieved held-out loss (nats/token)"), tdn(&opt(pl.achieved_eval_loss))],
        vec![td("predicted bits per byte"), tdn(&fmt_num(pl.predicted_bits_per_byte))],
        vec![td("achieved bits per byte"), tdn(&opt(pl.achieved_bits_per_byte))],
        vec![td("non-private optimum at the same compute (predicted loss)"), tdn(&opt(pl.non_private_predicted_eval_loss))],
    ];
    b.push_str(&table(&["", "DP model"], &rows));
    b.push_str("<h3>Privacy–utility across the run's models</h3>\n");
    let rows: Vec<Vec<String>> = summary
        .models
        .iter()
        .map(|m| {
            vec![
                td(&m.name),
                tdn(&model_epsilon(m)),
                tdn(&opt(m.utility.as_ref().map(|u| u.eval_loss))),
                tdn(&opt(m.utility.as_ref().and_then(|u| u.bits_per_byte))),
            ]
        })
        .collect();
    b.push_str(&table(&["model", "ε", "held-out loss (nats/token)", "bits per byte"], &rows));
    b
}

/// ε of a model for the privacy–utility table: its own DP-SGD ε, the ε it inherits by
/// post-processing (a student of the DP model), or ∞.
fn model_epsilon(m: &crate::ModelSummary) -> String {
    match (&m.dp, &m.inherited) {
        (Some(d), _) => fmt_num(d.epsilon),
        (None, Some(g)) if g.status == "dp" => g.epsilon.map_or_else(|| "∞ (no DP)".into(), |e| format!("{} (inherited)", fmt_num(e))),
        _ => "∞ (no DP)".into(),
    }
}
