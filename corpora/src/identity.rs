//! A prepared corpus's identity: what it is made of and how it was made, never where it was
//! on disk. Two preparations of the same input bytes with the same options and seeds have
//! the same identity, so `compare` recognises them; paths stay in the manifest as
//! information outside the identity.

use serde_json::json;

use crate::fsutil::sha256_bytes;
use crate::manifest::Manifest;

impl Manifest {
    /// SHA-256 (hex) of the corpus identity: the format version, each input's format, size
    /// and content SHA-256 (in reading order, without its path), the preparation options,
    /// the seeds, the tokenizer's origin by content (vocabulary, SHA-256 of a loaded file),
    /// the de-identification key's fingerprint, and the SHA-256 of every output file.
    pub fn identity_sha256(&self) -> String {
        let inputs: Vec<_> = self.inputs.iter().map(|i| json!([i.format, i.bytes, i.sha256])).collect();
        let identity = json!({
            "format_version": self.format_version,
            "inputs": inputs,
            "options": self.options,
            "seeds": self.seeds,
            "tokenizer": [self.tokenizer.source, self.tokenizer.vocab_size, self.tokenizer.loaded_sha256],
            "pii_key_fingerprint": self.pii.key_fingerprint,
            "outputs": self.outputs,
        });
        // Keys come in a fixed order (macro order, struct order, BTreeMap order): the text is canonical.
        sha256_bytes(identity.to_string().as_bytes())
    }
}
