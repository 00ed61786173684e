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
use std::hash::{BuildHasherDefault, Hasher};

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

/// Piece → token ids, hashed with FxHash's multiply-rotate (rustc's hasher): pieces are short and
/// not attacker-chosen keys that need SipHash's flooding resistance.
type PieceCache = HashMap<String, Vec<u32>, BuildHasherDefault<FxHasher>>;

/// A piece → token ids cache kept by a long-lived caller between texts (one per thread), so
/// the words of a steady stream of short texts are merged once, not once per text.
#[derive(Default)]
pub struct EncodeCache(PieceCache);

/// FxHash (from rustc): `h = (rotl(h, 5) ^ word) · K` per 8-byte word.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(c.try_into().expect("8 bytes"))).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }
}

/// Where the match of [`GPT2_SPLIT`] that starts at `pos` ends, for ASCII text: the same
/// leftmost-first alternation written out (for ASCII, `\p{L}` = letters, `\p{N}` = digits, `\s` =
/// `\t \n \x0B \x0C \r` and space).
fn ascii_piece_end(b: &[u8], pos: usize) -> usize {
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r');
    let letter = |c: u8| c.is_ascii_alphabetic();
    let digit = |c: u8| c.is_ascii_digit();
    let other = |c: u8| !space(c) && !letter(c) && !digit(c);
    let run = |from: usize, class: &dyn Fn(u8) -> bool| from + b[from..].iter().take_while(|&&c| class(c)).count();
    let c = b[pos];
    if c == b'\'' {
        let rest = &b[pos + 1..];
        for suffix in [&b"s"[..], b"t", b"re", b"ve", b"m", b"ll", b"d"] {
            if rest.starts_with(suffix) {
                return pos + 1 + suffix.len();
            }
        }
    }
    let body = if c == b' ' && b.get(pos + 1).is_some_and(|&n| !space(n)) { pos + 1 } else { pos };
    match b.get(body) {
        Some(&n) if letter(n) => run(body, &letter),
        Some(&n) if digit(n) => run(body, &digit),
        Some(&n) if other(n) => run(body, &other),
        _ => run(pos, &space),
    }
}

/// Encoder for tokenizers of the shape [`crate::tokenizer::train_bpe`] builds.
pub struct FastEncoder<'t> {
    // Borrowed for batch encoding; owned by long-lived scanners (`FastEncoder::owned`).
    tokenizer: std::borrow::Cow<'t, Tokenizer>,
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
        Some(FastEncoder {
            tokenizer: std::borrow::Cow::Borrowed(tokenizer),
            split: Regex::new(GPT2_SPLIT).expect("GPT-2 pattern compiles"),
            byte_chars: byte_chars(),
        })
    }

    /// Like [`FastEncoder::new`], owning the tokenizer (for encoders kept for a process's lifetime).
    pub fn owned(tokenizer: Tokenizer) -> Option<FastEncoder<'static>> {
        let borrowed = FastEncoder::new(&tokenizer)?;
        let (split, byte_chars) = (borrowed.split, borrowed.byte_chars);
        Some(FastEncoder { tokenizer: std::borrow::Cow::Owned(tokenizer), split, byte_chars })
    }

    /// The tokenizer it encodes for.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The pre-tokenizer pieces of `text`, as GPT-2's regex splits it.
    pub fn pieces<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut out = Vec::with_capacity(text.len() / 4);
        let ascii = text.is_ascii();
        let mut pos = 0;
        while pos < text.len() {
            let (start, mut end) = if ascii {
                (pos, ascii_piece_end(text.as_bytes(), pos))
            } else {
                let m = self.split.find_at(text, pos).expect("every character matches one alternative");
                (m.start(), m.end())
            };
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

    fn encode_with(&self, text: &str, cache: &mut PieceCache) -> Result<Vec<u32>> {
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
        self.encode_with(text, &mut PieceCache::default())
    }

    /// Encodes one text reusing `cache` (which must only ever be used with this encoder).
    pub fn encode_cached(&self, text: &str, cache: &mut EncodeCache) -> Result<Vec<u32>> {
        self.encode_with(text, &mut cache.0)
    }

    /// Encodes texts in parallel, in order.
    pub fn encode_all<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        let chunks: Vec<Vec<Vec<u32>>> = texts
            .par_chunks(2048)
            .map(|chunk| {
                let mut cache = PieceCache::default();
                chunk.iter().map(|t| self.encode_with(t.as_ref(), &mut cache)).collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        Ok(chunks.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn ascii_splitter_matches_the_gpt2_regex() {
        let re = Regex::new(GPT2_SPLIT).unwrap();
        let pool = b"srevltmdaZ09 '\t\n\r\x0B\x0C.,-+@<>_";
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut fixed = vec!["I'm here, they'll go  now\n\n 12 apples 'sx ''re  !! '".to_string()];
        fixed.extend((0..3000).map(|_| (0..rng.random_range(1..40)).map(|_| pool[rng.random_range(0..pool.len())] as char).collect()));
        for text in &fixed {
            let mut pos = 0;
            while pos < text.len() {
                let m = re.find_at(text, pos).unwrap();
                assert_eq!((m.start(), m.end()), (pos, ascii_piece_end(text.as_bytes(), pos)), "{text:?} at {pos}");
                pos = m.end();
            }
        }
    }
}
