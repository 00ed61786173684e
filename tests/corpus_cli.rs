//! `vg-audit corpus` end to end: exit codes, `file:line: reason` messages, nothing written on error,
//! `--json` prints the manifest, and `corpus demo` writes the demo corpus.




use crate::common::{s, vg};



#[test]
fn bad_input_exits_2_names_file_and_line_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("bad.jsonl");
    std::fs::write(&input, "{\"text\": \"a fine first record here\"}\n{\"text\": broken\n").unwrap();
    let out = d.path().join("corpus");
    let o = vg(&["corpus", "prepare", "--input", s(&input), "--out", s(&out), "--seed", "1"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("{}:2: malformed JSON", input.display())), "{err}");
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1, "something was left beside the input");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(vg(&["corpus", "prepare", "--out", "/nonexistent/x"]).status.code(), Some(2));
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("a.txt");
    std::fs::write(&input, "some text long enough to keep\n").unwrap();
    let o = vg(&["corpus", "prepare", "--input", s(&input), "--out", s(&d.path().join("o")), "--population-fraction", "1.5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--population-fraction"));
}

#[test]
fn demo_then_prepare_with_json_manifest() {
    let d = tempfile::tempdir().unwrap();
    let demo = d.path().join("demo.jsonl");
    let o = vg(&["corpus", "demo", "--out", s(&demo), "--records", "600", "--seed", "4"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&demo).unwrap().lines().count(), 600);
    let out = d.path().join("corpus");
    let o = vg(&["corpus", "prepare", "--input", s(&demo), "--out", s(&out), "--seed", "9", "--vocab-size", "400", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON object");
    assert_eq!(m["counts"]["read"], 600);
    assert_eq!(m["seeds"]["split"], 9);
    assert_eq!(m["tokenizer"]["vocab_size"], 400);
    for f in ["manifest.json", "tokenizer.json", "splits.bin", "splits.jsonl"] {
        assert!(out.join(f).exists(), "{f}");
    }
    // a second run into the same directory is refused without --force
    let o = vg(&["corpus", "prepare", "--input", s(&demo), "--out", s(&out), "--seed", "9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
}

#[test]
fn keep_pii_leaves_the_named_types_in_and_hashes_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let mut lines = String::new();
    for i in 0..60 {
        lines.push_str(&format!(
            "{{\"text\": \"Record {i}: please write to person{i}@example.org or call +44 20 7946 0{:03} about order {i}.\"}}\n",
            i
        ));
    }
    std::fs::write(&input, lines).unwrap();
    let out = dir.path().join("corpus");
    let key = dir.path().join("pii.key");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_vg-audit"))
        .args(["corpus", "prepare", "--seed", "1", "--vocab-size", "300", "--keep-pii", "email", "--input"])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .arg("--pii-key")
        .arg(&key)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let splits = std::fs::read_to_string(out.join("splits.jsonl")).unwrap();
    assert!(splits.contains("@example.org"), "kept e-mail addresses must stay in the text");
    assert!(!splits.contains("7946"), "phone numbers must still be removed");
    assert!(out.join("pii-kept.fst").is_file(), "kept PII must be recorded as keyed hashes");
}
