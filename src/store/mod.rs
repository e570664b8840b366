//! The one image-store interface that registries and disk trees both implement, so every
//! direction (registry→registry, registry→disk, disk→registry, disk→disk) runs through the
//! same executor. It owns the interface, its data types and the streaming digest check; it
//! names no implementation (`registry/` and `disk/` implement it; `mirror/` picks one per
//! reference).

mod retries;
mod verify;

use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

use crate::digest::Digest;

pub use retries::{jitter, Retries, RetryPolicy, DEFAULT_TRIES};
pub use verify::{verified, BlobCheck};

/// A stream of blob bytes. Errors are `io::Error` so it can feed readers directly.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// The largest manifest accepted from any store (as containers/image does).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// A manifest exactly as stored: its bytes are never re-serialised.
#[derive(Debug, Clone)]
pub struct RawManifest {
    /// The bytes, as stored.
    pub bytes: Bytes,
    /// Its media type, as the store gave it.
    pub media_type: String,
    /// The digest of its bytes.
    pub digest: Digest,
}

/// A blob being read: its size and its bytes.
pub struct BlobReader {
    /// Its size in bytes.
    pub size: u64,
    /// Its bytes.
    pub stream: ByteStream,
}

/// A store failure, from whichever kind of store. Displays as the implementation's error
/// (whose causes follow in the chain) and says whether another try could help.
#[derive(Debug)]
pub struct StoreError {
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
    permanent: bool,
}

impl StoreError {
    /// Wrap an implementation's error; `permanent` when another try cannot fix it (access,
    /// absence, unsafe or malformed input).
    pub fn new(err: impl std::error::Error + Send + Sync + 'static, permanent: bool) -> StoreError {
        StoreError { inner: Box::new(err), permanent }
    }

    /// Whether retrying the same operation is pointless.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// The implementation's error, for callers that know the store.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.inner.as_ref()
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

/// What the executor needs of a place images live.
#[allow(async_fn_in_trait)]
pub trait ImageStore {
    /// Fetch a manifest by tag or digest; a digest reference is checked against the bytes.
    async fn get_manifest(&self, repo: &str, reference: &str) -> Result<RawManifest, StoreError>;
    /// The digest a tag or digest resolves to, or `None` when absent.
    async fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<Digest>, StoreError>;
    /// Store a manifest under a tag or its digest, bytes unchanged.
    async fn put_manifest(&self, repo: &str, reference: &str, manifest: &RawManifest) -> Result<(), StoreError>;
    /// The size of a blob when present.
    async fn blob_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, StoreError>;
    /// Open a blob for streaming.
    async fn get_blob(&self, repo: &str, digest: &Digest) -> Result<BlobReader, StoreError>;
    /// Store a blob from a stream; the digest is checked before anything is committed.
    async fn put_blob(&self, repo: &str, digest: &Digest, blob: BlobReader) -> Result<(), StoreError>;
    /// Make a blob of another repository of this store available in `repo` without copying
    /// its bytes. `Ok(false)` when the store could not (the caller copies instead).
    async fn mount_blob(&self, repo: &str, digest: &Digest, from: &str) -> Result<bool, StoreError>;

    /// Whether a manifest this store holds guarantees that its blobs are there too. A
    /// registry refuses a manifest whose blobs are missing; a disk tree cannot, so its
    /// images are checked blob by blob before a rerun skips them.
    fn manifest_implies_blobs(&self) -> bool {
        true
    }

    /// The size of a blob when present and its bytes match its digest (`--verify`). A store
    /// that checks digests as it writes answers as [`ImageStore::blob_size`].
    async fn intact_blob_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, StoreError> {
        self.blob_size(repo, digest).await
    }

    /// The file a blob lies in, for messages about it (a disk tree); `None` elsewhere.
    fn blob_file(&self, _repo: &str, _digest: &Digest) -> Option<std::path::PathBuf> {
        None
    }

    /// Remove what an interrupted run left behind in `repo` (a disk tree's temp files
    /// whose writer is gone); how many were removed.
    fn sweep(&self, _repo: &str) -> usize {
        0
    }
}
