//! canaries.json round trip, atomic replacement, and clear errors for broken files.

use vg_canaries::{CanaryError, CanaryOptions, CanarySet};

fn small_set() -> CanarySet {
    let opts = CanaryOptions { count: 20, references_per_family: 4, repetitions: 2, insecure_seed: Some(11), ..Default::default() };
    CanarySet::generate(&opts, None).unwrap()
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canaries.json");
    let set = small_set();
    set.save(&path).unwrap();
    let back = CanarySet::load(&path).unwrap();
    assert_eq!(back, set);
    // No temporary file is left behind; saving again replaces the file.
    set.save(&path).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("canaries.json")]);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(json["format"], "vg-audit/canaries");
    assert_eq!(json["randomness"]["source"], "insecure_seed");
    assert_eq!(json["randomness"]["seed"], 11);
    assert_eq!(json["canaries"][0]["kind"], "canary");
    assert_eq!(json["canaries"][20]["kind"], "reference_canary");
    assert_eq!(json["families"][0]["secret"]["type"], "digits");
}

#[test]
fn parse_error_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canaries.json");
    std::fs::write(&path, "{\n  \"format\": \"vg-audit/canaries\",\n  oops\n}").unwrap();
    let err = CanarySet::load(&path).unwrap_err();
    assert!(matches!(err, CanaryError::Parse { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("canaries.json: line 3"), "{err}");
}

#[test]
fn missing_file_is_an_io_error_with_path() {
    let err = CanarySet::load(std::path::Path::new("/nonexistent/canaries.json")).unwrap_err();
    assert!(matches!(err, CanaryError::Io { .. }));
    assert!(err.to_string().starts_with("/nonexistent/canaries.json"));
}

#[test]
fn broken_invariants_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canaries.json");
    let cases: Vec<(Box<dyn Fn(&mut CanarySet)>, &str)> = vec![
        // Canaries 0 and 6 share a family (round-robin over 6 families).
        (Box::new(|s| s.canaries[6].secret = s.canaries[0].secret.clone()), "used twice"),
        (Box::new(|s| s.canaries[1].id = 0), "id used twice"),
        (Box::new(|s| s.canaries[0].secret = "12".into()), "not in the family's space"),
        (Box::new(|s| { let last = s.canaries.len() - 1; s.canaries[last].included = true; }), "reference canary"),
        (Box::new(|s| s.canaries[0].family = "nope".into()), "unknown family"),
        (Box::new(|s| s.canaries[0].repetitions = 5), "repetitions 5"),
        (Box::new(|s| s.version = 99), "version 99"),
    ];
    for (breaker, expected) in cases {
        let mut set = small_set();
        breaker(&mut set);
        set.save(&path).unwrap();
        let err = CanarySet::load(&path).unwrap_err();
        assert!(matches!(err, CanaryError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains(expected), "{err} should mention {expected:?}");
    }
}
