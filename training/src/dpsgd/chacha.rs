//! ChaCha20 sixteen blocks at a time: the noise stream of DP-SGD, bit-identical to `rand_chacha`.
//!
//! A DP step draws one Gaussian per parameter, so the keystream is a few per cent of the step.
//! `rand_chacha` computes four blocks per call with 128-bit vectors; with AVX-512 one register
//! holds one state word of sixteen blocks, which is about twice as fast. The stream is the same
//! one (RFC 7539's block function with `rand_chacha`'s layout: a 64-bit block counter in words
//! 12–13 and the 64-bit stream id in words 14–15): the same words for the same key, stream and
//! position.
//! Without AVX-512 the blocks come from `rand_chacha` itself.

use rand::rand_core::block::{BlockRng, BlockRngCore, CryptoBlockRng};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::kernels::has_avx512f;

/// Words per refill: sixteen 64-byte blocks.
const WORDS: usize = 256;

/// "expand 32-byte k", the ChaCha constant (RFC 7539 §2.3).
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// One refill of sixteen keystream blocks, aligned for full-width stores.
#[derive(Clone)]
#[repr(C, align(64))]
pub struct SixteenBlocks([u32; WORDS]);

impl Default for SixteenBlocks {
    fn default() -> Self {
        SixteenBlocks([0; WORDS])
    }
}

impl AsRef<[u32]> for SixteenBlocks {
    fn as_ref(&self) -> &[u32] {
        &self.0
    }
}

impl AsMut<[u32]> for SixteenBlocks {
    fn as_mut(&mut self) -> &mut [u32] {
        &mut self.0
    }
}

/// The block function state: the key, the next block's counter and the stream id.
#[derive(Clone)]
pub struct WideChaCha20Core {
    key: [u32; 8],
    counter: u64,
    stream: u64,
    /// `rand_chacha` at the same position, used where AVX-512 is missing.
    fallback: Option<ChaCha20Rng>,
}

impl WideChaCha20Core {
    /// The state at block `block` of (`seed`, `stream`); `rand_chacha` computes it unless
    /// `wide` (which needs AVX-512F).
    fn at_block(seed: [u8; 32], stream: u64, block: u64, wide: bool) -> Self {
        assert!(!wide || has_avx512f(), "sixteen-block ChaCha20 needs AVX-512F");
        let key = std::array::from_fn(|i| u32::from_le_bytes(seed[4 * i..4 * i + 4].try_into().expect("4 bytes")));
        let fallback = (!wide).then(|| {
            let mut rng = ChaCha20Rng::from_seed(seed);
            rng.set_stream(stream);
            rng.set_word_pos(u128::from(block) * 16);
            rng
        });
        WideChaCha20Core { key, counter: block, stream, fallback }
    }
}

impl BlockRngCore for WideChaCha20Core {
    type Item = u32;
    type Results = SixteenBlocks;

    fn generate(&mut self, results: &mut SixteenBlocks) {
        match self.fallback.as_mut() {
            // The same words, four blocks at a time.
            Some(rng) => rng.fill(&mut results.0[..]),
            None => {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `fallback` is None only where `at_block` found AVX-512F.
                unsafe {
                    sixteen_blocks_avx512(&self.key, self.counter, self.stream, &mut results.0)
                };
            }
        }
        self.counter = self.counter.wrapping_add(16);
    }
}

impl CryptoBlockRng for WideChaCha20Core {}

/// ChaCha20 as a random number generator, sixteen blocks per refill; the same output as
/// `rand_chacha::ChaCha20Rng` with the same seed and stream, for every mix of `next_u32`,
/// `next_u64` and `fill_bytes`.
#[derive(Clone)]
pub struct WideChaCha20Rng(BlockRng<WideChaCha20Core>);

impl WideChaCha20Rng {
    /// The generator for `seed` on stream `stream`, at the stream's start.
    pub fn new(seed: [u8; 32], stream: u64) -> Self {
        Self::at_block(seed, stream, 0)
    }

    /// The generator for `seed` on stream `stream` from 64-byte block `block` on (the same
    /// words as `rand_chacha` after `set_word_pos(16 · block)`).
    pub fn at_block(seed: [u8; 32], stream: u64, block: u64) -> Self {
        WideChaCha20Rng(BlockRng::new(WideChaCha20Core::at_block(seed, stream, block, has_avx512f())))
    }

    /// The block the next refill computes: blocks before it have been used (in part, for the
    /// current one).
    pub fn next_block(&self) -> u64 {
        self.0.core.counter
    }
}

impl RngCore for WideChaCha20Rng {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    #[inline]
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }
}

impl rand::CryptoRng for WideChaCha20Rng {}

/// Blocks `counter .. counter + 16` of (`key`, `stream`) into `out`, block after block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sixteen_blocks_avx512(key: &[u32; 8], counter: u64, stream: u64, out: &mut [u32; WORDS]) {
    use crate::kernels::transpose_16x16;
    use std::arch::x86_64::*;
    // Lane j is block counter + j; the 64-bit counter carries into word 13.
    let lo: [u32; 16] = std::array::from_fn(|j| counter.wrapping_add(j as u64) as u32);
    let hi: [u32; 16] = std::array::from_fn(|j| (counter.wrapping_add(j as u64) >> 32) as u32);
    // The state words every block shares (RFC 7539 §2.3), each broadcast to all lanes, and the
    // per-lane counter words.
    let shared: [u32; 16] = [SIGMA[0], SIGMA[1], SIGMA[2], SIGMA[3], key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7], 0, 0, stream as u32, (stream >> 32) as u32];
    let init: [__m512i; 16] = std::array::from_fn(|i| match i {
        12 => _mm512_loadu_si512(lo.as_ptr().cast()),
        13 => _mm512_loadu_si512(hi.as_ptr().cast()),
        _ => _mm512_set1_epi32(shared[i] as i32),
    });
    let mut x = init;
    macro_rules! quarter {
        ($a:literal, $b:literal, $c:literal, $d:literal) => {
            x[$a] = _mm512_add_epi32(x[$a], x[$b]);
            x[$d] = _mm512_rol_epi32::<16>(_mm512_xor_si512(x[$d], x[$a]));
            x[$c] = _mm512_add_epi32(x[$c], x[$d]);
            x[$b] = _mm512_rol_epi32::<12>(_mm512_xor_si512(x[$b], x[$c]));
            x[$a] = _mm512_add_epi32(x[$a], x[$b]);
            x[$d] = _mm512_rol_epi32::<8>(_mm512_xor_si512(x[$d], x[$a]));
            x[$c] = _mm512_add_epi32(x[$c], x[$d]);
            x[$b] = _mm512_rol_epi32::<7>(_mm512_xor_si512(x[$b], x[$c]));
        };
    }
    // Twenty rounds: ten column rounds each followed by a diagonal round (RFC 7539 §2.3).
    for _ in 0..10 {
        quarter!(0, 4, 8, 12);
        quarter!(1, 5, 9, 13);
        quarter!(2, 6, 10, 14);
        quarter!(3, 7, 11, 15);
        quarter!(0, 5, 10, 15);
        quarter!(1, 6, 11, 12);
        quarter!(2, 7, 8, 13);
        quarter!(3, 4, 9, 14);
    }
    for (xi, ii) in x.iter_mut().zip(init) {
        *xi = _mm512_add_epi32(*xi, ii);
    }
    // x[i] lane j is word i of block j: transposed, row j is block j.
    let dst = out.as_mut_ptr();
    for (j, block) in transpose_16x16(x).into_iter().enumerate() {
        // SAFETY: block j < 16 lies inside `out`'s 256 words.
        _mm512_storeu_si512(dst.add(16 * j).cast(), block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, StandardNormal};

    /// Both ways of computing the blocks this machine has: sixteen at a time, and rand_chacha's.
    fn paths() -> Vec<bool> {
        if has_avx512f() { vec![true, false] } else { vec![false] }
    }

    fn pair(seed: [u8; 32], stream: u64, wide: bool) -> (BlockRng<WideChaCha20Core>, ChaCha20Rng) {
        let mut reference = ChaCha20Rng::from_seed(seed);
        reference.set_stream(stream);
        (BlockRng::new(WideChaCha20Core::at_block(seed, stream, 0, wide)), reference)
    }

    fn seeds() -> Vec<[u8; 32]> {
        vec![[0; 32], [0xff; 32], std::array::from_fn(|i| (i * 37 + 11) as u8)]
    }

    #[test]
    fn words_match_rand_chacha_across_keys_streams_and_refills() {
        for (seed, path) in seeds().into_iter().flat_map(|s| paths().into_iter().map(move |p| (s, p))) {
            for stream in [0, 1, 7, 0x1234_5678_9abc_def0, u64::MAX] {
                let (mut wide, mut reference) = pair(seed, stream, path);
                // 3 refills and a bit: block and refill boundaries included.
                for i in 0..(3 * WORDS + 17) {
                    assert_eq!(wide.next_u32(), reference.next_u32(), "seed {seed:?} stream {stream} word {i}");
                }
            }
        }
    }

    #[test]
    fn known_answer_rfc7539_block_function() {
        // RFC 7539 §2.3.2: key 00..1f, block counter 1, nonce 00:00:00:09:00:00:00:4a:00:00:00:00.
        // rand_chacha's layout puts a 64-bit counter in words 12–13, so the RFC's nonce word 0
        // (0x09000000) is the counter's high half and words 14–15 (0x4a000000, 0) the stream.
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let want: [u32; 16] = [
            0xe4e7f110, 0x15593bd1, 0x1fdd0f50, 0xc47120a3, 0xc7f4d1c7, 0x0368c033, 0x9aaa2204, 0x4e6cd4c3, 0x466482d2, 0x09aa9f07, 0x05d7c214, 0xa2028bd9,
            0xd19c12b5, 0xb94e16de, 0xe883d0cb, 0x4e3c50a2,
        ];
        for path in paths() {
            let mut rng = BlockRng::new(WideChaCha20Core::at_block(key, 0x4a00_0000, (0x0900_0000u64 << 32) | 1, path));
            let got: Vec<u32> = (0..16).map(|_| rng.next_u32()).collect();
            assert_eq!(got, want, "wide {path}");
        }
    }

    #[test]
    fn counter_carry_into_the_high_word_matches() {
        // Start 5 blocks before the low counter word wraps: the refill straddles 2^32.
        let seed = seeds()[2];
        let mut reference = ChaCha20Rng::from_seed(seed);
        reference.set_stream(3);
        let start_block = (1u64 << 32) - 5;
        reference.set_word_pos(start_block as u128 * 16);
        for path in paths() {
            let mut reference = reference.clone();
            let mut wide = BlockRng::new(WideChaCha20Core::at_block(seed, 3, start_block, path));
            for i in 0..(2 * WORDS) {
                assert_eq!(wide.next_u32(), reference.next_u32(), "wide {path} word {i}");
            }
        }
    }

    #[test]
    fn mixed_calls_and_normals_match() {
        for path in paths() {
            mixed_calls_match(path);
        }
        // The noise of one DP step of the 667,136-parameter benchmark model, to the bit.
        let mut wide = WideChaCha20Rng::new(seeds()[1], 2 * 41 + 1);
        let (_, mut reference) = pair(seeds()[1], 2 * 41 + 1, false);
        for i in 0..667_136 {
            let x: f64 = StandardNormal.sample(&mut wide);
            let y: f64 = StandardNormal.sample(&mut reference);
            assert_eq!(x.to_bits(), y.to_bits(), "normal {i}");
        }
    }

    fn mixed_calls_match(path: bool) {
        let (mut wide, mut reference) = pair(seeds()[2], 9, path);
        let mut a = [0u8; 301];
        let mut b = [0u8; 301];
        for round in 0..50 {
            assert_eq!(wide.next_u64(), reference.next_u64(), "u64 round {round}");
            assert_eq!(wide.next_u32(), reference.next_u32(), "u32 round {round}");
            let n = (round * 7) % 301;
            wide.fill_bytes(&mut a[..n]);
            reference.fill_bytes(&mut b[..n]);
            assert_eq!(a[..n], b[..n], "wide {path} bytes round {round}");
        }
    }
}
