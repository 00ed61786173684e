//! Generating a canary set: m inserted canaries (each included with probability ½, S_i = ±1,
//! repeated r times when included) and n never-inserted reference canaries per family.

use std::collections::{HashMap, HashSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::error::{CanaryError, Result};
use crate::secret::SecretSpace;
use crate::template::{default_families, TemplateFamily};

/// Version of the canaries.json layout written by this crate.
pub const FORMAT_VERSION: u32 = 1;
/// The `format` tag of canaries.json.
pub const FORMAT_NAME: &str = "vg-audit/canaries";
/// Probability that an inserted canary is included in training (the one-run audit of
/// Steinke, Nasr, Jagielski 2023 needs independent S_i uniform on ±1).
pub const INCLUSION_PROBABILITY: f64 = 0.5;
/// Most repetitions accepted for one canary.
pub const MAX_REPETITIONS: u32 = 10_000;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct CanaryOptions {
    /// m: inserted-candidate canaries, spread round-robin over the families (default 1000).
    pub count: usize,
    /// n: reference canaries per family, never inserted (default 1000): exposure ranks come
    /// from them, so the largest rank-based exposure is log₂(n+1).
    pub references_per_family: usize,
    /// r: copies of each included canary in the training data (default 1). A canary repeated
    /// r times is r privacy units: compare its audit with the group guarantee of r records.
    pub repetitions: u32,
    /// Template families (default [`default_families`]).
    pub families: Vec<TemplateFamily>,
    /// Seed for reproducible research runs. `None` (default) seeds ChaCha20 from the operating
    /// system; a fixed seed lets anyone who knows it regenerate the answer key.
    pub insecure_seed: Option<u64>,
}

impl Default for CanaryOptions {
    fn default() -> Self {
        CanaryOptions {
            count: 1000,
            references_per_family: 1000,
            repetitions: 1,
            families: default_families(),
            insecure_seed: None,
        }
    }
}

impl CanaryOptions {
    /// Refuses impossible parameters before any work: zero counts, r out of range, bad or
    /// duplicate families, more canaries than `pool_size` (the corpus candidate pool, when
    /// known), and secret spaces too small for the distinct secrets needed.
    pub fn validate(&self, pool_size: Option<usize>) -> Result<()> {
        let invalid = |name, value: String, reason: &str| CanaryError::InvalidOption { name, value, reason: reason.into() };
        if self.count == 0 {
            return Err(invalid("count", "0".into(), "need at least 1 canary (leave canaries out of the run instead)"));
        }
        if self.references_per_family == 0 {
            return Err(invalid("references_per_family", "0".into(), "need at least 1 reference canary per family for exposure"));
        }
        if self.repetitions == 0 || self.repetitions > MAX_REPETITIONS {
            return Err(invalid("repetitions", self.repetitions.to_string(), &format!("must be in 1..={MAX_REPETITIONS}")));
        }
        if self.families.is_empty() {
            return Err(invalid("families", "[]".into(), "need at least one template family"));
        }
        let mut names = HashSet::new();
        for family in &self.families {
            family.validate()?;
            if !names.insert(family.name.as_str()) {
                return Err(CanaryError::InvalidFamily { family: family.name.clone(), reason: "name used twice".into() });
            }
        }
        if let Some(pool) = pool_size {
            if self.count > pool {
                return Err(CanaryError::TooManyCanaries { count: self.count, pool });
            }
        }
        // Families sharing one space draw from it together: distinct secrets across the whole set.
        let mut demand: Vec<(&SecretSpace, Vec<&str>, u64)> = Vec::new();
        for (index, family) in self.families.iter().enumerate() {
            let needed = (self.inserted_in_family(index) + self.references_per_family) as u64;
            match demand.iter_mut().find(|(space, _, _)| **space == family.secret) {
                Some((_, names, total)) => {
                    names.push(&family.name);
                    *total += needed;
                }
                None => demand.push((&family.secret, vec![&family.name], needed)),
            }
        }
        for (space, names, needed) in demand {
            if let Some(size) = space.size() {
                // At most half the space: rejection sampling of distinct secrets stays fast.
                let limit = size / 2;
                if needed as u128 > limit {
                    return Err(CanaryError::SecretSpaceTooSmall {
                        families: names.join(", "),
                        space: space.describe(),
                        size,
                        needed,
                        limit,
                    });
                }
            }
        }
        Ok(())
    }

    /// Inserted canaries assigned to family `index` (round-robin: canary i → family i mod F).
    fn inserted_in_family(&self, index: usize) -> usize {
        let f = self.families.len();
        self.count / f + usize::from(index < self.count % f)
    }
}

/// Whether a canary is a candidate for insertion or a never-inserted reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CanaryKind {
    /// Inserted with probability ½ (S_i recorded in `included`); table kind "canary".
    #[serde(rename = "canary")]
    Inserted,
    /// Never inserted; only scored, for exposure ranks; table kind "reference_canary".
    #[serde(rename = "reference_canary")]
    Reference,
}

impl CanaryKind {
    /// The `kind` value used in score tables ("canary" / "reference_canary").
    pub fn as_str(self) -> &'static str {
        match self {
            CanaryKind::Inserted => "canary",
            CanaryKind::Reference => "reference_canary",
        }
    }
}

/// One canary: a family's template filled with a secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Canary {
    /// Id in the canary namespace, unique within the set (inserted 0..m, then references).
    pub id: u64,
    /// Inserted candidate or reference.
    pub kind: CanaryKind,
    /// Name of its template family.
    pub family: String,
    /// The family's template (kept per canary so each row is self-contained).
    pub template: String,
    /// The secret filling the slot.
    pub secret: String,
    /// log₂|R| of the family's secret space.
    pub secret_space_log2: f64,
    /// S_i = +1: in the training data. Always false for references.
    pub included: bool,
    /// Copies inserted when included (the set's r); 0 for references.
    pub repetitions: u32,
}

impl Canary {
    /// The template up to the secret (the extraction prompt).
    pub fn prefix(&self) -> &str {
        let at = self.template.find(crate::template::SECRET_SLOT).unwrap_or(self.template.len());
        &self.template[..at]
    }

    /// The template after the secret.
    pub fn suffix(&self) -> &str {
        match self.template.find(crate::template::SECRET_SLOT) {
            Some(at) => &self.template[at + crate::template::SECRET_SLOT.len()..],
            None => "",
        }
    }

    /// The full canary sentence: prefix + secret + suffix.
    pub fn text(&self) -> String {
        self.template.replacen(crate::template::SECRET_SLOT, &self.secret, 1)
    }

    /// S_i as ±1: +1 when included in training, −1 otherwise.
    pub fn inclusion_sign(&self) -> i8 {
        if self.included {
            1
        } else {
            -1
        }
    }

    /// How many copies of this canary are in the training data (r if included, else 0).
    pub fn training_copies(&self) -> u32 {
        if self.included {
            self.repetitions
        } else {
            0
        }
    }
}

/// Where the generator's randomness came from (recorded in canaries.json).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Randomness {
    /// ChaCha20 seeded from the operating system; the seed is not kept.
    Os,
    /// ChaCha20 from a fixed, recorded seed (tests and reproducible research only).
    InsecureSeed {
        /// The seed.
        seed: u64,
    },
}

/// One training example made from an included canary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainingCanary {
    /// Id of the canary.
    pub canary_id: u64,
    /// Which copy (0..r).
    pub copy: u32,
    /// The text to insert as an ordinary training example.
    pub text: String,
}

/// The answer key: every canary, its secret, S_i and repetitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanarySet {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Layout version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// Source of randomness.
    pub randomness: Randomness,
    /// P[S_i = +1] (½).
    pub inclusion_probability: f64,
    /// r.
    pub repetitions: u32,
    /// References per family (n).
    pub references_per_family: usize,
    /// The template families.
    pub families: Vec<TemplateFamily>,
    /// Inserted canaries (ids 0..m) followed by the reference canaries.
    pub canaries: Vec<Canary>,
}

impl CanarySet {
    /// Generates a set after [`CanaryOptions::validate`] (with the corpus pool size when known).
    pub fn generate(options: &CanaryOptions, pool_size: Option<usize>) -> Result<CanarySet> {
        options.validate(pool_size)?;
        let (mut rng, randomness) = match options.insecure_seed {
            Some(seed) => (ChaCha20Rng::seed_from_u64(seed), Randomness::InsecureSeed { seed }),
            None => (
                ChaCha20Rng::try_from_os_rng().map_err(|e| CanaryError::Entropy(e.to_string()))?,
                Randomness::Os,
            ),
        };
        let families = &options.families;
        let total = options.count + families.len() * options.references_per_family;
        let mut used: HashSet<String> = HashSet::with_capacity(total);
        let mut canaries = Vec::with_capacity(total);
        let mut draw = |family: &TemplateFamily, rng: &mut ChaCha20Rng| loop {
            let secret = family.secret.sample(rng);
            if used.insert(secret.clone()) {
                return secret;
            }
        };
        for i in 0..options.count {
            let family = &families[i % families.len()];
            let secret = draw(family, &mut rng);
            let included = rng.random_bool(INCLUSION_PROBABILITY);
            canaries.push(make_canary(i as u64, CanaryKind::Inserted, family, secret, included, options.repetitions));
        }
        for family in families {
            for _ in 0..options.references_per_family {
                let secret = draw(family, &mut rng);
                let id = canaries.len() as u64;
                canaries.push(make_canary(id, CanaryKind::Reference, family, secret, false, 0));
            }
        }
        Ok(CanarySet {
            format: FORMAT_NAME.to_string(),
            version: FORMAT_VERSION,
            randomness,
            inclusion_probability: INCLUSION_PROBABILITY,
            repetitions: options.repetitions,
            references_per_family: options.references_per_family,
            families: families.clone(),
            canaries,
        })
    }

    /// The inserted-candidate canaries (included or not), in id order.
    pub fn inserted(&self) -> impl Iterator<Item = &Canary> {
        self.canaries.iter().filter(|c| c.kind == CanaryKind::Inserted)
    }

    /// The reference canaries, in id order.
    pub fn references(&self) -> impl Iterator<Item = &Canary> {
        self.canaries.iter().filter(|c| c.kind == CanaryKind::Reference)
    }

    /// The canaries that are in the training data (S_i = +1).
    pub fn included(&self) -> impl Iterator<Item = &Canary> {
        self.canaries.iter().filter(|c| c.included)
    }

    /// The canary with this id.
    pub fn get(&self, id: u64) -> Option<&Canary> {
        // Ids are positions for generated sets; fall back to a scan for hand-edited files.
        match self.canaries.get(id as usize) {
            Some(c) if c.id == id => Some(c),
            _ => self.canaries.iter().find(|c| c.id == id),
        }
    }

    /// The family with this name.
    pub fn family(&self, name: &str) -> Option<&TemplateFamily> {
        self.families.iter().find(|f| f.name == name)
    }

    /// Whether the set came from a fixed seed (then the report must say it is reproducible by
    /// anyone who knows the seed).
    pub fn has_insecure_seed(&self) -> bool {
        matches!(self.randomness, Randomness::InsecureSeed { .. })
    }

    /// The texts to insert into the training split: every included canary, r times each.
    pub fn training_examples(&self) -> Vec<TrainingCanary> {
        self.included()
            .flat_map(|c| {
                let text = c.text();
                (0..c.repetitions).map(move |copy| TrainingCanary { canary_id: c.id, copy, text: text.clone() })
            })
            .collect()
    }

    /// Checks every invariant of an answer key; the message names the canary and values.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.format != FORMAT_NAME {
            return Err(format!("format is {:?}, expected {FORMAT_NAME:?}", self.format));
        }
        if self.version != FORMAT_VERSION {
            return Err(format!("version {} is not supported (this build reads version {FORMAT_VERSION})", self.version));
        }
        if self.inclusion_probability != INCLUSION_PROBABILITY {
            return Err(format!("inclusion_probability is {}, expected {INCLUSION_PROBABILITY}", self.inclusion_probability));
        }
        if self.repetitions == 0 || self.repetitions > MAX_REPETITIONS {
            return Err(format!("repetitions {} must be in 1..={MAX_REPETITIONS}", self.repetitions));
        }
        let mut families: HashMap<&str, &TemplateFamily> = HashMap::new();
        for f in &self.families {
            f.validate().map_err(|e| e.to_string())?;
            if families.insert(f.name.as_str(), f).is_some() {
                return Err(format!("family {:?} listed twice", f.name));
            }
        }
        let mut ids = HashSet::new();
        let mut secrets = HashSet::new();
        for c in &self.canaries {
            let at = format!("canary {}", c.id);
            if !ids.insert(c.id) {
                return Err(format!("{at}: id used twice"));
            }
            let family = families.get(c.family.as_str()).ok_or_else(|| format!("{at}: unknown family {:?}", c.family))?;
            if c.template != family.template {
                return Err(format!("{at}: template {:?} differs from family {:?}'s {:?}", c.template, c.family, family.template));
            }
            if !family.secret.contains(&c.secret) {
                return Err(format!("{at}: secret {:?} is not in the family's space ({})", c.secret, family.secret.describe()));
            }
            if (c.secret_space_log2 - family.secret.log2_size()).abs() > 1e-9 {
                return Err(format!("{at}: secret_space_log2 {} but the family's space has {}", c.secret_space_log2, family.secret.log2_size()));
            }
            if !secrets.insert(c.secret.as_str()) {
                return Err(format!("{at}: secret {:?} used twice", c.secret));
            }
            match c.kind {
                CanaryKind::Reference if c.included || c.repetitions != 0 => {
                    return Err(format!("{at}: a reference canary must have included = false and repetitions = 0"));
                }
                CanaryKind::Inserted if c.repetitions != self.repetitions => {
                    return Err(format!("{at}: repetitions {} differ from the set's {}", c.repetitions, self.repetitions));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn make_canary(id: u64, kind: CanaryKind, family: &TemplateFamily, secret: String, included: bool, repetitions: u32) -> Canary {
    Canary {
        id,
        kind,
        family: family.name.clone(),
        template: family.template.clone(),
        secret,
        secret_space_log2: family.secret.log2_size(),
        included,
        repetitions,
    }
}
