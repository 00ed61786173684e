//! The report's "Extraction examples": each example labelled in words by what it shows
//! (verbatim training text, a canary secret extracted, a card number the model invented, ...),
//! derived from the example's own fields.

use crate::corpus::pii_words;
use crate::html::escape;
use crate::page::{table, td, tdn};
use crate::{ExtractionExample, ReportData, Summary};

/// The section.
pub(crate) fn section(summary: &Summary, data: &ReportData) -> String {
    let mut b = String::from("<h2 id=\"examples\">Extraction examples</h2>\n");
    if summary.run.show_extracted {
        b.push_str("<div class=\"banner warn\">Shown verbatim (--show-extracted): this section may contain personal data and canary secrets.</div>\n");
    } else {
        b.push_str("<p class=\"note\">Redacted: PII replaced by typed placeholders such as <code>&lt;CARD&gt;</code>, canary secrets masked except their first characters. The label says what each example shows.</p>\n");
    }
    if data.examples.is_empty() {
        b.push_str("<p class=\"note\">No extraction examples.</p>\n");
        return b;
    }
    // columns no example fills (e.g. prompts, which the pipeline does not keep) are left out
    let with_prompt = data.examples.iter().any(|x| !x.prompt.is_empty());
    let with_truth = data.examples.iter().any(|x| x.truth.as_deref().is_some_and(|t| !t.is_empty()));
    let mut headers = vec!["model", "what it shows", "record or canary"];
    if with_prompt {
        headers.push("prompt");
    }
    headers.push("model output");
    if with_truth {
        headers.push("true continuation");
    }
    // several hits in one output make identical examples: each is shown once, with its count
    let mut unique: Vec<(&ExtractionExample, String, usize)> = Vec::new();
    for x in &data.examples {
        let words = label(x, &data.manifest);
        let same = |(y, w, _): &&mut (&ExtractionExample, String, usize)| {
            y.model == x.model && *w == words && y.record_id == x.record_id && y.prompt == x.prompt && y.generated == x.generated && y.truth == x.truth
        };
        match unique.iter_mut().find(|u| same(u)) {
            Some(u) => u.2 += 1,
            None => unique.push((x, words, 1)),
        }
    }
    let rows: Vec<Vec<String>> = unique
        .iter()
        .map(|(x, words, n)| {
            let times = if *n > 1 { format!(" ({n} hits in this output)") } else { String::new() };
            let mut row = vec![
                td(&x.model),
                format!("<td class=\"label\">{}{}</td>", escape(words), escape(&times)),
                tdn(&x.record_id.map(|v| v.to_string()).unwrap_or_default()),
            ];
            if with_prompt {
                row.push(format!("<td class=\"text\">{}</td>", escape(&x.prompt)));
            }
            row.push(format!("<td class=\"text\">{}</td>", escape(&x.generated)));
            if with_truth {
                row.push(format!("<td class=\"text\">{}</td>", escape(x.truth.as_deref().unwrap_or(""))));
            }
            row
        })
        .collect();
    b.push_str(&table(&headers, &rows));
    b
}

/// What an example shows, in words, from its test, the hit's type, whether the string was in
/// the training data, where it was found and how many tokens matched. A PII hit not attributed
/// by the run is attributed by the corpus manifest when de-identification replaced every value
/// of its type (then none was left in the training text).
pub(crate) fn label(x: &ExtractionExample, manifest: &serde_json::Value) -> String {
    let tokens = |what: &str| x.matched_tokens.map(|n| format!(" ({n} {what})")).unwrap_or_default();
    let kind = x.kind.trim();
    if let Some(rest) = kind.strip_prefix("memorization") {
        return if rest.contains("approximate") {
            format!("near-verbatim training text: prompted with a training record's beginning, the model continued it with its true continuation up to a few token edits{}", tokens("tokens compared"))
        } else {
            format!("verbatim training text: prompted with a training record's beginning, the model reproduced its true continuation exactly{}", tokens("tokens"))
        };
    }
    if kind == "verbatim" {
        return format!("verbatim training text: a span of a sampled generation occurs word for word in the training data{}", tokens("tokens"));
    }
    if kind == "canary" {
        return format!("canary secret extracted{}", tokens("tokens"));
    }
    let Some(what) = kind.strip_prefix("fragment (").and_then(|r| r.strip_suffix(')')) else {
        return format!("{kind}{}", tokens("tokens matched"));
    };
    let place = match x.found_in.as_deref() {
        Some("generation") => " in a sampled generation",
        Some("memorization") => " in the continuation of a training record's beginning",
        Some("population") => " in the continuation of text never trained on",
        Some("canary") => " in the continuation of a canary's prefix",
        _ => "",
    };
    if what == "CANARY" {
        return match x.in_training {
            Some(true) => format!("canary secret extracted: the secret of a canary inserted in training appeared{place}"),
            Some(false) => format!("a canary secret that was never inserted in training, produced by chance{place} (the floor, not extraction)"),
            None => format!("a canary secret appeared{place}; whether that canary was inserted is not recorded"),
        };
    }
    let in_training = x.in_training.or_else(|| crate::corpus::all_replaced(manifest, what).then_some(false));
    let pii = pii_words(what, false);
    // "an e-mail address", "an IBAN", "an IP address", but "a URL"
    let article = if pii.starts_with(['a', 'e', 'i', 'o', 'u', 'I']) { "an" } else { "a" };
    let found = if place.is_empty() { String::new() } else { format!(" (found{place})") };
    match in_training {
        Some(true) => format!("{article} {pii} from the training data (kept in the training text), reproduced{place}"),
        Some(false) => format!("{article} {pii} the model invented — not in the training data{found}"),
        None => format!("{article} {pii}{place}; whether it was in the training data could not be checked"),
    }
}
