//! Suffix-array benchmark (harness = false): construction on ≥ 100 MB of input — our
//! `SuffixArray` (libsais) side by side with libsais called directly and the `suffix` crate —
//! in MB/s and peak memory per input byte, then the verbatim search (`maximal_matches`, L = 50)
//! of 10 MB of generated tokens against the token index, in tokens/s.
//!
//! Each case runs in its own child process (this binary re-executed with `VG_SA_BENCH_CASE`), so
//! each peak-memory reading (`VmHWM` of /proc/self/status) belongs to that case alone.
//! Run: `RAYON_NUM_THREADS=1 cargo bench -p vg-corpora --bench suffix_array`
//! (`VG_SA_BENCH_MB` changes the input size, default 100).

use std::process::Command;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vg_corpora::suffix_array::{SuffixArray, Symbol};

const CASES: [&str; 5] = ["tokens: SuffixArray<u32>", "tokens: libsais i32 direct", "bytes: SuffixArray<u8>", "bytes: libsais u8 direct", "bytes: suffix crate"];
const VOCAB: f64 = 4096.0;

fn input_mb() -> usize {
    std::env::var("VG_SA_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(100)
}

/// Peak resident memory of this process so far, in bytes.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A skewed token (small ids frequent, like natural text).
fn token(rng: &mut ChaCha8Rng) -> u32 {
    (rng.random::<f64>().powi(3) * VOCAB) as u32
}

/// Records of 50–400 tokens separated by `u32::SEPARATOR`; one record in ten copies a span of an
/// earlier one (near duplicates, as in real corpora).
fn token_corpus(n_tokens: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut text = Vec::with_capacity(n_tokens);
    while text.len() < n_tokens {
        let len = rng.random_range(50..400usize);
        if text.len() > 10_000 && rng.random_bool(0.1) {
            let from = rng.random_range(0..text.len() - 500);
            let copy: Vec<u32> = text[from..from + len].iter().copied().filter(|&t| t != u32::SEPARATOR).collect();
            text.extend(copy);
        } else {
            text.extend((0..len).map(|_| token(&mut rng)));
        }
        text.push(u32::SEPARATOR);
    }
    text.truncate(n_tokens);
    text
}

/// Lower-case words drawn from a skewed 4096-word vocabulary, records separated by newlines.
fn byte_corpus(n_bytes: usize, seed: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let words: Vec<String> = (0..VOCAB as usize)
        .map(|_| (0..rng.random_range(2..10)).map(|_| rng.random_range(b'a'..=b'z') as char).collect())
        .collect();
    let mut text = String::with_capacity(n_bytes + 16);
    while text.len() < n_bytes {
        for _ in 0..rng.random_range(20..80) {
            text.push_str(&words[token(&mut rng) as usize]);
            text.push(' ');
        }
        text.push('\n');
    }
    text.truncate(n_bytes);
    text
}

fn run_case(case: &str) {
    let mb = input_mb();
    let bytes = mb << 20;
    let (input_bytes, seconds, before) = if case.starts_with("tokens") {
        let mut text = token_corpus(bytes / 4, 1);
        let before = peak_rss_bytes();
        let t = Instant::now();
        let n = if case == CASES[0] {
            SuffixArray::build(text).unwrap().sa().len()
        } else {
            let max = text.iter().copied().filter(|&v| v != u32::SEPARATOR).max().unwrap_or(0);
            text.iter_mut().filter(|v| **v == u32::SEPARATOR).for_each(|v| *v = max + 1);
            let ints: &mut [i32] = bytemuck::cast_slice_mut(&mut text);
            // SAFETY: every value lies in [0, max + 2).
            let sa = unsafe {
                libsais::SuffixArrayConstruction::for_text_mut(ints)
                    .in_owned_buffer32()
                    .single_threaded()
                    .with_alphabet_size(libsais::suffix_array::AlphabetSize::new(max as i32 + 2))
                    .run()
            }
            .unwrap()
            .into_vec();
            sa.len()
        };
        assert_eq!(n, bytes / 4);
        (bytes, t.elapsed().as_secs_f64(), before)
    } else {
        let text = byte_corpus(bytes, 2);
        let before = peak_rss_bytes();
        let t = Instant::now();
        let n = if case == CASES[2] {
            SuffixArray::build(text.into_bytes()).unwrap().sa().len()
        } else if case == CASES[3] {
            libsais::SuffixArrayConstruction::for_text(text.as_bytes()).in_owned_buffer32().single_threaded().run().unwrap().into_vec().len()
        } else {
            suffix::SuffixTable::new(text.as_str()).table().len()
        };
        assert_eq!(n, bytes);
        (bytes, t.elapsed().as_secs_f64(), before)
    };
    let peak = peak_rss_bytes();
    println!(
        "RESULT\t{case}\t{:.1} MB in {seconds:.2} s = {:.1} MB/s\tpeak RSS {:.2} B/input byte ({:.2} B/byte above the loaded input)",
        input_bytes as f64 / 1e6,
        input_bytes as f64 / 1e6 / seconds,
        peak as f64 / input_bytes as f64,
        peak.saturating_sub(before) as f64 / input_bytes as f64
    );
    if case == CASES[0] {
        verbatim_search(bytes / 4);
    }
}

/// 10 MB of generated tokens (generations of 256): 90 % fresh text, 10 % carrying a 60–200-token
/// span copied from the corpus; every maximal span ≥ 50 tokens is found.
fn verbatim_search(n_tokens: usize) {
    let index = SuffixArray::build(token_corpus(n_tokens, 1)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let generations: Vec<Vec<u32>> = (0..(10 << 20) / 4 / 256)
        .map(|_| {
            let mut g: Vec<u32> = (0..256).map(|_| token(&mut rng)).collect();
            if rng.random_bool(0.1) {
                let len = rng.random_range(60..200usize);
                let from = rng.random_range(0..index.len() - len);
                let at = rng.random_range(0..256 - len.min(255));
                for (i, &t) in index.text()[from..from + len].iter().enumerate() {
                    if at + i < 256 && t != u32::SEPARATOR {
                        g[at + i] = t;
                    }
                }
            }
            g
        })
        .collect();
    let total: usize = generations.iter().map(Vec::len).sum();
    let t = Instant::now();
    let (mut spans, mut with_hit, mut longest) = (0usize, 0usize, 0usize);
    for g in &generations {
        let found = index.maximal_matches(g, 50);
        with_hit += usize::from(!found.is_empty());
        spans += found.len();
        longest = longest.max(found.iter().map(|m| m.len).max().unwrap_or(0));
    }
    let seconds = t.elapsed().as_secs_f64();
    println!(
        "RESULT\tverbatim search (L = 50)\t{total} tokens ({:.1} MB) in {seconds:.2} s = {:.2} M tokens/s\t{with_hit} of {} generations with a span, {spans} spans, longest {longest}",
        total as f64 * 4.0 / 1e6,
        total as f64 / seconds / 1e6,
        generations.len()
    );
}

fn main() {
    if let Ok(case) = std::env::var("VG_SA_BENCH_CASE") {
        run_case(&case);
        return;
    }
    let exe = std::env::current_exe().expect("path of this benchmark");
    println!("suffix-array construction on {} MiB of input, single-threaded", input_mb());
    for case in CASES {
        let out = Command::new(&exe).env("VG_SA_BENCH_CASE", case).output().expect("run benchmark case");
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            println!("{case}: failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        for line in stdout.lines().filter_map(|l| l.strip_prefix("RESULT\t")) {
            println!("{}", line.replace('\t', "  |  "));
        }
    }
}
