//! Text normalisation, the first cleaning step: Unicode NFC, control and invisible format
//! characters removed, runs of spaces folded to one space and runs of line breaks to one, trimmed.
//!
//! Removing invisible characters matters for privacy too: a zero-width space inside an e-mail
//! address would otherwise hide it from the PII detector.

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Invisible format characters (Unicode category Cf) that are dropped.
fn is_format_char(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// Normalises one record (see the module documentation).
pub fn normalize(text: &str) -> String {
    if is_clean_ascii(text.as_bytes()) {
        return text.to_string();
    }
    if text.is_ascii() {
        return fold(text.chars());
    }
    match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => fold(text.chars()),
        _ => fold(text.nfc()),
    }
}

/// Already normal: printable ASCII and single line breaks, no doubled, leading or trailing separators.
fn is_clean_ascii(b: &[u8]) -> bool {
    let sep = |c: u8| c == b' ' || c == b'\n';
    if b.first().is_some_and(|&c| sep(c)) || b.last().is_some_and(|&c| sep(c)) {
        return false;
    }
    let mut prev_sep = false;
    for &c in b {
        let is_sep = sep(c);
        if (is_sep && prev_sep) || (!is_sep && !(0x20..0x7F).contains(&c)) {
            return false;
        }
        prev_sep = is_sep;
    }
    true
}

fn fold(chars: impl Iterator<Item = char>) -> String {
    let mut out = String::new();
    // pending separator: 0 none, 1 space, 2 newline
    let mut pending = 0u8;
    for c in chars {
        let sep = match c {
            '\n' | '\r' | '\u{2028}' | '\u{2029}' | '\u{0B}' | '\u{0C}' | '\u{85}' => 2,
            c if c.is_whitespace() => 1,
            c if c.is_control() || is_format_char(c) => continue,
            _ => 0,
        };
        if sep > 0 {
            pending = pending.max(sep);
            continue;
        }
        if pending > 0 && !out.is_empty() {
            out.push(if pending == 2 { '\n' } else { ' ' });
        }
        pending = 0;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_whitespace_and_removes_controls() {
        assert_eq!(normalize("  a \t b\r\n\n  c\u{0007}d  "), "a b\nc" .to_string() + "d");
        assert_eq!(normalize("jo\u{200B}hn@example.com"), "john@example.com");
        // "e" + combining acute → precomposed é (NFC)
        assert_eq!(normalize("caf\u{0065}\u{0301}"), "caf\u{00E9}");
        assert_eq!(normalize(" \n\t "), "");
        assert_eq!(normalize("clean line\nsecond line"), "clean line\nsecond line");
        assert_eq!(normalize("a \nb"), "a\nb");
        assert_eq!(normalize("a\n\nb"), "a\nb");
    }
}
