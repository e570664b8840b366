//! What a tree holds: every blob file under its `v2/` folder (or in its segments), by
//! digest, with its size.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::DiskError;
use crate::digest::Digest;

/// Folders deeper than this are not a repository's (`v2/<a>/<b>/…/blobs`).
const MAX_DEPTH: usize = 16;

/// Every regular file named `sha256:<hex>` in a `blobs` folder under `root/v2`, with its
/// size; links, temp files and other names are left out. An absent `v2/` holds nothing.
pub(crate) fn blobs_in_tree(root: &Path) -> Result<BTreeMap<Digest, u64>, DiskError> {
    if super::segments::is_set(root) {
        let index = super::segments::read_index(root)?;
        return Ok(index.blobs.iter().filter_map(|(d, b)| Some((d.parse().ok()?, b.size))).collect());
    }
    let mut found = BTreeMap::new();
    let mut stack = vec![(root.join("v2"), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(DiskError::Io { action: "list", path: dir, source }),
        };
        let in_blobs = dir.file_name().is_some_and(|n| n == "blobs");
        for entry in entries {
            let entry = entry.map_err(|source| DiskError::Io { action: "list", path: dir.clone(), source })?;
            // Another run writing the same tree renames or removes its temp files as we list.
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(DiskError::Io { action: "read", path: entry.path(), source }),
            };
            let name = entry.file_name();
            let digest = name.to_str().and_then(|n| n.parse::<Digest>().ok());
            match digest {
                Some(digest) if in_blobs && meta.is_file() => {
                    found.insert(digest, meta.len());
                }
                _ if meta.is_dir() && depth < MAX_DEPTH => stack.push((entry.path(), depth + 1)),
                _ => {}
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_blob_files_of_every_repository_and_nothing_else() {
        let root = tempfile::tempdir().expect("tempdir");
        let a = Digest::of(b"a");
        let b = Digest::of(b"bb");
        for (repo, digest, body) in [("openshift/release", &a, &b"a"[..]), ("x", &b, b"bb")] {
            let blobs = root.path().join("v2").join(repo).join("blobs");
            fs::create_dir_all(&blobs).expect("mkdir");
            fs::write(blobs.join(digest.as_str()), body).expect("write");
            fs::write(blobs.join(".release-mirror-tmp-1-x"), b"tmp").expect("write");
        }
        let manifests = root.path().join("v2/x/manifests");
        fs::create_dir_all(&manifests).expect("mkdir");
        fs::write(manifests.join(Digest::of(b"m").as_str()), b"m").expect("write");
        let found = blobs_in_tree(root.path()).expect("scan");
        assert_eq!(found, BTreeMap::from([(a, 1), (b, 2)]));
        assert!(blobs_in_tree(&root.path().join("absent")).expect("scan").is_empty());
    }
}
