//! A faster encoder for the byte-level BPE tokenizers this crate trains, with the same output as
//! `Tokenizer::encode`: the GPT-2 pre-tokenizer regex is run with the `regex` crate (its one
//! look-ahead, `\s+(?!\S)`, is emulated), each piece is mapped to byte-level characters, and the
//! BPE model's result per piece is cached. Tokenizers of any other shape go through
//! `Tokenizer::encode_fast`. The tests compare both on the demo corpus.
//!
//! One deliberate difference: a record that contains the literal text of a special token
//! (`<|eos|>`) is encoded as that text, never as the special id, so a record cannot inject
//! BOS/EOS/PAD into its own training sequence.

use std::collections::HashMap;

use rayon::prelude::*;
use regex::Regex;
use tokenizers::models::ModelWrapper;
use tokenizers::{Model, PreTokenizerWrapper, Tokenizer};

use crate::error::{Error, Result};

/// GPT-2's pre-tokenizer pattern without the look-ahead alternative (see [`FastEncoder::pieces`]).
const GPT2_SPLIT: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+";

/// Most cached pieces per worker chunk before the cache is cleared.
const CACHE_LIMIT: usize = 200_000;

/// GPT-2's byte → printable character table (`bytes_to_unicode` in openai/gpt-2 `encoder.py`).
fn byte_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut extra = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        table[b as usize] = if printable {
            char::from(b)
        } else {
            extra += 1;
            char::from_u32(255 + extra).expect("valid code point")
        };
    }
    table
}

/// Encoder for tokenizers of the shape [`crate::tokenizer::train_bpe`] builds.
pub struct FastEncoder<'t> {
    tokenizer: &'t Tokenizer,
    split: Regex,
    byte_chars: [char; 256],
}

impl<'t> FastEncoder<'t> {
    /// `Some` when `tokenizer` is byte-level BPE without normaliser, prefix space off and the GPT-2 regex on.
    pub fn new(tokenizer: &'t Tokenizer) -> Option<Self> {
        let pre_ok = matches!(tokenizer.get_pre_tokenizer(), Some(PreTokenizerWrapper::ByteLevel(b)) if !b.add_prefix_space && b.use_regex);
        let model_ok = matches!(tokenizer.get_model(), ModelWrapper::BPE(_));
        if !pre_ok || !model_ok || tokenizer.get_normalizer().is_some() {
            return None;
        }
        Some(FastEncoder { tokenizer, split: Regex::new(GPT2_SPLIT).expect("GPT-2 pattern compiles"), byte_chars: byte_chars() })
    }

    /// The pre-tokenizer pieces of `text`, as GPT-2's regex splits it.
    pub fn pieces<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < text.len() {
            let m = self.split.find_at(text, pos).expect("every character matches one alternative");
            let (start, mut end) = (m.start(), m.end());
            let piece = &text[start..end];
            // `\s+(?!\S)`: a whitespace run followed by a non-space leaves its last character to the next piece
            if end < text.len() && piece.chars().all(char::is_whitespace) {
                let last = piece.chars().next_back().expect("non-empty").len_utf8();
                if piece.len() > last {
                    end -= last;
                }
            }
            out.push(&text[start..end]);
            pos = end;
        }
        out
    }

    fn encode_with(&self, text: &str, cache: &mut HashMap<String, Vec<u32>>) -> Result<Vec<u32>> {
        let model = self.tokenizer.get_model();
        let mut ids = Vec::with_capacity(text.len() / 3);
        let mut mapped = String::new();
        for piece in self.pieces(text) {
            if let Some(hit) = cache.get(piece) {
                ids.extend_from_slice(hit);
                continue;
            }
            mapped.clear();
            mapped.extend(piece.bytes().map(|b| self.byte_chars[b as usize]));
            let toks = model.tokenize(&mapped).map_err(|e| Error::Tokenizer { path: None, reason: e.to_string() })?;
            let piece_ids: Vec<u32> = toks.iter().map(|t| t.id).collect();
            ids.extend_from_slice(&piece_ids);
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(piece.to_string(), piece_ids);
        }
        Ok(ids)
    }

    /// Encodes one text (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.encode_with(text, &mut HashMap::new())
    }

    /// Encodes texts in parallel, in order.
    pub fn encode_all<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        let chunks: Vec<Vec<Vec<u32>>> = texts
            .par_chunks(2048)
            .map(|chunk| {
                let mut cache = HashMap::new();
                chunk.iter().map(|t| self.encode_with(t.as_ref(), &mut cache)).collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        Ok(chunks.into_iter().flatten().collect())
    }
}
