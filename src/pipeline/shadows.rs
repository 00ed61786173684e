//! The shadow sets of a run. LiRA and RMIA compare a target's score with the IN/OUT scores of
//! shadow models, which is only sound when the shadows were trained like the target: the
//! non-private set (`shadow-K`) trains like the non-private models and attacks them; the DP set
//! (`shadow-dp-K`) trains with the DP model's σ, q, C, learning rate and steps (noise from the
//! OS generator, like the target) and attacks the DP model. Both sets share the membership halves
//! (`TrainingData::shadow_in`), so every subject is IN for the same shadows of either set.

use vg_training::{DpConfig, DpRecord, DpRequest};

use super::plan::ModelSchedule;
use super::Pipeline;

/// Name of the non-private shadow set in summary.json.
pub const NON_PRIVATE_SET: &str = "non-private";
/// Name of the DP shadow set in summary.json.
pub const DP_SET: &str = "dp";

/// Non-private shadow model `k`'s name.
pub fn shadow_name(k: usize) -> String {
    format!("shadow-{k}")
}

/// DP shadow model `k`'s name (it starts with "shadow", so every tool treats it as a shadow).
pub fn dp_shadow_name(k: usize) -> String {
    format!("shadow-dp-{k}")
}

/// The set and index of a shadow model's name (`None`: not a shadow of a run).
pub fn parse(name: &str) -> Option<(&'static str, usize)> {
    let rest = name.strip_prefix("shadow-")?;
    match rest.strip_prefix("dp-") {
        Some(k) => k.parse().ok().map(|k| (DP_SET, k)),
        None => rest.parse().ok().map(|k| (NON_PRIVATE_SET, k)),
    }
}

/// The models of `set` among `models`, in their order.
pub fn members(models: &[String], set: &str) -> Vec<String> {
    models.iter().filter(|m| parse(m).is_some_and(|(s, _)| s == set)).cloned().collect()
}

/// The set that attacks a target: the DP set for a DP-SGD-trained target when the run has one,
/// else the non-private set; `None` when the chosen set is empty.
pub fn set_for(private_target: bool, models: &[String]) -> Option<(&'static str, Vec<String>)> {
    let dp = members(models, DP_SET);
    let chosen = if private_target && !dp.is_empty() { (DP_SET, dp) } else { (NON_PRIVATE_SET, members(models, NON_PRIVATE_SET)) };
    (!chosen.1.is_empty()).then_some(chosen)
}

/// The DP model's DP-SGD settings (target ε, δ, C, accountant, truncation, noise seed).
pub fn dp_request(p: &Pipeline, sched: &ModelSchedule) -> DpRequest {
    let m = &p.cfg.models;
    DpRequest {
        epsilon: Some(m.epsilon),
        delta: m.delta,
        settings: Some(DpConfig {
            clip_norm: sched.clip_norm,
            accountant: m.accountant,
            max_batch: m.max_batch,
            insecure_seed: p.cfg.run.insecure_seed,
            ..DpConfig::default()
        }),
        ..DpRequest::default()
    }
}

/// The DP model's mechanism as training will resolve it (σ calibrated for (ε, δ) at q = B/N over
/// T steps by the same accountant call), for `n_target` training examples.
pub fn dp_target_mechanism(p: &Pipeline, sched: &ModelSchedule, n_target: usize) -> anyhow::Result<DpRecord> {
    let mut request = vg_training::TrainRequest::new(sched.steps as u64, sched.batch_size);
    request.dp = Some(dp_request(p, sched));
    let cfg = request.build(n_target);
    let dp = cfg.dp.as_ref().expect("a DP request builds a DP config");
    Ok(vg_training::resolve_privacy(dp, sched.batch_size as f64, n_target, sched.steps as u64)?)
}

/// A DP shadow's DP-SGD request and expected batch for its `n_shadow` examples: the target's σ,
/// C and δ, and the expected batch q·N rounded (so q matches the target's within ½/batch).
/// Its noise and sampling come from the OS generator unless the run has an insecure seed, from
/// which each shadow's own seed is derived (so the shadows' noise differs).
pub fn dp_shadow_request(target: &DpRecord, n_shadow: usize, insecure_seed: Option<u64>, name_hash: u64) -> (DpRequest, usize) {
    let batch = ((target.sampling_rate * n_shadow as f64).round() as usize).clamp(1, n_shadow.max(1));
    let request = DpRequest {
        noise_multiplier: Some(target.noise_multiplier),
        delta: Some(target.delta),
        settings: Some(DpConfig {
            clip_norm: target.clip_norm,
            accountant: target.accountant,
            neighbouring: target.neighbouring,
            max_batch: target.max_batch,
            insecure_seed: insecure_seed.map(|s| s.wrapping_add(name_hash)),
            // The shadow's own ε is reported, not claimed: it runs the target's δ whatever its N.
            force_delta: true,
            ..DpConfig::default()
        }),
        ..DpRequest::default()
    };
    (request, batch)
}
