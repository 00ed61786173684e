//! `vg-audit score`: per-record losses and membership scores of a model trained elsewhere (a
//! Hugging Face checkpoint) or of a run's model, on records from a JSON Lines file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::Outcome;

use anyhow::{bail, Context};
use polars::prelude::{Column, DataFrame, ParquetWriter};
use vg_attacks::model::TokenScorer;
use vg_attacks::scores::{compute_scores_with_zlib_len, zlib_lengths, DEFAULT_MIN_K};

use vg_audit::adapters::external::ExternalModel;
use vg_audit::pipeline::records::read_jsonl;
use vg_audit::progress;

/// Arguments of `vg-audit score`.
#[derive(clap::Args)]
#[command(after_help = "Each record is encoded with the model's tokenizer (special tokens added as its \
post-processor says, e.g. <bos> for Llama and Gemma), cut to its first N token ids, and every token after \
the first is scored given the ones before. Columns: id (the record's \"id\" field, else its line number), \
predicted_tokens, mean_nll and sum_nll (nats), and the membership scores the attacks use, each oriented \
higher = more likely a training member: zlib (−mean_nll / zlib bytes), min_k and min_k_plus_plus (k = 20 %). \
A record with fewer than two tokens has predicted_tokens 0 and empty scores.")]
pub(crate) struct Args {
    #[command(flatten)]
    device: super::DeviceArg,
    #[command(flatten)]
    records: super::ModelRecords,
    /// Keep the first N token ids of each record (default: the model's context length).
    #[arg(long, value_name = "N")]
    max_tokens: Option<usize>,
    /// Output table: .csv or .parquet (written atomically).
    #[arg(long, value_name = "F.csv|F.parquet")]
    out: PathBuf,
    /// Print a JSON summary (records, tokens, mean_nll, seconds, tokens_per_second) on stdout.
    #[arg(long)]
    json: bool,
}

/// One output row.
struct Row {
    id: String,
    predicted_tokens: usize,
    mean_nll: f64,
    sum_nll: f64,
    zlib: f64,
    min_k: f64,
    min_k_plus_plus: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum OutFormat {
    Csv,
    Parquet,
}

fn out_format(path: &Path) -> anyhow::Result<OutFormat> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => Ok(OutFormat::Csv),
        Some("parquet") => Ok(OutFormat::Parquet),
        _ => bail!("--out {}: the name must end in .csv or .parquet", path.display()),
    }
}

/// Runs `vg-audit score`.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    args.device.select()?;
    let format = out_format(&args.out)?;
    if args.max_tokens.is_some_and(|n| n < 2) {
        bail!("--max-tokens must be ≥ 2 (one token to condition on, one to score)");
    }
    let records = read_jsonl(&args.records.input, &args.records.field)?;
    let model = ExternalModel::open(&args.records.model)?;
    let max_tokens = args.max_tokens.unwrap_or(usize::MAX).min(model.max_positions());
    let t0 = Instant::now();
    let mut inputs = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let mut ids = model.encode(&r.text).with_context(|| format!("{}: record {} (id {})", args.records.input.display(), i + 1, r.id))?;
        ids.truncate(max_tokens);
        inputs.push(ids);
    }
    let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
    let zlib = zlib_lengths(&texts);
    let bar = progress::bar(records.len() as u64, "scoring", "records");
    let mut rows = Vec::with_capacity(records.len());
    let mut tokens = 0usize;
    // Chunks pace the progress bar; the model batches by length inside each.
    for (chunk, start) in inputs.chunks(64).zip((0..).step_by(64)) {
        let stats = model.score_tokens(chunk)?;
        for (j, st) in stats.iter().enumerate() {
            let i = start + j;
            let n = st.logprob.len();
            tokens += n;
            let row = if n == 0 {
                Row { id: records[i].id.clone(), predicted_tokens: 0, mean_nll: f64::NAN, sum_nll: f64::NAN, zlib: f64::NAN, min_k: f64::NAN, min_k_plus_plus: f64::NAN }
            } else {
                let set = compute_scores_with_zlib_len(st, zlib[i], DEFAULT_MIN_K)
                    .with_context(|| format!("record id {}", records[i].id))?;
                Row {
                    id: records[i].id.clone(),
                    predicted_tokens: n,
                    mean_nll: set.mean_loss(),
                    sum_nll: -set.total_logprob,
                    zlib: set.zlib,
                    min_k: set.min_k,
                    min_k_plus_plus: set.min_k_plus_plus.unwrap_or(f64::NAN),
                }
            };
            rows.push(row);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let seconds = t0.elapsed().as_secs_f64();
    write_rows(&args.out, format, &rows)?;
    let scored: Vec<&Row> = rows.iter().filter(|r| r.predicted_tokens > 0).collect();
    let mean_nll = scored.iter().map(|r| r.sum_nll).sum::<f64>() / tokens.max(1) as f64;
    if args.json {
        let summary = serde_json::json!({
            "model": model.dir(),
            "records": rows.len(),
            "records_without_tokens": rows.len() - scored.len(),
            "predicted_tokens": tokens,
            "mean_nll_per_token": mean_nll,
            "seconds": seconds,
            "tokens_per_second": tokens as f64 / seconds.max(1e-9),
            "out": args.out,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "scored {} records ({tokens} predicted tokens, {:.4} nats/token) with {} in {seconds:.1} s → {}",
            rows.len(),
            mean_nll,
            model.describe(),
            args.out.display()
        );
    }
    Ok(Outcome::Success)
}

fn write_rows(path: &Path, format: OutFormat, rows: &[Row]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("out")));
    match format {
        OutFormat::Csv => {
            let mut w = csv::Writer::from_path(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
            w.write_record(["id", "predicted_tokens", "mean_nll", "sum_nll", "zlib", "min_k", "min_k_plus_plus"])?;
            let num = |x: f64| if x.is_finite() { format!("{x}") } else { String::new() };
            for r in rows {
                w.write_record([r.id.clone(), r.predicted_tokens.to_string(), num(r.mean_nll), num(r.sum_nll), num(r.zlib), num(r.min_k), num(r.min_k_plus_plus)])?;
            }
            w.flush()?;
        }
        OutFormat::Parquet => {
            let opt = |f: fn(&Row) -> f64| -> Vec<Option<f64>> { rows.iter().map(|r| Some(f(r)).filter(|x| x.is_finite())).collect() };
            let cols = vec![
                Column::new("id".into(), rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>()),
                Column::new("predicted_tokens".into(), rows.iter().map(|r| r.predicted_tokens as u64).collect::<Vec<_>>()),
                Column::new("mean_nll".into(), opt(|r| r.mean_nll)),
                Column::new("sum_nll".into(), opt(|r| r.sum_nll)),
                Column::new("zlib".into(), opt(|r| r.zlib)),
                Column::new("min_k".into(), opt(|r| r.min_k)),
                Column::new("min_k_plus_plus".into(), opt(|r| r.min_k_plus_plus)),
            ];
            let mut df = DataFrame::new(rows.len(), cols)?;
            let file = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
            ParquetWriter::new(file).finish(&mut df)?;
        }
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
