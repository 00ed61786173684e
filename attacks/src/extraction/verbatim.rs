//! Verbatim search of generations: every maximal span of ≥ L tokens of a generation that occurs
//! verbatim in the training token stream, found with the suffix array of `vg-corpora`
//! ([`SuffixArray::maximal_matches`]: a block filter plus a chain of maximal matches, near-linear
//! in the generated length, never a scan of the corpus per generation).
//!
//! **Record boundaries.** The stream is `r₁ SEP r₂ SEP … rₙ SEP` with `SEP = u32::MAX`
//! ([`Symbol::SEPARATOR`]), which is never a token id; generations cannot contain it, so a span
//! is never counted across two records — not even records adjacent in the stream. Each span is
//! reported with the record (kind, id) and offset of one of its occurrences.

use std::path::Path;

use serde::{Deserialize, Serialize};
use vg_corpora::suffix_array::{IndexStatus, SpanMatch, SuffixArray, Symbol};

use crate::{AttackError, Result};
use crate::model::{Sampling, Generator};

/// What a record of the stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamRecordKind {
    /// A corpus record.
    Record,
    /// An included canary (one copy per repetition).
    Canary,
    /// A population record (the non-member floor stream).
    Population,
}

/// A record of the stream: kind and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRecord {
    /// What the record is.
    pub kind: StreamRecordKind,
    /// Its id (record id or canary id).
    pub id: u64,
}

/// The suffix-array index of a token stream of records, with the map from stream position to record.
pub struct TokenStream {
    index: SuffixArray<u32>,
    starts: Vec<usize>,
    records: Vec<StreamRecord>,
}

impl std::fmt::Debug for TokenStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStream").field("records", &self.records.len()).field("tokens", &self.index.len()).finish()
    }
}

/// Where one maximal verbatim span comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerbatimSpan {
    /// Start in the generation (token index).
    pub start: usize,
    /// Length in tokens.
    pub len: usize,
    /// The record of one occurrence.
    pub record: StreamRecord,
    /// Offset of that occurrence inside the record.
    pub record_offset: usize,
    /// Occurrences of the span in the stream.
    pub occurrences: usize,
}

fn concat(records: &[(StreamRecord, &[u32])]) -> Result<(Vec<u32>, Vec<usize>)> {
    let total: usize = records.iter().map(|(_, t)| t.len() + 1).sum();
    let mut stream = Vec::with_capacity(total);
    let mut starts = Vec::with_capacity(records.len());
    for (record, tokens) in records {
        if let Some(&token) = tokens.iter().find(|&&t| t == u32::SEPARATOR) {
            return Err(AttackError::ReservedToken { id: record.id, token });
        }
        starts.push(stream.len());
        stream.extend_from_slice(tokens);
        stream.push(u32::SEPARATOR);
    }
    Ok((stream, starts))
}

impl TokenStream {
    /// Indexes the records in the given order (built in memory).
    pub fn build(records: &[(StreamRecord, &[u32])]) -> Result<Self> {
        let (stream, starts) = concat(records)?;
        let index = SuffixArray::build(stream)?;
        Ok(TokenStream { index, starts, records: records.iter().map(|(r, _)| *r).collect() })
    }

    /// Like [`TokenStream::build`], but reuses the index file at `path` when it indexes exactly
    /// this stream (memory-mapped), and otherwise (re)builds and saves it; says which.
    pub fn open_or_build(path: &Path, records: &[(StreamRecord, &[u32])]) -> Result<(Self, IndexStatus)> {
        let (stream, starts) = concat(records)?;
        let (index, status) = SuffixArray::open_or_build(path, stream)?;
        Ok((TokenStream { index, starts, records: records.iter().map(|(r, _)| *r).collect() }, status))
    }

    /// A stream from a saved index (e.g. memory-mapped by [`SuffixArray::open`]) and its records
    /// in stream order; record starts are recovered from the separators, which must number one per record.
    pub fn from_index(index: SuffixArray<u32>, records: Vec<StreamRecord>) -> Result<Self> {
        let mut starts = Vec::with_capacity(records.len());
        let mut next = 0usize;
        for (pos, &t) in index.text().iter().enumerate() {
            if t == u32::SEPARATOR {
                starts.push(next);
                next = pos + 1;
            }
        }
        if starts.len() != records.len() || next != index.len() {
            return Err(AttackError::StreamRecords { separators: starts.len(), records: records.len() });
        }
        Ok(TokenStream { index, starts, records })
    }

    /// The suffix array of the stream.
    pub fn index(&self) -> &SuffixArray<u32> {
        &self.index
    }

    /// Number of records.
    pub fn records(&self) -> usize {
        self.records.len()
    }

    /// The record containing stream position `pos` and the offset inside it.
    pub fn record_at(&self, pos: usize) -> (StreamRecord, usize) {
        let i = self.starts.partition_point(|&s| s <= pos) - 1;
        (self.records[i], pos - self.starts[i])
    }

    /// Every maximal span of at least `min_len` tokens of `generation` occurring in the stream.
    /// Tokens equal to the separator (never produced by a tokenizer) split the generation.
    pub fn verbatim_spans(&self, generation: &[u32], min_len: usize) -> Vec<VerbatimSpan> {
        let mut spans = Vec::new();
        let mut offset = 0;
        for piece in generation.split(|&t| t == u32::SEPARATOR) {
            for SpanMatch { query_start, len, text_start, occurrences, .. } in self.index.maximal_matches(piece, min_len) {
                let (record, record_offset) = self.record_at(text_start);
                spans.push(VerbatimSpan { start: offset + query_start, len, record, record_offset, occurrences });
            }
            offset += piece.len() + 1;
        }
        spans
    }
}

/// Parameters of the sampled generations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationOptions {
    /// G: number of generations (default 1000).
    pub generations: usize,
    /// Tokens per generation (default 256).
    pub tokens: usize,
    /// k of the top-k sampling (default 40).
    pub top_k: usize,
    /// Sampling temperature (default 1.0).
    pub temperature: f64,
    /// L: shortest span reported (default 50 tokens).
    pub min_span_tokens: usize,
    /// Generations per generator call (default 16).
    pub batch_size: usize,
    /// Seed of the sampling.
    pub seed: u64,
    /// Prompt each generation with the first this-many tokens of a population record (never
    /// trained on); 0 (default) prompts with BOS alone. Used by callers that build the prompts.
    #[serde(default)]
    pub prompt_tokens: usize,
}

impl Default for GenerationOptions {
    fn default() -> Self {
        GenerationOptions { generations: 1000, tokens: 256, top_k: 40, temperature: 1.0, min_span_tokens: 50, batch_size: 16, seed: 0, prompt_tokens: 0 }
    }
}

impl GenerationOptions {
    /// Refuses impossible parameters.
    pub fn validate(&self) -> Result<()> {
        if self.tokens == 0 {
            return Err(AttackError::invalid("generation tokens", self.tokens, "must be at least 1"));
        }
        if self.top_k == 0 {
            return Err(AttackError::invalid("top_k", self.top_k, "must be at least 1"));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(AttackError::invalid("temperature", self.temperature, "must be positive and finite"));
        }
        if self.min_span_tokens == 0 {
            return Err(AttackError::invalid("min_span_tokens (L)", self.min_span_tokens, "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(AttackError::invalid("batch_size", self.batch_size, "must be at least 1"));
        }
        Ok(())
    }
}

/// Samples `opts.generations` continuations with top-k decoding; prompt i is
/// `[bos] + prompts[i % len]` (just `[bos]` when `prompts` is empty).
pub fn sample_generations(
    generator: &dyn Generator,
    prompts: &[Vec<u32>],
    bos: u32,
    opts: &GenerationOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<Vec<u32>>> {
    opts.validate()?;
    let decoding = Sampling::TopK { k: opts.top_k, temperature: opts.temperature };
    let mut generations = Vec::with_capacity(opts.generations);
    let mut batch_no = 0u64;
    while generations.len() < opts.generations {
        let n = opts.batch_size.min(opts.generations - generations.len());
        let batch: Vec<Vec<u32>> = (generations.len()..generations.len() + n)
            .map(|i| {
                let tail: &[u32] = if prompts.is_empty() { &[] } else { &prompts[i % prompts.len()] };
                std::iter::once(bos).chain(tail.iter().copied()).collect()
            })
            .collect();
        let out = generator.generate(&batch, opts.tokens, &decoding, opts.seed.wrapping_add(batch_no))?;
        if out.len() != n {
            return Err(AttackError::GeneratorShape { expected: n, got: out.len() });
        }
        generations.extend(out);
        batch_no += 1;
        progress(n as u64);
    }
    Ok(generations)
}

/// Verbatim statistics of a set of generations against one stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VerbatimStats {
    /// Generations searched.
    pub generations: u64,
    /// Tokens searched.
    pub generated_tokens: u64,
    /// Generations with at least one span ≥ L.
    pub generations_with_hit: u64,
    /// Maximal spans ≥ L.
    pub spans: u64,
    /// Generated tokens covered by some span (overlaps counted once).
    pub verbatim_tokens: u64,
    /// Longest span.
    pub longest_span_tokens: u64,
}

/// Spans of each generation against `stream`, and their statistics.
pub fn search_generations(stream: &TokenStream, generations: &[Vec<u32>], min_len: usize) -> (VerbatimStats, Vec<Vec<VerbatimSpan>>) {
    let mut stats = VerbatimStats { generations: generations.len() as u64, ..Default::default() };
    let mut all = Vec::with_capacity(generations.len());
    for g in generations {
        let spans = stream.verbatim_spans(g, min_len);
        stats.generated_tokens += g.len() as u64;
        stats.generations_with_hit += u64::from(!spans.is_empty());
        stats.spans += spans.len() as u64;
        stats.longest_span_tokens = stats.longest_span_tokens.max(spans.iter().map(|s| s.len as u64).max().unwrap_or(0));
        // Spans are ordered by start with increasing ends: union length in one pass.
        let mut covered_to = 0usize;
        for s in &spans {
            let end = s.start + s.len;
            stats.verbatim_tokens += end.saturating_sub(covered_to.max(s.start)) as u64;
            covered_to = covered_to.max(end);
        }
        all.push(spans);
    }
    (stats, all)
}
