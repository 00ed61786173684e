//! `splits.bin`: the compact, versioned file of all kept examples (pool and population) later steps read.
//!
//! Layout (all integers little-endian):
//! `b"VGSPLITS"` | version u32 (=1) | record count u64 | vocab size u32 | reserved u32 (0) |
//! records: id u64, split u8 (0 pool, 1 population), member u8, reserved u16, text length u32,
//! token count u32, text (UTF-8), tokens (u32 each) | CRC-32 (IEEE) of every preceding byte.

use std::io::{self, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// File magic.
pub const MAGIC: &[u8; 8] = b"VGSPLITS";
/// Current format version.
pub const VERSION: u32 = 1;

/// Which split an example belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Candidate pool: members (trained on) and non-members, by the membership bit.
    Pool,
    /// Population: never trained on; tokenizer training data and attack reference.
    Population,
}

/// One stored example as the file holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExample {
    /// Record id.
    pub id: u64,
    /// Split.
    pub split: Split,
    /// Membership bit (always false in the population).
    pub member: bool,
    /// Cleaned, de-identified text.
    pub text: String,
    /// Token ids of the text (no BOS/EOS).
    pub tokens: Vec<u32>,
}

/// Writes the examples in the format above.
pub fn write_splits(w: &mut dyn Write, examples: &[StoredExample], vocab_size: u32) -> io::Result<()> {
    let mut crc = crc32fast::Hasher::new();
    let mut put = |w: &mut dyn Write, bytes: &[u8]| -> io::Result<()> {
        crc.update(bytes);
        w.write_all(bytes)
    };
    put(w, MAGIC)?;
    put(w, &VERSION.to_le_bytes())?;
    put(w, &(examples.len() as u64).to_le_bytes())?;
    put(w, &vocab_size.to_le_bytes())?;
    put(w, &0u32.to_le_bytes())?;
    let mut token_bytes = Vec::new();
    for ex in examples {
        let text_len = u32::try_from(ex.text.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("record {} longer than 4 GiB", ex.id)))?;
        put(w, &ex.id.to_le_bytes())?;
        put(w, &[matches!(ex.split, Split::Population) as u8, ex.member as u8, 0, 0])?;
        put(w, &text_len.to_le_bytes())?;
        put(w, &(ex.tokens.len() as u32).to_le_bytes())?;
        put(w, ex.text.as_bytes())?;
        token_bytes.clear();
        for t in &ex.tokens {
            token_bytes.extend_from_slice(&t.to_le_bytes());
        }
        put(w, &token_bytes)?;
    }
    let sum = crc.finalize();
    w.write_all(&sum.to_le_bytes())
}

/// Reads and checks a splits file (magic, version, lengths, CRC); returns the examples and the vocab size.
pub fn read_splits(path: &Path) -> Result<(Vec<StoredExample>, u32)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |reason: String| Error::Format { path: path.to_path_buf(), reason };
    if bytes.len() < 8 + 4 + 8 + 4 + 4 + 4 || &bytes[..8] != MAGIC {
        return Err(bad("not a vg-audit splits file (bad magic or too short)".into()));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 4);
    let stored_crc = u32::from_le_bytes(tail.try_into().expect("4 bytes"));
    let crc = crc32fast::hash(body);
    if crc != stored_crc {
        return Err(bad(format!("checksum mismatch (stored {stored_crc:08x}, computed {crc:08x}): file is corrupt or truncated")));
    }
    let mut cur = Cursor { buf: body, pos: 8 };
    let version = cur.u32().ok_or_else(|| bad("truncated header".into()))?;
    if version != VERSION {
        return Err(bad(format!("unsupported splits format version {version} (this build reads version {VERSION})")));
    }
    let count = cur.u64().ok_or_else(|| bad("truncated header".into()))?;
    let vocab = cur.u32().ok_or_else(|| bad("truncated header".into()))?;
    let _reserved = cur.u32().ok_or_else(|| bad("truncated header".into()))?;
    let mut out = Vec::with_capacity(count.min(1 << 24) as usize);
    for i in 0..count {
        let trunc = || bad(format!("record {i} of {count} is truncated"));
        let id = cur.u64().ok_or_else(trunc)?;
        let flags = cur.take(4).ok_or_else(trunc)?;
        let split = match flags[0] {
            0 => Split::Pool,
            1 => Split::Population,
            s => return Err(bad(format!("record {i}: unknown split tag {s}"))),
        };
        let member = flags[1] == 1;
        let text_len = cur.u32().ok_or_else(trunc)? as usize;
        let n_tokens = cur.u32().ok_or_else(trunc)? as usize;
        let text = cur.take(text_len).ok_or_else(trunc)?;
        let text = String::from_utf8(text.to_vec()).map_err(|_| bad(format!("record {i}: text is not UTF-8")))?;
        let raw = cur.take(n_tokens * 4).ok_or_else(trunc)?;
        let tokens = raw.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        out.push(StoredExample { id, split, member, text, tokens });
    }
    if cur.pos != body.len() {
        return Err(bad(format!("{} trailing bytes after {count} records", body.len() - cur.pos)));
    }
    Ok((out, vocab))
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
}
