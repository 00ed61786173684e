//! Batch throughput of the output scanner (harness = false), one thread, against an index of
//! ~100 MB of training text (the demo generator): the worst case (outputs that are long verbatim
//! copies of training records) and the no-match case (held-out records never indexed), in MB/s of
//! outputs; and "nothing matches" (held-out records with their planted PII values replaced, so no
//! reason at all applies: the pass path). The split over the scanner's stages (normalise, PII detectors, tokenize, suffix-array
//! search) is measured in the same run on the same outputs, as fractions of the whole.
//!
//! Recall and false flags on the same index: every word-aligned copy of exactly 50 tokens of a
//! training record must be flagged verbatim, every PII value planted in a held-out record must be
//! flagged and redacted, and held-out records (text never indexed) flagged for a verbatim span are
//! counted as false flags (target: at most 1 in 100).
//!
//! Run: `RAYON_NUM_THREADS=1 cargo bench -p vg-attacks --bench scan_batch`
//! (`VG_SCAN_BENCH_MB`: training text in MB, default 100; `VG_SCAN_BENCH_OUT_MB`: outputs per case, default 8).

use std::time::Instant;

use serde_json::json;
use vg_attacks::extraction::scan::{Cleaning, IndexSource, ScanIndex, Scanner, VerdictKind};
use vg_attacks::extraction::{StreamRecord, StreamRecordKind};
use vg_corpora::fast_bpe::{EncodeCache, FastEncoder};
use vg_corpora::normalize::normalize;
use vg_corpora::pii::PiiDetector;

// The vg-audit binary's allocator, so the figures are the CLI's (the scanner allocates per output).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let recall_tokens: Vec<Vec<u32>> = tokens.iter().take(RECALL_RECORDS).cloned().collect();
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
    let clean: Vec<String> = (2_000_000..).flat_map(|seed| vg_corpora::demo::generate_records(2_000, seed)).take(heldout.len()).map(without_pii).collect();
    let cases = [
        ("worst case: verbatim copies of training records", outputs(&training, out_mb << 20)),
        ("no verbatim match: held-out records (planted PII flagged)", outputs(&heldout, out_mb << 20)),
        ("nothing matches: held-out records, PII values replaced", outputs(&clean, out_mb << 20)),
    ];
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
        // With a warm piece cache, as the scanner keeps one per thread.
        let mut cache = EncodeCache::default();
        normal.iter().for_each(|o| drop(encoder.encode_cached(o, &mut cache)));
        let encode_s = secs(|| normal.iter().for_each(|o| drop(std::hint::black_box(encoder.encode_cached(o, &mut cache)))));
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
    let recall = recall_and_false_flags(&scanner, &tokenizer, &recall_tokens);
    println!("{}", json!({"training_mb": train_bytes as f64 / 1e6, "training_tokens": n_tokens, "index_build_s": build_s, "index_open_s": open_s, "cases": results, "recall": recall}));
}

/// Training records whose word-aligned 50-token spans are checked for recall.
const RECALL_RECORDS: usize = 2_000;
/// Held-out records for PII recall and the false-flag rate.
const HELDOUT_RECORDS: usize = 2_000;

/// A held-out record with each planted PII value replaced by a plain word.
fn without_pii(r: vg_corpora::demo::DemoRecord) -> String {
    r.pii.iter().fold(r.text, |t, (_, value)| t.replace(value.as_str(), "someone"))
}

/// Recall of verbatim copies and planted PII, and the false-flag rate on held-out records.
fn recall_and_false_flags(scanner: &Scanner, tokenizer: &tokenizers::Tokenizer, records: &[Vec<u32>]) -> serde_json::Value {
    const L: usize = 50;
    let starts_word = |id: u32| tokenizer.id_to_token(id).is_some_and(|t| t.starts_with('\u{120}'));
    let (mut copies, mut copies_flagged) = (0usize, 0usize);
    for t in records {
        let Some(i) = (0..t.len().saturating_sub(L + 1)).find(|&i| starts_word(t[i]) && starts_word(t[i + L])) else { continue };
        let span = tokenizer.decode(&t[i..i + L], false).expect("decodes");
        let v = scanner.scan(json!(copies), &format!("Sure, here it is:{span} Anything else?"));
        copies += 1;
        copies_flagged += usize::from(v.longest_verbatim() >= L);
    }
    let heldout = vg_corpora::demo::generate_records(HELDOUT_RECORDS, 3_000_000);
    let (mut planted, mut planted_flagged, mut false_flags) = (0usize, 0usize, 0usize);
    for (i, r) in heldout.iter().enumerate() {
        let v = scanner.scan(json!(i), &r.text);
        let text = v.text.as_deref().unwrap_or("");
        let pii = v.kinds().contains(&"pii");
        for (_, value) in &r.pii {
            planted += 1;
            planted_flagged += usize::from(pii && !text.contains(value.as_str()));
        }
        false_flags += usize::from(v.longest_verbatim() > 0);
    }
    println!(
        "recall: verbatim copies of {L} tokens flagged {copies_flagged}/{copies}; planted PII values flagged and redacted {planted_flagged}/{planted}; \
held-out records flagged verbatim (false flags) {false_flags}/{} = {:.2} %",
        heldout.len(),
        100.0 * false_flags as f64 / heldout.len() as f64
    );
    json!({"verbatim_copies": copies, "verbatim_flagged": copies_flagged, "planted_pii": planted, "planted_pii_flagged": planted_flagged,
        "heldout": heldout.len(), "heldout_false_flags": false_flags})
}
