//! Checksums and structural rules that turn a regex candidate into a PII finding.

/// Luhn (mod 10) check over the ASCII digits of `digits` (ISO/IEC 7812-1, annex B).
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = (d - b'0') as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// A payment card number: 13–19 digits, a major-network leading digit (2–6), Luhn-valid.
pub fn card_valid(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && (b'2'..=b'6').contains(&digits[0]) && luhn_valid(digits)
}

/// IBAN lengths by country (ISO 13616 registry, SWIFT release 2024); other countries: 15–34.
fn iban_length(country: &[u8]) -> Option<usize> {
    Some(match country {
        b"AD" => 24, b"AE" => 23, b"AT" => 20, b"BE" => 16, b"BG" => 22, b"CH" => 21, b"CY" => 28,
        b"CZ" => 24, b"DE" => 22, b"DK" => 18, b"EE" => 20, b"ES" => 24, b"FI" => 18, b"FR" => 27,
        b"GB" => 22, b"GR" => 27, b"HR" => 21, b"HU" => 28, b"IE" => 22, b"IS" => 26, b"IT" => 27,
        b"LI" => 21, b"LT" => 20, b"LU" => 20, b"LV" => 21, b"MC" => 27, b"MT" => 31, b"NL" => 18,
        b"NO" => 15, b"PL" => 28, b"PT" => 25, b"RO" => 24, b"SA" => 24, b"SE" => 24, b"SI" => 19,
        b"SK" => 24, b"SM" => 27, b"TR" => 26,
        _ => return None,
    })
}

/// IBAN check (ISO 13616-1): country length, then the number with its first four characters
/// moved to the end and letters as 10..35 is ≡ 1 (mod 97) (ISO 7064 MOD 97-10).
/// `compact` must be upper-case alphanumerics without spaces.
pub fn iban_valid(compact: &[u8]) -> bool {
    if compact.len() < 15 || compact.len() > 34 {
        return false;
    }
    if !compact[..2].iter().all(u8::is_ascii_uppercase) || !compact[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    if let Some(len) = iban_length(&compact[..2]) {
        if len != compact.len() {
            return false;
        }
    }
    let mut rem = 0u32;
    for &c in compact[4..].iter().chain(&compact[..4]) {
        let v = match c {
            b'0'..=b'9' => (c - b'0') as u32,
            b'A'..=b'Z' => (c - b'A') as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

/// US SSN structure (SSA rules since 2011): area not 000, 666 or 9xx; group not 00; serial not 0000.
pub fn ssn_valid(area: &str, group: &str, serial: &str) -> bool {
    let a: u32 = area.parse().unwrap_or(0);
    a != 0 && a != 666 && a < 900 && group != "00" && serial != "0000"
}

/// IPv4 dotted quad with octets ≤ 255 and no leading zeros (a leading zero reads as a version or an id).
pub fn ipv4_valid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty() && p.len() <= 3 && (p.len() == 1 || !p.starts_with('0')) && p.parse::<u32>().is_ok_and(|v| v <= 255)
        })
}

/// IPv6 text form that the standard library parses, not unspecified, with at least three non-empty
/// groups or two carrying five hex digits (`fe80::1` yes, `C::D` in code no).
pub fn ipv6_valid(s: &str) -> bool {
    let groups = s.split(':').filter(|g| !g.is_empty()).count();
    let hex_digits = s.bytes().filter(u8::is_ascii_hexdigit).count();
    (groups >= 3 || (groups == 2 && hex_digits >= 5)) && s.parse::<std::net::Ipv6Addr>().is_ok_and(|a| !a.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_values() {
        assert!(luhn_valid(b"79927398713")); // the classic worked example
        assert!(!luhn_valid(b"79927398710"));
        assert!(card_valid(b"4111111111111111"));
        assert!(!card_valid(b"4111111111111112"));
    }

    #[test]
    fn iban_known_values() {
        assert!(iban_valid(b"GB82WEST12345698765432")); // ISO 13616 example
        assert!(iban_valid(b"DE89370400440532013000"));
        assert!(!iban_valid(b"GB82WEST12345698765433"));
        assert!(!iban_valid(b"DE8937040044053201300")); // one digit short for DE
    }
}
