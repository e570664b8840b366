//! Room on the target filesystem: what a set of files will take there (each rounded up to
//! the filesystem's block), and how much it has free for an unprivileged writer.

use std::path::{Path, PathBuf};

use super::DiskError;

/// Bytes every written tree needs besides its images: the record, the graph, the
/// ConfigMap files and the folders themselves.
pub(crate) const TREE_OVERHEAD: u64 = 256 * 1024;

/// Free space of the filesystem holding a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FreeSpace {
    /// Bytes an unprivileged writer may still use (`f_bavail`).
    pub(crate) available: u64,
    /// The allocation unit: every file takes a whole number of them.
    pub(crate) block: u64,
}

/// Free space of the filesystem `dir` is (or will be) on: a folder not made yet is on its
/// nearest existing ancestor's.
pub(crate) fn free_space(dir: &Path) -> Result<FreeSpace, DiskError> {
    let existing = existing_ancestor(dir);
    let stat = rustix::fs::statvfs(&existing).map_err(|errno| DiskError::Io {
        action: "read the free space of",
        path: existing.clone(),
        source: errno.into(),
    })?;
    let block = stat.f_frsize.max(1);
    Ok(FreeSpace { available: stat.f_bavail.saturating_mul(block), block })
}

fn existing_ancestor(dir: &Path) -> PathBuf {
    let mut current = dir.to_path_buf();
    while !current.exists() {
        match current.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => current = parent.to_path_buf(),
            _ => return PathBuf::from("."),
        }
    }
    current
}

/// What files of `sizes` bytes take on a filesystem allocating `block`-byte units.
pub(crate) fn allocated(sizes: impl IntoIterator<Item = u64>, block: u64) -> u64 {
    let block = block.max(1);
    sizes.into_iter().map(|size| size.div_ceil(block).max(1).saturating_mul(block)).fold(0, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_takes_whole_blocks_and_at_least_one() {
        assert_eq!(allocated([1, 4096, 4097, 0], 4096), 4096 + 4096 + 8192 + 4096);
        assert_eq!(allocated([], 4096), 0);
        assert_eq!(allocated([10], 0), 10, "a zero block size counts bytes");
    }

    #[test]
    fn a_folder_not_made_yet_is_measured_on_its_parent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let later = dir.path().join("not/yet/made");
        let free = free_space(&later).expect("statvfs of the parent");
        assert!(free.block > 0);
        assert_eq!(existing_ancestor(&later), dir.path());
    }
}
