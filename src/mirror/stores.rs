//! The stores of one side of a run (sources or destinations), by location: the one place
//! that chooses between a registry and a disk tree ([`AnyStore`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Result};

use crate::digest::Digest;
use crate::disk::{segments, DiskStore, SegmentStore};
use crate::reference::{ImageRef, Location};
use crate::registry::{RegistryStore, Transport};
use crate::store::{BlobCheck, BlobReader, ImageStore, RawManifest, Retries, StoreError};

/// One store per registry host, and the disk tree for `file://` references, sharing the
/// run's retry budget.
#[derive(Clone)]
pub(crate) struct Stores {
    transport: Transport,
    retries: Retries,
    check: BlobCheck,
    disk: Option<Arc<AnyStore>>,
    registries: Arc<std::sync::Mutex<HashMap<String, Arc<AnyStore>>>>,
    /// Blobs already read whole (a release's config and payload layers), by digest.
    read: Arc<std::sync::Mutex<HashMap<Digest, bytes::Bytes>>>,
}

impl Stores {
    /// `dir` serves `file://` references (`--from-dir` for sources, `--to-dir` for destinations);
    /// `check` is how blobs written to these stores are checked.
    pub(crate) fn new(transport: Transport, dir: Option<PathBuf>, check: BlobCheck) -> Stores {
        let disk = dir.map(|d| match segments::is_set(&d) {
            true => Arc::new(AnyStore::Segments(SegmentStore::reader(&d))),
            false => Arc::new(AnyStore::Disk(DiskStore::new(d).with_blob_check(check))),
        });
        let retries = transport.retries().clone();
        Stores { transport, retries, check, disk, registries: Arc::default(), read: Arc::default() }
    }

    /// `--archive-size`: `file://` references are written to `dir` as tar segments of at
    /// most `size` bytes.
    pub(crate) fn segmented(mut self, dir: &std::path::Path, size: u64) -> Stores {
        self.disk = Some(Arc::new(AnyStore::Segments(SegmentStore::writer(dir, size, self.check))));
        self
    }

    /// Finish a segment set written through these stores (its index, written last).
    pub(crate) async fn finish(&self) -> Result<()> {
        if let Some(AnyStore::Segments(s)) = self.disk.as_deref() {
            s.finish().await?;
        }
        Ok(())
    }

    /// The store that holds `r`.
    pub(crate) fn get(&self, r: &ImageRef) -> Result<Arc<AnyStore>> {
        match &r.location {
            Location::Disk => self.disk.clone().ok_or_else(|| {
                anyhow!("{r} is a file:// reference, but no directory was given (--from-dir or --to-dir)")
            }),
            Location::Registry(host) => {
                let mut map = self.registries.lock().unwrap_or_else(|p| p.into_inner());
                let store = map.entry(host.clone()).or_insert_with(|| {
                    let store = RegistryStore::new(self.transport.client(host)).with_blob_check(self.check);
                    Arc::new(AnyStore::Registry(store))
                });
                Ok(store.clone())
            }
        }
    }

    /// Keep blobs already read whole (digest-checked), so they are not fetched again.
    pub(crate) fn remember(&self, blobs: &[(Digest, bytes::Bytes)]) {
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        read.extend(blobs.iter().cloned());
    }

    /// A blob kept by [`Stores::remember`].
    pub(crate) fn remembered(&self, digest: &Digest) -> Option<bytes::Bytes> {
        self.read.lock().unwrap_or_else(|p| p.into_inner()).get(digest).cloned()
    }

    /// Whether the store holding `r` guarantees a manifest's blobs (a registry), or its
    /// images must be checked blob by blob (a disk tree). A reference no store of this side
    /// can hold is not trusted.
    pub(crate) fn manifest_implies_blobs(&self, r: &ImageRef) -> bool {
        self.get(r).is_ok_and(|s| s.manifest_implies_blobs())
    }

    /// The run's retry budget, which these stores spend too.
    pub(crate) fn retries(&self) -> &Retries {
        &self.retries
    }
}

/// A registry or a disk tree, chosen at run time.
pub(crate) enum AnyStore {
    Registry(RegistryStore),
    Disk(DiskStore),
    Segments(SegmentStore),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Registry($s) => Ok($call.await?),
            AnyStore::Disk($s) => Ok($call.await?),
            AnyStore::Segments($s) => Ok($call.await?),
        }
    };
}

impl AnyStore {
    /// The tags of `repo` when this is a registry that lists them; `None` otherwise (a disk
    /// tree answers each tag with a stat).
    pub(crate) async fn tags(&self, repo: &str) -> Option<crate::registry::Listing> {
        match self {
            AnyStore::Registry(s) => s.tags(repo).await,
            AnyStore::Disk(_) | AnyStore::Segments(_) => None,
        }
    }
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
    fn manifest_implies_blobs(&self) -> bool {
        match self {
            AnyStore::Registry(s) => s.manifest_implies_blobs(),
            AnyStore::Disk(s) => ImageStore::manifest_implies_blobs(s),
            AnyStore::Segments(s) => s.manifest_implies_blobs(),
        }
    }
    async fn intact_blob_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, StoreError> {
        match self {
            AnyStore::Registry(s) => s.intact_blob_size(repo, digest).await,
            AnyStore::Disk(s) => ImageStore::intact_blob_size(s, repo, digest).await,
            AnyStore::Segments(s) => s.intact_blob_size(repo, digest).await,
        }
    }
    fn blob_file(&self, repo: &str, digest: &Digest) -> Option<std::path::PathBuf> {
        match self {
            AnyStore::Registry(s) => s.blob_file(repo, digest),
            AnyStore::Disk(s) => ImageStore::blob_file(s, repo, digest),
            AnyStore::Segments(s) => s.blob_file(repo, digest),
        }
    }
    fn sweep(&self, repo: &str) -> usize {
        match self {
            AnyStore::Registry(s) => s.sweep(repo),
            AnyStore::Disk(s) => ImageStore::sweep(s, repo),
            AnyStore::Segments(s) => s.sweep(repo),
        }
    }
}
