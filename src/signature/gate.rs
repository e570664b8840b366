//! The signature gate of a mirror run: which keys and stores to use (the payload's, or the
//! flags' instead), and the search for a valid signature per keyring, before anything is
//! copied.

use std::path::PathBuf;
use std::time::Duration;

use super::error::SignatureError;
use super::keyring::Keyring;
use super::search::{find_signatures, Accepted, NoValidSignature};
use super::store::{FetchError, StoreClient};
use crate::digest::Digest;
use crate::release::VerificationConfig;

/// Prefix of the keyring entries of the payload's `release-verification` ConfigMap.
pub const KEY_PREFIX: &str = "verifier-public-key-";

/// Where the keys and stores come from.
#[derive(Debug, Clone)]
pub struct GateOptions {
    /// `--release-image-signature-key` files; when given, the payload's keys are ignored.
    pub key_files: Vec<PathBuf>,
    /// `--release-image-signature-store` URLs; when given, the payload's stores are ignored.
    pub stores: Vec<String>,
    /// Per-request store timeout.
    pub timeout: Duration,
    /// How stores over HTTPS are trusted (the run's CA bundle, `--insecure`).
    pub http: crate::http::Settings,
}

/// Why the release's signatures could not be established.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(
        "the release payload names no signature keys (no {KEY_PREFIX}* in its release-verification \
         configmap): give --release-image-signature-key=FILE, or --skip-release-image-signature \
         to mirror without verifying"
    )]
    NoKeys,
    #[error(
        "the release payload names no signature stores (no store-* in its release-verification \
         configmap): give --release-image-signature-store=URL, or --skip-release-image-signature \
         to mirror without verifying"
    )]
    NoStores,
    #[error(transparent)]
    Keyring(#[from] SignatureError),
    #[error(transparent)]
    Client(#[from] FetchError),
    #[error(transparent)]
    NoValidSignature(#[from] NoValidSignature),
}

/// The keyrings to satisfy: the key files when given, else the payload's.
pub fn keyrings(key_files: &[PathBuf], payload: Option<&VerificationConfig>) -> Result<Vec<Keyring>, GateError> {
    if !key_files.is_empty() {
        return key_files.iter().map(|path| Keyring::from_file(path).map_err(GateError::from)).collect();
    }
    let keys = payload.map(|p| &p.keys).filter(|k| !k.is_empty());
    let keys = keys.ok_or(GateError::NoKeys)?;
    keys.iter()
        .map(|(name, data)| Keyring::from_bytes(&format!("{KEY_PREFIX}{name}"), data).map_err(GateError::from))
        .collect()
}

/// The stores to search, in order: the flags' when given, else the payload's.
pub fn stores(flags: &[String], payload: Option<&VerificationConfig>) -> Result<Vec<String>, GateError> {
    if !flags.is_empty() {
        return Ok(flags.to_vec());
    }
    let stores: Vec<String> = payload.map(|p| p.stores.values().cloned().collect()).unwrap_or_default();
    if stores.is_empty() {
        return Err(GateError::NoStores);
    }
    Ok(stores)
}

/// Finds a valid signature of `digest` for every keyring.
pub async fn check_release(
    options: &GateOptions,
    payload: Option<&VerificationConfig>,
    digest: &Digest,
) -> Result<Vec<Accepted>, GateError> {
    let keyrings = keyrings(&options.key_files, payload)?;
    let stores = stores(&options.stores, payload)?;
    let client = StoreClient::new(&options.http, options.timeout)?;
    Ok(find_signatures(&client, &stores, &keyrings, digest).await?)
}

/// The distinct signatures of `accepted`, in the order they were found.
pub fn distinct_signatures(accepted: &[Accepted]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    for a in accepted {
        if !out.contains(&a.bytes.as_slice()) {
            out.push(&a.bytes);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_without_keys_asks_for_keys_or_skip() {
        let err = keyrings(&[], None).expect_err("no keys");
        let text = err.to_string();
        assert!(text.contains("--release-image-signature-key"), "{text}");
        assert!(text.contains("--skip-release-image-signature"), "{text}");
        let empty = VerificationConfig::default();
        assert!(matches!(keyrings(&[], Some(&empty)), Err(GateError::NoKeys)));
    }

    #[test]
    fn flags_replace_the_payload_stores() {
        let mut payload = VerificationConfig::default();
        payload.stores.insert("a".into(), "https://a".into());
        payload.stores.insert("b".into(), "https://b".into());
        assert_eq!(stores(&[], Some(&payload)).expect("stores"), ["https://a", "https://b"]);
        let flags = vec!["file:///s".to_string()];
        assert_eq!(stores(&flags, Some(&payload)).expect("stores"), ["file:///s"]);
        assert!(matches!(stores(&[], None), Err(GateError::NoStores)));
    }

    #[test]
    fn key_files_replace_the_payload_keys_and_name_the_keyring() {
        let mut payload = VerificationConfig::default();
        payload.keys.insert("x".into(), b"garbage".to_vec());
        let err = keyrings(&[PathBuf::from("/nonexistent/k.asc")], Some(&payload)).expect_err("missing");
        assert_eq!(err.to_string(), "cannot read keyring file /nonexistent/k.asc");
        let err = keyrings(&[], Some(&payload)).expect_err("garbage");
        assert_eq!(err.to_string(), "keyring verifier-public-key-x: no public keys found");
    }
}
