//! Layer freezing ("hierarchical freezing"): parameter groups kept at their initial values.
//! Frozen parameters get no gradient, no share of the per-example clipping norm and no noise.
//! The accounting is unchanged: each step still releases a sum of per-example vectors of norm
//! ≤ C plus N(0, σ²C²) noise per released coordinate (the same Gaussian mechanism on fewer
//! coordinates), and the frozen values depend on no data, so they cost no privacy.

use crate::{Error, GptConfig, Result};

/// One freezable group of parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeGroup {
    /// Token and position embeddings (`wte`, `wpe`).
    Embeddings,
    /// Transformer blocks `first..=last` (0-based).
    Blocks {
        /// First block.
        first: usize,
        /// Last block (inclusive).
        last: usize,
    },
    /// Final LayerNorm and LM head.
    Head,
}

/// Parses "embeddings", "blocks:I", "blocks:I-J" or "head".
pub fn parse_group(text: &str) -> Result<FreezeGroup> {
    let bad = |why: &str| Error::param("freeze", text, why.to_string());
    match text.trim() {
        "embeddings" => Ok(FreezeGroup::Embeddings),
        "head" => Ok(FreezeGroup::Head),
        t => {
            let range = t.strip_prefix("blocks:").ok_or_else(|| bad("use \"embeddings\", \"blocks:I\", \"blocks:I-J\" or \"head\""))?;
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let first: usize = a.trim().parse().map_err(|_| bad("block numbers are whole numbers ≥ 0"))?;
            let last: usize = b.trim().parse().map_err(|_| bad("block numbers are whole numbers ≥ 0"))?;
            if last < first {
                return Err(bad("the range must run from the lower block to the higher"));
            }
            Ok(FreezeGroup::Blocks { first, last })
        }
    }
}

/// Per parameter (in storage order): true when frozen by any of `groups`.
pub fn frozen_mask(cfg: &GptConfig, groups: &[String]) -> Result<Vec<bool>> {
    let names: Vec<String> = crate::model::param_shapes(cfg).into_iter().map(|(n, _)| n).collect();
    let mut mask = vec![false; names.len()];
    for g in groups {
        let group = parse_group(g)?;
        if let FreezeGroup::Blocks { last, .. } = group {
            if last >= cfg.n_layer {
                return Err(Error::param("freeze", g, format!("the model has blocks 0–{}", cfg.n_layer - 1)));
            }
        }
        for (m, name) in mask.iter_mut().zip(&names) {
            let hit = match group {
                FreezeGroup::Embeddings => name == "wte" || name == "wpe",
                FreezeGroup::Head => name.starts_with("ln_f.") || name == "lm_head.weight",
                FreezeGroup::Blocks { first, last } => name
                    .strip_prefix("h.")
                    .and_then(|r| r.split('.').next())
                    .and_then(|l| l.parse::<usize>().ok())
                    .is_some_and(|l| (first..=last).contains(&l)),
            };
            *m |= hit;
        }
    }
    if !mask.is_empty() && mask.iter().all(|&f| f) {
        return Err(Error::param("freeze", groups.join(","), "freezes every parameter: nothing would train"));
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_select_the_named_parameters() {
        let cfg = GptConfig::preset("tiny", 64).unwrap();
        let names: Vec<String> = crate::model::param_shapes(&cfg).into_iter().map(|(n, _)| n).collect();
        let mask = frozen_mask(&cfg, &["embeddings".into(), "blocks:1".into()]).unwrap();
        let frozen: Vec<&String> = names.iter().zip(&mask).filter(|(_, &f)| f).map(|(n, _)| n).collect();
        assert_eq!(frozen.len(), 2 + 12, "{frozen:?}");
        assert!(frozen.iter().all(|n| *n == "wte" || *n == "wpe" || n.starts_with("h.1.")));
        assert!(frozen_mask(&cfg, &["blocks:0-2".into()]).is_err(), "tiny has 2 blocks");
        assert!(parse_group("blocks:1-0").is_err());
        assert!(parse_group("attention").is_err());
        assert!(frozen_mask(&cfg, &["embeddings".into(), "blocks:0-1".into(), "head".into()]).is_err(), "all frozen");
    }
}
