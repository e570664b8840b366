//! The one image-store interface that registries and disk trees both implement, so every
//! direction (registry→registry, registry→disk, disk→registry, disk→disk) runs through the
//! same executor.

use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

use crate::digest::Digest;
use crate::disk::{DiskError, DiskStore};
use crate::registry::{RegistryError, RegistryStore};

/// A stream of blob bytes. Errors are `io::Error` so it can feed readers directly.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// The largest manifest accepted from any store (as containers/image does).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// A manifest exactly as stored: its bytes are never re-serialised.
#[derive(Debug, Clone)]
pub struct RawManifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

/// A blob being read: its size and its bytes.
pub struct BlobReader {
    pub size: u64,
    pub stream: ByteStream,
}

/// A store failure, from whichever kind of store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Disk(#[from] DiskError),
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
}

/// A registry or a disk tree, chosen at run time.
pub enum AnyStore {
    Registry(RegistryStore),
    Disk(DiskStore),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Registry($s) => Ok($call.await?),
            AnyStore::Disk($s) => Ok($call.await?),
        }
    };
}

impl ImageStore for AnyStore {
    async fn get_manifest(&self, repo: &str, reference: &str) -> Result<RawManifest, StoreError> {
        delegate!(self, s => s.get_manifest(repo, reference))
    }
    async fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<Digest>, StoreError> {
        delegate!(self, s => s.manifest_digest(repo, reference))
    }
    async fn put_manifest(&self, repo: &str, reference: &str, manifest: &RawManifest) -> Result<(), StoreError> {
        delegate!(self, s => s.put_manifest(repo, reference, manifest))
    }
    async fn blob_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, StoreError> {
        delegate!(self, s => s.blob_size(repo, digest))
    }
    async fn get_blob(&self, repo: &str, digest: &Digest) -> Result<BlobReader, StoreError> {
        delegate!(self, s => s.get_blob(repo, digest))
    }
    async fn put_blob(&self, repo: &str, digest: &Digest, blob: BlobReader) -> Result<(), StoreError> {
        delegate!(self, s => s.put_blob(repo, digest, blob))
    }
    async fn mount_blob(&self, repo: &str, digest: &Digest, from: &str) -> Result<bool, StoreError> {
        delegate!(self, s => s.mount_blob(repo, digest, from))
    }
}
