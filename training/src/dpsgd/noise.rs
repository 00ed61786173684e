//! Secret randomness for DP-SGD: Poisson sampling decisions and Gaussian noise from ChaCha20.
//!
//! The key comes from the operating system and lives only in memory; it is never written, so
//! nobody can replay which steps used a record (that would void the amplification by
//! subsampling). `insecure_seed` derives the key from a number instead: reproducible, and the
//! model carries no DP guarantee.
//!
//! Floating-point caveat: a Gaussian sampled in floating point is not exactly Gaussian, and its
//! low-order bits can leak the unnoised value (Mironov 2012, "On significance of the least
//! significant bits for differential privacy"; Jin et al. 2022 for Gaussians). We sample f64
//! with rand_distr's ziggurat and add in the model dtype; `secure_noise` draws every coordinate
//! as (n₁+n₂+n₃+n₄)/2 with nᵢ ~ N(0, s²), the mitigation of Opacus's secure mode.

use candle_core::{DType, Device, Tensor};
use rand::{Rng, RngCore, SeedableRng, TryRngCore};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, StandardNormal};
use sha2::{Digest, Sha256};

use super::chacha::WideChaCha20Rng;
use crate::kernels::with_values;
use crate::{Error, Result};

/// Stream ids: each step gets its own sampling and noise stream (resume needs no RNG state); in
/// the noise stream each parameter tensor has its own segment (see [`DpRandomness::noise_rng`]).
const SAMPLING_STREAM: u64 = 0;
const NOISE_STREAM: u64 = 1;

/// The ChaCha20 stream id of step `step`'s `purpose`.
fn stream_id(step: u64, purpose: u64) -> u64 {
    step.wrapping_mul(2).wrapping_add(purpose)
}

/// The key behind DP-SGD's sampling and noise. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct DpRandomness {
    key: [u8; 32],
    insecure_seed: Option<u64>,
}

impl std::fmt::Debug for DpRandomness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.insecure_seed {
            Some(s) => write!(f, "DpRandomness(insecure seed {s})"),
            None => write!(f, "DpRandomness(OS-seeded, secret)"),
        }
    }
}

impl DpRandomness {
    /// A fresh secret key from the operating system.
    pub fn from_os() -> Result<Self> {
        let mut key = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut key)
            .map_err(|e| Error::privacy("randomness", "OS", format!("cannot read OS randomness: {e}")))?;
        Ok(DpRandomness { key, insecure_seed: None })
    }

    /// A key derived from `seed`: reproducible sampling and noise, and NO DP guarantee.
    pub fn insecure(seed: u64) -> Self {
        let mut h = Sha256::new();
        h.update(b"vg-training insecure DP seed v1");
        h.update(seed.to_le_bytes());
        DpRandomness { key: h.finalize().into(), insecure_seed: Some(seed) }
    }

    /// The seed, when the randomness is not secret.
    pub fn insecure_seed(&self) -> Option<u64> {
        self.insecure_seed
    }

    fn stream(&self, step: u64, purpose: u64) -> ChaCha20Rng {
        let mut rng = ChaCha20Rng::from_seed(self.key);
        rng.set_stream(stream_id(step, purpose));
        rng
    }

    /// The generator for step `step`'s Poisson sampling decisions.
    pub fn sampling_rng(&self, step: u64) -> ChaCha20Rng {
        self.stream(step, SAMPLING_STREAM)
    }

    /// The generator for the Gaussian noise of parameter tensor `tensor` at step `step`: its own
    /// segment of [`NOISE_SEGMENT_BLOCKS`] blocks of the step's noise stream, so tensors draw in
    /// parallel, the same values on any number of threads. [`NoiseSegment::check`] refuses a draw
    /// that ran past its segment (which would reuse another tensor's keystream).
    pub fn noise_rng(&self, step: u64, tensor: usize) -> NoiseSegment {
        // Segment i is blocks [i, i + 1) · 2^32; the last one must end within the 64-bit counter.
        let end = (tensor as u64 + 1).checked_mul(NOISE_SEGMENT_BLOCKS).expect("fewer than 2^32 − 1 parameter tensors");
        let first = end - NOISE_SEGMENT_BLOCKS;
        NoiseSegment { rng: WideChaCha20Rng::at_block(self.key, stream_id(step, NOISE_STREAM), first), end }
    }
}

/// Blocks of keystream per parameter tensor and step: 2^32 blocks of 64 bytes, 2^35 u64 draws, room
/// for ~8·10^9 Gaussians (or a quarter of that with secure noise) per tensor.
pub const NOISE_SEGMENT_BLOCKS: u64 = 1 << 32;

/// One parameter tensor's noise generator: ChaCha20 from the first block of its segment.
pub struct NoiseSegment {
    /// The generator; draw from it with [`add_gaussian`].
    pub rng: WideChaCha20Rng,
    end: u64,
}

impl NoiseSegment {
    /// Refuses a segment whose draws ran into the next tensor's keystream.
    pub fn check(&self) -> Result<()> {
        // The core has computed the blocks before `next_block`; all of them must be this segment's.
        if self.rng.next_block() > self.end {
            return Err(Error::privacy("noise", "keystream", format!("a parameter tensor's noise needed more than {NOISE_SEGMENT_BLOCKS} ChaCha20 blocks; its noise would repeat another tensor's")));
        }
        Ok(())
    }
}

/// Poisson sampling: each of `n` examples joins independently with probability `q`.
/// With `max_batch`, a larger draw is cut to a uniformly random subset of `max_batch` (truncated
/// Poisson, as VaultGemma did; its failure probability is charged to δ).
pub fn poisson_sample(rng: &mut ChaCha20Rng, n: usize, q: f64, max_batch: Option<usize>) -> Vec<usize> {
    let mut chosen: Vec<usize> = (0..n).filter(|_| rng.random::<f64>() < q).collect();
    if let Some(m) = max_batch {
        if chosen.len() > m {
            // Partial Fisher–Yates: a uniform m-subset, then back to index order.
            for i in 0..m {
                let j = rng.random_range(i..chosen.len());
                chosen.swap(i, j);
            }
            chosen.truncate(m);
            chosen.sort_unstable();
        }
    }
    chosen
}

/// Adds N(0, std²) per coordinate to `t` (drawn in f64 on the host, then moved to `t`'s device),
/// or the 4-sample sum when `secure`.
pub fn add_gaussian<R: RngCore>(t: &Tensor, std: f64, rng: &mut R, secure: bool) -> Result<Tensor> {
    if std == 0.0 {
        return Ok(t.clone());
    }
    let mut draw = || -> f64 {
        if secure {
            let s: f64 = (0..4).map(|_| -> f64 { StandardNormal.sample(rng) }).sum();
            std * s / 2.0
        } else {
            let z: f64 = StandardNormal.sample(rng);
            std * z
        }
    };
    // f32 on the CPU (the training case): each draw rounded to f32 and added as it is drawn, the
    // same values as below without a host buffer of f64 noise, a conversion pass and an add pass.
    if t.dtype() == DType::F32 && t.device().is_cpu() {
        let noised: Vec<f32> = with_values::<f32, _>(t, |values| Ok(values.iter().map(|&v| v + draw() as f32).collect()))?;
        return Ok(Tensor::from_vec(noised, t.shape(), &Device::Cpu)?);
    }
    let noise: Vec<f64> = (0..t.elem_count()).map(|_| draw()).collect();
    let noise = Tensor::from_vec(noise, t.shape(), &Device::Cpu)?;
    let noise = if t.dtype() == DType::F64 { noise } else { noise.to_dtype(t.dtype())? };
    // Drawn and rounded on the host as always; only then copied to the gradient's device.
    Ok((t + noise.to_device(t.device())?)?)
}

/// A ChaCha20 generator from a plain seed, for non-secret uses (data order, decoding).
pub fn seeded_rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tensor_draws_its_own_segment_of_the_steps_noise_stream() {
        // Tensor i of step s: rand_chacha's stream 2s + 1 from word 16 · 2^32 · i on.
        let randomness = DpRandomness::insecure(5);
        for tensor in [0usize, 1, 3] {
            let mut wide = randomness.noise_rng(11, tensor).rng;
            let mut reference = ChaCha20Rng::from_seed(randomness.key);
            reference.set_stream(2 * 11 + 1);
            reference.set_word_pos(u128::from(NOISE_SEGMENT_BLOCKS) * 16 * tensor as u128);
            for i in 0..5000 {
                assert_eq!(wide.next_u64(), reference.next_u64(), "tensor {tensor}, word pair {i}");
            }
        }
        let first = |step, tensor| randomness.noise_rng(step, tensor).rng.next_u64();
        assert_ne!(first(12, 0), first(11, 0), "steps have their own streams");
        assert_ne!(first(11, 1), first(11, 0), "tensors have their own segments");
    }

    #[test]
    fn a_draw_past_its_segment_is_refused() {
        // A segment 16 blocks from its end: 256 words fit, one more runs into the next tensor's.
        let randomness = DpRandomness::insecure(5);
        let mut segment = NoiseSegment { rng: WideChaCha20Rng::at_block(randomness.key, 1, NOISE_SEGMENT_BLOCKS - 16), end: NOISE_SEGMENT_BLOCKS };
        for _ in 0..256 {
            segment.rng.next_u32();
        }
        assert!(segment.check().is_ok());
        segment.rng.next_u32();
        let err = segment.check().unwrap_err().to_string();
        assert!(err.contains("repeat another tensor"), "{err}");
    }

    #[test]
    fn f32_noise_is_each_f64_draw_rounded_then_added() {
        let t = Tensor::from_vec((0..1000).map(|i| i as f32 * 0.01 - 5.0).collect::<Vec<f32>>(), (10, 100), &Device::Cpu).unwrap();
        let rng = || DpRandomness::insecure(3).noise_rng(7, 2).rng;
        for secure in [false, true] {
            let got: Vec<f32> = add_gaussian(&t, 0.7, &mut rng(), secure).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let mut r = rng();
            let want: Vec<f32> = t
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .into_iter()
                .map(|v| {
                    let z: f64 = if secure { (0..4).map(|_| -> f64 { StandardNormal.sample(&mut r) }).sum::<f64>() / 2.0 } else { StandardNormal.sample(&mut r) };
                    v + (0.7 * z) as f32
                })
                .collect();
            assert_eq!(got, want, "secure {secure}");
            assert!(got.iter().zip(t.flatten_all().unwrap().to_vec1::<f32>().unwrap()).any(|(a, b)| (a - b).abs() > 0.1), "noise was added");
        }
    }
}
