//! Generation: counts, family assignment, distinct secrets, inclusion rate, repetition,
//! reproducibility with the insecure seed, and refusal of impossible requests.

use std::collections::HashSet;

use vg_canaries::{
    default_families, CanaryError, CanaryKind, CanaryOptions, CanarySet, Domain, SecretSpace, TemplateFamily,
};

fn options(count: usize, refs: usize, seed: u64) -> CanaryOptions {
    CanaryOptions { count, references_per_family: refs, insecure_seed: Some(seed), ..Default::default() }
}

#[test]
fn counts_ids_and_families() {
    let set = CanarySet::generate(&options(100, 7, 1), None).unwrap();
    let f = default_families().len();
    assert_eq!(set.canaries.len(), 100 + 7 * f);
    assert_eq!(set.inserted().count(), 100);
    assert_eq!(set.references().count(), 7 * f);
    // Ids are 0..len in order, inserted first.
    for (i, c) in set.canaries.iter().enumerate() {
        assert_eq!(c.id, i as u64);
        assert_eq!(c.kind, if i < 100 { CanaryKind::Inserted } else { CanaryKind::Reference });
        assert_eq!(set.get(c.id).unwrap().id, c.id);
    }
    // Round-robin: 100 over 6 families gives 17,17,17,17,16,16.
    for (index, family) in set.families.iter().enumerate() {
        let n = set.inserted().filter(|c| c.family == family.name).count();
        assert_eq!(n, if index < 4 { 17 } else { 16 }, "family {}", family.name);
        assert_eq!(set.references().filter(|c| c.family == family.name).count(), 7);
    }
    assert!(set.references().all(|c| !c.included && c.repetitions == 0));
    assert!(set.has_insecure_seed());
    set.check().unwrap();
}

#[test]
fn secrets_are_distinct_in_their_space_and_text_is_prefix_secret_suffix() {
    let set = CanarySet::generate(&options(600, 200, 2), None).unwrap();
    let mut seen = HashSet::new();
    for c in &set.canaries {
        assert!(seen.insert(c.secret.clone()), "duplicate secret {}", c.secret);
        let family = set.family(&c.family).unwrap();
        assert!(family.secret.contains(&c.secret), "{} not in {:?}", c.secret, family.secret);
        assert_eq!(c.secret_space_log2, family.secret.log2_size());
        let text = c.text();
        assert_eq!(text, format!("{}{}{}", c.prefix(), c.secret, family.suffix()));
        assert_eq!((c.prefix(), c.suffix()), (family.prefix(), family.suffix()));
        assert!(!text.contains("{secret}"));
    }
}

#[test]
fn secret_space_sizes() {
    // log2 10^6 = 6 * 3.3219280948873622 = 19.931568569324174
    assert!((SecretSpace::Digits { length: 6 }.log2_size() - 19.931568569324174).abs() < 1e-12);
    assert_eq!(SecretSpace::Digits { length: 6 }.size(), Some(1_000_000));
    // 4 words of 256: 2^32, log2 = 32 exactly.
    assert_eq!(SecretSpace::Words { count: 4 }.log2_size(), 32.0);
    assert_eq!(SecretSpace::Words { count: 4 }.size(), Some(1u128 << 32));
    let account = SecretSpace::Account { groups: vec![3, 3, 4], separator: "-".into() };
    assert_eq!(account.size(), Some(10_000_000_000));
    assert!(account.contains("123-456-7890"));
    assert!(!account.contains("123-456-789"));
    assert!(!account.contains("123 456 7890"));
    assert!(SecretSpace::Words { count: 2 }.contains("apple spoon"));
    assert!(!SecretSpace::Words { count: 2 }.contains("apple zzz"));
}

#[test]
fn word_list_has_256_distinct_words() {
    let words: HashSet<&str> = vg_canaries::words::WORDS.iter().copied().collect();
    assert_eq!(words.len(), 256);
    assert!(words.iter().all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase())));
}

#[test]
fn digits_are_uniform_enough() {
    // 6000 digits (1000 six-digit secrets): each digit expected 600, sd ≈ 23; allow ±5 sd.
    let space = SecretSpace::Digits { length: 6 };
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(3);
    let mut counts = [0usize; 10];
    for _ in 0..1000 {
        for b in space.sample(&mut rng).bytes() {
            counts[(b - b'0') as usize] += 1;
        }
    }
    for (digit, n) in counts.iter().enumerate() {
        assert!((485..=715).contains(n), "digit {digit} drawn {n} times");
    }
}

#[test]
fn inclusion_is_about_half() {
    // m = 2000, P = 1/2: sd = sqrt(2000)/2 ≈ 22.4; allow ±5 sd around 1000.
    let set = CanarySet::generate(&options(2000, 1, 4), None).unwrap();
    let included = set.included().count();
    assert!((888..=1112).contains(&included), "{included} included of 2000");
    assert!(set.inserted().any(|c| c.included) && set.inserted().any(|c| !c.included));
    for c in set.inserted() {
        assert_eq!(c.inclusion_sign(), if c.included { 1 } else { -1 });
    }
}

#[test]
fn training_examples_repeat_included_canaries() {
    let mut opts = options(50, 3, 5);
    opts.repetitions = 3;
    let set = CanarySet::generate(&opts, None).unwrap();
    let examples = set.training_examples();
    assert_eq!(examples.len(), 3 * set.included().count());
    for c in set.canaries.iter() {
        let copies: Vec<_> = examples.iter().filter(|e| e.canary_id == c.id).collect();
        assert_eq!(copies.len() as u32, c.training_copies());
        assert!(copies.iter().all(|e| e.text == c.text()));
        if c.included {
            assert_eq!(copies.iter().map(|e| e.copy).collect::<Vec<_>>(), vec![0, 1, 2]);
        }
    }
}

#[test]
fn same_seed_same_set_other_seed_other_set() {
    let a = CanarySet::generate(&options(40, 5, 9), None).unwrap();
    let b = CanarySet::generate(&options(40, 5, 9), None).unwrap();
    let c = CanarySet::generate(&options(40, 5, 10), None).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.canaries, c.canaries);
}

#[test]
fn os_randomness_differs_between_runs() {
    let opts = CanaryOptions { count: 30, references_per_family: 2, ..Default::default() };
    let a = CanarySet::generate(&opts, None).unwrap();
    let b = CanarySet::generate(&opts, None).unwrap();
    assert!(!a.has_insecure_seed());
    assert_ne!(a.canaries, b.canaries);
}

#[test]
fn refuses_more_canaries_than_the_pool() {
    let err = CanarySet::generate(&options(1000, 10, 1), Some(999)).unwrap_err();
    assert!(matches!(err, CanaryError::TooManyCanaries { count: 1000, pool: 999 }), "{err}");
    assert!(err.to_string().contains("999"));
    assert!(CanarySet::generate(&options(999, 10, 1), Some(999)).is_ok());
}

#[test]
fn refuses_secret_space_too_small() {
    // 3 digits: |R| = 1000, at most 500 may be used; 300 canaries + 300 references = 600.
    let family = TemplateFamily::new("pin3", Domain::Financial, "PIN {secret}.", SecretSpace::Digits { length: 3 }).unwrap();
    let opts = CanaryOptions { count: 300, references_per_family: 300, families: vec![family.clone()], insecure_seed: Some(1), ..Default::default() };
    let err = CanarySet::generate(&opts, None).unwrap_err();
    match &err {
        CanaryError::SecretSpaceTooSmall { size, needed, limit, .. } => {
            assert_eq!((*size, *needed, *limit), (1000, 600, 500));
        }
        other => panic!("unexpected {other}"),
    }
    // Two families sharing the space add up: 2 × (100 + 200) = 600 > 500.
    let mut twin = family.clone();
    twin.name = "pin3b".into();
    let opts = CanaryOptions { count: 200, references_per_family: 200, families: vec![family.clone(), twin], insecure_seed: Some(1), ..Default::default() };
    assert!(matches!(CanarySet::generate(&opts, None), Err(CanaryError::SecretSpaceTooSmall { needed: 600, .. })));
    // Exactly half is allowed and every secret is distinct.
    let opts = CanaryOptions { count: 250, references_per_family: 250, families: vec![family], insecure_seed: Some(1), ..Default::default() };
    let set = CanarySet::generate(&opts, None).unwrap();
    assert_eq!(set.canaries.iter().map(|c| &c.secret).collect::<HashSet<_>>().len(), 500);
}

#[test]
fn refuses_bad_options_and_families() {
    let bad = [
        CanaryOptions { count: 0, ..Default::default() },
        CanaryOptions { references_per_family: 0, ..Default::default() },
        CanaryOptions { repetitions: 0, ..Default::default() },
        CanaryOptions { families: vec![], ..Default::default() },
    ];
    for opts in bad {
        assert!(matches!(opts.validate(None), Err(CanaryError::InvalidOption { .. })), "{opts:?}");
    }
    let no_slot = TemplateFamily::new("x", Domain::Clinical, "no slot here", SecretSpace::Digits { length: 5 });
    assert!(matches!(no_slot, Err(CanaryError::InvalidFamily { .. })));
    let two_slots = TemplateFamily::new("x", Domain::Clinical, "a {secret} b {secret}", SecretSpace::Digits { length: 5 });
    assert!(two_slots.is_err());
    let no_prefix = TemplateFamily::new("x", Domain::Clinical, "{secret} is it", SecretSpace::Digits { length: 5 });
    assert!(no_prefix.is_err());
    let zero_digits = TemplateFamily::new("x", Domain::Clinical, "code {secret}", SecretSpace::Digits { length: 0 });
    assert!(zero_digits.unwrap_err().to_string().contains("digit secret length 0"));
    let mut dup = default_families();
    dup.push(dup[0].clone());
    let err = CanaryOptions { families: dup, ..Default::default() }.validate(None).unwrap_err();
    assert!(err.to_string().contains("used twice"), "{err}");
}

#[test]
fn default_families_cover_the_three_domains() {
    let families = default_families();
    for domain in [Domain::CustomerService, Domain::Clinical, Domain::Financial] {
        assert!(families.iter().filter(|f| f.domain == domain).count() >= 2);
    }
    for f in &families {
        f.validate().unwrap();
        // Exposure needs |R| far above the reference count: at least 2^19.
        assert!(f.secret.log2_size() > 19.0, "{}", f.name);
    }
    let kinds: HashSet<_> = families.iter().map(|f| std::mem::discriminant(&f.secret)).collect();
    assert_eq!(kinds.len(), 3);
}
