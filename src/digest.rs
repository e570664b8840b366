//! Content digests (`sha256:<64 hex>`) and streaming verification.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};
use std::io;

use crate::store::ByteStream;

/// A validated `sha256:<64 lowercase hex>` content digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Digest(String);

/// Why a digest string was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid digest {text:?}: expected sha256:<64 lowercase hex digits>")]
pub struct DigestError {
    pub text: String,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The 64 hex digits without the algorithm.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm name (always `sha256`).
    pub fn algorithm(&self) -> &str {
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
pub struct Hasher {
    sha: Sha256,
    len: u64,
}

impl Hasher {
    pub fn update(&mut self, chunk: &[u8]) {
        self.sha.update(chunk);
        self.len += chunk.len() as u64;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn finish(self) -> Digest {
        Digest(format!("sha256:{}", hex::encode(self.sha.finalize())))
    }
}

/// Whether blob contents are compared with their digests (`--skip-verification` turns it off).
static CHECK_BLOB_DIGESTS: AtomicBool = AtomicBool::new(true);

/// `--skip-verification`: from now on, blob streams are checked for their length only.
/// Manifests are always digest-checked (signatures and every other digest depend on them).
pub fn skip_blob_digest_checks() {
    CHECK_BLOB_DIGESTS.store(false, Ordering::Relaxed);
}

/// Pass a blob stream through, hashing it. When the content does not match `expected` (or
/// the length `size`, when non-zero), the stream yields an error *instead of* its last chunk,
/// so a writer fed from it never sees the whole body and never commits wrong content (an
/// HTTP upload with a Content-Length stops polling once it has `size` bytes).
pub fn verified(inner: ByteStream, expected: Digest, size: u64) -> ByteStream {
    verified_with(inner, expected, size, CHECK_BLOB_DIGESTS.load(Ordering::Relaxed))
}

/// [`verified`], comparing the digest only when `digest_check` (the length always).
fn verified_with(inner: ByteStream, expected: Digest, size: u64, digest_check: bool) -> ByteStream {
    let state = (inner, Some(Hasher::default()));
    Box::pin(futures_util::stream::unfold(state, move |(mut inner, hasher)| {
        let expected = expected.clone();
        async move {
            let mut hasher = hasher?;
            match inner.next().await {
                Some(Ok(chunk)) => {
                    hasher.update(&chunk);
                    let complete = size != 0 && hasher.len() >= size;
                    if !complete {
                        return Some((Ok(chunk), (inner, Some(hasher))));
                    }
                    match check(hasher, &expected, size, digest_check) {
                        Ok(()) => Some((Ok(chunk), (inner, None))),
                        Err(e) => Some((Err(e), (inner, None))),
                    }
                }
                Some(Err(e)) => Some((Err(e), (inner, None))),
                None => check(hasher, &expected, size, digest_check).err().map(|e| (Err(e), (inner, None))),
            }
        }
    }))
}

fn check(hasher: Hasher, expected: &Digest, size: u64, digest_check: bool) -> io::Result<()> {
    let len = hasher.len();
    if size != 0 && len != size {
        let msg = format!("blob {expected} is {len} bytes, expected {size}");
        return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
    }
    if !digest_check {
        return Ok(());
    }
    let actual = hasher.finish();
    if actual != *expected {
        let msg = format!("blob content does not match its digest: expected {expected}, got {actual}");
        return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
    }
    Ok(())
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

    fn collect(stream: ByteStream) -> Vec<io::Result<bytes::Bytes>> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(stream.collect())
    }

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        Box::pin(futures_util::stream::iter(parts.iter().map(|p| Ok(bytes::Bytes::from_static(p))).collect::<Vec<_>>()))
    }

    #[test]
    fn a_matching_stream_passes_unchanged() {
        let out = collect(verified(chunks(&[b"hello ", b"world"]), Digest::of(b"hello world"), 11));
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|c| c.is_ok()));
    }

    #[test]
    fn a_mismatch_replaces_the_last_chunk_with_an_error() {
        let out = collect(verified(chunks(&[b"hello ", b"WORLD"]), Digest::of(b"hello world"), 11));
        assert!(out[0].is_ok());
        let err = out[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("does not match its digest"), "{err}");
        assert_eq!(out.len(), 2, "the bad final chunk is never yielded");
    }

    #[test]
    fn a_short_or_unsized_stream_is_checked_at_its_end() {
        let out = collect(verified(chunks(&[b"hello"]), Digest::of(b"hello world"), 11));
        assert!(out.last().unwrap().as_ref().unwrap_err().to_string().contains("is 5 bytes, expected 11"));
        let out = collect(verified(chunks(&[b"hello"]), Digest::of(b"other"), 0));
        assert!(out.last().unwrap().is_err());
    }

    #[test]
    fn without_the_digest_check_only_the_length_is_checked() {
        let out = collect(verified_with(chunks(&[b"hello ", b"WORLD"]), Digest::of(b"hello world"), 11, false));
        assert!(out.iter().all(|c| c.is_ok()), "a wrong content of the right length passes");
        let out = collect(verified_with(chunks(&[b"hello"]), Digest::of(b"hello world"), 11, false));
        assert!(out.last().unwrap().as_ref().unwrap_err().to_string().contains("is 5 bytes, expected 11"));
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
