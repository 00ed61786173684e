//! The corpus manifest (vg-corpora's `manifest.json`, kept as JSON in the report data) read for
//! people: a short paragraph of the report's "Training data" section, the PII tally behind its
//! chart, and the preparation sentence of the model card.

use std::fmt::Write as _;

use serde_json::Value;

use crate::gate::fmt_num;
use crate::html::escape;
use crate::page::plot_box;
use crate::plots;

/// Values replaced by their placeholder, by PII type in the manifest's (alphabetical) order;
/// empty when the manifest has no `pii.replaced` tally.
fn replaced_by_type(manifest: &Value) -> Vec<(String, u64)> {
    manifest["pii"]["replaced"]
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))).collect())
        .unwrap_or_default()
}

/// The non-zero counts of [`replaced_by_type`], largest first (the chart's and the paragraph's order).
pub(crate) fn pii_replaced(manifest: &Value) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = replaced_by_type(manifest).into_iter().filter(|(_, n)| *n > 0).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// The "Training data" section: a paragraph and the PII chart, never nested JSON.
pub(crate) fn section(manifest: &Value) -> String {
    let mut b = String::from("<h2 id=\"manifest\">Training data</h2>\n");
    if manifest.is_null() {
        b.push_str("<p class=\"note\">No corpus manifest recorded.</p>\n");
        return b;
    }
    let counts = &manifest["counts"];
    if !counts.is_object() {
        // Not vg-corpora's layout (an older or hand-made manifest): its top-level figures only.
        b.push_str(&other_layout(manifest));
        return b;
    }
    let _ = writeln!(b, "<p id=\"manifest-summary\">{}</p>", paragraph(manifest));
    let pii = pii_replaced(manifest);
    if !pii.is_empty() {
        let bars: Vec<(String, f64)> = pii.iter().map(|(k, n)| (pii_words(k, *n != 1), *n as f64)).collect();
        b.push_str("<div class=\"plots\" id=\"pii-chart\">\n");
        b.push_str(&plot_box(plots::count_bars("PII replaced by a typed placeholder", "values replaced", &bars)));
        b.push_str("</div>\n");
    }
    b.push_str("<p class=\"note\">The full record is <code>manifest.json</code> in the prepared corpus directory; its SHA-256 is under Reproducibility.</p>\n");
    b
}

/// The paragraph: sources, records in and out, duplicates, splits, tokenizer, PII.
fn paragraph(m: &Value) -> String {
    let c = &m["counts"];
    let n = |v: &Value| v.as_u64().map(|x| x.to_string()).unwrap_or_else(|| "n/a".into());
    let mut s = String::new();
    let inputs: Vec<String> = m["inputs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    let name = i["path"].as_str().map(|p| p.rsplit(['/', '\\']).next().unwrap_or(p)).unwrap_or("?");
                    format!("<code>{}</code> ({})", escape(name), escape(i["format"].as_str().unwrap_or("?")))
                })
                .collect()
        })
        .unwrap_or_default();
    if !inputs.is_empty() {
        let _ = write!(s, "Read from {}: ", inputs.join(", "));
    }
    let _ = write!(s, "{} records in, {} kept.", n(&c["read"]), n(&c["kept"]));
    let mut dropped = Vec::new();
    for (key, words) in [
        ("exact_duplicates", "exact duplicates"),
        ("near_duplicates", "near-duplicates"),
        ("too_short", "too short"),
        ("too_long", "too long"),
        ("bad", "unreadable"),
    ] {
        if let Some(v) = c[key].as_u64().filter(|v| *v > 0 || key.ends_with("duplicates")) {
            dropped.push(format!("{v} {words}"));
        }
    }
    if !dropped.is_empty() {
        let _ = write!(s, " Removed: {}.", dropped.join(", "));
    }
    let _ = write!(
        s,
        " Splits: {} candidate records ({} members trained on, {} non-members held out) and {} population records never trained on.",
        n(&c["pool"]),
        n(&c["members"]),
        n(&c["non_members"]),
        n(&c["population"])
    );
    let t = &m["tokenizer"];
    if t.is_object() {
        let vocab = t["vocab_size"].as_u64().map(|v| format!(", vocabulary {v}")).unwrap_or_default();
        let how = match (t["source"].as_str(), t["trained_on"].as_str(), t["loaded_from"].as_str()) {
            (Some("loaded"), _, Some(from)) => format!("loaded from <code>{}</code>", escape(from)),
            (_, Some(on), _) => format!("trained: {}", escape(on)),
            (Some(src), _, _) => escape(src),
            _ => "of unrecorded origin".into(),
        };
        let _ = write!(s, " Tokenizer {how}{vocab}.");
    }
    if let Some(tok) = m["tokens"]["total"].as_u64() {
        let _ = write!(s, " {tok} tokens in all");
        if let (Some(ctx), Some(cut)) = (m["tokens"]["context"].as_u64(), m["tokens"]["records_truncated_at_context"].as_u64()) {
            let _ = write!(s, "; {cut} records are longer than the {ctx}-token context and were truncated to it");
        }
        s.push('.');
    }
    let _ = write!(s, " {}", escape(&preparation_pii(m)));
    s
}

/// What happened to personal data, in one sentence.
fn preparation_pii(manifest: &Value) -> String {
    let deidentify = manifest["options"]["deidentify"].as_bool().or(manifest["pii"]["deidentified"].as_bool()).unwrap_or(false);
    if !deidentify {
        return "Records were NOT de-identified: personal data stayed in the training text.".into();
    }
    let replaced = pii_replaced(manifest);
    let total: u64 = replaced.iter().map(|(_, n)| n).sum();
    let mut s = if replaced.is_empty() {
        "De-identification found no personal data to replace.".to_string()
    } else {
        let parts: Vec<String> = replaced.iter().map(|(k, n)| format!("{n} {}", pii_words(k, *n != 1))).collect();
        format!("De-identification replaced {total} personal-data values by typed placeholders: {}.", parts.join(", "))
    };
    let kept = kept_types(manifest);
    if !kept.is_empty() {
        let _ = write!(s, " Kept in the text on request: {} (searched for in generations by keyed hash).", kept.join(", "));
    }
    s
}

/// Whether de-identification replaced every value of PII type `kind` (none kept, on request or
/// otherwise), so that no value of that type is left in the training text.
pub(crate) fn all_replaced(manifest: &Value, kind: &str) -> bool {
    let deidentified = manifest["options"]["deidentify"].as_bool() == Some(true) && manifest["pii"]["deidentified"].as_bool() != Some(false);
    let kept = manifest["pii"]["kept"][kind].as_u64().unwrap_or(0) > 0 || kept_types(manifest).contains(&kind);
    deidentified && manifest["pii"]["kept"].is_object() && !kept
}

fn kept_types(manifest: &Value) -> Vec<&str> {
    manifest["options"]["keep_pii"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// What was done to the records before training, in words (the model card's sentence).
pub(crate) fn preparation_words(manifest: &Value) -> String {
    let options = &manifest["options"];
    let deidentify = options["deidentify"].as_bool().unwrap_or(false);
    let kept = kept_types(manifest);
    let replaced: Vec<String> = replaced_by_type(manifest).iter().map(|(k, n)| format!("{n} {k}")).collect();
    let mut s = String::from("Records were normalised; ");
    if !deidentify {
        s.push_str("they were NOT de-identified (personal data stayed in the training text); ");
    } else {
        let what = if replaced.is_empty() { "no personal data was found to replace".to_string() } else { format!("replaced {}", replaced.join(", ")) };
        s.push_str(&format!("de-identification replaced personal data by typed placeholders ({what})"));
        if !kept.is_empty() {
            s.push_str(&format!(", except {} which were kept in the text on request (searched for in generations by keyed hash)", kept.join(", ")));
        }
        s.push_str("; ");
    }
    s.push_str("exact and near-duplicates were removed; each candidate record was a member with probability ½, decided by a recorded seed, and a disjoint population set was never trained on.");
    s
}

/// A PII type name (`CARD`, `EMAIL`, ...) in words; unknown types are shown as given, lower case.
pub(crate) fn pii_words(kind: &str, plural: bool) -> String {
    let (one, many) = match kind {
        "CARD" => ("card number", "card numbers"),
        "EMAIL" => ("e-mail address", "e-mail addresses"),
        "PHONE" => ("phone number", "phone numbers"),
        "IBAN" => ("IBAN", "IBANs"),
        "SSN" => ("social security number", "social security numbers"),
        "IP" => ("IP address", "IP addresses"),
        "URL_CREDENTIALS" => ("URL with credentials", "URLs with credentials"),
        other => return other.to_lowercase().replace('_', " "),
    };
    (if plural { many } else { one }).to_string()
}

/// A manifest not in vg-corpora's layout: its top-level numbers and strings as one sentence.
fn other_layout(manifest: &Value) -> String {
    let Value::Object(map) = manifest else {
        return "<p class=\"note\">The corpus manifest is not an object and is not shown.</p>\n".into();
    };
    let parts: Vec<String> = map
        .iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some(format!("{k}: {s}")),
            Value::Number(x) => Some(format!("{k}: {}", x.as_f64().map(fmt_num).unwrap_or_else(|| x.to_string()))),
            Value::Bool(b) => Some(format!("{k}: {b}")),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        return "<p class=\"note\">The corpus manifest has no top-level figures to show.</p>\n".into();
    }
    format!("<p id=\"manifest-summary\">Corpus manifest (not in vg-corpora's layout): {}.</p>\n", escape(&parts.join("; ")))
}
