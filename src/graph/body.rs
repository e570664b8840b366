//! The update-service (Cincinnati) graph body as it travels on the wire, and its parsing.
//!
//! These types mirror the JSON one to one and validate nothing beyond its shape; `Graph`
//! (in `model.rs`) is built from them and does the checking.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::GraphError;

/// Node metadata key holding the comma-separated channels a release belongs to.
pub(crate) const CHANNELS_KEY: &str = "io.openshift.upgrades.graph.release.channels";

/// The whole graph body: `{version, nodes, edges, conditionalEdges}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GraphBody {
    /// Format version of the body (1 today); not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<u64>,
    /// Releases, in no particular order.
    pub(crate) nodes: Vec<NodeBody>,
    /// Plain updates as `[from_index, to_index]` into `nodes`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) edges: Vec<[usize; 2]>,
    /// Conditional updates, grouped by the risks they share; absent in older bodies.
    #[serde(
        rename = "conditionalEdges",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub(crate) conditional_edges: Vec<ConditionalGroupBody>,
}

/// One release node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NodeBody {
    /// The release version, e.g. `4.15.3`.
    pub(crate) version: String,
    /// The release image pullspec, normally by digest.
    pub(crate) payload: String,
    /// Free-form string metadata (channels, errata URL, ...); may be absent.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) metadata: BTreeMap<String, String>,
}

/// A set of conditional updates that share the same risks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ConditionalGroupBody {
    /// The updates, by version.
    pub(crate) edges: Vec<ConditionalEdgeBody>,
    /// The risks every update of the group carries.
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) risks: Vec<RiskBody>,
}

/// One conditional update, naming versions rather than node indices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConditionalEdgeBody {
    /// Version updated from.
    pub(crate) from: String,
    /// Version updated to.
    pub(crate) to: String,
}

/// A known risk of a conditional update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RiskBody {
    /// Link to the issue describing the risk.
    #[serde(default)]
    pub(crate) url: String,
    /// Short CamelCase name, e.g. `OVNIPsecPausedMCPConnectivity`.
    pub(crate) name: String,
    /// One-paragraph description.
    #[serde(default)]
    pub(crate) message: String,
    /// Cluster-side rules deciding whether the risk applies; kept as raw JSON.
    #[serde(rename = "matchingRules", default, deserialize_with = "null_as_default")]
    pub(crate) matching_rules: Vec<serde_json::Value>,
}

impl GraphBody {
    /// Parses a graph body from JSON bytes, checking only its shape.
    pub fn parse(bytes: &[u8]) -> Result<Self, GraphError> {
        serde_json::from_slice(bytes).map_err(GraphError::Json)
    }
}

impl NodeBody {
    /// The channels listed in the node's metadata, in listed order (empty if none).
    pub(crate) fn channels(&self) -> Vec<String> {
        self.metadata
            .get(CHANNELS_KEY)
            .map(|list| list.split(',').map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect())
            .unwrap_or_default()
    }
}

/// Reads `null` as the type's default, so `"metadata": null` means no metadata.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_body() {
        let json = r#"{
            "version": 1,
            "nodes": [
                {"version": "4.14.1", "payload": "quay.io/r@sha256:aa",
                 "metadata": {"io.openshift.upgrades.graph.release.channels": "stable-4.14, fast-4.14,,"}},
                {"version": "4.14.2", "payload": "quay.io/r@sha256:bb"}
            ],
            "edges": [[0, 1]],
            "conditionalEdges": [{
                "edges": [{"from": "4.14.1", "to": "4.14.2"}],
                "risks": [{"url": "https://x/1", "name": "R", "message": "m",
                           "matchingRules": [{"type": "Always"}]}]
            }]
        }"#;
        let body = GraphBody::parse(json.as_bytes()).unwrap();
        assert_eq!(body.version, Some(1));
        assert_eq!(body.nodes[0].channels(), ["stable-4.14", "fast-4.14"]);
        assert!(body.nodes[1].channels().is_empty());
        assert_eq!(body.edges, [[0, 1]]);
        let group = &body.conditional_edges[0];
        assert_eq!(group.edges[0], ConditionalEdgeBody { from: "4.14.1".into(), to: "4.14.2".into() });
        assert_eq!(group.risks[0].name, "R");
        assert_eq!(group.risks[0].matching_rules.len(), 1);
    }

    #[test]
    fn optional_parts_may_be_absent_or_null() {
        let json = r#"{"nodes": [{"version": "4.14.1", "payload": "p", "metadata": null}],
                       "edges": [], "conditionalEdges": null}"#;
        let body = GraphBody::parse(json.as_bytes()).unwrap();
        assert!(body.conditional_edges.is_empty() && body.nodes[0].metadata.is_empty());
        let body = GraphBody::parse(br#"{"nodes": []}"#).unwrap();
        assert!(body.edges.is_empty());
    }

    #[test]
    fn rejects_an_error_body_and_bad_shapes() {
        let missing = GraphBody::parse(br#"{"kind":"missing_params","value":"channel"}"#).unwrap_err();
        assert!(missing.to_string().starts_with("failed to parse the update graph"), "{missing}");
        assert!(std::error::Error::source(&missing).is_some_and(|s| s.to_string().contains("nodes")));
        assert!(GraphBody::parse(br#"{"nodes": [], "edges": [[0, -1]]}"#).is_err());
        assert!(GraphBody::parse(br#"{"nodes": [], "edges": [[0, 1, 2]]}"#).is_err());
        assert!(GraphBody::parse(b"<html>").is_err());
    }
}
