//! Extraction: can someone get training data back out of the model? Three tests, as in the
//! VaultGemma-style reports and the extraction literature:
//!
//! 1. [`memorization`] — discoverable memorization (Carlini et al. 2022): P-token prefix of a
//!    training record → greedy S-token continuation, exact and ≤ 10 % edit-distance matches, with
//!    Clopper–Pearson intervals; the same on population records is the floor. [`canaries`]
//!    prompts each canary's template up to its secret (greedy + top-k samples), included and not
//!    included side by side.
//! 2. [`verbatim`] — G sampled generations searched against the suffix array of the training token
//!    stream for every maximal span ≥ L tokens (records separated by a sentinel, so no span
//!    crosses a record boundary); the population stream is the floor.
//! 3. [`fragments`] — canary secrets and keyed hashes of kept PII looked up in every output.
//!
//! After launch, [`scan`] runs the same verbatim and fragment search as an output filter.
//!
//! Text shown in the report is redacted by default ([`redact`]). [`run_extraction`] runs all
//! three for one model and returns its [`MemorizationReport`].

pub mod canaries;
pub mod fragments;
pub mod memorization;
pub mod redact;
pub mod scan;
pub mod verbatim;

use serde::{Deserialize, Serialize};

pub use canaries::{CanaryExtraction, CanaryDecoding, CanaryProbe};
pub use fragments::{FragmentDictionary, FragmentReport, SecretEntry, TextSource};
pub use memorization::{MemorizationOptions, MemorizationRates, RateEstimate, RecordTokens};
pub use redact::Redactor;
pub use verbatim::{GenerationOptions, StreamRecord, StreamRecordKind, TokenStream, VerbatimStats};

use crate::model::Generator;
use crate::Result;

/// All parameters of the extraction tests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtractionOptions {
    /// Prefix → suffix test.
    pub memorization: MemorizationOptions,
    /// Canary prompts.
    pub canaries: CanaryDecoding,
    /// Sampled generations and the verbatim search.
    pub generation: GenerationOptions,
    /// Show extracted text verbatim instead of redacted.
    pub show_extracted: bool,
    /// Examples kept per list in the report (0 → 10).
    pub top_examples: usize,
}

/// What the tests run on.
pub struct ExtractionInputs<'a> {
    /// Training records (members).
    pub training: &'a [RecordTokens<'a>],
    /// Population records (never trained on).
    pub population: &'a [RecordTokens<'a>],
    /// Canaries to prompt (included and not included).
    pub canaries: &'a [CanaryProbe],
    /// Prompts for the sampled generations (BOS is prepended; empty = BOS alone).
    pub generation_prompts: &'a [Vec<u32>],
    /// Index of the training stream (members + included canaries).
    pub training_stream: &'a TokenStream,
    /// Index of the population stream (the floor).
    pub population_stream: &'a TokenStream,
    /// Canary secrets and kept-PII hashes.
    pub fragments: &'a FragmentDictionary,
    /// Token ids → text (the corpus tokenizer).
    pub decode: &'a (dyn Fn(&[u32]) -> String + Sync),
    /// The BOS token id.
    pub bos: u32,
}

/// A training record whose continuation matched (top examples).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemorizedExample {
    /// Record id.
    pub record_id: u64,
    /// Exact match (else approximate).
    pub exact: bool,
    /// Token edit distance.
    pub edit_distance: usize,
    /// Suffix length compared.
    pub suffix_tokens: usize,
    /// The model's continuation (redacted unless shown).
    pub continuation: String,
}

/// One verbatim span (top examples).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerbatimExample {
    /// Generation index.
    pub generation: usize,
    /// The span and its source record.
    pub span: verbatim::VerbatimSpan,
    /// The span's text (redacted unless shown).
    pub text: String,
}

/// Verbatim search results: training stream and population floor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerbatimReport {
    /// L.
    pub min_span_tokens: usize,
    /// Against the training stream.
    pub training: VerbatimStats,
    /// Against the population stream (non-members: the floor).
    pub population_floor: VerbatimStats,
    /// Longest spans against the training stream.
    pub examples: Vec<VerbatimExample>,
}

/// One fragment hit with its (redacted) context.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FragmentExample {
    /// The hit.
    pub hit: fragments::FragmentHit,
    /// Up to 40 characters on each side of it (redacted unless shown).
    pub context: String,
}

/// A confidence interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Confidence level.
    pub confidence: f64,
}

impl From<&RateEstimate> for Interval {
    fn from(r: &RateEstimate) -> Self {
        Interval { low: r.ci_low, high: r.ci_high, confidence: r.confidence }
    }
}

/// Canaries exactly recovered (by any try), included vs not included.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanaryRecovery {
    /// Included canaries recovered.
    pub included_recovered: u64,
    /// Included canaries probed.
    pub included: u64,
    /// Not-included canaries recovered (guessed).
    pub not_included_recovered: u64,
    /// Not-included canaries probed.
    pub not_included: u64,
}

/// The memorization object of one audited model in `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemorizationReport {
    /// The model's name.
    pub model: String,
    /// Exact-match rate on training records.
    pub exact_rate: f64,
    /// Its confidence interval.
    pub exact_rate_ci: Interval,
    /// Approximate-match rate on training records.
    pub approximate_rate: f64,
    /// Its confidence interval.
    pub approximate_rate_ci: Interval,
    /// Training records prompted.
    pub prompts: u64,
    /// Exact-match rate on population records (the floor).
    pub population_exact_rate: f64,
    /// Approximate-match rate on population records.
    pub population_approximate_rate: f64,
    /// Population records prompted.
    pub population_prompts: u64,
    /// Sampled generations searched.
    pub generations: u64,
    /// L: shortest verbatim span counted.
    pub verbatim_min_tokens: usize,
    /// P.
    pub prefix_tokens: usize,
    /// S.
    pub suffix_tokens: usize,
    /// Approximate match threshold as a fraction of S.
    pub max_edit_fraction: f64,
    /// Generations with a verbatim span ≥ L from the training stream.
    pub verbatim_generations: u64,
    /// Longest verbatim span from the training stream.
    pub longest_verbatim_tokens: u64,
    /// Generations with a span ≥ L from the population stream (the floor).
    pub population_verbatim_generations: u64,
    /// Hits of included canary secrets and kept training PII in all outputs.
    pub fragment_hits: u64,
    /// `fragment_hits` by type ("CANARY", "EMAIL", ...).
    pub fragment_hits_by_type: std::collections::BTreeMap<String, u64>,
    /// PII values in outputs that are not in the training text.
    pub pii_not_in_training: u64,
    /// Canaries exactly recovered, included vs not included.
    pub canary_recovery: CanaryRecovery,
    /// Training-record rates with intervals.
    pub training: MemorizationRates,
    /// Population rates (the floor).
    pub population: MemorizationRates,
    /// Memorized training records (top examples).
    pub memorized_examples: Vec<MemorizedExample>,
    /// Canary extraction.
    pub canaries: CanaryExtraction,
    /// Verbatim search.
    pub verbatim: VerbatimReport,
    /// Fragment search.
    pub fragments: FragmentReport,
    /// Fragment hits (top examples).
    pub fragment_examples: Vec<FragmentExample>,
    /// Whether text in this report is redacted (false when `--show-extracted` was given).
    pub redacted: bool,
    /// Caveats a reader needs (shortened prompts, missing PII dictionary, ...).
    pub notes: Vec<String>,
}

/// Bytes of output shown on each side of a fragment hit.
const CONTEXT_BYTES: usize = 40;

/// Runs the three extraction tests on one model. `progress(done, total)` counts prompts and
/// generations.
pub fn run_extraction(
    model: &str,
    generator: &dyn Generator,
    inputs: &ExtractionInputs,
    opts: &ExtractionOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<MemorizationReport> {
    opts.memorization.validate()?;
    opts.canaries.validate()?;
    opts.generation.validate()?;
    let top = if opts.top_examples == 0 { 10 } else { opts.top_examples };
    let m = &opts.memorization;
    let total = (m.prompts.min(inputs.training.len()) + m.prompts.min(inputs.population.len()) + inputs.canaries.len()
        + opts.generation.generations) as u64;
    let mut done = 0u64;
    let mut tick = |n: u64| {
        done += n;
        progress(done.min(total), total);
    };
    let redactor = Redactor::new(inputs.fragments.secrets(), opts.show_extracted);
    let decode = inputs.decode;

    let (training, train_outcomes) =
        memorization::discoverable_memorization(generator, inputs.training, inputs.bos, m, &mut tick)?;
    let (population, pop_outcomes) =
        memorization::discoverable_memorization(generator, inputs.population, inputs.bos, m, &mut tick)?;
    let (mut canary_result, canary_texts) =
        canaries::extract_canaries(generator, inputs.canaries, inputs.bos, decode, &opts.canaries, &mut tick)?;
    for c in &mut canary_result.canaries {
        c.best_continuation = redactor.redact(&c.best_continuation);
    }
    let generations = verbatim::sample_generations(generator, inputs.generation_prompts, inputs.bos, &opts.generation, &mut tick)?;

    let l = opts.generation.min_span_tokens;
    let (train_stats, train_spans) = verbatim::search_generations(inputs.training_stream, &generations, l);
    let (floor_stats, _) = verbatim::search_generations(inputs.population_stream, &generations, l);
    let mut examples: Vec<VerbatimExample> = train_spans
        .iter()
        .enumerate()
        .flat_map(|(g, spans)| spans.iter().map(move |s| (g, s)))
        .map(|(g, s)| VerbatimExample {
            generation: g,
            span: s.clone(),
            text: redactor.redact(&decode(&generations[g][s.start..s.start + s.len])),
        })
        .collect();
    examples.sort_by(|a, b| b.span.len.cmp(&a.span.len).then(a.generation.cmp(&b.generation)));
    examples.truncate(top);

    // Fragment search over every output.
    let mut texts: Vec<(TextSource, String)> = Vec::new();
    for (test, outcomes) in [("memorization", &train_outcomes), ("population", &pop_outcomes)] {
        texts.extend(outcomes.iter().map(|o| (TextSource { test: test.into(), id: o.id }, decode(&o.continuation))));
    }
    texts.extend(canary_texts.into_iter().map(|(id, t)| (TextSource { test: "canary".into(), id }, t)));
    texts.extend(generations.iter().enumerate().map(|(i, g)| (TextSource { test: "generation".into(), id: i as u64 }, decode(g))));
    let (fragments, hits) = inputs.fragments.search(texts.iter().map(|(s, t)| (s.clone(), t.as_str())));
    let text_of = |source: &TextSource| texts.iter().find(|(s, _)| s == source).map(|(_, t)| t.as_str()).unwrap_or("");
    let mut ranked: Vec<&fragments::FragmentHit> = hits.iter().collect();
    ranked.sort_by_key(|h| !h.in_training);
    let fragment_examples = ranked
        .into_iter()
        .take(top)
        .map(|h| FragmentExample { hit: h.clone(), context: redactor.redact_around(text_of(&h.source), h.start, h.end, CONTEXT_BYTES, h.kind.parse().ok()) })
        .collect();

    let mut memorized: Vec<&memorization::ProbeOutcome> = train_outcomes.iter().filter(|o| o.approximate).collect();
    memorized.sort_by_key(|o| (!o.exact, o.edit_distance, o.id));
    let memorized_examples = memorized
        .into_iter()
        .take(top)
        .map(|o| MemorizedExample {
            record_id: o.id,
            exact: o.exact,
            edit_distance: o.edit_distance,
            suffix_tokens: o.suffix_tokens,
            continuation: redactor.redact(&decode(&o.continuation)),
        })
        .collect();

    let mut notes = Vec::new();
    for (name, rates) in [("training", &training), ("population", &population)] {
        if rates.shortened_prompts > 0 {
            notes.push(format!(
                "{} of {} {name} prompts come from records shorter than P + S = {} tokens and use a proportionally shorter prefix and suffix (mean {:.1} + {:.1} tokens)",
                rates.shortened_prompts, rates.prompts, m.prefix_tokens + m.suffix_tokens, rates.mean_prefix_tokens, rates.mean_suffix_tokens
            ));
        }
        if rates.records_too_short > 0 {
            notes.push(format!("{} {name} records shorter than {} tokens were not prompted", rates.records_too_short, m.min_record_tokens));
        }
    }
    if !fragments.pii_dictionary {
        notes.push("no kept-PII hash set was given: PII in outputs is counted but cannot be attributed to the training text".into());
    }
    notes.push(if opts.show_extracted {
        "extracted text is shown verbatim (--show-extracted): this report contains training data".into()
    } else {
        "extracted text is redacted: PII replaced by placeholders, canary secrets masked after their first characters".into()
    });
    progress(total, total);
    Ok(MemorizationReport {
        model: model.to_string(),
        exact_rate: training.exact.rate,
        exact_rate_ci: Interval::from(&training.exact),
        approximate_rate: training.approximate.rate,
        approximate_rate_ci: Interval::from(&training.approximate),
        prompts: training.prompts,
        population_exact_rate: population.exact.rate,
        population_approximate_rate: population.approximate.rate,
        population_prompts: population.prompts,
        generations: train_stats.generations,
        verbatim_min_tokens: l,
        prefix_tokens: m.prefix_tokens,
        suffix_tokens: m.suffix_tokens,
        max_edit_fraction: m.max_edit_fraction,
        verbatim_generations: train_stats.generations_with_hit,
        longest_verbatim_tokens: train_stats.longest_span_tokens,
        population_verbatim_generations: floor_stats.generations_with_hit,
        fragment_hits: fragments.training_hits(),
        fragment_hits_by_type: fragments.by_type.iter().map(|(k, c)| (k.clone(), c.in_training)).collect(),
        pii_not_in_training: fragments.pii_not_in_training,
        canary_recovery: CanaryRecovery {
            included_recovered: canary_result.included.exact.count,
            included: canary_result.included.canaries,
            not_included_recovered: canary_result.not_included.exact.count,
            not_included: canary_result.not_included.canaries,
        },
        training,
        population,
        memorized_examples,
        canaries: canary_result,
        verbatim: VerbatimReport { min_span_tokens: l, training: train_stats, population_floor: floor_stats, examples },
        fragments,
        fragment_examples,
        redacted: !opts.show_extracted,
        notes,
    })
}
