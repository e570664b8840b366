//! Getting a graph's bytes: from the update service (`GET URL?channel=C&arch=A`, JSON) or
//! from a file. The one part of `graph/` that does I/O.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::ACCEPT;
use serde::Deserialize;

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
pub async fn fetch(source: &GraphSource, channel: &str, arch: &str) -> Result<Vec<u8>, FetchError> {
    match source {
        GraphSource::File(path) => read_file(path),
        GraphSource::Service(url) => fetch_service(url, channel, arch).await,
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, FetchError> {
    std::fs::read(path).map_err(|source| FetchError::File { path: path.to_path_buf(), source })
}

async fn fetch_service(url: &str, channel: &str, arch: &str) -> Result<Vec<u8>, FetchError> {
    let connect = |source| FetchError::Connect { url: url.to_string(), source };
    let http = reqwest::Client::builder()
        .user_agent(concat!("kubectl-release_mirror/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(connect)?;
    let resp = http
        .get(url)
        .query(&[("channel", channel), ("arch", arch)])
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| connect(e.without_url()))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| connect(e.without_url()))?;
    if !status.is_success() {
        let detail = match serde_json::from_slice::<ServiceError>(&body) {
            Ok(e) => format!(": {}: {}", e.kind, e.value),
            Err(_) => String::new(),
        };
        let (url, channel, arch) = (url.to_string(), channel.to_string(), arch.to_string());
        return Err(FetchError::Status { url, channel, arch, status: status.as_u16(), detail });
    }
    Ok(body.to_vec())
}

/// Graph names of architectures (Go's): `amd64`, `arm64`, `ppc64le`, `s390x`, `multi`.
pub const ARCHES: &[&str] = &["amd64", "arm64", "ppc64le", "s390x", "multi"];
