//! The graph-data tarball, checked before anything is built (pure): a gzip tar with no
//! top-level folder, `version` of major 1, `channels/` and `blocked-edges/`, only plain files
//! and folders whose names stay inside the data folder, and bounded both as sent and
//! unpacked. The decompressed stream is read through a counter, so a small gzip that unpacks
//! to gigabytes is refused after [`MAX_UNPACKED_BYTES`] without holding more than that.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};

use tar::EntryType;

/// The largest tarball accepted as sent: the real one is about 40 KB.
pub(crate) const MAX_TARBALL_BYTES: u64 = 32 << 20;
/// The most bytes the tarball may unpack to (the real one: under 1 MB).
pub(crate) const MAX_UNPACKED_BYTES: u64 = 128 << 20;

/// The checked content of a graph-data tarball: every file with its bytes and every
/// folder, by its path inside the data folder (`channels/stable-4.15.yaml`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GraphData {
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    pub(crate) dirs: BTreeSet<String>,
    /// The `version` file, trimmed (`1.1.0`).
    pub(crate) version: String,
}

/// Why a tarball was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TarballError {
    #[error("it is not gzip-compressed (a graph-data tarball is a .tar.gz)")]
    NotGzip,
    #[error("it could not be unpacked as a gzip tar")]
    Unreadable(#[source] io::Error),
    #[error("it unpacks to more than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("entry {name:?} has an absolute path")]
    Absolute { name: String },
    #[error("entry {name:?} leaves the data folder with `..`")]
    ParentDir { name: String },
    #[error("entry {name:?} is a link; only files and folders are accepted")]
    Link { name: String },
    #[error("entry {name:?} is a {kind}; only files and folders are accepted")]
    Special { name: String, kind: String },
    #[error("entry name {name:?} is not UTF-8")]
    NotUtf8 { name: String },
    #[error("entry {name:?} appears twice")]
    Duplicate { name: String },
    #[error("it has no `version` file")]
    NoVersion,
    #[error("its `version` is {found:?}, not a version")]
    BadVersion { found: String },
    #[error("its `version` is {found}: only major version 1 is understood by the update service")]
    UnsupportedVersion { found: String },
    #[error("it has no `{dir}/` folder")]
    Missing { dir: &'static str },
}

/// Check `bytes` (a whole tarball, at most [`MAX_TARBALL_BYTES`]) with the default bound.
pub(crate) fn check(bytes: &[u8]) -> Result<GraphData, TarballError> {
    check_bounded(bytes, MAX_UNPACKED_BYTES)
}

/// Check `bytes`, refusing more than `limit` unpacked bytes.
pub(crate) fn check_bounded(bytes: &[u8], limit: u64) -> Result<GraphData, TarballError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(TarballError::NotGzip);
    }
    let bounded = Bounded { inner: flate2::read::MultiGzDecoder::new(bytes), left: limit, over: false };
    let mut archive = tar::Archive::new(bounded);
    let mut data = GraphData::default();
    let read = read_entries(&mut archive, &mut data);
    let mut rest = archive.into_inner();
    // Whatever follows the end of the archive is read too (and bounded): a tar of zeros
    // ends at its first block, but its gigabytes must not pass unnoticed.
    let drained = read.and_then(|()| io::copy(&mut rest, &mut io::sink()).map(drop).map_err(TarballError::Unreadable));
    if rest.over {
        return Err(TarballError::TooLarge { limit });
    }
    drained?;
    finish(data)
}

fn read_entries<R: Read>(archive: &mut tar::Archive<R>, data: &mut GraphData) -> Result<(), TarballError> {
    for entry in archive.entries().map_err(TarballError::Unreadable)? {
        let mut entry = entry.map_err(TarballError::Unreadable)?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        let Some(name) = entry_name(&raw, &shown)? else { continue };
        match kind {
            EntryType::Directory => {
                data.dirs.insert(name);
            }
            EntryType::Regular | EntryType::Continuous => {
                let mut body = Vec::new();
                entry.read_to_end(&mut body).map_err(TarballError::Unreadable)?;
                if data.files.insert(name, body).is_some() {
                    return Err(TarballError::Duplicate { name: shown });
                }
            }
            EntryType::Symlink | EntryType::Link => return Err(TarballError::Link { name: shown }),
            EntryType::XGlobalHeader => {}
            other => return Err(TarballError::Special { name: shown, kind: format!("{other:?}").to_lowercase() }),
        }
    }
    Ok(())
}

/// The entry's path inside the data folder (`None` for the root `./`).
fn entry_name(raw: &[u8], shown: &str) -> Result<Option<String>, TarballError> {
    let text = std::str::from_utf8(raw).map_err(|_| TarballError::NotUtf8 { name: shown.to_string() })?;
    if text.starts_with('/') || text.starts_with('\\') {
        return Err(TarballError::Absolute { name: shown.to_string() });
    }
    let mut parts = Vec::new();
    for part in text.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err(TarballError::ParentDir { name: shown.to_string() }),
            p => parts.push(p),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// The required parts: `version` (major 1), `channels/` and `blocked-edges/`.
fn finish(mut data: GraphData) -> Result<GraphData, TarballError> {
    let version = data.files.get("version").ok_or(TarballError::NoVersion)?;
    let found = String::from_utf8_lossy(version).trim().to_string();
    let major = found.split('.').next().and_then(|m| m.parse::<u64>().ok());
    let valid = found.split('.').count() == 3 && found.split(['.', '-', '+']).take(3).all(|p| p.parse::<u64>().is_ok());
    match major {
        _ if !valid => return Err(TarballError::BadVersion { found }),
        Some(1) => {}
        _ => return Err(TarballError::UnsupportedVersion { found }),
    }
    for dir in ["channels", "blocked-edges"] {
        let prefix = format!("{dir}/");
        if !data.dirs.contains(dir) && !data.files.keys().any(|f| f.starts_with(&prefix)) {
            return Err(TarballError::Missing { dir });
        }
    }
    // Every folder a file lies in is a folder of the data, listed or not.
    let parents: Vec<String> = data.files.keys().flat_map(|f| parents(f)).collect();
    data.dirs.extend(parents);
    data.version = found;
    Ok(data)
}

fn parents(path: &str) -> Vec<String> {
    path.match_indices('/').map(|(i, _)| path[..i].to_string()).collect()
}

/// A reader that fails once more than `left` bytes have passed, and remembers it did.
struct Bounded<R> {
    inner: R,
    left: u64,
    over: bool,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.over = true;
            return Err(io::Error::other("the graph data unpacks to too many bytes"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
#[path = "tarball_tests.rs"]
mod tests;
