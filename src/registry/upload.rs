//! Sending a blob into an upload session (OCI distribution spec, "pushing blobs"): the
//! whole blob in one `PUT` (monolithic), or — for a registry that names a minimum chunk
//! size or refused a monolithic upload — `PATCH` chunks in order, each starting where the
//! registry's `Range` says it stands, then an empty `PUT` with the digest. Every later
//! request goes to the latest `Location` the registry gave.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Response, StatusCode};

use super::challenge::Scope;
use super::chunking::{self, SMALLEST_CHUNK};
use super::client::RegistryClient;
use super::RegistryError;
use crate::digest::Digest;
use crate::store::ByteStream;

const OCTET_STREAM: &str = "application/octet-stream";
/// `OCI-Chunk-Min-Length`: the smallest chunk (but the last) the registry accepts.
const CHUNK_MIN_LENGTH: &str = "oci-chunk-min-length";
/// A registry answering a chunk with no progress this many times in a row has stopped.
const MAX_IDLE_CHUNKS: u32 = 3;

/// An upload session the registry opened (a `POST` answered 202).
#[derive(Debug, Clone)]
pub struct Session {
    /// Where to send the blob: the `Location`, made absolute.
    pub url: String,
    /// The registry's `OCI-Chunk-Min-Length`: it wants chunks of at least this size.
    pub min_chunk: Option<u64>,
}

impl Session {
    /// The session opened by `resp`, the answer to a request to `request_url`.
    pub fn opened(resp: &Response, request_url: &str) -> Option<Session> {
        let location = resp.headers().get(LOCATION)?.to_str().ok()?;
        let url = chunking::resolve_location(request_url, location)?;
        let min_chunk = resp
            .headers()
            .get(CHUNK_MIN_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .filter(|n| *n > 0);
        Some(Session { url, min_chunk })
    }

    /// Whether to upload in chunks: the registry named a minimum, or refused a whole blob.
    pub fn chunked(&self, client: &RegistryClient) -> bool {
        self.min_chunk.is_some() || client.learned().chunked.load(Ordering::Relaxed)
    }
}

/// One blob going into one repository.
pub struct Upload<'a> {
    pub client: &'a RegistryClient,
    pub repo: &'a str,
    pub digest: &'a Digest,
}

/// What a registry made of one chunk.
enum Patched {
    /// It now holds the blob up to `held` bytes; later requests go to `url`.
    Took { held: u64, url: String },
    /// 413: the chunk is too large for it (or for a proxy in front of it).
    TooLarge,
}

impl Upload<'_> {
    fn what(&self) -> String {
        format!("blob {}@{}", self.repo, self.digest)
    }

    fn scopes(&self) -> [Scope; 1] {
        [Scope::push(self.repo)]
    }

    fn status(&self, what: String, status: StatusCode, detail: String) -> RegistryError {
        RegistryError::Status { host: self.client.host().to_string(), what, status: status.as_u16(), detail }
    }

    /// `PUT <url>?digest=…` with the whole blob, `size` bytes of `stream`. A registry that
    /// takes it all and never answers is found in `--stall-timeout`. A refusal of a whole
    /// blob (see [`refuses_monolithic`]) switches this registry to chunked uploads.
    pub async fn monolithic(&self, session: &Session, stream: ByteStream, size: u64) -> Result<(), RegistryError> {
        let what = self.what();
        // Told when the last byte of the body has been handed over.
        let (sent, all_sent) = tokio::sync::oneshot::channel::<()>();
        let mut sent = Some(sent);
        let mut handed = 0u64;
        let stream = stream.inspect(move |item| {
            handed += item.as_ref().map_or(0, |chunk| chunk.len() as u64);
            if handed >= size {
                if let Some(tx) = sent.take() {
                    let _ = tx.send(());
                }
            }
        });
        let req = self
            .client
            .streaming_http()
            .put(with_digest(&session.url, self.digest))
            .header(CONTENT_TYPE, OCTET_STREAM)
            .header(CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(stream));
        let stall = self.client.transport().stall_timeout();
        let scopes = self.scopes();
        let silent = async {
            if all_sent.await.is_ok() {
                tokio::time::sleep(stall).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let resp = tokio::select! {
            resp = self.client.send_once(&scopes, req) => resp?,
            () = silent => return Err(RegistryError::Stalled {
                host: self.client.host().to_string(),
                what: format!("upload of {what}"),
                secs: stall.as_secs(),
            }),
        };
        let status = resp.status();
        if status == StatusCode::CREATED {
            return Ok(());
        }
        let mut detail = format!(": {}", resp.text().await.unwrap_or_default().trim());
        if refuses_monolithic(status) {
            self.client.learned().chunked.store(true, Ordering::Relaxed);
            detail.push_str("; uploading to this registry in chunks from now on");
        }
        Err(self.status(what, status, detail))
    }

    /// `PATCH` the blob in chunks of the planned size, each from the offset the registry's
    /// `Range` reports (resending what it did not keep), halving the size after a 413;
    /// then close the session with an empty `PUT`. A chunk whose token expired meanwhile is
    /// sent again after authenticating anew (each chunk is held in memory until kept).
    pub async fn chunked(&self, session: &Session, stream: ByteStream) -> Result<(), RegistryError> {
        let learned = self.client.learned();
        let mut size = chunking::chunk_size(session.min_chunk, learned.chunk_limit.load(Ordering::Relaxed));
        let floor = session.min_chunk.unwrap_or(0).max(SMALLEST_CHUNK);
        let mut source = Refill { stream, ended: false };
        let mut pending = BytesMut::new();
        let (mut url, mut offset, mut idle) = (session.url.clone(), 0u64, 0);
        loop {
            source
                .fill(&mut pending, size)
                .await
                .map_err(|source| RegistryError::Read { what: self.what(), source })?;
            if pending.is_empty() {
                break;
            }
            let part = pending.split_to(pending.len().min(usize::try_from(size).unwrap_or(usize::MAX))).freeze();
            let took = match self.patch(&url, offset, part.clone()).await? {
                Patched::Took { held, url: next } => {
                    url = next;
                    held - offset
                }
                Patched::TooLarge if size / 2 >= floor => {
                    size /= 2;
                    let smaller = |known: u64| (known == 0 || size < known).then_some(size);
                    let _ = learned.chunk_limit.fetch_update(Ordering::Relaxed, Ordering::Relaxed, smaller);
                    put_back(&mut pending, part);
                    continue;
                }
                Patched::TooLarge => {
                    let detail = format!(": a chunk of {} bytes is too large for it", part.len());
                    return Err(self.status(
                        format!("upload of {}", self.what()),
                        StatusCode::PAYLOAD_TOO_LARGE,
                        detail,
                    ));
                }
            };
            idle = if took == 0 { idle + 1 } else { 0 };
            if idle >= MAX_IDLE_CHUNKS {
                return Err(self.bad(format!("the registry kept none of {MAX_IDLE_CHUNKS} chunks in a row")));
            }
            offset += took;
            put_back(&mut pending, part.slice(usize::try_from(took).unwrap_or(usize::MAX)..));
        }
        self.finish(&url).await
    }

    /// Send `part`, the blob from byte `offset` on.
    async fn patch(&self, url: &str, offset: u64, part: Bytes) -> Result<Patched, RegistryError> {
        let sent = part.len() as u64;
        let range = format!("{offset}-{}", offset + sent - 1);
        let resp = self
            .client
            .send(&self.scopes(), |h| {
                h.patch(url)
                    .header(CONTENT_TYPE, OCTET_STREAM)
                    .header(CONTENT_RANGE, range.as_str())
                    .header(CONTENT_LENGTH, sent)
                    .body(part.clone())
            })
            .await?;
        let status = resp.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return Ok(Patched::TooLarge);
        }
        let reported = resp.headers().get(RANGE).and_then(|v| v.to_str().ok());
        // 416: the registry did not take the chunk where it was sent; its Range says where it is.
        let resync = status == StatusCode::RANGE_NOT_SATISFIABLE && reported.is_some();
        if !(status.is_success() || resync) {
            let detail = format!(": {}", resp.text().await.unwrap_or_default().trim());
            return Err(self.status(format!("chunk {range} of {}", self.what()), status, detail));
        }
        let took = chunking::kept(offset, sent, reported).map_err(|e| self.bad(format!("after chunk {range}: {e}")))?;
        let next = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok());
        let url = next.and_then(|l| chunking::resolve_location(url, l)).unwrap_or_else(|| url.to_string());
        Ok(Patched::Took { held: offset + took, url })
    }

    /// Close the session: `PUT <url>?digest=…`, no body.
    async fn finish(&self, url: &str) -> Result<(), RegistryError> {
        let put = with_digest(url, self.digest);
        let resp = self.client.send(&self.scopes(), |h| h.put(&put).header(CONTENT_LENGTH, 0)).await?;
        if resp.status() == StatusCode::CREATED {
            return Ok(());
        }
        let status = resp.status();
        let detail = format!(": {}", resp.text().await.unwrap_or_default().trim());
        Err(self.status(format!("upload of {}", self.what()), status, detail))
    }

    fn bad(&self, reason: String) -> RegistryError {
        RegistryError::BadResponse { host: self.client.host().to_string(), what: self.what(), reason }
    }

    /// Cancel the session (best effort, a few seconds at most): a failed chunked upload
    /// leaves data the registry would otherwise keep until the session expires.
    pub async fn cancel(&self, session: &Session) {
        let req = self.client.http().delete(session.url.as_str());
        let scopes = self.scopes();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.client.send_once(&scopes, req)).await;
    }
}

/// The answers by which a registry refuses a whole blob in one request: the method is not
/// allowed or implemented (405, 501), the body is too large for it or a proxy in front of it
/// (413), or any other client error but those about access (401, 403), a lost session (404),
/// or pace (408, 429): `400 BLOB_UPLOAD_INVALID` from registries that take chunks only.
fn refuses_monolithic(status: StatusCode) -> bool {
    match status.as_u16() {
        501 => true,
        401 | 403 | 404 | 408 | 429 => false,
        code => (400..500).contains(&code),
    }
}

fn with_digest(url: &str, digest: &Digest) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}digest={digest}")
}

/// `rest` (bytes the registry did not keep) goes back in front of `pending`.
fn put_back(pending: &mut BytesMut, rest: Bytes) {
    if rest.is_empty() {
        return;
    }
    let mut front = BytesMut::with_capacity(rest.len() + pending.len());
    front.extend_from_slice(&rest);
    front.extend_from_slice(pending);
    *pending = front;
}

/// The blob's bytes, read ahead into a buffer a chunk at a time.
struct Refill {
    stream: ByteStream,
    ended: bool,
}

impl Refill {
    /// Read until `pending` holds `size` bytes or the blob ends.
    async fn fill(&mut self, pending: &mut BytesMut, size: u64) -> std::io::Result<()> {
        while !self.ended && (pending.len() as u64) < size {
            match self.stream.next().await {
                Some(chunk) => pending.extend_from_slice(&chunk?),
                None => self.ended = true,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_registry_did_not_keep_is_sent_first() {
        let mut pending = BytesMut::from(&b"ghij"[..]);
        put_back(&mut pending, Bytes::from_static(b"def"));
        assert_eq!(&pending[..], b"defghij");
        put_back(&mut pending, Bytes::new());
        assert_eq!(&pending[..], b"defghij");
    }

    #[test]
    fn the_digest_joins_any_query_of_the_location() {
        let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        assert_eq!(with_digest("http://r/u/1", &d), format!("http://r/u/1?digest={d}"));
        assert_eq!(with_digest("http://r/u/1?_state=x", &d), format!("http://r/u/1?_state=x&digest={d}"));
    }

    #[test]
    fn client_errors_but_access_absence_and_pace_switch_to_chunks() {
        for s in [400, 405, 411, 413, 415, 416, 422, 501] {
            assert!(refuses_monolithic(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [401, 403, 404, 408, 429, 500, 502, 503] {
            assert!(!refuses_monolithic(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }
}
