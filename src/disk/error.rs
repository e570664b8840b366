//! The disk module's error type.

use std::path::PathBuf;

/// A disk-tree failure; every message names the path.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DiskError {
    #[error("failed to {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{what} not found at {path}")]
    NotFound { what: String, path: PathBuf },

    #[error("invalid name in the disk tree {root}: {reason}")]
    Name { root: PathBuf, reason: String },

    #[error("refusing tag symlink {path}: {reason}")]
    TagLink { path: PathBuf, reason: String },

    #[error("refusing {path}: {reason}")]
    Unsafe { path: PathBuf, reason: String },

    #[error("{path} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch { path: PathBuf, expected: String, actual: String },

    #[error("{path} is larger than the limit of {limit} bytes")]
    TooLarge { path: PathBuf, limit: usize },

    #[error("failed to write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The bytes to write stopped coming, or were wrong: a failure of the source, not the disk.
    #[error("failed to receive the content of {path} from the source")]
    Source {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl DiskError {
    /// Everything but an I/O failure is permanent: a missing file, a bad name, an unsafe
    /// path or wrong content does not change on another try.
    pub(crate) fn is_permanent(&self) -> bool {
        !matches!(self, DiskError::Io { .. } | DiskError::Write { .. } | DiskError::Source { .. })
    }
}

impl From<DiskError> for crate::store::StoreError {
    fn from(err: DiskError) -> Self {
        let permanent = err.is_permanent();
        crate::store::StoreError::new(err, permanent)
    }
}
