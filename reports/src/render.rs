//! `report.html`: one self-contained page for a privacy reviewer, verdict first.

use std::fmt::Write as _;

use crate::gate::fmt_num;
use crate::html::escape;
use crate::page::{badge, capitalised, common_note, kv, opt, page, pct, plot_box, split_common, table, td, td_html, tdn};
use crate::{plots, ModelSummary, ReportData, Summary};

/// Renders the whole report. Never fails: a plot that cannot be drawn becomes a note.
pub fn render_report(summary: &Summary, data: &ReportData) -> String {
    let mut b = String::new();
    let run = &summary.run;
    let _ = writeln!(b, "<h1>Privacy audit report</h1>");
    let _ = writeln!(
        b,
        "<p class=\"sub\">{} {} · run {} → {} · models: {}</p>",
        escape(&run.tool),
        escape(&run.tool_version),
        escape(&run.started_at),
        escape(&run.finished_at),
        escape(&summary.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "))
    );
    b.push_str(&banners(summary));
    // reading order: verdict, per-model strongest attack and bounds, then the evidence
    let sections: Vec<(&str, &str, String)> = vec![
        ("verdict", "Verdict", verdict(summary)),
        ("bounds", "Per model", bounds(summary)),
        ("mia", "Membership inference", crate::sections::mia(summary, data)),
        ("memorization", "Memorization", crate::sections::memorization(summary)),
        ("examples", "Examples", crate::examples::section(summary, data)),
        ("exposure", "Exposure", crate::sections::exposure(summary, data)),
        ("budget", "Budget", budget(summary)),
        ("post-processing", "Synthetic data and distillation", crate::post_processing::section(summary)),
        ("plan", "Training plan", crate::plan_section::plan(summary)),
        ("training", "Training", crate::sections::training(summary, data)),
        ("engine-audit", "Engine audit", crate::sections::engine_audit(summary)),
        ("manifest", "Data", crate::corpus::section(&data.manifest)),
        ("reproducibility", "Reproducibility", reproducibility(summary)),
    ];
    // only sections that were rendered get a link, and only to an id the page carries
    let links: String = sections
        .iter()
        .filter(|(id, _, html)| html.contains(&format!("id=\"{id}\"")))
        .map(|(id, label, _)| format!("<a href=\"#{id}\">{}</a>", escape(label)))
        .collect();
    let _ = writeln!(b, "<nav>{links}</nav>");
    for (_, _, html) in &sections {
        b.push_str(html);
    }
    page("vg-audit privacy audit report", &b)
}

/// The banners a reviewer must not miss: no DP guarantee, smoke run, verbatim extracted text.
pub(crate) fn banners(summary: &Summary) -> String {
    let mut b = crate::external::banner(summary);
    if summary.run.insecure_seed {
        b.push_str(
            "<div class=\"banner danger\" id=\"banner-insecure-seed\">NO DP GUARANTEE: fixed noise seed\
<small>This run used <code>--insecure-seed</code>: DP noise and Poisson sampling came from a fixed, \
recorded seed. Anyone holding the seed can replay the noise and the batches, so the ε below is \
not a privacy guarantee. Use such runs for research reproducibility only, never for release.</small></div>\n",
        );
    }
    if summary.run.quick {
        b.push_str(
            "<div class=\"banner warn\" id=\"banner-quick\">SMOKE RUN (--quick)\
<small>Fewer canaries, steps and prompts than an audit needs. The figures show that the pipeline \
works; they are too imprecise to support a release decision.</small></div>\n",
        );
    }
    if summary.run.show_extracted {
        b.push_str(
            "<div class=\"banner warn\" id=\"banner-show-extracted\">Extracted text shown verbatim (--show-extracted)\
<small>The extraction examples below are not redacted and may contain personal data or canary \
secrets. Handle this file as sensitive.</small></div>\n",
        );
    }
    b
}

fn verdict(summary: &Summary) -> String {
    let mut b = String::from("<h2 id=\"verdict\">Verdict</h2>\n");
    match &summary.gate {
        None => {
            b.push_str("<p class=\"verdict none\">No gate policy was applied.</p>\n");
            b.push_str(&five_line_summary(summary));
            b.push_str(
                "<p class=\"note\">Run <code>vg-audit gate DIR --policy gate.toml</code> to check this run against release criteria.</p>\n",
            );
        }
        Some(g) => {
            let failed = g.rules.iter().filter(|r| !r.passed).count();
            let (class, text) = if g.passed {
                ("pass", format!("PASS — all {} rule checks passed", g.rules.len()))
            } else {
                ("fail", format!("FAIL — {failed} of {} rule checks failed", g.rules.len()))
            };
            let _ = writeln!(b, "<p class=\"verdict {class}\">{}</p>", escape(&text));
            b.push_str(&five_line_summary(summary));
            let _ = writeln!(b, "<p class=\"note\">Policy: {}</p>", escape(&g.policy));
            let rows: Vec<Vec<String>> = g
                .rules
                .iter()
                .map(|r| {
                    vec![
                        td_html(badge(r.passed)),
                        td(r.model.as_deref().unwrap_or("(run)")),
                        td(&r.rule),
                        td(&r.metric),
                        tdn(&opt(r.value)),
                        tdn(&limits(r.min, r.max)),
                        td(&r.reason),
                    ]
                })
                .collect();
            let _ = writeln!(b, "<details><summary>Every check ({})</summary>", g.rules.len());
            b.push_str(&table(&["", "model", "rule", "metric", "value", "limit", "reason"], &rows));
            b.push_str("</details>\n");
        }
    }
    b
}

/// The five lines a reviewer reads first (guarantee, strongest attack, memorization, utility, cost).
fn five_line_summary(summary: &Summary) -> String {
    let rows: String = crate::headline::five_lines(summary)
        .iter()
        .map(|(label, text)| format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(label), escape(&text.replace('`', ""))))
        .collect();
    format!("<table class=\"summary\" id=\"five-line-summary\">\n<tbody>\n{rows}</tbody>\n</table>\n")
}

fn limits(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!("{} … {}", fmt_num(lo), fmt_num(hi)),
        (Some(lo), None) => format!("≥ {}", fmt_num(lo)),
        (None, Some(hi)) => format!("≤ {}", fmt_num(hi)),
        (None, None) => String::new(),
    }
}

fn theoretical(m: &ModelSummary, insecure_seed: bool) -> String {
    match &m.dp {
        Some(dp) if insecure_seed => {
            format!("ε = {} at δ = {} — void: fixed noise seed", fmt_num(dp.epsilon), fmt_num(dp.delta))
        }
        Some(dp) => format!("ε = {} at δ = {}", fmt_num(dp.epsilon), fmt_num(dp.delta)),
        None => "none (non-private: ε = ∞)".into(),
    }
}

fn bounds(summary: &Summary) -> String {
    let mut b = String::from("<h2 id=\"bounds\">Per model: strongest attack and ε lower bounds</h2>\n");
    b.push_str(
        "<p>The accountant's ε is an <em>upper</em> bound: no attack can do better. Each empirical bound \
below is a <em>lower</em> bound: a statistical claim, at the stated confidence, that the model leaks at least \
that much. Each method is shown on its own; they are not combined (a maximum over methods would need its own \
correction). A lower bound far below ε is expected for black-box attacks and does not mean ε is loose. \
A lower bound <em>above</em> the guarantee it is compared with means the training or accounting is broken.</p>\n",
    );
    // remarks on a bound: its note split into clauses, so those every bound shares are said once
    let remarks = |eb: &crate::BoundSummary| -> Vec<String> {
        eb.note.as_deref().map(|n| n.split("; ").map(str::to_string).collect()).unwrap_or_default()
    };
    let all: Vec<Vec<String>> = summary.models.iter().flat_map(|m| m.epsilon_lower_bounds.values().map(remarks)).collect();
    let (common, _) = split_common(&all);
    b.push_str(&common_note(Some("bounds-common-notes"), "Holds for every bound below:", &common));
    // long clauses that several rows share, but not all, are numbered once and cited by number
    let mut numbered: Vec<String> = Vec::new();
    for clause in all.iter().flatten() {
        let repeated = all.iter().filter(|r| r.contains(clause)).count() > 1;
        if repeated && clause.chars().count() > 50 && !common.contains(clause) && !numbered.contains(clause) {
            numbered.push(clause.clone());
        }
    }
    if !numbered.is_empty() {
        let items: String = numbered.iter().enumerate().map(|(i, c)| format!("<li value=\"{}\">{}</li>", i + 1, escape(c))).collect();
        let _ = writeln!(b, "<div class=\"common\" id=\"bounds-numbered-notes\"><strong>Notes cited by number below:</strong><ol>{items}</ol></div>");
    }
    for m in &summary.models {
        let _ = writeln!(b, "<div class=\"model-block\">\n<h3>{} — {}</h3>", escape(&m.name), escape(&theoretical(m, summary.run.insecure_seed)));
        let _ = writeln!(
            b,
            "<p>{}. <a href=\"#mia\">Every attack</a>.</p>",
            escape(&capitalised(&crate::headline::resistance_words(m)))
        );
        if m.epsilon_lower_bounds.is_empty() {
            b.push_str("<p class=\"note\">No ε lower bound computed.</p>\n</div>\n");
            continue;
        }
        let mut own: Vec<Vec<String>> = m
            .epsilon_lower_bounds
            .values()
            .map(|eb| {
                let mut r: Vec<String> = remarks(eb).into_iter().filter(|c| !common.contains(c)).collect();
                r.push(format!("{COMPARED}{}", eb.compared_with.describe()));
                r
            })
            .collect();
        if own.len() < 2 {
            // a lone bound keeps its comparison in its own row
            own[0].pop();
        }
        let (model_common, rest) = split_common(&own);
        let compared_once = model_common.iter().any(|c| c.starts_with(COMPARED));
        b.push_str(&common_note(None, &format!("Holds for every bound of {}:", m.name), &model_common));
        let cite = |c: &String| match numbered.iter().position(|n| n == c) {
            Some(i) => format!("note {}", i + 1),
            None => c.clone(),
        };
        let with_notes = rest.iter().any(|r| r.iter().any(|c| !c.starts_with(COMPARED)));
        let mut headers = vec!["method", "ε lower bound", "confidence", "attack"];
        if !compared_once {
            headers.push("compared with");
        }
        headers.push("counts");
        if with_notes {
            headers.push("notes (beyond those above)");
        }
        let rows: Vec<Vec<String>> = m
            .epsilon_lower_bounds
            .iter()
            .zip(&rest)
            .map(|((method, eb), notes)| {
                let exceeds = eb.compared_with.epsilon.is_some_and(|e| eb.epsilon > e);
                let value = if exceeds {
                    format!("<td class=\"num exceeds\">{} ⚠ exceeds</td>", escape(&fmt_num(eb.epsilon)))
                } else {
                    tdn(&fmt_num(eb.epsilon))
                };
                let counts = eb.counts.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ");
                let mut row = vec![td(method), value, tdn(&format!("{:.0} %", eb.confidence * 100.0)), td(&eb.attack)];
                if !compared_once {
                    row.push(td(&eb.compared_with.describe()));
                }
                row.push(td(&counts));
                if with_notes {
                    let cited: Vec<String> = notes.iter().filter(|c| !c.starts_with(COMPARED)).map(cite).collect();
                    row.push(td(&merge_citations(cited).join("; ")));
                }
                row
            })
            .collect();
        b.push_str(&table(&headers, &rows));
        b.push_str("</div>\n");
    }
    b.push_str("<div class=\"plots\">\n");
    for m in summary.models.iter().filter(|m| !m.epsilon_lower_bounds.is_empty()) {
        let bars: Vec<(String, f64)> = m
            .epsilon_lower_bounds
            .iter()
            .map(|(method, eb)| (format!("{method} ({:.0} %)", eb.confidence * 100.0), eb.epsilon))
            .collect();
        let title = match &m.dp {
            Some(_) => format!("{}: ε lower bounds vs theoretical ε", m.name),
            None => format!("{}: ε lower bounds (no theoretical guarantee)", m.name),
        };
        b.push_str(&plot_box(plots::bounds_bars(&title, m.dp.as_ref().map(|d| d.epsilon), &bars)));
    }
    b.push_str("</div>\n");
    b
}

/// The clause that names a bound's comparison, hoisted like any other shared remark.
const COMPARED: &str = "compared with: ";

/// Adjacent citations read as one: ["note 1", "note 2"] → ["notes 1, 2"].
fn merge_citations(cited: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in cited {
        match (out.last_mut(), c.strip_prefix("note ")) {
            (Some(last), Some(n)) if last.starts_with("note ") || last.starts_with("notes ") => {
                *last = format!("notes {}, {n}", last.trim_start_matches("notes ").trim_start_matches("note "));
            }
            _ => out.push(c),
        }
    }
    out
}

fn budget(summary: &Summary) -> String {
    let mut b = String::from("<h2 id=\"budget\">Privacy budget</h2>\n");
    let names: Vec<&str> = summary.models.iter().map(|m| m.name.as_str()).collect();
    let mut headers = vec!["parameter"];
    headers.extend(names.iter().copied());
    let dp_row = |label: &str, f: &dyn Fn(&crate::DpParams) -> String| -> Vec<String> {
        let mut row = vec![td(label)];
        for m in &summary.models {
            row.push(match &m.dp {
                Some(dp) => tdn(&f(dp)),
                None => tdn("—"),
            });
        }
        row
    };
    let mut rows = vec![{
        let mut row = vec![td("private (DP-SGD)")];
        row.extend(summary.models.iter().map(|m| td(if m.private { "yes" } else { "no" })));
        row
    }];
    rows.push(dp_row("ε (theoretical)", &|d| fmt_num(d.epsilon)));
    rows.push(dp_row("δ", &|d| fmt_num(d.delta)));
    rows.push(dp_row("noise multiplier σ", &|d| fmt_num(d.noise_multiplier)));
    rows.push(dp_row("sampling rate q (Poisson)", &|d| fmt_num(d.sampling_rate)));
    rows.push(dp_row("steps T", &|d| d.steps.to_string()));
    rows.push(dp_row("clip norm C", &|d| fmt_num(d.clip_norm)));
    rows.push(dp_row("accountant", &|d| d.accountant.clone()));
    rows.push(dp_row("privacy unit (neighbouring)", &|d| d.neighbouring.clone()));
    rows.push(dp_row("batch truncation", &|d| d.truncation_note.clone().unwrap_or_else(|| "none".into())));
    let mut util = |label: &str, f: &dyn Fn(&crate::Utility) -> f64| {
        let mut row = vec![td(label)];
        row.extend(summary.models.iter().map(|m| tdn(&opt(m.utility.as_ref().map(f)))));
        rows.push(row);
    };
    util("held-out loss (nats/token)", &|u| u.eval_loss);
    util("held-out perplexity", &|u| u.perplexity);
    let mut bpb = vec![td("held-out bits per byte")];
    bpb.extend(summary.models.iter().map(|m| tdn(&opt(m.utility.as_ref().and_then(|u| u.bits_per_byte)))));
    rows.push(bpb);
    b.push_str(&table(&headers, &rows));
    b.push_str(
        "<p class=\"note\">Privacy unit: one record is one training example (one token sequence, truncated to the \
context length; records are never packed together). A canary repeated r times is r units, so its audit is \
compared with the group guarantee of r records. Noise and sampling decisions come from the operating system's \
secure generator and are never recorded, unless the run says otherwise above.</p>\n",
    );
    for s in &summary.shadow_models {
        let _ = writeln!(
            b,
            "<h3>Shadow models: {} set</h3>\n<p>{} shadow/reference models ({}), {}; mean held-out loss {}. They serve LiRA and \
RMIA as references and are not audited themselves.</p>",
            escape(&s.name),
            s.models.len(),
            if s.private { "DP-SGD" } else { "non-private" },
            escape(&s.description),
            escape(&opt(s.mean_eval_loss))
        );
    }
    b
}

fn reproducibility(summary: &Summary) -> String {
    let r = &summary.run;
    let mut b = String::from("<h2 id=\"reproducibility\">Reproducibility</h2>\n");
    let noise = if r.insecure_seed {
        "FIXED (--insecure-seed): reproducible, and therefore NO DP guarantee".to_string()
    } else {
        "secure: drawn from the operating system, never recorded".to_string()
    };
    let mut pairs = vec![
        ("tool", format!("{} {}", r.tool, r.tool_version)),
        ("config SHA-256", r.config_sha256.clone()),
        ("corpus manifest SHA-256", r.corpus_manifest_sha256.clone()),
        ("tokenizer SHA-256", r.tokenizer_sha256.clone().unwrap_or_else(|| "n/a".into())),
        ("DP noise and sampling seed", noise),
        ("started", r.started_at.clone()),
        ("finished", r.finished_at.clone()),
        (
            "machine",
            format!(
                "{} {}, {} CPUs, device {}{}",
                r.machine.os,
                r.machine.arch,
                r.machine.cpus,
                r.machine.device,
                r.machine.hostname.as_ref().map(|h| format!(", host {h}")).unwrap_or_default()
            ),
        ),
        ("smoke run (--quick)", if r.quick { "yes".into() } else { "no".into() }),
    ];
    let seeds: Vec<String> = r.seeds.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    pairs.push(("published seeds", if seeds.is_empty() { "none".into() } else { seeds.join(", ") }));
    b.push_str(&kv(&pairs));
    b.push_str("<p class=\"note\">Seeds listed here decide splits, canaries and shadow data; they are safe to publish. \
The DP noise and Poisson sampling seeds are secret and are not listed.</p>\n");
    b
}

/// ROC, histogram and line plots used by several sections.
pub(crate) fn roc_plot(title: &str, curves: &[(String, Vec<[f64; 2]>)]) -> String {
    plot_box(plots::roc_loglog(title, curves))
}

/// Formats a rate with its interval: `1.20 % [0.80 %, 1.70 %]`.
pub(crate) fn rate_with_ci(rate: Option<f64>, ci: Option<crate::RateInterval>) -> String {
    match ci {
        Some(ci) => format!("{} [{}, {}]", pct(rate), pct(Some(ci.low)), pct(Some(ci.high))),
        None => pct(rate),
    }
}
