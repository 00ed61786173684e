//! Step 4: every subject (pool records, canaries, reference canaries, a population sample)
//! scored under every model, written as the long table `scores.parquet`.

use vg_attacks::model::TokenScorer;
use vg_attacks::scores::{compute_scores_batch_with_zlib_lens, reference_calibrated, zlib_lengths, ScoreSet};
use vg_attacks::score_table::{RowKind, ScoreColumn, ScoreTable};

use super::shadows;
use super::steps::{Subject, TrainingData, DP_MODEL};
use super::Pipeline;
use crate::adapters::TrainedModel;
use crate::progress;

/// Score columns written for every row (all oriented higher = more likely a member).
pub const COLUMNS: [&str; 7] =
    ["loss", "zlib", "min_k", "min_k_plus_plus", "lira_phi", "total_logprob", "reference_calibrated"];

/// Scores every subject under every model and writes `scores.parquet`.
pub fn score_all(p: &Pipeline, data: &TrainingData, models: &[String]) -> anyhow::Result<()> {
    let k = p.cfg.attacks.min_k;
    let population: Vec<&Subject> = data.population.iter().take(p.cfg.attacks.rmia_population).collect();
    let groups: [(RowKind, Vec<&Subject>); 4] = [
        (RowKind::Record, data.pool.iter().collect()),
        (RowKind::Canary, data.canaries.iter().collect()),
        (RowKind::ReferenceCanary, data.references.iter().collect()),
        (RowKind::Population, population),
    ];
    let inputs: Vec<Vec<u32>> = groups.iter().flat_map(|(_, g)| g.iter().map(|s| s.input.clone())).collect();
    let texts: Vec<&str> = groups.iter().flat_map(|(_, g)| g.iter().map(|s| s.text.as_str())).collect();
    let zlib = zlib_lengths(&texts);
    let n = inputs.len();

    let mut table = ScoreTable::default();
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); COLUMNS.len()];
    let mut mean_logprob_by_model: Vec<Vec<f64>> = Vec::new();
    let bar = progress::bar((n * models.len()) as u64, "scoring", "sequences");
    for name in models {
        let model = TrainedModel::load(&p.dir.join("models").join(name))?;
        let mut sets: Vec<ScoreSet> = Vec::with_capacity(n);
        // Chunks only pace the progress bar; the scorer batches (and sorts) internally.
        for (seqs, z) in inputs.chunks(256).zip(zlib.chunks(256)) {
            let stats = model.score_tokens(seqs)?;
            sets.extend(compute_scores_batch_with_zlib_lens(&stats, z, k)?);
            bar.inc(seqs.len() as u64);
        }
        // Both shadow sets share the halves: shadow K of either set trained on shadow_in[K].
        let shadow_index = shadows::parse(name).map(|(_, k)| k);
        let mut row = 0usize;
        for (kind, group) in &groups {
            for s in group {
                let member = match (kind, shadow_index) {
                    // Shadow subjects are pool ++ canaries, which are the first rows in this order.
                    (RowKind::Record | RowKind::Canary, Some(sh)) => data.shadow_in[sh][row],
                    (RowKind::Record | RowKind::Canary, None) => s.member,
                    _ => false,
                };
                let set = &sets[row];
                table.kind.push(*kind);
                table.id.push(s.id);
                table.model.push(name.clone());
                table.member.push(Some(member));
                table.query.push(0);
                values[0].push(set.mean_logprob);
                values[1].push(set.zlib);
                values[2].push(set.min_k);
                values[3].push(set.min_k_plus_plus.unwrap_or(f64::NAN));
                values[4].push(set.lira_phi);
                values[5].push(set.total_logprob);
                values[6].push(f64::NAN);
                row += 1;
            }
        }
        mean_logprob_by_model.push(sets.iter().map(|s| s.mean_logprob).collect());
    }
    bar.finish_and_clear();
    fill_reference_calibrated(&mut values[6], &table, &mean_logprob_by_model, models, n);
    table.columns =
        COLUMNS.iter().zip(values).map(|(name, values)| ScoreColumn { name: name.to_string(), values }).collect();
    table.validate()?;
    // polars writes to a path: a named temporary file beside the target, persisted once complete.
    let tmp = tempfile::NamedTempFile::new_in(&p.dir)?;
    table.write_parquet(tmp.path())?;
    tmp.persist(p.dir.join("scores.parquet")).map_err(|e| e.error)?;
    p.say(&format!("  scoring: {n} sequences × {} models", models.len()));
    Ok(())
}

/// Reference-calibrated loss: the model's mean log-prob minus the mean over the shadow models of
/// its set (the DP set for the DP model and the DP shadows, see [`shadows::set_for`]) that did
/// not train on the subject (higher = member); NaN when no such shadow exists.
fn fill_reference_calibrated(
    out: &mut [f64],
    table: &ScoreTable,
    by_model: &[Vec<f64>],
    models: &[String],
    n: usize,
) {
    let index = |names: Vec<String>| -> Vec<usize> { names.iter().filter_map(|s| models.iter().position(|m| m == s)).collect() };
    for (mi, name) in models.iter().enumerate() {
        let private = name == DP_MODEL || shadows::parse(name).is_some_and(|(set, _)| set == shadows::DP_SET);
        let set = index(shadows::set_for(private, models).map(|(_, s)| s).unwrap_or_default());
        for j in 0..n {
            let outs: Vec<f64> = set
                .iter()
                .filter(|&&s| s != mi && table.member[s * n + j] == Some(false))
                .map(|&s| by_model[s][j])
                .collect();
            if let Ok(v) = reference_calibrated(by_model[mi][j], &outs) {
                out[mi * n + j] = v;
            }
        }
    }
}
