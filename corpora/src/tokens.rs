//! Special tokens shared by every crate: the tokenizer reserves ids 0, 1, 2 for them.
//!
//! A stored example holds only its text's tokens; the model input of one record is
//! `[BOS] + tokens + [EOS]`, truncated to the context (done by the training crate).

/// Padding token id.
pub const PAD: u32 = 0;
/// Beginning-of-sequence token id.
pub const BOS: u32 = 1;
/// End-of-sequence token id.
pub const EOS: u32 = 2;

/// Padding token string (id [`PAD`]).
pub const PAD_STR: &str = "<|pad|>";
/// Beginning-of-sequence token string (id [`BOS`]).
pub const BOS_STR: &str = "<|bos|>";
/// End-of-sequence token string (id [`EOS`]).
pub const EOS_STR: &str = "<|eos|>";

/// The special tokens in id order: index = id.
pub const SPECIAL_TOKENS: [&str; 3] = [PAD_STR, BOS_STR, EOS_STR];
