//! f32 matrix product on AVX-512 for the linear layers (issue 18): the `gemm` crate candle builds
//! has only its AVX2 kernels (its AVX-512 ones need a feature that rebuilds polars), and its 16×6
//! AVX2 kernel was 47% of a training step. Here an 8×32 register tile (16 zmm accumulators; A
//! broadcast from its own strides, B packed into 32-wide panels of `KC` rows that stay in L1) and
//! the rows split over the rayon threads, each thread with its own panel (no shared packing).
//! A strided A (dW = gᵀ·x) is packed per 8-row block instead, against B blocks packed in L2.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Rows of the register tile.
const MR: usize = 8;
/// Columns of the register tile (two zmm of 16 f32).
const NR: usize = 32;
/// Depth of a packed B panel: KC × NR f32 = 32 KiB, within L1.
const KC: usize = 256;
/// Columns of B packed at once on the strided-A path: KC × NC f32 = 256 KiB, within L2.
const NC: usize = 256;

/// A raw destination pointer that rayon tasks may share: each writes a disjoint block of rows.
#[derive(Clone, Copy)]
struct DstPtr(*mut f32);
// SAFETY: the tasks that receive it write disjoint row ranges of the destination (see `sgemm`).
unsafe impl Send for DstPtr {}
// SAFETY: as above; the pointer itself is only copied.
unsafe impl Sync for DstPtr {}

impl DstPtr {
    /// The pointer (a method, so closures capture the whole Send wrapper, not its raw field).
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Whether this module's kernel can run here (AVX-512F, checked at run time).
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// dst (m, n, row-major, row stride `ldc` ≥ n) = [dst +] lhs·rhs with lhs (m, k) and rhs (k, n)
/// given by (row, column) strides in elements; the rows split over the rayon threads when
/// `parallel`. Without `accumulate`, dst is written and never read, so it may be uninitialised.
///
/// # Safety
/// [`available`] must be true; dst must be valid for writes (and reads when `accumulate`) at
/// i·ldc + j for i < m, j < n, and not overlap lhs or rhs; every lhs index (m−1)·rs + (k−1)·cs and
/// rhs index (k−1)·rs + (n−1)·cs must be in bounds of their slices.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm(m: usize, n: usize, k: usize, dst: *mut f32, ldc: usize, accumulate: bool, lhs: &[f32], lhs_strides: (usize, usize), rhs: &[f32], rhs_strides: (usize, usize), parallel: bool) {
    if m == 0 || n == 0 {
        return;
    }
    let threads = if parallel { rayon::current_num_threads() } else { 1 };
    // Rows per task, a multiple of the tile height; one task when there is one thread or few rows.
    let per = if threads > 1 && m >= 4 * MR * threads { m.div_ceil(threads).div_ceil(MR) * MR } else { m };
    let dst = DstPtr(dst);
    let task = |first: usize| {
        let rows = per.min(m - first);
        // SAFETY: rows first..first+rows of dst are this task's alone; the caller's contract covers
        // the bounds of lhs from row `first` on and of rhs, and the CPU features.
        unsafe { sgemm_rows(rows, n, k, dst.get().add(first * ldc), ldc, accumulate, &lhs[first * lhs_strides.0..], lhs_strides, rhs, rhs_strides) }
    };
    if per >= m {
        task(0);
    } else {
        use rayon::prelude::*;
        (0..m.div_ceil(per)).into_par_iter().for_each(|i| task(i * per));
    }
}

/// One thread's share of [`sgemm`]: all columns of `m` rows (A read in place when its rows are
/// contiguous; see [`sgemm_rows_packed`] otherwise).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_rows(m: usize, n: usize, k: usize, dst: *mut f32, ldc: usize, accumulate: bool, lhs: &[f32], (lrs, lcs): (usize, usize), rhs: &[f32], (rrs, rcs): (usize, usize)) {
    if lcs != 1 {
        // SAFETY: same contract as this function's.
        return unsafe { sgemm_rows_packed(m, n, k, dst, ldc, accumulate, lhs, (lrs, lcs), rhs, (rrs, rcs)) };
    }
    let mut panel = vec![0f32; KC.min(k) * NR];
    for j0 in (0..n).step_by(NR) {
        let cols = NR.min(n - j0);
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            pack_panel(&mut panel, rhs, (rrs, rcs), k0, kc, j0, cols);
            let load = accumulate || k0 > 0;
            let mask = ((1u64 << cols) - 1) as u32;
            for i0 in (0..m).step_by(MR) {
                let a = &lhs[i0 * lrs + k0 * lcs..];
                // SAFETY: rows i0..i0+rows and columns j0..j0+cols of dst are within the m × n
                // destination (row stride ldc); a's indices up to (rows−1)·lrs + (kc−1)·lcs are within lhs (caller's bound).
                let c = unsafe { dst.add(i0 * ldc + j0) };
                // SAFETY: as above; the target feature is enabled on this function.
                unsafe {
                    match m - i0 {
                        1 => tile::<1>(kc, a, lrs, lcs, &panel, c, ldc, mask, load),
                        2 => tile::<2>(kc, a, lrs, lcs, &panel, c, ldc, mask, load),
                        3 => tile::<3>(kc, a, lrs, lcs, &panel, c, ldc, mask, load),
                        4 => tile::<4>(kc, a, lrs, lcs, &panel, c, ldc, mask, load),
                        5 => tile::<5>(kc, a, lrs, lcs, &panel, c, ldc, mask, load),
                        6 => tile::<6>(kc, a, lrs, lcs, &panel, c, ldc, mask, load),
                        7 => tile::<7>(kc, a, lrs, lcs, &panel, c, ldc, mask, load),
                        _ => tile::<MR>(kc, a, lrs, lcs, &panel, c, ldc, mask, load),
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
/// [`sgemm_rows`] for a strided A (column stride ≠ 1, e.g. gᵀ in dW = gᵀ·x, whose rows are columns
/// of g): A read in place would walk a stride of whole rows of g per step. Loop order as in
/// GotoBLAS: a block of B (`KC` rows × up to `NC` columns) packed into 32-wide panels (L2), then per 8-row block of
/// A, that block packed contiguously (L1; any stride of A becomes unit stride) and run against
/// every panel.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_rows_packed(m: usize, n: usize, k: usize, dst: *mut f32, ldc: usize, accumulate: bool, lhs: &[f32], (lrs, lcs): (usize, usize), rhs: &[f32], (rrs, rcs): (usize, usize)) {
    let kc_max = KC.min(k);
    let mut bpack = vec![0f32; kc_max * NC.min(n.div_ceil(NR) * NR)];
    let mut apack = vec![0f32; kc_max * MR];
    for jc in (0..n).step_by(NC) {
        let ncols = NC.min(n - jc);
        let panels = ncols.div_ceil(NR);
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            // Pack rhs[k0..k0+kc, jc..jc+ncols] as `panels` panels of kc rows × NR, zero-padded.
            for jp in 0..panels {
                let (j0, cols) = (jc + jp * NR, NR.min(ncols - jp * NR));
                pack_panel(&mut bpack[jp * kc * NR..(jp + 1) * kc * NR], rhs, (rrs, rcs), k0, kc, j0, cols);
            }
            let load = accumulate || k0 > 0;
            for i0 in (0..m).step_by(MR) {
                let rows = MR.min(m - i0);
                // Pack lhs[i0..i0+rows, k0..k0+kc] as kc columns of MR (rows beyond `rows` unused).
                for (p, col) in apack.chunks_exact_mut(MR).take(kc).enumerate() {
                    let base = i0 * lrs + (k0 + p) * lcs;
                    if lrs == 1 && rows == MR {
                        // gᵀ's column is a contiguous run of g's row: a fixed-size copy (no memcpy call).
                        let src: &[f32; MR] = lhs[base..base + MR].try_into().expect("MR rows");
                        let dst: &mut [f32; MR] = col.try_into().expect("MR rows");
                        *dst = *src;
                    } else if lrs == 1 {
                        // gᵀ's column is a contiguous run of g's row: one copy, not a gather.
                        col[..rows].copy_from_slice(&lhs[base..base + rows]);
                    } else {
                        for (r, o) in col[..rows].iter_mut().enumerate() {
                            *o = lhs[base + r * lrs];
                        }
                    }
                }
                for jp in 0..panels {
                    let (j0, cols) = (jc + jp * NR, NR.min(ncols - jp * NR));
                    let mask = ((1u64 << cols) - 1) as u32;
                    let panel = &bpack[jp * kc * NR..(jp + 1) * kc * NR];
                    // SAFETY: rows i0..i0+rows and columns j0..j0+cols of dst are within the m × n
                    // destination (row stride ldc); apack and panel hold kc × MR and kc × NR.
                    let c = unsafe { dst.add(i0 * ldc + j0) };
                    // SAFETY: as above; the target feature is enabled on this function.
                    unsafe {
                        match rows {
                            1 => tile::<1>(kc, &apack, 1, MR, panel, c, ldc, mask, load),
                            2 => tile::<2>(kc, &apack, 1, MR, panel, c, ldc, mask, load),
                            3 => tile::<3>(kc, &apack, 1, MR, panel, c, ldc, mask, load),
                            4 => tile::<4>(kc, &apack, 1, MR, panel, c, ldc, mask, load),
                            5 => tile::<5>(kc, &apack, 1, MR, panel, c, ldc, mask, load),
                            6 => tile::<6>(kc, &apack, 1, MR, panel, c, ldc, mask, load),
                            7 => tile::<7>(kc, &apack, 1, MR, panel, c, ldc, mask, load),
                            _ => tile::<MR>(kc, &apack, 1, MR, panel, c, ldc, mask, load),
                        }
                    }
                }
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_rows(_: usize, _: usize, _: usize, _: *mut f32, _: usize, _: bool, _: &[f32], _: (usize, usize), _: &[f32], _: (usize, usize)) {
    unreachable!("sgemm runs only where `available()` is true")
}

/// C[0..R, cols of `mask`] = [C +] A[0..R, 0..kc] · panel, with A(r, p) = a[r·lrs + p·lcs].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const R: usize>(kc: usize, a: &[f32], lrs: usize, lcs: usize, panel: &[f32], c: *mut f32, ldc: usize, mask: u32, load: bool) {
    assert!(panel.len() >= kc * NR && (R - 1) * lrs + (kc.max(1) - 1) * lcs < a.len(), "sgemm tile out of bounds");
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let (ap, bp) = (a.as_ptr(), panel.as_ptr());
    for p in 0..kc {
        // SAFETY: p < kc, so the panel row p·NR..p·NR+NR is in bounds (asserted above).
        let (b0, b1) = unsafe { (_mm512_loadu_ps(bp.add(p * NR)), _mm512_loadu_ps(bp.add(p * NR + 16))) };
        for (r, acc_r) in acc.iter_mut().enumerate() {
            // SAFETY: r < R and p < kc, so the index is within the bound asserted above.
            let av = _mm512_set1_ps(unsafe { *ap.add(r * lrs + p * lcs) });
            acc_r[0] = _mm512_fmadd_ps(av, b0, acc_r[0]);
            acc_r[1] = _mm512_fmadd_ps(av, b1, acc_r[1]);
        }
    }
    let (m0, m1) = (mask as u16, (mask >> 16) as u16);
    for (r, acc_r) in acc.iter().enumerate() {
        // SAFETY: the caller guarantees rows 0..R and the masked columns of C are in bounds; masked
        // lanes are neither loaded nor stored.
        unsafe {
            let row = c.add(r * ldc);
            let (mut v0, mut v1) = (acc_r[0], acc_r[1]);
            if load {
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, row));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, row.add(16)));
            }
            _mm512_mask_storeu_ps(row, m0, v0);
            _mm512_mask_storeu_ps(row.add(16), m1, v1);
        }
    }
}

/// Packs rhs[k0..k0+kc, j0..j0+cols] row by row into `panel` as NR-wide rows, zero-padded past
/// `cols` (the layout the tiles read). A transposed rhs (column stride ≠ 1: Wᵀ, Kᵀ, Aᵀ) is read
/// by AVX-512 gathers, 16 columns per instruction, instead of one scalar load per element.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn pack_panel(panel: &mut [f32], rhs: &[f32], (rrs, rcs): (usize, usize), k0: usize, kc: usize, j0: usize, cols: usize) {
    assert!(panel.len() >= kc * NR && cols <= NR && (kc == 0 || cols == 0 || (k0 + kc - 1) * rrs + (j0 + cols - 1) * rcs < rhs.len()), "sgemm panel out of bounds");
    let gather = rcs != 1 && (NR - 1) * rcs <= i32::MAX as usize;
    // Lane c of the two index vectors: column c's offset, c·rcs (c < 32, checked to fit in i32).
    let idx = |first: i32| _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32(first), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)), _mm512_set1_epi32(rcs.min(i32::MAX as usize) as i32));
    let (idx0, idx1) = (idx(0), idx(16));
    let (m0, m1) = (((1u64 << cols) - 1) as u16, (((1u64 << cols) - 1) >> 16) as u16);
    for p in 0..kc {
        let row = &mut panel[p * NR..(p + 1) * NR];
        let base = (k0 + p) * rrs + j0 * rcs;
        if rcs == 1 && cols == NR {
            // A fixed-size copy compiles to two vector moves (a slice copy would call memcpy).
            let src: &[f32; NR] = rhs[base..base + NR].try_into().expect("NR columns");
            let dst: &mut [f32; NR] = row.try_into().expect("NR columns");
            *dst = *src;
        } else if rcs == 1 {
            row[..cols].copy_from_slice(&rhs[base..base + cols]);
            row[cols..].fill(0.0);
        } else if gather {
            // SAFETY: masked-off lanes are not read; lane c < cols reads rhs[base + c·rcs], in bounds
            // by the assertion above; the stores write the NR floats of `row`.
            unsafe {
                let src = rhs.as_ptr().add(base);
                let v0 = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), m0, idx0, src);
                let v1 = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), m1, idx1, src);
                _mm512_storeu_ps(row.as_mut_ptr(), v0);
                _mm512_storeu_ps(row.as_mut_ptr().add(16), v1);
            }
        } else {
            for (c, o) in row[..cols].iter_mut().enumerate() {
                *o = rhs[base + c * rcs];
            }
            row[cols..].fill(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    /// Plain triple loop in f64.
    fn reference(m: usize, n: usize, k: usize, lhs: &[f32], (lrs, lcs): (usize, usize), rhs: &[f32], (rrs, rcs): (usize, usize)) -> Vec<f64> {
        let mut out = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| lhs[i * lrs + p * lcs] as f64 * rhs[p * rrs + j * rcs] as f64).sum();
            }
        }
        out
    }

    #[test]
    fn sgemm_matches_a_plain_product_for_every_layout_and_ragged_size() {
        if !super::available() {
            return;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for &(m, n, k) in &[(1, 1, 1), (7, 33, 5), (9, 31, 300), (64, 64, 513), (130, 70, 257), (20, 300, 40)] {
            let lhs: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
            let rhs: Vec<f32> = (0..k * n).map(|_| rng.random_range(-1.0..1.0)).collect();
            for (ls, rs) in [((k, 1), (n, 1)), ((1, m), (1, k)), ((k, 1), (1, k)), ((1, m), (n, 1))] {
                let want = reference(m, n, k, &lhs, ls, &rhs, rs);
                for accumulate in [false, true] {
                    let mut dst = vec![0.5f32; m * n];
                    // SAFETY: avx512f is present (checked above); dst holds m·n; strides index within lhs (m·k) and rhs (k·n).
                    unsafe { super::sgemm(m, n, k, dst.as_mut_ptr(), n, accumulate, &lhs, ls, &rhs, rs, true) };
                    let scale = want.iter().fold(1e-30f64, |s, v| s.max(v.abs()));
                    for (i, (&got, &w)) in dst.iter().zip(&want).enumerate() {
                        let w = if accumulate { w + 0.5 } else { w };
                        assert!((got as f64 - w).abs() <= 1e-5 * scale.max(1.0), "({m},{n},{k}) {ls:?} {rs:?} acc {accumulate} [{i}]: {got} vs {w}");
                    }
                }
            }
        }
    }

    #[test]
    fn sgemm_splits_rows_over_threads_with_the_same_result() {
        if !super::available() {
            return;
        }
        let (m, n, k) = (203, 45, 70);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        let lhs: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let rhs: Vec<f32> = (0..k * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut dst = vec![0f32; m * n];
            // SAFETY: avx512f is present (checked above); dst holds m·n; strides index within lhs and rhs.
            pool.install(|| unsafe { super::sgemm(m, n, k, dst.as_mut_ptr(), n, false, &lhs, (k, 1), &rhs, (n, 1), true) });
            dst
        };
        // Each row's sum runs in the same order whichever thread computes it: bit-identical.
        assert_eq!(run(1), run(3));
    }
}

