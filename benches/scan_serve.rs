//! `scan serve` latency and back-pressure (harness = false). The real binary listens on 127.0.0.1
//! (ephemeral port) over an index built from demo records; a bounded, open-loop load generator on
//! loopback sends 2 KB outputs:
//!
//! 1. 500 requests/s for 20 s: latency p50 / p99 / max, measured from each request's scheduled
//!    time (so a stalled server cannot hide its queue) and from its actual send.
//! 2. 10× that, 5,000 requests/s for 30 s from 256 connections: the count of each status; anything
//!    but 200, 429 or 503 (or a failed connection) is an error.
//!
//! The load generator runs on the same machine and competes with the server for the cores.
//! Run: `cargo bench --bench scan_serve` (`VG_SERVE_BENCH_RECORDS`: demo records indexed, default 170,000 ≈ 100 MB of text;
//! `VG_SERVE_BENCH_SCALE`: duration factor, default 1).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "../tests/common/http.rs"]
mod http;

fn vg(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_vg-audit")).args(args).output().expect("vg-audit runs");
    assert!(o.status.success(), "vg-audit {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Outcome of one phase.
struct Phase {
    latencies_scheduled: Vec<f64>,
    latencies_sent: Vec<f64>,
    statuses: std::collections::BTreeMap<u16, u64>,
    failures: u64,
    elapsed: f64,
}

/// Sends `rate` requests/s for `seconds` over `connections` keep-alive connections; request k is
/// scheduled at k / rate and goes out on connection k mod `connections`.
fn load(addr: SocketAddr, bodies: &[String], rate: f64, seconds: f64, connections: usize) -> Phase {
    let total = (rate * seconds) as usize;
    let start = Instant::now() + Duration::from_millis(100);
    let per_thread: Vec<Phase> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..connections)
            .map(|c| {
                sc.spawn(move || {
                    let mut p = Phase { latencies_scheduled: Vec::new(), latencies_sent: Vec::new(), statuses: Default::default(), failures: 0, elapsed: 0.0 };
                    let mut conn = http::Conn::open(addr).ok();
                    for k in (c..total).step_by(connections) {
                        let due = start + Duration::from_secs_f64(k as f64 / rate);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let sent = Instant::now();
                        let result = match conn.as_mut() {
                            Some(cn) => cn.send("POST", "/v1/scan", bodies[k % bodies.len()].as_bytes()),
                            None => Err(std::io::Error::other("not connected")),
                        };
                        match result {
                            Ok(r) => {
                                let done = Instant::now();
                                p.latencies_scheduled.push(done.duration_since(due.min(sent)).as_secs_f64() * 1e3);
                                p.latencies_sent.push(done.duration_since(sent).as_secs_f64() * 1e3);
                                *p.statuses.entry(r.status).or_default() += 1;
                            }
                            Err(_) => {
                                p.failures += 1;
                                conn = http::Conn::open(addr).ok();
                            }
                        }
                    }
                    p
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("load thread")).collect()
    });
    let mut all = Phase { latencies_scheduled: Vec::new(), latencies_sent: Vec::new(), statuses: Default::default(), failures: 0, elapsed: 0.0 };
    for p in per_thread {
        all.latencies_scheduled.extend(p.latencies_scheduled);
        all.latencies_sent.extend(p.latencies_sent);
        for (k, v) in p.statuses {
            *all.statuses.entry(k).or_default() += v;
        }
        all.failures += p.failures;
    }
    all.elapsed = start.elapsed().as_secs_f64();
    all
}

/// The 1-, 5- and 15-minute load averages: the machine's other work, next to the latencies.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let records = env_num("VG_SERVE_BENCH_RECORDS", 170_000.0) as usize;
    let scale = env_num("VG_SERVE_BENCH_SCALE", 1.0);
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = dir.path().join("demo.jsonl");
    let small = dir.path().join("small.jsonl");
    let corpus = dir.path().join("corpus");
    let key = dir.path().join("pii.key");
    let index = dir.path().join("index");
    let t = Instant::now();
    vg(&["corpus", "demo", "--out", s(&demo), "--records", &records.to_string(), "--seed", "5"]);
    vg(&["corpus", "demo", "--out", s(&small), "--records", "5000", "--seed", "6"]);
    vg(&["corpus", "prepare", "--input", s(&small), "--out", s(&corpus), "--vocab-size", "4096", "--pii-key", s(&key)]);
    vg(&["scan", "index", "--from", s(&demo), "--tokenizer", s(&corpus.join("tokenizer.json")), "--pii-key", s(&key), "--out", s(&index)]);
    let mb = std::fs::metadata(&demo).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    eprintln!("index of {records} demo records ({mb:.1} MB of JSON Lines) built in {:.1} s", t.elapsed().as_secs_f64());

    // 2 KB outputs: held-out demo records joined; every tenth a copy of indexed records.
    let heldout = vg_corpora::demo::generate(4000, 99);
    let indexed = vg_corpora::demo::generate(400, 5);
    let mut bodies = Vec::new();
    let mut cur = String::new();
    for (i, t) in heldout.iter().enumerate() {
        cur.push_str(if i % 10 == 0 { &indexed[i / 10 % indexed.len()] } else { t });
        cur.push(' ');
        if cur.len() >= 2048 {
            cur.truncate(cur.char_indices().take_while(|(b, _)| *b < 2048).last().map_or(0, |(b, c)| b + c.len_utf8()));
            bodies.push(json!({"id": bodies.len(), "text": cur}).to_string());
            cur.clear();
        }
    }

    let mut child = Command::new(env!("CARGO_BIN_EXE_vg-audit"))
        .args(["scan", "serve", "--index", s(&index), "--pii-key", s(&key), "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("listening line");
    let v: Value = serde_json::from_str(&line).expect("listening JSON");
    let addr: SocketAddr = v["listening"].as_str().expect("address").parse().expect("socket address");
    assert!(addr.ip().is_loopback());

    let load_before = loadavg();
    let warm = load(addr, &bodies, 200.0, 2.0, 8);
    eprintln!("warm-up: {:?}", warm.statuses);
    let mut p = load(addr, &bodies, 500.0, 20.0 * scale, 16);
    let (p50, p99, max) = (quantile(&mut p.latencies_scheduled, 0.5), quantile(&mut p.latencies_scheduled, 0.99), quantile(&mut p.latencies_scheduled, 1.0));
    let sent_p99 = quantile(&mut p.latencies_sent, 0.99);
    println!(
        "500 req/s × {:.0} s, 2 KB outputs: p50 {p50:.2} ms, p99 {p99:.2} ms (from send: {sent_p99:.2} ms), max {max:.2} ms; statuses {:?}, connection failures {}",
        20.0 * scale, p.statuses, p.failures
    );
    let o = load(addr, &bodies, 5000.0, 30.0 * scale, 256);
    let errors: u64 = o.statuses.iter().filter(|(k, _)| ![200, 429, 503].contains(*k)).map(|(_, v)| v).sum::<u64>() + o.failures;
    let answered: u64 = o.statuses.values().sum();
    println!(
        "5,000 req/s × {:.0} s from 256 connections: {answered} answered in {:.1} s, statuses {:?}, errors (other statuses or failed connections) {errors}",
        30.0 * scale, o.elapsed, o.statuses
    );
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let exit = child.wait().expect("server exits");
    println!("server exit after SIGTERM: {exit}; load average before {load_before}, after {}", loadavg());
    println!(
        "{}",
        json!({"p50_ms": p50, "p99_ms": p99, "p99_from_send_ms": sent_p99, "max_ms": max, "overload_statuses": o.statuses, "overload_errors": errors, "server_exit": exit.code(), "loadavg_before": load_before, "loadavg_after": loadavg(), "index_records": records})
    );
}
