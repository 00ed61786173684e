//! Typo suggestions for unknown keys in `audit.toml` ("did you mean `steps`?").

/// Turns serde's "unknown field `x`, expected one of ..." into a message with a suggestion.
pub(super) fn suggest(err: &toml::de::Error) -> String {
    let msg = err.message().to_string();
    let Some(rest) = msg.strip_prefix("unknown field `") else {
        return err.to_string();
    };
    let field = rest.split('`').next().unwrap_or_default();
    let expected: Vec<&str> = msg.split('`').skip(3).step_by(2).collect();
    let best = expected.iter().min_by_key(|cand| edit_distance(field, cand));
    match best {
        Some(b) if edit_distance(field, b) <= field.len().max(3) / 2 + 1 => {
            format!("{err}\nunknown key `{field}`: did you mean `{b}`?")
        }
        _ => format!("{err}\nunknown key `{field}`"),
    }
}

/// Levenshtein distance on chars, for key suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
