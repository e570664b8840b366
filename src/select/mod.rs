//! Which releases a run carries, and in which order: every release source lives here. A
//! source is the releases listed by pullspec, an update graph (a version range, the shortest
//! path between two releases, or a bare version), or a `--from-dir` tree's record. Each
//! produces one [`Selection`]: the releases in upgrade order ([`Selected`], the one type for
//! "a release on a path") and, when they lie on one, the path with its hops and their risks.
//! Versions stay [`Version`]s until they are rendered. Nothing here asks a registry anything.

mod graph;
mod tree;
mod tree_carry;
mod tree_check;

use std::path::Path;

use anyhow::{anyhow, Result};
use serde::{Serialize, Serializer};

use crate::graph::{Hop, Version};
use crate::http::Settings as HttpSettings;
use crate::job::ReleaseSource;
use crate::reference::ImageRef;

pub(crate) use tree::{RecordedPath, RecordedRelease, TreeRecord, GRAPH_FILE, RECORD_DIR, RECORD_VERSION};
pub(crate) use tree_carry::{new_transfer_id, CarriedBlob, Carry, EarlierTransfer};
pub use tree_check::{MAX_RECORDED_RELEASES, MAX_RECORD_BYTES};

/// The releases of a run and how they were chosen. It serialises as `path -o json` prints
/// it: `{"releases":[{"version","payload"}],"hops":[…]}`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// In upgrade order.
    pub releases: Vec<Selected>,
    /// The path they lie on (shortest-path selections, or a tree that recorded one).
    pub path: Option<Route>,
    /// The graph's bytes as the service sent them (graph selections), to record on disk.
    pub graph: Option<Vec<u8>>,
}

impl Serialize for Selection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct PathJson<'a> {
            releases: &'a [Selected],
            hops: &'a [Hop],
        }
        PathJson { releases: &self.releases, hops: self.hops() }.serialize(s)
    }
}

/// A release chosen for a run: its image and, when the source says, its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selected {
    /// The version the source gives it (the graph's node, the tree's record); `None` for a
    /// release listed by pullspec, whose version its own metadata says.
    #[serde(serialize_with = "version_text")]
    pub version: Option<Version>,
    /// Where the release image is read from.
    #[serde(rename = "payload", serialize_with = "image_text")]
    pub image: ImageRef,
}

/// The upgrade path of a run: the channel and architecture searched, and one hop per
/// consecutive pair of releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Route {
    /// The channel the path was found in.
    pub channel: String,
    /// The graph's architecture name.
    pub arch: String,
    /// The updates, in order.
    pub hops: Vec<Hop>,
}

impl Route {
    /// The hop from `from` to `to`, if the path has it.
    pub fn hop(&self, from: &Version, to: &Version) -> Option<&Hop> {
        self.hops.iter().find(|h| &h.from == from && &h.to == to)
    }
}

impl Selection {
    /// Releases listed by pullspec, in the order given.
    pub(crate) fn listed(images: &[ImageRef]) -> Selection {
        let releases = images.iter().map(|image| Selected { version: None, image: image.clone() }).collect();
        Selection { releases, ..Selection::default() }
    }

    /// The hops of the path; none for a range or a list.
    pub(crate) fn hops(&self) -> &[Hop] {
        self.path.as_ref().map(|p| p.hops.as_slice()).unwrap_or_default()
    }
}

/// Resolve `source`; `from_dir` is the tree a [`ReleaseSource::Tree`] reads.
pub(crate) async fn resolve(source: &ReleaseSource, from_dir: Option<&Path>, http: &HttpSettings) -> Result<Selection> {
    match source {
        ReleaseSource::Listed(list) => Ok(Selection::listed(list)),
        ReleaseSource::Graph(selection) => graph::select(selection, http).await,
        ReleaseSource::Tree => {
            let dir = from_dir.ok_or_else(|| anyhow!("no release given: use --from, or --from-dir with a tree"))?;
            tree::select(dir)
        }
    }
}

/// The releases a graph selection makes (the `path` subcommand; no registry is asked), the
/// graph fetched with the `http` setup.
pub async fn from_graph(selection: &crate::job::GraphSelection, http: &HttpSettings) -> Result<Selection> {
    graph::select(selection, http).await
}

/// The tree's record, or `None` for a tree written by oc.
pub(crate) fn read_record(root: &Path) -> Result<Option<TreeRecord>> {
    tree::read(root)
}

/// The record of a `--since` tree: only its own consistency is checked, since the tree
/// itself may be gone (its media went across the gap); its record is what is kept.
pub(crate) fn read_since_record(root: &Path) -> Result<TreeRecord> {
    tree_carry::read_alone(root)
}

/// Merge `new` into the tree's record and write it (with the graph beside it).
pub(crate) fn write_record(root: &Path, new: TreeRecord, graph: Option<&[u8]>) -> Result<std::path::PathBuf> {
    tree::write(root, new, graph)
}

fn version_text<S: Serializer>(version: &Option<Version>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&version.as_ref().map(ToString::to_string).unwrap_or_default())
}

fn image_text<S: Serializer>(image: &ImageRef, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{EdgeKinds, Graph};

    #[test]
    fn a_path_selection_serialises_as_the_path_json_and_finds_its_hops_by_version() {
        let (pa, pb) =
            (format!("example.com/r@sha256:{}", "a".repeat(64)), format!("example.com/r@sha256:{}", "b".repeat(64)));
        let body = serde_json::json!({"version": 1,
            "nodes": [{"version": "4.14.2", "payload": pb, "metadata": {}},
                      {"version": "4.14.1", "payload": pa, "metadata": {}}],
            "edges": [],
            "conditionalEdges": [{"edges": [{"from": "4.14.1", "to": "4.14.2"}],
                "risks": [{"name": "R", "url": "https://issues.example/R", "message": "R may bite.",
                           "matchingRules": [{"type": "Always"}]}]}]});
        let g = Graph::parse(body.to_string().as_bytes()).expect("graph");
        let (a, b): (Version, Version) = ("4.14.1".parse().expect("v"), "4.14.2".parse().expect("v"));
        let found = g.shortest_path(&a, &b, EdgeKinds::All).expect("path");
        let releases = found
            .releases
            .iter()
            .map(|r| Selected { version: Some(r.version.clone()), image: ImageRef::parse(&r.payload).expect("ref") })
            .collect();
        let route = Route { channel: "c".into(), arch: "amd64".into(), hops: found.hops };
        let selection = Selection { releases, path: Some(route), graph: None };
        let json = serde_json::to_value(&selection).expect("json");
        let want = serde_json::json!({
            "releases": [
                {"version": "4.14.1", "payload": pa},
                {"version": "4.14.2", "payload": pb}
            ],
            "hops": [{"from": "4.14.1", "to": "4.14.2", "conditional": true,
                      "risks": [{"name": "R", "url": "https://issues.example/R", "message": "R may bite."}]}]
        });
        assert_eq!(json, want);
        let route = selection.path.as_ref().expect("route");
        assert!(route.hop(&a, &b).is_some_and(|h| h.conditional));
        assert!(route.hop(&b, &a).is_none(), "a hop has a direction");
    }
}
