//! Atomic file writes: a temporary file in the same directory, flushed, then renamed into place,
//! so a reader never sees a half-written report.

use std::io::Write;
use std::path::Path;

use crate::Error;

/// Writes `bytes` to `path` atomically: tempfile's named file in the same directory, fsynced,
/// then persisted (renamed) over `path`; the temporary file never outlives a failure.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
