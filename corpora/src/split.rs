//! The seeded split: each record goes to the candidate pool or the population, and each pool record
//! gets a membership bit with probability ½ (design.md, step 1).
//!
//! Every decision is a pure function of (seed, record id), so a split is reproducible from the
//! recorded seed and does not change for a record when other records are added or removed.

/// SplitMix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) for (seed, id, stream), from the top 53 bits.
fn uniform(seed: u64, id: u64, stream: u64) -> f64 {
    let h = mix64(mix64(seed ^ mix64(stream)) ^ id);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Assignment of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// Population split (never trained on).
    Population,
    /// Candidate pool, with its membership bit.
    Pool {
        /// Trained on when true.
        member: bool,
    },
}

/// Assigns record `id`: population with probability `population_fraction`, otherwise pool with
/// membership bit 1 with probability ½.
pub fn assign(seed: u64, id: u64, population_fraction: f64) -> Assignment {
    if uniform(seed, id, 1) < population_fraction {
        Assignment::Population
    } else {
        Assignment::Pool { member: uniform(seed, id, 2) < 0.5 }
    }
}

/// A seeded sort key for sampling records (e.g. the tokenizer's training sample).
pub fn sample_key(seed: u64, id: u64) -> u64 {
    mix64(mix64(seed ^ mix64(3)) ^ id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_close_to_the_requested_ones() {
        let n = 100_000u64;
        let (mut pop, mut mem, mut pool) = (0u64, 0u64, 0u64);
        for id in 0..n {
            match assign(42, id, 0.2) {
                Assignment::Population => pop += 1,
                Assignment::Pool { member } => {
                    pool += 1;
                    mem += member as u64;
                }
            }
        }
        // 5 binomial standard deviations
        assert!((pop as f64 - 0.2 * n as f64).abs() < 5.0 * (n as f64 * 0.16).sqrt(), "{pop}");
        assert!((mem as f64 - 0.5 * pool as f64).abs() < 5.0 * (pool as f64 * 0.25).sqrt(), "{mem} of {pool}");
    }
}
