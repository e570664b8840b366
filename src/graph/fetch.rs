//! Getting a graph's bytes: from the update service (`GET URL?channel=C&arch=A`, JSON, at
//! most [`MAX_GRAPH_BYTES`], over the run's [`crate::http::Settings`]) or from a file. The
//! one part of `graph/` that does I/O.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use serde::Deserialize;

/// The largest update-service answer accepted: the real graph is about 1 MB per channel.
pub const MAX_GRAPH_BYTES: u64 = 64 << 20;
/// Time allowed for the whole update-service exchange, unless the run's
/// [`crate::http::Settings::update_service_timeout`] says otherwise.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// How often a busy service (503 or 429 with `Retry-After`) is asked again.
const MAX_RETRIES: usize = 3;
/// The longest `Retry-After` honoured.
const MAX_RETRY_WAIT_SECS: u64 = 60;
/// How much of an answer that is not a graph is quoted.
const SHOWN_BODY: usize = 120;

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
    /// The service could not be reached, or its answer not read.
    #[error("failed to reach the update service {url}")]
    Connect {
        /// The service's URL, credentials hidden.
        url: String,
        /// What the HTTP client said.
        #[source]
        source: reqwest::Error,
    },
    /// The service answered with an error status.
    #[error("the update service {url} refused the request for channel {channel:?}, arch {arch:?} ({status}{detail})")]
    Status {
        /// The service's URL, credentials hidden.
        url: String,
        /// The channel asked for.
        channel: String,
        /// The architecture asked for.
        arch: String,
        /// The HTTP status.
        status: u16,
        /// `: kind: value` from the service's error body, when it sent one.
        detail: String,
    },
    /// The answer is not an update graph (HTML from a proxy, say).
    #[error("the update service {url} answered channel {channel:?}, arch {arch:?} with status {status} and {what}: not an update graph")]
    NotJson {
        /// The service's URL, credentials hidden.
        url: String,
        /// The channel asked for.
        channel: String,
        /// The architecture asked for.
        arch: String,
        /// The HTTP status.
        status: u16,
        /// Its content type and the start of its body.
        what: String,
    },
    /// The update-service URL does not parse.
    #[error("the update service URL {url} is invalid: {reason}")]
    Url {
        /// The URL, credentials hidden.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The answer was larger than any update graph.
    #[error("the update service {url} sent more than {limit} bytes: not an update graph")]
    TooLarge {
        /// The service's URL, credentials hidden.
        url: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The HTTP setup could not be built (a CA bundle that does not load).
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    /// The graph file could not be read.
    #[error("failed to read graph file {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The graph's bytes are not a valid update graph.
    #[error("the update graph for channel {channel} (arch {arch}) from {from} is invalid")]
    Invalid {
        /// The service's URL or the file's path.
        from: String,
        /// The channel asked for.
        channel: String,
        /// The architecture asked for.
        arch: String,
        /// What is wrong with it.
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
    let target = query_url(url, channel, arch).map_err(|reason| FetchError::Url { url: shown.clone(), reason })?;
    let mut retries = 0;
    let (status, content_type, body) = loop {
        let resp = client
            .get(target.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| connect(e.without_url()))?;
        let status = resp.status();
        if let Some(wait) = retry_after(&resp).filter(|_| retries < MAX_RETRIES) {
            retries += 1;
            tokio::time::sleep(wait).await;
            continue;
        }
        let content_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let body = read_bounded(resp, MAX_GRAPH_BYTES).await.map_err(|e| match e {
            Bounded::Over => FetchError::TooLarge { url: shown.clone(), limit: MAX_GRAPH_BYTES },
            Bounded::Failed(e) => connect(e.without_url()),
        })?;
        break (status, content_type, body);
    };
    let (channel, arch) = (channel.to_string(), arch.to_string());
    if !status.is_success() {
        let detail = match serde_json::from_slice::<ServiceError>(&body) {
            Ok(e) => format!(": {}: {}", e.kind, e.value),
            Err(_) if body.is_empty() => String::new(),
            Err(_) => format!(": {}", what_came(&content_type, &body)),
        };
        return Err(FetchError::Status { url: shown, channel, arch, status: status.as_u16(), detail });
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        let what = what_came(&content_type, &body);
        return Err(FetchError::NotJson { url: shown, channel, arch, status: status.as_u16(), what });
    }
    Ok(body)
}

/// `url` with this `channel` and `arch` as its only such parameters (a URL that names a
/// channel already would otherwise ask for two).
fn query_url(url: &str, channel: &str, arch: &str) -> Result<reqwest::Url, String> {
    let mut parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| k != "channel" && k != "arch")
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(kept).append_pair("channel", channel).append_pair("arch", arch);
    Ok(parsed)
}

/// How long a 503 or 429 asks to be left alone (`Retry-After: <seconds>`), up to a minute.
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    if !matches!(resp.status().as_u16(), 503 | 429) {
        return None;
    }
    let seconds: u64 = resp.headers().get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(MAX_RETRY_WAIT_SECS)))
}

/// What came back instead of a graph: its type and the start of its body, on one line.
fn what_came(content_type: &str, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(SHOWN_BODY)]);
    let start: String =
        text.split_whitespace().collect::<Vec<_>>().join(" ").chars().flat_map(char::escape_default).collect();
    let content_type = if content_type.is_empty() { "no content type" } else { content_type };
    format!("{content_type}, starting {start:?}")
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
