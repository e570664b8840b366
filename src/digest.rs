//! Content digests (`sha256:<64 hex>`) and a streaming hasher. Pure: it knows no store.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A validated `sha256:<64 lowercase hex>` content digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Digest(String);

/// Why a digest string was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid digest {text:?}: expected sha256:<64 lowercase hex digits>")]
pub struct DigestError {
    pub(crate) text: String,
}

impl Digest {
    /// The digest of `bytes`.
    pub(crate) fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The 64 hex digits without the algorithm.
    pub(crate) fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm name (always `sha256`).
    pub(crate) fn algorithm(&self) -> &str {
        "sha256"
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let ok = text
            .strip_prefix("sha256:")
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        if ok {
            Ok(Digest(text.to_string()))
        } else {
            Err(DigestError { text: text.to_string() })
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hashes bytes as they stream past; `finish` says whether they matched.
#[derive(Default)]
pub(crate) struct Hasher {
    sha: Sha256,
    len: u64,
}

impl Hasher {
    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.sha.update(chunk);
        self.len += chunk.len() as u64;
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn finish(self) -> Digest {
        Digest(format!("sha256:{}", hex::encode(self.sha.finalize())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_sha256_digest_and_exposes_its_hex() {
        let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        assert_eq!(d.hex(), "a".repeat(64));
        assert_eq!(d.algorithm(), "sha256");
    }

    #[test]
    fn rejects_short_uppercase_and_other_algorithms() {
        for bad in ["sha256:abc", &format!("sha256:{}", "A".repeat(64)), &format!("sha512:{}", "a".repeat(64)), ""] {
            let err = bad.parse::<Digest>().unwrap_err();
            assert!(err.to_string().contains("invalid digest"), "{err}");
        }
    }

    #[test]
    fn streaming_hash_equals_one_shot_hash() {
        let mut h = Hasher::default();
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.len(), 11);
        assert_eq!(h.finish(), Digest::of(b"hello world"));
        assert_eq!(Digest::of(b"").as_str(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
