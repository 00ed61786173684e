//! The batch filter: JSON Lines of model outputs in, one verdict line per record out. A bad
//! record (invalid UTF-8, a line over `--max-bytes`, malformed JSON, no text field) gets an error
//! verdict and the filter goes on; lines longer than the limit are never held in memory whole.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};
use vg_attacks::extraction::scan::{Reason, Scanner, Verdict, VerdictKind};
use vg_corpora::readers::parse_jsonl_record;

/// Records scanned in parallel per chunk (the order of the output is the order of the input).
const CHUNK: usize = 256;

/// One input line: its first `max + 1` bytes at most, and its full length.
pub struct Line {
    /// 1-based line number.
    pub number: u64,
    /// The bytes kept (the whole line when `len <= max`), without the line break.
    pub bytes: Vec<u8>,
    /// The line's full length in bytes.
    pub len: usize,
}

/// Reads the next line, keeping at most `max + 1` bytes of it (the rest is read and dropped).
/// `None` at the end of the input.
pub fn read_bounded_line(input: &mut dyn BufRead, max: usize, number: u64) -> std::io::Result<Option<Line>> {
    let mut bytes = Vec::new();
    let mut len = 0usize;
    let mut any = false;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        any = true;
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = (max + 1).saturating_sub(bytes.len());
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        len += chunk.len();
        let used = done.unwrap_or(chunk.len());
        input.consume(used);
        if done.is_some() {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if bytes.last() == Some(&b'\r') && len <= max {
        bytes.pop();
        len -= 1;
    }
    Ok(Some(Line { number, bytes, len }))
}

/// The verdict on one input line.
pub fn verdict_of(scanner: &Scanner, line: &Line, field: &str, max_bytes: usize) -> Verdict {
    let n = line.number;
    if line.len > max_bytes {
        return Verdict::error(json!(n), format!("line {n}: {} bytes, over the --max-bytes limit of {max_bytes}", line.len));
    }
    match parse_jsonl_record(&line.bytes, field) {
        Ok((text, rest)) => scanner.scan(rest.get("id").cloned().unwrap_or(json!(n)), &text),
        Err((_, reason)) => Verdict::error(json!(n), format!("line {n}: {reason}")),
    }
}

/// Counts over a batch: per verdict, per reason kind (outputs with at least one), and throughput.
#[derive(Debug, Default, Clone, Serialize)]
pub struct BatchStats {
    /// Records read (blank lines are not records).
    pub records: u64,
    /// Passed.
    pub pass: u64,
    /// Flagged.
    pub flag: u64,
    /// Unreadable.
    pub error: u64,
    /// Flagged outputs per reason kind: `verbatim`, `canary`, `pii`, and the training-data subsets
    /// `canary_in_training`, `pii_seen_in_training`.
    pub flagged_by_kind: BTreeMap<String, u64>,
    /// Input bytes read.
    pub bytes: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl BatchStats {
    /// Adds one verdict.
    pub fn add(&mut self, v: &Verdict) {
        self.records += 1;
        match v.verdict {
            VerdictKind::Pass => self.pass += 1,
            VerdictKind::Flag => self.flag += 1,
            VerdictKind::Error => self.error += 1,
        }
        for kind in v.kinds() {
            *self.flagged_by_kind.entry(kind.to_string()).or_default() += 1;
        }
        if v.reasons.iter().any(|r| matches!(r, Reason::Canary { in_training: true, .. })) {
            *self.flagged_by_kind.entry("canary_in_training".into()).or_default() += 1;
        }
        if v.reasons.iter().any(|r| matches!(r, Reason::Pii { seen_in_training: true, .. })) {
            *self.flagged_by_kind.entry("pii_seen_in_training".into()).or_default() += 1;
        }
    }

    /// Per 1,000 outputs.
    pub fn per_thousand(&self, n: u64) -> f64 {
        if self.records == 0 {
            0.0
        } else {
            1000.0 * n as f64 / self.records as f64
        }
    }

    /// Input megabytes (10⁶ bytes) per wall-clock second.
    pub fn mb_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 / 1e6 / self.seconds
        } else {
            0.0
        }
    }

    /// The `--json` object.
    pub fn to_json(&self, threads: usize, min_span: usize) -> Value {
        let mut rates: BTreeMap<String, f64> = self.flagged_by_kind.iter().map(|(k, &n)| (k.clone(), self.per_thousand(n))).collect();
        rates.insert("flag".into(), self.per_thousand(self.flag));
        rates.insert("error".into(), self.per_thousand(self.error));
        let mb_s = self.mb_per_s();
        json!({
            "records": self.records, "pass": self.pass, "flag": self.flag, "error": self.error,
            "flagged_by_kind": self.flagged_by_kind, "rate_per_1000": rates,
            "bytes": self.bytes, "seconds": self.seconds, "mb_per_s": mb_s,
            "threads": threads, "mb_per_s_per_thread": mb_s / threads.max(1) as f64,
            "min_span": min_span,
        })
    }
}

/// Where the verdicts go.
pub struct Sinks<'a> {
    /// Every verdict line (`--out`).
    pub verdicts: Option<&'a mut dyn Write>,
    /// The input lines of passing records (`--filter`, stdout).
    pub passed: Option<&'a mut dyn Write>,
    /// Verdict lines of flagged and unreadable records (`--rejects`).
    pub rejects: Option<&'a mut dyn Write>,
}

/// Scans every line of `input`; `progress(bytes)` is called after each chunk.
pub fn run(
    scanner: &Scanner,
    input: &mut dyn BufRead,
    field: &str,
    max_bytes: usize,
    sinks: &mut Sinks,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<BatchStats> {
    let started = Instant::now();
    let mut stats = BatchStats::default();
    let mut number = 0u64;
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        while chunk.len() < CHUNK {
            number += 1;
            let Some(line) = read_bounded_line(input, max_bytes, number)? else { break };
            stats.bytes += line.len as u64 + 1;
            if line.len <= max_bytes && line.bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            chunk.push(line);
        }
        if chunk.is_empty() {
            break;
        }
        let verdicts: Vec<Verdict> = chunk.par_iter().map(|l| verdict_of(scanner, l, field, max_bytes)).collect();
        for (line, v) in chunk.iter().zip(&verdicts) {
            stats.add(v);
            let encoded = serde_json::to_string(v)?;
            if let Some(w) = sinks.verdicts.as_deref_mut() {
                writeln!(w, "{encoded}")?;
            }
            if v.verdict == VerdictKind::Pass {
                if let Some(w) = sinks.passed.as_deref_mut() {
                    w.write_all(&line.bytes)?;
                    w.write_all(b"\n")?;
                }
            } else if let Some(w) = sinks.rejects.as_deref_mut() {
                writeln!(w, "{encoded}")?;
            }
        }
        if let Some(w) = sinks.passed.as_deref_mut() {
            w.flush()?;
        }
        progress(stats.bytes);
    }
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

