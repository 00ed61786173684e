//! Streaming readers: plain text (lines or paragraphs), JSON Lines, CSV, Parquet, and directories.
//!
//! A reader hands each record (or each bad record) to a callback as it goes, so memory does not
//! grow with the file; the caller decides whether a bad record stops the run or is counted.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use polars::prelude::{ParquetReader, SerReader};

use crate::error::{BadInputKind, Error, Result};
use crate::options::{InputFormat, RecordMode};

/// What a reader yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A record's raw text, with the 1-based line (text/JSONL/CSV) or row (Parquet) it starts on.
    Record {
        /// Line or row.
        line: u64,
        /// Raw text.
        text: String,
    },
    /// A bad record (or a bad file, at line 1) that the caller may skip.
    Bad {
        /// Line or row.
        line: u64,
        /// Kind of problem.
        kind: BadInputKind,
        /// Sentence for people.
        reason: String,
    },
}

/// Settings that tell a reader where the text is.
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    /// Record boundary in text files.
    pub records: RecordMode,
    /// JSON Lines field (a dotted path such as `meta.body` reaches into objects).
    pub field: String,
    /// CSV / Parquet column.
    pub column: String,
}

/// A concrete format (never `Auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Plain text.
    Text,
    /// JSON Lines.
    Jsonl,
    /// CSV.
    Csv,
    /// Parquet.
    Parquet,
}

impl FileFormat {
    /// `text`, `jsonl`, `csv` or `parquet`.
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Text => "text",
            FileFormat::Jsonl => "jsonl",
            FileFormat::Csv => "csv",
            FileFormat::Parquet => "parquet",
        }
    }

    /// The format by file extension, if known.
    pub fn from_extension(path: &Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" | "text" | "md" => FileFormat::Text,
            "jsonl" | "ndjson" => FileFormat::Jsonl,
            "csv" => FileFormat::Csv,
            "parquet" | "pq" => FileFormat::Parquet,
            _ => return None,
        })
    }

    fn from_option(f: InputFormat) -> Option<FileFormat> {
        match f {
            InputFormat::Auto => None,
            InputFormat::Text => Some(FileFormat::Text),
            InputFormat::Jsonl => Some(FileFormat::Jsonl),
            InputFormat::Csv => Some(FileFormat::Csv),
            InputFormat::Parquet => Some(FileFormat::Parquet),
        }
    }
}

/// Expands the inputs into files with their formats (directories recursively, in name order, hidden
/// entries skipped). Returns the files and the directory entries skipped for an unknown extension.
/// A file given by name with an unknown extension is an error, unless a format is forced.
pub fn collect_inputs(inputs: &[PathBuf], format: InputFormat) -> Result<(Vec<(PathBuf, FileFormat)>, Vec<PathBuf>)> {
    let forced = FileFormat::from_option(format);
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if meta.is_dir() {
            walk(input, forced, &mut files, &mut skipped)?;
        } else {
            let fmt = forced.or_else(|| FileFormat::from_extension(input)).ok_or_else(|| Error::InvalidOption {
                name: "--input",
                value: input.display().to_string(),
                reason: "unknown extension (expected .txt, .jsonl, .csv or .parquet); pass --format to say which".into(),
            })?;
            files.push((input.clone(), fmt));
        }
    }
    Ok((files, skipped))
}

fn walk(dir: &Path, forced: Option<FileFormat>, files: &mut Vec<(PathBuf, FileFormat)>, skipped: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(dir, err)))
        .collect::<Result<_>>()?;
    entries.sort();
    for path in entries {
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        if meta.is_dir() {
            walk(&path, forced, files, skipped)?;
        } else if let Some(f) = forced.or_else(|| FileFormat::from_extension(&path)) {
            files.push((path, f));
        } else {
            skipped.push(path);
        }
    }
    Ok(())
}

/// Reads one file, calling `sink` for every record and bad record; an `Err` from `sink` stops reading.
/// A file without any record yields one `Bad { kind: EmptyFile, line: 1 }`.
pub fn read_file(path: &Path, format: FileFormat, cfg: &ReaderConfig, sink: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    let mut any = false;
    let mut counting = |item: Item| {
        any = true;
        sink(item)
    };
    match format {
        FileFormat::Text => read_text(path, cfg.records, &mut counting)?,
        FileFormat::Jsonl => read_jsonl(path, &cfg.field, &mut counting)?,
        FileFormat::Csv => read_csv(path, &cfg.column, &mut counting)?,
        FileFormat::Parquet => read_parquet(path, &cfg.column, &mut counting)?,
    }
    if !any {
        sink(Item::Bad { line: 1, kind: BadInputKind::EmptyFile, reason: "empty file: no records".into() })?;
    }
    Ok(())
}

fn open(path: &Path) -> Result<BufReader<File>> {
    File::open(path).map(|f| BufReader::with_capacity(1 << 20, f)).map_err(|e| Error::io(path, e))
}

/// Calls `f(line_number, bytes)` for every line, without its line break.
fn for_each_line(path: &Path, mut f: impl FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
    let mut reader = open(path)?;
    let mut buf = Vec::with_capacity(4096);
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let mut end = buf.len();
        if end > 0 && buf[end - 1] == b'\n' {
            end -= 1;
        }
        if end > 0 && buf[end - 1] == b'\r' {
            end -= 1;
        }
        f(line, &buf[..end])?;
    }
}

fn utf8_reason(e: std::str::Utf8Error) -> String {
    format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1)
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

fn read_text(path: &Path, mode: RecordMode, sink: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    match mode {
        RecordMode::Lines => for_each_line(path, |line, bytes| {
            if is_blank(bytes) {
                return Ok(());
            }
            match std::str::from_utf8(bytes) {
                Ok(s) => sink(Item::Record { line, text: s.to_string() }),
                Err(e) => sink(Item::Bad { line, kind: BadInputKind::InvalidUtf8, reason: utf8_reason(e) }),
            }
        }),
        RecordMode::Paragraphs => {
            // (start line, text so far, first problem)
            let mut para: Option<(u64, String, Option<(u64, String)>)> = None;
            let flush = |para: &mut Option<(u64, String, Option<(u64, String)>)>, sink: &mut dyn FnMut(Item) -> Result<()>| {
                match para.take() {
                    Some((_, _, Some((bad_line, reason)))) => {
                        sink(Item::Bad { line: bad_line, kind: BadInputKind::InvalidUtf8, reason })
                    }
                    Some((start, text, None)) => sink(Item::Record { line: start, text }),
                    None => Ok(()),
                }
            };
            for_each_line(path, |line, bytes| {
                if is_blank(bytes) {
                    return flush(&mut para, sink);
                }
                let p = para.get_or_insert_with(|| (line, String::new(), None));
                match std::str::from_utf8(bytes) {
                    Ok(s) => {
                        if !p.1.is_empty() {
                            p.1.push('\n');
                        }
                        p.1.push_str(s);
                    }
                    Err(e) => {
                        if p.2.is_none() {
                            p.2 = Some((line, utf8_reason(e)));
                        }
                    }
                }
                Ok(())
            })?;
            flush(&mut para, sink)
        }
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn read_jsonl(path: &Path, field: &str, sink: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    for_each_line(path, |line, bytes| {
        if is_blank(bytes) {
            return Ok(());
        }
        match parse_jsonl_record(bytes, field) {
            Ok((text, _)) => sink(Item::Record { line, text }),
            Err((kind, reason)) => sink(Item::Bad { line, kind, reason }),
        }
    })
}

/// One JSON Lines record: the text of `field` (a dotted path reaches into objects) and the rest
/// of the object (the field removed), or why the line is bad (invalid UTF-8, malformed JSON, not
/// an object, field missing or not a string).
pub fn parse_jsonl_record(bytes: &[u8], field: &str) -> std::result::Result<(String, serde_json::Value), (BadInputKind, String)> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err((BadInputKind::InvalidUtf8, utf8_reason(e)));
    }
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| (BadInputKind::MalformedJson, format!("malformed JSON: {e}")))?;
    let Some(obj) = value.as_object_mut() else {
        let t = json_type(&value);
        return Err((BadInputKind::MalformedJson, format!("expected a JSON object, found {t}")));
    };
    let found = match obj.remove(field) {
        Some(v) => Some(v),
        None if field.contains('.') => {
            let pointer = format!("/{}", field.replace('.', "/"));
            value.pointer_mut(&pointer).map(serde_json::Value::take)
        }
        None => None,
    };
    match found {
        Some(serde_json::Value::String(s)) => Ok((s, value)),
        None | Some(serde_json::Value::Null) => {
            Err((BadInputKind::MissingField, format!("missing field {field:?} (choose the text field with --field)")))
        }
        Some(other) => Err((BadInputKind::NotText, format!("field {field:?} is {}, not a string", json_type(&other)))),
    }
}

fn read_csv(path: &Path, column: &str, sink: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(open(path)?);
    let headers = match reader.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => return sink(Item::Bad { line: 1, kind: BadInputKind::MalformedCsv, reason: format!("malformed CSV header: {e}") }),
    };
    if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
        return Ok(()); // no header: the caller reports an empty file
    }
    let Some(idx) = headers.iter().position(|h| h == column.as_bytes()) else {
        let names: Vec<String> = headers.iter().map(|h| String::from_utf8_lossy(h).into_owned()).collect();
        return sink(Item::Bad {
            line: 1,
            kind: BadInputKind::MissingField,
            reason: format!("no column {column:?} in the header (columns: {}); choose it with --column", names.join(", ")),
        });
    };
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                let field = record.get(idx).unwrap_or_default();
                match std::str::from_utf8(field) {
                    Ok(s) => sink(Item::Record { line, text: s.to_string() })?,
                    Err(e) => sink(Item::Bad {
                        line,
                        kind: BadInputKind::InvalidUtf8,
                        reason: format!("invalid UTF-8 at byte {} of column {column:?}", e.valid_up_to() + 1),
                    })?,
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let reason = match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                        format!("malformed CSV row: {len} fields, the header has {expected_len}")
                    }
                    csv::ErrorKind::Io(io) => return Err(Error::io(path, std::io::Error::new(io.kind(), io.to_string()))),
                    _ => format!("malformed CSV: {e}"),
                };
                sink(Item::Bad { line, kind: BadInputKind::MalformedCsv, reason })?;
            }
        }
    }
}

/// Rows read per Parquet slice, so memory stays bounded by one slice of the text column.
const PARQUET_SLICE_ROWS: usize = 65_536;

fn read_parquet(path: &Path, column: &str, sink: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    let open_file = || File::open(path).map_err(|e| Error::io(path, e));
    let mut reader = ParquetReader::new(open_file()?);
    let (rows, names) = match reader.num_rows().and_then(|n| reader.schema().map(|s| (n, s))) {
        Ok((n, schema)) => (n, schema.iter_names().map(|s| s.to_string()).collect::<Vec<_>>()),
        Err(e) => {
            return sink(Item::Bad { line: 1, kind: BadInputKind::MalformedParquet, reason: format!("unreadable Parquet file: {e}") })
        }
    };
    if !names.iter().any(|n| n == column) {
        return sink(Item::Bad {
            line: 1,
            kind: BadInputKind::MissingField,
            reason: format!("no column {column:?} (columns: {}); choose it with --column", names.join(", ")),
        });
    }
    let mut offset = 0usize;
    while offset < rows {
        let len = PARQUET_SLICE_ROWS.min(rows - offset);
        let df = ParquetReader::new(open_file()?)
            .with_columns(Some(vec![column.to_string()]))
            .with_slice(Some((offset, len)))
            .finish();
        let df = match df {
            Ok(df) => df,
            Err(e) => {
                return sink(Item::Bad {
                    line: offset as u64 + 1,
                    kind: BadInputKind::MalformedParquet,
                    reason: format!("unreadable Parquet rows from {}: {e}", offset + 1),
                })
            }
        };
        let col = df.column(column).map_err(|e| Error::Format { path: path.to_path_buf(), reason: e.to_string() })?;
        let strings = match col.str() {
            Ok(s) => s,
            Err(_) => {
                return sink(Item::Bad {
                    line: 1,
                    kind: BadInputKind::NotText,
                    reason: format!("column {column:?} has type {}, not a string", col.dtype()),
                })
            }
        };
        for (i, v) in strings.iter().enumerate() {
            let line = (offset + i) as u64 + 1;
            match v {
                Some(s) => sink(Item::Record { line, text: s.to_string() })?,
                None => sink(Item::Bad { line, kind: BadInputKind::MissingField, reason: format!("null in column {column:?} (row {line})") })?,
            }
        }
        offset += len;
    }
    Ok(())
}
