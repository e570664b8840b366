//! Blob bytes between the tree's files and the copy's streams, moved off the async threads
//! in large pieces: one blocking task per blob reads (or writes) while the other side goes
//! on, through buffers used again and again. (`tokio::fs` hands every call to its blocking
//! pool and copies each piece once more through a buffer of its own.)

use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use tokio::sync::{mpsc, Semaphore, SemaphorePermit};

use super::direct::{self, Aligned, ALIGN};
use super::DiskError;
use crate::digest::Hasher;
use crate::store::ByteStream;

/// The bytes read in one go: what a reader holds per blob is about two of them (one read
/// ahead, one with the consumer), so 32 transfers at once stay far under 64 MiB.
const PIECE: usize = 256 * 1024;
/// The bytes gathered from the stream before they are written in one call.
const BATCH: usize = 256 * 1024;
/// What a large blob's writer gathers instead, while it holds one of [`LARGE_WRITERS`]: a
/// quarter of the hand-offs between the stream and the writer, and of the writes (measured
/// on the full-size release to disk: 84k context switches → 55k, 5–10 % less CPU).
const LARGE_BATCH: usize = 1024 * 1024;
/// Writers with [`LARGE_BATCH`] buffers at once: their buffers add up to 16 MiB at most, so
/// 32 transfers at once stay far under 64 MiB.
static LARGE_WRITERS: Semaphore = Semaphore::const_new(8);
/// Pieces read ahead of the consumer, or full buffers waiting for the writer.
const AHEAD: usize = 1;
/// A writer's buffers: one being written while the other fills.
const BUFFERS: usize = 2;

/// A stretch of a file: from `offset`, `length` bytes (`None`: to its end).
pub(crate) struct Stretch {
    pub(crate) file: File,
    pub(crate) offset: u64,
    pub(crate) length: Option<u64>,
}

/// Stream the stretches one after another, read by a blocking task a piece ahead. A
/// stretch that ends before its length gives an error instead of its missing bytes; a
/// consumer that stops reading ends the task.
pub(crate) fn read_stretches(stretches: Vec<Stretch>) -> ByteStream {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut buf = BytesMut::new();
        for stretch in stretches {
            match read_stretch(stretch, &mut buf, &tx) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

/// Send one stretch piece by piece; `Ok(false)` when the consumer has gone. A whole file
/// is read with direct I/O where the file system allows it: a file the page cache does not
/// hold yet (media just carried in) costs the kernel a fraction of filling the cache.
fn read_stretch(mut s: Stretch, buf: &mut BytesMut, tx: &mpsc::Sender<io::Result<Bytes>>) -> io::Result<bool> {
    let mut direct = s.offset == 0 && s.length.is_none() && direct::set(&s.file, true).is_ok();
    if s.offset > 0 {
        s.file.seek(SeekFrom::Start(s.offset))?;
    }
    let mut left = s.length.unwrap_or(u64::MAX);
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(PIECE);
        // The pieces sent before are usually dropped by now: the same memory is used again.
        buf.reserve(want + ALIGN);
        if direct {
            direct::align_start(buf);
        }
        buf.resize(want, 0);
        let n = read_full(&mut s.file, buf, &mut direct)?;
        buf.truncate(n);
        if n == 0 {
            return match s.length {
                None => Ok(true),
                Some(_) => {
                    Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{left} bytes missing at its end")))
                }
            };
        }
        left -= n as u64;
        if tx.blocking_send(Ok(buf.split().freeze())).is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Stream a whole file (see [`read_stretches`]).
pub(crate) fn read_file(file: File) -> ByteStream {
    read_stretches(vec![Stretch { file, offset: 0, length: None }])
}

/// The digest of the whole file at `path`, read as [`read_file`] does.
pub(crate) async fn hash_file(path: &Path) -> Result<Hasher, DiskError> {
    let io = |action| move |source| DiskError::Io { action, path: path.to_path_buf(), source };
    let file = File::open(path).map_err(io("open"))?;
    hash_stream(read_file(file)).await.map_err(io("read"))
}

/// The digest of everything a stream gives.
pub(crate) async fn hash_stream(mut stream: ByteStream) -> io::Result<Hasher> {
    let mut hasher = Hasher::default();
    while let Some(chunk) = stream.next().await {
        hasher.update(&chunk?);
    }
    Ok(hasher)
}

/// Fill `buf` unless the file ends first; how many bytes were read. A direct read refused
/// (EINVAL: memory or a position it cannot take) is done again through the page cache.
fn read_full(file: &mut File, buf: &mut [u8], direct: &mut bool) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if *direct && direct::refused(&e) => direct::fall_back(file, direct)?,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Why writing a stream into a file stopped.
#[derive(Debug)]
pub(crate) enum WriteFailure {
    /// The stream failed (its source, or its digest check).
    Source(io::Error),
    /// The file could not be written.
    Write(io::Error),
}

/// Write the whole stream (`size` bytes expected, 0: unknown) at the file's current position
/// through a blocking task: the chunks are gathered into one of two buffers (sized by
/// [`batch_for`]) while they are still in the cache from their digest check, and a full
/// buffer is written in one call while the other fills.
/// Full buffers bypass the page cache (`O_DIRECT`, see [`direct`]); where the file system
/// refuses that, the writer goes on through the cache. The file and the bytes written when
/// the stream ended without error; nothing is synced: the caller decides.
pub(crate) async fn write_stream(file: File, stream: &mut ByteStream, size: u64) -> Result<(File, u64), WriteFailure> {
    let (batch, _large) = batch_for(size);
    let (to_writer, mut full) = mpsc::channel::<Aligned>(AHEAD);
    let (to_filler, mut empty) = mpsc::channel::<Aligned>(BUFFERS);
    for _ in 0..BUFFERS {
        let _ = to_filler.try_send(Aligned::new(batch));
    }
    let writer = tokio::task::spawn_blocking(move || {
        let mut file = file;
        let mut direct = direct::set(&file, true).is_ok();
        while let Some(mut batch) = full.blocking_recv() {
            write_batch(&mut file, batch.filled(), &mut direct)?;
            batch.clear();
            // The filler may have finished meanwhile: then the buffer is not needed.
            let _ = to_filler.try_send(batch);
        }
        if direct {
            direct::set(&file, false)?;
        }
        Ok::<_, io::Error>(file)
    });
    let fed = feed(stream, &to_writer, &mut empty).await;
    drop(to_writer);
    let file = match writer.await {
        Ok(Ok(file)) => file,
        Ok(Err(e)) => return Err(WriteFailure::Write(e)),
        Err(e) => return Err(WriteFailure::Write(io::Error::other(e))),
    };
    fed.map(|written| (file, written)).map_err(WriteFailure::Source)
}

/// The buffer size for a blob of `size` bytes (0: unknown): [`LARGE_BATCH`] for one of
/// several megabytes while a [`LARGE_WRITERS`] permit is free (held for the write), else
/// [`BATCH`], or less for a blob smaller than that (whole pages, so it is written direct).
fn batch_for(size: u64) -> (usize, Option<SemaphorePermit<'static>>) {
    if size >= 4 * LARGE_BATCH as u64 {
        if let Ok(permit) = LARGE_WRITERS.try_acquire() {
            return (LARGE_BATCH, Some(permit));
        }
    }
    let pages = usize::try_from(size).unwrap_or(BATCH).div_ceil(ALIGN).max(1) * ALIGN;
    (if size == 0 { BATCH } else { pages.min(BATCH) }, None)
}

/// Write all of `data`. A length direct I/O cannot take (the stream's last, partial
/// buffer), or a refusal of it (EINVAL), turns direct I/O off for the rest of the file.
fn write_batch(file: &mut File, mut data: &[u8], direct: &mut bool) -> io::Result<()> {
    if *direct && !data.len().is_multiple_of(ALIGN) {
        direct::fall_back(file, direct)?;
    }
    while !data.is_empty() {
        match file.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if *direct && direct::refused(&e) => direct::fall_back(file, direct)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Copy the stream into the buffers the writer hands back, passing each when full; the
/// bytes passed. Stops early (without error) when the writer has gone: its error says why.
async fn feed(
    stream: &mut ByteStream,
    to_writer: &mpsc::Sender<Aligned>,
    empty: &mut mpsc::Receiver<Aligned>,
) -> io::Result<u64> {
    let mut total = 0u64;
    let Some(mut batch) = empty.recv().await else { return Ok(0) };
    while let Some(chunk) = stream.next().await {
        let mut chunk = &chunk?[..];
        total += chunk.len() as u64;
        while !chunk.is_empty() {
            chunk = &chunk[batch.push(chunk)..];
            if batch.is_full() {
                if to_writer.send(batch).await.is_err() {
                    return Ok(total);
                }
                let Some(next) = empty.recv().await else { return Ok(total) };
                batch = next;
            }
        }
    }
    if !batch.is_empty() {
        let _ = to_writer.send(batch).await;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap()
    }

    fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(bytes).unwrap();
        let file = File::open(tmp.path()).unwrap();
        (tmp, file)
    }

    /// Everything the stretches give, read on one runtime (the reading task lives on it).
    fn read_all(stretches: Vec<Stretch>) -> io::Result<Vec<u8>> {
        rt().block_on(async move {
            let chunks: Vec<io::Result<Bytes>> = read_stretches(stretches).collect().await;
            chunks.into_iter().try_fold(Vec::new(), |mut all, c| {
                all.extend_from_slice(&c?);
                Ok(all)
            })
        })
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn stretches_are_read_in_order_across_pieces() {
        let data = pattern(3 * PIECE + 17);
        let (_a, whole) = file_with(&data);
        let (_b, part) = file_with(&data);
        let got = read_all(vec![
            Stretch { file: whole, offset: 0, length: None },
            Stretch { file: part, offset: 5, length: Some(PIECE as u64 + 3) },
        ])
        .unwrap();
        let mut want = data.clone();
        want.extend_from_slice(&data[5..5 + PIECE + 3]);
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the bytes differ");
    }

    #[test]
    fn a_stretch_that_ends_early_is_an_error_not_a_short_blob() {
        let (_a, file) = file_with(b"short");
        let err = read_all(vec![Stretch { file, offset: 1, length: Some(10) }]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("6 bytes missing"), "{err}");
    }

    #[test]
    fn a_stream_is_written_whole_and_a_failing_one_says_it_was_the_source() {
        let data = pattern(2 * PIECE + 999);
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let chunks: Vec<io::Result<Bytes>> = data.chunks(70_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let mut stream: ByteStream = Box::pin(futures_util::stream::iter(chunks));
        let (_, written) = rt().block_on(write_stream(tmp.reopen().unwrap(), &mut stream, data.len() as u64)).unwrap();
        assert_eq!(written, data.len() as u64);
        assert!(std::fs::read(tmp.path()).unwrap() == data, "the file differs from the stream");

        let items = vec![Ok(Bytes::from_static(b"part")), Err(io::Error::other("digest mismatch"))];
        let mut stream: ByteStream = Box::pin(futures_util::stream::iter(items));
        let failed = rt().block_on(write_stream(tmp.reopen().unwrap(), &mut stream, 0));
        assert!(matches!(failed, Err(WriteFailure::Source(e)) if e.to_string() == "digest mismatch"));
    }

    /// A file in the project's own folder: its file system takes direct I/O, unlike a
    /// tmpfs `/tmp`.
    fn file_on_disk() -> (tempfile::NamedTempFile, File) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        let tmp = tempfile::NamedTempFile::new_in(dir).unwrap();
        let file = tmp.reopen().unwrap();
        direct::set(&file, true).expect("the project's file system takes O_DIRECT");
        (tmp, file)
    }

    #[test]
    fn a_stream_written_direct_is_whole_whatever_its_length() {
        for len in [BATCH, 2 * BATCH + 999, 10, 4 * LARGE_BATCH + 999] {
            let (tmp, file) = file_on_disk();
            let data = pattern(len);
            let mut stream: ByteStream = Box::pin(futures_util::stream::iter(vec![Ok(Bytes::from(data.clone()))]));
            let (file, written) = rt().block_on(write_stream(file, &mut stream, len as u64)).unwrap();
            assert_eq!(written, len as u64);
            assert!(std::fs::read(tmp.path()).unwrap() == data, "{len} bytes: the file differs");
            let flags = rustix::fs::fcntl_getfl(&file).unwrap();
            assert!(!flags.contains(rustix::fs::OFlags::DIRECT), "the caller gets an ordinary file back");
        }
    }

    #[test]
    fn buffers_fit_the_blob_and_only_a_few_writers_get_large_ones() {
        assert_eq!(batch_for(0).0, BATCH, "unknown size");
        assert_eq!(batch_for(10).0, ALIGN, "a small blob: one page");
        assert_eq!(batch_for(BATCH as u64 + 1).0, BATCH);
        let (batch, permit) = batch_for(4 * LARGE_BATCH as u64);
        assert_eq!((batch, permit.is_some()), (LARGE_BATCH, true));
        // With every permit taken (some may be held by another test), large blobs get BATCH.
        let mut held = vec![permit];
        while let Ok(p) = LARGE_WRITERS.try_acquire() {
            held.push(Some(p));
        }
        let (batch, permit) = batch_for(1 << 30);
        assert_eq!((batch, permit.is_none()), (BATCH, true), "no permit left");
        assert!(held.len() <= 8, "{} large writers at once", held.len());
    }

    #[test]
    fn a_direct_write_refused_goes_on_through_the_cache() {
        let (tmp, mut file) = file_on_disk();
        let mut direct = true;
        // A whole page, but from memory that is not page-aligned: direct I/O refuses it.
        let data = pattern(ALIGN + 1);
        let unaligned = if data.as_ptr().align_offset(ALIGN) == 1 { &data[..ALIGN] } else { &data[1..] };
        write_batch(&mut file, unaligned, &mut direct).unwrap();
        assert!(!direct, "the refusal turned direct I/O off");
        assert!(std::fs::read(tmp.path()).unwrap() == unaligned, "the file differs");
    }

    #[test]
    fn a_whole_file_read_direct_gives_every_byte_whatever_its_length() {
        for len in [0, 10, ALIGN, PIECE, 3 * PIECE + 17] {
            let (tmp, _) = file_on_disk();
            let data = pattern(len);
            std::fs::write(tmp.path(), &data).unwrap();
            let got = read_all(vec![Stretch { file: File::open(tmp.path()).unwrap(), offset: 0, length: None }]);
            assert!(got.unwrap() == data, "{len} bytes: what was read differs");
        }
    }

    #[test]
    fn a_direct_read_refused_is_done_again_through_the_cache() {
        let (tmp, mut file) = file_on_disk();
        let data = pattern(2 * ALIGN);
        std::fs::write(tmp.path(), &data).unwrap();
        let mut buf = vec![0u8; 2 * ALIGN + 1];
        let unaligned = if buf.as_ptr().align_offset(ALIGN) == 1 { &mut buf[..2 * ALIGN] } else { &mut buf[1..] };
        let mut direct = true;
        assert_eq!(read_full(&mut file, unaligned, &mut direct).unwrap(), 2 * ALIGN);
        assert!(!direct, "the refusal turned direct I/O off");
        assert!(unaligned == &data[..], "what was read differs");
    }

    #[test]
    fn a_file_that_cannot_be_written_is_a_write_failure() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let read_only = File::open(tmp.path()).unwrap();
        let mut stream: ByteStream = Box::pin(futures_util::stream::iter(vec![Ok(Bytes::from_static(b"x"))]));
        let failed = rt().block_on(write_stream(read_only, &mut stream, 0));
        assert!(matches!(failed, Err(WriteFailure::Write(_))));
    }
}
