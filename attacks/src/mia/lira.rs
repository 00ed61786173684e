//! LiRA, the likelihood-ratio attack of Carlini, Chien, Nasr, Song, Terzis and Tramèr,
//! "Membership Inference Attacks From First Principles" (IEEE S&P 2022), exactly as
//! `shared/reference/lira/CONVENTIONS.md` fixes it:
//!
//! - location per (record, query): the median of the IN (resp. OUT) shadow scores (the
//!   authors' code; [`Location::Mean`] gives the paper's Algorithm 1);
//! - spread: per record, population std (ddof = 0) around the arithmetic mean, + 1e-30; or
//!   global ("fixed"): per query, sqrt(mean((s − loc_record)²)) pooled over every IN (resp. OUT) entry;
//! - online score = mean over queries of ln N(t; μ_in, σ_in) − ln N(t; μ_out, σ_out);
//! - offline score = mean over queries of ln Φ((t − μ_out)/σ_out) (the one-sided test of Sec. IV-C).
//!
//! The statistic fed in should be roughly Gaussian per record: for language models the logit of
//! the geometric-mean token probability, φ = m − ln(−expm1(m)) with m the mean token log-prob.
//! Records without IN (or OUT) shadows borrow the other side's location shifted by the mean
//! IN−OUT offset of the records that have both; records with fewer than two IN (OUT) values use
//! the global spread. Both are counted in the warnings.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ShadowRole, ShadowScores};
use crate::error::{AttackError, Result};
use vg_accounting::special::{log_norm_cdf as ln_normal_cdf, ln_normal_pdf};

/// Where the spread of the shadow distributions comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LiraVariance {
    /// One σ per record and query (needs many shadows to be stable).
    PerExample,
    /// One σ per query for IN and one for OUT, pooled over all records ("fixed variance").
    Global,
}

impl LiraVariance {
    /// The default for `models` shadow models: global below 64 shadows (Carlini et al. §VI-B:
    /// per-example variances need many shadows), per-example from 64 on.
    pub fn auto(models: usize) -> Self {
        if models < 64 {
            LiraVariance::Global
        } else {
            LiraVariance::PerExample
        }
    }
}

/// Location estimate of the IN and OUT score distributions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Location {
    /// Median (the authors' released code); mean of the two middle values for an even count.
    Median,
    /// Arithmetic mean (the paper's Algorithm 1).
    Mean,
}

/// LiRA settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiraOptions {
    /// Per-record or pooled spread.
    pub variance: LiraVariance,
    /// Median or mean location.
    pub location: Location,
}

/// Per-record LiRA membership scores (higher = member).
#[derive(Clone, Debug, PartialEq)]
pub struct LiraScores {
    /// Online scores; `None` when no record has both IN and OUT shadows.
    pub online: Option<Vec<f64>>,
    /// Offline (one-sided) scores.
    pub offline: Vec<f64>,
    /// −mean ln N(t; μ_out, σ_out): what the authors' `plot.py` ranks by offline (two-sided).
    pub offline_two_sided: Vec<f64>,
    /// Fallbacks taken, worth telling the user.
    pub warnings: Vec<String>,
}

/// Location, spread and pooled squared deviations of one side for one (record, query).
#[derive(Clone, Copy, Debug)]
struct Side {
    loc: f64,
    sd: f64,
    sq_dev: f64,
    n: usize,
}

fn side_stats(vals: &mut [f64], location: Location) -> Side {
    let n = vals.len();
    if n == 0 {
        return Side { loc: f64::NAN, sd: f64::NAN, sq_dev: 0.0, n };
    }
    let mean = vals.iter().sum::<f64>() / n as f64;
    let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    let loc = match location {
        Location::Mean => mean,
        Location::Median => median_in_place(vals),
    };
    let sq_dev = vals.iter().map(|v| (v - loc) * (v - loc)).sum::<f64>();
    // A single value has no spread of its own: the global σ stands in.
    let sd = if n >= 2 { var.sqrt() + 1e-30 } else { f64::NAN };
    Side { loc, sd, sq_dev, n }
}

/// Median (mean of the two middle values for an even count), reordering `v`.
fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    let k = n / 2;
    let (left, mid, _) = v.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
    let upper = *mid;
    if n % 2 == 1 {
        upper
    } else {
        let lower = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// Runs LiRA online and offline. `target[record · queries + query]` is the target model's
/// statistic; `shadows` holds the same statistic under every shadow model.
pub fn lira(shadows: &ShadowScores, target: &[f64], options: &LiraOptions) -> Result<LiraScores> {
    let (n, q) = (shadows.records(), shadows.queries());
    if target.len() != n * q {
        return Err(AttackError::Shape(format!(
            "target has {} scores, shadows describe {n} records × {q} queries",
            target.len()
        )));
    }
    if let Some(i) = target.iter().position(|s| s.is_nan()) {
        return Err(AttackError::BadScore(format!("target score of record {} query {} is NaN", i / q, i % q)));
    }
    if shadows.models() == 0 {
        return Err(AttackError::NotEnoughData("LiRA needs at least one shadow model".into()));
    }
    // Pass 1: per (record, query) IN and OUT statistics.
    let stats: Vec<(Side, Side)> = (0..n)
        .into_par_iter()
        .map_init(
            || (Vec::<f64>::new(), Vec::<f64>::new()),
            |(ins, outs), r| {
                let roles = shadows.record_roles(r);
                let mut out = Vec::with_capacity(q);
                for a in 0..q {
                    ins.clear();
                    outs.clear();
                    for (m, role) in roles.iter().enumerate() {
                        match role {
                            ShadowRole::In => ins.push(shadows.score(r, m)[a]),
                            ShadowRole::Out => outs.push(shadows.score(r, m)[a]),
                            ShadowRole::Absent => {}
                        }
                    }
                    out.push((side_stats(ins, options.location), side_stats(outs, options.location)));
                }
                out
            },
        )
        .flatten_iter()
        .collect();
    // Pooled spreads and the mean IN − OUT offset, per query.
    let mut warnings = Vec::new();
    let mut global_in = vec![0.0; q];
    let mut global_out = vec![0.0; q];
    let mut offset = vec![f64::NAN; q];
    let mut any_both = false;
    for a in 0..q {
        let (mut ss_in, mut n_in, mut ss_out, mut n_out, mut diff, mut n_both) = (0.0, 0usize, 0.0, 0usize, 0.0, 0usize);
        for r in 0..n {
            let (i, o) = &stats[r * q + a];
            ss_in += i.sq_dev;
            n_in += i.n;
            ss_out += o.sq_dev;
            n_out += o.n;
            if i.n > 0 && o.n > 0 {
                diff += i.loc - o.loc;
                n_both += 1;
            }
        }
        global_in[a] = if n_in > 0 { (ss_in / n_in as f64).sqrt() } else { f64::NAN };
        global_out[a] = if n_out > 0 { (ss_out / n_out as f64).sqrt() } else { f64::NAN };
        if n_both > 0 {
            offset[a] = diff / n_both as f64;
            any_both = true;
        }
    }
    if global_out.iter().any(|s| s.is_nan()) && !any_both {
        return Err(AttackError::NotEnoughData("no shadow model is OUT for any record: LiRA has no reference".into()));
    }
    let (mut borrowed_loc, mut borrowed_sd) = (0usize, 0usize);
    let mut resolved: Vec<(f64, f64, f64, f64)> = Vec::with_capacity(n * q);
    for r in 0..n {
        for a in 0..q {
            let (i, o) = stats[r * q + a];
            let (mut mu_in, mut mu_out) = (i.loc, o.loc);
            if i.n == 0 || o.n == 0 {
                borrowed_loc += 1;
            }
            if i.n == 0 {
                mu_in = mu_out + offset[a];
            }
            if o.n == 0 {
                mu_out = mu_in - offset[a];
            }
            let (sd_in, sd_out) = match options.variance {
                LiraVariance::Global => (global_in[a], global_out[a]),
                LiraVariance::PerExample => {
                    if i.sd.is_nan() || o.sd.is_nan() {
                        borrowed_sd += 1;
                    }
                    (if i.sd.is_nan() { global_in[a] } else { i.sd }, if o.sd.is_nan() { global_out[a] } else { o.sd })
                }
            };
            resolved.push((mu_in, sd_in, mu_out, sd_out));
        }
    }
    if borrowed_loc > 0 {
        warnings.push(format!(
            "{borrowed_loc} (record, query) pairs lacked IN or OUT shadows; their location was shifted from the other side by the mean IN−OUT offset"
        ));
    }
    if borrowed_sd > 0 {
        warnings.push(format!("{borrowed_sd} (record, query) pairs had fewer than 2 IN or OUT shadows; the pooled σ was used"));
    }
    let online_ok = any_both && resolved.iter().all(|&(mi, si, mo, so)| mi.is_finite() && si > 0.0 && mo.is_finite() && so > 0.0);
    let per_record = |f: &(dyn Fn(f64, &(f64, f64, f64, f64)) -> f64 + Sync)| -> Vec<f64> {
        (0..n)
            .into_par_iter()
            .map(|r| (0..q).map(|a| f(target[r * q + a], &resolved[r * q + a])).sum::<f64>() / q as f64)
            .collect()
    };
    let online = online_ok.then(|| {
        per_record(&|t, &(mi, si, mo, so)| ln_normal_pdf(t, mi, si) - ln_normal_pdf(t, mo, so))
    });
    if !online_ok {
        warnings.push("online LiRA not available: IN shadow statistics missing or degenerate".into());
    }
    let offline = per_record(&|t, &(_, _, mo, so)| ln_normal_cdf((t - mo) / so));
    let offline_two_sided = per_record(&|t, &(_, _, mo, so)| -ln_normal_pdf(t, mo, so));
    if offline.iter().any(|s| s.is_nan()) {
        return Err(AttackError::NotEnoughData("offline LiRA: some records have no usable OUT statistics".into()));
    }
    Ok(LiraScores { online, offline, offline_two_sided, warnings })
}
