//! The continued-inspection report: a `scan serve --sample-log` file (JSON Lines, one sampled
//! verdict per line) rendered as one HTML page — flag rates per 1,000 outputs over time for each
//! reason kind, totals, and the worst examples (already redacted by the scanner; escaped here).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use crate::html::escape;
use crate::page::{kv, page, plot_box, table, td, tdn};
use crate::Error;

/// Reason kinds, in the order they are shown.
const KINDS: [&str; 3] = ["verbatim", "canary", "pii"];
/// Worst examples listed.
const WORST: usize = 20;
/// Most time buckets in the rate plot.
const BUCKETS: f64 = 40.0;

/// One reason of a logged verdict (only what the report reads).
#[derive(Debug, Clone, Deserialize)]
pub struct LoggedReason {
    /// `verbatim`, `canary` or `pii`.
    pub kind: String,
    /// Verbatim span length in tokens.
    #[serde(default)]
    pub tokens: Option<u64>,
    /// Canary inserted into training.
    #[serde(default)]
    pub in_training: Option<bool>,
    /// PII value seen in training.
    #[serde(default)]
    pub seen_in_training: Option<bool>,
    /// PII type.
    #[serde(default, rename = "type")]
    pub pii_type: Option<String>,
}

impl LoggedReason {
    fn training_data(&self) -> bool {
        self.kind == "verbatim" || self.in_training == Some(true) || self.seen_in_training == Some(true)
    }
}

/// One sampled verdict.
#[derive(Debug, Clone, Deserialize)]
pub struct LoggedVerdict {
    /// Seconds since the Unix epoch.
    pub t: f64,
    /// RFC 3339 time.
    #[serde(default)]
    pub ts: String,
    /// The caller's id.
    #[serde(default)]
    pub id: serde_json::Value,
    /// `pass`, `flag` or `error`.
    pub verdict: String,
    /// Reasons.
    #[serde(default)]
    pub reasons: Vec<LoggedReason>,
    /// Redacted text.
    #[serde(default)]
    pub text: Option<String>,
}

impl LoggedVerdict {
    fn has(&self, kind: &str) -> bool {
        self.reasons.iter().any(|r| r.kind == kind)
    }
    /// Severity for ranking: training-data reasons, then the longest verbatim span, then reasons.
    fn severity(&self) -> (usize, u64, usize) {
        let training = self.reasons.iter().filter(|r| r.training_data()).count();
        let longest = self.reasons.iter().filter_map(|r| r.tokens).max().unwrap_or(0);
        (training, longest, self.reasons.len())
    }
}

/// A parsed sample log.
#[derive(Debug, Clone, Default)]
pub struct ScanLog {
    /// The entries, in file order.
    pub entries: Vec<LoggedVerdict>,
    /// A last line without its line break (a write in progress) that was left out.
    pub partial_last_line: bool,
}

/// Parses a sample log; a malformed line is an error naming it, except an unterminated last line.
pub fn parse_scan_log(text: &str) -> Result<ScanLog, Error> {
    let mut log = ScanLog::default();
    let lines: Vec<&str> = text.split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<LoggedVerdict>(line) {
            Ok(v) => log.entries.push(v),
            Err(_) if i + 1 == lines.len() => log.partial_last_line = true,
            Err(e) => return Err(Error::Json { what: format!("scan log line {}", i + 1), source: e }),
        }
    }
    Ok(log)
}

/// A round bucket width (seconds) giving at most [`BUCKETS`] buckets over `span` seconds.
fn bucket_width(span: f64) -> f64 {
    let raw = (span / BUCKETS).max(1.0);
    [1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0, 604800.0]
        .into_iter()
        .find(|&w| w >= raw)
        .unwrap_or(raw.ceil())
}

/// Per-bucket rates per 1,000 sampled outputs: (bucket start offset in seconds, outputs, count per kind and "flag").
fn buckets(log: &ScanLog) -> (f64, f64, Vec<(f64, u64, BTreeMap<&'static str, u64>)>) {
    let t0 = log.entries.iter().map(|e| e.t).fold(f64::INFINITY, f64::min);
    let t1 = log.entries.iter().map(|e| e.t).fold(f64::NEG_INFINITY, f64::max);
    if !t0.is_finite() {
        return (0.0, 1.0, Vec::new());
    }
    let width = bucket_width(t1 - t0);
    let mut by: BTreeMap<u64, (u64, BTreeMap<&'static str, u64>)> = BTreeMap::new();
    for e in &log.entries {
        let b = ((e.t - t0) / width).floor() as u64;
        let slot = by.entry(b).or_default();
        slot.0 += 1;
        for kind in KINDS.into_iter().chain(["flag"]) {
            let hit = if kind == "flag" { e.verdict == "flag" } else { e.has(kind) };
            *slot.1.entry(kind).or_default() += u64::from(hit);
        }
    }
    (t0, width, by.into_iter().map(|(b, (n, c))| (b as f64 * width, n, c)).collect())
}

/// Renders the sample log as one HTML page; `source` names the file in the page.
pub fn render_scan_log(log: &ScanLog, source: &str) -> String {
    let mut body = String::new();
    let _ = writeln!(body, "<h1>Output scan: continued inspection</h1>");
    let n = log.entries.len() as u64;
    let count = |pred: &dyn Fn(&LoggedVerdict) -> bool| log.entries.iter().filter(|e| pred(e)).count() as u64;
    let per_k = |c: u64| if n == 0 { "n/a".to_string() } else { format!("{:.1}", 1000.0 * c as f64 / n as f64) };
    let first = log.entries.iter().map(|e| e.ts.as_str()).min().unwrap_or("");
    let last = log.entries.iter().map(|e| e.ts.as_str()).max().unwrap_or("");
    body.push_str(&kv(&[
        ("sample log", source.to_string()),
        ("sampled verdicts", n.to_string()),
        ("from", first.to_string()),
        ("to", last.to_string()),
    ]));
    if log.partial_last_line {
        body.push_str("<p class=\"note\">The last line was incomplete (being written) and was left out.</p>\n");
    }
    let mut rows = vec![
        vec![td("flagged (any reason)"), tdn(&count(&|e| e.verdict == "flag").to_string()), tdn(&per_k(count(&|e| e.verdict == "flag")))],
        vec![td("unreadable input"), tdn(&count(&|e| e.verdict == "error").to_string()), tdn(&per_k(count(&|e| e.verdict == "error")))],
    ];
    for kind in KINDS {
        let c = count(&|e| e.has(kind));
        rows.push(vec![td(kind), tdn(&c.to_string()), tdn(&per_k(c))]);
    }
    let training = count(&|e| e.reasons.iter().any(LoggedReason::training_data));
    rows.push(vec![td("training data (verbatim, included canary, PII seen in training)"), tdn(&training.to_string()), tdn(&per_k(training))]);
    body.push_str("<h2>Rates</h2>\n");
    body.push_str(&table(&["outputs", "count", "per 1,000"], &rows));

    let (_, width, series) = buckets(log);
    let unit = if width >= 3600.0 { 3600.0 } else if width >= 60.0 { 60.0 } else { 1.0 };
    let unit_name = match unit as u64 { 3600 => "hours", 60 => "minutes", _ => "seconds" };
    let lines: Vec<(String, Vec<[f64; 2]>)> = KINDS
        .into_iter()
        .chain(["flag"])
        .map(|kind| {
            let pts = series.iter().map(|(x, n, c)| [x / unit, 1000.0 * c[kind] as f64 / (*n).max(1) as f64]).collect();
            (if kind == "flag" { "any flag".to_string() } else { kind.to_string() }, pts)
        })
        .collect();
    body.push_str("<h2>Rates over time</h2>\n");
    if series.len() >= 2 {
        body.push_str(&plot_box(crate::plots::lines(
            "flagged outputs per 1,000 sampled",
            &format!("{unit_name} since the first sample (buckets of {width} s)"),
            "per 1,000",
            &lines,
        )));
    } else {
        body.push_str("<p class=\"note\">All samples fall in one time bucket: no plot.</p>\n");
    }

    let mut worst: Vec<&LoggedVerdict> = log.entries.iter().filter(|e| e.verdict == "flag").collect();
    worst.sort_by(|a, b| b.severity().cmp(&a.severity()).then(a.t.total_cmp(&b.t)));
    body.push_str("<h2>Worst examples (redacted)</h2>\n");
    let rows: Vec<Vec<String>> = worst
        .into_iter()
        .take(WORST)
        .map(|e| {
            let reasons: Vec<String> = e
                .reasons
                .iter()
                .map(|r| match (r.kind.as_str(), r.tokens, &r.pii_type) {
                    ("verbatim", Some(t), _) => format!("verbatim {t} tokens"),
                    ("pii", _, Some(p)) => format!("pii {p}{}", if r.seen_in_training == Some(true) { " (in training)" } else { "" }),
                    ("canary", _, _) => format!("canary{}", if r.in_training == Some(true) { " (included)" } else { " (not included)" }),
                    (k, _, _) => k.to_string(),
                })
                .collect();
            vec![td(&e.ts), td(&e.id.to_string()), td(&reasons.join(", ")), td(e.text.as_deref().unwrap_or(""))]
        })
        .collect();
    if rows.is_empty() {
        body.push_str("<p>No flagged output in the sample.</p>\n");
    } else {
        body.push_str(&table(&["time", "id", "reasons", "text (redacted)"], &rows));
    }
    let _ = writeln!(body, "<p class=\"note\">Text was redacted by the scanner before it was logged; {} is shown as logged, escaped.</p>", escape("<VERBATIM>, <EMAIL>, …"));
    page("vg-audit output scan", &body)
}

