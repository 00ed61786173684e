//! The built-in demo corpus: deterministic, synthetic but realistic sensitive records —
//! customer-service transcripts, clinical follow-up notes and financial risk-control notes —
//! with synthetic names, e-mail addresses, phone numbers, card numbers (Luhn-valid), IBANs
//! (checksum-valid), SSNs, IP addresses and dates, plus planted duplicates: exact copies,
//! copies that differ only in their PII (duplicates after de-identification) and near copies.
//!
//! Every sentence carries a high-entropy slot (amounts, ids, dates, readings), so unrelated
//! records do not share long verbatim spans and only the planted near copies are near duplicates.

use std::io::Write;
use std::path::Path;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::fsutil::atomic_write_with;
use crate::pii::PiiKind;

/// Kind of demo record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoKind {
    /// Customer-service chat transcript.
    CustomerService,
    /// Clinical follow-up note.
    Clinical,
    /// Financial risk-control note.
    RiskControl,
}

impl DemoKind {
    /// `customer_service`, `clinical` or `risk_control`.
    pub fn name(self) -> &'static str {
        match self {
            DemoKind::CustomerService => "customer_service",
            DemoKind::Clinical => "clinical",
            DemoKind::RiskControl => "risk_control",
        }
    }
}

/// How a planted duplicate relates to its original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planted {
    /// Identical text.
    Exact,
    /// Same text with different PII values (identical after de-identification).
    PiiOnly,
    /// Same text with one sentence added (shares a long verbatim span).
    Near,
}

/// One generated record with the PII values planted in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoRecord {
    /// Record kind.
    pub kind: DemoKind,
    /// The text.
    pub text: String,
    /// PII values as written in the text.
    pub pii: Vec<(PiiKind, String)>,
    /// For a planted duplicate: the index of the original and how it was copied.
    pub copy_of: Option<(usize, Planted)>,
}

/// Default number of records of `vg-audit corpus demo`.
pub const DEFAULT_RECORDS: usize = 12_000;

/// The texts of `n` demo records for `seed`.
pub fn generate(n: usize, seed: u64) -> Vec<String> {
    generate_records(n, seed).into_iter().map(|r| r.text).collect()
}

/// `n` demo records for `seed`, with their planted PII and duplicates. About 1 % exact copies,
/// 1 % PII-only copies and 2 % near copies.
pub fn generate_records(n: usize, seed: u64) -> Vec<DemoRecord> {
    let mut master = ChaCha8Rng::seed_from_u64(seed);
    let mut seeds: Vec<(u64, u64)> = Vec::with_capacity(n);
    let mut out: Vec<DemoRecord> = Vec::with_capacity(n);
    for i in 0..n {
        let roll: f64 = master.random();
        let (structure, pii_seed, copy) = if i >= 20 && roll < 0.04 {
            let j = master.random_range(0..i);
            let (s, p) = seeds[j];
            if roll < 0.01 {
                (s, p, Some((j, Planted::Exact)))
            } else if roll < 0.02 {
                (s, master.random(), Some((j, Planted::PiiOnly)))
            } else {
                (s, p, Some((j, Planted::Near)))
            }
        } else {
            (master.random(), master.random(), None)
        };
        seeds.push((structure, pii_seed));
        let mut rec = render(structure, pii_seed);
        if let Some((_, Planted::Near)) = copy {
            let mut r = ChaCha8Rng::seed_from_u64(master.random());
            rec.text.push_str(&format!(" {}", addendum(&mut r)));
        }
        rec.copy_of = copy;
        out.push(rec);
    }
    out
}

/// Writes `n` demo records as JSON Lines (`{"id", "kind", "text"}`) to `path`, atomically.
pub fn write_jsonl(path: &Path, n: usize, seed: u64) -> Result<u64> {
    let records = generate_records(n, seed);
    let mut bytes = 0u64;
    atomic_write_with(path, |w: &mut dyn Write| {
        for (i, r) in records.iter().enumerate() {
            let line = serde_json::json!({ "id": i, "kind": r.kind.name(), "text": r.text });
            let s = serde_json::to_string(&line).expect("json");
            bytes += s.len() as u64 + 1;
            w.write_all(s.as_bytes())?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })
    .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

fn render(structure: u64, pii_seed: u64) -> DemoRecord {
    let mut s = ChaCha8Rng::seed_from_u64(structure);
    let mut p = Pii { rng: ChaCha8Rng::seed_from_u64(pii_seed), planted: Vec::new() };
    let kind = *[DemoKind::CustomerService, DemoKind::Clinical, DemoKind::RiskControl].choose(&mut s).expect("non-empty");
    let text = match kind {
        DemoKind::CustomerService => customer_service(&mut s, &mut p),
        DemoKind::Clinical => clinical(&mut s, &mut p),
        DemoKind::RiskControl => risk_control(&mut s, &mut p),
    };
    DemoRecord { kind, text, pii: p.planted, copy_of: None }
}

const FIRST: &[&str] = &[
    "Aisha", "Ben", "Carla", "Dmitri", "Elena", "Farid", "Grace", "Hiroshi", "Ines", "Jonas", "Kemal", "Laura", "Mateo",
    "Nadia", "Oliver", "Priya", "Quentin", "Rosa", "Samuel", "Tamara", "Umar", "Valentina", "William", "Xin", "Yusuf",
    "Zoe", "Anton", "Beatriz", "Chidi", "Daniela", "Emil", "Fatima", "Gustav", "Hannah", "Ivan", "Julia", "Kofi",
    "Lucia", "Marcus", "Noor", "Oskar", "Paula", "Rafael", "Sofia", "Theo", "Ursula", "Viktor", "Wen", "Yara", "Zane",
];
const LAST: &[&str] = &[
    "Abara", "Becker", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova", "Jansen", "Kowalski",
    "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka", "Underwood", "Varga",
    "Weber", "Xu", "Yilmaz", "Zimmermann", "Almeida", "Brennan", "Chen", "Delgado", "Engel", "Fontaine", "Gallagher",
    "Horvat", "Iqbal", "Jovanovic", "Keller", "Lopez", "Mensah", "Novak", "Ortiz", "Popescu", "Reyes", "Svensson",
];
const DOMAINS: &[&str] = &["example.com", "mailbox.example.org", "inbox.test", "corp-mail.example.net", "fastpost.example", "webmail.example.co.uk"];
const PRODUCTS: &[&str] = &[
    "wireless router", "standing desk", "espresso machine", "noise-cancelling headphones", "smart thermostat",
    "running shoes", "winter jacket", "laptop sleeve", "air purifier", "electric toothbrush", "mobile plan",
    "fibre broadband", "travel insurance policy", "gym membership", "e-reader", "robot vacuum", "baby stroller",
];
const CITIES: &[&str] = &["Lisbon", "Toronto", "Nairobi", "Osaka", "Krakow", "Austin", "Lyon", "Manila", "Bogota", "Oslo", "Leeds", "Perth"];
const MONTHS: &[&str] = &["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/// PII slot generator; remembers what it planted.
struct Pii {
    rng: ChaCha8Rng,
    planted: Vec<(PiiKind, String)>,
}

impl Pii {
    fn plant(&mut self, kind: PiiKind, v: String) -> String {
        self.planted.push((kind, v.clone()));
        v
    }
    fn email(&mut self, first: &str, last: &str) -> String {
        let (f, l) = (first.to_lowercase(), last.to_lowercase());
        let n: u32 = self.rng.random_range(1..999);
        let local = match self.rng.random_range(0..4) {
            0 => format!("{f}.{l}"),
            1 => format!("{}{l}{n}", &f[..1]),
            2 => format!("{f}_{l}{}", n % 100),
            _ => format!("{l}.{f}{n}"),
        };
        let v = format!("{local}@{}", DOMAINS.choose(&mut self.rng).expect("domains"));
        self.plant(PiiKind::Email, v)
    }
    fn phone(&mut self) -> String {
        let r = &mut self.rng;
        let (a, e, l) = (r.random_range(201..990), r.random_range(200..1000), r.random_range(0..10000));
        let v = match r.random_range(0..7) {
            0 => format!("+1 ({a}) {e}-{l:04}"),
            1 => format!("+1 {a} {e} {l:04}"),
            2 => format!("({a}) {e}-{l:04}"),
            3 => format!("{a}-{e}-{l:04}"),
            4 => format!("+44 20 {} {:04}", r.random_range(7000..8000), r.random_range(0..10000)),
            5 => format!("+49 30 {} {:04}", r.random_range(1000..10000), r.random_range(0..10000)),
            _ => format!("07{} {}", r.random_range(100..1000), r.random_range(100_000..1_000_000)),
        };
        self.plant(PiiKind::Phone, v)
    }
    fn card(&mut self) -> String {
        let r = &mut self.rng;
        let (prefix, len): (String, usize) = match r.random_range(0..3) {
            0 => ("4".into(), 16),
            1 => (format!("5{}", r.random_range(1..6)), 16),
            _ => (if r.random_bool(0.5) { "34" } else { "37" }.into(), 15),
        };
        let mut digits: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
        while digits.len() < len - 1 {
            digits.push(r.random_range(0..10));
        }
        digits.push(luhn_check_digit(&digits));
        let s: String = digits.iter().map(|d| (b'0' + d) as char).collect();
        let v = match (len, r.random_range(0..3)) {
            (15, 0) => format!("{} {} {}", &s[..4], &s[4..10], &s[10..]),
            (_, 0) | (_, 1) if len == 16 => {
                let sep = if r.random_bool(0.5) { " " } else { "-" };
                format!("{}{sep}{}{sep}{}{sep}{}", &s[..4], &s[4..8], &s[8..12], &s[12..])
            }
            _ => s,
        };
        self.plant(PiiKind::Card, v)
    }
    fn iban(&mut self) -> String {
        let r = &mut self.rng;
        let (country, bban): (&str, String) = match r.random_range(0..3) {
            0 => ("DE", (0..18).map(|_| (b'0' + r.random_range(0..10u8)) as char).collect()),
            1 => {
                let bank: String = (0..4).map(|_| (b'A' + r.random_range(0..26u8)) as char).collect();
                ("GB", bank + &(0..14).map(|_| (b'0' + r.random_range(0..10u8)) as char).collect::<String>())
            }
            _ => ("FR", (0..23).map(|_| (b'0' + r.random_range(0..10u8)) as char).collect()),
        };
        let check = iban_check_digits(country, &bban);
        let compact = format!("{country}{check:02}{bban}");
        let v = if r.random_bool(0.6) {
            compact.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).expect("ascii")).collect::<Vec<_>>().join(" ")
        } else {
            compact
        };
        self.plant(PiiKind::Iban, v)
    }
    fn ssn(&mut self) -> String {
        let r = &mut self.rng;
        let mut area = r.random_range(1..900);
        if area == 666 {
            area = 665;
        }
        let v = format!("{area:03}-{:02}-{:04}", r.random_range(1..100), r.random_range(1..10000));
        self.plant(PiiKind::Ssn, v)
    }
    fn ipv4(&mut self) -> String {
        let r = &mut self.rng;
        let v = format!("{}.{}.{}.{}", r.random_range(11..224), r.random_range(0..256), r.random_range(0..256), r.random_range(1..255));
        self.plant(PiiKind::Ipv4, v)
    }
    fn ipv6(&mut self) -> String {
        let r = &mut self.rng;
        let v = format!("2001:db8:{:x}:{:x}::{:x}", r.random_range(1..0xffff), r.random_range(1..0xffff), r.random_range(1..0xffff));
        self.plant(PiiKind::Ipv6, v)
    }
    fn url_credentials(&mut self, user: &str) -> String {
        let pw: String = (0..10).map(|_| *b"abcdefghjkmnpqrstuvwxyz23456789".choose(&mut self.rng).expect("chars") as char).collect();
        let v = format!("https://{}:{pw}@files.example.net/export/{}", user.to_lowercase(), self.rng.random_range(1000..99999));
        self.plant(PiiKind::UrlCredentials, v)
    }
}

/// Luhn check digit for `digits` (ISO/IEC 7812-1).
fn luhn_check_digit(digits: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = d as u32;
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    ((10 - sum % 10) % 10) as u8
}

/// IBAN check digits (ISO 13616): 98 − (BBAN ‖ country ‖ "00" mod 97), letters as 10..35.
fn iban_check_digits(country: &str, bban: &str) -> u32 {
    let mut rem = 0u32;
    for c in bban.bytes().chain(country.bytes()).chain(*b"00") {
        rem = match c {
            b'0'..=b'9' => (rem * 10 + (c - b'0') as u32) % 97,
            _ => (rem * 100 + (c - b'A') as u32 + 10) % 97,
        };
    }
    98 - rem
}

fn date(r: &mut ChaCha8Rng) -> String {
    let (y, m, d) = (r.random_range(2019..2026), r.random_range(1..13usize), r.random_range(1..29));
    match r.random_range(0..3) {
        0 => format!("{y}-{m:02}-{d:02}"),
        1 => format!("{d} {} {y}", MONTHS[m - 1]),
        _ => format!("{m:02}/{d:02}/{y}"),
    }
}

fn money(r: &mut ChaCha8Rng) -> String {
    let cents = r.random_range(500..2_500_000u32);
    let cur = ["$", "EUR ", "GBP "].choose(r).expect("currencies");
    format!("{cur}{}.{:02}", group_thousands(cents / 100), cents % 100)
}

fn group_thousands(v: u32) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A synthetic name (names are not among the de-identified types; they stay in the text).
fn name(r: &mut ChaCha8Rng) -> (String, String) {
    (pick(r, FIRST).to_string(), pick(r, LAST).to_string())
}

fn pick<'a>(r: &mut ChaCha8Rng, xs: &[&'a str]) -> &'a str {
    xs.choose(r).expect("non-empty")
}

fn customer_service(s: &mut ChaCha8Rng, p: &mut Pii) -> String {
    let (first, last) = name(s);
    let agent = pick(s, FIRST);
    let product = pick(s, PRODUCTS);
    let ticket = s.random_range(1_000_000..9_999_999);
    let order = format!("ORD-{}-{:06}", s.random_range(2019..2026), s.random_range(0..1_000_000));
    let (hour, minute) = (s.random_range(7..22), s.random_range(0..60));
    let header = format!(
        "Ticket CS-{ticket} | {} | opened {} {hour:02}:{minute:02}",
        pick(s, &["chat", "phone callback", "email", "in-app chat"]),
        date(s)
    );
    let mut lines: Vec<String> = Vec::new();
    lines.push(format!(
        "Agent {agent}: {}",
        pick(s, &["Hi, thanks for reaching out. How can I help today?", "Good morning, you're through to support. What's going on?", "Hello! Sorry for the wait. What can I do for you?", "Thanks for contacting us. Could you describe the problem?"])
    ));
    let issue = match s.random_range(0..5) {
        0 => format!("My {product} from order {order} arrived damaged, the box was crushed and one part is missing."),
        1 => format!("I was charged {} twice for the {product} on {}.", money(s), date(s)),
        2 => format!("The {product} stopped working after {} days and the reset button does nothing.", s.random_range(2..90)),
        3 => format!("I want to cancel the {product}, order {order}, but the website keeps showing an error {}.", s.random_range(400..600)),
        _ => format!("Tracking for {order} has said 'in transit' since {} and I need the {product} by Friday.", date(s)),
    };
    lines.push(format!("Customer: {issue}"));
    lines.push(format!("Agent {agent}: {}", pick(s, &["I'm sorry about that. Can you confirm the email and phone on the account?", "Let me pull that up. What email address and phone number is the account under?", "I can look into it. Please verify your contact details for security."])));
    let email = p.email(&first, &last);
    let phone = p.phone();
    let customer_no = s.random_range(100_000..1_000_000);
    lines.push(format!(
        "Customer: {}",
        match s.random_range(0..4) {
            0 => format!("Sure, it's {email}, and my number is {phone}. The name is {first} {last}, customer no. C{customer_no}."),
            1 => format!("{first} {last}, customer C{customer_no}, email {email}, phone {phone}."),
            2 => format!("Customer number C{customer_no}. It should be {email}; call me on {phone} after {}:{:02}.", s.random_range(1..8), s.random_range(0..60)),
            _ => format!("My account is C{customer_no} under {first} {last}: {phone} and {email}."),
        }
    ));
    if s.random_bool(0.45) {
        let card = p.card();
        let (mm, yy) = (s.random_range(1..13), s.random_range(26..32));
        lines.push(format!(
            "Customer: {}",
            match s.random_range(0..3) {
                0 => format!("The {} payment was on my card {card}, expiry {mm:02}/{yy}.", money(s)),
                1 => format!("I paid {} with card {card} (exp {mm:02}/{yy}) on {}.", money(s), date(s)),
                _ => format!("Card used: {card}, valid to {mm:02}/{yy}, amount {}.", money(s)),
            }
        ));
        let reference = s.random_range(100_000..1_000_000);
        lines.push(format!(
            "Agent {agent}: {}",
            match s.random_range(0..3) {
                0 => format!("Refund reference RF-{reference}. Please don't share full card numbers in chat; I've masked it."),
                1 => format!("Thanks, noted under RF-{reference}. For your safety, never send the full card number in chat."),
                _ => format!("I've opened dispute RF-{reference} for that charge and removed the card number from the transcript."),
            }
        ));
    }
    if s.random_bool(0.08) {
        let url = p.url_credentials(&first);
        lines.push(format!("Customer: I uploaded the photos to {url} so you can see the damage."));
    }
    lines.push(format!(
        "Agent {agent}: {}",
        match s.random_range(0..4) {
            0 => format!("I've issued a refund of {} to the original payment method; allow {} business days.", money(s), s.random_range(3..11)),
            1 => format!("A replacement {product} ships on {} with express delivery, no charge.", date(s)),
            2 => format!("I've escalated this to our logistics team under case {}; you'll hear back within {} hours.", s.random_range(10_000..99_999), s.random_range(12..73)),
            _ => format!("The duplicate charge of {} has been reversed; it should disappear by {}.", money(s), date(s)),
        }
    ));
    lines.push(format!("Customer: {}", pick(s, &["Thanks, that's helpful.", "OK, I'll wait for the email.", "Fine, but this is the second time this happened.", "Great, appreciate it!"])));
    // a timestamp per message, as chat exports have them
    let mut t = hour * 3600 + minute * 60;
    let mut out = vec![header];
    for line in lines {
        t += s.random_range(5..240);
        out.push(format!("[{:02}:{:02}:{:02}] {line}", (t / 3600) % 24, (t / 60) % 60, t % 60));
    }
    out.join("\n")
}

fn clinical(s: &mut ChaCha8Rng, p: &mut Pii) -> String {
    let (first, last) = name(s);
    let doctor = pick(s, LAST);
    let condition = pick(s, &["type 2 diabetes", "hypertension", "asthma", "chronic migraine", "hypothyroidism", "atrial fibrillation", "COPD", "major depressive disorder", "rheumatoid arthritis", "chronic kidney disease stage 3"]);
    let drug = pick(s, &["metformin", "lisinopril", "salbutamol", "sumatriptan", "levothyroxine", "apixaban", "tiotropium", "sertraline", "methotrexate", "amlodipine"]);
    let mut parts = vec![
        format!(
            "Follow-up note {}. Patient {first} {last}, DOB {}, MRN {}.",
            date(s),
            date(s),
            s.random_range(1_000_000..99_999_999)
        ),
        format!("Seen by Dr. {doctor} for {condition}, visit {} of the current plan.", s.random_range(2..14)),
        format!(
            "Reports {} for the past {} days; {}.",
            pick(s, &["fatigue", "intermittent headaches", "shortness of breath on exertion", "poor sleep", "joint stiffness in the mornings", "dizziness when standing", "reduced appetite"]),
            s.random_range(2..60),
            pick(s, &["no fever", "denies chest pain", "no recent falls", "adherent to medication", "missed some doses", "weight stable"])
        ),
        format!(
            "Vitals: BP {}/{} mmHg, HR {} bpm, temp {}.{} C, weight {}.{} kg.",
            s.random_range(100..175),
            s.random_range(60..105),
            s.random_range(52..110),
            s.random_range(36..39),
            s.random_range(0..10),
            s.random_range(45..130),
            s.random_range(0..10)
        ),
        format!(
            "Medication: {drug} {} mg {}, {}.",
            [5, 10, 20, 25, 50, 75, 100, 250, 500, 1000].choose(s).expect("doses"),
            pick(s, &["once daily", "twice daily", "at night", "as needed", "weekly"]),
            pick(s, &["continue unchanged", "dose increased today", "dose reduced due to side effects", "switched from the previous agent", "review in four weeks"])
        ),
        format!(
            "Labs {}: {} {}.{} {}.",
            date(s),
            pick(s, &["HbA1c", "TSH", "eGFR", "LDL", "CRP", "potassium"]),
            s.random_range(1..120),
            s.random_range(0..10),
            pick(s, &["%", "mIU/L", "mL/min", "mmol/L", "mg/L"])
        ),
    ];
    let contact = match s.random_range(0..3) {
        0 => format!("Preferred contact: phone {}.", p.phone()),
        1 => format!("Patient asked for results by email to {}.", p.email(&first, &last)),
        _ => format!("Contact {} or {}.", p.phone(), p.email(&first, &last)),
    };
    parts.push(contact);
    if s.random_bool(0.35) {
        parts.push(format!("Insurance verification: SSN {} on file, plan {}.", p.ssn(), s.random_range(10_000..99_999)));
    }
    parts.push(format!(
        "Plan: {} Next appointment {}.",
        pick(s, &["repeat bloods before next visit.", "refer to physiotherapy.", "start home BP diary.", "dietitian referral sent.", "discussed warning signs and when to call.", "spirometry ordered."]),
        date(s)
    ));
    parts.join(" ")
}

fn risk_control(s: &mut ChaCha8Rng, p: &mut Pii) -> String {
    let (first, last) = name(s);
    let case = format!("RC-{}-{:05}", s.random_range(2019..2026), s.random_range(0..100_000));
    let alert = pick(s, &["velocity rule", "unusual geolocation", "structuring pattern", "account takeover signal", "chargeback cluster", "mule account indicators", "sanctions name match"]);
    let mut parts = vec![
        format!("Risk review {case} ({}). Customer {first} {last}, account {}, since {}.", date(s), s.random_range(10_000_000..99_999_999), s.random_range(2005..2025)),
        format!("IBAN on file {}.", p.iban()),
        format!(
            "Alert: {alert}; {} transactions totalling {} between {} and {}.",
            s.random_range(3..60),
            money(s),
            date(s),
            date(s)
        ),
    ];
    let ip = if s.random_bool(0.2) { p.ipv6() } else { p.ipv4() };
    parts.push(format!(
        "Login from IP {ip} ({}), device {} {}, {} failed attempts before success.",
        pick(s, CITIES),
        pick(s, &["Android", "iPhone", "Windows PC", "MacBook", "Linux desktop"]),
        s.random_range(8..18),
        s.random_range(0..9)
    ));
    if s.random_bool(0.6) {
        parts.push(format!(
            "Card {} {} on {} (case note {}).",
            p.card(),
            pick(s, &["blocked pending review", "flagged for 3-D Secure step-up", "reissued", "left active with limit lowered"]),
            date(s),
            s.random_range(1000..10_000)
        ));
    }
    if s.random_bool(0.4) {
        parts.push(format!(
            "Customer reached at {} at {:02}:{:02} and confirmed {}.",
            p.phone(),
            s.random_range(8..20),
            s.random_range(0..60),
            pick(s, &["the transfers", "travel abroad", "they did not authorise the payments", "a new phone"])
        ));
    }
    parts.push(format!(
        "Decision: {} Score {}/1000; analyst {}{}.",
        pick(s, &["no further action.", "file SAR within 30 days.", "freeze outgoing transfers.", "request source-of-funds documents.", "close relationship."]),
        s.random_range(100..1000),
        pick(s, FIRST).chars().next().expect("initial"),
        pick(s, LAST).chars().next().expect("initial")
    ));
    parts.join(" ")
}

fn addendum(r: &mut ChaCha8Rng) -> String {
    format!(
        "Addendum {}: {} (ref {}).",
        date(r),
        pick(r, &["record reviewed again, no change", "customer called back to confirm", "duplicate entry noted by QA", "supervisor sign-off added"]),
        r.random_range(10_000..99_999)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_cards_and_ibans_pass_their_checks() {
        for r in generate_records(300, 7) {
            for (k, v) in &r.pii {
                let compact: Vec<u8> = v.bytes().filter(u8::is_ascii_alphanumeric).collect();
                match k {
                    PiiKind::Card => assert!(crate::pii::checks::card_valid(&compact), "{v}"),
                    PiiKind::Iban => assert!(crate::pii::checks::iban_valid(&compact), "{v}"),
                    _ => {}
                }
            }
        }
    }
}
