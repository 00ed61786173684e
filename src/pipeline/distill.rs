//! A student distilled from a run's DP model (`vg-audit distill`, and the `[distill]` step of
//! `run`): trained non-privately on synthetic records (hard labels) or on the teacher's
//! next-token distributions over synthetic or public text (soft labels). It inherits the
//! teacher's guarantee only while nothing it learns from was read from the private data: text
//! sampled from the teacher (its sidecar says `dp`) or public text; the run's own training input
//! and splits are refused by hash.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use vg_corpora::fsutil::sha256_file;
use vg_corpora::PreparedCorpus;
use vg_training::{DistillLabels, Distillation, GptConfig, LoadedModel, ModelJson, Provenance, TrainProgress, TrainRequest};

use super::synth::{guarantee_of, model_sha256, refuse_private_file, Sidecar};
use crate::pipeline::records::read_jsonl;

/// The text a student learns from.
#[derive(Debug, Clone, PartialEq)]
pub enum DistillSource {
    /// Records written by `synth` (their sidecar carries the guarantee).
    Synthetic(PathBuf),
    /// Public text (JSON Lines): anything but the run's private data.
    Public(PathBuf),
}

impl DistillSource {
    /// The file.
    pub fn path(&self) -> &Path {
        match self {
            DistillSource::Synthetic(p) | DistillSource::Public(p) => p,
        }
    }
    fn name(&self) -> &'static str {
        match self {
            DistillSource::Synthetic(_) => "synthetic",
            DistillSource::Public(_) => "public",
        }
    }
}

/// How to train the student.
#[derive(Debug, Clone)]
pub struct DistillOptions {
    /// Architecture preset of the student (tiny, small, …); vocabulary and context are the teacher's.
    pub student: String,
    /// Its text.
    pub source: DistillSource,
    /// Field of the records holding the text.
    pub field: String,
    /// Hard labels (the text) or soft labels (the teacher's distributions at a temperature).
    pub labels: DistillLabels,
    /// Optimizer steps.
    pub steps: u64,
    /// Batch size.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Seed of the initialisation and the data order.
    pub seed: u64,
}

/// The labels a source takes by default: hard on synthetic records, soft (the teacher's) on public text.
pub fn default_labels(source: &DistillSource, temperature: f64) -> DistillLabels {
    match source {
        DistillSource::Synthetic(_) => DistillLabels::Hard,
        DistillSource::Public(_) => DistillLabels::Soft { temperature },
    }
}

/// Trains the student of `run/models/<teacher>` into `out` and returns its model.json; the
/// held-out loss is measured on the run's population split, as for every model of the run.
pub fn distill_student(run: &Path, teacher: &str, opts: &DistillOptions, out: &Path, resume: bool, progress: &mut dyn FnMut(&TrainProgress)) -> anyhow::Result<ModelJson> {
    let teacher_dir = run.join("models").join(teacher);
    let teacher_sha = model_sha256(&teacher_dir)?;
    let path = opts.source.path();
    let guarantee = match &opts.source {
        DistillSource::Synthetic(p) => {
            let sidecar = Sidecar::load_for(p)?;
            if sidecar.guarantee.model_sha256 != guarantee_of(&teacher_dir)?.model_sha256 {
                bail!(
                    "{}: sampled from the model with SHA-256 {}, not from the teacher {teacher} ({}): distil from the model that made the records",
                    p.display(),
                    sidecar.guarantee.model_sha256,
                    teacher_dir.display()
                );
            }
            sidecar.guarantee
        }
        DistillSource::Public(p) => {
            if opts.labels == DistillLabels::Hard {
                bail!("--public with hard labels would not learn from the teacher at all: use soft labels (the teacher's distributions)");
            }
            refuse_private_file(run, p, "public text")?;
            guarantee_of(&teacher_dir)?
        }
    };
    let corpus = PreparedCorpus::open(run.join("corpus")).context("cannot open the run's prepared corpus")?;
    let tokenizer = corpus.tokenizer()?;
    let texts: Vec<String> = read_jsonl(path, &opts.field)?.into_iter().map(|r| r.text).collect();
    if texts.is_empty() {
        bail!("{}: no records to distil on", path.display());
    }
    let examples = vg_corpora::tokenizer::encode_all(&tokenizer, &texts)?;
    let teacher_model = LoadedModel::load(&teacher_dir).map_err(|e| anyhow::anyhow!("cannot load the teacher {}: {e}", teacher_dir.display()))?;
    let arch = &teacher_model.info().architecture;
    let gpt = GptConfig { context_length: arch.context_length, ..GptConfig::preset(&opts.student, arch.vocab_size)? };
    let eval: Vec<Vec<u32>> = corpus.population().iter().take(256).map(|e| e.tokens.clone()).collect();
    let mut request = TrainRequest::new(opts.steps, opts.batch_size);
    request.lr = opts.lr;
    request.init_seed = opts.seed;
    request.data_seed = opts.seed;
    request.provenance = Provenance {
        tokenizer_sha256: Some(corpus.tokenizer_sha256()),
        corpus_manifest_sha256: Some(corpus.manifest_sha256()),
        model_name: out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    let mut cfg = request.build(examples.len());
    cfg.distill = Some(Distillation {
        labels: opts.labels,
        teacher_sha256: teacher_sha,
        data_source: opts.source.name().into(),
        data_sha256: sha256_file(path)?,
        guarantee,
    });
    let info = match opts.labels {
        DistillLabels::Hard => vg_training::train(&examples, &eval, &gpt, &cfg, out, resume, progress)?,
        DistillLabels::Soft { .. } => vg_training::distill(&examples, &eval, &gpt, &cfg, teacher_model.model(), out, resume, progress)?,
    };
    Ok(info)
}
