//! End-to-end tests of `vg-audit scan` (index, batch filter, HTTP sidecar) and of `vg-audit
//! report` on a scan sample log, on a prepared demo corpus. The server tests start the real
//! binary on 127.0.0.1 with an ephemeral port and use bounded request loops only.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};
use vg_corpora::PreparedCorpus;

use crate::common::{http, s, vg};

const MIN_SPAN: usize = 50;



/// A prepared demo corpus (e-mail addresses kept, as keyed hashes) and its scan index, built once.
struct Fixture {
    _dir: tempfile::TempDir,
    corpus: PathBuf,
    index: PathBuf,
    key: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let demo = dir.path().join("demo.jsonl");
        let o = vg(&["corpus", "demo", "--out", s(&demo), "--records", "1500", "--seed", "21"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let corpus = dir.path().join("corpus");
        let key = dir.path().join("pii.key");
        let o = vg(&[
            "corpus", "prepare", "--input", s(&demo), "--out", s(&corpus), "--seed", "3", "--vocab-size", "1200",
            "--keep-pii", "email", "--pii-key", s(&key),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let index = dir.path().join("index");
        let o = vg(&["scan", "index", "--from", s(&corpus), "--out", s(&index), "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let meta: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(meta["format_version"], 1);
        assert!(meta["pii_key_fingerprint"].is_string(), "the corpus kept e-mail addresses: {meta}");
        Fixture { _dir: dir, corpus, index, key }
    })
}

fn write_jsonl(path: &Path, rows: &[Value]) {
    let mut text = String::new();
    for r in rows {
        text.push_str(&r.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn read_verdicts(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn kinds(v: &Value) -> Vec<String> {
    v["reasons"].as_array().map(|r| r.iter().map(|x| x["kind"].as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

fn scan(f: &Fixture, input: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["scan", "--index", s(&f.index), "--pii-key", s(&f.key), "--input", s(input), "--out", s(out)];
    args.extend_from_slice(extra);
    vg(&args)
}

/// Spans of exactly `MIN_SPAN` tokens of indexed records, cut at word boundaries (the first token
/// starts with a space, and so does the token after the span), decoded to text.
fn verbatim_copies(corpus: &Path, n: usize) -> Vec<(u64, String)> {
    let c = PreparedCorpus::open(corpus).unwrap();
    spans_of(&c, c.pool().iter().chain(c.population()), n)
}

/// The first `n` word-aligned `MIN_SPAN`-token spans of `examples` (one per record), as text.
fn spans_of<'a>(c: &PreparedCorpus, examples: impl Iterator<Item = &'a vg_corpora::Example>, n: usize) -> Vec<(u64, String)> {
    let tok = c.tokenizer().unwrap();
    let starts_word = |id: u32| tok.id_to_token(id).is_some_and(|t| t.starts_with('Ġ'));
    let mut out = Vec::new();
    for e in examples {
        if out.len() == n {
            break;
        }
        let t = &e.tokens;
        let found = (0..t.len().saturating_sub(MIN_SPAN + 1)).rev().find(|&i| starts_word(t[i]) && starts_word(t[i + MIN_SPAN]));
        if let Some(i) = found {
            out.push((e.id, tok.decode(&t[i..i + MIN_SPAN], false).unwrap()));
        }
    }
    assert_eq!(out.len(), n, "not enough records with {MIN_SPAN}-token spans");
    out
}

#[test]
fn verbatim_copies_and_planted_pii_are_flagged_and_heldout_text_rarely_is() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let copies = verbatim_copies(&f.corpus, 200);
    // Held-out records: written after the training data (another seed of the demo generator).
    let heldout = vg_corpora::demo::generate_records(500, 77);
    let mut rows = Vec::new();
    for (i, (_, span)) in copies.iter().enumerate() {
        rows.push(json!({"id": format!("copy-{i}"), "text": format!("Sure, here it is:{span} Anything else?")}));
    }
    for (i, r) in heldout.iter().enumerate() {
        rows.push(json!({"id": format!("heldout-{i}"), "text": r.text}));
    }
    let input = dir.path().join("outputs.jsonl");
    write_jsonl(&input, &rows);
    let out = dir.path().join("verdicts.jsonl");
    let o = scan(f, &input, &out, &["--min-span", &MIN_SPAN.to_string(), "--json"]);
    assert_eq!(o.status.code(), Some(1), "flags found → exit 1: {}", String::from_utf8_lossy(&o.stderr));
    let verdicts = read_verdicts(&out);
    assert_eq!(verdicts.len(), rows.len());

    // Recall: every verbatim copy flagged as verbatim, with a span of at least L tokens.
    for (v, (record, _)) in verdicts.iter().zip(&copies) {
        let spans: Vec<&Value> = v["reasons"].as_array().unwrap().iter().filter(|r| r["kind"] == "verbatim").collect();
        assert!(!spans.is_empty(), "copy of record {record} not flagged: {v}");
        assert!(spans.iter().any(|r| r["tokens"].as_u64().unwrap() >= MIN_SPAN as u64), "{v}");
        assert!(v["text"].as_str().unwrap().contains("<VERBATIM>"), "verbatim span not redacted: {v}");
    }
    // Recall: every planted PII value flagged and gone from the redacted text.
    let mut planted = 0;
    for (v, r) in verdicts[copies.len()..].iter().zip(&heldout) {
        let text = v["text"].as_str().unwrap();
        for (kind, value) in &r.pii {
            planted += 1;
            assert!(!text.contains(value.as_str()), "planted {kind:?} {value:?} left in {text:?}");
            assert!(kinds(v).contains(&"pii".to_string()), "{v}");
        }
    }
    assert!(planted > 300, "the held-out records should carry planted PII ({planted})");
    // False flags on held-out text: training-data reasons (verbatim spans, PII seen in training).
    let verbatim_false = verdicts[copies.len()..].iter().filter(|v| kinds(v).contains(&"verbatim".to_string())).count();
    let training_false = verdicts[copies.len()..]
        .iter()
        .filter(|v| v["reasons"].as_array().is_some_and(|rs| rs.iter().any(|r| r["kind"] == "verbatim" || r["seen_in_training"] == true)))
        .count();
    let n = heldout.len() as f64;
    println!(
        "held-out false flags: verbatim {verbatim_false}/{} = {:.2} %, any training-data reason {training_false}/{} = {:.2} %",
        heldout.len(), 100.0 * verbatim_false as f64 / n, heldout.len(), 100.0 * training_false as f64 / n
    );
    assert!((verbatim_false as f64) / n <= 0.01, "verbatim false-flag rate {verbatim_false}/{} over 1 %", heldout.len());
    assert!((training_false as f64) / n <= 0.01, "training-data false-flag rate {training_false}/{} over 1 %", heldout.len());

    let stats: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(stats["records"], rows.len());
    assert_eq!(stats["flagged_by_kind"]["verbatim"].as_u64().unwrap(), (copies.len() + verbatim_false) as u64);
    let rate = stats["rate_per_1000"]["flag"].as_f64().unwrap();
    let flagged = stats["flag"].as_f64().unwrap();
    assert!((rate - 1000.0 * flagged / rows.len() as f64).abs() < 1e-9);
    assert!(stats["mb_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn kept_training_pii_is_seen_in_training_and_new_pii_is_not() {
    let f = fixture();
    let c = PreparedCorpus::open(&f.corpus).unwrap();
    let detector = vg_corpora::pii::PiiDetector::new();
    let email = c
        .pool()
        .iter()
        .find_map(|e| detector.find(&e.text).into_iter().find(|m| m.kind == vg_corpora::pii::PiiKind::Email).map(|m| e.text[m.start..m.end].to_string()))
        .expect("the corpus kept e-mail addresses");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    write_jsonl(&input, &[
        json!({"id": 1, "text": format!("You can reach them at {email} today.")}),
        json!({"id": 2, "text": "You can reach them at nobody.new@never-seen.example today."}),
        json!({"id": 3, "text": "The weather is mild and nothing here is private."}),
    ]);
    let out = dir.path().join("v.jsonl");
    assert_eq!(scan(f, &input, &out, &[]).status.code(), Some(1));
    let v = read_verdicts(&out);
    assert_eq!(v[0]["reasons"][0], json!({"kind": "pii", "type": "EMAIL", "seen_in_training": true}), "{}", v[0]);
    assert_eq!(v[1]["reasons"][0], json!({"kind": "pii", "type": "EMAIL", "seen_in_training": false}), "{}", v[1]);
    assert_eq!(v[0]["text"], "You can reach them at <EMAIL> today.");
    assert_eq!(v[2]["verdict"], "pass");
    assert_eq!(v[2]["id"], 3);
}

#[test]
fn bad_records_get_error_verdicts_and_the_index_is_never_written() {
    let f = fixture();
    let before: Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> = std::fs::read_dir(&f.index)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.clone(), std::fs::read(&p).unwrap(), std::fs::metadata(&p).unwrap().modified().unwrap())
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.jsonl");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"{\"text\": \"a fine first output\"}\n");
    bytes.extend_from_slice(b"{\"text\": \"bad \xff\xfe utf8\"}\n");
    bytes.extend_from_slice(format!("{{\"text\": \"{}\"}}\n", "x".repeat(10 << 20)).as_bytes());
    bytes.extend_from_slice(b"{\"text\": \"unterminated\n");
    bytes.extend_from_slice(b"{\"body\": \"no text field\"}\n");
    bytes.extend_from_slice(b"\n");
    bytes.extend_from_slice(b"{\"id\": \"last\", \"text\": \"a fine last output\"}\n");
    std::fs::write(&input, bytes).unwrap();
    let out = dir.path().join("v.jsonl");
    let o = scan(f, &input, &out, &["--json"]);
    assert_eq!(o.status.code(), Some(2), "unreadable records → exit 2 after the scan: {}", String::from_utf8_lossy(&o.stderr));
    let v = read_verdicts(&out);
    let verdicts: Vec<&str> = v.iter().map(|x| x["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["pass", "error", "error", "error", "error", "pass"]);
    assert!(v[1]["error"].as_str().unwrap().contains("UTF-8"), "{}", v[1]);
    assert!(v[2]["error"].as_str().unwrap().contains("--max-bytes"), "{}", v[2]);
    assert!(v[3]["error"].as_str().unwrap().contains("malformed JSON"), "{}", v[3]);
    assert!(v[4]["error"].as_str().unwrap().contains("missing field"), "{}", v[4]);
    assert_eq!(v[5]["id"], "last");
    let stats: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((stats["records"].as_u64(), stats["error"].as_u64()), (Some(6), Some(4)));
    for (p, bytes, mtime) in before {
        assert_eq!(std::fs::read(&p).unwrap(), bytes, "{} changed", p.display());
        assert_eq!(std::fs::metadata(&p).unwrap().modified().unwrap(), mtime, "{} rewritten", p.display());
    }
}

#[test]
fn filter_passes_clean_lines_unchanged_and_rejects_the_rest() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let clean = r#"{"id":7,"text":"Nothing to see here, only a plain answer."}"#;
    let flagged = r#"{"id":8,"text":"Write to someone@example.com for details."}"#;
    std::fs::write(&input, format!("{clean}\n{flagged}\nnot json\n")).unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let o = vg(&["scan", "--index", s(&f.index), "--pii-key", s(&f.key), "--input", s(&input), "--filter", "--rejects", s(&rejects)]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(String::from_utf8(o.stdout).unwrap(), format!("{clean}\n"));
    let r = read_verdicts(&rejects);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["id"], 8);
    assert!(!r[0]["text"].as_str().unwrap().contains("someone@example.com"));
    assert_eq!(r[1]["verdict"], "error");
    // From standard input, nothing flagged → exit 0.
    let mut child = Command::new(env!("CARGO_BIN_EXE_vg-audit"))
        .args(["scan", "--index", s(&f.index), "--pii-key", s(&f.key), "--input", "-", "--filter"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{clean}\n").as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!((o.status.code(), String::from_utf8(o.stdout).unwrap()), (Some(0), format!("{clean}\n")));
}

#[test]
fn altered_or_foreign_indexes_are_refused() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"text\": \"hello\"}\n").unwrap();
    let copy = |name: &str| -> PathBuf {
        let to = dir.path().join(name);
        std::fs::create_dir(&to).unwrap();
        for e in std::fs::read_dir(&f.index).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
        to
    };
    let refused = |index: &Path, needle: &str| {
        let o = vg(&["scan", "--index", s(index), "--pii-key", s(&f.key), "--input", s(&input), "--out", s(&dir.path().join("v"))]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
    };
    let a = copy("flipped");
    let mut stream = std::fs::read(a.join("stream.vgsa")).unwrap();
    let last = stream.len() - 1;
    stream[last] ^= 1;
    std::fs::write(a.join("stream.vgsa"), stream).unwrap();
    refused(&a, "checksum mismatch");
    let b = copy("version");
    let meta = std::fs::read_to_string(b.join("index.json")).unwrap().replace("\"format_version\": 1", "\"format_version\": 2");
    std::fs::write(b.join("index.json"), meta).unwrap();
    refused(&b, "format version 2");
    let c = copy("tokenizer");
    let mut tok = std::fs::read(c.join("tokenizer.json")).unwrap();
    tok.push(b' ');
    std::fs::write(c.join("tokenizer.json"), tok).unwrap();
    refused(&c, "was altered");
    let d = copy("nokey");
    let o = vg(&["scan", "--index", s(&d), "--pii-key", s(&input), "--input", s(&input), "--out", s(&dir.path().join("v"))]);
    assert_eq!(o.status.code(), Some(2));
    // An existing index is not overwritten without --force.
    let o = vg(&["scan", "index", "--from", s(&f.corpus), "--out", s(&d)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
}

/// A running `scan serve` on 127.0.0.1 with an ephemeral port; SIGTERM on `stop`, killed if a test fails first.
struct Server {
    child: Option<std::process::Child>,
    addr: SocketAddr,
}

impl Server {
    fn start(f: &Fixture, extra: &[&str]) -> Server {
        let mut args = vec!["scan", "serve", "--index", s(&f.index), "--pii-key", s(&f.key), "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = Command::new(env!("CARGO_BIN_EXE_vg-audit"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("first stdout line {line:?}: {e}"));
        let addr: SocketAddr = v["listening"].as_str().unwrap().parse().unwrap();
        assert!(addr.ip().is_loopback() && addr.port() != 0);
        Server { child: Some(child), addr }
    }

    /// SIGTERM, then the exit status and the access log (stderr).
    fn stop(mut self) -> (Option<i32>, String) {
        let child = self.child.take().unwrap();
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let o = child.wait_with_output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn serve_answers_verdicts_refuses_bad_requests_logs_without_texts_and_stops_on_sigterm() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("sample.jsonl");
    let server = Server::start(f, &["--sample-rate", "1", "--sample-log", s(&sample), "--max-body", "65536", "--max-batch", "8"]);
    let addr = server.addr;
    let health = http::request(addr, "GET", "/healthz", b"").unwrap();
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");

    let secret_marker = "zebra-quartz-unique-marker";
    let mut conn = http::Conn::open(addr).unwrap();
    let r = conn.send("POST", "/v1/scan", json!({"id": "a1", "text": format!("{secret_marker}: mail jane.roe@example.org now")}).to_string().as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!((v["id"].as_str(), v["verdict"].as_str()), (Some("a1"), Some("flag")));
    assert_eq!(v["reasons"][0]["type"], "EMAIL");
    let copy = &verbatim_copies(&f.corpus, 1)[0].1;
    let batch = json!([{"id": 1, "text": "A plain answer."}, {"id": 2, "text": format!("Quote:{copy} done")}, {"id": 3}]);
    let r = conn.send("POST", "/v1/scan", batch.to_string().as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let vs = r.json()["verdicts"].as_array().unwrap().clone();
    let got: Vec<&str> = vs.iter().map(|v| v["verdict"].as_str().unwrap()).collect();
    assert_eq!(got, ["pass", "flag", "error"]);
    assert_eq!(vs[1]["reasons"][0]["kind"], "verbatim");

    let status = |body: &[u8]| http::request(addr, "POST", "/v1/scan", body).unwrap().status;
    assert_eq!(status(b"{\"text\": "), 400);
    assert_eq!(status(b"{\"text\": \"\xff\xfe\"}"), 400);
    assert_eq!(status(b"[1, 2"), 400);
    assert_eq!(status(b"{\"id\": 1}"), 400);
    assert_eq!(status(format!("{{\"text\": \"{}\"}}", "y".repeat(100_000)).as_bytes()), 413);
    let nine: Vec<Value> = (0..9).map(|i| json!({"text": format!("t{i}")})).collect();
    assert_eq!(status(json!(nine).to_string().as_bytes()), 413);
    assert_eq!(http::request(addr, "GET", "/v1/scan", b"").unwrap().status, 405);
    // Still serving after all of that.
    assert_eq!(http::request(addr, "GET", "/healthz", b"").unwrap().status, 200);

    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "graceful shutdown exits 0: {log}");
    assert!(!log.contains(secret_marker) && !log.contains("jane.roe"), "the access log must not hold texts: {log}");
    let lines: Vec<Value> = log.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l["status"] == 413) && lines.iter().any(|l| l["ids"] == json!(["a1"]) && l["kinds"] == json!(["pii"])));

    // Sample log: every verdict (rate 1), redacted; the report renders it.
    let entries: Vec<Value> = std::fs::read_to_string(&sample).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.len(), 4);
    assert!(entries.iter().all(|e| e["t"].is_f64() && !e.to_string().contains("jane.roe")));
    let html = dir.path().join("scan.html");
    let o = vg(&["report", s(&sample), "--out", s(&html)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Worst examples") && page.contains("&lt;VERBATIM&gt;") && !page.contains("<VERBATIM>"));
}

#[test]
fn serve_answers_429_or_503_under_overload_and_never_fails_otherwise() {
    let f = fixture();
    let server = Server::start(f, &["--workers", "1", "--queue", "1", "--queue-timeout-ms", "50"]);
    let addr = server.addr;
    let text = verbatim_copies(&f.corpus, 8).into_iter().map(|(_, t)| t).collect::<Vec<_>>().join(" ");
    let body = json!((0..8).map(|i| json!({"id": i, "text": text})).collect::<Vec<_>>()).to_string();
    let statuses: Vec<u16> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let body = body.clone();
                sc.spawn(move || {
                    let mut conn = http::Conn::open(addr).unwrap();
                    (0..5).map(|_| conn.send("POST", "/v1/scan", body.as_bytes()).unwrap().status).collect::<Vec<u16>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.len(), 80);
    assert!(statuses.iter().all(|s| [200, 429, 503].contains(s)), "{statuses:?}");
    assert!(statuses.contains(&200));
    assert!(statuses.iter().any(|s| *s == 429 || *s == 503), "16 clients, 1 worker, queue 1: some must be refused");
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            copy_dir(&p, &to.join(p.file_name().unwrap()));
        } else {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn a_run_directory_index_holds_members_and_canaries_and_flags_included_ones_as_training_data() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    // What `scan index` reads of a run directory: corpus/ and canaries.json (a small seeded set).
    let run = dir.path().join("run");
    copy_dir(&f.corpus, &run.join("corpus"));
    let opts = vg_canaries::CanaryOptions { count: 12, references_per_family: 2, insecure_seed: Some(9), ..Default::default() };
    let set = vg_canaries::CanarySet::generate(&opts, None).unwrap();
    set.save(&run.join("canaries.json")).unwrap();
    let index = dir.path().join("index");
    let o = vg(&["scan", "index", "--from", s(&run), "--out", s(&index), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let meta: Value = serde_json::from_slice(&o.stdout).unwrap();
    let c = PreparedCorpus::open(&f.corpus).unwrap();
    let members = c.members().count() as u64;
    let copies = set.canaries.iter().filter(|c| c.included).count() as u64;
    assert!(copies > 0 && copies < 12, "seed 9 includes some canaries, not all ({copies})");
    assert_eq!(meta["records"], members + copies, "member records plus one copy per included canary: {meta}");
    assert_eq!(meta["canaries"], set.canaries.len() as u64);

    let included = set.canaries.iter().find(|c| c.included).unwrap();
    let excluded = set.canaries.iter().find(|c| !c.included && c.kind == vg_canaries::CanaryKind::Inserted).unwrap();
    let member = spans_of(&c, c.members(), 1).remove(0);
    let outsiders = spans_of(&c, c.pool().iter().filter(|e| !e.member), 20);
    let mut rows = vec![
        json!({"id": "included", "text": format!("Of course. {}", included.text())}),
        json!({"id": "excluded", "text": format!("Of course. {}", excluded.text())}),
        json!({"id": "member", "text": format!("Quote:{}", member.1)}),
    ];
    rows.extend(outsiders.iter().map(|(id, t)| json!({"id": format!("outsider-{id}"), "text": format!("Quote:{t}")})));
    let input = dir.path().join("in.jsonl");
    write_jsonl(&input, &rows);
    let out = dir.path().join("v.jsonl");
    let o = vg(&["scan", "--index", s(&index), "--pii-key", s(&f.key), "--input", s(&input), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let v = read_verdicts(&out);
    let canary = |v: &Value| v["reasons"].as_array().unwrap().iter().find(|r| r["kind"] == "canary").cloned();
    assert_eq!(canary(&v[0]), Some(json!({"kind": "canary", "canary_id": included.id, "in_training": true})), "{}", v[0]);
    assert_eq!(canary(&v[1]), Some(json!({"kind": "canary", "canary_id": excluded.id, "in_training": false})), "{}", v[1]);
    assert!(!v[0]["text"].as_str().unwrap().contains(&included.secret), "canary secret not redacted: {}", v[0]);
    let span = v[2]["reasons"].as_array().unwrap().iter().find(|r| r["kind"] == "verbatim").cloned().expect("member copy flagged");
    assert_eq!(span["record"], json!({"kind": "record", "id": member.0}), "{span}");
    assert!(span["tokens"].as_u64().unwrap() >= MIN_SPAN as u64, "{span}");
    // Non-members were never trained on: their spans are not in this index (the corpus index has them all).
    let outsider_hits = v[3..].iter().filter(|x| kinds(x).contains(&"verbatim".to_string())).count();
    assert!(outsider_hits <= 1, "{outsider_hits} of 20 non-member copies flagged as verbatim by the run's index");
}

#[test]
fn a_jsonl_index_tokenizes_raw_text_and_hashes_its_pii() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("train.jsonl");
    write_jsonl(&raw, &[
        json!({"body": "The quarterly ledger was reconciled by the night shift before the auditors arrived on Monday morning."}),
        json!({"body": "Contact the archivist at archivist.ward@ledger-house.example for the old volumes."}),
    ]);
    let index = dir.path().join("index");
    let tokenizer = f.corpus.join("tokenizer.json");
    let o = vg(&["scan", "index", "--from", s(&raw), "--out", s(&index), "--json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--tokenizer"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = vg(&["scan", "index", "--from", s(&raw), "--tokenizer", s(&tokenizer), "--field", "body", "--pii-key", s(&f.key), "--out", s(&index), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let meta: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((meta["records"].as_u64(), meta["pii_key_fingerprint"].is_string()), (Some(2), true), "{meta}");

    let input = dir.path().join("in.jsonl");
    write_jsonl(&input, &[
        json!({"id": "copy", "text": "As I recall, the quarterly ledger was reconciled by the night shift before the auditors arrived."}),
        json!({"id": "mail", "text": "Try archivist.ward@ledger-house.example."}),
        json!({"id": "fresh", "text": "A different sentence about a garden and the rain."}),
    ]);
    let out = dir.path().join("v.jsonl");
    let o = vg(&["scan", "--index", s(&index), "--pii-key", s(&f.key), "--min-span", "8", "--input", s(&input), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let v = read_verdicts(&out);
    let span = &v[0]["reasons"][0];
    assert_eq!((span["kind"].as_str(), &span["record"]), (Some("verbatim"), &json!({"kind": "record", "id": 1})), "{}", v[0]);
    assert!(span["tokens"].as_u64().unwrap() >= 8);
    // The address is also a verbatim span of line 2 at this short --min-span; the PII reason says it was seen.
    let pii: Vec<&Value> = v[1]["reasons"].as_array().unwrap().iter().filter(|r| r["kind"] == "pii").collect();
    assert_eq!(pii, [&json!({"kind": "pii", "type": "EMAIL", "seen_in_training": true})], "{}", v[1]);
    assert!(!v[1]["text"].as_str().unwrap().contains("archivist.ward"), "{}", v[1]);
    assert_eq!(v[2]["verdict"], "pass", "{}", v[2]);
}

#[test]
fn help_texts_explain_the_commands_and_exit_codes() {
    for (args, needles) in [
        (&["scan", "--help"][..], &["--index", "--filter", "Exit codes"][..]),
        (&["scan", "index", "--help"], &["--from", "--tokenizer", "private"]),
        (&["scan", "serve", "--help"], &["/v1/scan", "429", "SIGTERM", "--sample-rate"]),
    ] {
        let o = vg(args);
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        for n in needles {
            assert!(text.contains(n), "{args:?} --help lacks {n:?}: {text}");
        }
    }
}

#[test]
fn the_sample_log_keeps_every_rth_verdict_and_is_only_appended_to() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("sample.jsonl");
    let earlier = "{\"t\":1.0,\"ts\":\"2026-01-01T00:00:00.000Z\",\"id\":\"old\",\"verdict\":\"pass\",\"text\":\"kept\"}\n";
    std::fs::write(&sample, earlier).unwrap();
    let server = Server::start(f, &["--sample-rate", "3", "--sample-log", s(&sample)]);
    let mut conn = http::Conn::open(server.addr).unwrap();
    for i in 0..7 {
        let r = conn.send("POST", "/v1/scan", json!({"id": i, "text": format!("answer number {i}")}).to_string().as_bytes()).unwrap();
        assert_eq!(r.status, 200);
    }
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
    let log = std::fs::read_to_string(&sample).unwrap();
    assert!(log.starts_with(earlier), "the earlier entry must stay as it was: {log}");
    let ids: Vec<Value> = log.lines().skip(1).map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].clone()).collect();
    assert_eq!(ids, [json!(2), json!(5)], "every 3rd of 7 verdicts");
    let o = vg(&["scan", "serve", "--index", s(&f.index), "--pii-key", s(&f.key), "--listen", "127.0.0.1:0", "--sample-rate", "0", "--sample-log", s(&sample)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--sample-rate must be at least 1"));
}

#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    let f = fixture();
    let server = Server::start(f, &["--workers", "1", "--max-body", "8000000", "--max-batch", "256"]);
    let addr = server.addr;
    let text = verbatim_copies(&f.corpus, 40).into_iter().map(|(_, t)| t).collect::<Vec<_>>().join(" ");
    let body = json!((0..256).map(|i| json!({"id": i, "text": text})).collect::<Vec<_>>()).to_string();
    let (status, answered, code) = std::thread::scope(|sc| {
        let slow = sc.spawn(|| http::Conn::open(addr).unwrap().send("POST", "/v1/scan", body.as_bytes()).unwrap());
        // Wait (bounded) until the scan is running, then ask the server to stop.
        let busy = (0..2000).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            http::request(addr, "GET", "/healthz", b"").is_ok_and(|r| r.json()["in_flight"] == 1)
        });
        assert!(busy, "the batch request never showed as in flight");
        let (code, _) = server.stop();
        let r = slow.join().unwrap();
        (r.status, r.json()["verdicts"].as_array().map_or(0, Vec::len), code)
    });
    assert_eq!((status, answered, code), (200, 256, Some(0)), "the request in flight is answered in full, then exit 0");
}

/// The batch filter's line reader (`vg_audit::scan::batch::read_bounded_line`, what `scan
/// --max-bytes` relies on): an over-long line is cut to `max + 1` bytes but measured whole, and
/// the lines after it come back intact.
#[test]
fn long_lines_are_cut_but_measured_and_the_next_line_is_intact() {
    use vg_audit::scan::batch::read_bounded_line;
    let text = format!("{}\nshort\r\n\nlast", "x".repeat(10_000));
    let mut r = std::io::BufReader::with_capacity(64, text.as_bytes());
    let a = read_bounded_line(&mut r, 100, 1).unwrap().unwrap();
    assert_eq!((a.len, a.bytes.len()), (10_000, 101));
    let b = read_bounded_line(&mut r, 100, 2).unwrap().unwrap();
    assert_eq!((b.len, b.bytes.as_slice()), (5, &b"short"[..]));
    let c = read_bounded_line(&mut r, 100, 3).unwrap().unwrap();
    assert_eq!(c.len, 0);
    let d = read_bounded_line(&mut r, 100, 4).unwrap().unwrap();
    assert_eq!(d.bytes, b"last");
    assert!(read_bounded_line(&mut r, 100, 5).unwrap().is_none());
}
