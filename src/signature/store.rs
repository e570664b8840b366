//! Signature stores: `<store>/<algorithm>=<hex>/signature-<N>` over `https`, `http` or
//! `file://`, as the cluster-version operator reads them.
//!
//! A 404 (or a missing file) ends the search in a store; any other failure is recorded and
//! the next N is tried. Every request has its own timeout (default
//! 30 s, `--release-image-signature-store-timeout`), covering the whole
//! exchange, so a store that never answers costs at most that per N. Bodies over
//! [`MAX_BODY`] are refused: a real signature is well under a kilobyte.

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;

use crate::digest::Digest;

/// The highest N asked for in a store.
pub(crate) const MAX_SIGNATURES: u32 = 9;
/// The largest signature body accepted.
pub(crate) const MAX_BODY: u64 = 1 << 20;

/// What one `signature-<N>` request gave.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// The signature bytes.
    Found(Vec<u8>),
    /// 404 or no such file: the store has no more signatures.
    NotFound,
    /// Anything else: recorded, and the next N is tried.
    Failed(FetchError),
}

/// Why a signature could not be fetched from a store.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The store URL is neither `https://`, `http://` nor `file://`.
    #[error("signature store {url} is not an https, http or file URL")]
    UnsupportedUrl { url: String },

    /// The HTTP client for signature stores could not be built.
    #[error("cannot build the http client for signature stores")]
    Client(#[source] reqwest::Error),

    /// The run's HTTP setup could not be used (its CA bundle).
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),

    /// The request did not complete within the per-request timeout.
    #[error("no answer from {url} within {} s", timeout.as_secs_f32())]
    Timeout { url: String, timeout: Duration },

    /// The request failed (connection refused, TLS, reset…).
    #[error("request to {url} failed")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },

    /// The store answered with an HTTP error other than 404.
    #[error("{url} answered http status {status}")]
    Status { url: String, status: StatusCode },

    /// The body is larger than any signature.
    #[error("{url} is larger than {MAX_BODY} bytes: not a signature")]
    TooLarge { url: String },

    /// A `file://` signature could not be read.
    #[error("cannot read signature file {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Fetches signatures from stores; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct StoreClient {
    http: reqwest::Client,
    timeout: Duration,
}

impl StoreClient {
    /// A client with the run's `http` setup whose every request must complete within
    /// `timeout`.
    pub(crate) fn new(http: &crate::http::Settings, timeout: Duration) -> Result<StoreClient, FetchError> {
        let http = http.builder()?.connect_timeout(timeout).timeout(timeout).build().map_err(FetchError::Client)?;
        Ok(StoreClient { http, timeout })
    }

    /// Fetches `signature-<n>` of `digest` from `store`. A `file://` store that names a
    /// file rather than a folder is a signature ConfigMap (as `--to-dir` writes it).
    pub async fn fetch(&self, store: &str, digest: &Digest, n: u32) -> Fetched {
        if let Some(path) = store.strip_prefix("file://").map(PathBuf::from).filter(|p| p.is_file()) {
            return read_config_map(path, digest, n);
        }
        let url = signature_url(store, digest, n);
        if let Some(path) = url.strip_prefix("file://") {
            return read_file(PathBuf::from(path));
        }
        if url.starts_with("https://") || url.starts_with("http://") {
            return self.get(url).await;
        }
        Fetched::Failed(FetchError::UnsupportedUrl { url: redact(store) })
    }

    async fn get(&self, target: String) -> Fetched {
        // Errors name the URL without its credentials, and reqwest's own errors no URL at all.
        let url = redact(&target);
        let failed = |source: reqwest::Error, url: String| {
            Fetched::Failed(if source.is_timeout() {
                FetchError::Timeout { url, timeout: self.timeout }
            } else {
                FetchError::Request { url, source: source.without_url() }
            })
        };
        let mut response = match self.http.get(&target).send().await {
            Ok(r) => r,
            Err(e) => return failed(e, url),
        };
        match response.status() {
            StatusCode::NOT_FOUND => return Fetched::NotFound,
            status if !status.is_success() => return Fetched::Failed(FetchError::Status { url, status }),
            _ => {}
        }
        if response.content_length().is_some_and(|len| len > MAX_BODY) {
            return Fetched::Failed(FetchError::TooLarge { url });
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => return Fetched::Found(body),
                Err(e) => return failed(e, url),
            }
            if body.len() as u64 > MAX_BODY {
                return Fetched::Failed(FetchError::TooLarge { url });
            }
        }
    }
}

/// Where signature `n` came from, for messages: its URL, or `<configmap file>#signature-<n>`.
pub(crate) fn describe(store: &str, digest: &Digest, n: u32) -> String {
    match store.strip_prefix("file://").map(std::path::Path::new) {
        Some(path) if path.is_file() => format!("{store}#signature-{n}"),
        _ => redact(&signature_url(store, digest, n)),
    }
}

pub(crate) use crate::http::redact;

/// `<store>/<algorithm>=<hex>/signature-<n>`.
pub(crate) fn signature_url(store: &str, digest: &Digest, n: u32) -> String {
    format!("{}/{}={}/signature-{n}", store.trim_end_matches('/'), digest.algorithm(), digest.hex())
}

fn read_config_map(path: PathBuf, digest: &Digest, n: u32) -> Fetched {
    let text = match read_file(path.clone()) {
        Fetched::Found(text) => text,
        other => return other,
    };
    match super::configmap::read_signature(&text, digest, n) {
        Ok(Some(signature)) => Fetched::Found(signature),
        Ok(None) => Fetched::NotFound,
        Err(reason) => Fetched::Failed(FetchError::File { path, source: std::io::Error::other(reason) }),
    }
}

fn read_file(path: PathBuf) -> Fetched {
    // A FIFO or a device would block or never end: only a regular file is opened.
    match std::fs::metadata(&path) {
        Ok(meta) if !meta.is_file() => {
            let source = std::io::Error::other("it is not a regular file");
            return Fetched::Failed(FetchError::File { path, source });
        }
        _ => {}
    }
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Fetched::NotFound,
        Err(source) => return Fetched::Failed(FetchError::File { path, source }),
    };
    let mut body = Vec::new();
    if let Err(source) = file.take(MAX_BODY + 1).read_to_end(&mut body) {
        return Fetched::Failed(FetchError::File { path, source });
    }
    if body.len() as u64 > MAX_BODY {
        let url = format!("file://{}", path.display());
        return Fetched::Failed(FetchError::TooLarge { url });
    }
    Fetched::Found(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_file_that_is_a_fifo_or_a_device_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("signature-1");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
        for path in [fifo, PathBuf::from("/dev/zero")] {
            match read_file(path.clone()) {
                Fetched::Failed(e) => assert!(format!("{e:#}").contains("signature file"), "{e}"),
                _ => panic!("{} was read", path.display()),
            }
        }
    }

    #[test]
    fn redact_drops_the_credentials_of_a_url_and_nothing_else() {
        assert_eq!(redact("https://user:pw@host:8443/a/b?x=1"), "https://***@host:8443/a/b?x=1");
        assert_eq!(redact("http://token@host/sig"), "http://***@host/sig");
        assert_eq!(redact("https://host/a@b/c"), "https://host/a@b/c", "an @ in the path is not userinfo");
        assert_eq!(redact("file:///tmp/store"), "file:///tmp/store");
        assert_eq!(redact("not a url"), "not a url");
    }

    fn digest() -> Digest {
        "sha256:81154f5c03294534e1eaf0319bef7a601134f891689ccede5d705ef659aa8c92".parse().expect("digest")
    }

    #[test]
    fn urls_follow_the_store_protocol() {
        let want = "https://m.example/sigs/sha256=81154f5c03294534e1eaf0319bef7a601134f891689ccede5d705ef659aa8c92/signature-3";
        assert_eq!(signature_url("https://m.example/sigs/", &digest(), 3), want);
        assert_eq!(signature_url("https://m.example/sigs", &digest(), 3), want);
    }

    #[tokio::test]
    async fn file_stores_end_at_a_missing_file_and_refuse_big_bodies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sigs = dir.path().join(format!("sha256={}", digest().hex()));
        std::fs::create_dir_all(&sigs).expect("mkdir");
        std::fs::write(sigs.join("signature-1"), b"sig").expect("write");
        let big = vec![0u8; usize::try_from(MAX_BODY).expect("fits") + 1];
        std::fs::write(sigs.join("signature-2"), big).expect("write");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = StoreClient::new(&crate::http::Settings::default(), Duration::from_secs(30)).expect("client");
        let store = format!("file://{}", dir.path().display());
        assert!(matches!(client.fetch(&store, &digest(), 1).await, Fetched::Found(b) if b == b"sig"));
        let too_large = client.fetch(&store, &digest(), 2).await;
        assert!(matches!(too_large, Fetched::Failed(FetchError::TooLarge { .. })));
        assert!(matches!(client.fetch(&store, &digest(), 3).await, Fetched::NotFound));
    }

    #[tokio::test]
    async fn unknown_schemes_are_failures_naming_the_store() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = StoreClient::new(&crate::http::Settings::default(), Duration::from_secs(30)).expect("client");
        let Fetched::Failed(err) = client.fetch("ftp://x", &digest(), 1).await else {
            panic!("ftp accepted");
        };
        assert_eq!(err.to_string(), "signature store ftp://x is not an https, http or file URL");
    }
}
