//! vg-corpora owns the corpus: turning raw text into the clean, de-identified, deduplicated,
//! split and tokenized examples every later step of vg-audit trains and attacks on, plus the
//! suffix-array index over byte and token streams and the built-in demo corpus.
//!
//! # Pipeline ([`prepare`])
//!
//! 1. **Read** ([`readers`]): text (lines or paragraphs), JSON Lines, CSV, Parquet, directories;
//!    streamed; bad records stop the run with `file:line: reason` or are counted (`skip_bad`).
//! 2. **Normalise** ([`normalize`]): NFC, control and invisible characters removed, whitespace folded.
//! 3. **De-identify** ([`pii`]): e-mail, phone, card (Luhn), IBAN (mod 97), SSN, IP, URLs with
//!    credentials → typed placeholders; kept types are stored only as keyed hashes (`pii-kept.fst`).
//!    De-identifying before dedup makes records that differ only in PII duplicates.
//! 4. **Exact and near-duplicate removal** ([`dedup`], with [`suffix_array::SuffixArray`]).
//! 5. **Split** ([`split`]): seeded pool / population; pool records are members with probability ½.
//! 6. **Tokenizer** ([`tokenizer`]): byte-level BPE trained on the population only (it ships with the
//!    model, outside the DP guarantee), or the user's; `<|pad|>`, `<|bos|>`, `<|eos|>` = 0, 1, 2 ([`tokens`]).
//!    Encoding uses [`fast_bpe::FastEncoder`], tested to give the `tokenizers` crate's ids.
//! 7. **Tokenize and write** `DIR/{manifest.json, tokenizer.json, splits.bin, splits.jsonl[, pii-kept.fst]}`
//!    atomically; [`PreparedCorpus::open`] reads it back.
//!
//! Parallel stages use rayon; `RAYON_NUM_THREADS` sets the number of threads.
//!
//! ```no_run
//! use vg_corpora::{prepare, PrepareOptions, PreparedCorpus};
//! let opts = PrepareOptions::new(vec!["data.jsonl".into()], "out/corpus");
//! let manifest = prepare(&opts, &mut |_stage, _done, _total| {})?;
//! let corpus = PreparedCorpus::open("out/corpus")?;
//! assert_eq!(corpus.pool().len() as u64, manifest.counts.pool);
//! # Ok::<(), vg_corpora::Error>(())
//! ```
#![deny(missing_docs)]

pub mod dedup;
pub mod demo;
pub mod error;
pub mod fast_bpe;
pub mod fsutil;
mod identity;
pub mod manifest;
pub mod normalize;
pub mod options;
pub mod pii;
mod prepare;
pub mod prepared;
pub mod readers;
pub mod split;
pub mod splits_file;
pub mod suffix_array;
pub mod tokenizer;
pub mod tokens;

pub use error::{BadInputKind, Error, Result};
pub use manifest::Manifest;
pub use options::{InputFormat, PrepareOptions, RecordMode};
pub use prepare::{prepare, Stage};
pub use prepared::{Example, PreparedCorpus};
