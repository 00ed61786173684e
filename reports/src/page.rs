//! Shared HTML page frame (inline CSS, no external resources) and small formatting helpers
//! for the report and the comparison page.

use std::fmt::Write as _;

use crate::gate::fmt_num;
use crate::html::escape;

const CSS: &str = r#"
:root { --fg:#1d2329; --muted:#5b6670; --line:#d9dee3; --bg:#ffffff; --soft:#f4f6f8;
        --ok:#1b7f3b; --bad:#b3261e; --warn:#8a5a00; --okbg:#e6f4ea; --badbg:#fce8e6; --warnbg:#fff4d6; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); background: var(--bg); margin: 0; line-height: 1.45; font-size: 15px; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
p.sub, .note { color: var(--muted); }
.note { font-size: 13px; }
nav { margin: 14px 0 4px; font-size: 13px; }
nav a { margin-right: 12px; color: #0b57d0; text-decoration: none; }
.tw { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13.5px; }
th, td { border: 1px solid var(--line); padding: 5px 9px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { max-width: 420px; white-space: pre-wrap; word-break: break-word; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
.banner { border-radius: 6px; padding: 12px 16px; margin: 12px 0; font-weight: 600; border: 2px solid; }
.banner small { display: block; font-weight: 400; margin-top: 4px; }
.banner.danger { background: var(--badbg); border-color: var(--bad); color: var(--bad); font-size: 18px; }
.banner.warn { background: var(--warnbg); border-color: var(--warn); color: var(--warn); }
.badge { display: inline-block; padding: 2px 8px; border-radius: 4px; font-weight: 700; font-size: 12px; }
.badge.pass { background: var(--okbg); color: var(--ok); }
.badge.fail { background: var(--badbg); color: var(--bad); }
.verdict { font-size: 22px; font-weight: 700; margin: 6px 0 10px; }
.verdict.pass { color: var(--ok); } .verdict.fail { color: var(--bad); } .verdict.none { color: var(--muted); }
.exceeds { color: var(--bad); font-weight: 700; }
.plots { display: flex; flex-wrap: wrap; gap: 14px; }
.plot { border: 1px solid var(--line); border-radius: 6px; padding: 4px; background: #fff; }
.plot svg { display: block; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px; margin: 8px 0; font-size: 13.5px; }
dl.kv dt { color: var(--muted); } dl.kv dd { margin: 0; word-break: break-all; }
.common { border-left: 3px solid var(--warn); background: var(--warnbg); padding: 6px 12px; margin: 8px 0; font-size: 13.5px; }
.common ul { margin: 4px 0 0; padding-left: 20px; }
details.more { margin: 4px 0 14px; }
details.more > summary { cursor: pointer; color: #0b57d0; font-size: 13.5px; }
td.label { max-width: 300px; }
.model-block h3 { margin-top: 18px; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; background: var(--soft); padding: 1px 4px; border-radius: 3px; }
"#;

/// A complete HTML document around `body` (already escaped), with the inline stylesheet.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    )
}

/// A number, or "n/a" when absent.
pub fn opt(x: Option<f64>) -> String {
    x.map(fmt_num).unwrap_or_else(|| "n/a".into())
}

/// A rate as a percentage with two decimals, or "n/a".
pub fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.2} %", v * 100.0)).unwrap_or_else(|| "n/a".into())
}

/// A table from a header row and body rows of pre-rendered cells (`<td ...>...</td>`).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = String::from("<div class=\"tw\"><table>\n<thead><tr>");
    for h in headers {
        let _ = write!(t, "<th>{}</th>", escape(h));
    }
    t.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        t.push_str("<tr>");
        for cell in row {
            t.push_str(cell);
        }
        t.push_str("</tr>\n");
    }
    t.push_str("</tbody>\n</table></div>\n");
    t
}

/// A text cell (escaped).
pub fn td(text: &str) -> String {
    format!("<td>{}</td>", escape(text))
}

/// A right-aligned numeric cell (escaped).
pub fn tdn(text: &str) -> String {
    format!("<td class=\"num\">{}</td>", escape(text))
}

/// A cell whose content is already HTML.
pub fn td_html(html: &str) -> String {
    format!("<td>{html}</td>")
}

/// A PASS/FAIL badge.
pub fn badge(passed: bool) -> &'static str {
    if passed {
        "<span class=\"badge pass\">PASS</span>"
    } else {
        "<span class=\"badge fail\">FAIL</span>"
    }
}

/// A plot box, or a note when the plot could not be drawn.
pub fn plot_box(svg: Result<String, crate::Error>) -> String {
    match svg {
        Ok(svg) => format!("<div class=\"plot\">{}</div>\n", strip_xml_decl(&svg)),
        Err(e) => format!("<p class=\"note\">plot unavailable: {}</p>\n", escape(&e.to_string())),
    }
}

/// Removes an `<?xml ...?>` declaration, which is not allowed inside HTML.
fn strip_xml_decl(svg: &str) -> &str {
    match svg.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map(|(_, s)| s.trim_start()).unwrap_or(svg),
        None => svg,
    }
}

/// Key/value list (`<dl>`), values escaped.
pub fn kv(pairs: &[(&str, String)]) -> String {
    let mut s = String::from("<dl class=\"kv\">\n");
    for (k, v) in pairs {
        let _ = writeln!(s, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(v));
    }
    s.push_str("</dl>\n");
    s
}

/// Splits per-row remarks into those every row shares (stated once above a table) and what
/// each row adds. With fewer than two rows nothing is shared: a single row keeps its own.
pub fn split_common(rows: &[Vec<String>]) -> (Vec<String>, Vec<Vec<String>>) {
    if rows.len() < 2 {
        return (Vec::new(), rows.to_vec());
    }
    let mut common: Vec<String> = rows[0].iter().filter(|w| rows.iter().all(|r| r.contains(w))).cloned().collect();
    common.dedup();
    let rest = rows.iter().map(|r| r.iter().filter(|w| !common.contains(w)).cloned().collect()).collect();
    (common, rest)
}

/// A note stating remarks once for a whole table (`what` says which rows), or nothing.
pub fn common_note(id: Option<&str>, what: &str, remarks: &[String]) -> String {
    if remarks.is_empty() {
        return String::new();
    }
    let id = id.map(|i| format!(" id=\"{}\"", escape(i))).unwrap_or_default();
    let items: String = remarks.iter().map(|r| format!("<li>{}</li>", escape(r))).collect();
    format!("<div class=\"common\"{id}><strong>{}</strong><ul>{items}</ul></div>\n", escape(what))
}

/// The text with its first letter in upper case.
pub fn capitalised(text: &str) -> String {
    let mut c = text.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
