//! `prepare` end to end on the demo corpus: no planted PII anywhere under DIR, planted duplicates
//! removed, tokenizer round trip, reproducible and disjoint splits, kept PII only as keyed hashes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use vg_corpora::demo::{self, Planted};
use vg_corpora::pii::{PiiHasher, PiiKind};
use vg_corpora::prepared::files;
use vg_corpora::split::{assign, Assignment};
use vg_corpora::tokens::{BOS, BOS_STR, EOS, EOS_STR, PAD, PAD_STR};
use vg_corpora::{prepare, Error, PrepareOptions, PreparedCorpus};

const N: usize = 2000;
const DEMO_SEED: u64 = 3;

fn demo_input(dir: &Path) -> PathBuf {
    let p = dir.join("demo.jsonl");
    demo::write_jsonl(&p, N, DEMO_SEED).unwrap();
    p
}

fn opts(input: &Path, out: PathBuf, seed: u64) -> PrepareOptions {
    PrepareOptions { seed: Some(seed), vocab_size: 512, ..PrepareOptions::new(vec![input.to_path_buf()], out) }
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn demo_corpus_end_to_end() {
    let d = tempfile::tempdir().unwrap();
    let input = demo_input(d.path());
    let out = d.path().join("corpus");
    let m = prepare(&opts(&input, out.clone(), 11), &mut |_, _, _| {}).unwrap();
    let records = demo::generate_records(N, DEMO_SEED);

    // counts: every planted exact or PII-only copy is an exact duplicate after de-identification,
    // every planted near copy a near duplicate, and nothing else is dropped
    let planted = |k: Planted| records.iter().filter(|r| matches!(r.copy_of, Some((_, p)) if p == k)).count() as u64;
    assert!(planted(Planted::Exact) > 5 && planted(Planted::PiiOnly) > 5 && planted(Planted::Near) > 10);
    assert_eq!(m.counts.read, N as u64);
    assert_eq!(m.counts.too_short + m.counts.too_long, 0);
    assert_eq!(m.counts.exact_duplicates, planted(Planted::Exact) + planted(Planted::PiiOnly));
    assert_eq!(m.counts.near_duplicates, planted(Planted::Near));
    assert_eq!(m.counts.kept, m.counts.pool + m.counts.population);
    assert_eq!(m.counts.pool, m.counts.members + m.counts.non_members);

    // every PII type was found and replaced
    for t in ["EMAIL", "PHONE", "CARD", "IBAN", "SSN", "IP", "URL_CREDENTIALS"] {
        assert!(m.pii.replaced.get(t).copied().unwrap_or(0) > 0, "no {t} replaced: {:?}", m.pii.replaced);
    }
    assert!(m.pii.kept.is_empty() && m.pii.kept_hash_file.is_none());

    // no planted PII string (as written, or compacted) appears in any file under DIR
    let contents: Vec<(PathBuf, Vec<u8>)> = all_files(&out).into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect();
    let names: HashSet<String> = contents.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["manifest.json", "tokenizer.json", "splits.bin", "splits.jsonl"].map(String::from).into());
    let mut forms: Vec<String> = Vec::new();
    for r in &records {
        for (kind, value) in &r.pii {
            forms.push(value.clone());
            if matches!(kind, PiiKind::Card | PiiKind::Iban) {
                forms.push(value.chars().filter(|c| c.is_ascii_alphanumeric()).collect());
            }
        }
    }
    forms.sort();
    forms.dedup();
    let checked = forms.len();
    // one automaton for all planted strings (a literal alternation is an Aho–Corasick search)
    let any_pii = regex::bytes::Regex::new(&forms.iter().map(|f| regex::escape(f)).collect::<Vec<_>>().join("|")).unwrap();
    for (path, bytes) in &contents {
        if let Some(m) = any_pii.find(bytes) {
            panic!("planted PII {:?} found in {}", String::from_utf8_lossy(m.as_bytes()), path.display());
        }
    }
    assert!(checked > 5000, "only {checked} PII strings checked");

    // the corpus reads back; the tokenizer follows the convention and round-trips every example
    let c = PreparedCorpus::open(&out).unwrap();
    assert_eq!(c.manifest(), &m);
    assert_eq!(c.pool().len() as u64, m.counts.pool);
    assert_eq!(c.population().len() as u64, m.counts.population);
    assert_eq!(c.members().count() as u64, m.counts.members);
    assert!(c.population().iter().all(|e| !e.member));
    let tok = c.tokenizer().unwrap();
    assert_eq!([tok.token_to_id(PAD_STR), tok.token_to_id(BOS_STR), tok.token_to_id(EOS_STR)], [Some(PAD), Some(BOS), Some(EOS)]);
    assert_eq!(tok.get_vocab_size(true), 512);
    assert_eq!(m.tokenizer.training_records, m.counts.population);
    let mut total = 0u64;
    for e in c.pool().iter().chain(c.population()) {
        assert!(e.tokens.iter().all(|&t| t > EOS && (t as usize) < 512), "special or out-of-range id in {}", e.id);
        assert_eq!(tok.decode(&e.tokens, false).unwrap(), e.text, "round trip of record {}", e.id);
        total += e.tokens.len() as u64;
    }
    assert_eq!(total, m.tokens.total);
    let over = c.pool().iter().chain(c.population()).filter(|e| e.tokens.len() + 2 > 128).count() as u64;
    assert_eq!(m.tokens.records_truncated_at_context, over);

    // splits are disjoint and cover the kept records
    let pool: HashSet<u64> = c.pool().iter().map(|e| e.id).collect();
    let pop: HashSet<u64> = c.population().iter().map(|e| e.id).collect();
    assert!(pool.is_disjoint(&pop));
    assert_eq!((pool.len() + pop.len()) as u64, m.counts.kept);
    // the population fraction is near 0.2 (5 binomial standard deviations)
    let k = m.counts.kept as f64;
    assert!((m.counts.population as f64 - 0.2 * k).abs() < 5.0 * (k * 0.16).sqrt());

    // the same seed reproduces every output byte for byte; another seed changes the membership bits
    let again = prepare(&opts(&input, d.path().join("again"), 11), &mut |_, _, _| {}).unwrap();
    assert_eq!(again.outputs, m.outputs);
    assert_eq!(std::fs::read(out.join(files::MANIFEST)).unwrap(), std::fs::read(d.path().join("again").join(files::MANIFEST)).unwrap());
    let other = prepare(&opts(&input, d.path().join("other"), 12), &mut |_, _, _| {}).unwrap();
    assert_ne!(other.outputs[files::SPLITS], m.outputs[files::SPLITS]);
    let c2 = PreparedCorpus::open(d.path().join("other")).unwrap();
    let members1: HashSet<u64> = c.members().map(|e| e.id).collect();
    let members2: HashSet<u64> = c2.members().map(|e| e.id).collect();
    assert_ne!(members1, members2);
}

#[test]
fn kept_pii_is_stored_only_as_keyed_hashes() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.txt");
    let lines = [
        "Customer Ana Lopez asked us to call her back on +1 415 555 0134 about the refund.",
        "Second customer wrote from bob@example.com and gave the card 4111 1111 1111 1111.",
        "Third note without any personal data at all, just a plain sentence about shipping.",
        "Fourth note: the courier phoned +44 20 7946 0958 twice and left a parcel at the door.",
    ];
    std::fs::write(&input, lines.join("\n")).unwrap();
    let key = d.path().join("keys").join("pii.key");
    let out = d.path().join("corpus");
    let o = PrepareOptions {
        keep_pii: vec![PiiKind::Phone],
        pii_key: Some(key.clone()),
        population_fraction: 0.5,
        vocab_size: 300,
        seed: Some(5),
        ..PrepareOptions::new(vec![input], out.clone())
    };
    let m = prepare(&o, &mut |_, _, _| {}).unwrap();
    assert_eq!(m.pii.kept.get("PHONE"), Some(&2));
    assert_eq!(m.pii.replaced.get("EMAIL"), Some(&1));
    assert_eq!(m.pii.replaced.get("CARD"), Some(&1));
    assert_eq!(m.pii.kept_distinct, 2);
    let hasher = PiiHasher::from_key_file(&key).unwrap();
    assert_eq!(m.pii.key_fingerprint.as_deref(), Some(hasher.fingerprint().as_str()));
    let set = fst::Set::new(std::fs::read(out.join(files::PII_KEPT)).unwrap()).unwrap();
    assert_eq!(set.len(), 2);
    // canonical forms: spacing does not matter
    assert!(set.contains(hasher.hash_hex(PiiKind::Phone, "+14155550134")));
    assert!(set.contains(hasher.hash_hex(PiiKind::Phone, "+44 20 7946 0958")));
    assert!(!set.contains(hasher.hash_hex(PiiKind::Phone, "+1 415 555 0135")));
    // the key is not in DIR, the fst holds no plaintext
    assert!(!key.starts_with(&out));
    let fst_bytes = std::fs::read(out.join(files::PII_KEPT)).unwrap();
    assert!(!contains(&fst_bytes, b"0134") && !contains(&fst_bytes, b"7946"));
    let jsonl = std::fs::read_to_string(out.join(files::SPLITS_JSONL)).unwrap();
    assert!(jsonl.contains("+1 415 555 0134") && !jsonl.contains("bob@example.com") && jsonl.contains("<CARD>"));
}

#[test]
fn short_shared_spans_are_kept_long_ones_dropped() {
    let d = tempfile::tempdir().unwrap();
    let shared = "the quarterly review found that the warehouse in the north district had overstocked seasonal items again, \
                  and the team agreed to run a clearance sale before the end of the month";
    assert!(shared.len() > 150 && shared.len() < 200);
    let lines = [
        format!("Report A from Monday: {shared}. Filed by the operations desk."),
        format!("Report B from Tuesday, reviewed later: {shared}. Logged by finance."),
        "An unrelated record that talks about the weather and the new coffee machine on floor three.".to_string(),
        "Another unrelated record about a team lunch that was moved to Thursday because of the rain.".to_string(),
    ];
    let input = d.path().join("in.txt");
    std::fs::write(&input, lines.join("\n")).unwrap();
    // a seed that puts records 0, 2, 3 (kept in both runs) both in the pool and in the population
    let seed = (0..1000u64)
        .find(|&s| {
            let a: Vec<bool> = [0u64, 2, 3].iter().map(|&id| matches!(assign(s, id, 0.5), Assignment::Population)).collect();
            a.iter().any(|&p| p) && a.iter().any(|&p| !p)
        })
        .unwrap();
    let run = |span: usize, name: &str| {
        let o = PrepareOptions {
            dedup_span: span,
            population_fraction: 0.5,
            vocab_size: 300,
            seed: Some(seed),
            ..PrepareOptions::new(vec![input.clone()], d.path().join(name))
        };
        prepare(&o, &mut |_, _, _| {}).unwrap().counts
    };
    let c = run(200, "span200");
    assert_eq!((c.near_duplicates, c.kept), (0, 4));
    let c = run(120, "span120");
    assert_eq!((c.near_duplicates, c.kept), (1, 3));
    // the earlier record is the one kept
    let kept = std::fs::read_to_string(d.path().join("span120").join(files::SPLITS_JSONL)).unwrap();
    assert!(kept.contains("Report A") && !kept.contains("Report B"));
}

#[test]
fn existing_output_is_refused_then_replaced_with_force_and_tampering_detected() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.txt");
    std::fs::write(&input, (0..40).map(|i| format!("line number {i} with some filler words {}\n", i * 37 % 101)).collect::<String>()).unwrap();
    let out = d.path().join("corpus");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), b"precious").unwrap();
    let o = PrepareOptions { vocab_size: 300, seed: Some(2), min_chars: 1, ..PrepareOptions::new(vec![input.clone()], out.clone()) };
    let err = prepare(&o, &mut |_, _, _| {}).unwrap_err();
    assert!(matches!(err, Error::OutputExists { .. }), "{err}");
    assert_eq!(std::fs::read(out.join("keep.txt")).unwrap(), b"precious");
    prepare(&PrepareOptions { overwrite: true, ..o }, &mut |_, _, _| {}).unwrap();
    assert!(!out.join("keep.txt").exists());
    assert!(PreparedCorpus::open(&out).is_ok());
    let leftovers: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // a changed splits file is refused
    let splits = out.join(files::SPLITS);
    let mut bytes = std::fs::read(&splits).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&splits, bytes).unwrap();
    let err = PreparedCorpus::open(&out).unwrap_err();
    assert!(err.to_string().contains("does not match the manifest"), "{err}");
}
