//! De-identification: a table of positive and negative examples per PII type.

use vg_corpora::pii::{deidentify, PiiDetector, PiiKind};

/// Each row: text, and the (kind, value) findings expected in it, in order.
fn table() -> Vec<(&'static str, Vec<(PiiKind, &'static str)>)> {
    use PiiKind::*;
    vec![
        // e-mail
        ("write to jane.doe+billing@mail.example.co.uk today", vec![(Email, "jane.doe+billing@mail.example.co.uk")]),
        ("contact: o'neil_42@example.org.", vec![(Email, "neil_42@example.org")]),
        ("not an email: user@localhost or @handle", vec![]),
        // URL with credentials (whole URL), plain URLs are not PII
        ("get https://admin:s3cr3t@db.example.net:5432/x?y=1 now", vec![(UrlCredentials, "https://admin:s3cr3t@db.example.net:5432/x?y=1")]),
        ("see https://example.com/path?q=1 and ftp://files.example.org/a", vec![]),
        // payment cards: Luhn-valid vs invalid, grouping
        ("card 4111 1111 1111 1111 on file", vec![(Card, "4111 1111 1111 1111")]),
        ("card 4111-1111-1111-1111", vec![(Card, "4111-1111-1111-1111")]),
        ("amex 378282246310005.", vec![(Card, "378282246310005")]),
        ("mastercard 5555555555554444 exp 12/27", vec![(Card, "5555555555554444")]),
        ("bad luhn 4111 1111 1111 1112", vec![]),
        ("order 1234567890123456 shipped", vec![]), // Luhn-invalid 16 digits
        ("tracking 7946016485912331 (starts with 7)", vec![]), // Luhn-valid but no card network
        // IBAN: checksum-valid vs invalid
        ("IBAN GB82 WEST 1234 5698 7654 32 please", vec![(Iban, "GB82 WEST 1234 5698 7654 32")]),
        ("pay DE89370400440532013000 today", vec![(Iban, "DE89370400440532013000")]),
        ("IBAN GB82 WEST 1234 5698 7654 33", vec![]),
        ("DE00370400440532013000 is not valid", vec![]),
        // US SSN
        ("SSN 123-45-6789 on file", vec![(Ssn, "123-45-6789")]),
        ("SSN 078 05 1120", vec![(Ssn, "078 05 1120")]),
        ("invalid 000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567, 123-45-0000, mixed 123-45 6789", vec![]),
        // IP addresses
        ("login from 203.0.113.45 at noon", vec![(Ipv4, "203.0.113.45")]),
        ("from 2001:db8:85a3::8a2e:370:7334.", vec![(Ipv6, "2001:db8:85a3::8a2e:370:7334")]),
        ("v1.2.3.4.5, 256.1.1.1, 01.02.03.04, at 10:30:00 and 12:45", vec![]),
        ("std::vector and C::D are code, not addresses", vec![]),
        // phones: international and national forms
        ("call +1 (415) 555-0134 or +44 20 7946 0958", vec![(Phone, "+1 (415) 555-0134"), (Phone, "+44 20 7946 0958")]),
        ("office (212) 555-0199, cell 646.555.0112", vec![(Phone, "(212) 555-0199"), (Phone, "646.555.0112")]),
        ("UK mobile 07700 900123, Paris 01 42 68 53 00", vec![(Phone, "07700 900123"), (Phone, "01 42 68 53 00")]),
        ("Berlin +49 30 1234 5678", vec![(Phone, "+49 30 1234 5678")]),
        ("phone: 4155550134", vec![(Phone, "4155550134")]),
        // phone-like numbers that are not phones
        ("date 2024-03-15, 15.03.2024 and 03/15/2024", vec![]),
        ("version 10.2.3 and build 2024.03.15", vec![]),
        ("order ORD-2024-558812 and ticket CS-4827193", vec![]),
        ("total 1,234,567.89 EUR; ratio 0.333", vec![]),
        ("ISBN 978-3-16-148410-0", vec![]),
        ("phone: 2024-03-15", vec![]),
        ("room 1234 5678 9", vec![]),
    ]
}

#[test]
fn detector_matches_the_table() {
    let det = PiiDetector::new();
    let mut failures = Vec::new();
    for (text, expected) in table() {
        let got: Vec<(PiiKind, &str)> = det.find(text).iter().map(|m| (m.kind, &text[m.start..m.end])).collect();
        if got != expected {
            failures.push(format!("{text:?}\n   expected {expected:?}\n   got      {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} rows differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn placeholders_replace_values_and_kept_types_stay() {
    let det = PiiDetector::new();
    let text = "mail a@example.com, call +1 415 555 0134, card 4111111111111111, ip 10.1.2.3";
    let d = deidentify(&det, text, &[]);
    assert_eq!(d.text, "mail <EMAIL>, call <PHONE>, card <CARD>, ip <IP>");
    assert_eq!(d.replaced.iter().sum::<u64>(), 4);
    let d = deidentify(&det, text, &[PiiKind::Phone]);
    assert_eq!(d.text, "mail <EMAIL>, call +1 415 555 0134, card <CARD>, ip <IP>");
    assert_eq!(d.kept_values, vec![(PiiKind::Phone, "+1 415 555 0134".to_string())]);
}

#[test]
fn keep_pii_names_parse() {
    use vg_corpora::pii::parse_kinds;
    assert_eq!(parse_kinds("email, ip").unwrap(), vec![PiiKind::Email, PiiKind::Ipv6, PiiKind::Ipv4]);
    assert!(parse_kinds("EMAIL,passport").unwrap_err().contains("passport"));
}
