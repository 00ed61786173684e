//! The membership audit of one target model from a score table: every attack, its ROC metrics,
//! and the ε lower bounds, in one serialisable result. The `vg-audit run` pipeline and
//! `vg-audit attack` both call [`audit_membership`].
//!
//! Rows of the target model are the audited subjects; every other model in the table is a
//! shadow/reference model whose `member` column says which subjects it trained on. Metrics are
//! computed on `record` rows with known truth; the one-run bound uses the `canary` rows when
//! there are any (else the records, whose membership is also an independent fair coin);
//! RMIA's population is the `population` rows (else all audited records).
//!
//! Headline bounds use one *primary* attack fixed in advance by what the data allow
//! (LiRA online, else LiRA offline, else RMIA, else the loss attack), never the best-looking
//! one; the `*_best_attack` bounds take the maximum over attacks and pay Bonferroni for it.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::bounds::{clopper_pearson_from_scores, one_run_from_scores, ErrorCounts, GuessChoice, GuessCounts, ThresholdChoice};
use crate::error::{AttackError, Result};
use crate::metrics::{attack_metrics, AttackMetrics};
use crate::mia::lira::{lira, LiraOptions, LiraVariance, Location};
use crate::mia::rmia::{mean_out_probability, rmia_offline, tune_offline_a, RmiaOptions};
use crate::mia::{ShadowRole, ShadowScores};
use crate::score_table::{RowKind, ScoreTable};

/// What to run and at which levels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditOptions {
    /// Name of the target model in the table's `model` column.
    pub target: String,
    /// Shadow/reference models to use; `None` = every other model in the table.
    pub shadows: Option<Vec<String>>,
    /// Column holding LiRA's statistic (φ for language models; `score` for user tables).
    pub lira_column: String,
    /// Column holding ln P(x|θ) for RMIA (m, the mean token log-prob), if any; RMIA is skipped
    /// when a value is positive (then the column is no log-probability).
    pub rmia_column: Option<String>,
    /// Single-score attacks: (attack name, column), e.g. ("loss", "loss").
    pub single_scores: Vec<(String, String)>,
    /// LiRA spread; `None` = global below 64 shadows, per-example from 64 on.
    pub lira_variance: Option<LiraVariance>,
    /// RMIA parameters.
    pub rmia: RmiaOptions,
    /// Tune RMIA's a on the first reference model (ML Privacy Meter style) instead of `rmia.a`.
    pub rmia_tune_a: bool,
    /// δ of the bounds.
    pub delta: f64,
    /// Confidence of every bound.
    pub confidence: f64,
    /// Threshold choice of the Clopper–Pearson bound.
    pub thresholds: ThresholdChoice,
    /// k₊/k₋ choice of the one-run bound.
    pub guesses: GuessChoice,
    /// Bootstrap intervals of the metrics: (resamples, seed).
    pub bootstrap: Option<(usize, u64)>,
    /// Times each canary was inserted (r > 1: compare with the group guarantee).
    pub canary_repetitions: u32,
    /// δ of the bounds computed on canaries: the group guarantee's δ (r·e^((r−1)ε)·δ) when each
    /// canary was inserted r > 1 times, since a canary is then a group of r units; None: `delta`.
    pub canary_delta: Option<f64>,
}

impl AuditOptions {
    /// Defaults for a run directory's `scores.parquet` (columns of [`crate::scores`]).
    pub fn for_run(target: &str) -> Self {
        AuditOptions {
            target: target.to_string(),
            shadows: None,
            lira_column: "lira_phi".into(),
            rmia_column: Some("loss".into()),
            single_scores: ["loss", "zlib", "min_k", "min_k_plus_plus", "reference_calibrated"]
                .iter()
                .map(|s| (s.to_string(), s.to_string()))
                .collect(),
            lira_variance: None,
            rmia: RmiaOptions::default(),
            rmia_tune_a: false,
            delta: 1e-5,
            confidence: 0.95,
            thresholds: ThresholdChoice::default(),
            guesses: GuessChoice::default(),
            bootstrap: None,
            canary_repetitions: 1,
            canary_delta: None,
        }
    }

    /// Defaults for a user's long table with one `score` column (used for LiRA, RMIA when it
    /// looks like a log-probability, and the threshold attack named `loss`).
    pub fn for_score_table(target: &str) -> Self {
        AuditOptions {
            lira_column: "score".into(),
            rmia_column: Some("score".into()),
            single_scores: vec![("loss".into(), "score".into())],
            ..Self::for_run(target)
        }
    }
}

/// One attack's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackResult {
    /// What the attack is, in words.
    pub description: String,
    /// ROC figures on the audited records.
    #[serde(flatten)]
    pub metrics: AttackMetrics,
}

/// Method-specific detail of a bound.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BoundDetail {
    /// Clopper–Pearson.
    ClopperPearson {
        /// Error counts at the chosen threshold.
        counts: ErrorCounts,
        /// Threshold used (member iff score ≥ it).
        threshold: f64,
        /// Thresholds paid for.
        thresholds_tried: usize,
        /// Upper bounds on FPR and FNR.
        fpr_upper: f64,
        /// See `fpr_upper`.
        fnr_upper: f64,
    },
    /// One-run audit.
    OneRun {
        /// Guess counts.
        counts: GuessCounts,
        /// (k₊, k₋) pairs paid for.
        choices_paid: usize,
        /// "canaries" or "records".
        audited: String,
    },
}

impl BoundDetail {
    /// The counts behind the bound, by name (as they are serialised), for tables and summaries.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let named = |pairs: &[(&str, u64)]| pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect();
        match self {
            BoundDetail::ClopperPearson { counts: c, .. } => named(&[
                ("false_positives", c.false_positives),
                ("negatives", c.negatives),
                ("false_negatives", c.false_negatives),
                ("positives", c.positives),
            ]),
            BoundDetail::OneRun { counts: c, .. } => named(&[
                ("canaries", c.canaries),
                ("k_plus", c.k_plus),
                ("k_minus", c.k_minus),
                ("guesses", c.guesses),
                ("correct", c.correct),
            ]),
        }
    }
}

/// An ε lower bound as reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpsilonBound {
    /// ε ≥ this, with the stated confidence.
    pub epsilon: f64,
    /// Confidence of the claim (all corrections paid).
    pub confidence: f64,
    /// δ accounted for.
    pub delta: f64,
    /// The attack whose scores it used (or "best of …" for the maximum over attacks).
    pub attack: String,
    /// How choices were paid for ("fixed", "bonferroni", "held_out", plus attack maxima).
    pub selection: String,
    /// Counts and method detail.
    #[serde(flatten)]
    pub detail: BoundDetail,
    /// Caveats a reader must know.
    pub notes: Vec<String>,
}

/// Per-subject membership scores of every attack, in table order of the target's rows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerRecordScores {
    /// Row kind names.
    pub kind: Vec<String>,
    /// Ids.
    pub id: Vec<u64>,
    /// Truth under the target (None when unknown).
    pub member: Vec<Option<bool>>,
    /// Attack name → score per subject (higher = member).
    pub scores: BTreeMap<String, Vec<f64>>,
}

/// The whole membership audit of one target model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MembershipAudit {
    /// Target model.
    pub target: String,
    /// Shadow/reference models used.
    pub shadow_models: Vec<String>,
    /// Attack name → result.
    pub attacks: BTreeMap<String, AttackResult>,
    /// The attack the headline bounds use (fixed by data availability, not by results); empty
    /// when the target's truth is unknown.
    pub primary_attack: String,
    /// Method → bound (`clopper_pearson`, `one_run`, and the Bonferroni-paid `*_best_attack`).
    pub epsilon_lower_bounds: BTreeMap<String, EpsilonBound>,
    /// Per-subject scores (for `--per-record` and `scores.parquet` consumers).
    #[serde(skip)]
    pub per_record: PerRecordScores,
    /// Warnings and notes about the data and fallbacks.
    pub warnings: Vec<String>,
}

/// Subjects of the target model and the aligned shadow data.
struct Aligned {
    kind: Vec<RowKind>,
    id: Vec<u64>,
    member: Vec<Option<bool>>,
    queries: usize,
    shadow_models: Vec<String>,
    /// Row indices in the table: target[subject][query], shadow[subject][model][query].
    target_rows: Vec<usize>,
    shadow_rows: Vec<Option<usize>>,
}

fn align(table: &ScoreTable, target: &str, shadows: Option<&[String]>) -> Result<Aligned> {
    let queries = table.query.iter().copied().max().map_or(1, |q| q as usize + 1);
    let present = table.models();
    if let Some(missing) = shadows.and_then(|s| s.iter().find(|m| !present.contains(m))) {
        return Err(AttackError::NotEnoughData(format!("shadow model {missing:?} has no rows (models in the table: {present:?})")));
    }
    let shadow_models: Vec<String> =
        present.into_iter().filter(|m| m != target && shadows.is_none_or(|s| s.contains(m))).collect();
    let model_index: HashMap<&str, usize> = shadow_models.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
    let mut subject_index: HashMap<(RowKind, u64), usize> = HashMap::new();
    let (mut kind, mut id, mut member) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..table.len() {
        if table.model[i] == target {
            let key = (table.kind[i], table.id[i]);
            if !subject_index.contains_key(&key) {
                subject_index.insert(key, kind.len());
                kind.push(key.0);
                id.push(key.1);
                member.push(table.member[i]);
            }
        }
    }
    if kind.is_empty() {
        return Err(AttackError::NotEnoughData(format!(
            "no rows for target model {target:?} (models in the table: {:?})",
            table.models()
        )));
    }
    let n = kind.len();
    let nm = shadow_models.len();
    let mut target_rows = vec![usize::MAX; n * queries];
    let mut shadow_rows = vec![None; n * nm * queries];
    for i in 0..table.len() {
        let Some(&s) = subject_index.get(&(table.kind[i], table.id[i])) else { continue };
        let q = table.query[i] as usize;
        if table.model[i] == target {
            target_rows[s * queries + q] = i;
        } else if let Some(&m) = model_index.get(table.model[i].as_str()) {
            shadow_rows[(s * nm + m) * queries + q] = Some(i);
        }
    }
    if let Some(pos) = target_rows.iter().position(|&r| r == usize::MAX) {
        return Err(AttackError::Shape(format!(
            "target {target:?} lacks query {} of {} {}",
            pos % queries,
            kind[pos / queries].as_str(),
            id[pos / queries]
        )));
    }
    Ok(Aligned { kind, id, member, queries, shadow_models, target_rows, shadow_rows })
}

impl Aligned {
    fn target_values(&self, col: &[f64]) -> Vec<f64> {
        self.target_rows.iter().map(|&r| col[r]).collect()
    }

    fn shadows(&self, table: &ScoreTable, col: &[f64]) -> Result<ShadowScores> {
        let (n, nm, q) = (self.kind.len(), self.shadow_models.len(), self.queries);
        let mut scores = vec![0.0; n * nm * q];
        let mut roles = vec![ShadowRole::Absent; n * nm];
        for s in 0..n {
            for m in 0..nm {
                let rows: Vec<Option<usize>> = (0..q).map(|a| self.shadow_rows[(s * nm + m) * q + a]).collect();
                // A shadow counts only with every query scored, known membership and no NaN.
                let usable = rows.iter().all(|r| r.is_some_and(|r| table.member[r].is_some() && !col[r].is_nan()));
                if usable {
                    let first = rows[0].expect("checked above");
                    roles[s * nm + m] = if table.member[first] == Some(true) { ShadowRole::In } else { ShadowRole::Out };
                    for (a, r) in rows.iter().enumerate() {
                        scores[(s * nm + m) * q + a] = col[r.expect("checked above")];
                    }
                }
            }
        }
        ShadowScores::new(n, nm, q, scores, roles)
    }
}

fn mean_per_subject(values: &[f64], q: usize) -> Vec<f64> {
    values.chunks(q).map(|c| c.iter().sum::<f64>() / q as f64).collect()
}

/// Runs every available attack on the target model of `table`, their metrics and the ε lower
/// bounds. `progress(done, total)` is called after each step.
pub fn audit_membership(
    table: &ScoreTable,
    options: &AuditOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<MembershipAudit> {
    table.validate()?;
    options.rmia.validate()?;
    if !(0.0..1.0).contains(&options.delta) {
        return Err(AttackError::invalid("delta", options.delta, "must lie in [0, 1)"));
    }
    if !(options.confidence > 0.0 && options.confidence < 1.0) {
        return Err(AttackError::invalid("confidence", options.confidence, "must lie in (0, 1)"));
    }
    if options.canary_repetitions == 0 {
        return Err(AttackError::invalid("canary repetitions", 0, "must be ≥ 1"));
    }
    let al = align(table, &options.target, options.shadows.as_deref())?;
    let q = al.queries;
    let total_steps = 3 + options.single_scores.len() as u64;
    let mut step = 0u64;
    let mut tick = |progress: &mut dyn FnMut(u64, u64)| {
        step += 1;
        progress(step, total_steps);
    };
    let mut warnings = Vec::new();
    let mut scores: BTreeMap<String, (String, Vec<f64>)> = BTreeMap::new();

    for (name, col) in &options.single_scores {
        if let Some(values) = table.column(col) {
            let v = mean_per_subject(&al.target_values(values), q);
            if v.iter().any(|x| x.is_nan()) {
                warnings.push(format!("attack {name}: column {col:?} is missing for some target rows; skipped"));
            } else {
                scores.insert(name.clone(), (format!("threshold on the target's {col:?} column (higher = member)"), v));
            }
        }
        tick(progress);
    }

    if !al.shadow_models.is_empty() {
        if let Some(values) = table.column(&options.lira_column) {
            let target = al.target_values(values);
            if target.iter().any(|x| x.is_nan()) {
                warnings.push(format!("LiRA skipped: column {:?} is missing for some target rows", options.lira_column));
            } else {
                let shadows = al.shadows(table, values)?;
                let variance = options.lira_variance.unwrap_or_else(|| LiraVariance::auto(shadows.models()));
                let out = lira(&shadows, &target, &LiraOptions { variance, location: Location::Median })?;
                let var_name = match variance {
                    LiraVariance::Global => "global",
                    LiraVariance::PerExample => "per-example",
                };
                warnings.extend(out.warnings.iter().map(|w| format!("LiRA: {w}")));
                if let Some(online) = out.online {
                    scores.insert(
                        "lira_online".into(),
                        (format!("LiRA online (Carlini et al. 2022), {} shadows, {var_name} variance, median location", shadows.models()), online),
                    );
                }
                scores.insert(
                    "lira_offline".into(),
                    (format!("LiRA offline one-sided (Carlini et al. 2022), {var_name} variance"), out.offline),
                );
            }
        }
    }
    tick(progress);

    if let (Some(col), false) = (&options.rmia_column, al.shadow_models.is_empty()) {
        if let Some(values) = table.column(col) {
            match run_rmia(table, &al, values, &options.rmia, options.rmia_tune_a) {
                Ok((s, a, mut w)) => {
                    warnings.append(&mut w);
                    scores.insert(
                        "rmia".into(),
                        (format!("RMIA offline (Zarifzadeh et al. 2024), a = {a}, γ = {}", options.rmia.gamma), s),
                    );
                }
                Err(e) => warnings.push(format!("RMIA skipped: {e}")),
            }
        }
    }
    tick(progress);

    // Metrics on records with known truth (on canaries when a table has no such records).
    let pick = |kind: RowKind| -> Vec<usize> {
        (0..al.kind.len()).filter(|&s| al.kind[s] == kind && al.member[s].is_some()).collect()
    };
    let mut eval_rows = pick(RowKind::Record);
    if eval_rows.is_empty() {
        eval_rows = pick(RowKind::Canary);
    }
    let canary_rows = pick(RowKind::Canary);
    let (one_run_rows, audited) = if canary_rows.is_empty() { (eval_rows.clone(), "records") } else { (canary_rows, "canaries") };
    let eval_members: Vec<bool> = eval_rows.iter().map(|&s| al.member[s] == Some(true)).collect();
    let mut attacks = BTreeMap::new();
    for (name, (description, s)) in &scores {
        let sub: Vec<f64> = eval_rows.iter().map(|&i| s[i]).collect();
        match attack_metrics(&sub, &eval_members, options.bootstrap) {
            Ok(metrics) => {
                attacks.insert(name.clone(), AttackResult { description: description.clone(), metrics });
            }
            Err(e) => warnings.push(format!("attack {name}: no metrics: {e}")),
        }
    }
    if scores.is_empty() {
        return Err(AttackError::NotEnoughData(format!("no attack could run on target {:?}: {warnings:?}", options.target)));
    }
    let primary = ["lira_online", "lira_offline", "rmia", "loss"]
        .iter()
        .map(|s| s.to_string())
        .chain(scores.keys().cloned())
        .find(|n| attacks.contains_key(n));
    let bounds = match &primary {
        Some(p) => compute_bounds(&scores, &attacks, p, &eval_rows, &eval_members, &one_run_rows, audited, &al, options, &mut warnings),
        None => {
            // Only verdicts were asked for (no truth for the target): per-record scores, no metrics.
            warnings.push("no membership truth for the target's records: per-record scores only, no metrics or bounds".into());
            BTreeMap::new()
        }
    };
    tick(progress);

    let per_record = PerRecordScores {
        kind: al.kind.iter().map(|k| k.as_str().to_string()).collect(),
        id: al.id.clone(),
        member: al.member.clone(),
        scores: scores.into_iter().map(|(k, (_, v))| (k, v)).collect(),
    };
    Ok(MembershipAudit {
        target: options.target.clone(),
        shadow_models: al.shadow_models.clone(),
        attacks,
        primary_attack: primary.unwrap_or_default(),
        epsilon_lower_bounds: bounds,
        per_record,
        warnings,
    })
}

fn run_rmia(table: &ScoreTable, al: &Aligned, values: &[f64], opts: &RmiaOptions, tune: bool) -> Result<(Vec<f64>, f64, Vec<String>)> {
    let q = al.queries;
    let target = mean_per_subject(&al.target_values(values), q);
    if let Some(bad) = target.iter().find(|v| !(**v <= 0.0)) {
        return Err(AttackError::BadScore(format!("score {bad} is not a log-probability (must be ≤ 0)")));
    }
    let refs = al.shadows(table, values)?;
    let p_out = mean_out_probability(&refs);
    let mut fallback = 0usize;
    let p: Vec<f64> = p_out
        .iter()
        .enumerate()
        .map(|(s, po)| {
            po.unwrap_or_else(|| {
                // No OUT reference: the mean over every reference (over-estimates P(x): conservative).
                fallback += 1;
                let (mut sum, mut k) = (0.0, 0);
                for m in 0..refs.models() {
                    if refs.role(s, m) != ShadowRole::Absent {
                        sum += (refs.score(s, m).iter().sum::<f64>() / q as f64).exp();
                        k += 1;
                    }
                }
                if k == 0 { f64::NAN } else { sum / k as f64 }
            })
        })
        .collect();
    if p.iter().any(|v| v.is_nan()) {
        return Err(AttackError::NotEnoughData("some audited subjects have no reference-model score".into()));
    }
    let mut warnings = Vec::new();
    if fallback > 0 {
        warnings.push(format!("RMIA: {fallback} subjects had no OUT reference model; P(x) used every reference model"));
    }
    let mut pop: Vec<usize> = (0..al.kind.len()).filter(|&s| al.kind[s] == RowKind::Population).collect();
    if pop.is_empty() {
        pop = (0..al.kind.len()).filter(|&s| al.kind[s] == RowKind::Record).collect();
        warnings.push("RMIA: no population rows; the audited records themselves serve as the population z".into());
    }
    let mut opts = *opts;
    if tune {
        let grid: Vec<f64> = (0..=20).map(|i| i as f64 / 20.0).collect();
        match tune_offline_a(&refs, 0, &pop, &grid, opts.gamma) {
            Ok((a, auc)) => {
                opts.a = a;
                warnings.push(format!("RMIA: a = {a} tuned on reference model {:?} (its AUC {auc:.4})", al.shadow_models[0]));
            }
            Err(e) => warnings.push(format!("RMIA: a not tuned ({e}); using a = {}", opts.a)),
        }
    }
    let tz: Vec<f64> = pop.iter().map(|&s| target[s]).collect();
    let pz: Vec<f64> = pop.iter().map(|&s| p[s]).collect();
    Ok((rmia_offline(&target, &p, &tz, &pz, &opts)?, opts.a, warnings))
}

#[allow(clippy::too_many_arguments)]
fn compute_bounds(
    scores: &BTreeMap<String, (String, Vec<f64>)>,
    attacks: &BTreeMap<String, AttackResult>,
    primary: &str,
    eval_rows: &[usize],
    eval_members: &[bool],
    one_run_rows: &[usize],
    audited: &str,
    al: &Aligned,
    options: &AuditOptions,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, EpsilonBound> {
    let mut out = BTreeMap::new();
    let (delta, conf) = (options.delta, options.confidence);
    let cp_note = "records of one training run are not independent trials of the mechanism: this Clopper–Pearson figure is the customary heuristic; the one-run bound is the one valid for a single training run".to_string();
    let mut group_note = Vec::new();
    if options.canary_repetitions > 1 {
        group_note.push(format!(
            "each canary was inserted {} times: compare with the group guarantee for {} records ((rε, r·e^((r−1)ε)·δ) or tighter from the accountant), not with ε",
            options.canary_repetitions, options.canary_repetitions
        ));
    }
    let one_run_members: Vec<bool> = one_run_rows.iter().map(|&s| al.member[s] == Some(true)).collect();
    // A canary inserted r times is a group of r units: its bound is stated at the group's δ.
    let one_run_delta = if audited == "canaries" { options.canary_delta.unwrap_or(delta) } else { delta };
    let cp = |attack: &str, confidence: f64| {
        let sub: Vec<f64> = eval_rows.iter().map(|&i| scores[attack].1[i]).collect();
        clopper_pearson_from_scores(&sub, eval_members, delta, confidence, &options.thresholds)
    };
    let one_run = |attack: &str, confidence: f64| {
        let sub: Vec<f64> = one_run_rows.iter().map(|&i| scores[attack].1[i]).collect();
        one_run_from_scores(&sub, &one_run_members, one_run_delta, confidence, &options.guesses)
    };
    let cp_bound = |b: crate::bounds::ScoreThresholdBound, attack: String, selection: String| EpsilonBound {
        epsilon: b.bound.epsilon,
        confidence: b.bound.confidence,
        delta,
        attack,
        selection,
        detail: BoundDetail::ClopperPearson {
            counts: b.bound.counts,
            threshold: b.threshold,
            thresholds_tried: b.thresholds_tried,
            fpr_upper: b.bound.fpr_upper,
            fnr_upper: b.bound.fnr_upper,
        },
        notes: vec![cp_note.clone()],
    };
    let or_bound = |b: crate::bounds::OneRunBound, attack: String, selection: String| EpsilonBound {
        epsilon: b.epsilon,
        confidence: b.confidence,
        delta: one_run_delta,
        attack,
        selection,
        detail: BoundDetail::OneRun { counts: b.counts, choices_paid: b.choices_paid, audited: audited.to_string() },
        notes: group_note.clone(),
    };
    match cp(primary, conf) {
        Ok(b) => {
            let sel = b.selection.clone();
            out.insert("clopper_pearson".to_string(), cp_bound(b, primary.to_string(), sel));
        }
        Err(e) => warnings.push(format!("clopper_pearson bound not computed: {e}")),
    }
    match one_run(primary, conf) {
        Ok(b) => {
            let sel = b.selection.clone();
            out.insert("one_run".to_string(), or_bound(b, primary.to_string(), sel));
        }
        Err(e) => warnings.push(format!("one_run bound not computed: {e}")),
    }
    // The maximum over attacks pays Bonferroni over the attacks compared.
    let names: Vec<&String> = attacks.keys().collect();
    if names.len() > 1 {
        let per_attack = 1.0 - (1.0 - conf) / names.len() as f64;
        let label = |n: &str| format!("{n} (best of {} attacks: {})", names.len(), names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "));
        let sel = |s: &str| format!("{s} + bonferroni over {} attacks", names.len());
        let best_cp = names.iter().filter_map(|n| cp(n, per_attack).ok().map(|b| (n, b))).max_by(|a, b| a.1.bound.epsilon.total_cmp(&b.1.bound.epsilon));
        if let Some((n, mut b)) = best_cp {
            b.bound.confidence = conf;
            let s = sel(&b.selection);
            out.insert("clopper_pearson_best_attack".into(), cp_bound(b, label(n), s));
        }
        let best_or = names.iter().filter_map(|n| one_run(n, per_attack).ok().map(|b| (n, b))).max_by(|a, b| a.1.epsilon.total_cmp(&b.1.epsilon));
        if let Some((n, mut b)) = best_or {
            b.confidence = conf;
            let s = sel(&b.selection);
            out.insert("one_run_best_attack".into(), or_bound(b, label(n), s));
        }
    }
    out
}
