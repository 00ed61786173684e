//! Step 8–9: `summary.json` (schema version 1), the report's plot data, `report.html`,
//! `model-card.md`, and the gate. Everything is read back from the run directory's files, so
//! `vg-audit report DIR` and a resumed run render the same thing.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;
use vg_canaries::CanarySet;
use vg_corpora::PreparedCorpus;
use vg_reports::{
    BoundSummary, Comparison, Cost, DpParams, EngineAudit, EngineBound, EngineMechanism, ExposureStats, ExposureSummary, ExtractionExample,
    GateOutcome, Machine, Memorization, MiaResult, ModelSummary, RateInterval, ReportData, RocCurve, RunMetadata,
    ScoreSamples, ShadowDp, ShadowSet, Summary, TrainingCurve, Utility, SCHEMA_VERSION,
};
use vg_attacks::extraction::MemorizationReport;
use vg_training::ModelJson;

use super::analysis::TargetAnalysis;
use crate::engine_audit::Report as EngineAuditReport;
use super::Pipeline;

/// Builds the summary and the report data from the run directory's files.
pub fn build(
    p: &Pipeline,
    corpus: &PreparedCorpus,
    canaries: &CanarySet,
    targets: &[String],
    shadows: &[String],
    started_at: &str,
) -> anyhow::Result<(Summary, ReportData)> {
    let mut data = ReportData { manifest: serde_json::to_value(corpus.manifest())?, ..ReportData::default() };
    let mut models = Vec::new();
    let r = u64::from(canaries.repetitions);
    let held_out = corpus.population().iter().take(super::steps::EVAL_RECORDS);
    let bytes_per_token = vg_training::scaling::bytes_per_token(held_out.map(|e| (e.text.len(), e.tokens.len())));
    for name in targets {
        let info = ModelJson::load(&p.dir.join("models").join(name))?;
        let analysis: TargetAnalysis = read_json(&p.dir.join(format!("analysis/attacks-{name}.json")))?;
        let extraction: Option<MemorizationReport> = read_optional(&p.dir.join(format!("analysis/extraction-{name}.json")))?;
        models.push(model_summary(name, &info, &analysis, extraction.as_ref(), r, bytes_per_token));
        collect_plots(&mut data, name, &info, &analysis);
        if let Some(x) = &extraction {
            collect_examples(&mut data, name, x);
        }
    }
    let engine: Option<EngineAuditReport> = read_optional(&p.dir.join("analysis/engine-audit.json"))?;
    let mut seeds = BTreeMap::from([
        ("run".to_string(), p.cfg.run.seed),
        ("shadow_split".to_string(), super::steps::shadow_split_seed(p.cfg.run.seed)),
    ]);
    if let Some(s) = p.cfg.run.insecure_seed {
        seeds.insert("insecure_noise_seed".into(), s);
    }
    let plan = plan_summary(p, &models)?;
    let summary = Summary {
        plan,
        schema_version: SCHEMA_VERSION,
        run: RunMetadata {
            tool: "vg-audit".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            config_sha256: p.config_sha256.clone(),
            corpus_manifest_sha256: corpus.manifest_sha256(),
            corpus_identity_sha256: Some(corpus.identity_sha256()),
            tokenizer_sha256: Some(corpus.tokenizer_sha256()),
            seeds,
            started_at: started_at.to_string(),
            finished_at: super::log::now_rfc3339(),
            machine: machine(),
            quick: p.cfg.run.quick,
            insecure_seed: p.cfg.run.insecure_seed.is_some(),
            show_extracted: p.cfg.extraction.show_extracted,
        },
        models,
        shadow_models: shadow_sets(p, shadows)?,
        engine_audit: engine.as_ref().map(engine_summary),
        gate: None,
        external_audit: None,
        synthetic: synthetic_summary(&p.dir)?,
    };
    // A verdict without being asked: the default release policy until a policy file replaces it.
    let verdict = vg_reports::release_policy::default_release_verdict(&summary);
    Ok((with_verdict(summary, verdict), data))
}

/// Each shadow set of the run with its models and, for the DP set, the DP-SGD settings its
/// model.json files record (σ, C, learning rate and steps are the DP model's; q their mean).
fn shadow_sets(p: &Pipeline, shadows: &[String]) -> anyhow::Result<Vec<ShadowSet>> {
    use super::shadows::{members, DP_SET, NON_PRIVATE_SET};
    let mut sets = Vec::new();
    for name in [NON_PRIVATE_SET, DP_SET] {
        let models = members(shadows, name);
        if models.is_empty() {
            continue;
        }
        let infos = models.iter().map(|m| ModelJson::load(&p.dir.join("models").join(m))).collect::<Result<Vec<_>, _>>()?;
        let losses: Vec<f64> = infos.iter().filter_map(|i| i.metrics.eval_loss).collect();
        let records: Vec<&vg_training::DpRecord> = infos.iter().filter_map(|i| i.dp.as_ref()).collect();
        let dp = match (records.first(), records.len() == infos.len()) {
            (Some(d), true) => Some(ShadowDp {
                noise_multiplier: d.noise_multiplier,
                sampling_rate: records.iter().map(|r| r.sampling_rate).sum::<f64>() / records.len() as f64,
                clip_norm: d.clip_norm,
                learning_rate: infos[0].train_config.lr,
                steps: d.steps,
            }),
            (None, _) => None,
            (Some(_), false) => anyhow::bail!("shadow set {name}: some of its models trained with DP-SGD and some without"),
        };
        let description = if dp.is_some() {
            "each trained with DP-SGD at the σ, C, learning rate and steps of the DP model, its expected batch q·N \
             rounded, noise drawn like the DP model's, on the same recorded halves as the non-private set"
        } else {
            "each trained on a recorded random half of the candidate pool and the candidate canaries, so that every \
             subject is IN for exactly half of them"
        };
        sets.push(ShadowSet {
            name: name.to_string(),
            private: dp.is_some(),
            models,
            description: description.into(),
            mean_eval_loss: (!losses.is_empty()).then(|| losses.iter().sum::<f64>() / losses.len() as f64),
            dp,
        });
    }
    Ok(sets)
}

/// The DP model's plan next to what it achieved, when the run planned.
fn plan_summary(p: &Pipeline, models: &[vg_reports::ModelSummary]) -> anyhow::Result<Option<vg_reports::TrainingPlan>> {
    let Some(rp) = super::plan::load(p)? else { return Ok(None) };
    let achieved = models.iter().find(|m| m.name == super::steps::DP_MODEL).and_then(|m| m.utility.as_ref());
    let b = &rp.plan.best;
    Ok(Some(vg_reports::TrainingPlan {
        law: rp.law.clone(),
        compute_flops: b.compute_flops,
        tokens_per_sequence: Some(b.context),
        preset: b.preset.clone(),
        params: b.params,
        batch_size: b.batch_size,
        steps: b.steps,
        noise_multiplier: b.noise_multiplier,
        sigma_bar: b.sigma_bar,
        predicted_eval_loss: b.predicted_eval_loss,
        predicted_bits_per_byte: vg_training::scaling::bits_per_byte(b.predicted_eval_loss, rp.bytes_per_token),
        achieved_eval_loss: achieved.map(|u| u.eval_loss),
        achieved_bits_per_byte: achieved.and_then(|u| u.bits_per_byte),
        non_private_predicted_eval_loss: rp.plan.non_private.as_ref().map(|n| n.predicted_eval_loss),
    }))
}

fn model_summary(name: &str, info: &ModelJson, a: &TargetAnalysis, extraction: Option<&MemorizationReport>, r: u64, bytes_per_token: f64) -> ModelSummary {
    let dp = info.dp.as_ref().map(|d| DpParams {
        epsilon: d.epsilon,
        delta: d.delta,
        noise_multiplier: d.noise_multiplier,
        sampling_rate: d.sampling_rate,
        steps: d.steps,
        clip_norm: d.clip_norm,
        accountant: d.accountant.to_string(),
        neighbouring: d.neighbouring.to_string(),
        truncation_note: (d.sampler != vg_accounting::Sampler::Poisson)
            .then(|| format!("ε accounts for {} (truncated-Poisson PLD, arXiv:2508.15089)", d.sampler.describe())),
    });
    // Records meet the per-record guarantee; canaries repeated r times the group guarantee; a
    // student the guarantee it inherits from its teacher.
    let comparison = match info.train_config.distill.as_ref().map(|d| &d.guarantee) {
        Some(g) => inherited_comparison(g),
        None => comparison_for(dp.as_ref(), 1),
    };
    let utility = info.metrics.eval_loss.map(|l| Utility { eval_loss: l, perplexity: l.exp(), bits_per_byte: Some(vg_training::scaling::bits_per_byte(l, bytes_per_token)) });
    let mut summary = model_summary_of(name, dp, utility, comparison, r, a, extraction);
    summary.cost = Some(cost_of(info));
    summary.inherited = info.train_config.distill.as_ref().map(|d| {
        let labels = match d.labels {
            vg_training::DistillLabels::Hard => "hard labels (the text)".to_string(),
            vg_training::DistillLabels::Soft { temperature } => format!("the teacher's soft labels at T = {temperature}"),
        };
        let made_by = format!("distilled from the model with weights SHA-256 {}… on {} over {} text", &d.teacher_sha256[..12], labels, d.data_source);
        inherited_summary(&d.guarantee, &format!("The distilled model `{name}`"), made_by)
    });
    summary
}

/// A bound on a student is compared with what it inherits: the teacher's (ε, δ) while its status
/// is `dp` (post-processing), no finite guarantee otherwise.
fn inherited_comparison(g: &vg_training::InheritedGuarantee) -> Comparison {
    match (g.status, g.epsilon, g.delta) {
        (vg_training::GuaranteeStatus::Dp, Some(e), Some(d)) => Comparison {
            guarantee: "per-record guarantee inherited from the DP teacher (post-processing of its outputs)".into(),
            group_size: 1,
            epsilon: Some(e),
            delta: Some(d),
        },
        _ => Comparison {
            guarantee: format!("none: outside the teacher's guarantee ({})", g.reason.as_deref().unwrap_or("no DP teacher")),
            group_size: 1,
            epsilon: None,
            delta: None,
        },
    }
}

/// The summary's form of an inherited guarantee, with its sentence.
fn inherited_summary(g: &vg_training::InheritedGuarantee, what: &str, made_by: String) -> vg_reports::InheritedGuaranteeSummary {
    vg_reports::InheritedGuaranteeSummary {
        epsilon: g.epsilon,
        delta: g.delta,
        unit: g.unit.clone(),
        model_sha256: g.model_sha256.clone(),
        status: g.status.name().into(),
        reason: g.reason.clone(),
        sentence: g.sentence(what),
        made_by,
    }
}

/// The `[synthetic]` records' summary, from their sidecar (None when the run made none).
fn synthetic_summary(dir: &Path) -> anyhow::Result<Option<vg_reports::SyntheticSummary>> {
    let records = dir.join(super::steps::SYNTHETIC_RECORDS);
    if !records.exists() {
        return Ok(None);
    }
    let side = super::synth::Sidecar::load_for(&records)?;
    let made_by = format!("sampled from the DP model ({}), filtered by PII, length and de-duplication", side.model);
    Ok(Some(vg_reports::SyntheticSummary {
        count: side.count as u64,
        drawn: side.drawn as u64,
        tokens_per_second: side.tokens_per_second,
        guarantee: inherited_summary(&side.guarantee, "The synthetic set", made_by),
    }))
}

/// A model's summary from its DP parameters (if any), utility, the guarantee its record-level
/// bounds are compared with, the canary repetitions r (canary bounds meet the group guarantee of
/// r units) and its analysis files: shared by `run` and `audit --model`.
pub(super) fn model_summary_of(
    name: &str,
    dp: Option<DpParams>,
    utility: Option<Utility>,
    comparison: Comparison,
    repetitions: u64,
    a: &TargetAnalysis,
    extraction: Option<&MemorizationReport>,
) -> ModelSummary {
    let mia = a
        .membership
        .attacks
        .iter()
        .map(|(k, v)| {
            (k.clone(), MiaResult {
                auc: Some(v.metrics.auc),
                tpr_at_fpr_1e_3: v.metrics.tpr_at_fpr_1e_3,
                tpr_at_fpr_1e_2: v.metrics.tpr_at_fpr_1e_2,
                members: Some(v.metrics.members),
                non_members: Some(v.metrics.non_members),
                warnings: v.metrics.warnings.clone(),
            })
        })
        .collect();
    let bounds = a
        .membership
        .epsilon_lower_bounds
        .iter()
        .map(|(k, b)| {
            let counts = b.detail.counts();
            let mut note = format!("selection: {}; stated at δ = {:.3e}", b.selection, b.delta);
            for n in &b.notes {
                note.push_str("; ");
                note.push_str(n);
            }
            // Each bound meets the guarantee of its own unit: records once, canaries r times.
            let on_canaries = matches!(&b.detail, vg_attacks::membership_audit::BoundDetail::OneRun { audited, .. } if audited == "canaries");
            (k.clone(), BoundSummary {
                epsilon: b.epsilon,
                confidence: b.confidence,
                attack: b.attack.clone(),
                counts,
                compared_with: if on_canaries && repetitions > 1 { comparison_for(dp.as_ref(), repetitions) } else { comparison.clone() },
                note: Some(note),
            })
        })
        .collect();
    let exposure = a.exposure.as_ref().map(|e| {
        let stats = |g: &vg_attacks::exposure::GroupSummary| ExposureStats {
            count: g.count as u64,
            mean: g.rank.map(|d| d.mean),
            median: g.rank.map(|d| d.median),
            max: g.rank.map(|d| d.max),
        };
        let bits = e.canaries.iter().map(|c| c.n_references).max();
        ExposureSummary {
            canaries: e.canaries.len() as u64,
            reference_canaries: bits.unwrap_or(0) as u64,
            secret_space_bits: None,
            method: "rank among reference canaries of the same template family, −log₂(rank/(n+1)) (Carlini et al. \
                     2019); not an ε bound"
                .into(),
            included: stats(&e.included),
            not_included: stats(&e.not_included),
        }
    });
    ModelSummary {
        name: name.to_string(),
        private: dp.is_some(),
        dp,
        utility,
        mia,
        epsilon_lower_bounds: bounds,
        exposure,
        memorization: extraction.map(memorization_summary),
        verdict: None,
        cost: None,
        inherited: None,
        shadow_set: a.shadow_set.clone(),
    }
}

/// Wall and CPU time of training, and its FLOPs estimated as 6·N·B·T·L (design.md's compute:
/// N parameters, B the expected batch, T steps, L the context) — from the configuration, so a
/// DP model's secret batch sizes do not enter it.
fn cost_of(info: &ModelJson) -> Cost {
    let batch = info.dp.as_ref().map_or(info.train_config.batch_size as f64, |d| d.expected_batch_size);
    let token_positions = batch * info.train_config.steps as f64 * info.architecture.context_length as f64;
    Cost {
        wall_seconds: info.metrics.train_seconds,
        cpu_seconds: info.metrics.cpu_seconds,
        parameters: info.metrics.num_params as u64,
        token_positions,
        flops: 6.0 * info.metrics.num_params as f64 * token_positions,
    }
}

/// The guarantee a bound is compared with: per record, or the group guarantee of r records.
fn comparison_for(dp: Option<&DpParams>, r: u64) -> Comparison {
    match dp {
        None => Comparison {
            guarantee: "none: the model was trained without differential privacy".into(),
            group_size: r,
            epsilon: None,
            delta: None,
        },
        Some(d) if r <= 1 => Comparison {
            guarantee: "per-record guarantee".into(),
            group_size: 1,
            epsilon: Some(d.epsilon),
            delta: Some(d.delta),
        },
        Some(d) => {
            let (e, dl) = vg_accounting::group_privacy(d.epsilon, d.delta, r).unwrap_or((f64::INFINITY, 1.0));
            Comparison {
                guarantee: format!(
                    "group guarantee of r = {r} records (each canary inserted {r} times): (rε, r e^((r−1)ε) δ)"
                ),
                group_size: r,
                epsilon: Some(e),
                delta: Some(dl.min(1.0)),
            }
        }
    }
}

fn memorization_summary(x: &MemorizationReport) -> Memorization {
    let interval = |i: &vg_attacks::extraction::Interval| RateInterval { low: i.low, high: i.high, confidence: i.confidence };
    let c = &x.canary_recovery;
    Memorization {
        exact_rate: Some(x.exact_rate),
        exact_rate_ci: Some(interval(&x.exact_rate_ci)),
        approximate_rate: Some(x.approximate_rate),
        approximate_rate_ci: Some(interval(&x.approximate_rate_ci)),
        prompts: Some(x.prompts),
        prefix_tokens: x.prefix_tokens as u64,
        suffix_tokens: x.suffix_tokens as u64,
        population_exact_rate: Some(x.population_exact_rate),
        population_approximate_rate: Some(x.population_approximate_rate),
        population_prompts: Some(x.population_prompts),
        population_exact_rate_ci: Some(RateInterval {
            low: x.population.exact.ci_low,
            high: x.population.exact.ci_high,
            confidence: x.population.exact.confidence,
        }),
        generations: Some(x.generations),
        verbatim_min_tokens: Some(x.verbatim_min_tokens as u64),
        verbatim_generations: Some(x.verbatim_generations),
        longest_verbatim_tokens: Some(x.longest_verbatim_tokens),
        population_verbatim_generations: Some(x.population_verbatim_generations),
        fragment_hits: Some(x.fragment_hits),
        fragment_hits_by_type: x.fragment_hits_by_type.clone(),
        pii_not_in_training: Some(x.pii_not_in_training),
        canary_recovery: Some(vg_reports::CanaryRecoverySummary {
            included_recovered: c.included_recovered,
            included: c.included,
            not_included_recovered: c.not_included_recovered,
            not_included: c.not_included,
        }),
        notes: x.notes.clone(),
    }
}

fn engine_summary(x: &EngineAuditReport) -> EngineAudit {
    let m = &x.mechanism;
    EngineAudit {
        theoretical_epsilon: x.theoretical_epsilon,
        mechanism: EngineMechanism {
            preset: m.preset.clone(),
            vocab_size: m.vocab_size as u64,
            clip_norm: m.clip_norm,
            noise_multiplier: m.noise_multiplier,
            sampling_rate: m.sampling_rate,
            steps: m.steps,
            canaries: m.canaries as u64,
            canary_kind: m.canary_kind.clone(),
            accountant: m.accountant.clone(),
        },
        ceiling_epsilon: x.ceiling_epsilon,
        delta: x.delta,
        canaries: x.canaries as u64,
        steps: x.steps,
        noise_multiplier: x.noise_multiplier,
        lower_bounds: x
            .lower_bounds
            .iter()
            .map(|(k, b)| {
                (k.clone(), EngineBound {
                    epsilon: b.epsilon,
                    ideal_epsilon: b.ideal_epsilon,
                    confidence: b.confidence,
                    observation: b.observation.clone(),
                })
            })
            .collect(),
    }
}

fn collect_plots(data: &mut ReportData, name: &str, info: &ModelJson, a: &TargetAnalysis) {
    collect_attack_plots(data, name, a);
    // DP models withhold their un-noised training loss (model.json `withheld`): no curve then.
    let loss: Vec<[f64; 2]> = info.curve.iter().filter_map(|c| Some([c.step as f64, c.loss?])).collect();
    let eval: Vec<[f64; 2]> = info.curve.iter().filter_map(|c| Some([c.step as f64, c.eval_loss?])).collect();
    if !loss.is_empty() {
        data.training_curves.push(TrainingCurve { model: name.into(), metric: "train_loss".into(), points: loss });
    }
    data.training_curves.push(TrainingCurve { model: name.into(), metric: "eval_loss".into(), points: eval });
}

/// ROC curves, score histograms and exposure values of one model's analysis.
pub(super) fn collect_attack_plots(data: &mut ReportData, name: &str, a: &TargetAnalysis) {
    for (attack, points) in &a.plots.roc {
        let pts: Vec<[f64; 2]> = points.iter().map(|&(x, y)| [x, y]).collect();
        data.roc.push(RocCurve::thinned(name, attack, &pts, 400));
    }
    for (attack, members, non_members) in &a.plots.histograms {
        data.score_samples.push(ScoreSamples {
            model: name.into(),
            attack: attack.clone(),
            members: members.clone(),
            non_members: non_members.clone(),
        });
    }
    if let Some(e) = &a.exposure {
        let (inc, out): (Vec<_>, Vec<_>) = e.canaries.iter().partition(|c| c.included);
        data.exposure.push(vg_reports::ExposureValues {
            model: name.into(),
            included: inc.iter().map(|c| c.exposure_rank).collect(),
            not_included: out.iter().map(|c| c.exposure_rank).collect(),
        });
    }
}

/// Report examples from an extraction report (already redacted unless `show_extracted`).
pub(super) fn collect_examples(data: &mut ReportData, name: &str, x: &MemorizationReport) {
    for e in x.memorized_examples.iter().take(6) {
        data.examples.push(ExtractionExample {
            model: name.into(),
            kind: if e.exact { "memorization (exact)".into() } else { "memorization (approximate)".into() },
            record_id: Some(e.record_id),
            prompt: String::new(),
            generated: e.continuation.clone(),
            truth: None,
            matched_tokens: Some(e.suffix_tokens as u64),
            in_training: None,
            found_in: Some("memorization".into()),
        });
    }
    for e in x.verbatim.examples.iter().take(6) {
        data.examples.push(ExtractionExample {
            model: name.into(),
            kind: "verbatim".into(),
            record_id: Some(e.span.record.id),
            prompt: String::new(),
            generated: e.text.clone(),
            truth: None,
            matched_tokens: Some(e.span.len as u64),
            in_training: None,
            found_in: Some("generation".into()),
        });
    }
    for e in x.fragment_examples.iter().take(6) {
        // PII can be attributed to the training text only when the kept-PII hashes were searched
        let attributed = e.hit.canary_id.is_some() || x.fragments.pii_dictionary;
        data.examples.push(ExtractionExample {
            model: name.into(),
            kind: format!("fragment ({})", e.hit.kind),
            record_id: e.hit.canary_id,
            prompt: String::new(),
            generated: e.context.clone(),
            truth: None,
            matched_tokens: None,
            in_training: attributed.then_some(e.hit.in_training),
            found_in: Some(e.hit.source.test.clone()),
        });
    }
}

/// Writes summary.json, report-data.json, report.html and model-card.md (each atomically).
/// The report step (summary.json, report data, report.html, model card; skipped on resume when
/// `upstream` is unchanged), then the gate when a policy is configured.
pub(super) fn report_and_gate(p: &mut Pipeline, built: &(Summary, ReportData), upstream: &str) -> anyhow::Result<super::steps::RunResult> {
    p.step(
        "report",
        &p.inputs_hash(&["report", upstream]),
        &["summary.json", "report-data.json", "report.html", "model-card.md"],
        |p| write_all(p, built),
    )?;
    let mut gate_passed = None;
    let mut summary_json = serde_json::to_value(&built.0)?;
    if let Some(policy) = p.cfg.gate.policy.clone() {
        let (passed, json) = apply_gate(p, &built.0, &policy)?;
        summary_json = json;
        gate_passed = Some(passed);
    }
    Ok(super::steps::RunResult { summary: summary_json, gate_passed })
}

pub fn write_all(p: &Pipeline, summary: &(Summary, ReportData)) -> anyhow::Result<()> {
    vg_reports::save_summary(&p.dir, &summary.0)?;
    vg_reports::save_report_data(&p.dir, &summary.1)?;
    vg_reports::render_run_dir(&p.dir)?;
    Ok(())
}

/// Applies the gate policy, records the verdict in summary.json and re-renders the report.
/// Returns whether every rule passed and the final summary.
pub fn apply_gate(p: &Pipeline, summary: &Summary, policy_path: &Path) -> anyhow::Result<(bool, Value)> {
    let policy = vg_reports::gate::Policy::from_file(policy_path)
        .with_context(|| format!("cannot read policy {}", policy_path.display()))?;
    let results = vg_reports::gate::evaluate(summary, &policy);
    let passed = results.iter().all(|r| r.passed);
    for r in &results {
        p.say(&format!("  gate: {}", vg_reports::gate::format_result(r)));
    }
    let s = with_verdict(summary.clone(), GateOutcome { policy: policy_path.display().to_string(), passed, rules: results });
    vg_reports::save_summary(&p.dir, &s)?;
    vg_reports::render_run_dir(&p.dir)?;
    Ok((passed, serde_json::to_value(&s)?))
}

/// `summary` with `outcome` as its gate and each model's share of the rules as its verdict.
fn with_verdict(mut summary: Summary, outcome: GateOutcome) -> Summary {
    for m in &mut summary.models {
        let mine: Vec<_> = outcome.rules.iter().filter(|r| r.model.as_deref() == Some(m.name.as_str())).cloned().collect();
        m.verdict = (!mine.is_empty()).then_some(mine);
    }
    summary.gate = Some(outcome);
    summary
}

pub(super) fn machine() -> Machine {
    Machine {
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        cpus: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
        // The engine device `--device` selected (cuda:N runs the portable kernel path).
        device: crate::device::DeviceChoice::selected().to_string(),
        hostname: std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string()),
    }
}

pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

pub(super) fn read_optional<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    if path.exists() {
        Ok(Some(read_json(path)?))
    } else {
        Ok(None)
    }
}
