//! Steps 5–7: membership attacks with ε lower bounds and canary exposure per target model,
//! extraction tests, and the white-box engine audit. Each writes a JSON file under `analysis/`.

use std::collections::HashMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use vg_attacks::membership_audit::{audit_membership, AuditOptions, MembershipAudit};
use vg_attacks::exposure::{compute_exposures, ExposureCanary, ExposureReference, ExposureReport, DEFAULT_MIN_REFERENCES_FOR_FIT};
use vg_attacks::mia::lira::LiraVariance;
use vg_attacks::score_table::{RowKind, ScoreTable};
use vg_canaries::CanarySet;
use vg_training::ModelJson;

use super::steps::DP_MODEL;
use super::Pipeline;
use crate::progress;

/// What the attacks step stores per target model.
#[derive(Serialize, Deserialize)]
pub struct TargetAnalysis {
    /// Attacks, metrics and ε lower bounds.
    pub membership: MembershipAudit,
    /// Canary exposure (None when the model has no canary rows).
    pub exposure: Option<ExposureReport>,
    /// ROC points and score samples for the report's plots.
    pub plots: PlotData,
    /// The shadow set LiRA and RMIA used (`dp` or `non-private`; None: no shadows).
    #[serde(default)]
    pub shadow_set: Option<String>,
}

/// Plot inputs kept beside the figures (so `vg-audit report` can redraw without rescoring).
#[derive(Default, Serialize, Deserialize)]
pub struct PlotData {
    /// Attack → (FPR, TPR) points of its ROC curve.
    pub roc: Vec<(String, Vec<(f64, f64)>)>,
    /// Attack → member scores and non-member scores.
    pub histograms: Vec<(String, Vec<f64>, Vec<f64>)>,
}

/// The DP model's (ε, δ): the bounds of every target are stated at its δ, so they compare
/// (ε = ∞ and δ = 1e-5 when there is no DP model).
fn audit_guarantee(p: &Pipeline) -> anyhow::Result<(f64, f64)> {
    let info = ModelJson::load(&p.dir.join("models").join(DP_MODEL))?;
    Ok(info.dp.map(|d| (d.epsilon, d.delta)).unwrap_or((f64::INFINITY, 1e-5)))
}

/// δ of bounds on canaries inserted `r` times: the group guarantee's δ, r·e^((r−1)ε)·δ.
fn canary_delta(epsilon: f64, delta: f64, r: u32) -> Option<f64> {
    (r > 1 && epsilon.is_finite()).then(|| vg_accounting::group_privacy(epsilon, delta, u64::from(r)).map(|(_, d)| d.min(0.999)).unwrap_or(0.999))
}

/// Runs the membership audit of `target` with `opts` (progress bar), adds the plot data and the
/// canary exposure, and writes `analysis/attacks-<target>.json` (run and `audit --model` alike).
pub(super) fn analyse_target(
    p: &Pipeline,
    table: &ScoreTable,
    target: &str,
    opts: &AuditOptions,
    exposure: Option<ExposureReport>,
    shadow_set: Option<String>,
) -> anyhow::Result<TargetAnalysis> {
    let bar = progress::bar(0, &format!("attacks {target}"), "steps");
    let membership = audit_membership(table, opts, &mut |d, t| {
        bar.set_length(t);
        bar.set_position(d);
    })
    .with_context(|| format!("membership audit of {target}"))?;
    bar.finish_and_clear();
    let plots = plot_data(&membership);
    let analysis = TargetAnalysis { membership, exposure, plots, shadow_set };
    let path = p.dir.join(format!("analysis/attacks-{target}.json"));
    vg_corpora::fsutil::atomic_write(&path, serde_json::to_string_pretty(&analysis)?.as_bytes())?;
    Ok(analysis)
}

/// Step 5: every attack on every target model, plus canary exposure. A DP-SGD-trained target is
/// attacked with the DP shadow set when the run trained one, every other with the non-private set.
pub fn attack_all(p: &Pipeline, targets: &[String], shadows: &[String], canaries: &CanarySet) -> anyhow::Result<()> {
    let table = ScoreTable::read_parquet(&p.dir.join("scores.parquet"))?;
    let (epsilon, delta) = audit_guarantee(p)?;
    let families: HashMap<u64, (&str, f64)> =
        canaries.canaries.iter().map(|c| (c.id, (c.family.as_str(), c.secret_space_log2))).collect();
    std::fs::create_dir_all(p.dir.join("analysis"))?;
    for target in targets {
        let mut opts = AuditOptions::for_run(target);
        // A model without a guarantee has no group guarantee either: its canary bounds stay at δ.
        let private = ModelJson::load(&p.dir.join("models").join(target))?.dp.is_some();
        let (set, set_models) = match super::shadows::set_for(private, shadows) {
            Some((name, models)) => (Some(name.to_string()), models),
            None => (None, Vec::new()),
        };
        opts.shadows = Some(set_models.clone());
        opts.delta = delta;
        opts.confidence = p.cfg.attacks.confidence;
        opts.canary_repetitions = p.cfg.canaries.repetitions;
        opts.canary_delta = if private { canary_delta(epsilon, delta, p.cfg.canaries.repetitions) } else { None };
        opts.rmia.a = p.cfg.attacks.rmia_a;
        opts.rmia.gamma = p.cfg.attacks.rmia_gamma;
        opts.lira_variance = match p.cfg.attacks.lira_variance.as_deref() {
            Some("per-example") => Some(LiraVariance::PerExample),
            Some(_) => Some(LiraVariance::Global),
            None => None,
        };
        if set_models.is_empty() {
            opts.single_scores.retain(|(n, _)| n != "reference_calibrated");
        }
        let exposure = exposure_of(&table, target, &families)?;
        let analysis = analyse_target(p, &table, target, &opts, exposure, set.clone())?;
        let one_run = analysis.membership.epsilon_lower_bounds.get("one_run").map(|b| b.epsilon);
        p.say(&format!(
            "  {target}: primary attack {}, one-run ε lower bound {}{}",
            analysis.membership.primary_attack,
            one_run.map_or("n/a".into(), |e| format!("{e:.3}")),
            set.map(|s| format!(" ({s} shadows)")).unwrap_or_default()
        ));
    }
    Ok(())
}

/// Exposure of the inserted canaries against the reference canaries (score: total log-prob).
fn exposure_of(
    table: &ScoreTable,
    target: &str,
    families: &HashMap<u64, (&str, f64)>,
) -> anyhow::Result<Option<ExposureReport>> {
    let col = table.column("total_logprob").context("scores.parquet lacks total_logprob")?;
    let (mut cands, mut refs) = (Vec::new(), Vec::new());
    for i in 0..table.len() {
        if table.model[i] != target {
            continue;
        }
        let Some(&(family, bits)) = families.get(&table.id[i]) else { continue };
        match table.kind[i] {
            RowKind::Canary => cands.push(ExposureCanary {
                id: table.id[i],
                family: family.to_string(),
                included: table.member[i] == Some(true),
                score: col[i],
                secret_space_log2: bits,
            }),
            RowKind::ReferenceCanary => refs.push(ExposureReference { family: family.to_string(), score: col[i] }),
            _ => {}
        }
    }
    if cands.is_empty() || refs.is_empty() {
        return Ok(None);
    }
    Ok(Some(compute_exposures(&cands, &refs, DEFAULT_MIN_REFERENCES_FOR_FIT)?))
}

/// ROC points and member/non-member score samples of every attack, from the per-record scores.
pub(super) fn plot_data(m: &MembershipAudit) -> PlotData {
    let pr = &m.per_record;
    let mut data = PlotData::default();
    for (attack, scores) in &pr.scores {
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for (i, s) in scores.iter().enumerate() {
            if pr.kind[i] != "record" {
                continue;
            }
            match pr.member[i] {
                Some(true) => pos.push(*s),
                Some(false) => neg.push(*s),
                None => {}
            }
        }
        if pos.is_empty() || neg.is_empty() {
            continue;
        }
        let labels: Vec<bool> = std::iter::repeat_n(true, pos.len()).chain(std::iter::repeat_n(false, neg.len())).collect();
        let all: Vec<f64> = pos.iter().chain(neg.iter()).copied().collect();
        if let Ok(roc) = vg_attacks::metrics::Roc::from_scores(&all, &labels) {
            data.roc.push((attack.clone(), (0..roc.len()).map(|i| (roc.fpr(i), roc.tpr(i))).collect()));
        }
        data.histograms.push((attack.clone(), pos, neg));
    }
    data
}

/// The extraction settings of `[extraction]`, seeded by the run seed (run and `audit --model` alike).
pub(super) fn extraction_options(p: &Pipeline) -> vg_attacks::extraction::ExtractionOptions {
    let x = &p.cfg.extraction;
    let mut opts = vg_attacks::extraction::ExtractionOptions::default();
    opts.memorization.prefix_tokens = x.prefix_tokens;
    opts.memorization.suffix_tokens = x.suffix_tokens;
    opts.memorization.prompts = x.prompts;
    opts.memorization.seed = p.cfg.run.seed;
    opts.canaries.top_k = x.top_k;
    opts.canaries.seed = p.cfg.run.seed;
    opts.generation.generations = x.generations;
    opts.generation.tokens = x.generation_tokens;
    opts.generation.top_k = x.top_k;
    opts.generation.min_span_tokens = x.min_verbatim_tokens;
    opts.generation.seed = p.cfg.run.seed;
    opts.show_extracted = x.show_extracted;
    opts
}

/// Step 6: extraction tests (memorization, verbatim search, fragment search) on every target.
pub fn extract_all(
    p: &Pipeline,
    targets: &[String],
    corpus: &vg_corpora::PreparedCorpus,
    canaries: &CanarySet,
) -> anyhow::Result<()> {
    let setup = crate::extraction::ExtractionSetup::new(corpus, Some(canaries), p.cfg.corpus.pii_key.as_deref())?;
    let opts = extraction_options(p);
    opts.memorization.validate()?;
    opts.canaries.validate()?;
    std::fs::create_dir_all(p.dir.join("analysis"))?;
    for target in targets {
        let model = crate::adapters::TrainedModel::load(&p.dir.join("models").join(target))?;
        let report = setup.run(target, &model, &opts)?;
        let path = p.dir.join(format!("analysis/extraction-{target}.json"));
        vg_corpora::fsutil::atomic_write(&path, serde_json::to_string_pretty(&report)?.as_bytes())?;
        p.say(&format!(
            "  {target}: exact memorization {:.3} ({} prompts), {} generations with verbatim spans ≥ {}, {} fragment hits",
            report.exact_rate, report.prompts, report.verbatim_generations, report.verbatim_min_tokens, report.fragment_hits
        ));
    }
    Ok(())
}

/// Step 7: the white-box gradient-canary audit of the DP-SGD engine (`vg-audit audit-engine`),
/// at the DP model's preset, vocabulary, C, σ, q, δ and accountant, on its training examples.
pub fn engine_audit(p: &Pipeline, data: &super::steps::TrainingData) -> anyhow::Result<()> {
    use crate::engine_audit::{audit, Noise, Settings};
    let e = &p.cfg.engine_audit;
    let info = vg_training::ModelJson::load(&p.dir.join("models").join(super::steps::DP_MODEL))?;
    let dp = info.dp.as_ref().context("the DP model's model.json has no dp record")?;
    let sched = super::plan::schedule(p, true)?;
    let examples: Vec<Vec<u32>> = data.target_examples().iter().map(|t| vg_training::model_input(t, info.architecture.context_length)).collect();
    let settings = Settings {
        preset: sched.preset.clone(),
        model: info.architecture.clone(),
        clip_norm: dp.clip_norm,
        noise: Noise::Multiplier(dp.noise_multiplier),
        sampling_rate: dp.sampling_rate,
        accountant: dp.accountant,
        delta: dp.delta,
        steps: e.steps as u64,
        canaries: e.canaries,
        learning_rate: info.train_config.lr,
        micro_batch_size: info.train_config.micro_batch_size,
        observation: crate::engine_audit::Observation::Sum,
        seed: p.cfg.run.seed,
        noise_seed: p.cfg.run.insecure_seed,
        confidence: 0.95,
        ideal_trials: 5,
        tensor: Some("wte".to_string()),
    };
    let bar = progress::bar(e.steps as u64, "engine audit", "steps");
    let report = audit(&settings, &examples, &|b| b, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    std::fs::create_dir_all(p.dir.join("analysis"))?;
    vg_corpora::fsutil::atomic_write(p.dir.join("analysis/engine-audit.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    let bound = |m: &str| report.lower_bounds.get(m).map_or("n/a".into(), |b| format!("{:.3}", b.epsilon));
    p.say(&format!(
        "  engine audit (DP model's C, σ, q; T = {}, {} canaries): theoretical ε {:.3}; one-run {} · f-DP {} (ceiling {:.3})",
        report.steps,
        report.canaries,
        report.theoretical_epsilon,
        bound("one_run"),
        bound("fdp_one_run"),
        report.ceiling_epsilon
    ));
    Ok(())
}
