//! Throughput of the per-record membership scores (loss, zlib, min-k%, min-k%++, LiRA φ, RMIA P)
//! on 100,000 records of 128 tokens, with and without the zlib lengths precomputed.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo bench -p vg-attacks --bench scores`

use vg_attacks::model::TokenLogProbs;
use vg_attacks::scores::*;

fn main() {
    let n = 100_000;
    let text = "Hello, I need help with my last invoice. My account number is 4821093711. The charge from March was applied twice and I would like a refund to my card.";
    let stats: Vec<TokenLogProbs> = (0..n)
        .map(|i| {
            let lp: Vec<f64> = (0..128).map(|t| -(((i * 31 + t * 17) % 97) as f64) / 20.0).collect();
            TokenLogProbs { mu: lp.iter().map(|v| v - 0.3).collect(), sigma: vec![1.1; 128], logprob: lp }
        })
        .collect();
    let texts = vec![text; n];
    let start = std::time::Instant::now();
    let scores = compute_scores_batch(&stats, &texts, DEFAULT_MIN_K).unwrap();
    let all = start.elapsed();
    let lens = zlib_lengths(&texts);
    let start = std::time::Instant::now();
    let again = compute_scores_batch_with_zlib_lens(&stats, &lens, DEFAULT_MIN_K).unwrap();
    let without_zlib = start.elapsed();
    assert_eq!(scores, again);
    eprintln!(
        "{n} records × 128 tokens: all scores {:.3} s ({:.1} M tokens/s); with zlib lengths precomputed {:.3} s",
        all.as_secs_f64(),
        (n * 128) as f64 / all.as_secs_f64() / 1e6,
        without_zlib.as_secs_f64()
    );
}
