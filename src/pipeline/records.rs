//! JSON Lines input of the commands that take records from a user (`score`, `generate`, `audit`):
//! one object per line, the text in a named field, the id in `id` when present.

use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{bail, Context};

/// One input record.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRecord {
    /// The record's `id` field (a string, or a number written as text), else its 1-based line number.
    pub id: String,
    /// The text of the chosen field.
    pub text: String,
}

/// Reads `path` (JSON Lines), taking the text from `field`. Blank lines are skipped; a line that is
/// not a JSON object or lacks a string `field` is an error naming the file and line.
pub fn read_jsonl(path: &Path, field: &str) -> anyhow::Result<Vec<InputRecord>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line_no = i + 1;
        let line = line.with_context(|| format!("{}: line {line_no}: cannot read", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("{}: line {line_no}: not JSON", path.display()))?;
        let Some(obj) = v.as_object() else { bail!("{}: line {line_no}: not a JSON object", path.display()) };
        let text = match obj.get(field) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => bail!("{}: line {line_no}: field {field:?} is {other}, not a string", path.display()),
            None => bail!("{}: line {line_no}: missing field {field:?} (choose the text field with --field)", path.display()),
        };
        let id = match obj.get("id") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(other) => bail!("{}: line {line_no}: field \"id\" is {other}, not a string or number", path.display()),
            None => line_no.to_string(),
        };
        out.push(InputRecord { id, text });
    }
    if out.is_empty() {
        bail!("{}: no records", path.display());
    }
    Ok(out)
}
