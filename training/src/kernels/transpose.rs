//! Matrix transposes: a 16×16 block of 32-bit words in AVX-512 registers (shared by the ghost
//! norms' Gram matrices and the sixteen-block ChaCha20 of the DP noise), and a row-major matrix
//! into its transpose built from those blocks.

use std::mem::MaybeUninit;

use candle_core::DType;

use super::Real;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Rows `r[0..16]` (sixteen 32-bit lanes each) to columns: lane j of output i is lane i of
/// `r[j]`. Unpacking within 128-bit lanes transposes 4×4 words; a 4×4 shuffle of 128-bit lanes
/// finishes it (64 shuffles, no memory round trip).
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) unsafe fn transpose_16x16(r: [__m512i; 16]) -> [__m512i; 16] {
    // s[g][k]: 128-bit lane L holds lanes 4L + k of rows 4g .. 4g + 4.
    let mut s = [[_mm512_setzero_si512(); 4]; 4];
    for g in 0..4 {
        let (a, b, c, d) = (r[4 * g], r[4 * g + 1], r[4 * g + 2], r[4 * g + 3]);
        let ab_lo = _mm512_unpacklo_epi32(a, b);
        let ab_hi = _mm512_unpackhi_epi32(a, b);
        let cd_lo = _mm512_unpacklo_epi32(c, d);
        let cd_hi = _mm512_unpackhi_epi32(c, d);
        s[g][0] = _mm512_unpacklo_epi64(ab_lo, cd_lo);
        s[g][1] = _mm512_unpackhi_epi64(ab_lo, cd_lo);
        s[g][2] = _mm512_unpacklo_epi64(ab_hi, cd_hi);
        s[g][3] = _mm512_unpackhi_epi64(ab_hi, cd_hi);
    }
    let mut out = [_mm512_setzero_si512(); 16];
    for k in 0..4 {
        // Lane L of s[0..4][k] side by side is column 4L + k.
        let p0 = _mm512_shuffle_i32x4::<0x44>(s[0][k], s[1][k]);
        let p1 = _mm512_shuffle_i32x4::<0xEE>(s[0][k], s[1][k]);
        let p2 = _mm512_shuffle_i32x4::<0x44>(s[2][k], s[3][k]);
        let p3 = _mm512_shuffle_i32x4::<0xEE>(s[2][k], s[3][k]);
        out[k] = _mm512_shuffle_i32x4::<0x88>(p0, p2);
        out[4 + k] = _mm512_shuffle_i32x4::<0xDD>(p0, p2);
        out[8 + k] = _mm512_shuffle_i32x4::<0x88>(p1, p3);
        out[12 + k] = _mm512_shuffle_i32x4::<0xDD>(p1, p3);
    }
    out
}

/// `out` (cols × rows, row-major) = the transpose of `x` (rows × cols, row-major); every element
/// of `out` is written.
pub(crate) fn transpose_into<T: Real>(x: &[T], rows: usize, cols: usize, out: &mut [MaybeUninit<T>]) {
    assert!(x.len() >= rows * cols && out.len() >= rows * cols, "transpose: {rows}×{cols} does not fit");
    #[cfg(target_arch = "x86_64")]
    if T::DTYPE == DType::F32 && super::has_avx512f() {
        // SAFETY: T is f32 (its DTYPE says so); the sizes were checked above and AVX-512F is present.
        unsafe { transpose_f32_avx512(x.as_ptr().cast(), rows, cols, out.as_mut_ptr().cast()) };
        return;
    }
    for i in 0..rows {
        for j in 0..cols {
            out[j * rows + i].write(x[i * cols + j]);
        }
    }
}

/// [`transpose_into`] for f32: 16×16 blocks in registers, the ragged edges element by element.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_f32_avx512(x: *const f32, rows: usize, cols: usize, out: *mut f32) {
    let (full_r, full_c) = (rows / 16 * 16, cols / 16 * 16);
    for i0 in (0..full_r).step_by(16) {
        for j0 in (0..full_c).step_by(16) {
            // SAFETY: rows i0..i0+16 and columns j0..j0+16 lie within x; their transposes within out.
            unsafe {
                let r: [__m512i; 16] = std::array::from_fn(|i| _mm512_loadu_si512(x.add((i0 + i) * cols + j0).cast()));
                for (j, c) in transpose_16x16(r).into_iter().enumerate() {
                    _mm512_storeu_si512(out.add((j0 + j) * rows + i0).cast(), c);
                }
            }
        }
    }
    // The columns past the last full block (all rows), then the rows past it (full columns only).
    for i in 0..rows {
        for j in full_c..cols {
            // SAFETY: i < rows and j < cols.
            unsafe { *out.add(j * rows + i) = *x.add(i * cols + j) };
        }
    }
    for i in full_r..rows {
        for j in 0..full_c {
            // SAFETY: i < rows and j < cols.
            unsafe { *out.add(j * rows + i) = *x.add(i * cols + j) };
        }
    }
}
