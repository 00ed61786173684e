//! Exact and near-duplicate removal.
//!
//! Exact: records with the same normalised, de-identified text (SHA-256, first 128 bits).
//! Near: a record that shares a verbatim span of at least `span` characters with an earlier
//! record is dropped. All records are joined as `r₁ SEP r₂ SEP …` and indexed with the byte
//! [`SuffixArray`]; suffixes sharing a prefix of ≥ `span` characters sit in consecutive rows whose
//! longest common prefix is ≥ `span`, so one pass over adjacent rows finds every such group, and in each group every
//! record but the earliest is dropped. (A record is dropped when it shares a span with any earlier
//! record, also one that is itself dropped.)

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::suffix_array::{SuffixArray, Symbol};

/// 128-bit key of a record for exact deduplication.
pub fn exact_key(text: &str) -> u128 {
    let d = Sha256::digest(text.as_bytes());
    u128::from_le_bytes(d[..16].try_into().expect("16 bytes"))
}

/// Marks exact duplicates: `result[i]` is true when `texts[i]` equals an earlier text.
pub fn exact_duplicates<S: AsRef<str>>(texts: &[S]) -> Vec<bool> {
    let mut seen = std::collections::HashSet::with_capacity(texts.len());
    texts.iter().map(|t| !seen.insert(exact_key(t.as_ref()))).collect()
}

/// Marks near duplicates: `result[i]` is true when `texts[i]` shares a verbatim span of at least
/// `span` characters with some `texts[j]`, `j < i`.
pub fn near_duplicates<S: AsRef<str>>(texts: &[S], span: usize) -> Result<Vec<bool>> {
    let mut drop = vec![false; texts.len()];
    if texts.len() < 2 || span == 0 {
        return Ok(drop);
    }
    let total: usize = texts.iter().map(|t| t.as_ref().len() + 1).sum();
    let mut joined = Vec::with_capacity(total);
    let mut starts = Vec::with_capacity(texts.len());
    for t in texts {
        starts.push(joined.len() as u32);
        joined.extend_from_slice(t.as_ref().as_bytes());
        joined.push(<u8 as Symbol>::SEPARATOR);
    }
    let ascii = joined.iter().all(|&b| b < 0x80 || b == <u8 as Symbol>::SEPARATOR);
    let index = SuffixArray::<u8>::build(joined)?;
    let sa = index.sa();
    let text = index.text();
    let record_of = |pos: u32| starts.partition_point(|&s| s <= pos) - 1;
    // Whether the suffixes of rows i−1 and i share at least `span` characters. Compared directly
    // (at most 4·span bytes, stopping at a separator) instead of through a full LCP array: same
    // answer, no 8 bytes per symbol of rank and LCP arrays, and the rows split across threads.
    let cap = if ascii { span } else { 4 * span };
    let linked_row = |row: usize| -> bool {
        let (p, q) = (sa[row] as usize, sa[row - 1] as usize);
        let (a, b) = (&text[p..text.len().min(p + cap)], &text[q..text.len().min(q + cap)]);
        let l = common_prefix(a, b);
        let l = a[..l].iter().position(|&c| c == <u8 as Symbol>::SEPARATOR).unwrap_or(l);
        if l < span {
            return false;
        }
        if ascii {
            return true;
        }
        if (text[p] & 0xC0) == 0x80 {
            return false; // starts inside a character; the same span is found from its first byte
        }
        // count whole characters in the shared prefix (a character cut at its end does not count)
        let mut chars = 0usize;
        for &b in &text[p..p + l] {
            if (b & 0xC0) != 0x80 {
                chars += 1;
                if chars > span {
                    return true;
                }
            }
        }
        if text.get(p + l).is_some_and(|&b| (b & 0xC0) == 0x80) {
            chars -= 1;
        }
        chars >= span
    };
    // Rows in chunks; the text under a row a few rows ahead is prefetched, since the scan is bound
    // by that one random access per row.
    const CHUNK: usize = 1 << 16;
    const AHEAD: usize = 16;
    let mut flags = vec![false; sa.len()];
    flags.par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
        let base = c * CHUNK;
        for (k, flag) in out.iter_mut().enumerate() {
            let row = base + k;
            if let Some(&ahead) = sa.get(row + AHEAD) {
                prefetch(&text[ahead as usize]);
            }
            *flag = row > 0 && linked_row(row);
        }
    });
    let linked = |row: usize| flags[row];
    let mut row = 1;
    while row < sa.len() {
        if !linked(row) {
            row += 1;
            continue;
        }
        // maximal run of linked rows: rows (first-1)..=last share ≥ span characters pairwise
        let first = row;
        while row < sa.len() && linked(row) {
            row += 1;
        }
        let group = (first - 1)..row;
        let earliest = group.clone().map(|r| record_of(sa[r])).min().expect("non-empty group");
        for r in group {
            let rec = record_of(sa[r]);
            if rec != earliest {
                drop[rec] = true;
            }
        }
    }
    Ok(drop)
}

/// Hints the CPU to load the cache line holding `byte`.
#[inline(always)]
fn prefetch(byte: &u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is only a hint; any address is allowed and this one is a valid reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(byte as *const u8 as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = byte;
}

/// Length of the common prefix of `a` and `b`, compared 16 bytes at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 16 <= n && a[i..i + 16] == b[i..i + 16] {
        i += 16;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_duplicate_needs_the_full_span() {
        let base = "x".repeat(10);
        let shared = "the quick brown fox jumps over the lazy dog and keeps running far away";
        let a = format!("alpha {shared} one");
        let b = format!("{base} {shared} two");
        let texts = [a.as_str(), b.as_str(), "unrelated text entirely"];
        assert_eq!(near_duplicates(&texts, 40).unwrap(), vec![false, true, false]);
        assert_eq!(near_duplicates(&texts, shared.len() + 3).unwrap(), vec![false, false, false]);
    }

    #[test]
    fn counts_characters_not_bytes() {
        let shared = "é".repeat(30); // 30 characters, 60 bytes
        let a = format!("a{shared}a");
        let b = format!("b{shared}b");
        assert_eq!(near_duplicates(&[&a, &b], 31).unwrap(), vec![false, false]);
        assert_eq!(near_duplicates(&[&a, &b], 30).unwrap(), vec![false, true]);
    }
}
