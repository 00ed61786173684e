//! The verdict on one output: pass, flag (with its reasons) or error (bad input), and the text
//! with the flagged parts redacted. The JSON shape is the same for batch lines and HTTP answers.

use serde::{Deserialize, Serialize};

use crate::extraction::StreamRecord;

/// What replaces a verbatim span of training text in the redacted output.
pub const VERBATIM_PLACEHOLDER: &str = "<VERBATIM>";

/// The outcome for one output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// Nothing found.
    Pass,
    /// At least one reason.
    Flag,
    /// The record could not be read (invalid UTF-8, too long, malformed JSON, missing field).
    Error,
}

/// Why an output was flagged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// A maximal span of the output occurs verbatim in a training record.
    Verbatim {
        /// Span length in tokens.
        tokens: usize,
        /// Where the span starts in the output (token index).
        offset: usize,
        /// The training record of one occurrence.
        record: StreamRecord,
        /// Where the occurrence starts inside that record (token index).
        record_offset: usize,
        /// Occurrences in the training stream.
        occurrences: usize,
    },
    /// A canary secret.
    Canary {
        /// The canary's id.
        canary_id: u64,
        /// Whether the canary was inserted into the training data (false: guessed).
        in_training: bool,
    },
    /// A PII value found by the detectors.
    Pii {
        /// `EMAIL`, `PHONE`, ...
        #[serde(rename = "type")]
        pii_type: String,
        /// Its keyed hash is in the training text's kept-PII set.
        seen_in_training: bool,
    },
}

impl Reason {
    /// `verbatim`, `canary` or `pii`.
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Verbatim { .. } => "verbatim",
            Reason::Canary { .. } => "canary",
            Reason::Pii { .. } => "pii",
        }
    }

    /// Whether the reason is training data coming back out (verbatim span, included canary, PII seen in training).
    pub fn is_training_data(&self) -> bool {
        match self {
            Reason::Verbatim { .. } => true,
            Reason::Canary { in_training, .. } => *in_training,
            Reason::Pii { seen_in_training, .. } => *seen_in_training,
        }
    }
}

/// The verdict on one output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The caller's id (the input's `id` field, else its line number).
    pub id: serde_json::Value,
    /// Pass, flag or error.
    pub verdict: VerdictKind,
    /// Reasons, in the order found (verbatim spans, then canaries and PII by position).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    /// The normalised text with every flagged part redacted (absent for errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// What was wrong with the input (errors only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Verdict {
    /// An error verdict for a record that could not be read.
    pub fn error(id: serde_json::Value, message: impl Into<String>) -> Self {
        Verdict { id, verdict: VerdictKind::Error, reasons: Vec::new(), text: None, error: Some(message.into()) }
    }

    /// The distinct reason kinds, in `verbatim`, `canary`, `pii` order.
    pub fn kinds(&self) -> Vec<&'static str> {
        ["verbatim", "canary", "pii"].into_iter().filter(|k| self.reasons.iter().any(|r| r.kind() == *k)).collect()
    }

    /// Longest verbatim span in tokens (0 without one): the severity used to rank examples.
    pub fn longest_verbatim(&self) -> usize {
        self.reasons.iter().filter_map(|r| if let Reason::Verbatim { tokens, .. } = r { Some(*tokens) } else { None }).max().unwrap_or(0)
    }
}
