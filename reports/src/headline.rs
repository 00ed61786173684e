//! The figures a reviewer reads first, computed once for the report and the model card: the
//! five-line summary under the verdict, and the three indicators side by side (privacy
//! leakage, membership-inference resistance, task score), each with its cost.

use crate::gate::fmt_num;
use crate::{ModelSummary, Summary};

/// The strongest membership attack on a model: the best TPR at the lowest FPR the run can
/// resolve (0.1 % with ≥ 1,000 non-members, else 1 %), and that attack's AUC.
#[derive(Debug, Clone, PartialEq)]
pub struct StrongestAttack {
    /// Attack name.
    pub attack: String,
    /// Its TPR at `fpr`.
    pub tpr: f64,
    /// The FPR the TPR is read at (0.001 or 0.01).
    pub fpr: f64,
    /// Its AUC, when known.
    pub auc: Option<f64>,
}

/// A count, or "n/a" when it was not measured (never a silent 0).
pub(crate) fn count(x: Option<u64>) -> String {
    x.map_or_else(|| "n/a".to_string(), |v| v.to_string())
}

/// See [`StrongestAttack`]; None when no attack resolved even FPR 1 %.
pub fn strongest_attack(m: &ModelSummary) -> Option<StrongestAttack> {
    for (fpr, pick) in [(1e-3, 0usize), (1e-2, 1usize)] {
        let best = m
            .mia
            .iter()
            .filter_map(|(name, r)| Some((name, [r.tpr_at_fpr_1e_3, r.tpr_at_fpr_1e_2][pick]?, r.auc)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((name, tpr, auc)) = best {
            return Some(StrongestAttack { attack: name.clone(), tpr, fpr, auc });
        }
    }
    None
}

/// The largest ε lower bound of a model with its method and the guarantee it is compared with.
pub fn largest_bound(m: &ModelSummary) -> Option<(&str, f64, Option<f64>)> {
    m.epsilon_lower_bounds
        .iter()
        .max_by(|a, b| a.1.epsilon.total_cmp(&b.1.epsilon))
        .map(|(k, b)| (k.as_str(), b.epsilon, b.compared_with.epsilon))
}

/// The non-private baseline of a run (the yardstick of utility and leakage).
pub fn baseline(summary: &Summary) -> Option<&ModelSummary> {
    summary.models.iter().find(|m| !m.private)
}

/// The model the headline is about: the first DP model, else the first model.
pub fn headline_model(summary: &Summary) -> Option<&ModelSummary> {
    summary.models.iter().find(|m| m.private).or(summary.models.first())
}

/// Seconds as "1 h 02 min", "3 min 05 s" or "42 s".
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// Task score of `m` in words, relative to `baseline` when there is one.
pub fn utility_words(m: &ModelSummary, baseline: Option<&ModelSummary>) -> String {
    let Some(u) = &m.utility else { return "held-out loss not measured".into() };
    let mut s = format!("held-out loss {} nats/token (perplexity {})", fmt_num(u.eval_loss), fmt_num(u.perplexity));
    if let Some(b) = baseline.filter(|b| b.name != m.name).and_then(|b| b.utility.as_ref().map(|bu| (b, bu))) {
        let change = 100.0 * (u.perplexity / b.1.perplexity - 1.0);
        s.push_str(&format!(
            "; the non-private `{}` reaches {} (perplexity {}): {change:+.1} % perplexity",
            b.0.name,
            fmt_num(b.1.eval_loss),
            fmt_num(b.1.perplexity),
        ));
    }
    s
}

/// Privacy leakage of `m` in words: exact memorization against its population floor, canary
/// secrets recovered, fragment hits.
pub fn leakage_words(m: &ModelSummary) -> String {
    let Some(x) = &m.memorization else { return "extraction was not run".into() };
    let mut s = match (x.exact_rate, x.population_exact_rate) {
        (Some(e), Some(f)) => format!("exact memorization {} of {} prompts (floor on unseen text {})", pct(e), count(x.prompts), pct(f)),
        (Some(e), None) => format!("exact memorization {} of {} prompts", pct(e), count(x.prompts)),
        _ => "exact memorization not measured".into(),
    };
    if let Some(c) = &x.canary_recovery {
        s.push_str(&format!("; canary secrets recovered {} of {} inserted ({} of {} never inserted)", c.included_recovered, c.included, c.not_included_recovered, c.not_included));
    }
    s.push_str(&format!("; {} fragment hits", count(x.fragment_hits)));
    s
}

/// Membership-inference resistance of `m` in words: strongest attack and largest ε lower bound.
pub fn resistance_words(m: &ModelSummary) -> String {
    let attack = match strongest_attack(m) {
        Some(a) => format!(
            "strongest attack {}: TPR {} at FPR {}{}",
            a.attack,
            pct(a.tpr),
            pct(a.fpr),
            a.auc.map(|x| format!(", AUC {}", fmt_num(x))).unwrap_or_default()
        ),
        None => "no attack resolved FPR 1 %".into(),
    };
    let bound = match largest_bound(m) {
        Some((method, e, Some(g))) => format!("; largest ε lower bound {} ({method}) against a guarantee of {}", fmt_num(e), fmt_num(g)),
        Some((method, e, None)) => format!("; largest ε lower bound {} ({method}), no guarantee to compare", fmt_num(e)),
        None => String::new(),
    };
    attack + &bound
}

/// Cost of training `m` in words.
pub fn cost_words(m: &ModelSummary, summary: &Summary) -> String {
    let Some(c) = &m.cost else { return "cost not recorded".into() };
    let machine = &summary.run.machine;
    format!(
        "{} wall, {} CPU, ≈ {} FLOPs (6 × {} parameters × {} token positions) on {} × {} {} ({})",
        duration(c.wall_seconds),
        c.cpu_seconds.map(duration).unwrap_or_else(|| "unknown".into()),
        format!("{:.2e}", c.flops),
        fmt_num(c.parameters as f64),
        fmt_num(c.token_positions),
        machine.cpus,
        machine.arch,
        machine.os,
        machine.device
    )
}

/// The five-line summary under the verdict: (label, text) for guarantee, strongest attack,
/// memorization, utility against the non-private model, cost — of the headline model.
pub fn five_lines(summary: &Summary) -> Vec<(&'static str, String)> {
    let Some(m) = headline_model(summary) else { return vec![("Models", "no model was audited".into())] };
    let guarantee = match &m.dp {
        Some(_) if summary.run.insecure_seed => "none: fixed noise seed (--insecure-seed)".to_string(),
        Some(d) => format!("`{}`: ε = {} at δ = {} per training record ({} accountant, {} steps)", m.name, fmt_num(d.epsilon), fmt_num(d.delta), d.accountant, d.steps),
        None => format!("`{}` was trained without DP: no guarantee", m.name),
    };
    vec![
        ("Guarantee", guarantee),
        ("Strongest attack", resistance_words(m)),
        ("Memorization", leakage_words(m)),
        ("Utility", utility_words(m, baseline(summary))),
        ("Cost", cost_words(m, summary)),
    ]
}

/// The verdict in one line: the policy's outcome, or that none was applied.
pub fn verdict_line(summary: &Summary) -> String {
    match &summary.gate {
        None => "no release policy was applied".into(),
        Some(g) => {
            let failed = g.rules.iter().filter(|r| !r.passed).count();
            if g.passed {
                format!("PASS — all {} checks of the {} passed", g.rules.len(), g.policy)
            } else {
                format!("FAIL — {failed} of {} checks of the {} failed", g.rules.len(), g.policy)
            }
        }
    }
}

fn pct(x: f64) -> String {
    format!("{} %", fmt_num(100.0 * x))
}
