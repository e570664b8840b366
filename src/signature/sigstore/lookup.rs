//! Looking up an image's cosign signature in a store and judging it: the tag
//! `sha256-<hex>.sig` in the image's own repository (registry or disk tree), its manifest and
//! every layer read with a 4 MiB bound, then [`verify::evaluate`]. The layers judged are
//! handed back with the verdict, so a mirror copies those very bytes without a second read.

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
        /// What the accepted signature says.
        accepted: verify::Accepted,
    },
    /// The repository has no signature tag for the image.
    Missing,
    /// A signature image exists and nothing in it is accepted: why, per layer.
    Rejected {
        /// The digest of the `.sig` manifest.
        signature: Digest,
        /// Why each signature in it was refused.
        reasons: Vec<String>,
    },
}

/// A store failure while looking (not a judgement on the signature).
#[derive(Debug, thiserror::Error)]
#[error("failed to read the sigstore signature {repo}:{tag}")]
pub struct LookupError {
    pub(crate) repo: String,
    pub(crate) tag: String,
    #[source]
    pub(crate) source: StoreError,
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
    let Some(manifest) = signature_manifest(store, repo, &tag).await.map_err(fail)? else {
        return Ok(Verdict::Missing);
    };
    Ok(judge(store, repo, &manifest, subject, trust).await?.verdict)
}

/// The `.sig` manifest at `tag`, if there is one: read by its tag (one round trip where a
/// signature is found); only when that fails is the tag asked about, so a missing signature
/// is `None` and any other failure an error, in a registry or a disk tree alike.
pub async fn signature_manifest<S: ImageStore>(
    store: &S,
    repo: &str,
    tag: &str,
) -> Result<Option<RawManifest>, StoreError> {
    if let Ok(found) = store.get_manifest(repo, tag).await {
        return Ok(Some(found));
    }
    match store.manifest_digest(repo, tag).await? {
        Some(found) => store.get_manifest(repo, found.as_str()).await.map(Some),
        None => Ok(None),
    }
}

/// A verdict and the layers it was reached on, each read once, whole and digest-checked
/// (empty when the manifest was refused before any layer was read).
#[derive(Debug)]
pub struct Judged {
    /// What was found.
    pub verdict: Verdict,
    /// The layers read to reach it, by digest.
    pub layers: Vec<(Digest, bytes::Bytes)>,
}

/// Judge a `.sig` manifest already read from `repo` of `store` (its layers are read from
/// there): for a caller that fetched the tag itself, with no second request for it. A store
/// failure is an error; content that is too large or not what its digest says is a rejection.
pub async fn judge<S: ImageStore>(
    store: &S,
    repo: &str,
    manifest: &RawManifest,
    subject: Subject<'_>,
    trust: Trust<'_>,
) -> Result<Judged, LookupError> {
    let rejected = |reasons: Vec<String>| {
        Ok(Judged { verdict: Verdict::Rejected { signature: manifest.digest.clone(), reasons }, layers: Vec::new() })
    };
    let layers = match verify::signature_layers(manifest) {
        Ok(layers) => layers,
        Err(why) => return rejected(vec![why]),
    };
    let total: u64 = layers.iter().map(|l| l.size).fold(0, u64::saturating_add);
    if total > MAX_SIGNATURE_IMAGE_BYTES {
        return rejected(vec![format!("its layers are {total} bytes, over the limit of {MAX_SIGNATURE_IMAGE_BYTES}")]);
    }
    // containers/image reads every layer of the attachment (any media type), each bounded.
    let mut payloads = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        match read_bounded(store, repo, &layer.digest, layer.size).await {
            Ok(bytes) => payloads.push(bytes),
            Err(Unread::Content(why)) => return rejected(vec![format!("layer {} ({}): {why}", i + 1, layer.digest)]),
            Err(Unread::Store(source)) => {
                return Err(LookupError { repo: repo.to_string(), tag: signature_tag(subject.digest), source })
            }
        }
    }
    let verdict = match verify::evaluate(&layers, &payloads, subject, trust) {
        Ok(accepted) => Verdict::Verified { signature: manifest.digest.clone(), accepted },
        Err(reasons) => Verdict::Rejected { signature: manifest.digest.clone(), reasons },
    };
    Ok(Judged { verdict, layers: layers.iter().map(|l| l.digest.clone()).zip(payloads).collect() })
}

/// The most bytes of all the layers of one `.sig` image (a real one holds a few hundred).
pub const MAX_SIGNATURE_IMAGE_BYTES: u64 = 4 * MAX_SIGNATURE_BYTES;

/// Why a layer was not read: the store failed, or its content is refused.
enum Unread {
    Store(StoreError),
    Content(String),
}

/// A layer read whole, at most [`MAX_SIGNATURE_BYTES`], its digest and size checked.
async fn read_bounded<S: ImageStore>(
    store: &S,
    repo: &str,
    digest: &Digest,
    size: u64,
) -> Result<bytes::Bytes, Unread> {
    if size > MAX_SIGNATURE_BYTES {
        return Err(Unread::Content(format!("it is {size} bytes, over the limit of {MAX_SIGNATURE_BYTES}")));
    }
    let blob = store.get_blob(repo, digest).await.map_err(Unread::Store)?;
    // Signatures are always digest-checked, whatever the run's blob check.
    let mut stream = verified(blob.stream, digest.clone(), size, BlobCheck::Digest);
    let mut body = Vec::with_capacity(size as usize);
    loop {
        match stream.try_next().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return Ok(bytes::Bytes::from(body)),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(Unread::Content(e.to_string())),
            Err(e) => return Err(Unread::Store(StoreError::new(e, false))),
        }
        if body.len() as u64 > MAX_SIGNATURE_BYTES {
            return Err(Unread::Content(format!("it is over the limit of {MAX_SIGNATURE_BYTES} bytes")));
        }
    }
}

#[cfg(test)]
#[path = "lookup_tests.rs"]
mod tests;
