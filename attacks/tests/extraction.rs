//! Extraction tests on a toy "model" that has memorised given sequences: memorization rates,
//! verbatim search against brute force, fragment search, redaction, index files.

use std::path::PathBuf;

use proptest::prelude::*;
use vg_attacks::extraction::fragments::TextSource;
use vg_attacks::extraction::memorization::{discoverable_memorization, edit_distance, rate_estimate};
use vg_attacks::extraction::verbatim::{StreamRecord, StreamRecordKind, TokenStream};
use vg_attacks::extraction::{
    run_extraction, CanaryProbe, ExtractionInputs, ExtractionOptions, FragmentDictionary, MemorizationOptions,
    RecordTokens, SecretEntry,
};
use vg_attacks::model::{Sampling, Generator, ModelError};
use vg_corpora::pii::{write_hash_set, PiiHasher, PiiKind};
use vg_corpora::suffix_array::IndexStatus;

const BOS: u32 = 1;

/// A lookup "model": continues any prompt that is a prefix of a memorised sequence with that
/// sequence; anything else with tokens ≥ 1000 (which occur in no record). Sampled generations
/// from a bare BOS alternate between memorised sequences and unseen text.
struct LookupModel {
    memorised: Vec<Vec<u32>>,
}

impl LookupModel {
    fn new(sequences: &[Vec<u32>]) -> Self {
        LookupModel { memorised: sequences.iter().map(|s| std::iter::once(BOS).chain(s.iter().copied()).collect()).collect() }
    }
    fn unseen(prompt: &[u32], n: usize, salt: u64) -> Vec<u32> {
        let h = prompt.iter().fold(salt.wrapping_add(17), |h, &t| h.wrapping_mul(31).wrapping_add(t as u64));
        (0..n as u64).map(|i| 1000 + ((h.wrapping_add(i * 7919)) % 5000) as u32).collect()
    }
}

impl Generator for LookupModel {
    fn generate(&self, prompts: &[Vec<u32>], max_new: usize, decoding: &Sampling, seed: u64) -> Result<Vec<Vec<u32>>, ModelError> {
        Ok(prompts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if p.len() == 1 && matches!(decoding, Sampling::TopK { .. }) {
                    let pick = seed.wrapping_add(i as u64);
                    if pick % 2 == 0 {
                        let s = &self.memorised[(pick / 2) as usize % self.memorised.len()];
                        return s[1..s.len().min(1 + max_new)].to_vec();
                    }
                    return Self::unseen(p, max_new, pick);
                }
                match self.memorised.iter().find(|s| s.len() > p.len() && s.starts_with(p)) {
                    Some(s) => s[p.len()..s.len().min(p.len() + max_new)].to_vec(),
                    None => Self::unseen(p, max_new, seed),
                }
            })
            .collect())
    }
}

/// Deterministic pseudo-random record of `len` tokens in 3..200, distinct per `seed`.
fn record(seed: u64, len: usize) -> Vec<u32> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            3 + ((x >> 33) % 197) as u32
        })
        .collect()
}

fn bytes(s: &str) -> Vec<u32> {
    s.bytes().map(u32::from).collect()
}

/// Tokens < 256 are bytes; others print as '#'.
fn decode(tokens: &[u32]) -> String {
    tokens.iter().map(|&t| if t < 128 && t >= 32 { t as u8 as char } else { '#' }).collect()
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vg-extract-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("index.vgsa")
}

#[test]
fn memorised_records_are_reported_and_population_is_not() {
    let members: Vec<Vec<u32>> = (0..10).map(|i| record(i, 120)).collect();
    let population: Vec<Vec<u32>> = (100..110).map(|i| record(i, 120)).collect();
    // The model memorised members 0..5 exactly, and member 5 with 3 of its last 50 tokens changed.
    let mut memorised: Vec<Vec<u32>> = members[..5].to_vec();
    let mut near = members[5].clone();
    for t in &mut near[60..63] {
        *t += 1;
    }
    memorised.push(near);
    let model = LookupModel::new(&memorised);
    let refs: Vec<RecordTokens> = members.iter().enumerate().map(|(i, t)| RecordTokens { id: i as u64, tokens: t }).collect();
    let pop_refs: Vec<RecordTokens> = population.iter().enumerate().map(|(i, t)| RecordTokens { id: 100 + i as u64, tokens: t }).collect();
    let opts = MemorizationOptions::default();
    let (rates, outcomes) = discoverable_memorization(&model, &refs, BOS, &opts, &mut |_| {}).unwrap();
    assert_eq!(rates.prompts, 10);
    assert_eq!(rates.exact.count, 5);
    assert_eq!(rates.approximate.count, 6);
    let mut exact_ids: Vec<u64> = outcomes.iter().filter(|o| o.exact).map(|o| o.id).collect();
    exact_ids.sort();
    assert_eq!(exact_ids, vec![0, 1, 2, 3, 4]);
    let near_outcome = outcomes.iter().find(|o| o.id == 5).unwrap();
    assert_eq!((near_outcome.edit_distance, near_outcome.exact, near_outcome.approximate), (3, false, true));
    // Clopper–Pearson 95 % interval for 5/10: [0.187086, 0.812914] (exact binomial; e.g. R binom.test(5, 10)).
    assert!((rates.exact.ci_low - 0.187086).abs() < 1e-6, "{}", rates.exact.ci_low);
    assert!((rates.exact.ci_high - 0.812914).abs() < 1e-6, "{}", rates.exact.ci_high);
    let (floor, _) = discoverable_memorization(&model, &pop_refs, BOS, &opts, &mut |_| {}).unwrap();
    assert_eq!((floor.prompts, floor.exact.count, floor.approximate.count), (10, 0, 0));
    // 0/10: upper end 1 − 0.025^(1/10) = 0.308497.
    assert!((floor.exact.ci_high - 0.308497).abs() < 1e-6);
}

#[test]
fn short_records_use_what_fits_and_say_so() {
    let members: Vec<Vec<u32>> = vec![record(1, 40), record(2, 120), record(3, 5)];
    let model = LookupModel::new(&members);
    let refs: Vec<RecordTokens> = members.iter().enumerate().map(|(i, t)| RecordTokens { id: i as u64, tokens: t }).collect();
    let (rates, outcomes) = discoverable_memorization(&model, &refs, BOS, &MemorizationOptions::default(), &mut |_| {}).unwrap();
    assert_eq!((rates.prompts, rates.shortened_prompts, rates.records_too_short), (2, 1, 1));
    let short = outcomes.iter().find(|o| o.id == 0).unwrap();
    assert_eq!((short.prefix_tokens, short.suffix_tokens, short.exact), (20, 20, true));
}

#[test]
fn edit_distance_and_rates_by_hand() {
    assert_eq!(edit_distance(&[1, 2, 3], &[1, 3]), 1);
    assert_eq!(edit_distance(&[1, 2, 3], &[3, 2, 1]), 2);
    assert_eq!(edit_distance(&[], &[4, 5]), 2);
    let r = rate_estimate(0, 0, 0.95).unwrap();
    assert_eq!((r.rate, r.ci_low, r.ci_high), (0.0, 0.0, 1.0));
    assert!(MemorizationOptions { prefix_tokens: 0, ..Default::default() }.validate().is_err());
    assert!(MemorizationOptions { max_edit_fraction: 1.5, ..Default::default() }.validate().is_err());
}

/// Brute force: maximal spans of `g` (≥ L) occurring inside a single record.
fn brute_spans(records: &[Vec<u32>], g: &[u32], min_len: usize) -> Vec<(usize, usize)> {
    let occurs = |p: &[u32]| records.iter().any(|r| r.windows(p.len()).any(|w| w == p));
    let ms: Vec<usize> = (0..g.len()).map(|a| (0..=g.len() - a).rev().find(|&l| l == 0 || occurs(&g[a..a + l])).unwrap()).collect();
    (0..g.len()).filter(|&a| ms[a] >= min_len && (a == 0 || ms[a - 1] != ms[a] + 1)).map(|a| (a, ms[a])).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn verbatim_search_agrees_with_brute_force(
        records in prop::collection::vec(prop::collection::vec(0u32..3, 0..30), 1..6),
        generation in prop::collection::vec(0u32..4, 0..50),
        plants in prop::collection::vec((0usize..6, 0usize..30, 0usize..50, 2usize..20), 0..3),
        boundary_plant in 0usize..50,
        min_len in 1usize..8,
    ) {
        let mut g = generation;
        for (r, from, at, len) in plants {
            let rec = &records[r % records.len()];
            if rec.is_empty() || g.is_empty() { continue; }
            let (from, at, n) = (from % rec.len(), at % g.len(), g.len());
            for (i, &t) in rec[from..(from + len).min(rec.len())].iter().enumerate() {
                if at + i < n { g[at + i] = t; }
            }
        }
        // Plant the end of record 0 followed by the start of record 1: a span across a boundary.
        if records.len() > 1 && !g.is_empty() {
            let across: Vec<u32> = records[0].iter().rev().take(6).rev().chain(records[1].iter().take(6)).copied().collect();
            let at = boundary_plant % g.len();
            for (i, t) in across.into_iter().enumerate() {
                if at + i < g.len() { g[at + i] = t; }
            }
        }
        let keyed: Vec<(StreamRecord, &[u32])> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (StreamRecord { kind: StreamRecordKind::Record, id: 10 + i as u64 }, r.as_slice()))
            .collect();
        let stream = TokenStream::build(&keyed).unwrap();
        let spans = stream.verbatim_spans(&g, min_len);
        let got: Vec<(usize, usize)> = spans.iter().map(|s| (s.start, s.len)).collect();
        prop_assert_eq!(got, brute_spans(&records, &g, min_len));
        for s in &spans {
            let rec = &records[(s.record.id - 10) as usize];
            prop_assert_eq!(&rec[s.record_offset..s.record_offset + s.len], &g[s.start..s.start + s.len]);
        }
    }
}

#[test]
fn span_across_a_record_boundary_is_not_counted() {
    let a: Vec<u32> = (10..20).collect();
    let b: Vec<u32> = (20..30).collect();
    let keyed = [(StreamRecord { kind: StreamRecordKind::Record, id: 1 }, &a[..]), (StreamRecord { kind: StreamRecordKind::Record, id: 2 }, &b[..])];
    let stream = TokenStream::build(&keyed).unwrap();
    let g: Vec<u32> = (14..26).collect(); // 6 tokens of record 1, then 6 of record 2
    let spans = stream.verbatim_spans(&g, 5);
    let got: Vec<(usize, usize, u64, usize)> = spans.iter().map(|s| (s.start, s.len, s.record.id, s.record_offset)).collect();
    assert_eq!(got, vec![(0, 6, 1, 4), (6, 6, 2, 0)]);
    assert!(stream.verbatim_spans(&g, 7).is_empty());
}

fn dictionary(pii_emails: &[&str], hasher: &PiiHasher) -> FragmentDictionary {
    let entries = vec![
        SecretEntry { canary_id: 7, included: true, secret: "738291".into() },
        SecretEntry { canary_id: 8, included: false, secret: "555012".into() },
    ];
    let kept = write_hash_set(pii_emails.iter().map(|e| hasher.hash_hex(PiiKind::Email, e)).collect());
    let path = temp_path("fst").with_file_name("pii-kept.fst");
    std::fs::write(&path, kept).unwrap();
    FragmentDictionary::with_pii_file(entries, &path, hasher.clone()).unwrap()
}

#[test]
fn fragment_search_finds_canaries_and_classifies_pii() {
    let hasher = PiiHasher::from_key(&[42u8; 32]).unwrap();
    let dict = dictionary(&["alice.smith@example.com"], &hasher);
    let texts = [
        (TextSource { test: "generation".into(), id: 0 }, "my pin is 738291, mail Alice.Smith@example.com"),
        (TextSource { test: "generation".into(), id: 1 }, "write to bob.jones@example.org or call; code 97382915"),
        (TextSource { test: "canary".into(), id: 8 }, "the code 555012 was guessed"),
    ];
    let (report, hits) = dict.search(texts.iter().map(|(s, t)| (s.clone(), *t)));
    assert_eq!(report.texts_scanned, 3);
    assert_eq!(report.regurgitated_canaries, vec![7]);
    assert_eq!(report.guessed_canaries, vec![8]);
    let canary = &report.by_type["CANARY"];
    assert_eq!((canary.in_training, canary.not_in_training), (1, 1));
    let email = &report.by_type["EMAIL"];
    assert_eq!((email.in_training, email.not_in_training), (1, 1), "{hits:?}");
    assert_eq!(report.pii_not_in_training, 1);
    assert_eq!(report.training_hits(), 2);
    // "738291" inside "97382915" is not the secret.
    assert!(hits.iter().all(|h| !(h.source.id == 1 && h.kind == "CANARY")));
}

#[test]
fn corrupted_stream_index_is_rebuilt() {
    let path = temp_path("corrupt");
    let recs: Vec<Vec<u32>> = (0..20).map(|i| record(i, 50)).collect();
    let keyed: Vec<(StreamRecord, &[u32])> =
        recs.iter().enumerate().map(|(i, r)| (StreamRecord { kind: StreamRecordKind::Record, id: i as u64 }, r.as_slice())).collect();
    let _ = std::fs::remove_file(&path);
    assert_eq!(TokenStream::open_or_build(&path, &keyed).unwrap().1, IndexStatus::Built);
    assert_eq!(TokenStream::open_or_build(&path, &keyed).unwrap().1, IndexStatus::Reused);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let (stream, status) = TokenStream::open_or_build(&path, &keyed).unwrap();
    assert!(matches!(status, IndexStatus::Rebuilt { ref reason } if reason.contains("checksum")), "{status:?}");
    assert_eq!(stream.verbatim_spans(&recs[3], 50).len(), 1);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn full_extraction_report_on_the_lookup_model() {
    let members: Vec<Vec<u32>> = (0..6).map(|i| record(i, 110)).collect();
    let population: Vec<Vec<u32>> = (50..56).map(|i| record(i, 110)).collect();
    let canary_in = bytes("my pin is 738291 ok");
    let mut memorised = members[..3].to_vec();
    memorised.push(canary_in.clone());
    let model = LookupModel::new(&memorised);
    let refs: Vec<RecordTokens> = members.iter().enumerate().map(|(i, t)| RecordTokens { id: i as u64, tokens: t }).collect();
    let pop: Vec<RecordTokens> = population.iter().enumerate().map(|(i, t)| RecordTokens { id: 50 + i as u64, tokens: t }).collect();
    let canaries = vec![
        CanaryProbe { id: 7, included: true, repetitions: 1, prompt: bytes("my pin is "), secret: "738291".into(), max_new_tokens: 9 },
        CanaryProbe { id: 8, included: false, repetitions: 0, prompt: bytes("your pin is "), secret: "555012".into(), max_new_tokens: 9 },
    ];
    let mut train_keyed: Vec<(StreamRecord, &[u32])> =
        refs.iter().map(|r| (StreamRecord { kind: StreamRecordKind::Record, id: r.id }, r.tokens)).collect();
    train_keyed.push((StreamRecord { kind: StreamRecordKind::Canary, id: 7 }, &canary_in));
    let pop_keyed: Vec<(StreamRecord, &[u32])> =
        pop.iter().map(|r| (StreamRecord { kind: StreamRecordKind::Population, id: r.id }, r.tokens)).collect();
    let training_stream = TokenStream::build(&train_keyed).unwrap();
    let population_stream = TokenStream::build(&pop_keyed).unwrap();
    let hasher = PiiHasher::from_key(&[9u8; 32]).unwrap();
    let fragments = dictionary(&[], &hasher);
    let inputs = ExtractionInputs {
        training: &refs,
        population: &pop,
        canaries: &canaries,
        generation_prompts: &[],
        training_stream: &training_stream,
        population_stream: &population_stream,
        fragments: &fragments,
        decode: &decode,
        bos: BOS,
    };
    let mut opts = ExtractionOptions::default();
    opts.generation.generations = 8;
    opts.generation.batch_size = 4;
    let report = run_extraction("toy", &model, &inputs, &opts, &mut |_, _| {}).unwrap();
    assert_eq!((report.prompts, report.exact_rate), (6, 0.5));
    assert_eq!(report.population.exact.count, 0);
    assert_eq!((report.canaries.included.exact.count, report.canaries.not_included.exact.count), (1, 0));
    // Generations 0, 2, 4, 6 (per batch: seeds 0 and 1, picks 0..4) replay memorised sequences.
    assert_eq!(report.verbatim_generations, 4);
    assert_eq!(report.longest_verbatim_tokens, 110);
    assert_eq!(report.verbatim.population_floor.generations_with_hit, 0);
    assert_eq!(report.fragments.regurgitated_canaries, vec![7]);
    assert!(report.fragment_hits >= 1);
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("738291"), "secret leaked into a redacted report");
    assert!(json.contains("73****"));
    opts.show_extracted = true;
    let shown = run_extraction("toy", &model, &inputs, &opts, &mut |_, _| {}).unwrap();
    assert!(!shown.redacted && serde_json::to_string(&shown).unwrap().contains("738291"));
}

#[test]
fn a_secret_shared_by_two_canaries_is_attributed_to_the_included_one() {
    let entries = vec![
        SecretEntry { canary_id: 1, included: false, secret: "1234".into() },
        SecretEntry { canary_id: 2, included: true, secret: "1234".into() },
    ];
    let dict = FragmentDictionary::new(entries, None).unwrap();
    let hits = dict.scan("code 1234.", &TextSource { test: "generation".into(), id: 0 });
    assert_eq!(hits.len(), 1);
    assert_eq!((hits[0].canary_id, hits[0].in_training, hits[0].start, hits[0].end), (Some(2), true, 5, 9));
}

#[test]
fn redaction_masks_secrets_and_pii_unless_shown() {
    use vg_attacks::extraction::Redactor;
    let text = "pin 738291, mail a.b@example.com";
    assert_eq!(Redactor::new(["738291"], false).redact(text), "pin 73****, mail <EMAIL>");
    assert_eq!(Redactor::new(["738291"], true).redact(text), text);
}

#[test]
fn a_context_window_never_cuts_a_value_in_two() {
    use vg_attacks::extraction::Redactor;
    // The 12-byte window left of the e-mail starts inside the card number; a cut card escapes the
    // detector and would show "1111 1111" in the report. The window widens to the whole value.
    let text = "paid with 4111 1111 1111 1111 then mail a.b@example.com and secret 738291 ok";
    let at = text.find("a.b@").unwrap();
    let r = Redactor::new(["738291"], false);
    let shown = r.redact_around(text, at, at + "a.b@example.com".len(), 12, None);
    assert!(!shown.contains("1111"), "card digits leaked: {shown}");
    assert!(shown.starts_with("<CARD>") && shown.contains("<EMAIL>"), "{shown}");
    // The right margin ends inside the secret: it is widened and masked whole.
    let shown = r.redact_around(text, at, at + "a.b@example.com".len(), 15, None);
    assert!(shown.ends_with("73****") && !shown.contains("8291"), "{shown}");
    // Shown verbatim with --show-extracted (the window still widened, nothing masked).
    assert!(Redactor::new(["738291"], true).redact_around(text, at, at + 4, 12, None).contains("4111 1111 1111 1111"));
    // A PII hit the fragment search located is hidden even where the detectors would not find it.
    let odd = "ring 001 9117 9111 before Friday";
    let shown = r.redact_around(odd, 5, 18, 40, Some(vg_corpora::pii::PiiKind::Phone));
    assert_eq!(shown, "ring <PHONE> before Friday");
}
