//! `vg-audit attack`: membership-inference attacks and ε lower bounds, on a run directory
//! (`--run DIR`: its `scores.parquet` and `canaries.json`) or on a score table produced
//! elsewhere (`--scores FILE --target MODEL`), so a model served on other hardware can be
//! audited black-box.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use vg_attacks::membership_audit::{audit_membership, AuditOptions, BoundDetail, MembershipAudit};
use vg_attacks::bounds::{GuessChoice, ThresholdChoice};
use vg_attacks::mia::lira::LiraVariance;
use vg_attacks::mia::rmia::RmiaOptions;
use vg_attacks::score_table::{RowKind, ScoreTable};

use crate::Outcome;

/// LiRA spread estimate.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum VarianceArg {
    /// One σ per record (needs ≥ 64 shadows to be stable).
    PerExample,
    /// One σ pooled over all records (default below 64 shadows).
    Global,
}

/// Arguments of `vg-audit attack`.
#[derive(clap::Args)]
#[command(after_help = "Scores are oriented higher = more likely a member. In --json output, `attacks` maps each \
attack (loss, lira_online, lira_offline, rmia, …) to auc, tpr_at_fpr_1e-3 and tpr_at_fpr_1e-2 (null when there are \
too few non-members), and `epsilon_lower_bounds` maps each method (clopper_pearson, one_run, and their \
Bonferroni-paid *_best_attack maxima) to epsilon, confidence, attack and counts.")]
pub(crate) struct Args {
    /// Run directory of `vg-audit run`: reads DIR/scores.parquet and DIR/canaries.json. Models whose
    /// name starts with "shadow" are shadow/reference models; every other model is audited (with
    /// the DP shadow set `shadow-dp-K` when it was trained with DP-SGD, else `shadow-K`; see --shadow-set).
    #[arg(long, value_name = "DIR", conflicts_with = "scores", required_unless_present = "scores")]
    run: Option<PathBuf>,
    /// A long score table (.csv or .parquet) with columns id, model, score, member (0/1, may be empty
    /// for the target), optional query (augmentation index) and kind. Every model other than
    /// --target is a shadow/reference model whose member column says what it trained on.
    #[arg(long, value_name = "FILE")]
    scores: Option<PathBuf>,
    /// The audited model (required with --scores; with --run, defaults to every non-shadow model).
    #[arg(long, value_name = "MODEL")]
    target: Option<String>,
    /// With --run: the shadow set LiRA and RMIA use. "matching" (the set trained like the target),
    /// "dp", "non-private", or "all" (every model named shadow*).
    #[arg(long, value_name = "SET", default_value = "matching", value_parser = ["matching", "dp", "non-private", "all"])]
    shadow_set: String,
    /// The score column means "lower = member" (e.g. a loss): negate it on reading.
    #[arg(long)]
    lower_is_member: bool,
    /// LiRA variance: per-example or global (default: global below 64 shadows).
    #[arg(long, value_enum, value_name = "KIND")]
    lira_variance: Option<VarianceArg>,
    /// RMIA offline parameter a in [0, 1].
    #[arg(long, default_value_t = 0.3, value_name = "A")]
    rmia_a: f64,
    /// Tune RMIA's a on the first shadow/reference model (as ML Privacy Meter does) instead of --rmia-a.
    #[arg(long)]
    rmia_tune_a: bool,
    /// RMIA likelihood-ratio threshold γ > 0.
    #[arg(long, default_value_t = 1.0, value_name = "GAMMA")]
    rmia_gamma: f64,
    /// δ the ε lower bounds account for, in [0, 1) (default: the target's δ from
    /// models/<target>/model.json with --run, else 1e-5).
    #[arg(long, value_name = "D")]
    delta: Option<f64>,
    /// Confidence level of every ε lower bound, in (0, 1).
    #[arg(long, default_value_t = 0.95, value_name = "C")]
    confidence: f64,
    /// Choose thresholds and k₊/k₋ on a random half and bound on the other half, instead of
    /// paying Bonferroni over the grid of choices.
    #[arg(long)]
    held_out: bool,
    /// Seed of the held-out split and the bootstrap.
    #[arg(long, default_value_t = 0, value_name = "N")]
    seed: u64,
    /// Bootstrap resamples for 95 % intervals of AUC and TPR (0 = none).
    #[arg(long, default_value_t = 0, value_name = "N")]
    bootstrap: usize,
    /// Print one JSON object on stdout instead of the human summary.
    #[arg(long)]
    json: bool,
    /// Write per-record membership scores to this CSV: id, member, one column per attack.
    #[arg(long, value_name = "FILE")]
    per_record: Option<PathBuf>,
}

/// Runs `vg-audit attack`.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    if let Some(d) = args.delta {
        if !(0.0..1.0).contains(&d) {
            bail!("--delta {d} must lie in [0, 1)");
        }
    }
    if !(args.confidence > 0.0 && args.confidence < 1.0) {
        bail!("--confidence {} must lie in (0, 1)", args.confidence);
    }
    RmiaOptions { a: args.rmia_a, gamma: args.rmia_gamma }.validate()?;
    let mut audits = Vec::new();
    if let Some(path) = &args.scores {
        let Some(target) = &args.target else { bail!("--scores needs --target MODEL (the audited model's name in the table)") };
        let table = ScoreTable::read_long_table(path, args.lower_is_member)?;
        let mut opts = options(&args, AuditOptions::for_score_table(target), args.delta.unwrap_or(1e-5));
        opts.shadows = None;
        audits.push(run_one(&table, &opts)?);
    } else if let Some(dir) = &args.run {
        let table_path = dir.join("scores.parquet");
        let mut table = ScoreTable::read_parquet(&table_path)?;
        if args.lower_is_member {
            bail!("--lower-is-member applies to --scores tables; scores.parquet is already oriented higher = member");
        }
        let canaries_path = dir.join("canaries.json");
        let repetitions = if canaries_path.exists() {
            let set = vg_canaries::CanarySet::load(&canaries_path)?;
            fill_canary_truth(&mut table, &set, &canaries_path)?;
            set.repetitions
        } else {
            1
        };
        let models = table.models();
        let shadows: Vec<String> = models.iter().filter(|m| m.starts_with("shadow")).cloned().collect();
        let targets: Vec<String> = match &args.target {
            Some(t) => vec![t.clone()],
            None => models.iter().filter(|m| !m.starts_with("shadow")).cloned().collect(),
        };
        if targets.is_empty() {
            bail!("{}: no model to audit (models: {models:?}; names starting with \"shadow\" are shadow models)", table_path.display());
        }
        for t in &targets {
            let delta = match args.delta {
                Some(d) => d,
                None => model_delta(dir, t)?.unwrap_or(1e-5),
            };
            let mut opts = options(&args, AuditOptions::for_run(t), delta);
            opts.shadows = Some(match args.shadow_set.as_str() {
                "all" => shadows.clone(),
                "matching" => {
                    let private = vg_training::ModelJson::load(&dir.join("models").join(t)).map(|i| i.dp.is_some()).unwrap_or(false);
                    vg_audit::pipeline::shadows::set_for(private, &models).map(|(_, s)| s).unwrap_or_default()
                }
                set => vg_audit::pipeline::shadows::members(&models, set),
            });
            opts.canary_repetitions = repetitions;
            audits.push(run_one(&table, &opts).with_context(|| format!("auditing model {t:?}"))?);
        }
    } else {
        bail!("give --run DIR or --scores FILE");
    }
    if let Some(path) = &args.per_record {
        write_per_record(path, &audits)?;
    }
    if args.json {
        let mut v = serde_json::to_value(&audits[0])?;
        if audits.len() > 1 {
            v["other_targets"] = serde_json::to_value(&audits[1..])?;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for a in &audits {
            print!("{}", human(a));
        }
    }
    Ok(Outcome::Success)
}

fn options(args: &Args, mut o: AuditOptions, delta: f64) -> AuditOptions {
    o.lira_variance = args.lira_variance.map(|v| match v {
        VarianceArg::PerExample => LiraVariance::PerExample,
        VarianceArg::Global => LiraVariance::Global,
    });
    o.rmia = RmiaOptions { a: args.rmia_a, gamma: args.rmia_gamma };
    o.rmia_tune_a = args.rmia_tune_a;
    o.delta = delta;
    o.confidence = args.confidence;
    if args.held_out {
        o.thresholds = ThresholdChoice::HeldOut { fractions: ThresholdChoice::default_fractions(), seed: args.seed };
        o.guesses = GuessChoice::HeldOut { grid: GuessChoice::default_grid(), seed: args.seed };
    }
    o.bootstrap = (args.bootstrap > 0).then_some((args.bootstrap, args.seed));
    o
}

fn run_one(table: &ScoreTable, opts: &AuditOptions) -> anyhow::Result<MembershipAudit> {
    let bar = vg_audit::progress::bar(1, &format!("attack {}", opts.target), "steps");
    let audit = audit_membership(table, opts, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    Ok(audit)
}

/// The target's canary rows take their truth from canaries.json when the table leaves it empty;
/// a disagreement means the two files belong to different runs.
fn fill_canary_truth(table: &mut ScoreTable, set: &vg_canaries::CanarySet, path: &Path) -> anyhow::Result<()> {
    for i in 0..table.len() {
        if table.kind[i] != RowKind::Canary || table.model[i].starts_with("shadow") {
            continue;
        }
        let Some(c) = set.get(table.id[i]) else { bail!("{}: canary {} of scores.parquet is not in the answer key", path.display(), table.id[i]) };
        match table.member[i] {
            None => table.member[i] = Some(c.included),
            Some(m) if m != c.included => bail!(
                "{}: canary {} is {} in the answer key but {} for model {:?} in scores.parquet",
                path.display(),
                c.id,
                if c.included { "included" } else { "excluded" },
                if m { "member" } else { "non-member" },
                table.model[i]
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

/// δ of the model's DP guarantee (models/<name>/model.json), if it has one.
fn model_delta(dir: &Path, model: &str) -> anyhow::Result<Option<f64>> {
    let info = vg_training::ModelJson::load(&dir.join("models").join(model))?;
    Ok(info.dp.map(|d| d.delta))
}

fn write_per_record(path: &Path, audits: &[MembershipAudit]) -> anyhow::Result<()> {
    let mut names: Vec<&String> = audits.iter().flat_map(|a| a.per_record.scores.keys()).collect();
    names.sort();
    names.dedup();
    let with_kind = audits.iter().any(|a| a.per_record.kind.iter().any(|k| k != "record"));
    let with_model = audits.len() > 1;
    let mut out = String::from("id,member");
    if with_kind {
        out.push_str(",kind");
    }
    if with_model {
        out.push_str(",model");
    }
    for n in &names {
        write!(out, ",{n}")?;
    }
    out.push('\n');
    for a in audits {
        let p = &a.per_record;
        for i in 0..p.id.len() {
            write!(out, "{},{}", p.id[i], p.member[i].map_or(String::new(), |m| u8::from(m).to_string()))?;
            if with_kind {
                write!(out, ",{}", p.kind[i])?;
            }
            if with_model {
                write!(out, ",{}", a.target)?;
            }
            for n in &names {
                match p.scores.get(*n) {
                    Some(v) => write!(out, ",{}", v[i])?,
                    None => out.push(','),
                }
            }
            out.push('\n');
        }
    }
    vg_corpora::fsutil::atomic_write(path, out.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |x| format!("{:.4}", x))
}

fn human(a: &MembershipAudit) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Membership audit of model {:?} ({} shadow/reference models)", a.target, a.shadow_models.len());
    let _ = writeln!(s, "  {:<18} {:>7} {:>12} {:>12} {:>9}", "attack", "AUC", "TPR@0.1%FPR", "TPR@1%FPR", "bal.acc");
    for (name, r) in &a.attacks {
        let m = &r.metrics;
        let _ = writeln!(
            s,
            "  {:<18} {:>7.4} {:>12} {:>12} {:>9.4}",
            name,
            m.auc,
            fmt_opt(m.tpr_at_fpr_1e_3),
            fmt_opt(m.tpr_at_fpr_1e_2),
            m.balanced_accuracy
        );
    }
    let _ = writeln!(s, "ε lower bounds (primary attack: {}):", a.primary_attack);
    for (method, b) in &a.epsilon_lower_bounds {
        let counts = match &b.detail {
            BoundDetail::ClopperPearson { counts, thresholds_tried, .. } => format!(
                "FP {}/{}, FN {}/{}, {} thresholds paid",
                counts.false_positives, counts.negatives, counts.false_negatives, counts.positives, thresholds_tried
            ),
            BoundDetail::OneRun { counts, choices_paid, audited } => format!(
                "{} of {} guesses correct on {} {audited}, {} (k₊, k₋) choices paid",
                counts.correct, counts.guesses, counts.canaries, choices_paid
            ),
        };
        let _ = writeln!(
            s,
            "  {:<28} ε ≥ {:.4} at {:.0} % confidence, δ = {} — {} [{}; {}]",
            method,
            b.epsilon,
            b.confidence * 100.0,
            b.delta,
            b.attack,
            b.selection,
            counts
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for w in a.attacks.values().flat_map(|r| r.metrics.warnings.iter()).chain(a.warnings.iter()) {
        if seen.insert(w) {
            let _ = writeln!(s, "  warning: {w}");
        }
    }
    s
}
