//! Secret spaces: where a canary's secret is drawn from, uniformly, so that |R| is known
//! and exposure (Carlini et al. 2019, "The Secret Sharer") is defined.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::words::WORDS;

/// Longest digit count accepted (10^30 ≈ 2^99.7 secrets is plenty and stays exact in u128).
pub const MAX_DIGITS: u32 = 30;
/// Most words accepted in one secret (256^12 = 2^96).
pub const MAX_WORDS: u32 = 12;

/// A finite set R of secrets, sampled uniformly.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SecretSpace {
    /// `length` decimal digits, leading zeros allowed: |R| = 10^length.
    Digits {
        /// Number of digits d.
        length: u32,
    },
    /// Account-like number: groups of digits joined by `separator` (e.g. "4821-0937-1150"):
    /// |R| = 10^(sum of group lengths).
    Account {
        /// Digits per group, e.g. [4, 4, 4].
        groups: Vec<u32>,
        /// Text between groups (no digits), e.g. "-" or " ".
        separator: String,
    },
    /// `count` words drawn independently from the fixed list [`WORDS`] (W = 256), joined by
    /// single spaces: |R| = 256^count.
    Words {
        /// Number of words k.
        count: u32,
    },
}

impl SecretSpace {
    /// Checks the parameters; the error says which one is out of range and why.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            SecretSpace::Digits { length } => {
                if *length == 0 || *length > MAX_DIGITS {
                    return Err(format!("digit secret length {length} must be in 1..={MAX_DIGITS}"));
                }
            }
            SecretSpace::Account { groups, separator } => {
                if groups.is_empty() || groups.contains(&0) {
                    return Err(format!("account secret groups {groups:?} must be non-empty, each ≥ 1 digit"));
                }
                let total: u32 = groups.iter().sum();
                if total > MAX_DIGITS {
                    return Err(format!("account secret has {total} digits in total; at most {MAX_DIGITS}"));
                }
                if groups.len() > 1 && separator.is_empty() {
                    return Err("account secret separator must not be empty when there are several groups".into());
                }
                if separator.chars().any(|c| c.is_ascii_digit() || c == '\n') {
                    return Err(format!("account secret separator {separator:?} must not contain digits or newlines"));
                }
            }
            SecretSpace::Words { count } => {
                if *count == 0 || *count > MAX_WORDS {
                    return Err(format!("word secret count {count} must be in 1..={MAX_WORDS}"));
                }
            }
        }
        Ok(())
    }

    /// log₂|R|.
    pub fn log2_size(&self) -> f64 {
        match self {
            SecretSpace::Digits { length } => *length as f64 * 10f64.log2(),
            SecretSpace::Account { groups, .. } => groups.iter().sum::<u32>() as f64 * 10f64.log2(),
            SecretSpace::Words { count } => *count as f64 * (WORDS.len() as f64).log2(),
        }
    }

    /// |R| exactly, or `None` when it does not fit in a u128 (never for validated spaces).
    pub fn size(&self) -> Option<u128> {
        match self {
            SecretSpace::Digits { length } => 10u128.checked_pow(*length),
            SecretSpace::Account { groups, .. } => 10u128.checked_pow(groups.iter().sum::<u32>()),
            SecretSpace::Words { count } => (WORDS.len() as u128).checked_pow(*count),
        }
    }

    /// Draws one secret uniformly from R.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> String {
        match self {
            SecretSpace::Digits { length } => random_digits(rng, *length),
            SecretSpace::Account { groups, separator } => groups
                .iter()
                .map(|g| random_digits(rng, *g))
                .collect::<Vec<_>>()
                .join(separator),
            SecretSpace::Words { count } => (0..*count)
                .map(|_| WORDS[rng.random_range(0..WORDS.len())])
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// Whether `secret` is an element of R (used to check a loaded answer key).
    pub fn contains(&self, secret: &str) -> bool {
        let all_digits = |s: &str, n: u32| s.len() == n as usize && s.bytes().all(|b| b.is_ascii_digit());
        match self {
            SecretSpace::Digits { length } => all_digits(secret, *length),
            SecretSpace::Account { groups, separator } => {
                let parts: Vec<&str> = if groups.len() == 1 {
                    vec![secret]
                } else {
                    secret.split(separator.as_str()).collect()
                };
                parts.len() == groups.len() && parts.iter().zip(groups).all(|(p, g)| all_digits(p, *g))
            }
            SecretSpace::Words { count } => {
                let parts: Vec<&str> = secret.split(' ').collect();
                parts.len() == *count as usize && parts.iter().all(|w| WORDS.contains(w))
            }
        }
    }

    /// Short description for messages and reports, e.g. "9 digits" or "4 words of 256".
    pub fn describe(&self) -> String {
        match self {
            SecretSpace::Digits { length } => format!("{length} digits"),
            SecretSpace::Account { groups, separator } => {
                let shape: Vec<String> = groups.iter().map(|g| "#".repeat(*g as usize)).collect();
                format!("account number {}", shape.join(separator))
            }
            SecretSpace::Words { count } => format!("{count} words of {}", WORDS.len()),
        }
    }
}

fn random_digits<R: Rng + ?Sized>(rng: &mut R, n: u32) -> String {
    (0..n).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}
