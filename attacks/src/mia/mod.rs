//! Membership-inference attacks. Each turns scores of the target model (and, for LiRA and RMIA,
//! of shadow/reference models) into one membership score per record, higher = member.
//!
//! - [`threshold`]: the loss attack of Yeom et al. (2018) and any single per-record score.
//! - [`lira`]: the likelihood-ratio attack of Carlini et al. (2022), online and offline.
//! - [`rmia`]: the relative attack of Zarifzadeh et al. (2024), offline.
pub mod lira;
pub mod rmia;
pub mod threshold;

use crate::error::{AttackError, Result};

/// Whether a shadow/reference model trained on a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShadowRole {
    /// The record was in the model's training set.
    In,
    /// The record was not.
    Out,
    /// The model has no score for the record (ignored).
    Absent,
}

/// Scores of every record under every shadow/reference model, for `queries` augmentations per
/// record, laid out record-major (`scores[(record · models + model) · queries + query]`) so one
/// record's statistics are contiguous.
#[derive(Clone, Debug)]
pub struct ShadowScores {
    records: usize,
    models: usize,
    queries: usize,
    scores: Vec<f64>,
    roles: Vec<ShadowRole>,
}

impl ShadowScores {
    /// Wraps record-major data; `roles[record · models + model]`. Refuses wrong lengths, zero
    /// queries, and NaN scores of present entries.
    pub fn new(records: usize, models: usize, queries: usize, scores: Vec<f64>, roles: Vec<ShadowRole>) -> Result<Self> {
        if queries == 0 {
            return Err(AttackError::invalid("queries", 0, "need at least one query per record"));
        }
        if scores.len() != records * models * queries || roles.len() != records * models {
            return Err(AttackError::Shape(format!(
                "shadow data for {records} records × {models} models × {queries} queries needs {} scores and {} roles, got {} and {}",
                records * models * queries,
                records * models,
                scores.len(),
                roles.len()
            )));
        }
        for (rm, role) in roles.iter().enumerate() {
            if *role != ShadowRole::Absent {
                let s = &scores[rm * queries..(rm + 1) * queries];
                if s.iter().any(|x| x.is_nan()) {
                    return Err(AttackError::BadScore(format!(
                        "shadow score of record {} under model {} is NaN",
                        rm / models.max(1),
                        rm % models.max(1)
                    )));
                }
            }
        }
        Ok(ShadowScores { records, models, queries, scores, roles })
    }

    /// Number of records.
    pub fn records(&self) -> usize {
        self.records
    }
    /// Number of shadow/reference models.
    pub fn models(&self) -> usize {
        self.models
    }
    /// Queries (augmentations) per record.
    pub fn queries(&self) -> usize {
        self.queries
    }
    /// Role of `model` for `record`.
    pub fn role(&self, record: usize, model: usize) -> ShadowRole {
        self.roles[record * self.models + model]
    }
    /// The `queries` scores of `record` under `model`.
    pub fn score(&self, record: usize, model: usize) -> &[f64] {
        let at = (record * self.models + model) * self.queries;
        &self.scores[at..at + self.queries]
    }
    /// All scores of one record: `models × queries`, model-major.
    pub fn record_scores(&self, record: usize) -> &[f64] {
        let w = self.models * self.queries;
        &self.scores[record * w..(record + 1) * w]
    }
    /// All roles of one record.
    pub fn record_roles(&self, record: usize) -> &[ShadowRole] {
        &self.roles[record * self.models..(record + 1) * self.models]
    }
}
