//! The update-service (Cincinnati) graph: parsing and checking a graph body, narrowing it to a
//! channel, selecting the releases of a version range, resolving a bare version to its payload,
//! and finding the shortest upgrade path between two releases with the risks of each hop.
//! Everything but `fetch.rs` (the graph's bytes from the update service or a file) is pure:
//! it is handed the bytes of a graph and never touches registries or disks.

pub(crate) mod body;
mod fetch;
mod model;
mod path;
mod select;
mod version;

#[cfg(test)]
mod real_graph;

#[cfg(test)]
use body::{GraphBody, CHANNELS_KEY};
pub use fetch::{fetch, FetchError, GraphSource, ARCHES, DEFAULT_UPDATE_SERVICE, MAX_GRAPH_BYTES};
pub use model::{Edge, Graph, Release, Risk};
pub use path::{EdgeKinds, Hop, Unreachable, UpgradePath};
pub(crate) use select::{default_channels, NotFound};
pub use version::{Version, VersionError};

/// Why a graph could not be read, or a selection or path could not be made in it.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The body is not JSON of the graph's shape.
    #[error("failed to parse the update graph")]
    Json(#[source] serde_json::Error),

    /// A node's version does not parse.
    #[error("graph node {index} has an invalid version")]
    NodeVersion {
        /// Index of the node in the body.
        index: usize,
        /// The parse failure, quoting the text.
        source: VersionError,
    },

    /// Two nodes carry the same version.
    #[error("graph lists version {version} twice (nodes {first} and {second})")]
    DuplicateNode {
        /// The repeated version.
        version: String,
        /// Index of one node.
        first: usize,
        /// Index of the other.
        second: usize,
    },

    /// A plain edge names a node index past the end of `nodes`.
    #[error("graph edge {edge} points at node {node}, but the graph has {count} nodes")]
    EdgeOutOfRange {
        /// Index of the edge in the body.
        edge: usize,
        /// The out-of-range node index.
        node: usize,
        /// How many nodes the graph has.
        count: usize,
    },

    /// A conditional edge names a version that does not parse.
    #[error("conditional edge group {group} has an invalid version")]
    ConditionalVersion {
        /// Index of the group in `conditionalEdges`.
        group: usize,
        /// The parse failure, quoting the text.
        source: VersionError,
    },

    /// A conditional edge names a version that is not a node of the graph.
    #[error("conditional edge group {group} names version {version}, which is not a node of the graph")]
    UnknownConditionalVersion {
        /// Index of the group in `conditionalEdges`.
        group: usize,
        /// The unknown version.
        version: String,
    },

    /// A range whose start is above its end.
    #[error("range start {min} is above range end {max}")]
    RangeReversed {
        /// The start given.
        min: String,
        /// The end given.
        max: String,
    },

    /// A version that is not a release of the graph or channel.
    #[error("{0}")]
    NotFound(Box<NotFound>),

    /// No upgrade path between two releases.
    #[error("{0}")]
    Unreachable(Box<Unreachable>),

    /// More nodes or updates than any real graph has.
    #[error("the update graph has {count} {what}, more than the limit of {limit}")]
    TooLarge {
        /// `nodes` or `updates`.
        what: &'static str,
        /// How many it has.
        count: usize,
        /// The most accepted.
        limit: usize,
    },

    /// A node's `manifestref` metadata names another digest than its payload.
    #[error("graph node {version} has payload {payload}, but its manifestref says {manifestref}")]
    ManifestRef {
        /// The node's version.
        version: String,
        /// Its payload pullspec.
        payload: String,
        /// The digest its metadata names.
        manifestref: String,
    },
}

/// Test helper: a graph body as a JSON string. `nodes` are `(version, "chan-a,chan-b")` in body
/// order; edges name versions and are turned into indices; each conditional group is its
/// `(from, to)` edges and its risk names.
#[cfg(test)]
fn body_json(nodes: &[(&str, &str)], edges: &[(&str, &str)], groups: Groups) -> String {
    use serde_json::json;
    let index = |v: &str| nodes.iter().position(|n| n.0 == v).unwrap_or_else(|| panic!("no node {v}"));
    let nodes: Vec<_> = nodes
        .iter()
        .map(|(v, channels)| {
            json!({"version": v, "payload": format!("example.com/ocp-release@sha256:{v}"),
                   "metadata": {CHANNELS_KEY: channels}})
        })
        .collect();
    let edges: Vec<_> = edges.iter().map(|(a, b)| [index(a), index(b)]).collect();
    let groups: Vec<_> = groups
        .iter()
        .map(|(edges, risks)| {
            json!({
                "edges": edges.iter().map(|(a, b)| json!({"from": a, "to": b})).collect::<Vec<_>>(),
                "risks": risks.iter().map(|r| json!({"name": r, "url": format!("https://issues.example/{r}"),
                    "message": format!("{r} may bite."), "matchingRules": [{"type": "Always"}]})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"version": 1, "nodes": nodes, "edges": edges, "conditionalEdges": groups}).to_string()
}

/// Test helper: conditional edge groups, each its `(from, to)` edges and its risk names.
#[cfg(test)]
type Groups<'a> = &'a [(&'a [(&'a str, &'a str)], &'a [&'a str])];

/// Test helper: parse a version or panic.
#[cfg(test)]
fn v(text: &str) -> Version {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}
