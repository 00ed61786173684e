//! Suffix array over a symbol string — bytes (`u8`, near-duplicate removal) or token ids (`u32`,
//! the extraction search): construction with libsais (SA-IS, Nong–Zhang–Chan 2009, Grebnov's
//! implementation), count/locate, LCP (Kasai et al. 2001), longest-prefix (matching-statistics)
//! queries, every maximal match ≥ L of a query ([`SuffixArray::maximal_matches`], the verbatim
//! search of extraction), and a checksummed index file that is memory-mapped when reopened.
//!
//! **Records and the separator.** A corpus is indexed as one stream `r₁ SEP r₂ SEP … rₙ SEP`, where
//! `SEP` = [`Symbol::SEPARATOR`] (`0xFF` for bytes: never part of UTF-8; `u32::MAX` for token ids:
//! never a token id). Queries never contain the separator, so a match can never run across a
//! record boundary, and [`SuffixArray::lcp`] stops at a separator too. Suffix order is
//! lexicographic with "end of text" smallest; the separator is the largest symbol.

use std::fs::File;
use std::io::{Read, Write};
use std::marker::PhantomData;
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

mod matches;
pub use matches::SpanMatch;

/// Longest text libsais can index with 32-bit suffix positions.
pub const MAX_TEXT_LEN: usize = i32::MAX as usize;
/// First bytes of an index file.
pub const INDEX_MAGIC: [u8; 8] = *b"VGSUFARR";
/// Version of the index file layout written by [`SuffixArray::save`].
pub const INDEX_VERSION: u32 = 1;
/// Size of the fixed header of an index file (text and suffix array follow, 8-byte aligned).
const HEADER_LEN: usize = 64;
/// Largest first-symbol bucket table kept for `u32` texts (entries; 16 MiB).
const MAX_BUCKET_TABLE: usize = 1 << 22;

/// Errors of suffix-array construction, queries and index files.
#[derive(Debug, thiserror::Error)]
pub enum SuffixArrayError {
    /// The text is longer than 32-bit suffix positions allow.
    #[error("text of {len} symbols is too long for a suffix array (at most {max})")]
    TooLong {
        /// Symbols in the text.
        len: usize,
        /// Largest supported length.
        max: usize,
    },
    /// libsais reported a failure.
    #[error("suffix-array construction failed in libsais: {0}")]
    Construction(String),
    /// Reading or writing an index file failed.
    #[error("{path}: {source}")]
    Io {
        /// The index file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An index file exists but is truncated, altered, of another version or symbol width.
    #[error("{path}: refusing suffix-array index: {reason}")]
    Invalid {
        /// The index file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
}

impl SuffixArrayError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        SuffixArrayError::Io { path: path.to_path_buf(), source }
    }
    fn invalid(path: &Path, reason: impl Into<String>) -> Self {
        SuffixArrayError::Invalid { path: path.to_path_buf(), reason: reason.into() }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u32 {}
}

/// A symbol type a [`SuffixArray`] can index: `u8` or `u32` (sealed).
pub trait Symbol:
    sealed::Sealed + bytemuck::Pod + Ord + Eq + std::hash::Hash + Send + Sync + std::fmt::Debug + 'static
{
    /// Bytes per symbol, as stored in index files.
    const WIDTH: u8;
    /// The record separator: never part of a record, the largest symbol.
    const SEPARATOR: Self;
    /// The symbol as an unsigned integer (its order is the symbol order).
    fn to_u64(self) -> u64;
    /// Sorts the suffixes of `text` (which is restored before returning).
    #[doc(hidden)]
    fn sort_suffixes(text: &mut [Self]) -> Result<Vec<u32>, SuffixArrayError>;
}

impl Symbol for u8 {
    const WIDTH: u8 = 1;
    const SEPARATOR: u8 = 0xFF;
    fn to_u64(self) -> u64 {
        self as u64
    }
    fn sort_suffixes(text: &mut [u8]) -> Result<Vec<u32>, SuffixArrayError> {
        let sa = libsais::SuffixArrayConstruction::for_text(&*text)
            .in_owned_buffer32()
            .single_threaded()
            .run()
            .map_err(|e| SuffixArrayError::Construction(format!("{e:?}")))?
            .into_vec();
        Ok(sa.into_iter().map(|p| p as u32).collect())
    }
}

impl Symbol for u32 {
    const WIDTH: u8 = 4;
    const SEPARATOR: u32 = u32::MAX;
    fn to_u64(self) -> u64 {
        self as u64
    }
    fn sort_suffixes(text: &mut [u32]) -> Result<Vec<u32>, SuffixArrayError> {
        // libsais's large-alphabet variant needs values in [0, σ) with σ ≤ i32::MAX: remap order-preservingly.
        let remap = AlphabetRemap::apply(text);
        let alphabet = remap.alphabet_size();
        let ints: &mut [i32] = bytemuck::cast_slice_mut(text);
        // SAFETY: `AlphabetRemap::apply` left every value in [0, alphabet).
        let result = unsafe {
            libsais::SuffixArrayConstruction::for_text_mut(ints)
                .in_owned_buffer32()
                .single_threaded()
                .with_alphabet_size(libsais::suffix_array::AlphabetSize::new(alphabet as i32))
                .run()
        }
        .map(|r| r.into_vec());
        remap.undo(text);
        let sa = result.map_err(|e| SuffixArrayError::Construction(format!("{e:?}")))?;
        Ok(sa.into_iter().map(|p| p as u32).collect())
    }
}

/// An order-preserving, invertible renaming of `u32` symbols into a dense range.
enum AlphabetRemap {
    /// Values already small: only the separator moves, to `max + 1`.
    Dense { max: u32, has_separator: bool },
    /// Sparse values: each replaced by its rank among the distinct values.
    Ranked { values: Vec<u32> },
}

impl AlphabetRemap {
    fn apply(text: &mut [u32]) -> Self {
        let max = text.iter().copied().filter(|&v| v != u32::SEPARATOR).max().unwrap_or(0);
        let has_separator = text.contains(&u32::SEPARATOR);
        let dense_limit = text.len().max(1 << 24);
        if (max as usize) + 2 <= dense_limit {
            let replacement = max + 1;
            text.iter_mut().filter(|v| **v == u32::SEPARATOR).for_each(|v| *v = replacement);
            return AlphabetRemap::Dense { max, has_separator };
        }
        let mut values = text.to_vec();
        values.sort_unstable();
        values.dedup();
        for v in text.iter_mut() {
            *v = values.binary_search(v).expect("value came from the text") as u32;
        }
        AlphabetRemap::Ranked { values }
    }
    fn alphabet_size(&self) -> usize {
        match self {
            AlphabetRemap::Dense { max, .. } => *max as usize + 2,
            AlphabetRemap::Ranked { values } => values.len().max(1),
        }
    }
    fn undo(&self, text: &mut [u32]) {
        match self {
            AlphabetRemap::Dense { max, has_separator } => {
                if *has_separator {
                    text.iter_mut().filter(|v| **v == max + 1).for_each(|v| *v = u32::SEPARATOR);
                }
            }
            AlphabetRemap::Ranked { values } => text.iter_mut().for_each(|v| *v = values[*v as usize]),
        }
    }
}

/// Where the text and suffix array live: built in memory or memory-mapped from an index file.
enum Storage<S> {
    Owned { text: Vec<S>, sa: Vec<u32> },
    Mapped { map: Mmap, text: Range<usize>, sa: Range<usize>, _symbol: PhantomData<S> },
}

/// What [`SuffixArray::open_or_build`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexStatus {
    /// The file was valid and indexes the same text: it was memory-mapped.
    Reused,
    /// There was no file: the index was built and saved.
    Built,
    /// The file was refused or indexes another text: the index was rebuilt and saved.
    Rebuilt {
        /// Why the old file was not used.
        reason: String,
    },
}

/// A suffix array of `text`: `sa()[i]` is the start of the i-th smallest suffix.
///
/// ```
/// use vg_corpora::suffix_array::SuffixArray;
/// let index = SuffixArray::build(b"banana".to_vec()).unwrap();
/// assert_eq!(index.sa(), &[5, 3, 1, 0, 4, 2]);
/// assert_eq!(index.count(b"ana"), 2);
/// assert_eq!(index.locate(b"an"), vec![1, 3]);
/// assert_eq!(index.longest_prefix_match(b"nanx").0, 3);
/// ```
pub struct SuffixArray<S: Symbol> {
    storage: Storage<S>,
    /// `buckets[c]..buckets[c + 1]` = suffixes starting with symbol value c, for c below its length − 1.
    buckets: Vec<u32>,
}

impl<S: Symbol> std::fmt::Debug for SuffixArray<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuffixArray").field("len", &self.len()).field("symbol_bytes", &S::WIDTH).finish()
    }
}

impl<S: Symbol> SuffixArray<S> {
    /// Builds the suffix array of `text` (linear time, libsais, single-threaded).
    pub fn build(mut text: Vec<S>) -> Result<Self, SuffixArrayError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(SuffixArrayError::TooLong { len: text.len(), max: MAX_TEXT_LEN });
        }
        let sa = if text.is_empty() { Vec::new() } else { S::sort_suffixes(&mut text)? };
        Ok(Self::from_storage(Storage::Owned { text, sa }))
    }

    fn from_storage(storage: Storage<S>) -> Self {
        let mut index = SuffixArray { storage, buckets: Vec::new() };
        index.buckets = first_symbol_buckets(index.text());
        index
    }

    /// The indexed text.
    pub fn text(&self) -> &[S] {
        match &self.storage {
            Storage::Owned { text, .. } => text,
            Storage::Mapped { map, text, .. } => bytemuck::cast_slice(&map[text.clone()]),
        }
    }

    /// The suffix array: suffix start positions in lexicographic order of the suffixes.
    pub fn sa(&self) -> &[u32] {
        match &self.storage {
            Storage::Owned { sa, .. } => sa,
            Storage::Mapped { map, sa, .. } => bytemuck::cast_slice(&map[sa.clone()]),
        }
    }

    /// Number of symbols in the text.
    pub fn len(&self) -> usize {
        self.text().len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the index is memory-mapped from a file (rather than built in memory).
    pub fn is_mapped(&self) -> bool {
        matches!(self.storage, Storage::Mapped { .. })
    }

    /// The range of suffix-array rows whose suffixes start with `pattern` (all rows when it is empty).
    pub fn range(&self, pattern: &[S]) -> Range<usize> {
        let (matched, range) = self.longest_prefix_match(pattern);
        if matched == pattern.len() {
            range
        } else {
            0..0
        }
    }

    /// Number of occurrences of `pattern` in the text (O(|pattern| log n)).
    pub fn count(&self, pattern: &[S]) -> usize {
        self.range(pattern).len()
    }

    /// Start positions of every occurrence of `pattern`, ascending.
    pub fn locate(&self, pattern: &[S]) -> Vec<usize> {
        let mut positions: Vec<usize> = self.sa()[self.range(pattern)].iter().map(|&p| p as usize).collect();
        positions.sort_unstable();
        positions
    }

    /// The longest prefix of `query` that occurs in the text: its length and its suffix-array rows
    /// (the matching statistic of `query` at its first position). O(matched · log n).
    pub fn longest_prefix_match(&self, query: &[S]) -> (usize, Range<usize>) {
        let full = 0..self.len();
        let Some(&first) = query.first() else { return (0, full) };
        let mut range = self.first_symbol_range(first);
        if range.is_empty() {
            return (0, full);
        }
        let text = self.text();
        let sa = self.sa();
        for depth in 1..query.len() {
            if range.len() == 1 {
                // One candidate left: compare it directly instead of binary searching.
                let start = sa[range.start] as usize + depth;
                let agree = text[start.min(text.len())..]
                    .iter()
                    .zip(&query[depth..])
                    .take_while(|(a, b)| a == b)
                    .count();
                return (depth + agree, range);
            }
            let narrowed = self.narrow(range.clone(), depth, query[depth]);
            if narrowed.is_empty() {
                return (depth, range);
            }
            range = narrowed;
        }
        (query.len(), range)
    }

    /// Rows of `range` (suffixes sharing their first `depth` symbols) whose symbol at `depth` is `c`.
    fn narrow(&self, range: Range<usize>, depth: usize, c: S) -> Range<usize> {
        let text = self.text();
        let rows = &self.sa()[range.clone()];
        let key = |row: &u32| text.get(*row as usize + depth).copied();
        let lo = rows.partition_point(|r| key(r) < Some(c));
        let hi = lo + rows[lo..].partition_point(|r| key(r) <= Some(c));
        range.start + lo..range.start + hi
    }

    /// Rows of suffixes starting with `c`.
    fn first_symbol_range(&self, c: S) -> Range<usize> {
        let value = c.to_u64() as usize;
        if c != S::SEPARATOR && value + 1 < self.buckets.len() {
            return self.buckets[value] as usize..self.buckets[value + 1] as usize;
        }
        self.narrow(0..self.len(), 0, c)
    }

    /// The LCP array (Kasai et al. 2001): `lcp[i]` = length of the longest common prefix of the
    /// suffixes at rows i−1 and i (`lcp[0]` = 0), never counting a separator as a match.
    pub fn lcp(&self) -> Vec<u32> {
        let text = self.text();
        let sa = self.sa();
        let n = text.len();
        let mut rank = vec![0u32; n];
        for (row, &pos) in sa.iter().enumerate() {
            rank[pos as usize] = row as u32;
        }
        let mut lcp = vec![0u32; n];
        let mut h = 0usize;
        for pos in 0..n {
            let row = rank[pos] as usize;
            if row == 0 {
                h = 0;
                continue;
            }
            let prev = sa[row - 1] as usize;
            while pos + h < n && prev + h < n && text[pos + h] == text[prev + h] && text[pos + h] != S::SEPARATOR {
                h += 1;
            }
            lcp[row] = h as u32;
            h = h.saturating_sub(1);
        }
        lcp
    }

    /// Writes the index to `path` atomically (temporary file + rename): a 64-byte header (magic,
    /// version, symbol width, lengths, offsets, CRC-32 of header + text + suffix array), the text and the suffix array,
    /// little-endian and 8-byte aligned.
    pub fn save(&self, path: &Path) -> Result<(), SuffixArrayError> {
        let text: &[u8] = bytemuck::cast_slice(self.text());
        let sa: &[u8] = bytemuck::cast_slice(self.sa());
        let sa_offset = align8(HEADER_LEN + text.len());
        let mut header = [0u8; HEADER_LEN];
        header[0..8].copy_from_slice(&INDEX_MAGIC);
        header[8..12].copy_from_slice(&INDEX_VERSION.to_le_bytes());
        header[12..16].copy_from_slice(&(S::WIDTH as u32).to_le_bytes());
        header[16..24].copy_from_slice(&(self.len() as u64).to_le_bytes());
        header[24..32].copy_from_slice(&(HEADER_LEN as u64).to_le_bytes());
        header[32..40].copy_from_slice(&(sa_offset as u64).to_le_bytes());
        header[40..48].copy_from_slice(&(self.sa().len() as u64).to_le_bytes());
        let padding = vec![0u8; sa_offset - HEADER_LEN - text.len()];
        let crc = checksum(&header, text, sa);
        header[48..52].copy_from_slice(&crc.to_le_bytes());

        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| SuffixArrayError::io(path, e))?;
        let write = |file: &mut File| -> std::io::Result<()> {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            out.write_all(&header)?;
            out.write_all(text)?;
            out.write_all(&padding)?;
            out.write_all(sa)?;
            out.flush()?;
            drop(out);
            Ok(())
        };
        write(tmp.as_file_mut()).map_err(|e| SuffixArrayError::io(path, e))?;
        tmp.as_file().sync_all().map_err(|e| SuffixArrayError::io(path, e))?;
        tmp.persist(path).map_err(|e| SuffixArrayError::io(path, e.error))?;
        Ok(())
    }

    /// Memory-maps an index written by [`SuffixArray::save`], after checking its header, size,
    /// checksum and that every suffix position lies inside the text; anything else is refused with the reason.
    pub fn open(path: &Path) -> Result<Self, SuffixArrayError> {
        if !cfg!(target_endian = "little") {
            return Err(SuffixArrayError::invalid(path, "index files are little-endian; this machine is not"));
        }
        let mut file = File::open(path).map_err(|e| SuffixArrayError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| SuffixArrayError::io(path, e))?.len();
        if file_len < HEADER_LEN as u64 {
            return Err(SuffixArrayError::invalid(
                path,
                format!("truncated: {file_len} bytes, shorter than the {HEADER_LEN}-byte header"),
            ));
        }
        let mut header = [0u8; HEADER_LEN];
        file.read_exact(&mut header).map_err(|e| SuffixArrayError::io(path, e))?;
        let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
        if header[0..8] != INDEX_MAGIC {
            return Err(SuffixArrayError::invalid(path, "not a suffix-array index (wrong magic bytes)"));
        }
        let version = u32_at(8);
        if version != INDEX_VERSION {
            return Err(SuffixArrayError::invalid(
                path,
                format!("index format version {version}, this build reads version {INDEX_VERSION}"),
            ));
        }
        let width = u32_at(12);
        if width != S::WIDTH as u32 {
            return Err(SuffixArrayError::invalid(
                path,
                format!("index of {width}-byte symbols, expected {}-byte symbols", S::WIDTH),
            ));
        }
        let (text_len, text_offset, sa_offset, sa_len) = (u64_at(16), u64_at(24), u64_at(32), u64_at(40));
        if text_offset != HEADER_LEN as u64 || sa_len != text_len || text_len > MAX_TEXT_LEN as u64 {
            return Err(SuffixArrayError::invalid(
                path,
                format!("inconsistent header: text {text_len} symbols at {text_offset}, suffix array {sa_len} entries"),
            ));
        }
        let text_end = HEADER_LEN as u64 + text_len * S::WIDTH as u64;
        if sa_offset != align8(text_end as usize) as u64 {
            return Err(SuffixArrayError::invalid(path, format!("inconsistent header: suffix array offset {sa_offset}")));
        }
        let expected_len = sa_offset + 4 * sa_len;
        if file_len != expected_len {
            let what = if file_len < expected_len { "truncated" } else { "has trailing bytes" };
            return Err(SuffixArrayError::invalid(
                path,
                format!("{what}: {file_len} bytes, the header describes {expected_len}"),
            ));
        }
        // SAFETY: the file is opened read-only; like every mmap user we rely on it not being modified while open.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| SuffixArrayError::io(path, e))?;
        let text_range = HEADER_LEN..text_end as usize;
        let sa_range = sa_offset as usize..expected_len as usize;
        let stored = u32_at(48);
        let mut zeroed = header;
        zeroed[48..52].fill(0);
        let computed = checksum(&zeroed, &map[text_range.clone()], &map[sa_range.clone()]);
        if stored != computed {
            return Err(SuffixArrayError::invalid(
                path,
                format!("checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file was altered or damaged"),
            ));
        }
        let sa: &[u32] = bytemuck::cast_slice(&map[sa_range.clone()]);
        if let Some(bad) = sa.iter().find(|&&p| p as u64 >= text_len) {
            return Err(SuffixArrayError::invalid(path, format!("suffix position {bad} outside the text of {text_len}")));
        }
        Ok(Self::from_storage(Storage::Mapped { map, text: text_range, sa: sa_range, _symbol: PhantomData }))
    }

    /// Opens the index at `path` if it is valid and indexes exactly `text`; otherwise builds the
    /// index of `text`, saves it to `path` and says why (missing, refused with reason, or text changed).
    pub fn open_or_build(path: &Path, text: Vec<S>) -> Result<(Self, IndexStatus), SuffixArrayError> {
        let status = match Self::open(path) {
            Ok(index) if index.text() == text.as_slice() => return Ok((index, IndexStatus::Reused)),
            Ok(index) => IndexStatus::Rebuilt {
                reason: format!("the corpus changed ({} symbols indexed, {} now)", index.len(), text.len()),
            },
            Err(SuffixArrayError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                IndexStatus::Built
            }
            Err(e) => IndexStatus::Rebuilt { reason: e.to_string() },
        };
        let index = Self::build(text)?;
        index.save(path)?;
        Ok((index, status))
    }
}

fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

fn checksum(header: &[u8], text: &[u8], sa: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(text);
    hasher.update(sa);
    hasher.finalize()
}

/// Start rows per first symbol, for symbol values below a bound (all non-separator `u8`s; `u32`
/// values up to the largest one present, capped at [`MAX_BUCKET_TABLE`]).
fn first_symbol_buckets<S: Symbol>(text: &[S]) -> Vec<u32> {
    let max = text.iter().filter(|&&c| c != S::SEPARATOR).map(|c| c.to_u64()).max();
    let Some(max) = max else { return Vec::new() };
    let size = (max as usize + 1).min(MAX_BUCKET_TABLE);
    let mut counts = vec![0u32; size + 1];
    for &c in text {
        let v = c.to_u64() as usize;
        if v < size && c != S::SEPARATOR {
            counts[v + 1] += 1;
        }
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    counts
}
