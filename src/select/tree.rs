//! What a `--to-dir` tree says about itself, beside oc's `v2/` layout: the releases it holds
//! (with their original pullspecs), the upgrade path they were chosen on, and the update
//! graph used. The upload side reads it back to upload every release with no `--from` and
//! to print the upgrade sequence. Format: docs/disk-layout.md.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::{tree_check, Route, Selected, Selection};
use crate::disk;
use crate::reference::ImageRef;

/// Folder of the record inside the tree.
pub(crate) const RECORD_DIR: &str = "release-mirror";
/// The record file.
pub(crate) const RECORD_FILE: &str = "releases.json";
/// The update graph the releases were chosen from, as the service sent it.
pub(crate) const GRAPH_FILE: &str = "graph.json";
/// Version of the record's format.
pub(crate) const RECORD_VERSION: u32 = 1;

/// The record of a tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TreeRecord {
    pub(crate) schema_version: u32,
    /// In upgrade order.
    pub(crate) releases: Vec<RecordedRelease>,
    /// The path the releases were chosen on; absent for a range or a list.
    pub(crate) upgrade_path: Option<RecordedPath>,
    /// The graph-data image the tree holds for a disconnected update service
    /// (`file://openshift/graph-data@sha256:…`), built with `--graph-data-image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) graph_data_image: Option<String>,
    /// The transfers it belongs to and the blobs they carried (`--since`).
    #[serde(flatten)]
    pub(crate) carry: super::Carry,
}

/// One release of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecordedRelease {
    pub(crate) version: String,
    pub(crate) architecture: String,
    /// The tree's repository and tag: `file://openshift/release:4.15.3-x86_64`.
    pub(crate) image: String,
    pub(crate) digest: String,
    /// Where it came from (`quay.io/openshift-release-dev/ocp-release@sha256:…`): what the
    /// cluster's mirror configuration must name.
    pub(crate) source: String,
}

/// The upgrade path of the tree's releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecordedPath {
    /// The channel, architecture and hops.
    #[serde(flatten)]
    pub(crate) route: Route,
    /// The graph file beside the record, when the graph was saved.
    pub(crate) graph: Option<String>,
}

/// Every release the tree at `dir` records, as `file://` references, with the recorded path
/// when it joins exactly those releases.
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
    selection.path =
        record.upgrade_path.map(|p| p.route).filter(|route| tree_check::path_fits(route, &record.releases));
    Ok(selection)
}

fn record_path(root: &Path) -> PathBuf {
    root.join(RECORD_DIR).join(RECORD_FILE)
}

/// The record of the tree at `root`, or `None` for a tree without one (written by oc); a
/// record that is not a regular file, is too large, or does not describe the tree is refused.
pub(crate) fn read(root: &Path) -> Result<Option<TreeRecord>> {
    let path = record_path(root);
    let Some(bytes) = disk::read_small(&path, tree_check::MAX_RECORD_BYTES)? else { return Ok(None) };
    let record: TreeRecord = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a release record of this tool", path.display()))?;
    tree_check::check(&record, root).with_context(|| format!("refusing the release record {}", path.display()))?;
    Ok(Some(record))
}

/// Merge `new` into the tree's record (releases already there keep their place unless
/// listed again) and write it. A run that chose from a graph replaces the path and the
/// graph together, so the recorded path always belongs to the recorded graph. Runs into one
/// tree at once take turns: the record's folder is locked from the read to the write.
pub(crate) fn write(root: &Path, new: TreeRecord, graph: Option<&[u8]>) -> Result<PathBuf> {
    let dir = root.join(RECORD_DIR);
    disk::ensure_dir(root, &dir).with_context(|| format!("failed to create folder {}", dir.display()))?;
    let _lock = lock(&dir);
    let mut merged = read(root)?.unwrap_or_default();
    merged.releases.retain(|r| !new.releases.iter().any(|n| n.digest == r.digest || n.image == r.image));
    merged.releases.extend(new.releases);
    merged.releases.sort_by(|a, b| compare_versions(&a.version, &b.version));
    merged.schema_version = RECORD_VERSION;
    if graph.is_some() || new.upgrade_path.is_some() {
        merged.upgrade_path = new.upgrade_path;
    }
    if new.graph_data_image.is_some() {
        merged.graph_data_image = new.graph_data_image;
    }
    merged.carry.merge(new.carry);
    if let Some(graph) = graph {
        let path = dir.join(GRAPH_FILE);
        // A graph file that is a link or too large is replaced, never read.
        let old = disk::read_small(&path, crate::graph::MAX_GRAPH_BYTES as usize).ok().flatten();
        if old.as_deref() != Some(graph) {
            disk::write_file_atomic(&path, graph).with_context(|| format!("failed to write {}", path.display()))?;
        }
    }
    let path = record_path(root);
    let json = serde_json::to_vec_pretty(&merged).context("failed to serialise the release record")?;
    // The same record (a rerun on read-only media) is left alone.
    if disk::read_small(&path, tree_check::MAX_RECORD_BYTES).ok().flatten().is_some_and(|old| old == json) {
        return Ok(path);
    }
    disk::write_file_atomic(&path, &json).with_context(|| format!("failed to write {}", path.display()))?;
    Ok(path)
}

/// An exclusive lock on the record's folder, held until the file is dropped (or the process
/// ends, however it ends). A filesystem that cannot lock a folder (some network mounts)
/// gives none: the record is still replaced atomically, only runs at the same moment are
/// not merged.
fn lock(dir: &Path) -> Option<std::fs::File> {
    let folder = std::fs::File::open(dir).ok()?;
    folder.lock().ok()?;
    Some(folder)
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
    use crate::select::{MAX_RECORDED_RELEASES, MAX_RECORD_BYTES};

    fn digest(hex: char) -> String {
        format!("sha256:{}", hex.to_string().repeat(64))
    }

    /// An entry, and the tag link of the tree at `root` that holds it.
    fn release(root: &Path, version: &str, hex: char) -> RecordedRelease {
        let manifests = root.join("v2/openshift/release/manifests");
        std::fs::create_dir_all(&manifests).expect("mkdir");
        let link = manifests.join(format!("{version}-x86_64"));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(digest(hex), link).expect("tag link");
        RecordedRelease {
            version: version.into(),
            architecture: "x86_64".into(),
            image: format!("file://openshift/release:{version}-x86_64"),
            digest: digest(hex),
            source: format!("q.io/r@{}", digest(hex)),
        }
    }

    fn record(releases: Vec<RecordedRelease>) -> TreeRecord {
        TreeRecord { schema_version: RECORD_VERSION, releases, ..TreeRecord::default() }
    }

    fn write_raw(root: &Path, record: &TreeRecord) {
        std::fs::create_dir_all(root.join(RECORD_DIR)).expect("mkdir");
        std::fs::write(record_path(root), serde_json::to_vec(record).expect("json")).expect("write");
    }

    fn refusal(root: &Path) -> String {
        format!("{:#}", read(root).expect_err("refused"))
    }

    #[test]
    fn a_second_run_adds_its_releases_in_version_order_and_keeps_the_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = record(vec![release(dir.path(), "4.15.10", '2')]);
        write(dir.path(), first, Some(b"{}")).expect("write");
        let second = record(vec![release(dir.path(), "4.9.1", '1'), release(dir.path(), "4.15.10", '2')]);
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
        let with_path = TreeRecord { upgrade_path: Some(path), ..record(Vec::new()) };
        write(dir.path(), with_path, Some(b"{}")).expect("write");
        write(dir.path(), record(Vec::new()), None).expect("a listed run");
        assert!(read(dir.path()).expect("read").expect("record").upgrade_path.is_some(), "a list keeps the path");
        write(dir.path(), record(Vec::new()), Some(b"[]")).expect("a range from another graph");
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

    #[test]
    fn a_record_linked_to_a_device_or_over_the_size_limit_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(RECORD_DIR)).expect("mkdir");
        std::os::unix::fs::symlink("/dev/zero", record_path(dir.path())).expect("symlink");
        assert!(refusal(dir.path()).contains("symbolic link"));
        std::fs::remove_file(record_path(dir.path())).expect("rm");
        std::fs::write(record_path(dir.path()), vec![b' '; MAX_RECORD_BYTES + 1]).expect("write");
        assert!(refusal(dir.path()).contains("larger than the limit"));
    }

    #[test]
    fn a_record_of_a_previous_release_is_accepted() {
        let dir = tempfile::tempdir().expect("tempdir");
        release(dir.path(), "4.15.3", 'a');
        let text = format!(
            r#"{{"schemaVersion": 1, "releases": [{{"version": "4.15.3", "architecture": "x86_64",
            "image": "file://openshift/release:4.15.3-x86_64", "digest": "{d}",
            "source": "quay.io/openshift-release-dev/ocp-release@{d}"}}], "upgradePath": null}}"#,
            d = digest('a')
        );
        std::fs::create_dir_all(dir.path().join(RECORD_DIR)).expect("mkdir");
        std::fs::write(record_path(dir.path()), text).expect("write");
        assert_eq!(read(dir.path()).expect("accepted").expect("record").releases.len(), 1);
    }

    #[test]
    fn a_record_that_does_not_describe_its_tree_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let good = || vec![release(root, "4.15.3", 'a'), release(root, "4.15.4", 'b')];
        type Spoil = Box<dyn Fn(&mut TreeRecord)>;
        let cases: Vec<(&str, Spoil)> = vec![
            ("schemaVersion 99 is not known", Box::new(|r| r.schema_version = 99)),
            ("not an image inside the tree", Box::new(|r| r.releases[0].image = "quay.io/x/y:4.15.3".into())),
            (
                "the tree has no file://openshift/release:4.99.0",
                Box::new(|r| r.releases[0].image = "file://openshift/release:4.99.0".into()),
            ),
            ("the tree's file://openshift/release:4.15.3-x86_64 is", Box::new(|r| r.releases[0].digest = digest('c'))),
            (
                "its source evil.example.com/x/y is not by digest",
                Box::new(|r| r.releases[0].source = "evil.example.com/x/y".into()),
            ),
            (
                "lists file://openshift/release:4.15.3-x86_64 twice",
                Box::new(|r| {
                    let again = RecordedRelease { digest: digest('c'), ..r.releases[0].clone() };
                    r.releases.push(again);
                }),
            ),
            ("not in upgrade order", Box::new(|r| r.releases.reverse())),
            (
                "more than the limit of 100",
                Box::new(|r| {
                    let first = r.releases[0].clone();
                    r.releases = vec![first; MAX_RECORDED_RELEASES + 1];
                }),
            ),
        ];
        write_raw(root, &record(good()));
        assert!(read(root).is_ok(), "the good record is accepted");
        for (want, spoil) in cases {
            let mut bad = record(good());
            spoil(&mut bad);
            write_raw(root, &bad);
            let err = refusal(root);
            assert!(err.contains("refusing the release record") && err.contains(want), "{want}: {err}");
        }
    }

    #[test]
    fn a_recorded_path_that_does_not_join_the_releases_is_not_used() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let v = |t: &str| t.parse::<crate::graph::Version>().expect("version");
        let hop = crate::graph::Hop { from: v("4.15.3"), to: v("4.15.4"), conditional: false, risks: Vec::new() };
        let route = Route { channel: "c".into(), arch: "amd64".into(), hops: vec![hop] };
        let path = Some(RecordedPath { route, graph: None });
        let on_path = vec![release(root, "4.15.3", 'a'), release(root, "4.15.4", 'b')];
        write_raw(root, &TreeRecord { upgrade_path: path.clone(), ..record(on_path.clone()) });
        assert_eq!(select(root).expect("select").hops().len(), 1, "the path joins the releases");
        let mut two_runs = on_path;
        two_runs.push(release(root, "4.16.0", 'c'));
        write_raw(root, &TreeRecord { upgrade_path: path, ..record(two_runs) });
        let selection = select(root).expect("select");
        assert_eq!(selection.releases.len(), 3);
        assert!(selection.path.is_none(), "a release off the path: no path is claimed");
    }

    #[test]
    fn runs_writing_one_tree_at_once_keep_every_release() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("tree");
        std::fs::create_dir_all(&root).expect("mkdir");
        let entries: Vec<RecordedRelease> =
            (0..8u8).map(|i| release(&root, &format!("4.15.{i}"), char::from(b'0' + i))).collect();
        std::thread::scope(|s| {
            for e in &entries {
                let root = &root;
                s.spawn(move || write(root, record(vec![e.clone()]), None).expect("write"));
            }
        });
        let back = read(&root).expect("read").expect("record");
        assert_eq!(back.releases, entries, "every run's release, in order");
    }
}
