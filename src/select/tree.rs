//! What a `--to-dir` tree says about itself, beside oc's `v2/` layout: the releases it holds
//! (with their original pullspecs), the upgrade path they were chosen on, and the update
//! graph used. The upload side reads it back to upload every release with no `--from` and
//! to print the upgrade sequence. Format: docs/disk-layout.md.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::{Route, Selected, Selection};
use crate::disk;
use crate::reference::ImageRef;

/// Folder of the record inside the tree.
pub const RECORD_DIR: &str = "release-mirror";
/// The record file.
pub const RECORD_FILE: &str = "releases.json";
/// The update graph the releases were chosen from, as the service sent it.
pub const GRAPH_FILE: &str = "graph.json";
/// Version of the record's format.
pub const RECORD_VERSION: u32 = 1;

/// The record of a tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeRecord {
    pub schema_version: u32,
    /// In upgrade order.
    pub releases: Vec<RecordedRelease>,
    /// The path the releases were chosen on; absent for a range or a list.
    pub upgrade_path: Option<RecordedPath>,
    /// The graph-data image the tree holds for a disconnected update service
    /// (`file://openshift/graph-data@sha256:…`), built with `--graph-data-image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_data_image: Option<String>,
}

/// One release of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRelease {
    pub version: String,
    pub architecture: String,
    /// The tree's repository and tag: `file://openshift/release:4.15.3-x86_64`.
    pub image: String,
    pub digest: String,
    /// Where it came from (`quay.io/openshift-release-dev/ocp-release@sha256:…`): what the
    /// cluster's mirror configuration must name.
    pub source: String,
}

/// The upgrade path of the tree's releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedPath {
    /// The channel, architecture and hops.
    #[serde(flatten)]
    pub route: Route,
    /// The graph file beside the record, when the graph was saved.
    pub graph: Option<String>,
}

/// Every release the tree at `dir` records, as `file://` references, with the recorded path.
pub(super) fn select(dir: &Path) -> Result<Selection> {
    let Some(record) = read(dir)? else {
        bail!(
            "no --from given, and {} records no releases (it was not written by kubectl release-mirror): give \
             --from=file://openshift/release:<version>-<arch>",
            dir.display()
        );
    };
    if record.releases.is_empty() {
        bail!("no --from given, and the release record of {} lists no releases", dir.display());
    }
    let mut selection = Selection::default();
    for r in &record.releases {
        let image = ImageRef::parse(&r.image)
            .with_context(|| format!("the release record of {} names an invalid image", dir.display()))?;
        selection.releases.push(Selected { version: r.version.parse().ok(), image });
    }
    selection.path = record.upgrade_path.map(|p| p.route);
    Ok(selection)
}

fn record_path(root: &Path) -> PathBuf {
    root.join(RECORD_DIR).join(RECORD_FILE)
}

/// The record of the tree at `root`, or `None` for a tree without one (written by oc).
pub fn read(root: &Path) -> Result<Option<TreeRecord>> {
    let path = record_path(root);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
    };
    let record: TreeRecord = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a release record of this tool", path.display()))?;
    Ok(Some(record))
}

/// Merge `new` into the tree's record (releases already there keep their place unless
/// listed again) and write it. A run that chose from a graph replaces the path and the
/// graph together, so the recorded path always belongs to the recorded graph.
pub fn write(root: &Path, new: TreeRecord, graph: Option<&[u8]>) -> Result<PathBuf> {
    let mut merged = read(root)?.unwrap_or_default();
    merged.releases.retain(|r| !new.releases.iter().any(|n| n.digest == r.digest && n.image == r.image));
    merged.releases.extend(new.releases);
    merged.releases.sort_by(|a, b| compare_versions(&a.version, &b.version));
    merged.schema_version = RECORD_VERSION;
    if graph.is_some() || new.upgrade_path.is_some() {
        merged.upgrade_path = new.upgrade_path;
    }
    if new.graph_data_image.is_some() {
        merged.graph_data_image = new.graph_data_image;
    }
    let dir = root.join(RECORD_DIR);
    disk::ensure_dir(root, &dir).with_context(|| format!("failed to create folder {}", dir.display()))?;
    if let Some(graph) = graph {
        let path = dir.join(GRAPH_FILE);
        if !std::fs::read(&path).is_ok_and(|old| old == graph) {
            disk::write_file_atomic(&path, graph).with_context(|| format!("failed to write {}", path.display()))?;
        }
    }
    let path = record_path(root);
    let json = serde_json::to_vec_pretty(&merged).context("failed to serialise the release record")?;
    // The same record (a rerun on read-only media) is left alone.
    if std::fs::read(&path).is_ok_and(|old| old == json) {
        return Ok(path);
    }
    disk::write_file_atomic(&path, &json).with_context(|| format!("failed to write {}", path.display()))?;
    Ok(path)
}

/// Semantic order where both parse, text order otherwise.
fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<crate::graph::Version>(), b.parse::<crate::graph::Version>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(version: &str, digest: &str) -> RecordedRelease {
        RecordedRelease {
            version: version.into(),
            architecture: "x86_64".into(),
            image: format!("file://openshift/release:{version}-x86_64"),
            digest: digest.into(),
            source: format!("q.io/r@{digest}"),
        }
    }

    #[test]
    fn a_second_run_adds_its_releases_in_version_order_and_keeps_the_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = TreeRecord { releases: vec![release("4.15.10", "d2")], ..TreeRecord::default() };
        write(dir.path(), first, Some(b"{}")).expect("write");
        let second =
            TreeRecord { releases: vec![release("4.9.1", "d1"), release("4.15.10", "d2")], ..TreeRecord::default() };
        write(dir.path(), second, None).expect("write");
        let back = read(dir.path()).expect("read").expect("a record");
        let versions: Vec<&str> = back.releases.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(versions, ["4.9.1", "4.15.10"], "semantic order, no duplicate");
        assert_eq!(std::fs::read(dir.path().join(RECORD_DIR).join(GRAPH_FILE)).expect("graph kept"), b"{}");
    }

    #[test]
    fn a_new_graph_replaces_the_recorded_path_and_a_list_keeps_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let route = Route { channel: "c".into(), arch: "amd64".into(), hops: Vec::new() };
        let path = RecordedPath { route, graph: None };
        let with_path = TreeRecord { upgrade_path: Some(path), ..TreeRecord::default() };
        write(dir.path(), with_path, Some(b"{}")).expect("write");
        write(dir.path(), TreeRecord::default(), None).expect("a listed run");
        assert!(read(dir.path()).expect("read").expect("record").upgrade_path.is_some(), "a list keeps the path");
        write(dir.path(), TreeRecord::default(), Some(b"[]")).expect("a range from another graph");
        assert!(
            read(dir.path()).expect("read").expect("record").upgrade_path.is_none(),
            "the old path left with its graph"
        );
    }

    #[test]
    fn a_tree_without_a_record_has_none_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(read(dir.path()).expect("read").is_none());
        std::fs::create_dir_all(dir.path().join(RECORD_DIR)).expect("mkdir");
        std::fs::write(record_path(dir.path()), b"[1]").expect("write");
        let err = format!("{:#}", read(dir.path()).expect_err("bad record"));
        assert!(err.contains("releases.json is not a release record of this tool"), "{err}");
    }
}
