//! After launch: the extraction search as an output filter. The same suffix-array verbatim
//! search, fragment dictionary (canary secrets, keyed hashes of kept PII) and PII detectors that
//! audit a model's generations before launch check what a deployed model says:
//!
//! 1. [`ScanIndex`] — one folder with everything the filter needs: the training token stream's
//!    suffix array (memory-mapped, CRC-checked), its record list, the tokenizer, the canary
//!    secrets, the kept-PII hash set and how the corpus pipeline cleaned the records; every file
//!    checksummed in `index.json`, refused when altered or written by another format version.
//! 2. [`Scanner`] — one output → one [`Verdict`]: the text is normalised (and de-identified)
//!    exactly as the corpus pipeline cleaned the training records, tokenized with the index's
//!    tokenizer, searched for verbatim spans ≥ L tokens, canary secrets and PII; the flagged parts
//!    are redacted.
//!
//! The scanner only reads the index. Filtering against the training set is not post-processing
//! of a DP model: it reads the private data, so its verdicts carry no DP guarantee of their own.

mod index;
mod matcher;
mod verdict;

pub use index::{Cleaning, IndexMeta, IndexSource, ScanIndex, SCAN_INDEX_FORMAT, SCAN_INDEX_VERSION};
pub use matcher::Scanner;
pub use verdict::{Reason, Verdict, VerdictKind, VERBATIM_PLACEHOLDER};
