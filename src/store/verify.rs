//! Checking blob bytes against their digest while they stream past, under a policy value
//! ([`BlobCheck`]) that travels with each store instead of a process-wide switch.

use std::io;

use futures_util::StreamExt;

use super::ByteStream;
use crate::digest::{Digest, Hasher};

/// How blob contents are checked as they stream (`--skip-verification` picks `LengthOnly`).
/// Manifests are always digest-checked: signatures and every other digest depend on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlobCheck {
    /// Length and digest (the default).
    #[default]
    Digest,
    /// Length only: for a registry known to serve blobs under wrong digests.
    LengthOnly,
}

/// Pass a blob stream through, hashing it. When the content does not match `expected` (or
/// the length `size`, when non-zero), the stream yields an error *instead of* its last chunk,
/// so a writer fed from it never sees the whole body and never commits wrong content (an
/// HTTP upload with a Content-Length stops polling once it has `size` bytes).
pub fn verified(inner: ByteStream, expected: Digest, size: u64, policy: BlobCheck) -> ByteStream {
    let digest_check = policy == BlobCheck::Digest;
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

    fn collect(stream: ByteStream) -> Vec<io::Result<bytes::Bytes>> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(stream.collect())
    }

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        Box::pin(futures_util::stream::iter(parts.iter().map(|p| Ok(bytes::Bytes::from_static(p))).collect::<Vec<_>>()))
    }

    #[test]
    fn a_matching_stream_passes_unchanged() {
        let out = collect(verified(chunks(&[b"hello ", b"world"]), Digest::of(b"hello world"), 11, BlobCheck::Digest));
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|c| c.is_ok()));
    }

    #[test]
    fn a_mismatch_replaces_the_last_chunk_with_an_error() {
        let out = collect(verified(chunks(&[b"hello ", b"WORLD"]), Digest::of(b"hello world"), 11, BlobCheck::Digest));
        assert!(out[0].is_ok());
        let err = out[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("does not match its digest"), "{err}");
        assert_eq!(out.len(), 2, "the bad final chunk is never yielded");
    }

    #[test]
    fn a_short_or_unsized_stream_is_checked_at_its_end() {
        let out = collect(verified(chunks(&[b"hello"]), Digest::of(b"hello world"), 11, BlobCheck::Digest));
        assert!(out.last().unwrap().as_ref().unwrap_err().to_string().contains("is 5 bytes, expected 11"));
        let out = collect(verified(chunks(&[b"hello"]), Digest::of(b"other"), 0, BlobCheck::Digest));
        assert!(out.last().unwrap().is_err());
    }

    #[test]
    fn without_the_digest_check_only_the_length_is_checked() {
        let out =
            collect(verified(chunks(&[b"hello ", b"WORLD"]), Digest::of(b"hello world"), 11, BlobCheck::LengthOnly));
        assert!(out.iter().all(|c| c.is_ok()), "a wrong content of the right length passes");
        let out = collect(verified(chunks(&[b"hello"]), Digest::of(b"hello world"), 11, BlobCheck::LengthOnly));
        assert!(out.last().unwrap().as_ref().unwrap_err().to_string().contains("is 5 bytes, expected 11"));
    }
}
