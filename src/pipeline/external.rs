//! `vg-audit audit --model`: the run pipeline's scoring → attacks → extraction → report → gate
//! steps for models trained elsewhere, on a member / non-member split the user gives. The same
//! run directory, `scores.parquet`, `analysis/`, summary.json, report and model card as `run`
//! (built by the same functions), plus `inputs/audit.json`; `compare` and `gate` read it as any run.
//!
//! Members and non-members are known but were not assigned at random by this audit, so the ε
//! lower bounds are the customary heuristic, not a DP audit: summary.json, the report and the
//! model card say so ([`vg_reports::HEURISTIC_NOTE`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use vg_attacks::membership_audit::AuditOptions;
use vg_attacks::extraction::{run_extraction, ExtractionInputs, FragmentDictionary, RecordTokens, StreamRecord, StreamRecordKind, TokenStream};
use vg_attacks::model::TokenScorer;
use vg_attacks::scores::{compute_scores_batch_with_zlib_lens, reference_calibrated, zlib_lengths, ScoreSet};
use vg_attacks::score_table::{RowKind, ScoreColumn, ScoreTable};
use vg_reports::{Comparison, ExternalAudit, ExternalModelInfo, ReportData, RunMetadata, Summary, Utility, SCHEMA_VERSION};

use super::analysis::TargetAnalysis;
use super::records::{read_jsonl, InputRecord};
use super::scoring::COLUMNS;
use super::steps::RunResult;
use super::{outputs_digest, Pipeline};
use crate::adapters::external::{DpClaim, ExternalModel};
use crate::progress;

/// What `vg-audit audit` was asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExternalSpec {
    /// Audited model directories, in order.
    pub models: Vec<PathBuf>,
    /// A reference model (not audited) that calibrates the targets' scores.
    pub reference: Option<PathBuf>,
    /// Records in the models' training data.
    pub members: PathBuf,
    /// Records not in it.
    pub non_members: PathBuf,
    /// The JSON field holding the text.
    pub field: String,
    /// Cut each record to its first N token ids (default: each model's context).
    pub max_tokens: Option<usize>,
    /// A DP guarantee the user states for every audited model (overrides what the files say).
    pub claimed: Option<(f64, f64)>,
}

/// An audited model: its name in the run and what was loaded.
struct Audited {
    name: String,
    model: ExternalModel,
    claim: Option<DpClaim>,
}

/// Unique, file-name-safe model names from the directories' last components.
fn model_names(dirs: &[&Path]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for d in dirs {
        let base: String = d
            .file_name()
            .map(|n| n.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect())
            .filter(|n: &String| !n.is_empty() && n != "." && n != "..")
            .unwrap_or_else(|| "model".into());
        let mut name = base.clone();
        let mut k = 2;
        while names.contains(&name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        names.push(name);
    }
    names
}

/// Runs the external audit into `p.dir`.
pub fn audit_external(p: &mut Pipeline, spec: &ExternalSpec) -> anyhow::Result<RunResult> {
    let started_at = super::log::now_rfc3339();
    if spec.models.is_empty() {
        bail!("give at least one --model");
    }
    if let Some((e, d)) = spec.claimed {
        if !(e > 0.0 && e.is_finite()) || !(d >= 0.0 && d < 1.0) {
            bail!("--claimed-epsilon must be > 0 and --claimed-delta in [0, 1) (given ε = {e}, δ = {d})");
        }
    }
    let members = read_jsonl(&spec.members, &spec.field)?;
    let non_members = read_jsonl(&spec.non_members, &spec.field)?;
    let members_sha = vg_corpora::fsutil::sha256_file(&spec.members)?;
    let non_members_sha = vg_corpora::fsutil::sha256_file(&spec.non_members)?;
    let mut dirs: Vec<&Path> = spec.models.iter().map(PathBuf::as_path).collect();
    if let Some(r) = &spec.reference {
        dirs.push(r);
    }
    let names = model_names(&dirs);
    let mut audited = Vec::new();
    for (dir, name) in dirs.iter().zip(&names) {
        let model = ExternalModel::open(dir).with_context(|| format!("model {}", dir.display()))?;
        let claim = match spec.claimed {
            Some((epsilon, delta)) => Some(DpClaim { epsilon, delta, source: "--claimed-epsilon/--claimed-delta".into() }),
            None => model.dp_claim(),
        };
        p.say(&format!("  model {name}: {}", model.describe()));
        audited.push(Audited { name: name.clone(), model, claim });
    }
    let reference = spec.reference.as_ref().map(|_| audited.pop().expect("the reference was pushed last"));
    let records: Vec<(&InputRecord, bool)> = members.iter().map(|r| (r, true)).chain(non_members.iter().map(|r| (r, false))).collect();

    // 1. inputs: what was audited (models, split files and their hashes).
    let digest = format!("{members_sha}{non_members_sha}{}", serde_json::to_string(spec)?);
    let inputs_out = p.step("inputs", &p.inputs_hash(&["inputs", &digest]), &["inputs/audit.json", "inputs/records.jsonl"], |p| {
        std::fs::create_dir_all(p.dir.join("inputs"))?;
        let json = serde_json::json!({
            "spec": spec,
            "members_sha256": members_sha,
            "non_members_sha256": non_members_sha,
            "members": members.len(),
            "non_members": non_members.len(),
            "models": audited.iter().map(|a| serde_json::json!({"name": a.name, "source": a.model.dir(), "architecture": a.model.describe()})).collect::<Vec<_>>(),
            "reference_model": reference.as_ref().map(|r| serde_json::json!({"name": r.name, "source": r.model.dir()})),
        });
        vg_corpora::fsutil::atomic_write(p.dir.join("inputs/audit.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
        let lines: String = records
            .iter()
            .enumerate()
            .map(|(row, (r, member))| format!("{}\n", serde_json::json!({"row": row, "id": r.id, "member": member})))
            .collect();
        vg_corpora::fsutil::atomic_write(p.dir.join("inputs/records.jsonl"), lines.as_bytes())?;
        Ok(())
    })?;

    // 2. scoring: every record under every model (and the reference), as scores.parquet.
    let scores_out = p.step("scoring", &p.inputs_hash(&["scoring", &outputs_digest(&inputs_out)]), &["scores.parquet"], |p| {
        score_external(p, &audited, reference.as_ref(), &records, spec.max_tokens)
    })?;

    // 3. attacks per target.
    let targets: Vec<String> = audited.iter().map(|a| a.name.clone()).collect();
    let claims: Vec<Option<DpClaim>> = audited.iter().map(|a| a.claim.clone()).collect();
    let ref_name = reference.as_ref().map(|r| r.name.clone());
    let attack_files: Vec<String> = targets.iter().map(|t| format!("analysis/attacks-{t}.json")).collect();
    let attack_out = p.step(
        "attacks",
        &p.inputs_hash(&["attacks", &outputs_digest(&scores_out)]),
        &attack_files.iter().map(String::as_str).collect::<Vec<_>>(),
        |p| attack_external(p, &targets, &claims, ref_name.as_deref()),
    )?;

    // 4. extraction per target: members as the training set, non-members as the floor.
    let extraction_files: Vec<String> = targets.iter().map(|t| format!("analysis/extraction-{t}.json")).collect();
    let extraction_out = if p.cfg.extraction.enabled {
        Some(p.step(
            "extraction",
            &p.inputs_hash(&["extraction", &outputs_digest(&inputs_out)]),
            &extraction_files.iter().map(String::as_str).collect::<Vec<_>>(),
            |p| extract_external(p, &audited, &members, &non_members),
        )?)
    } else {
        None
    };

    // 5. report.
    let external = ExternalAudit {
        members_file: spec.members.display().to_string(),
        members_sha256: members_sha.clone(),
        members: members.len() as u64,
        non_members_file: spec.non_members.display().to_string(),
        non_members_sha256: non_members_sha.clone(),
        non_members: non_members.len() as u64,
        random_inclusion: false,
        note: vg_reports::HEURISTIC_NOTE.to_string(),
        models: audited
            .iter()
            .map(|a| ExternalModelInfo {
                name: a.name.clone(),
                source: a.model.dir().display().to_string(),
                architecture: a.model.describe(),
                claimed_epsilon: a.claim.as_ref().map(|c| c.epsilon),
                claimed_delta: a.claim.as_ref().map(|c| c.delta),
                claim_source: a.claim.as_ref().map(|c| c.source.clone()),
            })
            .collect(),
        reference_model: reference.as_ref().map(|r| format!("{} ({})", r.name, r.model.describe())),
    };
    // 5–6. report and gate.
    let built = build_summary(p, &targets, &claims, external, &started_at)?;
    let upstream = format!("{}{}", outputs_digest(&attack_out), extraction_out.as_ref().map(outputs_digest).unwrap_or_default());
    super::summary::report_and_gate(p, &built, &upstream)
}

/// The record's input for a model: its tokenizer's ids, cut to `max_tokens` and the context.
fn inputs_for(model: &ExternalModel, records: &[(&InputRecord, bool)], max_tokens: Option<usize>) -> anyhow::Result<Vec<Vec<u32>>> {
    let cut = max_tokens.unwrap_or(usize::MAX).min(model.max_positions());
    records
        .iter()
        .map(|(r, _)| {
            let mut ids = model.encode(&r.text).with_context(|| format!("record id {}", r.id))?;
            ids.truncate(cut);
            Ok(ids)
        })
        .collect()
}

fn score_external(p: &Pipeline, audited: &[Audited], reference: Option<&Audited>, records: &[(&InputRecord, bool)], max_tokens: Option<usize>) -> anyhow::Result<()> {
    let k = p.cfg.attacks.min_k;
    let texts: Vec<&str> = records.iter().map(|(r, _)| r.text.as_str()).collect();
    let zlib = zlib_lengths(&texts);
    let n = records.len();
    let all: Vec<(&Audited, bool)> = audited.iter().map(|a| (a, false)).chain(reference.map(|r| (r, true))).collect();
    let bar = progress::bar((n * all.len()) as u64, "scoring", "records");
    let mut sets_by_model: Vec<Vec<ScoreSet>> = Vec::new();
    for (a, _) in &all {
        let inputs = inputs_for(&a.model, records, max_tokens)?;
        if let Some(i) = inputs.iter().position(|s| s.len() < 2) {
            bail!("record id {} has fewer than 2 tokens under {}: nothing to score", records[i].0.id, a.name);
        }
        let mut sets = Vec::with_capacity(n);
        for (seqs, z) in inputs.chunks(64).zip(zlib.chunks(64)) {
            let stats = a.model.score_tokens(seqs).with_context(|| format!("scoring with {}", a.name))?;
            sets.extend(compute_scores_batch_with_zlib_lens(&stats, z, k)?);
            bar.inc(seqs.len() as u64);
        }
        sets_by_model.push(sets);
    }
    bar.finish_and_clear();
    let ref_sets = reference.map(|_| sets_by_model.last().expect("the reference was scored last").clone());
    let mut table = ScoreTable::default();
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); COLUMNS.len()];
    for ((a, is_ref), sets) in all.iter().zip(&sets_by_model) {
        for (row, ((_, member), set)) in records.iter().zip(sets).enumerate() {
            table.kind.push(RowKind::Record);
            table.id.push(row as u64);
            table.model.push(a.name.clone());
            // The reference model trained on none of the audited records (its role is OUT).
            table.member.push(Some(*member && !is_ref));
            table.query.push(0);
            let calibrated = match (&ref_sets, is_ref) {
                (Some(r), false) => reference_calibrated(set.mean_logprob, &[r[row].mean_logprob]).unwrap_or(f64::NAN),
                _ => f64::NAN,
            };
            for (col, v) in values.iter_mut().zip([
                set.mean_logprob,
                set.zlib,
                set.min_k,
                set.min_k_plus_plus.unwrap_or(f64::NAN),
                set.lira_phi,
                set.total_logprob,
                calibrated,
            ]) {
                col.push(v);
            }
        }
    }
    table.columns = COLUMNS.iter().zip(values).map(|(name, values)| ScoreColumn { name: name.to_string(), values }).collect();
    table.validate()?;
    let tmp = p.dir.join("scores.parquet.tmp");
    table.write_parquet(&tmp)?;
    std::fs::rename(&tmp, p.dir.join("scores.parquet"))?;
    p.say(&format!("  scoring: {n} records × {} models", all.len()));
    Ok(())
}

fn attack_external(p: &Pipeline, targets: &[String], claims: &[Option<DpClaim>], reference: Option<&str>) -> anyhow::Result<()> {
    let table = ScoreTable::read_parquet(&p.dir.join("scores.parquet"))?;
    std::fs::create_dir_all(p.dir.join("analysis"))?;
    for (target, claim) in targets.iter().zip(claims) {
        let mut opts = AuditOptions::for_run(target);
        // No shadows: the other audited models trained on the members, and LiRA/RMIA from a single
        // reference model have no spread to estimate; the reference enters as reference_calibrated.
        opts.shadows = Some(Vec::new());
        opts.delta = claim.as_ref().map_or(1e-5, |c| c.delta.max(1e-12));
        opts.confidence = p.cfg.attacks.confidence;
        if reference.is_none() {
            opts.single_scores.retain(|(n, _)| n != "reference_calibrated");
        }
        let analysis = super::analysis::analyse_target(p, &table, target, &opts, None, None)?;
        let auc = analysis.membership.attacks.get(&analysis.membership.primary_attack).map(|a| a.metrics.auc);
        p.say(&format!("  {target}: primary attack {}, AUC {}", analysis.membership.primary_attack, auc.map_or("n/a".into(), |a| format!("{a:.3}"))));
    }
    Ok(())
}

/// A record's token ids for extraction under `model`, without the leading BOS the tests prepend
/// themselves, and that BOS id.
fn extraction_tokens(model: &ExternalModel, text: &str) -> anyhow::Result<(u32, Vec<u32>)> {
    let ids = model.encode(text)?;
    Ok(match model {
        ExternalModel::Hf(m) => {
            let bos = m.arch().bos_token_id.or_else(|| m.arch().eos_token_ids.first().copied()).unwrap_or(0);
            if ids.first() == Some(&bos) { (bos, ids[1..].to_vec()) } else { (bos, ids) }
        }
        ExternalModel::Ours { .. } => {
            // Our inputs are BOS + tokens + EOS.
            let end = ids.len().saturating_sub(usize::from(ids.last() == Some(&vg_corpora::tokens::EOS)));
            (vg_corpora::tokens::BOS, ids[1..end.max(1)].to_vec())
        }
    })
}

fn extract_external(p: &Pipeline, audited: &[Audited], members: &[InputRecord], non_members: &[InputRecord]) -> anyhow::Result<()> {
    let opts = super::analysis::extraction_options(p);
    std::fs::create_dir_all(p.dir.join("analysis"))?;
    // No canaries and no PII key: the fragment dictionary is empty (nothing planted to look for).
    let fragments = FragmentDictionary::new(Vec::new(), None)?;
    for a in audited {
        let tok = |rs: &[InputRecord]| -> anyhow::Result<(u32, Vec<Vec<u32>>)> {
            let mut bos = 0;
            let mut out = Vec::with_capacity(rs.len());
            for r in rs {
                let (b, ids) = extraction_tokens(&a.model, &r.text)?;
                bos = b;
                out.push(ids);
            }
            Ok((bos, out))
        };
        let (bos, train_tokens) = tok(members)?;
        let (_, pop_tokens) = tok(non_members)?;
        let training: Vec<RecordTokens> = train_tokens.iter().enumerate().map(|(i, t)| RecordTokens { id: i as u64, tokens: t }).collect();
        let offset = members.len() as u64;
        let population: Vec<RecordTokens> = pop_tokens.iter().enumerate().map(|(i, t)| RecordTokens { id: offset + i as u64, tokens: t }).collect();
        let stream = |rs: &[RecordTokens], kind: StreamRecordKind| -> anyhow::Result<TokenStream> {
            let recs: Vec<(StreamRecord, &[u32])> = rs.iter().map(|r| (StreamRecord { kind, id: r.id }, r.tokens)).collect();
            Ok(TokenStream::build(&recs)?)
        };
        let training_stream = stream(&training, StreamRecordKind::Record)?;
        let population_stream = stream(&population, StreamRecordKind::Population)?;
        let decode = |ids: &[u32]| a.model.decode(ids).unwrap_or_default();
        let inputs = ExtractionInputs {
            training: &training,
            population: &population,
            canaries: &[],
            generation_prompts: &[],
            training_stream: &training_stream,
            population_stream: &population_stream,
            fragments: &fragments,
            decode: &decode,
            bos,
        };
        let bar = progress::bar(0, &format!("extraction {}", a.name), "prompts");
        let report = run_extraction(&a.name, &a.model, &inputs, &opts, &mut |d, t| {
            bar.set_length(t);
            bar.set_position(d);
        })?;
        bar.finish_and_clear();
        let path = p.dir.join(format!("analysis/extraction-{}.json", a.name));
        vg_corpora::fsutil::atomic_write(&path, serde_json::to_string_pretty(&report)?.as_bytes())?;
        p.say(&format!(
            "  {}: exact memorization {:.3} of {} member prompts (non-member floor {}), {} generations with verbatim spans ≥ {} tokens",
            a.name,
            report.exact_rate,
            report.prompts,
            format!("{:.3}", report.population_exact_rate),
            report.verbatim_generations,
            report.verbatim_min_tokens
        ));
    }
    Ok(())
}

/// The guarantee an external model's bounds are compared with.
fn comparison_for_claim(claim: Option<&DpClaim>) -> Comparison {
    match claim {
        Some(c) => Comparison {
            guarantee: format!(
                "stated per-record guarantee ({}; not verified by this audit); the split was not randomised, so the bounds are the customary heuristic, not a DP audit",
                c.source
            ),
            group_size: 1,
            epsilon: Some(c.epsilon),
            delta: Some(c.delta),
        },
        None => Comparison {
            guarantee: "none stated for this model; the split was not randomised, so the bounds are the customary heuristic, not a DP audit".into(),
            group_size: 1,
            epsilon: None,
            delta: None,
        },
    }
}

fn build_summary(p: &Pipeline, targets: &[String], claims: &[Option<DpClaim>], external: ExternalAudit, started_at: &str) -> anyhow::Result<(Summary, ReportData)> {
    let table = ScoreTable::read_parquet(&p.dir.join("scores.parquet"))?;
    let loss = table.column("loss").context("scores.parquet lacks the loss column")?.to_vec();
    let manifest = serde_json::json!({
        "members_file": external.members_file,
        "members": external.members,
        "non_members_file": external.non_members_file,
        "non_members": external.non_members,
        "random_inclusion": false,
    });
    let mut data = ReportData { manifest, ..ReportData::default() };
    let mut models = Vec::new();
    for (name, claim) in targets.iter().zip(claims) {
        let analysis: TargetAnalysis = super::summary::read_json(&p.dir.join(format!("analysis/attacks-{name}.json")))?;
        let extraction = super::summary::read_optional(&p.dir.join(format!("analysis/extraction-{name}.json")))?;
        // Utility: mean loss (nats per token of the model's own tokenizer) on the non-members.
        let held_out: Vec<f64> = (0..table.len()).filter(|&i| table.model[i] == *name && table.member[i] == Some(false)).map(|i| -loss[i]).collect();
        let utility = (!held_out.is_empty()).then(|| {
            let l = held_out.iter().sum::<f64>() / held_out.len() as f64;
            // Bytes per token of the model's own tokenizer are not measured here.
            Utility { eval_loss: l, perplexity: l.exp(), bits_per_byte: None }
        });
        let summary = super::summary::model_summary_of(name, None, utility, comparison_for_claim(claim.as_ref()), 1, &analysis, extraction.as_ref());
        models.push(summary);
        super::summary::collect_attack_plots(&mut data, name, &analysis);
        if let Some(x) = &extraction {
            super::summary::collect_examples(&mut data, name, x);
        }
    }
    // Two audits of the same split compare: the "corpus" is the pair of files.
    let split_sha = vg_corpora::fsutil::sha256_bytes(format!("{}{}", external.members_sha256, external.non_members_sha256).as_bytes());
    let summary = Summary {
        plan: None,
        schema_version: SCHEMA_VERSION,
        run: RunMetadata {
            tool: "vg-audit".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            config_sha256: p.config_sha256.clone(),
            corpus_identity_sha256: Some(split_sha.clone()),
            corpus_manifest_sha256: split_sha,
            tokenizer_sha256: None,
            seeds: BTreeMap::from([("run".to_string(), p.cfg.run.seed)]),
            started_at: started_at.to_string(),
            finished_at: super::log::now_rfc3339(),
            machine: super::summary::machine(),
            quick: false,
            insecure_seed: false,
            show_extracted: p.cfg.extraction.show_extracted,
        },
        models,
        shadow_models: Vec::new(),
        engine_audit: None,
        gate: None,
        external_audit: Some(external),
        synthetic: None,
    };
    Ok((summary, data))
}
