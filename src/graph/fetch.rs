//! Getting a graph's bytes: from the update service (`GET URL?channel=C&arch=A`, JSON, at
//! most [`MAX_GRAPH_BYTES`], over the run's [`crate::http::Settings`]) or from a file. The
//! one part of `graph/` that does I/O.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::ACCEPT;
use serde::Deserialize;

/// The largest update-service answer accepted: the real graph is about 1 MB per channel.
pub const MAX_GRAPH_BYTES: u64 = 64 << 20;
/// Time allowed for the whole update-service exchange, unless the run's
/// [`crate::http::Settings::update_service_timeout`] says otherwise.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// The public OpenShift update service.
pub const DEFAULT_UPDATE_SERVICE: &str = "https://api.openshift.com/api/upgrades_info/v1/graph";

/// Where a graph comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphSource {
    /// An update service URL (`--update-service`).
    Service(String),
    /// A graph file saved earlier (`--graph-file`): one channel's answer.
    File(PathBuf),
}

/// Why a graph could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("failed to reach the update service {url}")]
    Connect {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the update service {url} refused the request for channel {channel:?}, arch {arch:?} ({status}{detail})")]
    Status { url: String, channel: String, arch: String, status: u16, detail: String },
    #[error("the update service {url} sent more than {limit} bytes: not an update graph")]
    TooLarge { url: String, limit: u64 },
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    #[error("failed to read graph file {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the update graph for channel {channel} (arch {arch}) from {from} is invalid")]
    Invalid {
        from: String,
        channel: String,
        arch: String,
        #[source]
        source: Box<super::GraphError>,
    },
}

/// The service's error body: `{"kind":"missing_params","value":"…"}`.
#[derive(Deserialize)]
struct ServiceError {
    kind: String,
    value: String,
}

/// The raw graph for `channel` and `arch` (the graph file is returned whole; the caller
/// narrows it to the channel).
pub async fn fetch(
    source: &GraphSource,
    http: &crate::http::Settings,
    channel: &str,
    arch: &str,
) -> Result<Vec<u8>, FetchError> {
    match source {
        GraphSource::File(path) => read_file(path),
        GraphSource::Service(url) => fetch_service(http, url, channel, arch).await,
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, FetchError> {
    std::fs::read(path).map_err(|source| FetchError::File { path: path.to_path_buf(), source })
}

async fn fetch_service(
    http: &crate::http::Settings,
    url: &str,
    channel: &str,
    arch: &str,
) -> Result<Vec<u8>, FetchError> {
    let shown = crate::http::redact(url);
    let connect = |source| FetchError::Connect { url: shown.clone(), source };
    let timeout = http.update_service_timeout.unwrap_or(ANSWER_TIMEOUT);
    let client = http.builder()?.timeout(timeout).build().map_err(connect)?;
    let resp = client
        .get(url)
        .query(&[("channel", channel), ("arch", arch)])
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| connect(e.without_url()))?;
    let status = resp.status();
    let body = read_bounded(resp, MAX_GRAPH_BYTES).await.map_err(|e| match e {
        Bounded::Over => FetchError::TooLarge { url: shown.clone(), limit: MAX_GRAPH_BYTES },
        Bounded::Failed(e) => connect(e.without_url()),
    })?;
    if !status.is_success() {
        let detail = match serde_json::from_slice::<ServiceError>(&body) {
            Ok(e) => format!(": {}: {}", e.kind, e.value),
            Err(_) => String::new(),
        };
        let (channel, arch) = (channel.to_string(), arch.to_string());
        return Err(FetchError::Status { url: shown, channel, arch, status: status.as_u16(), detail });
    }
    Ok(body)
}

enum Bounded {
    Over,
    Failed(reqwest::Error),
}

/// The body of `resp`, refused as soon as it is known to exceed `limit` bytes (by its
/// declared length, or once that many have arrived): never more than `limit` in memory.
async fn read_bounded(mut resp: reqwest::Response, limit: u64) -> Result<Vec<u8>, Bounded> {
    if resp.content_length().is_some_and(|len| len > limit) {
        return Err(Bounded::Over);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(Bounded::Failed)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(Bounded::Over);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Graph names of architectures (Go's): `amd64`, `arm64`, `ppc64le`, `s390x`, `multi`.
pub const ARCHES: &[&str] = &["amd64", "arm64", "ppc64le", "s390x", "multi"];
