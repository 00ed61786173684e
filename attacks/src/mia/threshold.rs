//! Single-score attacks: threshold one per-record statistic of the target model.
//! The loss attack of Yeom, Giacomelli, Fredrikson and Jha ("Privacy Risk in Machine Learning",
//! CSF 2018) predicts member when the loss is low, so its membership score is −loss.

use crate::error::{AttackError, Result};

/// Membership scores of the loss attack: −loss per record (higher = member).
pub fn loss_attack(losses: &[f64]) -> Result<Vec<f64>> {
    single_score_attack(losses, true)
}

/// Any per-record statistic as an attack: the score itself, or its negation when lower values
/// mean member (`lower_is_member`), so the result is always higher = member. Refuses NaN.
pub fn single_score_attack(scores: &[f64], lower_is_member: bool) -> Result<Vec<f64>> {
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(AttackError::BadScore(format!("score of row {i} is NaN")));
    }
    Ok(if lower_is_member { scores.iter().map(|s| -s).collect() } else { scores.to_vec() })
}

