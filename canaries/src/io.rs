//! canaries.json: the answer key, written atomically (tempfile's named file in the same
//! folder, fsynced, then persisted over the old one) and checked on load.

use std::io::Write;
use std::path::Path;

use crate::error::{CanaryError, Result};
use crate::set::CanarySet;

impl CanarySet {
    /// Writes the set as pretty JSON to `path` atomically: a temporary file in the same folder,
    /// flushed to disk, then renamed over `path`, so readers never see a half-written key.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| CanaryError::Invalid {
            path: path.to_path_buf(),
            reason: format!("cannot serialise: {e}"),
        })?;
        bytes.push(b'\n');
        let io = |source| CanaryError::Io { path: path.to_path_buf(), source };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        tmp.write_all(&bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Reads and checks a canaries.json written by [`CanarySet::save`].
    pub fn load(path: &Path) -> Result<CanarySet> {
        let bytes = std::fs::read(path).map_err(|source| CanaryError::Io { path: path.to_path_buf(), source })?;
        let mut set: CanarySet = serde_json::from_slice(&bytes).map_err(|e| CanaryError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        set.check().map_err(|reason| CanaryError::Invalid { path: path.to_path_buf(), reason })?;
        // JSON decimals may differ from the computed value in the last bit: use the exact one.
        for c in &mut set.canaries {
            if let Some(family) = set.families.iter().find(|f| f.name == c.family) {
                c.secret_space_log2 = family.secret.log2_size();
            }
        }
        Ok(set)
    }
}
