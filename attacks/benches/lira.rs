//! Benchmark: LiRA online on 1 M records × 64 shadow models (one query), then the full exact
//! ROC of the online scores (AUC and TPR at 0.1 % FPR). Goal: under 2 s. Prints the time of one
//! pass over the shadow matrix as a baseline (memory bandwidth) and the ratio against it.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo bench --release -p vg-attacks --bench lira`
//! (`VG_BENCH_RECORDS` overrides the 1 M records.)

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use vg_attacks::metrics::{FprRule, Roc};
use vg_attacks::mia::lira::{lira, LiraOptions, LiraVariance, Location};
use vg_attacks::mia::{ShadowRole, ShadowScores};

fn main() {
    let records: usize = std::env::var("VG_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let models = 64;
    let t0 = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut scores = Vec::with_capacity(records * models);
    let mut roles = Vec::with_capacity(records * models);
    let mut target = Vec::with_capacity(records);
    let mut members = Vec::with_capacity(records);
    for _ in 0..records {
        // Per-record difficulty, a membership shift of 0.5 and noise 0.3 (logit-scale φ).
        let base: f64 = -1.0 + Distribution::<f64>::sample(&StandardNormal, &mut rng);
        for _ in 0..models {
            let is_in = rng.random_bool(0.5);
            let noise: f64 = StandardNormal.sample(&mut rng);
            scores.push(base + if is_in { 0.5 } else { 0.0 } + 0.3 * noise);
            roles.push(if is_in { ShadowRole::In } else { ShadowRole::Out });
        }
        let member = rng.random_bool(0.5);
        let noise: f64 = StandardNormal.sample(&mut rng);
        target.push(base + if member { 0.5 } else { 0.0 } + 0.3 * noise);
        members.push(member);
    }
    let shadows = ShadowScores::new(records, models, 1, scores, roles).expect("valid shadow data");
    eprintln!("generated {records} records × {models} shadows in {:.2} s", t0.elapsed().as_secs_f64());

    let t = Instant::now();
    let pass: f64 = (0..records).map(|r| shadows.record_scores(r).iter().sum::<f64>()).sum();
    let baseline = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let opts = LiraOptions { variance: LiraVariance::Global, location: Location::Median };
    let out = lira(&shadows, &target, &opts).expect("lira");
    let t_lira = t.elapsed().as_secs_f64();
    let online = out.online.expect("online scores");

    let t = Instant::now();
    let roc = Roc::from_scores(&online, &members).expect("roc");
    let auc = roc.auc();
    let tpr = roc.tpr_at_fpr(1e-3, FprRule::Strict);
    let t_roc = t.elapsed().as_secs_f64();

    let total = t_lira + t_roc;
    let threads = rayon::current_num_threads();
    println!("lira bench: {records} records × {models} shadows, {threads} rayon thread(s)");
    println!("  LiRA online+offline: {t_lira:.3} s; full ROC ({} points) + AUC + TPR: {t_roc:.3} s", roc.len());
    println!("  total {total:.3} s (goal < 2 s: {})", if total < 2.0 { "met" } else { "NOT met" });
    println!("  baseline one pass over the matrix: {baseline:.3} s (checksum {pass:.1}); ratio total/baseline = {:.1}", total / baseline);
    println!("  AUC {auc:.4}, TPR at 0.1 % FPR {tpr:.4}");
}
