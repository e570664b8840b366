//! Getting the graph-data tarball's bytes, bounded to [`MAX_TARBALL_BYTES`]: from a file, or
//! from the update service's `/api/upgrades_info/graph-data` over the run's HTTP settings.
//! Nothing is written to disk.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use super::tarball::MAX_TARBALL_BYTES;
use super::GraphDataSource;
use crate::http;

/// Time allowed for the whole download.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// The tarball's bytes.
pub(crate) async fn fetch(source: &GraphDataSource, settings: &http::Settings) -> Result<Vec<u8>> {
    match source {
        GraphDataSource::File(path) => read_file(path),
        GraphDataSource::Url(url) => download(url, settings).await,
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_TARBALL_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("failed to read {}", path.display()))?;
    if bytes.len() as u64 > MAX_TARBALL_BYTES {
        bail!("{} is larger than {MAX_TARBALL_BYTES} bytes: not a graph-data tarball", path.display());
    }
    Ok(bytes)
}

async fn download(url: &str, settings: &http::Settings) -> Result<Vec<u8>> {
    let shown = http::redact(url);
    let client = settings.builder()?.timeout(DOWNLOAD_TIMEOUT).build()?;
    let fail = || format!("failed to download the graph data from {shown}");
    let mut resp = client.get(url).send().await.map_err(reqwest::Error::without_url).with_context(fail)?;
    let status = resp.status();
    if !status.is_success() {
        bail!("the update service {shown} answered {status} for the graph data");
    }
    if resp.content_length().is_some_and(|len| len > MAX_TARBALL_BYTES) {
        bail!("the graph data at {shown} is larger than {MAX_TARBALL_BYTES} bytes");
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(reqwest::Error::without_url).with_context(fail)? {
        if (body.len() + chunk.len()) as u64 > MAX_TARBALL_BYTES {
            bail!("the graph data at {shown} is larger than {MAX_TARBALL_BYTES} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `<origin of the update service>/api/upgrades_info/graph-data`.
pub fn default_url(update_service: &str) -> String {
    let after_scheme = update_service.find("://").map_or(0, |i| i + 3);
    let end = update_service[after_scheme..].find('/').map_or(update_service.len(), |i| after_scheme + i);
    format!("{}/api/upgrades_info/graph-data", &update_service[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_is_on_the_update_services_origin() {
        assert_eq!(
            default_url("https://api.openshift.com/api/upgrades_info/v1/graph"),
            "https://api.openshift.com/api/upgrades_info/graph-data"
        );
        assert_eq!(default_url("http://127.0.0.1:8080/graph"), "http://127.0.0.1:8080/api/upgrades_info/graph-data");
        assert_eq!(default_url("http://h:1"), "http://h:1/api/upgrades_info/graph-data");
    }

    #[test]
    fn a_file_larger_than_the_bound_is_refused_without_reading_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.tar.gz");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_TARBALL_BYTES + 10).unwrap();
        let err = read_file(&path).unwrap_err().to_string();
        assert!(err.contains("is larger than"), "{err}");
    }
}
