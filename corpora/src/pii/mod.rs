//! PII detection and de-identification: e-mail, phone, payment card (Luhn), IBAN (mod 97), US SSN,
//! IPv4/IPv6 and URLs with credentials, each replaced by a typed placeholder (`<EMAIL>`, ...).
//!
//! Detection is a regex candidate followed by a structural check (checksum, ranges, the
//! characters around it), so dates, versions and order numbers are not taken for PII.
//! Overlapping findings are resolved leftmost-longest, ties by [`PiiKind`] order.

pub mod checks;
mod hasher;

use std::str::FromStr;

use regex::Regex;

pub use hasher::{default_key_path, write_hash_set, PiiHasher};

/// A type of personal data the detector finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PiiKind {
    /// `scheme://user:password@host/...` (the whole URL is replaced).
    UrlCredentials,
    /// E-mail address.
    Email,
    /// IBAN, checksum-checked.
    Iban,
    /// Payment card number, Luhn-checked.
    Card,
    /// US Social Security number.
    Ssn,
    /// IPv6 address.
    Ipv6,
    /// IPv4 address.
    Ipv4,
    /// Phone number (international `+CC ...`, North American, common European national forms, or after "phone:").
    Phone,
}

impl PiiKind {
    /// Every kind, in priority order.
    pub const ALL: [PiiKind; 8] = [
        PiiKind::UrlCredentials,
        PiiKind::Email,
        PiiKind::Iban,
        PiiKind::Card,
        PiiKind::Ssn,
        PiiKind::Ipv6,
        PiiKind::Ipv4,
        PiiKind::Phone,
    ];

    /// The placeholder that replaces a value of this kind.
    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::UrlCredentials => "<URL_CREDENTIALS>",
            PiiKind::Email => "<EMAIL>",
            PiiKind::Iban => "<IBAN>",
            PiiKind::Card => "<CARD>",
            PiiKind::Ssn => "<SSN>",
            PiiKind::Ipv6 | PiiKind::Ipv4 => "<IP>",
            PiiKind::Phone => "<PHONE>",
        }
    }

    /// The name used in the manifest and on the command line (`EMAIL`, `PHONE`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PiiKind::UrlCredentials => "URL_CREDENTIALS",
            PiiKind::Email => "EMAIL",
            PiiKind::Iban => "IBAN",
            PiiKind::Card => "CARD",
            PiiKind::Ssn => "SSN",
            PiiKind::Ipv6 => "IPV6",
            PiiKind::Ipv4 => "IPV4",
            PiiKind::Phone => "PHONE",
        }
    }

    /// Canonical form of a value for keyed hashing, so the same value written differently
    /// (spaces in a card number, case of an e-mail) hashes the same.
    pub fn canonical(self, value: &str) -> String {
        match self {
            PiiKind::Card | PiiKind::Ssn => value.chars().filter(char::is_ascii_digit).collect(),
            PiiKind::Phone => value.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect(),
            PiiKind::Iban => value.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect(),
            PiiKind::Email => value.to_lowercase(),
            PiiKind::Ipv6 => value.parse::<std::net::Ipv6Addr>().map(|a| a.to_string()).unwrap_or_else(|_| value.to_lowercase()),
            PiiKind::Ipv4 | PiiKind::UrlCredentials => value.to_string(),
        }
    }
}

impl FromStr for PiiKind {
    type Err = String;
    /// Parses a name as `--keep-pii` takes it; `IP` means both IPv4 and IPv6 (use [`parse_kinds`]).
    fn from_str(s: &str) -> Result<Self, String> {
        let up = s.trim().to_ascii_uppercase().replace('-', "_");
        PiiKind::ALL.into_iter().find(|k| k.name() == up).ok_or_else(|| {
            format!("unknown PII type {s:?} (known: EMAIL, PHONE, CARD, IBAN, SSN, IP, IPV4, IPV6, URL_CREDENTIALS)")
        })
    }
}

/// Parses a comma-separated list of PII type names (`EMAIL,PHONE`; `IP` = IPV4 + IPV6).
pub fn parse_kinds(list: &str) -> Result<Vec<PiiKind>, String> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part.eq_ignore_ascii_case("ip") {
            out.extend([PiiKind::Ipv4, PiiKind::Ipv6]);
        } else {
            out.push(part.parse()?);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// One finding: `text[start..end]` is a value of `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiMatch {
    /// Type of the value.
    pub kind: PiiKind,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

/// The compiled detectors. Build once, share across threads.
#[derive(Debug, Clone)]
pub struct PiiDetector {
    url: Regex,
    email: Regex,
    iban: Regex,
    card: Regex,
    ssn: Regex,
    ipv6: Regex,
    ipv4: Regex,
    phone_intl: Regex,
    phone_nanp: Regex,
    phone_national: Regex,
    phone_keyword: Regex,
}

impl Default for PiiDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl PiiDetector {
    /// Compiles the detectors.
    pub fn new() -> Self {
        let re = |p: &str| Regex::new(p).expect("built-in PII pattern compiles");
        PiiDetector {
            url: re(r"(?i)\b[a-z][a-z0-9+.\-]{1,15}://[^\s/:@]+:[^\s/@]*@[^\s/?#]+[^\s]*"),
            email: re(r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,24}\b"),
            iban: re(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
            card: re(r"\b[0-9](?:[ \-]?[0-9]){12,18}\b"),
            ssn: re(r"\b([0-9]{3})([\- ])([0-9]{2})([\- ])([0-9]{4})\b"),
            ipv6: re(r"(?i)[0-9a-f:]*:[0-9a-f]*:[0-9a-f:.]*"),
            ipv4: re(r"\b[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\b"),
            phone_intl: re(r"\+[0-9]{1,3}(?:[ .\-]?\(?[0-9]{1,4}\)?){2,6}"),
            phone_nanp: re(r"(?:\b1[ .\-])?(?:\([2-9][0-9]{2}\) ?|\b[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}\b"),
            phone_national: re(r"\b0[1-9](?:[0-9]{1,3}[ \-][0-9]{3,4}[ \-]?[0-9]{3,4}|(?:[ .][0-9]{2}){4})\b"),
            phone_keyword: re(r"(?i)\b(?:phone|tel|telephone|mobile|cell|fax)\b\.?(?: ?(?:no|number|nr|#)\.?)?\s*[:#]?\s*(\+?[0-9][0-9 ().\-]{5,18}[0-9])"),
        }
    }

    /// All findings in `text`, non-overlapping, sorted by start.
    pub fn find(&self, text: &str) -> Vec<PiiMatch> {
        let bytes = text.as_bytes();
        let has_digit = bytes.iter().any(u8::is_ascii_digit);
        let has_at = memchr_byte(b'@', bytes);
        let has_colon = memchr_byte(b':', bytes);
        let mut found: Vec<PiiMatch> = Vec::new();
        let mut push = |kind, start, end| found.push(PiiMatch { kind, start, end });

        if has_at && has_colon {
            for m in self.url.find_iter(text) {
                let end = trim_trailing_punct(text, m.start(), m.end());
                push(PiiKind::UrlCredentials, m.start(), end);
            }
        }
        if has_at {
            for m in self.email.find_iter(text) {
                push(PiiKind::Email, m.start(), m.end());
            }
        }
        if has_digit {
            for m in self.iban.find_iter(text) {
                if let Some(end) = longest_valid_prefix(m.as_str(), 15, |c| checks::iban_valid(c)) {
                    push(PiiKind::Iban, m.start(), m.start() + end);
                }
            }
            for m in self.card.find_iter(text) {
                if !isolated(bytes, m.start(), m.end()) {
                    continue;
                }
                if let Some(end) = longest_valid_prefix(m.as_str(), 13, |c| checks::card_valid(c)) {
                    push(PiiKind::Card, m.start(), m.start() + end);
                }
            }
            for c in self.ssn.captures_iter(text) {
                let m = c.get(0).expect("group 0");
                let (sep1, sep2) = (&c[2], &c[4]);
                if sep1 == sep2 && isolated(bytes, m.start(), m.end()) && checks::ssn_valid(&c[1], &c[3], &c[5]) {
                    push(PiiKind::Ssn, m.start(), m.end());
                }
            }
            for m in self.ipv4.find_iter(text) {
                if isolated(bytes, m.start(), m.end()) && checks::ipv4_valid(m.as_str()) {
                    push(PiiKind::Ipv4, m.start(), m.end());
                }
            }
            for re in [&self.phone_intl, &self.phone_nanp, &self.phone_national] {
                for m in re.find_iter(text) {
                    let end = trim_trailing_punct(text, m.start(), m.end());
                    if phone_plausible(&text[m.start()..end]) && isolated(bytes, m.start(), end) {
                        push(PiiKind::Phone, m.start(), end);
                    }
                }
            }
            for c in self.phone_keyword.captures_iter(text) {
                let g = c.get(1).expect("group 1");
                let end = trim_trailing_punct(text, g.start(), g.end());
                if phone_plausible(&text[g.start()..end]) && isolated(bytes, g.start(), end) && !looks_like_date(&text[g.start()..end]) {
                    push(PiiKind::Phone, g.start(), end);
                }
            }
        }
        if has_colon {
            for m in self.ipv6.find_iter(text) {
                let end = trim_trailing_punct(text, m.start(), m.end());
                let cand = &text[m.start()..end];
                let before_ok = m.start() == 0 || !text[..m.start()].chars().next_back().is_some_and(char::is_alphanumeric);
                let after_ok = !text[end..].chars().next().is_some_and(char::is_alphanumeric);
                if before_ok && after_ok && checks::ipv6_valid(cand) {
                    push(PiiKind::Ipv6, m.start(), end);
                }
            }
        }
        resolve_overlaps(found)
    }
}

fn memchr_byte(b: u8, hay: &[u8]) -> bool {
    hay.contains(&b)
}

/// Drops trailing punctuation that ends sentences rather than values.
fn trim_trailing_punct(text: &str, start: usize, mut end: usize) -> usize {
    while end > start && matches!(text.as_bytes()[end - 1], b'.' | b',' | b';' | b':' | b')' | b'!' | b'?' | b'\'' | b'"' | b'-' | b' ') {
        // keep a closing parenthesis that has an opening one inside the value
        if text.as_bytes()[end - 1] == b')' && text[start..end].contains('(') {
            break;
        }
        end -= 1;
    }
    end
}

/// The value is not glued to more digits or letters: "12-34-5678-9" or "v1.2.3.4.5" must not yield a part.
fn isolated(bytes: &[u8], start: usize, end: usize) -> bool {
    let glued = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let joiner = |c: u8| matches!(c, b'-' | b'.' | b'/' | b',');
    if start > 0 {
        let p = bytes[start - 1];
        if glued(p) || (joiner(p) && start >= 2 && bytes[start - 2].is_ascii_digit()) {
            return false;
        }
    }
    if end < bytes.len() {
        let n = bytes[end];
        if glued(n) || (joiner(n) && bytes.get(end + 1).is_some_and(u8::is_ascii_digit)) {
            return false;
        }
    }
    true
}

/// Longest prefix of `cand` (cut at separator boundaries) whose compacted form passes `ok`;
/// returns its byte length. Handles a value followed by an unrelated number group.
fn longest_valid_prefix(cand: &str, min_len: usize, ok: impl Fn(&[u8]) -> bool) -> Option<usize> {
    let mut cuts: Vec<usize> = cand.char_indices().filter(|(_, c)| *c == ' ' || *c == '-').map(|(i, _)| i).collect();
    cuts.push(cand.len());
    for &cut in cuts.iter().rev() {
        let compact: Vec<u8> = cand[..cut].bytes().filter(u8::is_ascii_alphanumeric).collect();
        if compact.len() < min_len {
            break;
        }
        if ok(&compact) {
            return Some(cut);
        }
    }
    None
}

/// 7–15 digits (E.164 allows at most 15), not all the same digit.
fn phone_plausible(s: &str) -> bool {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
    (7..=15).contains(&digits.len()) && digits.iter().any(|&d| d != digits[0])
}

/// `2024-03-15`, `15.03.2024`, `03/15/2024`: numbers in date shape are not phones.
fn looks_like_date(s: &str) -> bool {
    let groups: Vec<&str> = s.split(['-', '.', '/', ' ']).filter(|g| !g.is_empty()).collect();
    groups.len() == 3 && groups.iter().any(|g| g.len() == 4) && groups.iter().filter(|g| g.len() <= 2).count() == 2
}

/// Leftmost-longest selection of non-overlapping findings; equal spans go to the earlier kind.
fn resolve_overlaps(mut found: Vec<PiiMatch>) -> Vec<PiiMatch> {
    found.retain(|m| m.end > m.start);
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)).then(a.kind.cmp(&b.kind)));
    let mut out: Vec<PiiMatch> = Vec::with_capacity(found.len());
    for m in found {
        if out.last().is_none_or(|last| m.start >= last.end) {
            out.push(m);
        }
    }
    out
}

/// Outcome of de-identifying one text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deidentified {
    /// The text with replaced values.
    pub text: String,
    /// Replacements per kind, indexed like [`PiiKind::ALL`].
    pub replaced: [u64; 8],
    /// Kept values per kind, indexed like [`PiiKind::ALL`].
    pub kept: [u64; 8],
    /// The kept values (kind, value as written), for keyed hashing.
    pub kept_values: Vec<(PiiKind, String)>,
}

/// Index of a kind in [`PiiKind::ALL`].
pub fn kind_index(kind: PiiKind) -> usize {
    PiiKind::ALL.iter().position(|k| *k == kind).expect("kind is in ALL")
}

/// Replaces every finding whose kind is not in `keep` by its placeholder; kept ones are reported.
pub fn deidentify(detector: &PiiDetector, text: &str, keep: &[PiiKind]) -> Deidentified {
    deidentify_found(text, detector.find(text), keep)
}

/// [`deidentify`] with the findings of [`PiiDetector::find`] on `text` already at hand (callers
/// that also need the positions run the detector once).
pub fn deidentify_found(text: &str, found: Vec<PiiMatch>, keep: &[PiiKind]) -> Deidentified {
    let mut out = Deidentified::default();
    if found.is_empty() {
        out.text = text.to_string();
        return out;
    }
    let mut s = String::with_capacity(text.len());
    let mut pos = 0;
    for m in found {
        let i = kind_index(m.kind);
        if keep.contains(&m.kind) {
            out.kept[i] += 1;
            out.kept_values.push((m.kind, text[m.start..m.end].to_string()));
            continue;
        }
        out.replaced[i] += 1;
        s.push_str(&text[pos..m.start]);
        s.push_str(m.kind.placeholder());
        pos = m.end;
    }
    s.push_str(&text[pos..]);
    out.text = s;
    out
}
