//! Shadow/reference model splits: every record is IN for exactly K/2 of K shadows, as in the LiRA
//! reference code (Carlini et al. 2022, `train.py`: `keep = rng.uniform(size=(K, N)).argsort(0) < K/2`).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::{Error, Result};

/// `keep[k][i]` = record i is in shadow k's training set. K must be even and ≥ 2; the split is a
/// deterministic function of `seed` (recorded with each shadow model).
pub fn shadow_assignment(n_records: usize, k: usize, seed: u64) -> Result<Vec<Vec<bool>>> {
    if k < 2 || k % 2 != 0 {
        return Err(Error::param("shadows", k, "must be an even number ≥ 2 so that each record is IN for exactly K/2 shadows"));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut keep = vec![vec![false; n_records]; k];
    let mut order: Vec<usize> = (0..k).collect();
    for i in 0..n_records {
        order.shuffle(&mut rng);
        for &s in &order[..k / 2] {
            keep[s][i] = true;
        }
    }
    Ok(keep)
}
