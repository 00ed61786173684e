//! `vg-audit export` checked by transformers (issue 14): fixtures/export/gpt is one of our GPTs
//! exported as a gpt2 checkpoint, and expected.csv / greedy.csv are what transformers computed on
//! it (fixtures/export/make_fixture.sh). Our hf loader must reproduce them: mean_nll within 1e-4,
//! token counts and greedy ids exactly.

use std::path::Path;

use vg_training::hf::{HfModel, Sampling};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/export");
const HF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/reference/hf");

fn texts() -> Vec<(String, String)> {
    std::fs::read_to_string(Path::new(HF).join("texts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_string(), v["text"].as_str().unwrap().to_string())
        })
        .collect()
}

fn rows(file: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(Path::new(FIXTURE).join(file)).unwrap().lines().skip(1).map(|l| l.split(',').map(String::from).collect()).collect()
}

#[test]
fn exported_gpt_gives_the_transformers_losses_and_greedy_ids() {
    let model = HfModel::load(&Path::new(FIXTURE).join("gpt")).unwrap();
    let records = texts();
    let seqs: Vec<Vec<u32>> = records.iter().map(|(_, t)| model.encode(t).unwrap().into_iter().take(128).collect()).collect();
    let stats = model.token_stats(&seqs).unwrap();
    let expected = rows("expected.csv");
    assert_eq!(expected.len(), records.len());
    let mut worst = 0f64;
    for (((id, _), s), row) in records.iter().zip(&stats).zip(&expected) {
        assert_eq!(&row[1], id);
        assert_eq!(s.logprob.len(), row[2].parse::<usize>().unwrap(), "predicted tokens of {id}");
        let mean_nll = -s.logprob.iter().sum::<f64>() / s.logprob.len() as f64;
        worst = worst.max((mean_nll - row[3].parse::<f64>().unwrap()).abs());
    }
    assert!(worst < 1e-4, "worst |Δ mean_nll| = {worst}");
    // Trained weights, not a uniform model: the losses are well below ln(vocab).
    assert!(expected.iter().all(|r| r[3].parse::<f64>().unwrap() < (300f64).ln() - 1.0));

    let greedy = rows("greedy.csv");
    let prompts: Vec<Vec<u32>> = greedy.iter().map(|r| seqs[records.iter().position(|(id, _)| *id == r[1]).unwrap()][..16].to_vec()).collect();
    let got = model.generate(&prompts, 16, &Sampling::Greedy, false, 0, 0).unwrap();
    for (g, r) in got.iter().zip(&greedy) {
        let want: Vec<u32> = r[3].split(' ').map(|x| x.parse().unwrap()).collect();
        assert_eq!(g, &want, "greedy continuation of {}", r[1]);
    }
}
