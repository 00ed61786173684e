//! Isotonic regression (pool-adjacent-violators, Barlow et al. 1972) and the two-axis smoothing
//! of a loss table: non-increasing in steps, non-decreasing in the noise-batch ratio
//! (McKenna et al. 2025, arXiv 2501.18914, §3; google-research `dp_scaling_laws/smoothing.py`).

/// The least-squares non-decreasing fit to `y` (pool adjacent violators, equal weights).
pub fn non_decreasing(y: &[f64]) -> Vec<f64> {
    // Blocks of (sum, count); a new value merges backwards while it breaks the order.
    let mut blocks: Vec<(f64, usize)> = Vec::with_capacity(y.len());
    for &v in y {
        blocks.push((v, 1));
        while blocks.len() >= 2 {
            let (s1, n1) = blocks[blocks.len() - 1];
            let (s0, n0) = blocks[blocks.len() - 2];
            if s0 / n0 as f64 <= s1 / n1 as f64 {
                break;
            }
            blocks.pop();
            *blocks.last_mut().expect("two blocks") = (s0 + s1, n0 + n1);
        }
    }
    blocks.iter().flat_map(|&(s, n)| std::iter::repeat_n(s / n as f64, n)).collect()
}

/// The least-squares non-increasing fit to `y`.
pub fn non_increasing(y: &[f64]) -> Vec<f64> {
    let neg: Vec<f64> = y.iter().map(|v| -v).collect();
    non_decreasing(&neg).into_iter().map(|v| -v).collect()
}

/// Smooths `table[t][s]` (rows: increasing steps, columns: increasing σ̄) so that every column is
/// non-increasing in t and every row non-decreasing in s. One pass per axis suffices: the
/// isotonic fit is monotone in its input, so rows already ordered by the first pass stay
/// ordered after the second.
pub fn smooth_table(table: &mut [Vec<f64>]) {
    if table.is_empty() {
        return;
    }
    let cols = table[0].len();
    for s in 0..cols {
        let col: Vec<f64> = table.iter().map(|r| r[s]).collect();
        for (r, v) in table.iter_mut().zip(non_increasing(&col)) {
            r[s] = v;
        }
    }
    for r in table.iter_mut() {
        *r = non_decreasing(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pava_matches_hand_computed_fits() {
        // Hand-computed: [3, 1] pools to their mean 2; [1, 3, 2, 4] pools the middle pair to 2.5.
        assert_eq!(non_decreasing(&[3.0, 1.0]), vec![2.0, 2.0]);
        assert_eq!(non_decreasing(&[1.0, 3.0, 2.0, 4.0]), vec![1.0, 2.5, 2.5, 4.0]);
        // [4, 5, 1] pools all three to 10/3 (a cascade of merges).
        let r = non_decreasing(&[4.0, 5.0, 1.0]);
        assert!(r.iter().all(|v| (v - 10.0 / 3.0).abs() < 1e-12), "{r:?}");
        assert_eq!(non_increasing(&[1.0, 3.0, 2.0]), vec![2.0, 2.0, 2.0]);
        assert_eq!(non_increasing(&[5.0, 4.0, 4.5, 1.0]), vec![5.0, 4.25, 4.25, 1.0]);
    }

    #[test]
    fn smoothed_table_is_monotone_on_both_axes() {
        let mut t = vec![vec![5.0, 5.2, 4.9], vec![4.0, 4.5, 5.1], vec![4.2, 3.9, 5.3], vec![3.0, 3.5, 3.4]];
        smooth_table(&mut t);
        for r in 0..t.len() {
            for s in 0..3 {
                if r + 1 < t.len() {
                    assert!(t[r + 1][s] <= t[r][s] + 1e-12, "column {s} rises at row {r}: {t:?}");
                }
                if s + 1 < 3 {
                    assert!(t[r][s + 1] >= t[r][s] - 1e-12, "row {r} falls at column {s}: {t:?}");
                }
            }
        }
    }
}
