//! A named set of OpenPGP public keys that release signatures are checked against.
//!
//! Every key and bound subkey is listed once, with its standing (see `key.rs`): a revoked
//! key or subkey is kept (to name it in errors) but never counts.

use std::path::Path;

use pgp::composed::{Deserializable, SignedPublicKey};

use super::error::SignatureError;
use super::key::{key_entries, KeyEntry};

const ARMOR_BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const ARMOR_END: &str = "-----END PGP PUBLIC KEY BLOCK-----";

/// A keyring: a name (such as `redhat-release`) and its parsed public keys.
#[derive(Debug, Clone)]
pub(crate) struct Keyring {
    name: String,
    entries: Vec<KeyEntry>,
}

impl Keyring {
    /// Parses an armored (one or more key blocks, any preamble) or binary keyring.
    pub(crate) fn from_bytes(name: &str, data: &[u8]) -> Result<Keyring, SignatureError> {
        let malformed =
            |source: pgp::errors::Error| SignatureError::MalformedKey { name: name.to_string(), source: source.into() };
        let mut keys = Vec::new();
        if data.first().is_some_and(|b| b & 0x80 != 0) {
            let parsed = SignedPublicKey::from_bytes_many(data).map_err(malformed)?;
            for key in parsed {
                keys.push(key.map_err(malformed)?);
            }
        } else {
            let text = String::from_utf8_lossy(data);
            for block in armored_blocks(&text) {
                let (parsed, _headers) = SignedPublicKey::from_armor_many(block.as_bytes()).map_err(malformed)?;
                for key in parsed {
                    keys.push(key.map_err(malformed)?);
                }
            }
        }
        if keys.is_empty() {
            return Err(SignatureError::NoKeys { name: name.to_string() });
        }
        let entries = keys.iter().flat_map(key_entries).collect();
        Ok(Keyring { name: name.to_string(), entries })
    }

    /// Reads a keyring file; the keyring is named after the file.
    pub(crate) fn from_file(path: impl AsRef<Path>) -> Result<Keyring, SignatureError> {
        let path = path.as_ref();
        let data =
            std::fs::read(path).map_err(|source| SignatureError::KeyringRead { path: path.to_path_buf(), source })?;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        Keyring::from_bytes(&name, &data)
    }

    /// The keyring's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Uppercase hex fingerprints of the primary keys.
    pub(crate) fn fingerprints(&self) -> Vec<String> {
        self.entries.iter().filter(|e| e.primary_fingerprint.is_none()).map(|e| e.fingerprint.clone()).collect()
    }

    /// Every key and bound subkey, revoked ones included.
    pub(crate) fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }
}

/// The armored public key blocks of `text`, each from its BEGIN line to its END line,
/// skipping any human-readable preamble (`pub …/uid …`) around them.
fn armored_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(ARMOR_BEGIN) {
        let block = &rest[start..];
        match block.find(ARMOR_END) {
            Some(end) => {
                let end = end + ARMOR_END.len();
                blocks.push(&block[..end]);
                rest = &block[end..];
            }
            None => {
                blocks.push(block);
                break;
            }
        }
    }
    blocks
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::signature::vectors::*;

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn armored_keyring_with_preamble_is_parsed() {
        let fx = fixtures();
        let keyring = Keyring::from_file(fx.join(RH_KEY)).expect("keyring");
        assert_eq!(keyring.name(), "verifier-public-key-redhat-release");
        assert_eq!(keyring.fingerprints(), [RH_FPR]);
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn every_armored_block_of_a_keyring_is_read() {
        let fx = fixtures();
        let mut data = std::fs::read(fx.join(RH_KEY)).expect("read");
        data.extend(std::fs::read(fx.join(format!("{LG}/keyrings/simple.txt"))).expect("read"));
        let keyring = Keyring::from_bytes("two", &data).expect("keyring");
        assert_eq!(keyring.fingerprints().len(), 2);
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn binary_keyring_with_several_keys_is_parsed() {
        let fx = fixtures();
        let keyring = Keyring::from_file(fx.join(format!("{CI}/pubring.gpg"))).expect("keyring");
        assert_eq!(keyring.fingerprints().len(), 4);
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn malformed_key_error_names_the_keyring() {
        let fx = fixtures();
        let path = fx.join("oc-mirror/tests/unit/testdata/buggy-ocp-sig-key.asc");
        let err = Keyring::from_file(path).expect_err("buggy key");
        assert!(matches!(err, SignatureError::MalformedKey { .. }), "{err}");
        assert_eq!(err.to_string(), "keyring buggy-ocp-sig-key.asc: malformed public key");
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("invalid packet content"));
    }

    #[test]
    fn text_without_key_block_has_no_keys() {
        let err = Keyring::from_bytes("empty", b"no keys here\n").expect_err("no keys");
        assert_eq!(err.to_string(), "keyring empty: no public keys found");
    }

    #[test]
    fn missing_keyring_file_is_reported_with_its_path() {
        let err = Keyring::from_file("/nonexistent/keyring").expect_err("missing");
        assert_eq!(err.to_string(), "cannot read keyring file /nonexistent/keyring");
    }
}
