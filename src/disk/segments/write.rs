//! Appending a blob to a segment set: tar entries (a header, the data padded to a block)
//! into the last segment, spilling into new segments when it is full, with the two zero
//! blocks that end a tar archive always after the last entry. A failed blob is rolled back
//! to where it started; a committed one is fsynced before the journal names it.

use std::io::SeekFrom;
use std::path::Path;

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

use super::index::{entry_len, room, segment_name, Blob, Index, Piece, Segment, BLOCK, END};
use crate::disk::pipe::hash_file;
use crate::disk::DiskError;
use crate::store::ByteStream;

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> DiskError + 'a {
    move |source| DiskError::Io { action, path: path.to_path_buf(), source }
}

/// Where the set stood before a blob, to roll back to.
struct Mark {
    segments: usize,
    length: Option<u64>,
}

/// Append `digest` (`size` bytes from `stream`) to the set in `dir`; on failure the set is
/// as it was.
pub(super) async fn append(
    dir: &Path,
    index: &mut Index,
    digest: &str,
    size: u64,
    mut stream: ByteStream,
) -> Result<(), DiskError> {
    let mark = Mark { segments: index.segments.len(), length: index.segments.last().map(|s| s.length) };
    match pieces(dir, index, digest, size, &mut stream).await {
        Ok(pieces) => {
            index.blobs.insert(digest.to_string(), Blob { size, pieces });
            Ok(())
        }
        Err(err) => {
            rollback(dir, index, &mark).await;
            Err(err)
        }
    }
}

async fn pieces(
    dir: &Path,
    index: &mut Index,
    digest: &str,
    size: u64,
    stream: &mut ByteStream,
) -> Result<Vec<Piece>, DiskError> {
    let (mut left, mut at, mut pieces) = (size, 0u64, Vec::new());
    let mut pending = Bytes::new();
    loop {
        let fits = index.segments.last().map_or(0, |s| room(s.length, index.archive_size));
        if fits == 0 {
            index.segments.push(Segment { name: segment_name(index.segments.len()), length: 0, sha256: None });
            continue;
        }
        let n = index.segments.len() - 1;
        let length = left.min(fits);
        let name = if at == 0 { digest.to_string() } else { format!("{digest}.{at}") };
        let path = dir.join(&index.segments[n].name);
        let used = index.segments[n].length;
        write_entry(&path, used, &name, length, stream, &mut pending).await?;
        pieces.push(Piece { segment: n, offset: used + BLOCK, length });
        let segment = &mut index.segments[n];
        segment.length = used + entry_len(length);
        segment.sha256 = None;
        (left, at) = (left - length, at + length);
        if left == 0 {
            break;
        }
    }
    let path = dir.join(digest);
    if !pending.is_empty() {
        return Err(DiskError::Source { path, source: std::io::Error::other(format!("more than {size} bytes")) });
    }
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| DiskError::Source { path: path.clone(), source })?;
        if !chunk.is_empty() {
            return Err(DiskError::Source { path, source: std::io::Error::other(format!("more than {size} bytes")) });
        }
    }
    Ok(pieces)
}

/// One tar entry of `length` bytes of the stream at `used` in the segment `path`, the end
/// blocks after it, synced.
async fn write_entry(
    path: &Path,
    used: u64,
    name: &str,
    length: u64,
    stream: &mut ByteStream,
    pending: &mut Bytes,
) -> Result<(), DiskError> {
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .await
        .map_err(io("open", path))?;
    file.seek(SeekFrom::Start(used)).await.map_err(io("seek in", path))?;
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let write = |source| DiskError::Write { path: path.to_path_buf(), source };
    out.write_all(&header(name, length, path)?).await.map_err(write)?;
    let mut left = length;
    while left > 0 {
        if pending.is_empty() {
            *pending = match stream.next().await {
                Some(chunk) => chunk.map_err(|source| DiskError::Source { path: path.to_path_buf(), source })?,
                None => {
                    let early = std::io::Error::other(format!("the blob ended {left} bytes early"));
                    return Err(DiskError::Source { path: path.to_path_buf(), source: early });
                }
            };
            continue;
        }
        let k = usize::try_from(left).unwrap_or(usize::MAX).min(pending.len());
        out.write_all(&pending.split_to(k)).await.map_err(write)?;
        left -= k as u64;
    }
    let pad = (entry_len(length) - BLOCK - length) as usize;
    out.write_all(&vec![0u8; pad + END as usize]).await.map_err(write)?;
    out.flush().await.map_err(write)?;
    let file = out.into_inner();
    file.set_len(used + entry_len(length) + END).await.map_err(write)?;
    file.sync_data().await.map_err(write)?;
    Ok(())
}

fn header(name: &str, length: u64, path: &Path) -> Result<[u8; 512], DiskError> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).map_err(|source| DiskError::Write { path: path.to_path_buf(), source })?;
    h.set_size(length);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut bytes = [0u8; 512];
    bytes.copy_from_slice(h.as_bytes());
    Ok(bytes)
}

/// Back to `mark`: segments started since are removed, the one it ended in cut back (with
/// its end blocks). Best effort: what cannot be undone is overwritten by the next append.
async fn rollback(dir: &Path, index: &mut Index, mark: &Mark) {
    for s in index.segments.drain(mark.segments..) {
        let _ = tokio::fs::remove_file(dir.join(s.name)).await;
    }
    if let (Some(length), Some(last)) = (mark.length, index.segments.last_mut()) {
        last.length = length;
        let _ = cut(&dir.join(&last.name), length).await;
    }
}

/// Make the segment at `path` end after `length` bytes of entries, with its end blocks.
pub(super) async fn cut(path: &Path, length: u64) -> Result<(), DiskError> {
    let mut file = tokio::fs::OpenOptions::new().write(true).open(path).await.map_err(io("open", path))?;
    file.set_len(length).await.map_err(io("truncate", path))?;
    file.seek(SeekFrom::Start(length)).await.map_err(io("seek in", path))?;
    file.write_all(&[0u8; END as usize]).await.map_err(io("write", path))?;
    file.sync_data().await.map_err(io("sync", path))?;
    Ok(())
}

/// The sha256 of a whole file, streamed.
pub(super) async fn sha256_of(path: &Path) -> Result<String, DiskError> {
    Ok(hash_file(path).await?.finish().to_string())
}
