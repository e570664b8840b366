//! `verify-signature`: one signature file, one keyring file, one digest, checked offline
//! with the CVO's rules (for the far side of the air gap, and for audits).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::SignatureError;
use super::key::format_date;
use super::keyring::Keyring;
use super::verify::{verify, Verified};
use crate::digest::Digest;

/// Why `verify-signature` failed.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error("cannot read signature file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Keyring(Box<SignatureError>),
    #[error("signature {} is not valid for release {digest}", path.display())]
    Invalid {
        path: PathBuf,
        digest: Digest,
        #[source]
        source: Box<SignatureError>,
    },
}

/// The facts printed about a valid signature.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub valid: bool,
    pub identity: String,
    pub digest: String,
    pub keyring: String,
    pub key_fingerprint: String,
    pub key_id: String,
    pub created: Option<String>,
    pub creator: Option<String>,
    pub warnings: Vec<String>,
}

/// Checks one signature file against one keyring for `digest`; the caller shows the
/// report's `warnings`.
pub fn check(digest: &Digest, signature: &Path, key: &Path) -> Result<Report, OfflineError> {
    let (keyring, verified) = verify_file(digest, signature, key)?;
    Ok(Report {
        valid: true,
        keyring,
        created: verified.created.map(format_date),
        identity: verified.identity,
        digest: verified.digest,
        key_fingerprint: verified.key_fingerprint,
        key_id: verified.key_id,
        creator: verified.creator,
        warnings: verified.warnings,
    })
}

/// Verifies the signature in `signature` against the keyring in `key` for `digest`.
pub fn verify_file(digest: &Digest, signature: &Path, key: &Path) -> Result<(String, Verified), OfflineError> {
    let keyring = Keyring::from_file(key).map_err(|e| OfflineError::Keyring(Box::new(e)))?;
    let data =
        std::fs::read(signature).map_err(|source| OfflineError::Read { path: signature.to_path_buf(), source })?;
    let verified = verify(&data, &keyring, digest.as_str()).map_err(|source| OfflineError::Invalid {
        path: signature.to_path_buf(),
        digest: digest.clone(),
        source: Box::new(source),
    })?;
    Ok((keyring.name().to_string(), verified))
}

impl Report {
    /// The JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Aligned `Label: value` lines.
    pub fn to_text(&self) -> String {
        let mut out = String::from("Signature:       valid\n");
        let _ = writeln!(out, "Identity:        {}", self.identity);
        let _ = writeln!(out, "Digest:          {}", self.digest);
        let _ = writeln!(out, "Keyring:         {}", self.keyring);
        let _ = writeln!(out, "Key fingerprint: {}", self.key_fingerprint);
        let _ = writeln!(out, "Key ID:          {}", self.key_id);
        let created = self.created.as_deref().unwrap_or("unknown");
        let _ = writeln!(out, "Created:         {created}");
        if let Some(creator) = &self.creator {
            let _ = writeln!(out, "Creator:         {creator}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_signature_file_is_named() {
        // A valid keyring, so that the signature file is what fails.
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("key.asc");
        std::fs::write(&key, crate::signature::vectors::V3_KEY).expect("write");
        let digest: Digest = format!("sha256:{}", "a".repeat(64)).parse().expect("digest");
        let signature = dir.path().join("signature-1");
        let err = verify_file(&digest, &signature, &key).expect_err("no signature file");
        assert!(matches!(&err, OfflineError::Read { path, .. } if *path == signature), "{err:?}");
        assert_eq!(err.to_string(), format!("cannot read signature file {}", signature.display()));
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("No such file or directory (os error 2)"));
    }

    #[test]
    fn a_keyring_without_keys_is_refused_before_the_signature_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("key.asc");
        std::fs::write(&key, b"no key").expect("write");
        let digest: Digest = format!("sha256:{}", "a".repeat(64)).parse().expect("digest");
        let err = verify_file(&digest, &dir.path().join("signature-1"), &key).expect_err("no key");
        assert_eq!(err.to_string(), "keyring key.asc: no public keys found");
    }

    #[test]
    fn the_text_report_lists_identity_digest_key_and_time() {
        let report = Report {
            valid: true,
            identity: "q.io/r:1".into(),
            digest: "sha256:x".into(),
            keyring: "k".into(),
            key_fingerprint: "F".into(),
            key_id: "I".into(),
            created: Some(format_date(0)),
            creator: None,
            warnings: Vec::new(),
        };
        let text = report.to_text();
        assert!(text.contains("Identity:        q.io/r:1\n"), "{text}");
        assert!(text.contains("Key fingerprint: F\n"), "{text}");
        assert!(text.contains("Created:         1970-01-01T00:00:00Z\n"), "{text}");
    }
}
