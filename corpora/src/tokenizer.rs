//! Byte-level BPE tokenizer: training on the population split (`tokenizers` crate), loading a user's
//! `tokenizer.json`, and parallel encoding. Special tokens `<|pad|>`, `<|bos|>`, `<|eos|>` are ids 0, 1, 2.

use std::path::Path;
use std::str::FromStr;

use rayon::prelude::*;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, NormalizerWrapper, Tokenizer, TokenizerBuilder, TokenizerImpl};

use crate::error::{Error, Result};
use crate::tokens::{BOS, BOS_STR, EOS, EOS_STR, PAD, PAD_STR};

fn tok_err(path: Option<&Path>, e: impl std::fmt::Display) -> Error {
    Error::Tokenizer { path: path.map(Path::to_path_buf), reason: e.to_string() }
}

/// Trains a byte-level BPE tokenizer of `vocab_size` entries (special tokens and the 256 byte
/// symbols included) on `texts`. Deterministic for the same texts in the same order.
pub fn train_bpe<S: AsRef<str> + Send>(texts: impl Iterator<Item = S> + Send, vocab_size: usize) -> Result<Tokenizer> {
    let specials = [PAD_STR, BOS_STR, EOS_STR].map(|s| AddedToken::from(s.to_string(), true)).to_vec();
    let mut trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(vocab_size)
        .min_frequency(2)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tokenizer: TokenizerImpl<BPE, NormalizerWrapper, ByteLevel, ByteLevel, ByteLevel> = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None)
        .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)))
        .with_post_processor(Some(ByteLevel::default().trim_offsets(false)))
        .with_decoder(Some(ByteLevel::default()))
        .build()
        .map_err(|e| tok_err(None, e))?;
    tokenizer.train(&mut trainer, texts).map_err(|e| tok_err(None, e))?;
    let json = tokenizer.to_string(false).map_err(|e| tok_err(None, e))?;
    let tokenizer = Tokenizer::from_str(&json).map_err(|e| tok_err(None, e))?;
    check_specials(&tokenizer, None)?;
    Ok(tokenizer)
}

/// Loads a `tokenizer.json`; it must map `<|pad|>`, `<|bos|>`, `<|eos|>` to ids 0, 1, 2.
pub fn load(path: &Path) -> Result<Tokenizer> {
    let tokenizer = Tokenizer::from_file(path).map_err(|e| tok_err(Some(path), e))?;
    check_specials(&tokenizer, Some(path))?;
    Ok(tokenizer)
}

/// Checks the special-token convention every later step relies on.
pub fn check_specials(tokenizer: &Tokenizer, path: Option<&Path>) -> Result<()> {
    for (s, id) in [(PAD_STR, PAD), (BOS_STR, BOS), (EOS_STR, EOS)] {
        let found = tokenizer.token_to_id(s);
        if found != Some(id) {
            return Err(tok_err(
                path,
                format!(
                    "special token {s} must have id {id}, found {}; vg-audit's convention is <|pad|>=0, <|bos|>=1, <|eos|>=2 \
                     (a tokenizer.json written by `vg-audit corpus prepare` follows it)",
                    found.map_or("none".to_string(), |v| v.to_string())
                ),
            ));
        }
    }
    Ok(())
}

/// Encodes texts (no special tokens added) in parallel, in order; byte-level BPE tokenizers of the
/// shape [`train_bpe`] builds take the faster, equivalent [`crate::fast_bpe::FastEncoder`].
pub fn encode_all<S: AsRef<str> + Sync>(tokenizer: &Tokenizer, texts: &[S]) -> Result<Vec<Vec<u32>>> {
    if let Some(fast) = crate::fast_bpe::FastEncoder::new(tokenizer) {
        return fast.encode_all(texts);
    }
    encode_all_reference(tokenizer, texts)
}

/// Encodes texts with `Tokenizer::encode_fast` only (the reference the fast path is tested against).
pub fn encode_all_reference<S: AsRef<str> + Sync>(tokenizer: &Tokenizer, texts: &[S]) -> Result<Vec<Vec<u32>>> {
    texts
        .par_iter()
        .with_min_len(64)
        .map(|t| tokenizer.encode_fast(t.as_ref(), false).map(|e| e.get_ids().to_vec()).map_err(|e| tok_err(None, e)))
        .collect()
}

/// Serialises a tokenizer as `tokenizer.json` text.
pub fn to_json(tokenizer: &Tokenizer) -> Result<String> {
    tokenizer.to_string(true).map_err(|e| tok_err(None, e))
}
