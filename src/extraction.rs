//! The extraction tests' corpus side, built once per corpus and shared by every model:
//! the member and population token streams (suffix-array index files in the corpus
//! directory), the canary probes and the fragment dictionary (canary secrets plus keyed hashes
//! of kept PII). Used by `vg-audit extract` and by the `run` pipeline.

use std::path::Path;

use anyhow::{bail, Context};
use vg_attacks::extraction::{
    run_extraction, CanaryProbe, ExtractionInputs, ExtractionOptions, FragmentDictionary, MemorizationReport,
    RecordTokens, SecretEntry, StreamRecord, StreamRecordKind, TokenStream,
};
use vg_attacks::model::Generator;
use vg_canaries::{CanaryKind, CanarySet};
use vg_corpora::pii::{default_key_path, write_hash_set, PiiHasher};
use vg_corpora::suffix_array::IndexStatus;
use vg_corpora::tokens::BOS;
use vg_corpora::PreparedCorpus;

/// Everything the extraction tests need from a corpus, built once and shared by every model.
pub struct ExtractionSetup {
    members: Vec<(u64, Vec<u32>)>,
    population: Vec<(u64, Vec<u32>)>,
    canaries: Vec<CanaryProbe>,
    training_stream: TokenStream,
    population_stream: TokenStream,
    fragments: FragmentDictionary,
    decode: Box<dyn Fn(&[u32]) -> String + Sync>,
    /// What happened to the saved indexes and the PII dictionary (for the user and the log).
    pub notes: Vec<String>,
}

impl ExtractionSetup {
    /// Loads the streams (index files in the corpus directory, rebuilt when the corpus or the
    /// canaries changed), the canary probes and the fragment dictionary.
    pub fn new(corpus: &PreparedCorpus, canaries: Option<&CanarySet>, pii_key: Option<&Path>) -> anyhow::Result<Self> {
        let tokenizer = corpus.tokenizer().context("loading the corpus tokenizer")?;
        let encode = |text: &str| -> anyhow::Result<Vec<u32>> {
            Ok(tokenizer.encode(text, false).map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?.get_ids().to_vec())
        };
        let members: Vec<(u64, Vec<u32>)> = corpus.members().map(|e| (e.id, e.tokens.clone())).collect();
        let population: Vec<(u64, Vec<u32>)> = corpus.population().iter().map(|e| (e.id, e.tokens.clone())).collect();
        let mut probes = Vec::new();
        let mut canary_copies: Vec<(u64, Vec<u32>)> = Vec::new();
        let mut secrets = Vec::new();
        for c in canaries.map(|s| s.canaries.as_slice()).unwrap_or_default() {
            secrets.push(SecretEntry { canary_id: c.id, included: c.included, secret: c.secret.clone() });
            // Reference canaries are only looked up in outputs; the probes compare S_i = +1 with S_i = −1 candidates.
            if c.kind == CanaryKind::Reference {
                continue;
            }
            let prompt = encode(c.prefix())?;
            let full = encode(&c.text())?;
            if c.included {
                canary_copies.extend((0..c.repetitions.max(1)).map(|_| (c.id, full.clone())));
            }
            probes.push(CanaryProbe {
                id: c.id,
                included: c.included,
                repetitions: c.training_copies(),
                max_new_tokens: full.len().saturating_sub(prompt.len()) + 4,
                prompt,
                secret: c.secret.clone(),
            });
        }
        let mut notes = Vec::new();
        let mut training: Vec<(StreamRecord, &[u32])> =
            members.iter().map(|(id, t)| (StreamRecord { kind: StreamRecordKind::Record, id: *id }, t.as_slice())).collect();
        training.extend(canary_copies.iter().map(|(id, t)| (StreamRecord { kind: StreamRecordKind::Canary, id: *id }, t.as_slice())));
        let pop: Vec<(StreamRecord, &[u32])> =
            population.iter().map(|(id, t)| (StreamRecord { kind: StreamRecordKind::Population, id: *id }, t.as_slice())).collect();
        let mut open = |name: &str, records: &[(StreamRecord, &[u32])]| -> anyhow::Result<TokenStream> {
            let path = corpus.dir().join(name);
            let (stream, status) = TokenStream::open_or_build(&path, records)?;
            notes.push(match status {
                IndexStatus::Reused => format!("{}: reused", path.display()),
                IndexStatus::Built => format!("{}: built", path.display()),
                IndexStatus::Rebuilt { reason } => format!("{}: rebuilt ({reason})", path.display()),
            });
            Ok(stream)
        };
        let training_stream = open("index-training.vgsa", &training)?;
        let population_stream = open("index-population.vgsa", &pop)?;
        let fragments = Self::dictionary(corpus, secrets, pii_key, &mut notes)?;
        let decode: Box<dyn Fn(&[u32]) -> String + Sync> = Box::new(move |ids: &[u32]| tokenizer.decode(ids, true).unwrap_or_default());
        Ok(ExtractionSetup { members, population, canaries: probes, training_stream, population_stream, fragments, decode, notes })
    }

    /// The canary secrets plus, when the corpus kept PII and the key matches, its keyed hashes.
    fn dictionary(corpus: &PreparedCorpus, secrets: Vec<SecretEntry>, pii_key: Option<&Path>, notes: &mut Vec<String>) -> anyhow::Result<FragmentDictionary> {
        let pii = &corpus.manifest().pii;
        let Some(file) = &pii.kept_hash_file else {
            // Nothing kept: every PII value in an output is, by construction, not from the training text.
            notes.push("the corpus kept no PII values (de-identification replaced them): PII in outputs is not training data".into());
            let any_key = PiiHasher::from_key(b"no PII was kept in this corpus")?;
            return Ok(FragmentDictionary::new(secrets, Some((write_hash_set(Vec::new()), any_key)))?);
        };
        let key_path = match pii_key.map(Path::to_path_buf).or_else(default_key_path) {
            Some(p) => p,
            None => bail!("the corpus kept PII ({file}) but no key file was given (--pii-key) and there is no user data directory"),
        };
        let hasher = PiiHasher::from_key_file(&key_path).with_context(|| format!("reading the PII key {}", key_path.display()))?;
        if let Some(expected) = &pii.key_fingerprint {
            if &hasher.fingerprint() != expected {
                bail!(
                    "the PII key {} (fingerprint {}) is not the key the corpus was prepared with (fingerprint {expected}); pass the right one with --pii-key",
                    key_path.display(),
                    hasher.fingerprint()
                );
            }
        }
        notes.push(format!("kept-PII hashes: {}", corpus.dir().join(file).display()));
        Ok(FragmentDictionary::with_pii_file(secrets, &corpus.dir().join(file), hasher)?)
    }

    /// Runs the three tests on one model.
    pub fn run(&self, name: &str, generator: &dyn Generator, opts: &ExtractionOptions) -> anyhow::Result<MemorizationReport> {
        let training: Vec<RecordTokens> = self.members.iter().map(|(id, t)| RecordTokens { id: *id, tokens: t }).collect();
        let population: Vec<RecordTokens> = self.population.iter().map(|(id, t)| RecordTokens { id: *id, tokens: t }).collect();
        let k = opts.generation.prompt_tokens;
        let prompts: Vec<Vec<u32>> =
            if k == 0 { Vec::new() } else { self.population.iter().filter(|(_, t)| t.len() > k).map(|(_, t)| t[..k].to_vec()).collect() };
        if k > 0 && prompts.is_empty() {
            bail!("--generation-prompt-tokens {k}: no population record is longer than {k} tokens");
        }
        let inputs = ExtractionInputs {
            training: &training,
            population: &population,
            canaries: &self.canaries,
            generation_prompts: &prompts,
            training_stream: &self.training_stream,
            population_stream: &self.population_stream,
            fragments: &self.fragments,
            decode: self.decode.as_ref(),
            bos: BOS,
        };
        let bar = crate::progress::bar(0, name, "prompts");
        let report = run_extraction(name, generator, &inputs, opts, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .with_context(|| format!("extraction tests on model {name}"))?;
        bar.finish_and_clear();
        Ok(report)
    }
}

