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
    Comparison, Cost, DpParams, EngineAudit, EngineBound, EpsilonBound, ExposureStats, ExposureSummary, ExtractionExample,
    GateOutcome, Interval, Machine, Memorization, MiaResult, ModelSummary, ReportData, RocCurve, RunMetadata,
    ScoreSamples, ShadowModels, Summary, TrainingCurve, Utility, SCHEMA_VERSION,
};
use vg_training::ModelJson;

use super::analysis::TargetAnalysis;
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
    for name in targets {
        let info = ModelJson::load(&p.dir.join("models").join(name))?;
        let analysis: TargetAnalysis = read_json(&p.dir.join(format!("analysis/attacks-{name}.json")))?;
        let extraction: Option<Value> = read_optional(&p.dir.join(format!("analysis/extraction-{name}.json")))?;
        models.push(model_summary(name, &info, &analysis, extraction.as_ref(), r));
        collect_plots(&mut data, name, &info, &analysis);
        if let Some(x) = &extraction {
            collect_examples(&mut data, name, x);
        }
    }
    let shadow_losses: Vec<f64> = shadows
        .iter()
        .filter_map(|s| ModelJson::load(&p.dir.join("models").join(s)).ok()?.metrics.eval_loss)
        .collect();
    let engine: Option<Value> = read_optional(&p.dir.join("analysis/engine-audit.json"))?;
    let mut seeds = BTreeMap::from([
        ("run".to_string(), p.cfg.run.seed),
        ("shadow_split".to_string(), super::steps::shadow_split_seed(p.cfg.run.seed)),
    ]);
    if let Some(s) = p.cfg.run.insecure_seed {
        seeds.insert("insecure_noise_seed".into(), s);
    }
    let summary = Summary {
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
        shadow_models: (!shadows.is_empty()).then(|| ShadowModels {
            count: shadows.len() as u64,
            description: "each trained on a recorded random half of the candidate pool and the candidate \
                          canaries, so that every subject is IN for exactly half of them"
                .into(),
            private: false,
            mean_eval_loss: (!shadow_losses.is_empty())
                .then(|| shadow_losses.iter().sum::<f64>() / shadow_losses.len() as f64),
        }),
        engine_audit: engine.as_ref().map(engine_summary),
        gate: None,
        external_audit: None,
    };
    // A verdict without being asked: the default release policy until a policy file replaces it.
    let verdict = vg_reports::release_policy::default_release_verdict(&summary);
    Ok((with_verdict(summary, verdict), data))
}

fn model_summary(name: &str, info: &ModelJson, a: &TargetAnalysis, extraction: Option<&Value>, r: u64) -> ModelSummary {
    let dp = info.dp.as_ref().map(|d| DpParams {
        epsilon: d.epsilon,
        delta: d.delta,
        noise_multiplier: d.noise_multiplier,
        sampling_rate: d.sampling_rate,
        steps: d.steps,
        clip_norm: d.clip_norm,
        accountant: d.accountant.clone(),
        neighbouring: d.neighbouring.clone(),
        truncation_note: (d.sampler != vg_accounting::Sampler::Poisson)
            .then(|| format!("ε accounts for {} (truncated-Poisson PLD, arXiv:2508.15089)", d.sampler.describe())),
    });
    // Records meet the per-record guarantee; canaries repeated r times the group guarantee.
    let comparison = comparison_for(dp.as_ref(), 1);
    let utility = info.metrics.eval_loss.map(|l| Utility { eval_loss: l, perplexity: l.exp() });
    let mut summary = model_summary_of(name, dp, utility, comparison, r, a, extraction);
    summary.cost = Some(cost_of(info));
    summary
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
    extraction: Option<&Value>,
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
            let counts = match serde_json::to_value(b).ok().and_then(|v| v.get("counts").cloned()) {
                Some(Value::Object(m)) => m.into_iter().filter_map(|(k, v)| Some((k, v.as_u64()?))).collect(),
                _ => BTreeMap::new(),
            };
            let mut note = format!("selection: {}; stated at δ = {:.3e}", b.selection, b.delta);
            for n in &b.notes {
                note.push_str("; ");
                note.push_str(n);
            }
            // Each bound meets the guarantee of its own unit: records once, canaries r times.
            let on_canaries = matches!(&b.detail, vg_attacks::audit::BoundDetail::OneRun { audited, .. } if audited == "canaries");
            (k.clone(), EpsilonBound {
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
            guarantee: format!("per-record guarantee (ε = {:.4}, δ = {:.3e})", d.epsilon, d.delta),
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

fn memorization_summary(x: &Value) -> Memorization {
    let f = |k: &str| x.get(k).and_then(Value::as_f64);
    let u = |k: &str| x.get(k).and_then(Value::as_u64);
    let interval = |k: &str| {
        let v = x.get(k)?;
        Some(Interval { low: v.get("low")?.as_f64()?, high: v.get("high")?.as_f64()?, confidence: v.get("confidence")?.as_f64()? })
    };
    let by_type = x
        .get("fragment_hits_by_type")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))).collect())
        .unwrap_or_default();
    let recovery = x.get("canary_recovery").and_then(|c| {
        Some(vg_reports::CanaryRecovery {
            included_recovered: c.get("included_recovered")?.as_u64()?,
            included: c.get("included")?.as_u64()?,
            not_included_recovered: c.get("not_included_recovered")?.as_u64()?,
            not_included: c.get("not_included")?.as_u64()?,
        })
    });
    Memorization {
        exact_rate: f("exact_rate"),
        exact_rate_ci: interval("exact_rate_ci"),
        approximate_rate: f("approximate_rate"),
        approximate_rate_ci: interval("approximate_rate_ci"),
        prompts: u("prompts").unwrap_or(0),
        prefix_tokens: u("prefix_tokens").unwrap_or(0),
        suffix_tokens: u("suffix_tokens").unwrap_or(0),
        population_exact_rate: f("population_exact_rate"),
        population_approximate_rate: f("population_approximate_rate"),
        population_prompts: u("population_prompts"),
        population_exact_rate_ci: x.get("population").and_then(|p| p.get("exact")).and_then(|e| {
            Some(Interval { low: e.get("ci_low")?.as_f64()?, high: e.get("ci_high")?.as_f64()?, confidence: e.get("confidence")?.as_f64()? })
        }),
        generations: u("generations"),
        verbatim_min_tokens: u("verbatim_min_tokens"),
        verbatim_generations: u("verbatim_generations").unwrap_or(0),
        longest_verbatim_tokens: u("longest_verbatim_tokens").unwrap_or(0),
        population_verbatim_generations: u("population_verbatim_generations"),
        fragment_hits: u("fragment_hits").unwrap_or(0),
        fragment_hits_by_type: by_type,
        pii_not_in_training: u("pii_not_in_training"),
        canary_recovery: recovery,
        notes: x
            .get("notes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default(),
    }
}

fn engine_summary(x: &Value) -> EngineAudit {
    let f = |k: &str| x.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let lower_bounds = x
        .get("lower_bounds")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, b)| {
                    Some((k.clone(), EngineBound {
                        epsilon: b.get("epsilon")?.as_f64()?,
                        ideal_epsilon: b.get("ideal_epsilon")?.as_f64()?,
                        confidence: b.get("confidence")?.as_f64()?,
                        observation: b.get("observation")?.as_str()?.to_string(),
                    }))
                })
                .collect()
        })
        .unwrap_or_default();
    EngineAudit {
        theoretical_epsilon: f("theoretical_epsilon"),
        delta: f("delta"),
        canaries: x.get("canaries").and_then(Value::as_u64).unwrap_or(0),
        steps: x.get("steps").and_then(Value::as_u64).unwrap_or(0),
        noise_multiplier: f("noise_multiplier"),
        lower_bounds,
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
pub(super) fn collect_examples(data: &mut ReportData, name: &str, x: &Value) {
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let list = |k: &str| x.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
    for e in list("memorized_examples").iter().take(6) {
        let exact = e.get("exact").and_then(Value::as_bool).unwrap_or(false);
        data.examples.push(ExtractionExample {
            model: name.into(),
            kind: if exact { "memorization (exact)".into() } else { "memorization (approximate)".into() },
            record_id: e.get("record_id").and_then(Value::as_u64),
            prompt: String::new(),
            generated: str_of(e, "continuation"),
            truth: None,
            matched_tokens: e.get("suffix_tokens").and_then(Value::as_u64),
        });
    }
    let verbatim = x.get("verbatim").and_then(|v| v.get("examples")).and_then(Value::as_array).cloned().unwrap_or_default();
    for e in verbatim.iter().take(6) {
        let span = e.get("span").cloned().unwrap_or(Value::Null);
        data.examples.push(ExtractionExample {
            model: name.into(),
            kind: "verbatim".into(),
            record_id: span.get("record").and_then(|r| r.get("id")).and_then(Value::as_u64),
            prompt: String::new(),
            generated: str_of(e, "text"),
            truth: None,
            matched_tokens: span.get("len").and_then(Value::as_u64),
        });
    }
    for e in list("fragment_examples").iter().take(6) {
        let hit = e.get("hit").cloned().unwrap_or(Value::Null);
        data.examples.push(ExtractionExample {
            model: name.into(),
            kind: format!("fragment ({})", str_of(&hit, "kind")),
            record_id: hit.get("canary_id").and_then(Value::as_u64),
            prompt: String::new(),
            generated: str_of(e, "context"),
            truth: None,
            matched_tokens: None,
        });
    }
}

/// Writes summary.json, report-data.json, report.html and model-card.md (each atomically).
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
        device: "cpu".into(),
        hostname: std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string()),
    }
}

pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

pub(super) fn read_optional(path: &Path) -> anyhow::Result<Option<Value>> {
    if path.exists() {
        Ok(Some(read_json(path)?))
    } else {
        Ok(None)
    }
}
