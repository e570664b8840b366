//! Blob bytes between the tree's files and the copy's streams, moved off the async threads
//! in large pieces: one blocking task per blob reads (or writes) while the other side goes
//! on, through buffers used again and again. (`tokio::fs` hands every call to its blocking
//! pool and copies each piece once more through a buffer of its own.)

use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use super::DiskError;
use crate::digest::Hasher;
use crate::store::ByteStream;

/// The bytes read in one go: what a reader holds per blob is about two of them (one read
/// ahead, one with the consumer), so 32 transfers at once stay far under 64 MiB.
const PIECE: usize = 256 * 1024;
/// The bytes gathered from the stream before they are written in one call.
const BATCH: usize = 256 * 1024;
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

/// Send one stretch piece by piece; `Ok(false)` when the consumer has gone.
fn read_stretch(mut s: Stretch, buf: &mut BytesMut, tx: &mpsc::Sender<io::Result<Bytes>>) -> io::Result<bool> {
    if s.offset > 0 {
        s.file.seek(SeekFrom::Start(s.offset))?;
    }
    let mut left = s.length.unwrap_or(u64::MAX);
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(PIECE);
        // The pieces sent before are usually dropped by now: the same memory is used again.
        buf.reserve(want);
        buf.resize(want, 0);
        let n = read_full(&mut s.file, buf)?;
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

/// Fill `buf` unless the file ends first; how many bytes were read.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
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

/// Write the whole stream at the file's current position through a blocking task: the
/// chunks are gathered into one of two buffers while they are still in the cache from
/// their digest check, and a full buffer is written in one call while the other fills.
/// The file and the bytes written when the stream ended without error; nothing is synced:
/// the caller decides.
pub(crate) async fn write_stream(file: File, stream: &mut ByteStream) -> Result<(File, u64), WriteFailure> {
    let (to_writer, mut full) = mpsc::channel::<Vec<u8>>(AHEAD);
    let (to_filler, mut empty) = mpsc::channel::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        let _ = to_filler.try_send(Vec::with_capacity(BATCH));
    }
    let writer = tokio::task::spawn_blocking(move || {
        let mut file = file;
        while let Some(mut buf) = full.blocking_recv() {
            file.write_all(&buf)?;
            buf.clear();
            // The filler may have finished meanwhile: then the buffer is not needed.
            let _ = to_filler.try_send(buf);
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

/// Copy the stream into the buffers the writer hands back, passing each when full; the
/// bytes passed. Stops early (without error) when the writer has gone: its error says why.
async fn feed(
    stream: &mut ByteStream,
    to_writer: &mpsc::Sender<Vec<u8>>,
    empty: &mut mpsc::Receiver<Vec<u8>>,
) -> io::Result<u64> {
    let mut total = 0u64;
    let Some(mut buf) = empty.recv().await else { return Ok(0) };
    while let Some(chunk) = stream.next().await {
        let mut chunk = &chunk?[..];
        total += chunk.len() as u64;
        while !chunk.is_empty() {
            let take = chunk.len().min(BATCH - buf.len());
            buf.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if buf.len() == BATCH {
                if to_writer.send(buf).await.is_err() {
                    return Ok(total);
                }
                let Some(next) = empty.recv().await else { return Ok(total) };
                buf = next;
            }
        }
    }
    if !buf.is_empty() {
        let _ = to_writer.send(buf).await;
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
        let (_, written) = rt().block_on(write_stream(tmp.reopen().unwrap(), &mut stream)).unwrap();
        assert_eq!(written, data.len() as u64);
        assert!(std::fs::read(tmp.path()).unwrap() == data, "the file differs from the stream");

        let items = vec![Ok(Bytes::from_static(b"part")), Err(io::Error::other("digest mismatch"))];
        let mut stream: ByteStream = Box::pin(futures_util::stream::iter(items));
        let failed = rt().block_on(write_stream(tmp.reopen().unwrap(), &mut stream));
        assert!(matches!(failed, Err(WriteFailure::Source(e)) if e.to_string() == "digest mismatch"));
    }

    #[test]
    fn a_file_that_cannot_be_written_is_a_write_failure() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let read_only = File::open(tmp.path()).unwrap();
        let mut stream: ByteStream = Box::pin(futures_util::stream::iter(vec![Ok(Bytes::from_static(b"x"))]));
        let failed = rt().block_on(write_stream(read_only, &mut stream));
        assert!(matches!(failed, Err(WriteFailure::Write(_))));
    }
}
