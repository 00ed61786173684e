//! Score tables (Parquet round trip, user CSV with `--lower-is-member`, clear errors) and the
//! metric rules that are not in the reference data (TPR reported as n/a with too few
//! non-members, warnings, bootstrap intervals, refusals).

use vg_attacks::membership_audit::{audit_membership, AuditOptions};
use vg_attacks::metrics::{attack_metrics, Roc};
use vg_attacks::score_table::{RowKind, ScoreColumn, ScoreTable};

fn tiny_table() -> ScoreTable {
    ScoreTable {
        kind: vec![RowKind::Record, RowKind::Canary, RowKind::Population, RowKind::ReferenceCanary],
        id: vec![7, 7, 9, 1],
        model: vec!["target".into(), "target".into(), "shadow-0".into(), "target".into()],
        member: vec![Some(true), None, Some(false), Some(false)],
        query: vec![0, 1, 0, 0],
        columns: vec![
            ScoreColumn { name: "loss".into(), values: vec![-1.5, -0.25, -3.0, f64::NAN] },
            ScoreColumn { name: "lira_phi".into(), values: vec![0.5, 1.0, -2.0, 3.0] },
        ],
    }
}

#[test]
fn parquet_round_trip_keeps_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scores.parquet");
    let t = tiny_table();
    t.write_parquet(&path).unwrap();
    assert!(!dir.path().read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp")), "no temp file left");
    let back = ScoreTable::read_parquet(&path).unwrap();
    assert_eq!(back.kind, t.kind);
    assert_eq!(back.id, t.id);
    assert_eq!(back.model, t.model);
    assert_eq!(back.member, t.member);
    assert_eq!(back.query, t.query);
    assert_eq!(back.columns.len(), 2);
    assert_eq!(back.columns[0].name, "loss");
    assert_eq!(back.columns[0].values[..3], t.columns[0].values[..3]);
    assert!(back.columns[0].values[3].is_nan(), "NaN = not computed survives");
    assert_eq!(back.column("lira_phi").unwrap(), t.column("lira_phi").unwrap());
}

#[test]
fn duplicate_rows_are_refused_with_their_positions() {
    let mut t = tiny_table();
    t.kind[1] = RowKind::Record;
    t.query[1] = 0;
    let err = t.validate().unwrap_err().to_string();
    assert!(err.contains("rows 0 and 1") && err.contains("record 7"), "{err}");
}

#[test]
fn long_csv_reads_and_flips_lower_is_member() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.csv");
    std::fs::write(&path, "id,model,score,member,query\n1,t,2.5,1,0\n1,t,3.5,1,1\n2,t,0.5,,0\n1,s,1.0,0,0\n").unwrap();
    let t = ScoreTable::read_long_table(&path, true).unwrap();
    assert_eq!(t.column("score").unwrap(), &[-2.5, -3.5, -0.5, -1.0]);
    assert_eq!(t.member, vec![Some(true), Some(true), None, Some(false)]);
    assert_eq!(t.query, vec![0, 1, 0, 0]);
    assert!(t.kind.iter().all(|&k| k == RowKind::Record));

    std::fs::write(&path, "id,model,score,member\n1,t,abc,1\n").unwrap();
    let err = ScoreTable::read_long_table(&path, false).unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("abc") && err.contains("s.csv"), "{err}");
    std::fs::write(&path, "id,model,member\n1,t,1\n").unwrap();
    let err = ScoreTable::read_long_table(&path, false).unwrap_err().to_string();
    assert!(err.contains("missing column \"score\""), "{err}");
    std::fs::write(&path, "id,model,score,member\n1,t,0.3,2\n").unwrap();
    assert!(ScoreTable::read_long_table(&path, false).unwrap_err().to_string().contains("member \"2\""));
}

#[test]
fn tpr_at_low_fpr_is_not_reported_without_enough_non_members() {
    // 500 non-members: FPR 0.1 % cannot be resolved, FPR 1 % can (but rests on < 10 FPs).
    let members: Vec<bool> = (0..1000).map(|i| i % 2 == 0).collect();
    let scores: Vec<f64> = (0..1000).map(|i| i as f64 + if i % 2 == 0 { 100.0 } else { 0.0 }).collect();
    let m = attack_metrics(&scores, &members, None).unwrap();
    assert_eq!(m.tpr_at_fpr_1e_3, None);
    assert!(m.tpr_at_fpr_1e_2.is_some());
    assert!(m.warnings.iter().any(|w| w.contains("0.1 %") && w.contains("not reported")), "{:?}", m.warnings);
    assert!(m.warnings.iter().any(|w| w.contains("1 %") && w.contains("fewer than")), "{:?}", m.warnings);
    let json = serde_json::to_value(&m).unwrap();
    assert!(json["tpr_at_fpr_1e-3"].is_null() && json["tpr_at_fpr_1e-2"].is_number() && json["auc"].is_number());
}

#[test]
fn roc_basics_ties_and_balanced_accuracy() {
    // Two tied scores, one member one not: they move together (one ROC step, area ½ of the square).
    let roc = Roc::from_scores(&[1.0, 1.0], &[true, false]).unwrap();
    assert_eq!(roc.len(), 2);
    assert_eq!(roc.auc(), 0.5);
    let roc = Roc::from_scores(&[3.0, 2.0, 1.0, 0.0], &[true, true, false, false]).unwrap();
    assert_eq!(roc.auc(), 1.0);
    assert_eq!(roc.balanced_accuracy(), 1.0);
    let roc = Roc::from_scores(&[0.0, 1.0, 2.0, 3.0], &[true, true, false, false]).unwrap();
    assert_eq!(roc.auc(), 0.0);
    assert!(Roc::from_scores(&[1.0, f64::NAN], &[true, false]).is_err());
    assert!(Roc::from_scores(&[1.0, 2.0], &[true, true]).is_err());
}

#[test]
fn bootstrap_interval_contains_the_auc() {
    let members: Vec<bool> = (0..400).map(|i| i % 2 == 0).collect();
    let scores: Vec<f64> = (0..400).map(|i| ((i * 37) % 101) as f64 + if i % 2 == 0 { 20.0 } else { 0.0 }).collect();
    let m = attack_metrics(&scores, &members, Some((200, 5))).unwrap();
    let b = m.bootstrap.unwrap();
    assert!(b.auc[0] <= m.auc && m.auc <= b.auc[1] && b.auc[1] - b.auc[0] > 0.01, "{:?} around {}", b.auc, m.auc);
    assert!(attack_metrics(&scores, &members, Some((5, 5))).is_err(), "too few resamples refused");
}

#[test]
fn audit_refuses_impossible_parameters_and_unknown_target() {
    let t = tiny_table();
    let mut o = AuditOptions::for_run("target");
    o.delta = 1.0;
    assert!(audit_membership(&t, &o, &mut |_, _| {}).unwrap_err().to_string().contains("delta"));
    let o = AuditOptions::for_run("nope");
    let err = audit_membership(&t, &o, &mut |_, _| {}).unwrap_err().to_string();
    assert!(err.contains("nope") && err.contains("target"), "{err}");
}

#[test]
fn verdicts_only_when_the_target_has_no_truth() {
    let mut t = ScoreTable { columns: vec![ScoreColumn { name: "score".into(), values: vec![] }], ..Default::default() };
    for (m, model) in ["t", "s1", "s2", "s3", "s4"].iter().enumerate() {
        for id in 0..50u64 {
            t.kind.push(RowKind::Record);
            t.id.push(id);
            t.model.push(model.to_string());
            t.member.push(if m == 0 { None } else { Some((id * 7 + m as u64 * 3) % 4 < 2) });
            t.query.push(0);
            t.columns[0].values.push(-1.0 - (id as f64) / 100.0 - ((id * 7 + m as u64 * 13) % 10) as f64 / 50.0);
        }
    }
    let a = audit_membership(&t, &AuditOptions::for_score_table("t"), &mut |_, _| {}).unwrap();
    assert!(a.attacks.is_empty() && a.epsilon_lower_bounds.is_empty());
    assert_eq!(a.per_record.scores["loss"].len(), 50);
    assert!(a.per_record.scores.contains_key("lira_online"));
    assert!(a.warnings.iter().any(|w| w.contains("per-record scores only")), "{:?}", a.warnings);
}
