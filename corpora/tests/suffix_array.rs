//! Suffix array: construction, count/locate/longest-prefix and LCP against brute force; index files.

use proptest::prelude::*;
use vg_corpora::suffix_array::{IndexStatus, SuffixArray, SuffixArrayError, Symbol};

fn brute_sa<S: Symbol>(text: &[S]) -> Vec<u32> {
    let mut sa: Vec<u32> = (0..text.len() as u32).collect();
    sa.sort_by(|&a, &b| text[a as usize..].cmp(&text[b as usize..]));
    sa
}

fn brute_locate<S: Symbol>(text: &[S], pattern: &[S]) -> Vec<usize> {
    if pattern.is_empty() {
        return (0..text.len()).collect();
    }
    (0..text.len()).filter(|&i| text[i..].starts_with(pattern)).collect()
}

fn brute_longest_prefix<S: Symbol>(text: &[S], query: &[S]) -> usize {
    (0..=query.len()).rev().find(|&l| l == 0 || !brute_locate(text, &query[..l]).is_empty()).unwrap()
}

fn brute_lcp<S: Symbol>(text: &[S], sa: &[u32]) -> Vec<u32> {
    let mut lcp = vec![0u32; sa.len()];
    for row in 1..sa.len() {
        let (a, b) = (&text[sa[row - 1] as usize..], &text[sa[row] as usize..]);
        lcp[row] = a.iter().zip(b).take_while(|(x, y)| x == y && **x != S::SEPARATOR).count() as u32;
    }
    lcp
}

/// Token strings over a small alphabet (so repeats are common) with occasional separators and
/// large ids (which force the alphabet remapping).
fn tokens() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(
        prop_oneof![8 => 0u32..4, 1 => Just(u32::MAX), 1 => Just(3_000_000_000u32)],
        0..120,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn u32_queries_agree_with_brute_force(text in tokens(), pattern in prop::collection::vec(0u32..4, 0..6)) {
        let index = SuffixArray::build(text.clone()).unwrap();
        prop_assert_eq!(index.text(), text.as_slice());
        prop_assert_eq!(index.sa().to_vec(), brute_sa(&text));
        let expected = brute_locate(&text, &pattern);
        prop_assert_eq!(index.count(&pattern), expected.len());
        prop_assert_eq!(index.locate(&pattern), expected);
        let (len, rows) = index.longest_prefix_match(&pattern);
        prop_assert_eq!(len, brute_longest_prefix(&text, &pattern));
        prop_assert_eq!(rows.len(), brute_locate(&text, &pattern[..len]).len());
        prop_assert_eq!(index.lcp(), brute_lcp(&text, index.sa()));
    }

    #[test]
    fn u8_queries_agree_with_brute_force(text in prop::collection::vec(prop_oneof![9 => b'a'..b'd', 1 => Just(0xFFu8)], 0..150),
                                         pattern in prop::collection::vec(b'a'..b'd', 0..5)) {
        let index = SuffixArray::build(text.clone()).unwrap();
        prop_assert_eq!(index.sa().to_vec(), brute_sa(&text));
        prop_assert_eq!(index.locate(&pattern), brute_locate(&text, &pattern));
        prop_assert_eq!(index.longest_prefix_match(&pattern).0, brute_longest_prefix(&text, &pattern));
        prop_assert_eq!(index.lcp(), brute_lcp(&text, index.sa()));
    }

    #[test]
    fn saved_index_round_trips(text in tokens()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.vgsa");
        let built = SuffixArray::build(text.clone()).unwrap();
        built.save(&path).unwrap();
        let opened = SuffixArray::<u32>::open(&path).unwrap();
        prop_assert!(opened.is_mapped());
        prop_assert_eq!(opened.text(), built.text());
        prop_assert_eq!(opened.sa(), built.sa());
    }
}

#[test]
fn banana_by_hand() {
    let index = SuffixArray::build(b"banana".to_vec()).unwrap();
    assert_eq!(index.sa(), &[5, 3, 1, 0, 4, 2]);
    assert_eq!(index.lcp(), vec![0, 1, 3, 0, 0, 2]);
    assert_eq!(index.count(b"ana"), 2);
    assert_eq!(index.count(b"nab"), 0);
    assert_eq!(index.locate(b"a"), vec![1, 3, 5]);
}

#[test]
fn separator_stops_matches_at_record_boundaries() {
    // Records [1 2 3] and [4 5]: "3 4" spans the boundary and must not be found.
    let sep = u32::SEPARATOR;
    let index = SuffixArray::build(vec![1, 2, 3, sep, 4, 5, sep]).unwrap();
    assert_eq!(index.count(&[3, 4]), 0);
    assert_eq!(index.longest_prefix_match(&[2, 3, 4, 5]).0, 2);
    assert_eq!(index.count(&[4, 5]), 1);
}

#[test]
fn empty_text_has_no_occurrences() {
    let index = SuffixArray::<u32>::build(Vec::new()).unwrap();
    assert!(index.is_empty());
    assert_eq!(index.count(&[1]), 0);
    assert_eq!(index.longest_prefix_match(&[1, 2]).0, 0);
}

fn saved(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join("index.vgsa");
    let text: Vec<u32> = (0..1000u32).map(|i| (i * 7919) % 13).collect();
    SuffixArray::build(text).unwrap().save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

fn refusal(path: &std::path::Path) -> String {
    match SuffixArray::<u32>::open(path) {
        Err(SuffixArrayError::Invalid { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn truncated_index_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, bytes) = saved(dir.path());
    std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
    assert!(refusal(&path).starts_with("truncated"), "{}", refusal(&path));
    std::fs::write(&path, &bytes[..10]).unwrap();
    assert!(refusal(&path).contains("header"));
}

#[test]
fn altered_index_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut bytes) = saved(dir.path());
    bytes[64 + 4 * 500] ^= 1; // one bit of the text
    std::fs::write(&path, &bytes).unwrap();
    assert!(refusal(&path).contains("checksum mismatch"), "{}", refusal(&path));
    bytes[64 + 4 * 500] ^= 1;
    bytes[0] = b'X';
    std::fs::write(&path, &bytes).unwrap();
    assert!(refusal(&path).contains("magic"));
}

#[test]
fn wrong_symbol_width_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = saved(dir.path());
    match SuffixArray::<u8>::open(&path) {
        Err(SuffixArrayError::Invalid { reason, .. }) => assert!(reason.contains("4-byte symbols"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn open_or_build_reuses_rebuilds_and_repairs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.vgsa");
    let text = vec![5u32, 6, 7, u32::SEPARATOR, 5, 6];
    let (_, status) = SuffixArray::open_or_build(&path, text.clone()).unwrap();
    assert_eq!(status, IndexStatus::Built);
    let (index, status) = SuffixArray::open_or_build(&path, text.clone()).unwrap();
    assert_eq!(status, IndexStatus::Reused);
    assert!(index.is_mapped());
    drop(index);
    let changed = vec![5u32, 6, 8];
    let (index, status) = SuffixArray::open_or_build(&path, changed.clone()).unwrap();
    assert!(matches!(status, IndexStatus::Rebuilt { ref reason } if reason.contains("corpus changed")), "{status:?}");
    assert_eq!(index.text(), changed.as_slice());
    drop(index);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    let (index, status) = SuffixArray::open_or_build(&path, changed.clone()).unwrap();
    assert!(matches!(status, IndexStatus::Rebuilt { ref reason } if reason.contains("truncated")), "{status:?}");
    assert_eq!(index.count(&[6, 8]), 1);
    assert_eq!(SuffixArray::<u32>::open(&path).unwrap().sa(), index.sa());
}

/// Maximal matches by definition: start a is left-maximal when ms[a−1] ≠ ms[a] + 1.
fn brute_maximal_matches(text: &[u32], query: &[u32], min_len: usize) -> Vec<(usize, usize)> {
    let ms: Vec<usize> = (0..query.len()).map(|a| brute_longest_prefix(text, &query[a..])).collect();
    (0..query.len())
        .filter(|&a| ms[a] >= min_len.max(1) && (a == 0 || ms[a - 1] != ms[a] + 1))
        .map(|a| (a, ms[a]))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(250))]

    #[test]
    fn maximal_matches_agree_with_brute_force(
        text in prop::collection::vec(prop_oneof![12 => 0u32..3, 1 => Just(u32::MAX)], 0..200),
        query in prop::collection::vec(0u32..3, 0..60),
        planted in prop::collection::vec((0usize..200, 0usize..60, 1usize..25), 0..3),
        min_len in 0usize..9,
    ) {
        // Plant copies of text spans (which may contain separators: those are cut) into the query.
        let mut query = query;
        for (from, at, len) in planted {
            if text.is_empty() || query.is_empty() { break; }
            let from = from % text.len();
            let at = at % query.len();
            for (i, &t) in text[from..(from + len).min(text.len())].iter().enumerate() {
                if at + i < query.len() && t != u32::MAX { query[at + i] = t; }
            }
        }
        let index = SuffixArray::build(text.clone()).unwrap();
        let got: Vec<(usize, usize)> = index.maximal_matches(&query, min_len).iter().map(|m| (m.query_start, m.len)).collect();
        prop_assert_eq!(got, brute_maximal_matches(&text, &query, min_len));
        for m in index.maximal_matches(&query, min_len) {
            prop_assert_eq!(&text[m.text_start..m.text_start + m.len], &query[m.query_start..m.query_start + m.len]);
            prop_assert_eq!(m.occurrences, brute_locate(&text, &query[m.query_start..m.query_start + m.len]).len());
        }
    }
}
