//! The continued-inspection report of a `scan serve --sample-log` file, through its public
//! entry points ([`parse_scan_log`], [`render_scan_log`]).

use vg_reports::{parse_scan_log, render_scan_log};

/// Width of the rate plot's time buckets as the page states it ("buckets of W s").
fn bucket_width_shown(span_seconds: f64) -> f64 {
    let lines = [
        format!(r#"{{"t":0,"ts":"a","id":1,"verdict":"pass"}}"#),
        format!(r#"{{"t":{span_seconds},"ts":"b","id":2,"verdict":"flag","reasons":[{{"kind":"pii","type":"EMAIL"}}]}}"#),
    ];
    let html = render_scan_log(&parse_scan_log(&(lines.join("\n") + "\n")).unwrap(), "log.jsonl");
    let at = html.find("buckets of ").unwrap_or_else(|| panic!("no rate plot over {span_seconds} s")) + "buckets of ".len();
    let end = at + html[at..].find(" s)").expect("width in seconds");
    html[at..end].parse().unwrap_or_else(|e| panic!("{:?}: {e}", &html[at..end]))
}

#[test]
fn bucket_widths_are_round_and_bounded() {
    assert_eq!(bucket_width_shown(10.0), 1.0);
    assert_eq!(bucket_width_shown(3600.0), 300.0);
    // At most 40 buckets over a day.
    assert!(3600.0 * 24.0 / bucket_width_shown(3600.0 * 24.0) <= 40.0);
}

#[test]
fn rates_and_escaping() {
    let lines = [
        r#"{"t":0,"ts":"a","id":1,"verdict":"pass","text":"ok"}"#,
        r#"{"t":1,"ts":"b","id":2,"verdict":"flag","reasons":[{"kind":"pii","type":"EMAIL","seen_in_training":true}],"text":"<script>x</script>"}"#,
        r#"{"t":100,"ts":"c","id":3,"verdict":"flag","reasons":[{"kind":"verbatim","tokens":80}],"text":"<VERBATIM>"}"#,
        r#"{"t":100.5,"ts":"d","id":4,"verdict":"pa"#,
    ];
    let log = parse_scan_log(&lines.join("\n")).unwrap();
    assert_eq!(log.entries.len(), 3);
    assert!(log.partial_last_line);
    let html = render_scan_log(&log, "log.jsonl");
    assert!(!html.contains("<script>x"));
    assert!(html.contains("&lt;script&gt;x"));
    // 2 of 3 flagged → 666.7 per 1,000; the verbatim one ranks first among the worst.
    assert!(html.contains("666.7"));
    let worst = html.find("Worst examples").unwrap();
    assert!(html[worst..].find("verbatim 80 tokens").unwrap() < html[worst..].find("pii EMAIL").unwrap());
    assert!(parse_scan_log("{\"t\":0}\nnot json\n{}").is_err());
}
