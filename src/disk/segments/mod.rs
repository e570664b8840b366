//! A tree as numbered tar segments (`--archive-size`), for media that keep no symbolic
//! links and limit a file's size (FAT, exFAT, transfer appliances): `DIR/segments/` holds
//! `segment-0001.tar`, … (none larger than the size; a blob may span several), and
//! `index.json`, written last, saying where each blob lives and each segment's sha256, and
//! the tags. While a set is written, `journal.json` holds the same state, so an interrupted
//! write is resumed where it stopped. Read in place: each blob streams from its offsets.

mod index;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::sync::Mutex;

pub use index::parse_size;
pub(crate) use index::{entry_len, Index};

/// Bytes a segment adds besides its entries: the end blocks, and a header when a blob
/// continues in it.
pub(crate) const SEGMENT_OVERHEAD: u64 = index::END + index::BLOCK;

use super::pipe::{hash_stream, read_stretches, Stretch};
use super::{write_file_atomic, DiskError};
use crate::digest::Digest;
use crate::manifest;
use crate::store::{verified, BlobCheck, BlobReader, ImageStore, RawManifest, StoreError, MAX_MANIFEST_BYTES};

/// The folder of a set inside the tree.
pub(crate) const SEGMENTS_DIR: &str = "segments";
const INDEX_FILE: &str = "index.json";
const JOURNAL_FILE: &str = "journal.json";
/// The largest index read.
const MAX_INDEX_BYTES: usize = 64 << 20;

/// Whether the tree at `root` is a segment set.
pub(crate) fn is_set(root: &Path) -> bool {
    root.join(SEGMENTS_DIR).is_dir()
}

/// The finished index of the set at `root`; a set without one was not finished.
pub(crate) fn read_index(root: &Path) -> Result<Index, DiskError> {
    let dir = root.join(SEGMENTS_DIR);
    let path = dir.join(INDEX_FILE);
    match super::read_small(&path, MAX_INDEX_BYTES)? {
        Some(bytes) => parse(&path, &bytes),
        None if dir.join(JOURNAL_FILE).exists() => Err(DiskError::Unsafe {
            path,
            reason: "the segment set was not finished (its index is missing, its journal is there): run the \
                     same --to-dir command again to complete it"
                .into(),
        }),
        None => Err(DiskError::NotFound { what: "the index of the segment set".into(), path }),
    }
}

/// The segments of a finished set that are not as its index says, with the reason:
/// missing, of another length, or with another sha256 (read whole).
pub(crate) async fn damaged_segments(root: &Path, index: &Index) -> std::collections::BTreeMap<String, String> {
    let mut damaged = std::collections::BTreeMap::new();
    for s in &index.segments {
        let path = root.join(SEGMENTS_DIR).join(&s.name);
        let want = s.length + index::END;
        let reason = match std::fs::symlink_metadata(&path) {
            Err(_) => Some("it is missing".to_string()),
            Ok(m) if !m.is_file() => Some("it is not a regular file".to_string()),
            Ok(m) if m.len() != want => Some(format!("it is {} bytes, not {want}", m.len())),
            Ok(_) => match write::sha256_of(&path).await {
                Err(e) => Some(e.to_string()),
                Ok(sum) if Some(&sum) != s.sha256.as_ref() => Some("its sha256 does not match the index".to_string()),
                Ok(_) => None,
            },
        };
        if let Some(reason) = reason {
            damaged.insert(s.name.clone(), reason);
        }
    }
    damaged
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Index, DiskError> {
    let refuse = |reason: String| DiskError::Unsafe { path: path.to_path_buf(), reason };
    let index: Index = serde_json::from_slice(bytes).map_err(|e| refuse(format!("it is not a segment index: {e}")))?;
    index.check().map_err(refuse)?;
    Ok(index)
}

/// A segment set, written (`--to-dir --archive-size`) or read (`--from-dir`).
#[derive(Clone)]
pub(crate) struct SegmentStore {
    dir: PathBuf,
    /// `Some(size)` when writing.
    size: Option<u64>,
    check: BlobCheck,
    index: Arc<Mutex<Option<Index>>>,
    /// Whether this run has started writing (the journal replaces the index until finished).
    writing: Arc<std::sync::atomic::AtomicBool>,
}

impl SegmentStore {
    /// Write a set of segments of at most `size` bytes into `root`.
    pub(crate) fn writer(root: &Path, size: u64, check: BlobCheck) -> SegmentStore {
        SegmentStore {
            dir: root.join(SEGMENTS_DIR),
            size: Some(size),
            check,
            index: Arc::default(),
            writing: Arc::default(),
        }
    }

    /// Read the set in `root`.
    pub(crate) fn reader(root: &Path) -> SegmentStore {
        SegmentStore {
            dir: root.join(SEGMENTS_DIR),
            size: None,
            check: BlobCheck::Digest,
            index: Arc::default(),
            writing: Arc::default(),
        }
    }

    fn root(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    /// The index, loaded once: a writer continues a finished set (its index removed until
    /// it is finished again) or a journal, a reader needs the finished index.
    async fn loaded(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Index>>, DiskError> {
        let mut guard = self.index.lock().await;
        if guard.is_none() {
            *guard = Some(match self.size {
                None => read_index(self.root())?,
                Some(size) => self.resume(size).await?,
            });
        }
        Ok(guard)
    }

    /// What a writer continues: the journal of an interrupted write, else a finished set's
    /// index, else nothing. Only read: a dry run changes nothing.
    async fn resume(&self, size: u64) -> Result<Index, DiskError> {
        let (index_path, journal) = (self.dir.join(INDEX_FILE), self.dir.join(JOURNAL_FILE));
        let found = match super::read_small(&journal, MAX_INDEX_BYTES)? {
            Some(bytes) => Some(parse(&journal, &bytes)?),
            None => super::read_small(&index_path, MAX_INDEX_BYTES)?.map(|b| parse(&index_path, &b)).transpose()?,
        };
        let Some(index) = found else { return Ok(Index::new(size)) };
        if index.archive_size != size {
            return Err(DiskError::Unsafe {
                path: self.dir.clone(),
                reason: format!(
                    "its segments were written with --archive-size={} bytes, not {size}",
                    index.archive_size
                ),
            });
        }
        Ok(index)
    }

    /// Before the first write of a run: the journal replaces the index (the set is
    /// unfinished again), and what an interrupted blob left after the last committed entry
    /// is cut off.
    async fn begin(&self, index: &Index) -> Result<(), DiskError> {
        if self.writing.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        super::ensure_dir(self.root(), &self.dir)?;
        self.save(index)?;
        let _ = std::fs::remove_file(self.dir.join(INDEX_FILE));
        if let Some(last) = index.segments.last() {
            write::cut(&self.dir.join(&last.name), last.length).await?;
        }
        for n in index.segments.len().. {
            if std::fs::remove_file(self.dir.join(index::segment_name(n))).is_err() {
                break;
            }
        }
        Ok(())
    }

    fn save(&self, index: &Index) -> Result<(), DiskError> {
        let json = serde_json::to_vec(index)
            .map_err(|e| DiskError::Write { path: self.dir.join(JOURNAL_FILE), source: std::io::Error::other(e) })?;
        write_file_atomic(&self.dir.join(JOURNAL_FILE), &json)
    }

    /// Finish a written set: each changed segment's sha256, then the index, then the
    /// journal removed. Nothing to do for a reader or a set nothing was written to.
    pub(crate) async fn finish(&self) -> Result<(), DiskError> {
        if self.size.is_none() || !self.writing.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let mut guard = self.loaded().await?;
        let Some(index) = guard.as_mut() else { return Ok(()) };
        for s in index.segments.iter_mut().filter(|s| s.sha256.is_none()) {
            s.sha256 = Some(write::sha256_of(&self.dir.join(&s.name)).await?);
        }
        let json = serde_json::to_vec_pretty(index)
            .map_err(|e| DiskError::Write { path: self.dir.join(INDEX_FILE), source: std::io::Error::other(e) })?;
        write_file_atomic(&self.dir.join(INDEX_FILE), &json)?;
        let _ = std::fs::remove_file(self.dir.join(JOURNAL_FILE));
        Ok(())
    }

    /// The stretches of the segments a blob lies in, one after another.
    async fn open(&self, digest: &Digest) -> Result<Option<(u64, Vec<Stretch>)>, DiskError> {
        let blob = match self.loaded().await?.as_ref().and_then(|i| i.blobs.get(digest.as_str())) {
            Some(b) => b.clone(),
            None => return Ok(None),
        };
        let names = self.loaded().await?.as_ref().map(|i| i.segments.clone()).unwrap_or_default();
        let mut stretches = Vec::with_capacity(blob.pieces.len());
        for p in &blob.pieces {
            let name = names.get(p.segment).map(|s| s.name.as_str()).unwrap_or_default();
            let path = self.dir.join(name);
            let file = std::fs::File::open(&path).map_err(|source| DiskError::Io {
                action: "open segment",
                path: path.clone(),
                source,
            })?;
            stretches.push(Stretch { file, offset: p.offset, length: Some(p.length) });
        }
        Ok(Some((blob.size, stretches)))
    }

    async fn read_whole(&self, digest: &Digest, limit: usize) -> Result<Option<Vec<u8>>, DiskError> {
        let Some((size, stretches)) = self.open(digest).await? else { return Ok(None) };
        let path = self.dir.join(digest.as_str());
        if size > limit as u64 {
            return Err(DiskError::TooLarge { path, limit });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        let mut stream = read_stretches(stretches);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| DiskError::Io { action: "read", path: path.clone(), source })?;
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(bytes))
    }

    fn not_found(&self, what: String) -> DiskError {
        DiskError::NotFound { what, path: self.dir.clone() }
    }

    async fn resolve(&self, repo: &str, reference: &str) -> Result<Option<Digest>, DiskError> {
        let guard = self.loaded().await?;
        let Some(index) = guard.as_ref() else { return Ok(None) };
        let text = if reference.starts_with("sha256:") {
            index.blobs.contains_key(reference).then_some(reference)
        } else {
            index.tag(repo, reference)
        };
        text.map(|t| t.parse().map_err(|e| DiskError::Unsafe { path: self.dir.clone(), reason: format!("{e}") }))
            .transpose()
    }
}

impl ImageStore for SegmentStore {
    async fn get_manifest(&self, repo: &str, reference: &str) -> Result<RawManifest, StoreError> {
        let missing = || self.not_found(format!("manifest {repo}:{reference}"));
        let digest = self.resolve(repo, reference).await?.ok_or_else(missing)?;
        let bytes = self.read_whole(&digest, MAX_MANIFEST_BYTES).await?.ok_or_else(missing)?;
        let actual = Digest::of(&bytes);
        if actual != digest {
            let path = self.dir.join(digest.as_str());
            return Err(
                DiskError::DigestMismatch { path, expected: digest.to_string(), actual: actual.to_string() }.into()
            );
        }
        let media_type = manifest::sniff_media_type(&bytes);
        Ok(RawManifest { bytes: Bytes::from(bytes), media_type, digest })
    }

    async fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<Digest>, StoreError> {
        Ok(self.resolve(repo, reference).await?)
    }

    async fn put_manifest(&self, repo: &str, reference: &str, m: &RawManifest) -> Result<(), StoreError> {
        let mut guard = self.loaded().await?;
        let Some(index) = guard.as_mut() else { return Ok(()) };
        self.begin(index).await?;
        if !index.blobs.contains_key(m.digest.as_str()) {
            let body: crate::store::ByteStream =
                Box::pin(futures_util::stream::iter([Ok::<_, std::io::Error>(m.bytes.clone())]));
            write::append(&self.dir, index, m.digest.as_str(), m.bytes.len() as u64, body).await?;
        }
        if !reference.starts_with("sha256:") {
            crate::reference::check_tag(reference)
                .map_err(|reason| DiskError::Unsafe { path: self.dir.clone(), reason })?;
            index.tags.entry(repo.to_string()).or_default().insert(reference.to_string(), m.digest.to_string());
        }
        self.save(index)?;
        Ok(())
    }

    async fn blob_size(&self, _repo: &str, digest: &Digest) -> Result<Option<u64>, StoreError> {
        Ok(self.loaded().await?.as_ref().and_then(|i| i.blobs.get(digest.as_str())).map(|b| b.size))
    }

    async fn get_blob(&self, repo: &str, digest: &Digest) -> Result<BlobReader, StoreError> {
        let (size, stretches) =
            self.open(digest).await?.ok_or_else(|| self.not_found(format!("blob {repo}@{digest}")))?;
        Ok(BlobReader { size, stream: read_stretches(stretches) })
    }

    async fn put_blob(&self, _repo: &str, digest: &Digest, blob: BlobReader) -> Result<(), StoreError> {
        let mut guard = self.loaded().await?;
        let Some(index) = guard.as_mut() else { return Ok(()) };
        if index.blobs.contains_key(digest.as_str()) {
            return Ok(());
        }
        self.begin(index).await?;
        let stream = verified(blob.stream, digest.clone(), blob.size, self.check);
        write::append(&self.dir, index, digest.as_str(), blob.size, stream).await?;
        self.save(index)?;
        Ok(())
    }

    async fn mount_blob(&self, repo: &str, digest: &Digest, _from: &str) -> Result<bool, StoreError> {
        Ok(self.blob_size(repo, digest).await?.is_some())
    }

    fn manifest_implies_blobs(&self) -> bool {
        false
    }

    async fn intact_blob_size(&self, _repo: &str, digest: &Digest) -> Result<Option<u64>, StoreError> {
        let Some((size, stretches)) = self.open(digest).await? else { return Ok(None) };
        let hasher = hash_stream(read_stretches(stretches)).await.map_err(|source| DiskError::Io {
            action: "read",
            path: self.dir.join(digest.as_str()),
            source,
        })?;
        Ok((hasher.len() == size && hasher.finish() == *digest).then_some(size))
    }
}
