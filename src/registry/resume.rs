//! Blob downloads that survive a connection cut or a stall: when the body fails after N
//! bytes, or sends nothing for `--stall-timeout` (or crawls below [`STALL_FLOOR`] bytes a
//! second for that long), the rest is asked for with `Range: bytes=N-` and the stream goes
//! on where it stopped, so whatever consumes it (a disk writer, an upload to another
//! registry) never sees the cut. Resumes spend the blob's one retry budget. The digest check
//! sits above this stream and still covers every byte.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::{Response, StatusCode};

use super::challenge::Scope;
use super::client::RegistryClient;
use super::transport::STALL_FLOOR;
use crate::digest::Digest;
use crate::store::ByteStream;

/// Where a blob is downloaded from.
struct Source {
    client: RegistryClient,
    url: String,
    repo: String,
    digest: Digest,
}

/// One blob download and how far it got.
struct Download {
    source: Source,
    /// Bytes handed on so far (the offset to resume from).
    received: u64,
    /// Resumes made so far (for the backoff).
    resumes: u32,
    body: ByteStream,
    pace: Pace,
}

/// Whether bytes keep coming: a window of `stall` time must bring `STALL_FLOOR × stall`
/// bytes, and no single wait may last `stall`.
struct Pace {
    stall: Duration,
    since: Instant,
    bytes: u64,
}

impl Pace {
    fn new(stall: Duration) -> Pace {
        Pace { stall, since: Instant::now(), bytes: 0 }
    }

    /// Count a chunk; `Err` when the window closed below the floor.
    fn chunk(&mut self, len: usize) -> Result<(), std::io::Error> {
        self.bytes += len as u64;
        let elapsed = self.since.elapsed();
        if elapsed < self.stall {
            return Ok(());
        }
        let floor = STALL_FLOOR.saturating_mul(self.stall.as_secs().max(1));
        if self.bytes < floor {
            let msg = format!("only {} bytes in {} s, below {STALL_FLOOR} bytes/s", self.bytes, elapsed.as_secs());
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, msg));
        }
        *self = Pace::new(self.stall);
        Ok(())
    }

    fn silent(&self) -> std::io::Error {
        let msg = format!("stalled: no data for {} s", self.stall.as_secs());
        std::io::Error::new(std::io::ErrorKind::TimedOut, msg)
    }
}

/// The body of `first` (a 200 answer to a blob GET of `url`), resumed with range requests
/// after mid-body failures, up to `--retries` times in all.
pub(super) fn resuming(
    client: RegistryClient,
    url: String,
    repo: &str,
    digest: &Digest,
    first: Response,
) -> ByteStream {
    let pace = Pace::new(client.transport().stall_timeout());
    let source = Source { client, url, repo: repo.to_string(), digest: digest.clone() };
    let download = Download { source, received: 0, resumes: 0, body: body_stream(first), pace };
    Box::pin(futures_util::stream::unfold(Some(download), |state| async move {
        let mut d = state?;
        loop {
            let failure = match tokio::time::timeout(d.pace.stall, d.body.next()).await {
                Ok(Some(Ok(chunk))) => match d.pace.chunk(chunk.len()) {
                    Ok(()) => {
                        d.received += chunk.len() as u64;
                        return Some((Ok(chunk), Some(d)));
                    }
                    // The crawling chunk is dropped and asked for again with the rest.
                    Err(crawl) => crawl,
                },
                Ok(None) => return None,
                Ok(Some(Err(cut))) => cut,
                Err(_) => d.pace.silent(),
            };
            if let Err(e) = d.resume(failure).await {
                return Some((Err(e), None));
            }
        }
    }))
}

impl Download {
    /// Carry on from `self.received` after `failure`, if the blob's retry budget allows.
    async fn resume(&mut self, failure: std::io::Error) -> std::io::Result<()> {
        if !self.source.client.transport().retries().take(self.source.digest.as_str()) {
            return Err(failure);
        }
        let stalled = failure.kind() == std::io::ErrorKind::TimedOut;
        let why = crate::exit::one_line(&failure);
        self.source.client.transport().progress.resumed(self.source.what(), self.received, why, stalled);
        self.resumes += 1;
        self.body = self.source.reopen(self.received, self.resumes, &failure).await?;
        self.pace = Pace::new(self.pace.stall);
        Ok(())
    }
}

fn body_stream(resp: Response) -> ByteStream {
    Box::pin(resp.bytes_stream().map(|r| r.map_err(|e| std::io::Error::other(e.without_url()))))
}

impl Source {
    fn what(&self) -> String {
        format!("blob {}@{}", self.repo, self.digest)
    }

    /// Wait, then ask for the rest of the blob from byte `from` on.
    async fn reopen(&self, from: u64, attempt: u32, cut: &std::io::Error) -> std::io::Result<ByteStream> {
        let why = crate::exit::one_line(cut);
        let note = format!("{} cut after {from} bytes ({why}); resuming with Range: bytes={from}-", self.what());
        self.client.wait_before_retry(attempt, None, &note).await;
        let url = &self.url;
        let resp = self
            .client
            .send(&[Scope::pull(&self.repo)], |h| h.get(url).header(RANGE, format!("bytes={from}-")))
            .await
            .map_err(std::io::Error::other)?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let start = resp.headers().get(CONTENT_RANGE).and_then(|v| v.to_str().ok()).and_then(range_start);
                if start != Some(from) {
                    return Err(self.failed(format!("the registry sent a range not starting at byte {from}")));
                }
                Ok(body_stream(resp))
            }
            // The registry ignored the range: read the blob again, dropping what we have.
            StatusCode::OK => Ok(skip_prefix(body_stream(resp), from)),
            status => Err(self.failed(format!("the registry answered {status}"))),
        }
    }

    fn failed(&self, reason: String) -> std::io::Error {
        let host = self.client.host();
        std::io::Error::other(format!("cannot resume {} from registry {host}: {reason}", self.what()))
    }
}

/// The first byte of `Content-Range: bytes START-END/SIZE`.
fn range_start(value: &str) -> Option<u64> {
    let range = value.trim().strip_prefix("bytes ")?;
    range.split_once('-')?.0.trim().parse().ok()
}

/// `inner` without its first `n` bytes.
fn skip_prefix(inner: ByteStream, n: u64) -> ByteStream {
    Box::pin(futures_util::stream::unfold((inner, n), |(mut inner, mut left)| async move {
        loop {
            let chunk: Bytes = match inner.next().await? {
                Ok(chunk) => chunk,
                Err(e) => return Some((Err(e), (inner, 0))),
            };
            if left == 0 {
                return Some((Ok(chunk), (inner, 0)));
            }
            let len = chunk.len() as u64;
            if len <= left {
                left -= len;
                continue;
            }
            let rest = chunk.slice(usize::try_from(left).unwrap_or(usize::MAX)..);
            return Some((Ok(rest), (inner, 0)));
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(stream: ByteStream) -> Vec<u8> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(stream.map(|c| c.unwrap().to_vec()).concat())
    }

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        Box::pin(futures_util::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>()))
    }

    #[test]
    fn reads_the_start_of_a_content_range() {
        assert_eq!(range_start("bytes 1048576-3145727/3145728"), Some(1_048_576));
        assert_eq!(range_start("bytes 0-0/1"), Some(0));
        assert_eq!(range_start("bytes */100"), None);
        assert_eq!(range_start("items 1-2/3"), None);
    }

    #[test]
    fn skipping_a_prefix_spans_chunks() {
        assert_eq!(collect(skip_prefix(chunks(&[b"abc", b"defg", b"h"]), 5)), b"fgh");
        assert_eq!(collect(skip_prefix(chunks(&[b"abc", b"def"]), 3)), b"def");
        assert_eq!(collect(skip_prefix(chunks(&[b"abc"]), 0)), b"abc");
        assert_eq!(collect(skip_prefix(chunks(&[b"abc"]), 9)), b"");
    }
}
