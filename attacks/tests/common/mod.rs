//! Helpers shared by the reference tests: paths and a small CSV reader for the reference data.
#![allow(dead_code)]

use std::collections::HashMap;

/// Path of a file under `shared/reference/lira/`.
pub fn lira_ref(rel: &str) -> String {
    format!("{}/../../shared/reference/lira/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// A CSV file as header → column of strings.
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Csv {
    pub fn read(path: &str) -> Csv {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut lines = text.lines();
        let header = lines.next().expect("header").split(',').map(str::to_string).collect();
        let rows = lines.filter(|l| !l.is_empty()).map(|l| l.split(',').map(str::to_string).collect()).collect();
        Csv { header, rows }
    }

    pub fn col(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {:?}", self.header))
    }

    pub fn f64s(&self, name: &str) -> Vec<f64> {
        let c = self.col(name);
        self.rows.iter().map(|r| parse_f64(&r[c])).collect()
    }

    pub fn u64s(&self, name: &str) -> Vec<u64> {
        let c = self.col(name);
        self.rows.iter().map(|r| r[c].parse().unwrap()).collect()
    }

    pub fn by_name(&self) -> HashMap<String, usize> {
        self.header.iter().enumerate().map(|(i, h)| (h.clone(), i)).collect()
    }
}

pub fn parse_f64(s: &str) -> f64 {
    match s {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}")),
    }
}

/// |a − b| ≤ abs or ≤ rel·|b|.
pub fn close(a: f64, b: f64, abs: f64, rel: f64) -> bool {
    a == b || (a - b).abs() <= abs || (a - b).abs() <= rel * b.abs()
}
