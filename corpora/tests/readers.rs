//! Each reader on small fixture files, including every bad-input case: the error names the file
//! and line, and (through `prepare`) nothing is written; `skip_bad` counts each kind.

use std::path::{Path, PathBuf};

use vg_corpora::readers::{collect_inputs, read_file, FileFormat, Item, ReaderConfig};
use vg_corpora::{prepare, BadInputKind, Error, InputFormat, PrepareOptions, RecordMode};

fn cfg(records: RecordMode) -> ReaderConfig {
    ReaderConfig { records, field: "text".into(), column: "text".into() }
}

fn read_all(path: &Path, fmt: FileFormat, cfg: &ReaderConfig) -> Vec<Item> {
    let mut items = Vec::new();
    read_file(path, fmt, cfg, &mut |i| {
        items.push(i);
        Ok(())
    })
    .unwrap();
    items
}

fn records(items: &[Item]) -> Vec<(u64, String)> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Record { line, text } => Some((*line, text.clone())),
            Item::Bad { .. } => None,
        })
        .collect()
}

fn bads(items: &[Item]) -> Vec<(u64, BadInputKind)> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Bad { line, kind, .. } => Some((*line, *kind)),
            Item::Record { .. } => None,
        })
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn text_lines_skip_blank_lines_and_strip_crlf() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "a.txt", b"first line\r\n\n  \nsecond line\nthird");
    let items = read_all(&p, FileFormat::Text, &cfg(RecordMode::Lines));
    assert_eq!(
        records(&items),
        vec![(1, "first line".into()), (4, "second line".into()), (5, "third".into())]
    );
}

#[test]
fn text_paragraphs_join_lines_and_start_at_first_line() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "a.txt", b"para one\ncontinues\n\n\npara two\n");
    let items = read_all(&p, FileFormat::Text, &cfg(RecordMode::Paragraphs));
    assert_eq!(records(&items), vec![(1, "para one\ncontinues".into()), (5, "para two".into())]);
}

#[test]
fn invalid_utf8_is_reported_at_its_line() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "a.txt", b"ok line\nbad \xff byte\nok again\n");
    let items = read_all(&p, FileFormat::Text, &cfg(RecordMode::Lines));
    assert_eq!(bads(&items), vec![(2, BadInputKind::InvalidUtf8)]);
    assert_eq!(records(&items).len(), 2);
    // paragraphs: the whole paragraph is bad, at the line of the bad byte
    let p = write(d.path(), "b.txt", b"good para\n\nstarts fine\nthen \xc3\x28 bad\n\nlast\n");
    let items = read_all(&p, FileFormat::Text, &cfg(RecordMode::Paragraphs));
    assert_eq!(bads(&items), vec![(4, BadInputKind::InvalidUtf8)]);
    assert_eq!(records(&items), vec![(1, "good para".into()), (6, "last".into())]);
}

#[test]
fn jsonl_field_missing_field_wrong_type_malformed() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "a.jsonl",
        b"{\"text\": \"hello\"}\n\n{\"body\": \"no text\"}\n{\"text\": 42}\n{not json\n[1,2]\n{\"text\": null}\n{\"meta\": {\"body\": \"deep\"}}\n",
    );
    let items = read_all(&p, FileFormat::Jsonl, &cfg(RecordMode::Lines));
    assert_eq!(records(&items), vec![(1, "hello".into())]);
    assert_eq!(
        bads(&items),
        vec![
            (3, BadInputKind::MissingField),
            (4, BadInputKind::NotText),
            (5, BadInputKind::MalformedJson),
            (6, BadInputKind::MalformedJson),
            (7, BadInputKind::MissingField),
            (8, BadInputKind::MissingField),
        ]
    );
    let nested = ReaderConfig { field: "meta.body".into(), ..cfg(RecordMode::Lines) };
    assert_eq!(records(&read_all(&p, FileFormat::Jsonl, &nested)), vec![(8, "deep".into())]);
}

#[test]
fn csv_column_quoting_and_bad_rows() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "a.csv",
        b"id,text\n1,plain\n2,\"quoted, with comma\nand newline\"\n3,too,many\n4,\"bad \xff\"\n5,last\n",
    );
    let items = read_all(&p, FileFormat::Csv, &cfg(RecordMode::Lines));
    assert_eq!(
        records(&items),
        vec![(2, "plain".into()), (3, "quoted, with comma\nand newline".into()), (7, "last".into())]
    );
    assert_eq!(bads(&items), vec![(5, BadInputKind::MalformedCsv), (6, BadInputKind::InvalidUtf8)]);
    let p = write(d.path(), "b.csv", b"id,body\n1,x\n");
    let items = read_all(&p, FileFormat::Csv, &cfg(RecordMode::Lines));
    assert_eq!(bads(&items), vec![(1, BadInputKind::MissingField)]);
    match &items[0] {
        Item::Bad { reason, .. } => assert!(reason.contains("columns: id, body"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn parquet_column_and_nulls() {
    use polars::prelude::*;
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.parquet");
    let mut df = df!(
        "id" => [1i64, 2, 3],
        "text" => [Some("first record"), None, Some("third record")]
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&p).unwrap()).finish(&mut df).unwrap();
    let items = read_all(&p, FileFormat::Parquet, &cfg(RecordMode::Lines));
    assert_eq!(records(&items), vec![(1, "first record".into()), (3, "third record".into())]);
    assert_eq!(bads(&items), vec![(2, BadInputKind::MissingField)]);
    let other = ReaderConfig { column: "body".into(), ..cfg(RecordMode::Lines) };
    assert_eq!(bads(&read_all(&p, FileFormat::Parquet, &other)), vec![(1, BadInputKind::MissingField)]);
    assert_eq!(bads(&read_all(&p, FileFormat::Parquet, &ReaderConfig { column: "id".into(), ..cfg(RecordMode::Lines) })), vec![(1, BadInputKind::NotText)]);
    let junk = write(d.path(), "junk.parquet", b"definitely not parquet");
    assert_eq!(bads(&read_all(&junk, FileFormat::Parquet, &cfg(RecordMode::Lines))), vec![(1, BadInputKind::MalformedParquet)]);
}

#[test]
fn empty_files_of_every_format_are_bad() {
    let d = tempfile::tempdir().unwrap();
    for (name, fmt, content) in [
        ("e.txt", FileFormat::Text, &b""[..]),
        ("blank.txt", FileFormat::Text, &b"\n \n\n"[..]),
        ("e.jsonl", FileFormat::Jsonl, &b""[..]),
        ("e.csv", FileFormat::Csv, &b""[..]),
        ("header_only.csv", FileFormat::Csv, &b"text\n"[..]),
    ] {
        let p = write(d.path(), name, content);
        assert_eq!(bads(&read_all(&p, fmt, &cfg(RecordMode::Lines))), vec![(1, BadInputKind::EmptyFile)], "{name}");
    }
}

#[test]
fn directories_are_walked_by_extension() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("sub")).unwrap();
    write(d.path(), "b.jsonl", b"{\"text\":\"x\"}\n");
    write(d.path(), "a.txt", b"x\n");
    write(&d.path().join("sub"), "c.csv", b"text\nx\n");
    write(d.path(), "notes.docx", b"?");
    write(d.path(), ".hidden.txt", b"x\n");
    let (files, skipped) = collect_inputs(&[d.path().to_path_buf()], InputFormat::Auto).unwrap();
    let names: Vec<(String, FileFormat)> =
        files.iter().map(|(p, f)| (p.strip_prefix(d.path()).unwrap().display().to_string(), *f)).collect();
    assert_eq!(
        names,
        vec![("a.txt".into(), FileFormat::Text), ("b.jsonl".into(), FileFormat::Jsonl), ("sub/c.csv".into(), FileFormat::Csv)]
    );
    assert_eq!(skipped, vec![d.path().join("notes.docx")]);
    // a file named explicitly with an unknown extension is refused
    let err = collect_inputs(&[d.path().join("notes.docx")], InputFormat::Auto).unwrap_err();
    assert!(err.to_string().contains("notes.docx"), "{err}");
}

/// Options for a small prepare run that needs no PII key.
fn small_opts(inputs: Vec<PathBuf>, out: PathBuf) -> PrepareOptions {
    PrepareOptions { min_chars: 1, vocab_size: 300, seed: Some(1), population_fraction: 0.5, ..PrepareOptions::new(inputs, out) }
}

fn good_lines(n: usize) -> String {
    (0..n).map(|i| format!("{{\"text\": \"record number {i} about topic {}\"}}\n", i * 7919 % 1000)).collect()
}

#[test]
fn prepare_stops_at_bad_input_naming_file_and_line_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, u64, BadInputKind)> = vec![
        ("utf8.jsonl", [good_lines(5).into_bytes(), b"{\"text\": \"\xff\"}\n".to_vec()].concat(), 6, BadInputKind::InvalidUtf8),
        ("json.jsonl", format!("{}{{\"text\": oops}}\n", good_lines(3)).into_bytes(), 4, BadInputKind::MalformedJson),
        ("field.jsonl", format!("{}{{\"body\": \"x\"}}\n", good_lines(2)).into_bytes(), 3, BadInputKind::MissingField),
        ("empty.txt", Vec::new(), 1, BadInputKind::EmptyFile),
    ];
    for (name, content, line, kind) in cases {
        let input = write(d.path(), name, &content);
        let out = d.path().join(format!("out-{name}"));
        let err = prepare(&small_opts(vec![input.clone()], out.clone()), &mut |_, _, _| {}).unwrap_err();
        assert_eq!(err.bad_input_kind(), Some(kind), "{name}: {err}");
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("{}:{line}: ", input.display())), "{name}: {msg}");
        assert!(!out.exists(), "{name}: output directory was created");
        let leftovers: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{name}: temporary files left: {leftovers:?}");
    }
}

#[test]
fn skip_bad_counts_each_kind_in_the_manifest() {
    let d = tempfile::tempdir().unwrap();
    let mut content = good_lines(40).into_bytes();
    content.extend_from_slice(b"{\"text\": \"\xff\"}\n{oops\n{\"body\": 1}\n{\"text\": 5}\n{\"other\": 2}\n");
    let a = write(d.path(), "a.jsonl", &content);
    let e = write(d.path(), "e.txt", b"");
    let out = d.path().join("out");
    let opts = PrepareOptions { skip_bad: true, ..small_opts(vec![a, e], out.clone()) };
    let m = prepare(&opts, &mut |_, _, _| {}).unwrap();
    assert_eq!(m.counts.read, 40);
    assert_eq!(m.counts.bad, 6);
    let by: Vec<(&str, u64)> = m.counts.bad_by_kind.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        by,
        vec![("empty_file", 1), ("invalid_utf8", 1), ("malformed_json", 1), ("missing_field", 2), ("not_text", 1)]
    );
    assert!(out.join("manifest.json").exists());
}

#[test]
fn an_empty_corpus_after_cleaning_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let a = write(d.path(), "a.txt", b"short\ntiny\n");
    let out = d.path().join("out");
    let opts = PrepareOptions { min_chars: 50, ..small_opts(vec![a], out.clone()) };
    let err = prepare(&opts, &mut |_, _, _| {}).unwrap_err();
    assert!(matches!(err, Error::EmptyCorpus { .. }), "{err}");
    assert!(err.to_string().contains("2 too short"), "{err}");
    assert!(!out.exists());
}

#[test]
fn impossible_options_are_refused_before_work() {
    let d = tempfile::tempdir().unwrap();
    let a = write(d.path(), "a.txt", b"some line of text\n");
    for (opts, name) in [
        (PrepareOptions { population_fraction: 1.0, ..small_opts(vec![a.clone()], d.path().join("o")) }, "--population-fraction"),
        (PrepareOptions { min_chars: 10, max_chars: 5, ..small_opts(vec![a.clone()], d.path().join("o")) }, "--min-chars"),
        (PrepareOptions { vocab_size: 100, ..small_opts(vec![a.clone()], d.path().join("o")) }, "--vocab-size"),
        (PrepareOptions { dedup_span: 2, ..small_opts(vec![a.clone()], d.path().join("o")) }, "--dedup-span"),
    ] {
        let err = prepare(&opts, &mut |_, _, _| {}).unwrap_err();
        assert!(matches!(err, Error::InvalidOption { .. }) && err.to_string().contains(name), "{err}");
    }
}
