//! Every maximal exact match of at least a given length between a query and the indexed text.
//!
//! Method (block filter + chain of maximal matches): with h = ⌈L/2⌉, any span of ≥ L symbols
//! contains a whole aligned block `[kh, (k+1)h)` of the query, so only blocks that occur in the
//! text (one O(h log n) lookup each, 2|q|/L lookups in all) can seed a match. Maximal matches never
//! nest, so, ordered by start, their ends increase too; from the last one found, `[a, e)`, the next
//! one covering a seed block `k` starts at the smallest `a' > a` with `q[a'..max(e+1, (k+1)h))`
//! occurring — a monotone predicate found by binary search — and is extended to its matching
//! statistic. The cost is near-linear in |q| (plus log factors per match), never a corpus scan.

use std::ops::Range;

use super::{SuffixArray, Symbol};

/// A maximal exact match: `query[query_start..query_start + len]` occurs in the text and can be
/// extended neither left nor right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanMatch {
    /// Start of the span in the query.
    pub query_start: usize,
    /// Length of the span in symbols.
    pub len: usize,
    /// Start of one occurrence in the text (the one at the first suffix-array row).
    pub text_start: usize,
    /// Number of occurrences in the text.
    pub occurrences: usize,
    /// Suffix-array rows of all occurrences.
    pub rows: Range<usize>,
}

impl<S: Symbol> SuffixArray<S> {
    /// Every maximal span of `query` of at least `min_len` symbols (`min_len` 0 is taken as 1) that
    /// occurs verbatim in the text, ordered by start. A query must not contain
    /// [`Symbol::SEPARATOR`]; spans therefore never cross a record boundary of the text.
    pub fn maximal_matches(&self, query: &[S], min_len: usize) -> Vec<SpanMatch> {
        let min_len = min_len.max(1);
        let m = query.len();
        let h = min_len.div_ceil(2);
        let blocks = m / h;
        let mut qualifies: Vec<Option<bool>> = vec![None; blocks];
        let mut block_occurs = |k: usize| -> bool {
            *qualifies[k].get_or_insert_with(|| !self.range(&query[k * h..(k + 1) * h]).is_empty())
        };
        let occurs = |from: usize, to: usize| !self.range(&query[from..to]).is_empty();
        let mut found = Vec::new();
        let (mut a_lo, mut e_prev) = (0usize, 0usize);
        let mut k = 0usize;
        loop {
            k = k.max(a_lo.div_ceil(h));
            while k < blocks && !block_occurs(k) {
                k += 1;
            }
            if k >= blocks {
                break;
            }
            let block_start = k * h;
            let target = ((k + 1) * h).max(e_prev + 1);
            if target > m {
                break;
            }
            if !occurs(block_start, target) {
                a_lo = block_start + 1;
                continue;
            }
            // Block k−1 does not occur when it starts at or after a_lo, so no span starts at or before it.
            let mut lo = if k >= 1 && (k - 1) * h >= a_lo { (k - 1) * h + 1 } else { a_lo };
            let mut hi = block_start;
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if occurs(mid, target) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            let start = hi;
            let (len, rows) = self.longest_prefix_match(&query[start..]);
            if len >= min_len {
                found.push(SpanMatch {
                    query_start: start,
                    len,
                    text_start: self.sa()[rows.start] as usize,
                    occurrences: rows.len(),
                    rows,
                });
            }
            e_prev = start + len;
            a_lo = start + 1;
        }
        found
    }
}
