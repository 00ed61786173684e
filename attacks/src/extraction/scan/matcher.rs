//! [`Scanner`]: one model output → one [`Verdict`].
//!
//! Steps, per output: normalise (vg-corpora's [`normalize`]); run the PII detectors once; look up
//! canary secrets and kept-PII hashes ([`FragmentDictionary::scan_found`]); de-identify as the
//! corpus pipeline did ([`deidentify_found`], kept types stay) so placeholders line up with the
//! training stream; tokenize with the index's tokenizer; every maximal span ≥ L tokens found in
//! the stream ([`TokenStream::verbatim_spans`]) is a reason. Spans are mapped back to bytes of the
//! normalised text through token byte offsets and the placeholder map, and redacted there.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use tokenizers::Tokenizer;
use vg_corpora::fast_bpe::{EncodeCache, FastEncoder};
use vg_corpora::normalize::normalize;
use vg_corpora::pii::{deidentify_found, write_hash_set, PiiHasher, PiiKind, PiiMatch};

use crate::error::{AttackError, Result};
use super::index::{IndexMeta, ScanIndex};
use super::verdict::{Reason, Verdict, VerdictKind, VERBATIM_PLACEHOLDER};
use crate::extraction::redact::mask;
use crate::extraction::{FragmentDictionary, TextSource, TokenStream};

/// Token ids and the byte offset where each token starts (plus the end of the last one).
struct Encoded {
    ids: Vec<u32>,
    bounds: Vec<usize>,
}

/// The index's tokenizer: the fast byte-level BPE path with a token → byte-length table, or the
/// `tokenizers` crate's own encoder (any other tokenizer) with its offsets.
enum Encoder {
    Fast { encoder: FastEncoder<'static>, byte_len: Vec<u32>, id: u64 },
    Generic(Box<Tokenizer>),
}

/// Distinguishes encoders, so a thread's piece cache is never used with another tokenizer.
static NEXT_ENCODER: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Per thread: outputs share most words, and merging each once is ~a third of a scan.
    static PIECES: RefCell<(u64, EncodeCache)> = RefCell::new((u64::MAX, EncodeCache::default()));
}

impl Encoder {
    fn new(tokenizer: Tokenizer) -> Self {
        match FastEncoder::owned(tokenizer.clone()) {
            Some(encoder) => {
                // Byte-level BPE: each vocabulary character stands for exactly one byte.
                let vocab = encoder.tokenizer().get_vocab(false);
                let mut byte_len = vec![0u32; vocab.values().max().map_or(0, |m| *m as usize + 1)];
                for (token, id) in vocab {
                    byte_len[id as usize] = token.chars().count() as u32;
                }
                Encoder::Fast { encoder, byte_len, id: NEXT_ENCODER.fetch_add(1, Ordering::Relaxed) }
            }
            None => Encoder::Generic(Box::new(tokenizer)),
        }
    }

    fn encode(&self, text: &str) -> Result<Encoded> {
        match self {
            Encoder::Fast { encoder, byte_len, id } => {
                let ids = PIECES.with_borrow_mut(|(owner, cache)| {
                    if owner != id {
                        (*owner, *cache) = (*id, EncodeCache::default());
                    }
                    encoder.encode_cached(text, cache)
                });
                let ids = ids.map_err(|e| AttackError::Tokenizer(e.to_string()))?;
                let mut bounds = Vec::with_capacity(ids.len() + 1);
                let mut at = 0usize;
                bounds.push(0);
                for &id in &ids {
                    at += byte_len.get(id as usize).copied().unwrap_or(0) as usize;
                    bounds.push(at.min(text.len()));
                }
                Ok(Encoded { ids, bounds })
            }
            Encoder::Generic(tokenizer) => {
                let enc = tokenizer.encode(text, false).map_err(|e| AttackError::Tokenizer(e.to_string()))?;
                let mut bounds: Vec<usize> = enc.get_offsets().iter().map(|o| o.0).collect();
                bounds.push(enc.get_offsets().last().map_or(0, |o| o.1));
                Ok(Encoded { ids: enc.get_ids().to_vec(), bounds })
            }
        }
    }
}

/// A placeholder of the de-identified text and the PII value it stands for in the normalised text.
#[derive(Clone, Copy)]
struct Replaced {
    deid: (usize, usize),
    normal: (usize, usize),
}

/// Byte offsets of the de-identified text → byte offsets of the normalised text. An offset inside
/// a placeholder maps to the start (for span starts) or end (for span ends) of its PII value.
fn to_normal(replaced: &[Replaced], x: usize, is_end: bool) -> usize {
    let i = replaced.partition_point(|r| r.deid.0 <= x);
    if i == 0 {
        return x;
    }
    let r = replaced[i - 1];
    if x < r.deid.1 || (x == r.deid.0) {
        return if is_end && x > r.deid.0 { r.normal.1 } else { r.normal.0 };
    }
    x - r.deid.1 + r.normal.1
}

/// What replaces a redacted range; earlier variants win where ranges overlap.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mark {
    Verbatim,
    Canary,
    Pii(PiiKind),
}

/// The output filter. Build once from an index; `scan` is `&self` and thread-safe.
pub struct Scanner {
    meta: IndexMeta,
    stream: TokenStream,
    fragments: FragmentDictionary,
    encoder: Encoder,
    kept: Vec<PiiKind>,
    min_span: usize,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner").field("stream", &self.stream).field("min_span", &self.min_span).finish()
    }
}

impl Scanner {
    /// A scanner over `index` flagging verbatim spans of at least `min_span` tokens. `pii_key` is
    /// needed when the index holds kept-PII hashes, and must be the key they were made with.
    pub fn new(index: ScanIndex, pii_key: Option<PiiHasher>, min_span: usize) -> Result<Self> {
        if min_span == 0 {
            return Err(AttackError::invalid("--min-span", 0, "must be at least 1 token"));
        }
        let dir = index.dir().to_path_buf();
        let (meta, stream, tokenizer_json, secrets, pii_set) = index.into_parts();
        let tokenizer: Tokenizer = tokenizer_json.parse().map_err(|e| AttackError::Tokenizer(format!("{}: {e}", dir.join("tokenizer.json").display())))?;
        let pii = match (pii_set, &meta.pii_key_fingerprint) {
            (Some(set), Some(expected)) => {
                let hasher = pii_key.ok_or_else(|| {
                    AttackError::PiiKey(format!(
                        "{} holds keyed hashes of training PII (key fingerprint {expected}); give the key file with --pii-key",
                        dir.display()
                    ))
                })?;
                if &hasher.fingerprint() != expected {
                    return Err(AttackError::PiiKey(format!(
                        "the key's fingerprint is {}, the index's hashes were made with {expected}",
                        hasher.fingerprint()
                    )));
                }
                Some((set, hasher))
            }
            // No PII was left in the training text: no value in an output can be training PII.
            _ => Some((write_hash_set(Vec::new()), PiiHasher::from_key(b"no PII was kept in the training text").expect("16+ byte key"))),
        };
        let fragments = FragmentDictionary::new(secrets, pii)?;
        let kept = meta.cleaning.kept_kinds();
        Ok(Scanner { meta, stream, fragments, encoder: Encoder::new(tokenizer), kept, min_span })
    }

    /// The index's `index.json`.
    pub fn meta(&self) -> &IndexMeta {
        &self.meta
    }

    /// L: shortest verbatim span flagged, in tokens.
    pub fn min_span(&self) -> usize {
        self.min_span
    }

    /// The verdict on one output.
    pub fn scan(&self, id: Value, text: &str) -> Verdict {
        match self.try_scan(text) {
            Ok((reasons, redacted)) => Verdict {
                id,
                verdict: if reasons.is_empty() { VerdictKind::Pass } else { VerdictKind::Flag },
                reasons,
                text: Some(redacted),
                error: None,
            },
            Err(e) => Verdict::error(id, e.to_string()),
        }
    }

    fn try_scan(&self, text: &str) -> Result<(Vec<Reason>, String)> {
        let normal = normalize(text);
        let found: Vec<PiiMatch> = self.fragments.detector().find(&normal);
        let source = TextSource { test: "scan".into(), id: 0 };
        let hits = self.fragments.scan_found(&normal, &found, &source);

        let mut replaced = Vec::new();
        let mut shift: isize = 0;
        for m in found.iter().filter(|m| !self.kept.contains(&m.kind)) {
            let start = (m.start as isize + shift) as usize;
            let end = start + m.kind.placeholder().len();
            replaced.push(Replaced { deid: (start, end), normal: (m.start, m.end) });
            shift += m.kind.placeholder().len() as isize - (m.end - m.start) as isize;
        }
        let deid = deidentify_found(&normal, found, &self.kept).text;
        let encoded = self.encoder.encode(&deid)?;
        let spans = self.stream.verbatim_spans(&encoded.ids, self.min_span);

        let mut reasons = Vec::with_capacity(spans.len() + hits.len());
        let mut marks: Vec<(usize, usize, Mark)> = Vec::new();
        for s in &spans {
            let start = to_normal(&replaced, encoded.bounds[s.start], false);
            let end = to_normal(&replaced, encoded.bounds[s.start + s.len], true);
            marks.push((start, end.max(start), Mark::Verbatim));
            reasons.push(Reason::Verbatim {
                tokens: s.len,
                offset: s.start,
                record: s.record,
                record_offset: s.record_offset,
                occurrences: s.occurrences,
            });
        }
        let mut hits = hits;
        hits.sort_by_key(|h| h.start);
        for h in hits {
            match h.canary_id {
                Some(canary_id) => {
                    marks.push((h.start, h.end, Mark::Canary));
                    reasons.push(Reason::Canary { canary_id, in_training: h.in_training });
                }
                None => {
                    let kind: PiiKind = h.kind.parse().expect("PII hit kinds are PiiKind names");
                    marks.push((h.start, h.end, Mark::Pii(kind)));
                    reasons.push(Reason::Pii { pii_type: h.kind, seen_in_training: h.in_training });
                }
            }
        }
        Ok((reasons, redact(&normal, marks)))
    }
}

/// `text` with every marked byte range replaced; overlapping ranges are merged and take the
/// strongest mark (verbatim, then canary, then PII).
fn redact(text: &str, mut marks: Vec<(usize, usize, Mark)>) -> String {
    if marks.is_empty() {
        return text.to_string();
    }
    marks.sort_by_key(|&(s, e, m)| (s, std::cmp::Reverse(e), m));
    let mut merged: Vec<(usize, usize, Mark)> = Vec::with_capacity(marks.len());
    for (s, e, m) in marks {
        match merged.last_mut() {
            Some(last) if s < last.1 => {
                last.1 = last.1.max(e);
                last.2 = last.2.min(m);
            }
            _ => merged.push((s, e, m)),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (s, e, m) in merged {
        out.push_str(&text[at..s]);
        match m {
            Mark::Verbatim => out.push_str(VERBATIM_PLACEHOLDER),
            Mark::Canary => out.push_str(&mask(&text[s..e])),
            Mark::Pii(kind) => out.push_str(kind.placeholder()),
        }
        at = e;
    }
    out.push_str(&text[at..]);
    out
}

