//! End-to-end tests of `vg-audit gate` on the fixed summary fixture: policies that pass and
//! fail, exit codes 0/1/2, JSON output, JUnit XML well-formedness, recording the verdict.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{s};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/reports/tests/fixtures/summary.json");

fn run_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(FIXTURE, dir.path().join("summary.json")).unwrap();
    dir
}

fn policy(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn gate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vg-audit")).arg("gate").args(args).output().expect("vg-audit runs")
}


#[test]
fn passing_policy_exits_0_and_prints_each_rule() {
    let dir = run_dir();
    let p = policy(dir.path(), "release.toml", "models = [\"dp\"]\nmax_empirical_epsilon = 1.0\nmax_auc = 0.55\nrequire_dp = true\nrequire_secure_noise = true\n");
    let out = gate(&[s(dir.path()), "--policy", s(&p)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.starts_with("PASS")).count(), 7, "{stdout}");
    assert!(stdout.contains("epsilon_lower_bounds.one_run.epsilon = 0.31"), "{stdout}");
    assert!(stdout.trim_end().ends_with("gate: PASS (7 rule checks)"), "{stdout}");
}

#[test]
fn failing_policy_exits_1_names_the_failures_and_writes_junit() {
    let dir = run_dir();
    let p = policy(dir.path(), "strict.toml", "max_empirical_epsilon = 1.0\n[[rule]]\nmetric = \"memorization.exact_rate\"\nmax = 0.01\n");
    let junit = dir.path().join("gate.xml");
    let out = gate(&[s(dir.path()), "--policy", s(&p), "--junit", s(&junit)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let fails: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(fails.len(), 3, "{stdout}");
    assert!(fails.iter().any(|l| l.contains("non-dp") && l.contains("memorization.exact_rate = 0.043")), "{stdout}");
    assert!(stdout.contains("gate: FAIL (3 of 6 rule checks failed)"), "{stdout}");

    let xml = std::fs::read_to_string(&junit).unwrap();
    check_well_formed(&xml).unwrap_or_else(|e| panic!("JUnit not well-formed: {e}\n{xml}"));
    assert!(xml.contains("<testsuite name=\"vg-audit gate: "));
    assert_eq!(xml.matches("<testcase ").count(), 6);
    assert_eq!(xml.matches("<failure ").count(), 3);
    assert!(xml.contains("classname=\"vg-audit.gate.non-dp\""));
}

#[test]
fn json_output_is_one_object() {
    let dir = run_dir();
    let p = policy(dir.path(), "p.toml", "max_auc = 0.6\n");
    let out = gate(&[s(dir.path().join("summary.json").as_path()), "--policy", s(&p), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    assert_eq!(v["passed"], false);
    assert_eq!(v["rules"], 6);
    assert_eq!(v["failed"], 3);
    assert_eq!(v["results"][0]["metric"], "mia.lira_online.auc");
    assert_eq!(v["results"][0]["value"], 0.521);
}

#[test]
fn unreadable_policy_or_summary_exits_2() {
    let dir = run_dir();
    let typo = policy(dir.path(), "typo.toml", "max_empirical_epsilonn = 1.0\n");
    let out = gate(&[s(dir.path()), "--policy", s(&typo)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_empirical_epsilonn"), "the unknown key is named: {err}");

    let ok = policy(dir.path(), "ok.toml", "max_auc = 0.9\n");
    let out = gate(&[s(&dir.path().join("missing")), "--policy", s(&ok)]);
    assert_eq!(out.status.code(), Some(2));

    std::fs::write(dir.path().join("summary.json"), "{\"schema_version\": 1, \"run\": ").unwrap();
    let out = gate(&[s(dir.path()), "--policy", s(&ok)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("summary.json"));

    let out = gate(&[s(dir.path()), "--policy", s(&dir.path().join("no-such-policy.toml"))]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn record_writes_the_verdict_into_the_run() {
    let dir = run_dir();
    let p = policy(dir.path(), "p.toml", "models = [\"dp\"]\nmax_auc = 0.6\n");
    let out = gate(&[s(dir.path()), "--policy", s(&p), "--record"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(v["gate"]["passed"], true);
    assert_eq!(v["models"][0]["verdict"].as_array().unwrap().len(), 3);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("PASS — all 3 rule checks passed"));
}

#[test]
fn help_documents_the_shorthands() {
    let out = Command::new(env!("CARGO_BIN_EXE_vg-audit")).args(["gate", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for key in ["max_empirical_epsilon", "max_tpr_at_fpr_1e-3", "require_secure_noise", "[[rule]]", "--junit"] {
        assert!(help.contains(key), "--help lacks {key}");
    }
}

/// Minimal XML well-formedness: one root, balanced tags, quoted attributes, known entities only.
fn check_well_formed(xml: &str) -> Result<(), String> {
    let body = match xml.strip_prefix("<?xml") {
        Some(rest) => &rest[rest.find("?>").ok_or("unterminated declaration")? + 2..],
        None => xml,
    };
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt])?;
        let gt = rest[lt..].find('>').ok_or("unterminated tag")? + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or(format!("stray </{name}>"))?;
            if open != name.trim() {
                return Err(format!("</{name}> closes <{open}>"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, attrs) = tag.split_once(' ').unwrap_or((tag, ""));
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!("bad element name {name:?}"));
        }
        let mut a = attrs.trim();
        while !a.is_empty() {
            let eq = a.find("=\"").ok_or(format!("unquoted attribute in <{name}>: {a}"))?;
            let end = a[eq + 2..].find('"').ok_or("unterminated attribute")? + eq + 2;
            check_text(&a[eq + 2..end])?;
            a = a[end + 1..].trim_start();
        }
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name.to_string());
        }
    }
    check_text(rest)?;
    if !stack.is_empty() || roots != 1 {
        return Err(format!("unclosed {stack:?} or {roots} roots"));
    }
    Ok(())
}

fn check_text(t: &str) -> Result<(), String> {
    for (i, _) in t.match_indices('&') {
        let ent = &t[i..t[i..].find(';').map(|e| i + e + 1).ok_or("bare &")?];
        let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&ent) || ent.starts_with("&#");
        if !known {
            return Err(format!("unknown entity {ent}"));
        }
    }
    if t.contains('<') {
        return Err("'<' in text".into());
    }
    Ok(())
}
