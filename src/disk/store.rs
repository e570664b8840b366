//! oc's disk tree as an image store (the `file://` side of the air gap).

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::layout::{parse_tag_link, tag_link_target, Layout, Reference};
use super::pipe::{hash_file, read_file};
use super::write::{
    ensure_dir, link_or_copy, replace_symlink, sweep_temp_files, write_file_atomic, write_stream_atomic,
};
use super::DiskError;
use crate::digest::Digest;
use crate::manifest;
use crate::store::{verified, BlobCheck, BlobReader, ImageStore, RawManifest, StoreError, MAX_MANIFEST_BYTES};

/// A `--to-dir` or `--from-dir` tree.
#[derive(Debug, Clone)]
pub(crate) struct DiskStore {
    layout: Layout,
    check: BlobCheck,
}

impl DiskStore {
    pub(crate) fn new(root: impl Into<PathBuf>) -> DiskStore {
        DiskStore { layout: Layout::new(root), check: BlobCheck::Digest }
    }

    /// How blobs written here are checked (default: length and digest).
    pub(crate) fn with_blob_check(mut self, check: BlobCheck) -> DiskStore {
        self.check = check;
        self
    }

    pub(crate) fn root(&self) -> &Path {
        self.layout.root()
    }

    fn name_err(&self, reason: String) -> DiskError {
        DiskError::Name { root: self.root().to_path_buf(), reason }
    }

    /// Remove temp files an interrupted run left in `repo`'s folders.
    pub(crate) fn sweep(&self, repo: &str) -> usize {
        let dirs = [self.layout.blobs_dir(repo), self.layout.manifests_dir(repo)];
        dirs.into_iter().flatten().map(|d| sweep_temp_files(&d)).sum()
    }

    /// Where a blob of `repo` is (or would be) in the tree.
    pub(crate) fn blob_path(&self, repo: &str, digest: &Digest) -> Option<PathBuf> {
        self.layout.blob(repo, digest).ok()
    }

    /// The size of a blob whose bytes hash to its digest; `None` when it is absent or its
    /// content is wrong (`--verify`: reads the whole file).
    pub(crate) async fn intact_blob_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, DiskError> {
        let path = self.layout.blob(repo, digest).map_err(|r| self.name_err(r))?;
        if regular_file(&path)?.is_none() {
            return Ok(None);
        }
        let hasher = hash_file(&path).await?;
        let size = hasher.len();
        Ok((hasher.finish() == *digest).then_some(size))
    }

    /// Resolve a tag or digest to the digest it names, reading the tag symlink.
    fn resolve(&self, repo: &str, reference: &str) -> Result<Option<Digest>, DiskError> {
        let reference = Reference::parse(reference).map_err(|r| self.name_err(r))?;
        let tag = match reference {
            Reference::Digest(d) => {
                let path = self.layout.manifest(repo, d.as_str()).map_err(|r| self.name_err(r))?;
                let blob = self.layout.blob(repo, &d).map_err(|r| self.name_err(r))?;
                let present = regular_file(&path)?.is_some() || regular_file(&blob)?.is_some();
                return Ok(present.then_some(d));
            }
            Reference::Tag(t) => t,
        };
        let path = self.layout.manifest(repo, &tag).map_err(|r| self.name_err(r))?;
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(DiskError::Io { action: "read tag symlink", path, source }),
        };
        if !meta.file_type().is_symlink() {
            return Err(DiskError::TagLink { path, reason: "it is not a symbolic link".into() });
        }
        let target = fs::read_link(&path).map_err(|source| DiskError::Io {
            action: "read tag symlink",
            path: path.clone(),
            source,
        })?;
        parse_tag_link(&target).map(Some).map_err(|reason| DiskError::TagLink { path, reason })
    }

    /// The file holding a manifest's body: `manifests/<digest>`, else `blobs/<digest>`.
    fn manifest_file(&self, repo: &str, digest: &Digest) -> Result<(PathBuf, u64), DiskError> {
        let by_manifest = self.layout.manifest(repo, digest.as_str()).map_err(|r| self.name_err(r))?;
        let by_blob = self.layout.blob(repo, digest).map_err(|r| self.name_err(r))?;
        for path in [by_manifest, by_blob] {
            if let Some(size) = regular_file(&path)? {
                return Ok((path, size));
            }
        }
        let path = self.layout.manifest(repo, digest.as_str()).map_err(|r| self.name_err(r))?;
        Err(DiskError::NotFound { what: format!("manifest {repo}@{digest}"), path })
    }
}

/// The size of `path` when it is a regular file; symbolic links are refused, absence is `None`.
fn regular_file(path: &Path) -> Result<Option<u64>, DiskError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(DiskError::Unsafe {
            path: path.to_path_buf(),
            reason: "it is a symbolic link, expected a regular file".into(),
        }),
        Ok(m) if m.is_file() => Ok(Some(m.len())),
        Ok(_) => Err(DiskError::Unsafe { path: path.to_path_buf(), reason: "it is not a regular file".into() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DiskError::Io { action: "read", path: path.to_path_buf(), source }),
    }
}

impl ImageStore for DiskStore {
    async fn get_manifest(&self, repo: &str, reference: &str) -> Result<RawManifest, StoreError> {
        let digest = self.resolve(repo, reference)?.ok_or_else(|| DiskError::NotFound {
            what: format!("manifest {repo}:{reference}"),
            path: self.layout.manifest(repo, reference).unwrap_or_default(),
        })?;
        let (path, size) = self.manifest_file(repo, &digest)?;
        if size > MAX_MANIFEST_BYTES as u64 {
            return Err(DiskError::TooLarge { path, limit: MAX_MANIFEST_BYTES }.into());
        }
        let bytes = fs::read(&path).map_err(|source| DiskError::Io { action: "read", path: path.clone(), source })?;
        let actual = Digest::of(&bytes);
        if actual != digest {
            return Err(
                DiskError::DigestMismatch { path, expected: digest.to_string(), actual: actual.to_string() }.into()
            );
        }
        let media_type = manifest::sniff_media_type(&bytes);
        Ok(RawManifest { bytes: Bytes::from(bytes), media_type, digest })
    }

    async fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<Digest>, StoreError> {
        Ok(self.resolve(repo, reference)?)
    }

    async fn put_manifest(&self, repo: &str, reference: &str, m: &RawManifest) -> Result<(), StoreError> {
        let reference = Reference::parse(reference).map_err(|r| self.name_err(r))?;
        let blobs = self.layout.blobs_dir(repo).map_err(|r| self.name_err(r))?;
        let manifests = self.layout.manifests_dir(repo).map_err(|r| self.name_err(r))?;
        ensure_dir(self.root(), &blobs)?;
        ensure_dir(self.root(), &manifests)?;
        let blob = blobs.join(m.digest.as_str());
        if regular_file(&blob)?.is_none() {
            write_file_atomic(&blob, &m.bytes)?;
        }
        link_or_copy(&blob, &manifests.join(m.digest.as_str()))?;
        if let Reference::Tag(tag) = reference {
            replace_symlink(&manifests.join(tag), &tag_link_target(&m.digest))?;
        }
        Ok(())
    }

    async fn blob_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, StoreError> {
        let path = self.layout.blob(repo, digest).map_err(|r| self.name_err(r))?;
        Ok(regular_file(&path)?)
    }

    async fn get_blob(&self, repo: &str, digest: &Digest) -> Result<BlobReader, StoreError> {
        let path = self.layout.blob(repo, digest).map_err(|r| self.name_err(r))?;
        let size = regular_file(&path)?
            .ok_or_else(|| DiskError::NotFound { what: format!("blob {repo}@{digest}"), path: path.clone() })?;
        let file = fs::File::open(&path).map_err(|source| DiskError::Io { action: "open", path, source })?;
        Ok(BlobReader { size, stream: read_file(file) })
    }

    async fn put_blob(&self, repo: &str, digest: &Digest, blob: BlobReader) -> Result<(), StoreError> {
        let dir = self.layout.blobs_dir(repo).map_err(|r| self.name_err(r))?;
        ensure_dir(self.root(), &dir)?;
        let path = dir.join(digest.as_str());
        write_stream_atomic(&path, verified(blob.stream, digest.clone(), blob.size, self.check), blob.size).await?;
        Ok(())
    }

    async fn mount_blob(&self, repo: &str, digest: &Digest, from: &str) -> Result<bool, StoreError> {
        let source = self.layout.blob(from, digest).map_err(|r| self.name_err(r))?;
        if regular_file(&source)?.is_none() {
            return Ok(false);
        }
        let dir = self.layout.blobs_dir(repo).map_err(|r| self.name_err(r))?;
        ensure_dir(self.root(), &dir)?;
        link_or_copy(&source, &dir.join(digest.as_str()))?;
        Ok(true)
    }

    fn manifest_implies_blobs(&self) -> bool {
        false
    }

    async fn intact_blob_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, StoreError> {
        Ok(DiskStore::intact_blob_size(self, repo, digest).await?)
    }

    fn blob_file(&self, repo: &str, digest: &Digest) -> Option<PathBuf> {
        self.blob_path(repo, digest)
    }

    fn sweep(&self, repo: &str) -> usize {
        DiskStore::sweep(self, repo)
    }
}
