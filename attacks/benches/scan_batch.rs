//! Batch throughput of the output scanner (harness = false), one thread, against an index of
//! ~100 MB of training text (the demo generator): the worst case (outputs that are long verbatim
//! copies of training records) and the no-match case (held-out records never indexed), in MB/s of
//! outputs. The split over the scanner's stages (normalise, PII detectors, tokenize, suffix-array
//! search) is measured in the same run on the same outputs, as fractions of the whole.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo bench -p vg-attacks --bench scan_batch`
//! (`VG_SCAN_BENCH_MB`: training text in MB, default 100; `VG_SCAN_BENCH_OUT_MB`: outputs per case, default 8).

use std::time::Instant;

use serde_json::json;
use vg_attacks::extraction::scan::{Cleaning, IndexSource, ScanIndex, Scanner, VerdictKind};
use vg_attacks::extraction::{StreamRecord, StreamRecordKind};
use vg_corpora::fast_bpe::FastEncoder;
use vg_corpora::normalize::normalize;
use vg_corpora::pii::PiiDetector;

fn env_mb(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Demo records (seeds from `first_seed` on) until `bytes` of text.
fn demo_texts(bytes: usize, first_seed: u64) -> Vec<String> {
    let mut out = Vec::new();
    let mut total = 0;
    let mut seed = first_seed;
    while total < bytes {
        for t in vg_corpora::demo::generate(10_000, seed) {
            total += t.len();
            out.push(t);
            if total >= bytes {
                break;
            }
        }
        seed += 1;
    }
    out
}

/// Texts joined into outputs of about 2 KB.
fn outputs(texts: &[String], bytes: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut total = 0;
    for t in texts.iter().cycle() {
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(t);
        if cur.len() >= 2048 {
            total += cur.len();
            out.push(std::mem::take(&mut cur));
            if total >= bytes {
                break;
            }
        }
    }
    out
}

fn secs(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn main() {
    let train_mb = env_mb("VG_SCAN_BENCH_MB", 100);
    let out_mb = env_mb("VG_SCAN_BENCH_OUT_MB", 8);
    eprintln!("threads: {} (per-core figures need RAYON_NUM_THREADS=1)", rayon::current_num_threads());
    let t = Instant::now();
    let training = demo_texts(train_mb << 20, 1);
    let train_bytes: usize = training.iter().map(String::len).sum();
    eprintln!("generated {} training records, {:.1} MB, in {:.1} s", training.len(), train_bytes as f64 / 1e6, t.elapsed().as_secs_f64());
    let t = Instant::now();
    let tokenizer = vg_corpora::tokenizer::train_bpe(training.iter().take(20_000), 4096).expect("tokenizer trains");
    let normalised: Vec<String> = training.iter().map(|s| normalize(s)).collect();
    let tokens = vg_corpora::tokenizer::encode_all(&tokenizer, &normalised).expect("encodes");
    let n_tokens: usize = tokens.iter().map(Vec::len).sum();
    eprintln!("tokenizer + encoding: {n_tokens} tokens in {:.1} s", t.elapsed().as_secs_f64());
    let dir = tempfile::tempdir().expect("temp dir");
    let index_dir = dir.path().join("index");
    let source = IndexSource {
        description: "benchmark: demo records".into(),
        records: tokens.into_iter().enumerate().map(|(i, t)| (StreamRecord { kind: StreamRecordKind::Record, id: i as u64 }, t)).collect(),
        tokenizer_json: vg_corpora::tokenizer::to_json(&tokenizer).expect("serialises"),
        cleaning: Cleaning::normalise_only(),
        secrets: Vec::new(),
        pii_hashes: None,
    };
    let build_s = secs(|| {
        ScanIndex::build(source, &index_dir, false).expect("index builds");
    });
    let mut open_s = 0.0;
    let mut index = None;
    open_s += secs(|| index = Some(ScanIndex::open(&index_dir).expect("index opens")));
    let scanner = Scanner::new(index.expect("opened"), None, 50).expect("scanner");
    let stages_index = ScanIndex::open(&index_dir).expect("index opens");
    eprintln!("index: built in {build_s:.1} s, opened (CRC + checks, mmap) in {open_s:.2} s");

    let detector = PiiDetector::new();
    let encoder = FastEncoder::new(&tokenizer).expect("byte-level BPE");
    let heldout = demo_texts(out_mb << 20, 1_000_000);
    let cases = [("worst case: verbatim copies of training records", outputs(&training, out_mb << 20)), ("no match: held-out records", outputs(&heldout, out_mb << 20))];
    let mut results = Vec::new();
    for (name, outs) in &cases {
        let bytes: usize = outs.iter().map(String::len).sum();
        let mut flagged = 0usize;
        let mut verbatim = 0usize;
        let total_s = secs(|| {
            for (i, o) in outs.iter().enumerate() {
                let v = scanner.scan(json!(i), o);
                flagged += usize::from(v.verdict == VerdictKind::Flag);
                verbatim += usize::from(v.longest_verbatim() > 0);
            }
        });
        let normal: Vec<String> = outs.iter().map(|o| normalize(o)).collect();
        let normalise_s = secs(|| outs.iter().for_each(|o| drop(std::hint::black_box(normalize(o)))));
        let detect_s = secs(|| normal.iter().for_each(|o| drop(std::hint::black_box(detector.find(o)))));
        let encoded: Vec<Vec<u32>> = normal.iter().map(|o| encoder.encode(o).expect("encodes")).collect();
        let encode_s = secs(|| normal.iter().for_each(|o| drop(std::hint::black_box(encoder.encode(o)))));
        let search_s = secs(|| encoded.iter().for_each(|t| drop(std::hint::black_box(stages_index.stream().verbatim_spans(t, 50)))));
        let mb_s = bytes as f64 / 1e6 / total_s;
        println!("{name}: {} outputs, {:.1} MB: {mb_s:.1} MB/s ({:.1} µs per 2 KB output); flagged {flagged}, verbatim {verbatim}", outs.len(), bytes as f64 / 1e6, 1e6 * total_s / outs.len() as f64 * 2048.0 / (bytes as f64 / outs.len() as f64));
        println!(
            "  stages as fractions of the whole scan: normalise {:.2}, PII detectors {:.2}, tokenize {:.2}, suffix-array search {:.2} (rest: fragments, redaction, verdicts)",
            normalise_s / total_s, detect_s / total_s, encode_s / total_s, search_s / total_s
        );
        results.push(json!({"case": name, "mb_per_s": mb_s, "outputs": outs.len(), "flagged": flagged, "verbatim": verbatim,
            "fractions": {"normalise": normalise_s / total_s, "detect": detect_s / total_s, "tokenize": encode_s / total_s, "search": search_s / total_s}}));
    }
    println!("{}", json!({"training_mb": train_bytes as f64 / 1e6, "training_tokens": n_tokens, "index_build_s": build_s, "index_open_s": open_s, "cases": results}));
}
