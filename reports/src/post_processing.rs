//! The report's "Synthetic data and distillation" section: one plain sentence per made thing on
//! the guarantee it inherits, and the DP teacher, its students and the non-private model side
//! by side (utility, leakage, cost).

use std::fmt::Write as _;

use crate::gate::fmt_num;
use crate::html::escape;
use crate::page::{opt, pct, table, td, tdn};
use crate::{ModelSummary, Summary};

/// The section, or nothing when the run made neither synthetic data nor a student.
pub(crate) fn section(summary: &Summary) -> String {
    let students: Vec<&ModelSummary> = summary.models.iter().filter(|m| m.inherited.is_some()).collect();
    if summary.synthetic.is_none() && students.is_empty() {
        return String::new();
    }
    let mut b = String::from("<h2 id=\"post-processing\">Synthetic data and distillation</h2>\n");
    if let Some(s) = &summary.synthetic {
        let _ = writeln!(
            b,
            "<p class=\"guarantee {}\">{}</p>\n<p class=\"note\">{} records kept of {} sampled, {:.0} tokens/s.</p>",
            escape(&s.guarantee.status),
            escape(&s.guarantee.sentence),
            s.count,
            s.drawn,
            s.tokens_per_second
        );
    }
    for m in &students {
        let g = m.inherited.as_ref().expect("filtered on inherited");
        let _ = writeln!(b, "<p class=\"guarantee {}\">{} ({})</p>", escape(&g.status), escape(&g.sentence), escape(&g.made_by));
    }
    let order = |m: &&ModelSummary| if m.dp.is_some() { 0 } else if m.inherited.is_some() { 1 } else { 2 };
    let mut side: Vec<&ModelSummary> = summary.models.iter().collect();
    side.sort_by_key(order);
    let rows: Vec<Vec<String>> = side.iter().map(|m| row(m)).collect();
    b.push_str(&table(
        &["model", "guarantee", "held-out loss", "best MIA AUC", "largest ε lower bound", "exact memorization", "training wall s", "FLOPs"],
        &rows,
    ));
    b.push_str(
        "<p class=\"note\">Held-out loss on the population split (never trained on). The student is attacked with the \
teacher's members and non-members: it never saw them, so any leakage it shows came through the teacher's outputs.</p>\n",
    );
    b
}

fn row(m: &ModelSummary) -> Vec<String> {
    let guarantee = match (&m.dp, &m.inherited) {
        (Some(d), _) => format!("DP-SGD ε = {}", fmt_num(d.epsilon)),
        (None, Some(g)) => match g.epsilon {
            Some(e) => format!("inherited ε = {} ({})", fmt_num(e), g.status),
            None => format!("none ({})", g.status),
        },
        (None, None) => "none".into(),
    };
    let auc = m.mia.values().filter_map(|r| r.auc).fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))));
    let bound = m.epsilon_lower_bounds.values().map(|b| b.epsilon).fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))));
    vec![
        td(&m.name),
        td(&guarantee),
        tdn(&opt(m.utility.as_ref().map(|u| u.eval_loss))),
        tdn(&opt(auc)),
        tdn(&opt(bound)),
        tdn(&pct(m.memorization.as_ref().and_then(|x| x.exact_rate))),
        tdn(&opt(m.cost.as_ref().map(|c| c.wall_seconds))),
        tdn(&m.cost.as_ref().map_or("—".into(), |c| format!("{:.2e}", c.flops))),
    ]
}
