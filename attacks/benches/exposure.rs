//! Exposure of 1000 canaries against 6 template families × 1000 reference canaries (skew-normal
//! fit and rank): wall time of `compute_exposures`.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo bench -p vg-attacks --bench exposure`

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vg_attacks::exposure::*;

fn canary(id: u64, family: &str, included: bool, score: f64) -> ExposureCanary {
    ExposureCanary { id, family: family.into(), included, score, secret_space_log2: 40.0 }
}

fn main() {
    let normal = SkewNormal { location: -40.0, scale: 5.0, shape: 2.0 };
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let families: Vec<String> = (0..6).map(|f| format!("family-{f}")).collect();
    let references: Vec<ExposureReference> = families
        .iter()
        .flat_map(|f| (0..1000).map(|_| ExposureReference { family: f.clone(), score: normal.sample(&mut rng) }).collect::<Vec<_>>())
        .collect();
    let canaries: Vec<ExposureCanary> = (0..1000)
        .map(|i| canary(i, &families[i as usize % 6], i % 2 == 0, normal.sample(&mut rng) + if i % 2 == 0 { 10.0 } else { 0.0 }))
        .collect();
    let start = std::time::Instant::now();
    let report = compute_exposures(&canaries, &references, DEFAULT_MIN_REFERENCES_FOR_FIT).unwrap();
    eprintln!(
        "exposure of 1000 canaries vs 6 × 1000 references: {:.3} s; mean fit exposure included {:.2}, not included {:.2}",
        start.elapsed().as_secs_f64(),
        report.included.fit.unwrap().mean,
        report.not_included.fit.unwrap().mean
    );
}
