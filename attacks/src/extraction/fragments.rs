//! Fragment search: a dictionary of known sensitive strings looked up in every model output —
//! canary secrets (an `fst::Map` used as a trie: every output position is walked along it, exact
//! match at word boundaries), and the PII left in the training text, known only by keyed hashes
//! (`DIR/pii-kept.fst`, written by vg-corpora): each PII value the detector finds in an output is
//! hashed with the same key and looked up. PII found in outputs whose hash is *not* in the set was
//! not in the training text (hallucinated, generic, or from the prompt) and is reported separately.
//! Removed PII cannot have been learned and is not searched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fst::raw::Output;
use serde::{Deserialize, Serialize};
use vg_corpora::pii::{PiiDetector, PiiHasher, PiiMatch};

use crate::{AttackError, Result};

/// A canary whose secret is looked up.
#[derive(Clone, Debug, PartialEq)]
pub struct SecretEntry {
    /// Canary id.
    pub canary_id: u64,
    /// Whether it was in the training data.
    pub included: bool,
    /// The secret.
    pub secret: String,
}

/// Where a text came from, for reporting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSource {
    /// "generation", "memorization", "population", "canary".
    pub test: String,
    /// Index of the generation, or id of the record / canary prompted.
    pub id: u64,
}

/// One hit in one text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FragmentHit {
    /// The text it was found in.
    pub source: TextSource,
    /// "CANARY" or the PII type name (EMAIL, PHONE, ...).
    pub kind: String,
    /// For canaries: the canary id.
    pub canary_id: Option<u64>,
    /// Canary included in training, or PII value present in the training text.
    pub in_training: bool,
    /// Byte range in the text.
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
}

/// Counts per hit type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HitCounts {
    /// Hits of strings that were in the training data.
    pub in_training: u64,
    /// Hits of strings that were not (canaries not included; PII not in the kept set).
    pub not_in_training: u64,
}

/// The fragment search over all outputs of one model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FragmentReport {
    /// Texts scanned.
    pub texts_scanned: u64,
    /// Hits by type ("CANARY", "EMAIL", ...).
    pub by_type: BTreeMap<String, HitCounts>,
    /// Included canaries whose secret appeared in some output (ids, ascending).
    pub regurgitated_canaries: Vec<u64>,
    /// Not-included canaries whose secret appeared anyway (guessed; the floor).
    pub guessed_canaries: Vec<u64>,
    /// PII values in outputs that are not in the training text's kept set (hallucinated or generic).
    pub pii_not_in_training: u64,
    /// Whether kept-PII hashes were available (false: PII in outputs could not be attributed).
    pub pii_dictionary: bool,
}

impl FragmentReport {
    /// Hits of training-data strings (included canaries + kept PII): the `fragment_hits` of the summary.
    pub fn training_hits(&self) -> u64 {
        self.by_type.values().map(|c| c.in_training).sum()
    }
}

/// The dictionary: canary secrets and, when available, the keyed hashes of kept PII.
pub struct FragmentDictionary {
    secrets: fst::Map<Vec<u8>>,
    entries: Vec<SecretEntry>,
    pii: Option<(fst::Set<Vec<u8>>, PiiHasher)>,
    detector: PiiDetector,
}

impl std::fmt::Debug for FragmentDictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FragmentDictionary")
            .field("secrets", &self.entries.len())
            .field("pii_hashes", &self.pii.as_ref().map(|(s, _)| s.len()))
            .finish()
    }
}

impl FragmentDictionary {
    /// A dictionary of canary secrets; `pii` adds the kept-PII hash set (file bytes) and its key.
    pub fn new(mut entries: Vec<SecretEntry>, pii: Option<(Vec<u8>, PiiHasher)>) -> Result<Self> {
        entries.retain(|e| !e.secret.is_empty());
        let mut order: Vec<usize> = (0..entries.len()).collect();
        // Same secret for several canaries: attribute a hit to an included one (it was in training).
        order.sort_by(|&a, &b| entries[a].secret.cmp(&entries[b].secret).then(entries[b].included.cmp(&entries[a].included)));
        order.dedup_by(|a, b| entries[*a].secret == entries[*b].secret);
        let mut builder = fst::MapBuilder::memory();
        for &i in &order {
            builder.insert(&entries[i].secret, i as u64).map_err(|e| AttackError::Dictionary {
                path: PathBuf::from("(canary secrets)"),
                reason: e.to_string(),
            })?;
        }
        let bytes = builder.into_inner().map_err(|e| AttackError::Dictionary {
            path: PathBuf::from("(canary secrets)"),
            reason: e.to_string(),
        })?;
        let secrets = fst::Map::new(bytes).map_err(|e| AttackError::Dictionary {
            path: PathBuf::from("(canary secrets)"),
            reason: e.to_string(),
        })?;
        let pii = match pii {
            Some((bytes, hasher)) => Some((
                fst::Set::new(bytes).map_err(|e| AttackError::Dictionary {
                    path: PathBuf::from("(kept PII hashes)"),
                    reason: e.to_string(),
                })?,
                hasher,
            )),
            None => None,
        };
        Ok(FragmentDictionary { secrets, entries, pii, detector: PiiDetector::new() })
    }

    /// Reads the kept-PII set from `fst_path` (vg-corpora's `pii-kept.fst`).
    pub fn with_pii_file(entries: Vec<SecretEntry>, fst_path: &Path, hasher: PiiHasher) -> Result<Self> {
        let bytes = std::fs::read(fst_path).map_err(|e| AttackError::Dictionary {
            path: fst_path.to_path_buf(),
            reason: e.to_string(),
        })?;
        fst::Set::new(bytes.clone())
            .map_err(|e| AttackError::Dictionary { path: fst_path.to_path_buf(), reason: format!("not an fst set: {e}") })?;
        Self::new(entries, Some((bytes, hasher)))
    }

    /// Whether kept-PII hashes were given (PII in outputs can be attributed to the training text).
    pub fn has_pii_hashes(&self) -> bool {
        self.pii.is_some()
    }

    /// The canary secrets (for redaction).
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.secret.as_str())
    }

    /// The PII detector used on outputs.
    pub fn detector(&self) -> &PiiDetector {
        &self.detector
    }

    /// Canary secrets occurring in `text` at word boundaries: (entry index, byte range).
    fn find_secrets(&self, text: &str) -> Vec<(usize, usize, usize)> {
        let fst = self.secrets.as_fst();
        let bytes = text.as_bytes();
        let mut found = Vec::new();
        for start in (0..bytes.len()).filter(|&i| text.is_char_boundary(i)) {
            let mut node = fst.root();
            let mut out = Output::zero();
            for (offset, &b) in bytes[start..].iter().enumerate() {
                let Some(t) = node.find_input(b) else { break };
                let t = node.transition(t);
                out = out.cat(t.out);
                node = fst.node(t.addr);
                let end = start + offset + 1;
                if node.is_final() && boundary(bytes, start, end) {
                    found.push((out.cat(node.final_output()).value() as usize, start, end));
                }
            }
        }
        found
    }

    /// Every hit in `text`. PII overlapping a canary-secret hit is attributed to the canary only.
    pub fn scan(&self, text: &str, source: &TextSource) -> Vec<FragmentHit> {
        self.scan_found(text, &self.detector.find(text), source)
    }

    /// [`FragmentDictionary::scan`] with the detector's findings on `text` already at hand.
    pub fn scan_found(&self, text: &str, found: &[PiiMatch], source: &TextSource) -> Vec<FragmentHit> {
        let mut hits: Vec<FragmentHit> = self
            .find_secrets(text)
            .into_iter()
            .map(|(i, start, end)| FragmentHit {
                source: source.clone(),
                kind: "CANARY".into(),
                canary_id: Some(self.entries[i].canary_id),
                in_training: self.entries[i].included,
                start,
                end,
            })
            .collect();
        let canary_ranges: Vec<(usize, usize)> = hits.iter().map(|h| (h.start, h.end)).collect();
        for &m in found {
            if canary_ranges.iter().any(|&(s, e)| m.start < e && s < m.end) {
                continue;
            }
            let in_training = match &self.pii {
                Some((set, hasher)) => set.contains(hasher.hash_hex(m.kind, &text[m.start..m.end])),
                None => false,
            };
            hits.push(FragmentHit {
                source: source.clone(),
                kind: m.kind.name().to_string(),
                canary_id: None,
                in_training,
                start: m.start,
                end: m.end,
            });
        }
        hits
    }

    /// Scans every text and summarises; returns the report and all hits.
    pub fn search<'t>(&self, texts: impl IntoIterator<Item = (TextSource, &'t str)>) -> (FragmentReport, Vec<FragmentHit>) {
        let mut report = FragmentReport { pii_dictionary: self.pii.is_some(), ..Default::default() };
        let mut all = Vec::new();
        for (source, text) in texts {
            report.texts_scanned += 1;
            all.extend(self.scan(text, &source));
        }
        for hit in &all {
            let counts = report.by_type.entry(hit.kind.clone()).or_default();
            if hit.in_training {
                counts.in_training += 1;
            } else {
                counts.not_in_training += 1;
            }
            match (hit.canary_id, hit.in_training) {
                (Some(id), true) => report.regurgitated_canaries.push(id),
                (Some(id), false) => report.guessed_canaries.push(id),
                (None, false) => report.pii_not_in_training += 1,
                (None, true) => {}
            }
        }
        for list in [&mut report.regurgitated_canaries, &mut report.guessed_canaries] {
            list.sort_unstable();
            list.dedup();
        }
        (report, all)
    }
}

/// A match must not continue a word or number on either side (a secret "4821" inside "948213"
/// is not that secret).
fn boundary(bytes: &[u8], start: usize, end: usize) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric();
    let left_ok = start == 0 || !word(bytes[start]) || !word(bytes[start - 1]);
    let right_ok = end == bytes.len() || !word(bytes[end - 1]) || !word(bytes[end]);
    left_ok && right_ok
}
