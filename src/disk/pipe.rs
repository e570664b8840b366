//! Blob bytes between the tree's files and the copy's streams, moved off the async threads
//! in large pieces: one blocking task per blob reads (or writes) while the other side goes
//! on, with no copy of our own between the socket's chunks and the file, and no fresh
//! memory per piece. (`tokio::fs` hands every call to its blocking pool, copies through a
//! buffer of its own, and a written file waited for each 256 KiB.)

use std::fs::File;
use std::io::{self, IoSlice, Read as _, Seek as _, SeekFrom, Write as _};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use crate::digest::Hasher;
use crate::store::ByteStream;

/// The bytes read in one go: what a reader holds per blob is about two of them (one read
/// ahead, one with the consumer), so 32 transfers at once stay far under 64 MiB.
pub(crate) const PIECE: usize = 256 * 1024;
/// The bytes gathered from the stream before they are handed to the writer in one call.
const BATCH: usize = 512 * 1024;
/// Pieces read ahead of the consumer, or batches waiting for the writer.
const AHEAD: usize = 1;

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

/// Write the whole stream at the file's current position through a blocking task, a
/// piece at a time while the next piece arrives; the file and the bytes written when the
/// stream ended without error. Nothing is synced: the caller decides.
pub(crate) async fn write_stream(file: File, stream: &mut ByteStream) -> Result<(File, u64), WriteFailure> {
    let (tx, mut rx) = mpsc::channel::<Vec<Bytes>>(AHEAD);
    let writer = tokio::task::spawn_blocking(move || {
        let mut file = file;
        while let Some(batch) = rx.blocking_recv() {
            write_batch(&mut file, &batch)?;
        }
        Ok::<_, io::Error>(file)
    });
    let fed = feed(stream, &tx).await;
    drop(tx);
    let file = match writer.await {
        Ok(Ok(file)) => file,
        Ok(Err(e)) => return Err(WriteFailure::Write(e)),
        Err(e) => return Err(WriteFailure::Write(io::Error::other(e))),
    };
    fed.map(|written| (file, written)).map_err(WriteFailure::Source)
}

/// Pass the stream to the writer in batches of about a piece; the bytes passed. Stops early
/// (without error) when the writer has gone: its own error says why.
async fn feed(stream: &mut ByteStream, tx: &mpsc::Sender<Vec<Bytes>>) -> io::Result<u64> {
    let (mut batch, mut batched, mut total) = (Vec::new(), 0usize, 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        batched += chunk.len();
        total += chunk.len() as u64;
        batch.push(chunk);
        if batched >= BATCH {
            batched = 0;
            if tx.send(std::mem::take(&mut batch)).await.is_err() {
                return Ok(total);
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(batch).await;
    }
    Ok(total)
}

/// All the bytes of `batch`, with as few system calls as the kernel allows.
fn write_batch(file: &mut File, batch: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = batch.iter().map(|b| IoSlice::new(b)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "the file took no more bytes")),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
