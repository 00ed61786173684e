//! Redaction of extracted text shown in reports: canary secrets masked except their first
//! characters, then PII replaced by typed placeholders (`<EMAIL>`, ...). On by default; the
//! `--show-extracted` flag turns it off and the report says so.

use vg_corpora::pii::{PiiDetector, PiiKind};

/// Characters of a canary secret left visible.
pub const VISIBLE_SECRET_CHARS: usize = 2;

/// Redacts text for display.
#[derive(Debug, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
    detector: PiiDetector,
    show: bool,
}

impl Redactor {
    /// `show = true` returns text verbatim (the `--show-extracted` flag).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>, show: bool) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).map(str::to_string).collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets, detector: PiiDetector::new(), show }
    }

    /// The text as it may appear in a report.
    pub fn redact(&self, text: &str) -> String {
        if self.show {
            return text.to_string();
        }
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), &mask(secret));
            }
        }
        let matches = self.detector.find(&out);
        let mut redacted = String::with_capacity(out.len());
        let mut at = 0;
        for m in matches {
            if m.start < at {
                continue;
            }
            redacted.push_str(&out[at..m.start]);
            redacted.push_str(m.kind.placeholder());
            at = m.end;
        }
        redacted.push_str(&out[at..]);
        redacted
    }
}

impl Redactor {
    /// The redacted window of `text` around a hit at bytes `start..end`, `margin` bytes each side,
    /// widened so that it never cuts a canary secret or a PII value in two: a cut value would
    /// escape the detectors and show its digits (e.g. the tail of a card number) in the report.
    /// A PII hit (`hit` = its kind) is replaced by its placeholder whether or not the detectors
    /// find it again: the fragment search located it, which is reason enough to hide it.
    pub fn redact_around(&self, text: &str, start: usize, end: usize, margin: usize, hit: Option<PiiKind>) -> String {
        let mut from = floor_boundary(text, start.saturating_sub(margin));
        let mut to = ceil_boundary(text, (end + margin).min(text.len()));
        let mut spans: Vec<(usize, usize)> = self.detector.find(text).iter().map(|m| (m.start, m.end)).collect();
        for secret in &self.secrets {
            spans.extend(text.match_indices(secret.as_str()).map(|(i, s)| (i, i + s.len())));
        }
        // Widening may reach further spans: repeat until the window is stable.
        loop {
            let (f, t) = spans.iter().fold((from, to), |(f, t), &(a, b)| {
                let overlaps = a < t && b > f;
                (if overlaps && a < f { a } else { f }, if overlaps && b > t { b } else { t })
            });
            if (f, t) == (from, to) {
                break;
            }
            (from, to) = (f, t);
        }
        let hidden = hit.filter(|_| !self.show && start <= end && text.is_char_boundary(start) && text.is_char_boundary(end));
        match hidden {
            Some(kind) => self.redact(&format!("{}{}{}", &text[from..start.max(from)], kind.placeholder(), &text[end.min(to)..to])),
            None => self.redact(&text[from..to]),
        }
    }
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// `secret` with all but its first characters replaced by `*`.
pub fn mask(secret: &str) -> String {
    secret.chars().enumerate().map(|(i, c)| if i < VISIBLE_SECRET_CHARS { c } else { '*' }).collect()
}
