//! Keyed hashes (HMAC-SHA256, RFC 2104) of PII values left in the text, and the `fst` set file
//! that stores them. The key lives outside the run directory, so the directory alone does not
//! allow brute-forcing low-entropy values such as phone numbers.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::PiiKind;
use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

/// Key length written to new key files (bytes).
const KEY_BYTES: usize = 32;

/// The default key file: `<user data dir>/vg-audit/pii.key`.
pub fn default_key_path() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("vg-audit").join("pii.key"))
}

/// HMAC-SHA256 keyed hashing of PII values.
#[derive(Clone)]
pub struct PiiHasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for PiiHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PiiHasher {{ fingerprint: {} }}", self.fingerprint())
    }
}

impl PiiHasher {
    /// A hasher with the given key (at least 16 bytes).
    pub fn from_key(key: &[u8]) -> Result<Self> {
        if key.len() < 16 {
            return Err(Error::PiiKey { path: PathBuf::from("(in memory)"), reason: format!("key has {} bytes, need at least 16", key.len()) });
        }
        Ok(PiiHasher { key: key.to_vec() })
    }

    /// Reads the key file at `path`; it must exist and hold at least 16 bytes.
    pub fn from_key_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let key = std::fs::read(path).map_err(|e| Error::PiiKey { path: path.to_path_buf(), reason: e.to_string() })?;
        if key.len() < 16 {
            return Err(Error::PiiKey { path: path.to_path_buf(), reason: format!("key has {} bytes, need at least 16", key.len()) });
        }
        Ok(PiiHasher { key })
    }

    /// Reads the key file, or creates it (32 random bytes from the OS generator, owner-only permissions,
    /// parent directory created owner-only) when it does not exist.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if path.exists() {
            return Self::from_key_file(path);
        }
        let err = |e: std::io::Error| Error::PiiKey { path: path.to_path_buf(), reason: e.to_string() };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent).map_err(err)?;
        }
        let mut key = vec![0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut key);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(path) {
            Ok(mut f) => {
                f.write_all(&key).map_err(err)?;
                f.sync_all().map_err(err)?;
                Ok(PiiHasher { key })
            }
            // another process created it first: use theirs
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::from_key_file(path),
            Err(e) => Err(err(e)),
        }
    }

    /// HMAC-SHA256(key, kind name ‖ 0x1F ‖ canonical value).
    pub fn hash(&self, kind: PiiKind, value: &str) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(kind.name().as_bytes());
        mac.update(&[0x1f]);
        mac.update(kind.canonical(value).as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Hex of `hash`, the form stored in the `fst` set.
    pub fn hash_hex(&self, kind: PiiKind, value: &str) -> String {
        hex::encode(self.hash(kind, value))
    }

    /// Identifies the key without revealing it: first 8 bytes of HMAC(key, "vg-audit pii key fingerprint"), hex.
    pub fn fingerprint(&self) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"vg-audit pii key fingerprint");
        hex::encode(&mac.finalize().into_bytes()[..8])
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Serialises hex hashes as an `fst` set (sorted, deduplicated) and returns the bytes.
pub fn write_hash_set(mut hex_hashes: Vec<String>) -> Vec<u8> {
    hex_hashes.sort_unstable();
    hex_hashes.dedup();
    let mut builder = fst::SetBuilder::memory();
    for h in &hex_hashes {
        builder.insert(h).expect("keys are sorted and unique");
    }
    builder.into_inner().expect("in-memory fst build cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn key_file_is_created_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("pii.key");
        let a = PiiHasher::load_or_create(&p).unwrap();
        let b = PiiHasher::load_or_create(&p).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.hash(PiiKind::Phone, "+1 415 555 0134"), b.hash(PiiKind::Phone, "+14155550134"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
