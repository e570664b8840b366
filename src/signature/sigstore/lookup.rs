//! Looking up an image's cosign signature in a store and judging it: the tag
//! `sha256-<hex>.sig` in the image's own repository (registry or disk tree), its manifest and
//! every layer read with a 4 MiB bound, then [`verify::evaluate`].

use futures_util::TryStreamExt as _;

use super::verify::{self, Subject, Trust, MAX_SIGNATURE_BYTES};
use crate::digest::Digest;
use crate::store::{verified, BlobCheck, ImageStore, RawManifest, StoreError};

/// `sha256-<hex>.sig`: cosign's tag for the signature of `digest`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("{}-{}.sig", digest.algorithm(), digest.hex())
}

/// What was found for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A signature was accepted.
    Verified {
        /// The digest of the `.sig` manifest (what a byte-for-byte copy keeps).
        signature: Digest,
        accepted: verify::Accepted,
    },
    /// The repository has no signature tag for the image.
    Missing,
    /// A signature image exists and nothing in it is accepted: why, per layer.
    Rejected { signature: Digest, reasons: Vec<String> },
}

/// A store failure while looking (not a judgement on the signature).
#[derive(Debug, thiserror::Error)]
#[error("failed to read the sigstore signature {repo}:{tag}")]
pub struct LookupError {
    pub repo: String,
    pub tag: String,
    #[source]
    pub source: StoreError,
}

/// Look up and judge the signature of `subject` in `repo` of `store`.
pub async fn check<S: ImageStore>(
    store: &S,
    repo: &str,
    subject: Subject<'_>,
    trust: Trust<'_>,
) -> Result<Verdict, LookupError> {
    let tag = signature_tag(subject.digest);
    let fail = |source| LookupError { repo: repo.to_string(), tag: tag.clone(), source };
    let Some(found) = store.manifest_digest(repo, &tag).await.map_err(fail)? else { return Ok(Verdict::Missing) };
    let manifest = store.get_manifest(repo, found.as_str()).await.map_err(fail)?;
    Ok(judge(store, repo, &manifest, subject, trust).await)
}

/// Judge a `.sig` manifest already read from `repo` of `store` (its layers are read from
/// there): for a caller that fetched the tag itself, with no second request for it.
pub async fn judge<S: ImageStore>(
    store: &S,
    repo: &str,
    manifest: &RawManifest,
    subject: Subject<'_>,
    trust: Trust<'_>,
) -> Verdict {
    let found = manifest.digest.clone();
    let rejected = |reasons: Vec<String>| Verdict::Rejected { signature: found.clone(), reasons };
    let layers = match verify::signature_layers(manifest) {
        Ok(layers) => layers,
        Err(why) => return rejected(vec![why]),
    };
    // containers/image reads every layer of the attachment (any media type), each bounded.
    let mut payloads = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        match read_bounded(store, repo, &layer.digest, layer.size).await {
            Ok(bytes) => payloads.push(bytes),
            Err(why) => return rejected(vec![format!("layer {} ({}): {why}", i + 1, layer.digest)]),
        }
    }
    match verify::evaluate(&layers, &payloads, subject, trust) {
        Ok(accepted) => Verdict::Verified { signature: found, accepted },
        Err(reasons) => rejected(reasons),
    }
}

/// A layer read whole, at most [`MAX_SIGNATURE_BYTES`], its digest and size checked.
async fn read_bounded<S: ImageStore>(
    store: &S,
    repo: &str,
    digest: &Digest,
    size: u64,
) -> Result<bytes::Bytes, String> {
    if size > MAX_SIGNATURE_BYTES {
        return Err(format!("it is {size} bytes, over the limit of {MAX_SIGNATURE_BYTES}"));
    }
    let blob = store.get_blob(repo, digest).await.map_err(|e| format!("cannot be read: {e}"))?;
    // Signatures are always digest-checked, whatever the run's blob check.
    let mut stream = verified(blob.stream, digest.clone(), size, BlobCheck::Digest);
    let mut body = Vec::with_capacity(size as usize);
    while let Some(chunk) = stream.try_next().await.map_err(|e| format!("cannot be read: {e}"))? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > MAX_SIGNATURE_BYTES {
            return Err(format!("it is over the limit of {MAX_SIGNATURE_BYTES} bytes"));
        }
    }
    Ok(bytes::Bytes::from(body))
}

#[cfg(test)]
#[path = "lookup_tests.rs"]
mod tests;
