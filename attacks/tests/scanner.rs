//! The output scanner's redaction through its public entry point ([`Scanner::scan`]) on a small
//! index: spans found in the de-identified text are mapped back to the PII values they cover, and
//! overlapping reasons are merged under the strongest mark.

use serde_json::json;
use vg_attacks::extraction::scan::{Cleaning, IndexSource, Reason, ScanIndex, Scanner, VerdictKind, VERBATIM_PLACEHOLDER};
use vg_attacks::extraction::{SecretEntry, StreamRecord, StreamRecordKind};

/// Training text as the corpus pipeline stores it: e-mail addresses de-identified.
const TRAINING: [&str; 3] = [
    "alpha bravo charlie delta echo foxtrot mail <EMAIL> now golf hotel india juliet",
    "lima mike november oscar papa quebec romeo sierra tango uniform",
    "victor whiskey xray yankee zulu alpha bravo charlie delta echo",
];

/// A scanner over [`TRAINING`] flagging spans of at least `min_span` tokens; one included canary.
/// The vocabulary is large enough that every word of the training text is one token.
fn scanner(dir: &std::path::Path, min_span: usize) -> Scanner {
    let corpus: Vec<String> = TRAINING.iter().map(|s| s.to_string()).cycle().take(60).collect();
    let tokenizer = vg_corpora::tokenizer::train_bpe(corpus.iter(), 2000).expect("tokenizer trains");
    let tokens = vg_corpora::tokenizer::encode_all(&tokenizer, &TRAINING).expect("encodes");
    let source = IndexSource {
        description: "test records".into(),
        records: tokens.into_iter().enumerate().map(|(i, t)| (StreamRecord { kind: StreamRecordKind::Record, id: i as u64 }, t)).collect(),
        tokenizer_json: vg_corpora::tokenizer::to_json(&tokenizer).expect("serialises"),
        cleaning: Cleaning { deidentify: true, keep_pii: Vec::new() },
        secrets: vec![SecretEntry { canary_id: 7, included: true, secret: "k7q2z9x4".into() }],
        pii_hashes: None,
    };
    let index = dir.join("index");
    ScanIndex::build(source, &index, false).expect("index builds");
    Scanner::new(ScanIndex::open(&index).expect("index opens"), None, min_span).expect("scanner")
}

#[test]
fn a_span_over_a_placeholder_is_redacted_over_the_whole_pii_value() {
    let dir = tempfile::tempdir().unwrap();
    let scanner = scanner(dir.path(), 4);
    // De-identified, the output reads "... mail <EMAIL> now golf hotel ..." (16 bytes of
    // placeholder in place of the 11-byte address): the verbatim span starts before the address
    // and ends after it, so both ends map through the placeholder and the length difference.
    let text = "zulu mail a@b.co now golf hotel kilo";
    let v = scanner.scan(json!(1), text);
    assert_eq!(v.verdict, VerdictKind::Flag);
    assert!(v.reasons.iter().any(|r| matches!(r, Reason::Verbatim { .. })), "{:?}", v.reasons);
    assert!(v.reasons.iter().any(|r| matches!(r, Reason::Pii { .. })), "{:?}", v.reasons);
    // The PII mark lies inside the verbatim one: one merged range under the stronger mark.
    assert_eq!(v.text.as_deref(), Some(format!("zulu{VERBATIM_PLACEHOLDER} kilo").as_str()));
}

#[test]
fn span_ends_inside_a_placeholder_map_to_the_ends_of_the_pii_value() {
    let dir = tempfile::tempdir().unwrap();
    let scanner = scanner(dir.path(), 4);
    // "<EMAIL>." tokenizes apart from "<EMAIL>" followed by a space: the match ends after the
    // token "EMAIL", inside the placeholder; that end maps to the end of the address.
    let v = scanner.scan(json!(2), "zulu echo foxtrot mail a@b.co. later kilo");
    assert_eq!(v.verdict, VerdictKind::Flag);
    assert_eq!(v.text.as_deref(), Some(format!("zulu{VERBATIM_PLACEHOLDER}. later kilo").as_str()));
    // ":<" tokenizes apart from " <": the match starts at "EMAIL", inside the placeholder; that
    // start maps to the start of the address.
    let v = scanner.scan(json!(3), "mail:a@b.co now golf hotel india");
    assert_eq!(v.verdict, VerdictKind::Flag);
    assert_eq!(v.text.as_deref(), Some(format!("mail:{VERBATIM_PLACEHOLDER}").as_str()));
}

#[test]
fn overlapping_marks_merge_under_the_strongest_and_canaries_are_masked() {
    let dir = tempfile::tempdir().unwrap();
    let scanner = scanner(dir.path(), 4);
    // An address alone (no verbatim span): its placeholder.
    let v = scanner.scan(json!(4), "write to c@d.org please");
    assert_eq!(v.text.as_deref(), Some("write to <EMAIL> please"));
    // A canary secret: its first two characters stay, the rest is masked.
    let v = scanner.scan(json!(5), "code k7q2z9x4 end");
    assert!(v.reasons.iter().any(|r| matches!(r, Reason::Canary { canary_id: 7, in_training: true })), "{:?}", v.reasons);
    assert_eq!(v.text.as_deref(), Some("code k7****** end"));
    // Nothing to flag: the text comes back as it was.
    let v = scanner.scan(json!(6), "kilo");
    assert_eq!((v.verdict, v.text.as_deref()), (VerdictKind::Pass, Some("kilo")));
}
