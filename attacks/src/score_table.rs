//! Score tables: one row per (record, model[, query]) with the membership truth of that model
//! and every score column. Two on-disk forms:
//!
//! - `scores.parquet` of a run directory (written and read here with polars): columns `kind`
//!   (record / canary / reference_canary / population), `id` (u64), `model` (str), `member`
//!   (bool, null when unknown), optional `query` (u32), then one f64 column per score
//!   (`loss`, `zlib`, `min_k`, `min_k_plus_plus`, `lira_phi`, …; NaN = not computed).
//! - a user's long table (CSV or Parquet) for `attack --scores`: columns `id`, `model`, `score`,
//!   `member` (0/1, may be empty), optional `query` and `kind`. Scores are read as given and
//!   negated when the user says lower means member, so inside the crate higher = member.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::error::{AttackError, Result};

/// What a row describes; (kind, id) identifies a row's subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowKind {
    /// A record of the candidate pool.
    Record,
    /// An inserted-with-probability-½ canary.
    Canary,
    /// A canary that is never inserted (for exposure ranks).
    ReferenceCanary,
    /// A population record never trained on (RMIA's z).
    Population,
}

impl RowKind {
    /// The name used in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            RowKind::Record => "record",
            RowKind::Canary => "canary",
            RowKind::ReferenceCanary => "reference_canary",
            RowKind::Population => "population",
        }
    }

    /// Parses a table name.
    pub fn parse(s: &str) -> Option<RowKind> {
        Some(match s.trim() {
            "record" => RowKind::Record,
            "canary" => RowKind::Canary,
            "reference_canary" => RowKind::ReferenceCanary,
            "population" => RowKind::Population,
            _ => return None,
        })
    }
}

/// A named f64 score column.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreColumn {
    /// Column name (also the attack name of the single-score attack on it).
    pub name: String,
    /// One value per row; NaN where not computed.
    pub values: Vec<f64>,
}

/// A long score table held column by column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreTable {
    /// Row kind.
    pub kind: Vec<RowKind>,
    /// Record or canary id.
    pub id: Vec<u64>,
    /// Model name.
    pub model: Vec<String>,
    /// Whether `model` trained on the row's subject; `None` when unknown.
    pub member: Vec<Option<bool>>,
    /// Query / augmentation index (0 when there is one query).
    pub query: Vec<u32>,
    /// Score columns, each as long as the table.
    pub columns: Vec<ScoreColumn>,
}

impl ScoreTable {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.id.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// The values of a score column.
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.columns.iter().find(|c| c.name == name).map(|c| c.values.as_slice())
    }

    /// Distinct model names in first-seen order.
    pub fn models(&self) -> Vec<String> {
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        for m in &self.model {
            if seen.insert(m.as_str(), ()).is_none() {
                out.push(m.clone());
            }
        }
        out
    }

    /// Checks that every column has one value per row and no (kind, id, model, query) repeats.
    pub fn validate(&self) -> Result<()> {
        let n = self.len();
        let lens = [self.kind.len(), self.model.len(), self.member.len(), self.query.len()];
        if lens.iter().any(|&l| l != n) || self.columns.iter().any(|c| c.values.len() != n) {
            return Err(AttackError::Shape(format!(
                "score table columns differ in length: id {n}, kind/model/member/query {lens:?}, scores {:?}",
                self.columns.iter().map(|c| (c.name.as_str(), c.values.len())).collect::<Vec<_>>()
            )));
        }
        let mut seen = HashMap::with_capacity(n);
        for i in 0..n {
            if let Some(prev) = seen.insert((self.kind[i], self.id[i], self.model[i].as_str(), self.query[i]), i) {
                return Err(AttackError::Shape(format!(
                    "rows {prev} and {i} both describe {} {} under model {:?}, query {}",
                    self.kind[i].as_str(),
                    self.id[i],
                    self.model[i],
                    self.query[i]
                )));
            }
        }
        Ok(())
    }

    /// Writes `scores.parquet` atomically (temporary file in the same folder, then rename).
    pub fn write_parquet(&self, path: &Path) -> Result<()> {
        self.validate()?;
        let table_err = |e: PolarsError| AttackError::Table { path: path.to_path_buf(), message: e.to_string() };
        let mut cols: Vec<Column> = vec![
            Column::new("kind".into(), self.kind.iter().map(|k| k.as_str()).collect::<Vec<_>>()),
            Column::new("id".into(), self.id.clone()),
            Column::new("model".into(), self.model.clone()),
            Column::new("member".into(), self.member.clone()),
        ];
        if self.query.iter().any(|&q| q != 0) {
            cols.push(Column::new("query".into(), self.query.clone()));
        }
        for c in &self.columns {
            cols.push(Column::new(c.name.as_str().into(), c.values.clone()));
        }
        let mut df = DataFrame::new(self.len(), cols).map_err(table_err)?;
        let tmp = tmp_path(path);
        let io_err = |e: std::io::Error| AttackError::Io { path: tmp.clone(), source: e };
        let file = File::create(&tmp).map_err(io_err)?;
        ParquetWriter::new(file).finish(&mut df).map_err(table_err)?;
        std::fs::rename(&tmp, path).map_err(|e| AttackError::Io { path: path.to_path_buf(), source: e })?;
        Ok(())
    }

    /// Reads a `scores.parquet` written by [`ScoreTable::write_parquet`] (every column other than
    /// kind, id, model, member and query is a score column).
    pub fn read_parquet(path: &Path) -> Result<ScoreTable> {
        let df = read_parquet_frame(path)?;
        let kinds = str_column(&df, path, "kind")?;
        let mut kind = Vec::with_capacity(kinds.len());
        for (row, k) in kinds.iter().enumerate() {
            kind.push(RowKind::parse(k).ok_or_else(|| AttackError::Table {
                path: path.to_path_buf(),
                message: format!("row {row}: kind {k:?} is not record, canary, reference_canary or population"),
            })?);
        }
        let table = ScoreTable {
            kind,
            id: u64_column(&df, path, "id")?,
            model: str_column(&df, path, "model")?,
            member: bool_column(&df, path, "member")?,
            query: optional_query(&df, path)?,
            columns: score_columns(&df, path, &["kind", "id", "model", "member", "query"])?,
        };
        table.validate().map_err(|e| AttackError::Table { path: path.to_path_buf(), message: e.to_string() })?;
        Ok(table)
    }

    /// Reads a user's long table (`.csv` or `.parquet`) with columns `id`, `model`, `score`,
    /// `member` (0/1/true/false or empty), optional `query` and `kind` (default record). With
    /// `lower_is_member` the scores are negated so that higher = member from here on.
    pub fn read_long_table(path: &Path, lower_is_member: bool) -> Result<ScoreTable> {
        let is_parquet = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
        let mut table = if is_parquet { read_long_parquet(path)? } else { read_long_csv(path)? };
        if lower_is_member {
            for c in &mut table.columns {
                c.values.iter_mut().for_each(|v| *v = -*v);
            }
        }
        table.validate().map_err(|e| AttackError::Table { path: path.to_path_buf(), message: e.to_string() })?;
        Ok(table)
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

fn read_parquet_frame(path: &Path) -> Result<DataFrame> {
    let file = File::open(path).map_err(|e| AttackError::Io { path: path.to_path_buf(), source: e })?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| AttackError::Table { path: path.to_path_buf(), message: format!("not a readable Parquet file: {e}") })
}

fn get_cast(df: &DataFrame, path: &Path, name: &str, dtype: &DataType) -> Result<Column> {
    let col = df.column(name).map_err(|_| AttackError::Table {
        path: path.to_path_buf(),
        message: format!("missing column {name:?} (columns: {:?})", df.get_column_names()),
    })?;
    col.cast(dtype).map_err(|e| AttackError::Table {
        path: path.to_path_buf(),
        message: format!("column {name:?} of type {} cannot be read as {dtype}: {e}", col.dtype()),
    })
}

fn no_nulls<T>(path: &Path, name: &str, v: Vec<Option<T>>) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(v.len());
    for (row, x) in v.into_iter().enumerate() {
        out.push(x.ok_or_else(|| AttackError::Table { path: path.to_path_buf(), message: format!("row {row}: column {name:?} is empty") })?);
    }
    Ok(out)
}

fn str_column(df: &DataFrame, path: &Path, name: &str) -> Result<Vec<String>> {
    let c = get_cast(df, path, name, &DataType::String)?;
    let ca = c.str().map_err(|e| AttackError::Table { path: path.to_path_buf(), message: e.to_string() })?;
    no_nulls(path, name, ca.iter().map(|o| o.map(str::to_string)).collect())
}

fn u64_column(df: &DataFrame, path: &Path, name: &str) -> Result<Vec<u64>> {
    let c = get_cast(df, path, name, &DataType::UInt64)?;
    let ca = c.u64().map_err(|e| AttackError::Table { path: path.to_path_buf(), message: e.to_string() })?;
    no_nulls(path, name, ca.iter().collect())
}

fn bool_column(df: &DataFrame, path: &Path, name: &str) -> Result<Vec<Option<bool>>> {
    let c = get_cast(df, path, name, &DataType::Boolean)?;
    let ca = c.bool().map_err(|e| AttackError::Table { path: path.to_path_buf(), message: e.to_string() })?;
    Ok(ca.iter().collect())
}

fn f64_column(df: &DataFrame, path: &Path, name: &str) -> Result<Vec<f64>> {
    let c = get_cast(df, path, name, &DataType::Float64)?;
    let ca = c.f64().map_err(|e| AttackError::Table { path: path.to_path_buf(), message: e.to_string() })?;
    Ok(ca.iter().map(|o| o.unwrap_or(f64::NAN)).collect())
}

fn optional_query(df: &DataFrame, path: &Path) -> Result<Vec<u32>> {
    if df.column("query").is_err() {
        return Ok(vec![0; df.height()]);
    }
    let q = u64_column(df, path, "query")?;
    q.into_iter()
        .enumerate()
        .map(|(row, v)| {
            u32::try_from(v).map_err(|_| AttackError::Table { path: path.to_path_buf(), message: format!("row {row}: query {v} too large") })
        })
        .collect()
}

fn score_columns(df: &DataFrame, path: &Path, reserved: &[&str]) -> Result<Vec<ScoreColumn>> {
    let mut out = Vec::new();
    for name in df.get_column_names() {
        if reserved.contains(&name.as_str()) {
            continue;
        }
        out.push(ScoreColumn { name: name.to_string(), values: f64_column(df, path, name.as_str())? });
    }
    Ok(out)
}

fn read_long_parquet(path: &Path) -> Result<ScoreTable> {
    let df = read_parquet_frame(path)?;
    let kind = if df.column("kind").is_ok() {
        str_column(&df, path, "kind")?
            .iter()
            .enumerate()
            .map(|(row, k)| {
                RowKind::parse(k).ok_or_else(|| AttackError::Table { path: path.to_path_buf(), message: format!("row {row}: unknown kind {k:?}") })
            })
            .collect::<Result<Vec<_>>>()?
    } else {
        vec![RowKind::Record; df.height()]
    };
    Ok(ScoreTable {
        kind,
        id: u64_column(&df, path, "id")?,
        model: str_column(&df, path, "model")?,
        member: bool_column(&df, path, "member")?,
        query: optional_query(&df, path)?,
        columns: vec![ScoreColumn { name: "score".into(), values: f64_column(&df, path, "score")? }],
    })
}

fn read_long_csv(path: &Path) -> Result<ScoreTable> {
    let err = |line: u64, message: String| AttackError::Table { path: path.to_path_buf(), message: format!("line {line}: {message}") };
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| AttackError::Table { path: path.to_path_buf(), message: e.to_string() })?;
    let headers = rdr.headers().map_err(|e| err(1, e.to_string()))?.clone();
    let find = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let need = |name: &str| {
        find(name).ok_or_else(|| err(1, format!("missing column {name:?} (header: {:?}; need id, model, score, member)", headers.iter().collect::<Vec<_>>())))
    };
    let (ci, cm, cs, cb) = (need("id")?, need("model")?, need("score")?, need("member")?);
    let (cq, ck) = (find("query"), find("kind"));
    let mut t = ScoreTable { columns: vec![ScoreColumn { name: "score".into(), values: Vec::new() }], ..Default::default() };
    for rec in rdr.records() {
        let rec = rec.map_err(|e| err(e.position().map_or(0, |p| p.line()), e.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line());
        let field = |i: usize| rec.get(i).unwrap_or("");
        t.id.push(field(ci).parse().map_err(|_| err(line, format!("id {:?} is not a non-negative integer", field(ci))))?);
        t.model.push(field(cm).to_string());
        let s = field(cs);
        let score: f64 = s.parse().map_err(|_| err(line, format!("score {s:?} is not a number")))?;
        if score.is_nan() {
            return Err(err(line, "score is NaN".into()));
        }
        t.columns[0].values.push(score);
        t.member.push(match field(cb).to_ascii_lowercase().as_str() {
            "" => None,
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            other => return Err(err(line, format!("member {other:?} must be 0, 1 or empty"))),
        });
        t.query.push(match cq {
            Some(i) if !field(i).is_empty() => field(i).parse().map_err(|_| err(line, format!("query {:?} is not a small integer", field(i))))?,
            _ => 0,
        });
        t.kind.push(match ck {
            Some(i) if !field(i).is_empty() => RowKind::parse(field(i)).ok_or_else(|| err(line, format!("kind {:?} unknown", field(i))))?,
            _ => RowKind::Record,
        });
    }
    if t.is_empty() {
        return Err(err(1, "the table has no rows".into()));
    }
    Ok(t)
}
