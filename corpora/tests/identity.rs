//! A corpus is its content and its preparation settings: the same demo input prepared from two
//! different directories has one identity (while the manifests, which record paths, differ),
//! and a different seed or different input bytes give another.

use std::path::Path;

use vg_corpora::{demo, prepare, PrepareOptions, PreparedCorpus};

fn prepared(root: &Path, records: usize, seed: u64) -> PreparedCorpus {
    std::fs::create_dir_all(root).unwrap();
    let input = root.join("demo.jsonl");
    demo::write_jsonl(&input, records, 5).unwrap();
    let out = root.join("corpus");
    let opts = PrepareOptions { seed: Some(seed), vocab_size: 300, ..PrepareOptions::new(vec![input], out.clone()) };
    prepare(&opts, &mut |_, _, _| {}).unwrap();
    PreparedCorpus::open(&out).unwrap()
}

#[test]
fn identity_is_content_not_place() {
    let d = tempfile::tempdir().unwrap();
    let here = prepared(&d.path().join("a"), 300, 1);
    let there = prepared(&d.path().join("elsewhere/b"), 300, 1);
    assert_ne!(here.manifest_sha256(), there.manifest_sha256(), "the manifests record different paths");
    assert_eq!(here.identity_sha256(), there.identity_sha256(), "same bytes, same settings: same corpus");
    assert_eq!(here.identity_sha256().len(), 64);

    let reseeded = prepared(&d.path().join("c"), 300, 2);
    assert_ne!(here.identity_sha256(), reseeded.identity_sha256(), "another split seed is another corpus");
    let bigger = prepared(&d.path().join("d"), 320, 1);
    assert_ne!(here.identity_sha256(), bigger.identity_sha256(), "other input bytes are another corpus");
}
