//! Throughput of `prepare` on ≥ 100 MB of demo text: MB/s per stage (read, normalise,
//! de-identify, dedup, tokenize) and for the whole pipeline.
//!
//! `RAYON_NUM_THREADS=2 cargo bench -p vg-corpora --bench prepare` (size: `VG_BENCH_MB`, default 100).

use std::time::Instant;

use rayon::prelude::*;
use vg_corpora::pii::{deidentify, PiiDetector};
use vg_corpora::readers::{read_file, FileFormat, Item, ReaderConfig};
use vg_corpora::suffix_array::SuffixArray;
use vg_corpora::{demo, dedup, normalize, prepare, tokenizer, PrepareOptions, RecordMode};

fn rate(bytes: usize, secs: f64) -> String {
    format!("{:8.1} MB/s  ({:6.2} s)", bytes as f64 / 1e6 / secs, secs)
}

fn main() {
    let target_mb: usize = std::env::var("VG_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("demo.jsonl");
    // demo records average ~560 bytes of text (~620 as JSON lines)
    let n = target_mb * 1_000_000 / 540;
    let t = Instant::now();
    let file_bytes = demo::write_jsonl(&input, n, 1).expect("demo corpus");
    println!(
        "input: {n} demo records, {:.1} MB JSONL (generated in {:.1} s), {} rayon threads",
        file_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );

    // read
    let cfg = ReaderConfig { records: RecordMode::Lines, field: "text".into(), column: "text".into() };
    let t = Instant::now();
    let mut raw = Vec::with_capacity(n);
    read_file(&input, FileFormat::Jsonl, &cfg, &mut |item| {
        if let Item::Record { text, .. } = item {
            raw.push(text);
        }
        Ok(())
    })
    .expect("read");
    let text_bytes: usize = raw.iter().map(String::len).sum();
    println!("read (JSONL)     {}   [{:.1} MB of text]", rate(file_bytes as usize, t.elapsed().as_secs_f64()), text_bytes as f64 / 1e6);

    let t = Instant::now();
    let normal: Vec<String> = raw.par_iter().with_min_len(256).map(|r| normalize::normalize(r)).collect();
    println!("normalise        {}", rate(text_bytes, t.elapsed().as_secs_f64()));
    drop(raw);

    let det = PiiDetector::new();
    let t = Instant::now();
    let clean: Vec<String> = normal.par_iter().with_min_len(256).map(|r| deidentify(&det, r, &[]).text).collect();
    println!("de-identify      {}", rate(text_bytes, t.elapsed().as_secs_f64()));
    drop(normal);

    let clean_bytes: usize = clean.iter().map(String::len).sum();
    let t = Instant::now();
    let exact = dedup::exact_duplicates(&clean);
    let unique: Vec<&str> = clean.iter().zip(&exact).filter(|(_, d)| !**d).map(|(c, _)| c.as_str()).collect();
    let t_exact = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let near = dedup::near_duplicates(&unique, 200).expect("near dedup");
    let t_near = t.elapsed().as_secs_f64();
    println!(
        "dedup            {}   [exact {:.2} s, near {:.2} s; {} exact + {} near duplicates]",
        rate(clean_bytes, t_exact + t_near),
        t_exact,
        t_near,
        exact.iter().filter(|d| **d).count(),
        near.iter().filter(|d| **d).count()
    );
    let sample: Vec<u8> = unique.iter().take(40_000).flat_map(|s| s.bytes().chain([0xFF])).collect();
    let t = Instant::now();
    let sa = SuffixArray::<u8>::build(sample.clone()).expect("suffix array");
    let t_sa = t.elapsed().as_secs_f64();
    println!("  suffix array   {:8.1} M bytes/s over {:.1} MB", sample.len() as f64 / 1e6 / t_sa, sample.len() as f64 / 1e6);
    drop(sa);

    let kept: Vec<&str> = unique.iter().zip(&near).filter(|(_, d)| !**d).map(|(c, _)| *c).collect();
    let train: Vec<&str> = kept.iter().step_by(5).copied().scan(0usize, |b, s| {
        *b += s.len();
        (*b <= 4 << 20).then_some(s)
    }).collect();
    let t = Instant::now();
    let tok = tokenizer::train_bpe(train.iter().copied(), 2048).expect("train");
    let train_bytes: usize = train.iter().map(|s| s.len()).sum();
    println!("tokenizer train  {}   [{:.1} MB sample, vocab 2048]", rate(train_bytes, t.elapsed().as_secs_f64()), train_bytes as f64 / 1e6);
    let kept_bytes: usize = kept.iter().map(|s| s.len()).sum();
    let t = Instant::now();
    let ids = tokenizer::encode_all(&tok, &kept).expect("encode");
    let t_tok = t.elapsed().as_secs_f64();
    let n_tokens: usize = ids.iter().map(Vec::len).sum();
    println!("tokenize         {}   [{:.1} M tokens, {:.2} M tokens/s]", rate(kept_bytes, t_tok), n_tokens as f64 / 1e6, n_tokens as f64 / 1e6 / t_tok);
    drop((clean, ids));

    let out = dir.path().join("corpus");
    let opts = PrepareOptions { seed: Some(1), ..PrepareOptions::new(vec![input.clone()], out) };
    let t = Instant::now();
    let mut stage_started: Vec<(vg_corpora::Stage, f64)> = Vec::new();
    let m = prepare(&opts, &mut |stage, _, _| {
        if stage_started.last().map(|s| s.0) != Some(stage) {
            stage_started.push((stage, t.elapsed().as_secs_f64()));
        }
    })
    .expect("prepare");
    let secs = t.elapsed().as_secs_f64();
    let ends = stage_started.iter().skip(1).map(|s| s.1).chain([secs]);
    let split: Vec<String> = stage_started.iter().zip(ends).map(|((st, a), b)| format!("{} {:.2} s", st.name(), b - a)).collect();
    println!("prepare stages   {}", split.join(", "));
    println!(
        "prepare (all)    {}   [{} read → {} kept; {} tokens]",
        rate(file_bytes as usize, secs),
        m.counts.read,
        m.counts.kept,
        m.tokens.total
    );
}
