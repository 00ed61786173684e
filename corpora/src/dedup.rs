//! Exact and near-duplicate removal.
//!
//! Exact: records with the same normalised, de-identified text (SHA-256, first 128 bits).
//! Near: a record that shares a verbatim span of at least `span` characters with an earlier
//! record is dropped. All records are joined as `r₁ SEP r₂ SEP …` and indexed with the byte
//! [`SuffixArray`]; suffixes sharing a prefix of ≥ `span` characters sit in consecutive rows whose
//! longest common prefix is ≥ `span`, so one pass over adjacent rows finds every such group, and in each group every
//! record but the earliest is dropped. (A record is dropped when it shares a span with any earlier
//! record, also one that is itself dropped.)
//!
//! **Prefilter.** Only records that can take part in such a pair are indexed: a span of ≥ `span`
//! characters is ≥ `span` bytes, so it holds a whole window of `span − k + 1` consecutive byte
//! k-grams, and both copies pick the same minimiser k-gram (smallest hash in the window, leftmost
//! on ties; Roberts et al. 2004, "Reducing storage requirements for biological sequence
//! comparison"). Records none of whose minimiser hashes occurs in another record cannot share a
//! span and are never near duplicates; the suffix array decides exactly among the rest, so the
//! result equals indexing every record.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

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
pub fn near_duplicates<S: AsRef<str> + Sync>(texts: &[S], span: usize) -> Result<Vec<bool>> {
    let mut drop = vec![false; texts.len()];
    if texts.len() < 2 || span == 0 {
        return Ok(drop);
    }
    let candidates = span_candidates(texts, span);
    let subset: Vec<&str> = candidates.iter().map(|&i| texts[i].as_ref()).collect();
    for (i, d) in candidates.into_iter().zip(near_duplicates_indexed(&subset, span)?) {
        drop[i] = d;
    }
    Ok(drop)
}

/// k-gram length of the prefilter in percent of `span`: long k-grams are rare outside real shared
/// spans (short ones match template phrases in nearly every record), and `span − k + 1` still leaves
/// windows wide enough that few positions are minimisers (about 2 in `span − k + 2`).
const KGRAM_PERCENT: usize = 75;

/// Indices (ascending) of the records that share at least one minimiser hash with another record:
/// a superset of the records in any pair sharing a span of ≥ `span` bytes.
fn span_candidates<S: AsRef<str> + Sync>(texts: &[S], span: usize) -> Vec<usize> {
    let per_record: Vec<Vec<u64>> = texts.par_iter().with_min_len(64).map(|t| minimisers(t.as_ref().as_bytes(), span)).collect();
    let total: usize = per_record.iter().map(Vec::len).sum();
    let mut first_owner: HashMap<u64, u32, BuildHasherDefault<MixedHash>> = HashMap::with_capacity_and_hasher(total, Default::default());
    let mut candidate = vec![false; texts.len()];
    for (i, hashes) in per_record.iter().enumerate() {
        for &h in hashes {
            let owner = *first_owner.entry(h).or_insert(i as u32) as usize;
            if owner != i {
                candidate[owner] = true;
                candidate[i] = true;
            }
        }
    }
    candidate.iter().enumerate().filter_map(|(i, &c)| c.then_some(i)).collect()
}

/// Hasher for keys that are already well-mixed 64-bit hashes: passes them through.
#[derive(Default)]
struct MixedHash(u64);

impl Hasher for MixedHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | self.0 >> 56) ^ b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Distinct hashes of the minimiser k-grams of every window of `span` bytes in `text` (k =
/// [`KGRAM_PERCENT`] % of `span`; the window holds `span − k + 1` k-grams).
fn minimisers(text: &[u8], span: usize) -> Vec<u64> {
    let k = (span * KGRAM_PERCENT / 100).clamp(1, span);
    if text.len() < span {
        return Vec::new();
    }
    let w = span - k + 1;
    // polynomial rolling hash mod 2⁶⁴ (Karp–Rabin 1987), then a 64-bit finaliser (Stafford's mix13) for the order
    const BASE: u64 = 0x100_0000_01b3;
    let out_weight = (0..k).fold(1u64, |p, _| p.wrapping_mul(BASE));
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let grams = text.len() - k + 1;
    let mut rolling = 0u64;
    for &b in &text[..k] {
        rolling = rolling.wrapping_mul(BASE).wrapping_add(b as u64 + 1);
    }
    // monotone deque of (k-gram start, hash): hashes strictly increasing from the front
    let mut window: std::collections::VecDeque<(usize, u64)> = std::collections::VecDeque::with_capacity(w + 1);
    let mut out = Vec::new();
    for start in 0..grams {
        if start > 0 {
            let (gone, new) = (text[start - 1] as u64 + 1, text[start + k - 1] as u64 + 1);
            rolling = rolling.wrapping_mul(BASE).wrapping_add(new).wrapping_sub(gone.wrapping_mul(out_weight));
        }
        let h = mix(rolling);
        while window.back().is_some_and(|&(_, b)| b > h) {
            window.pop_back(); // equal hashes stay: the leftmost one wins a tie
        }
        window.push_back((start, h));
        if start + 1 >= w {
            while window.front().is_some_and(|&(p, _)| p + w <= start) {
                window.pop_front();
            }
            let m = window.front().expect("window holds its newest k-gram").1;
            if out.last() != Some(&m) {
                out.push(m);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// [`near_duplicates`] without the prefilter: every record is indexed.
fn near_duplicates_indexed(texts: &[&str], span: usize) -> Result<Vec<bool>> {
    let mut drop = vec![false; texts.len()];
    if texts.len() < 2 {
        return Ok(drop);
    }
    let total: usize = texts.iter().map(|t| t.len() + 1).sum();
    let mut joined = Vec::with_capacity(total);
    let mut starts = Vec::with_capacity(texts.len());
    for t in texts {
        starts.push(joined.len() as u32);
        joined.extend_from_slice(t.as_bytes());
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
    fn prefilter_gives_the_same_answer_as_indexing_everything() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for round in 0..40 {
            let alphabet: &[&str] = if round % 2 == 0 { &["a", "b", "c"] } else { &["a", "é", "b", "ü"] };
            let shared: Vec<String> = (0..4).map(|_| (0..rng.random_range(5..40)).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect()).collect();
            let texts: Vec<String> = (0..30)
                .map(|_| {
                    let mut t = String::new();
                    for _ in 0..rng.random_range(0..5) {
                        if rng.random_bool(0.4) {
                            t.push_str(&shared[rng.random_range(0..shared.len())]);
                        } else {
                            t.extend((0..rng.random_range(1..12)).map(|_| alphabet[rng.random_range(0..alphabet.len())]));
                        }
                    }
                    t
                })
                .collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            for span in [1, 3, 8, 20, 33, 45] {
                let expected = near_duplicates_indexed(&refs, span).unwrap();
                assert_eq!(near_duplicates(&refs, span).unwrap(), expected, "round {round}, span {span}");
            }
        }
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
