//! The checked graph: releases sorted by version, plain and conditional updates between them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::body::GraphBody;
use super::{GraphError, Version};

/// A validated update graph, or the part of it in one channel.
#[derive(Debug, Clone)]
pub struct Graph {
    channel: Option<String>,
    releases: Vec<Release>,
    /// Keyed by (from, to) positions in `releases`, so a node's successors are a sorted range.
    links: BTreeMap<(usize, usize), Link>,
    plain_and_conditional: Vec<(Version, Version)>,
}

/// One release of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Its version.
    pub(crate) version: Version,
    /// Its release image pullspec.
    pub(crate) payload: String,
    /// The channels it belongs to, as listed in its metadata.
    pub(crate) channels: Vec<String>,
}

/// A known risk of a conditional update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    /// Short CamelCase name.
    pub name: String,
    /// Link to the issue describing it.
    pub url: String,
    /// One-paragraph description.
    pub message: String,
}

/// One update between two releases of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge<'a> {
    /// Release updated from.
    pub(crate) from: &'a Release,
    /// Release updated to.
    pub(crate) to: &'a Release,
    /// True when the update is only recommended if its risks do not apply.
    pub(crate) conditional: bool,
    /// Risks of a conditional update, sorted by name; empty for a plain one.
    pub(crate) risks: &'a [Risk],
}

/// An update as stored: plain, or conditional with its risks (one per name, first group's
/// wording kept, sorted by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Link {
    pub(super) conditional: bool,
    pub(super) risks: Vec<Risk>,
}

/// The most nodes a graph may have: every architecture's full graph has a few thousand.
pub const MAX_GRAPH_NODES: usize = 50_000;
/// The most updates (plain and conditional) a graph may list.
pub const MAX_GRAPH_UPDATES: usize = 2_000_000;
/// Node metadata key holding the digest of the release image.
const MANIFEST_REF_KEY: &str = "io.openshift.upgrades.graph.release.manifestref";

fn check_size(body: &GraphBody) -> Result<(), GraphError> {
    let nodes = body.nodes.len();
    if nodes > MAX_GRAPH_NODES {
        return Err(GraphError::TooLarge { what: "nodes", count: nodes, limit: MAX_GRAPH_NODES });
    }
    let updates = body.edges.len() + body.conditional_edges.iter().map(|g| g.edges.len()).sum::<usize>();
    if updates > MAX_GRAPH_UPDATES {
        return Err(GraphError::TooLarge { what: "updates", count: updates, limit: MAX_GRAPH_UPDATES });
    }
    Ok(())
}

/// A payload by digest must be the digest the node's `manifestref` names, when it names one.
fn check_manifest_ref(node: &super::body::NodeBody) -> Result<(), GraphError> {
    let (Some(manifestref), Some((_, digest))) = (node.metadata.get(MANIFEST_REF_KEY), node.payload.rsplit_once('@'))
    else {
        return Ok(());
    };
    if manifestref == digest {
        return Ok(());
    }
    Err(GraphError::ManifestRef {
        version: node.version.clone(),
        payload: node.payload.clone(),
        manifestref: manifestref.clone(),
    })
}

impl Graph {
    /// Parses and validates a graph body from JSON bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, GraphError> {
        Self::from_body(&GraphBody::parse(bytes)?)
    }

    /// Validates a parsed body: node versions parse and are unique, edge indices are in range,
    /// conditional edges name versions of the graph. A conditional edge that repeats a plain
    /// one is kept as plain and reported by [`Graph::plain_and_conditional`].
    pub(crate) fn from_body(body: &GraphBody) -> Result<Self, GraphError> {
        check_size(body)?;
        let mut order = Vec::with_capacity(body.nodes.len());
        for (index, node) in body.nodes.iter().enumerate() {
            let version: Version = node.version.parse().map_err(|source| GraphError::NodeVersion { index, source })?;
            check_manifest_ref(node)?;
            order.push((version, index));
        }
        order.sort();
        if let Some(pair) = order.windows(2).find(|w| w[0].0 == w[1].0) {
            let (version, first, second) = (pair[0].0.to_string(), pair[0].1, pair[1].1);
            return Err(GraphError::DuplicateNode { version, first, second });
        }
        let mut position = vec![0; order.len()];
        for (sorted, (_, index)) in order.iter().enumerate() {
            position[*index] = sorted;
        }
        let releases = order
            .into_iter()
            .map(|(version, index)| {
                let node = &body.nodes[index];
                Release { version, payload: node.payload.clone(), channels: node.channels() }
            })
            .collect();
        let mut graph = Graph { channel: None, releases, links: BTreeMap::new(), plain_and_conditional: Vec::new() };
        graph.add_plain(body, &position)?;
        graph.add_conditional(body)?;
        Ok(graph)
    }

    fn add_plain(&mut self, body: &GraphBody, position: &[usize]) -> Result<(), GraphError> {
        let count = position.len();
        for (edge, &[from, to]) in body.edges.iter().enumerate() {
            if let Some(&node) = [from, to].iter().find(|&&n| n >= count) {
                return Err(GraphError::EdgeOutOfRange { edge, node, count });
            }
            self.links.insert((position[from], position[to]), Link { conditional: false, risks: Vec::new() });
        }
        Ok(())
    }

    fn add_conditional(&mut self, body: &GraphBody) -> Result<(), GraphError> {
        // Each plain-and-conditional pair is reported once, found in constant time (a hostile
        // graph may repeat a million of them).
        let mut reported = BTreeSet::new();
        for (group, entry) in body.conditional_edges.iter().enumerate() {
            let risks: Vec<Risk> = entry
                .risks
                .iter()
                .map(|r| Risk { name: r.name.clone(), url: r.url.clone(), message: r.message.clone() })
                .collect();
            for edge in &entry.edges {
                let from = self.conditional_end(group, &edge.from)?;
                let to = self.conditional_end(group, &edge.to)?;
                let link = self.links.entry((from, to)).or_insert(Link { conditional: true, risks: Vec::new() });
                if !link.conditional {
                    if reported.insert((from, to)) {
                        let pair = (self.releases[from].version.clone(), self.releases[to].version.clone());
                        self.plain_and_conditional.push(pair);
                    }
                    continue;
                }
                for risk in &risks {
                    if let Err(at) = link.risks.binary_search_by(|r| r.name.cmp(&risk.name)) {
                        link.risks.insert(at, risk.clone());
                    }
                }
            }
        }
        Ok(())
    }

    fn conditional_end(&self, group: usize, text: &str) -> Result<usize, GraphError> {
        let version: Version = text.parse().map_err(|source| GraphError::ConditionalVersion { group, source })?;
        self.position(&version).ok_or_else(|| GraphError::UnknownConditionalVersion { group, version: text.into() })
    }

    /// The channel this graph was narrowed to by [`Graph::channel_filter`], if any.
    pub(crate) fn channel(&self) -> Option<&str> {
        self.channel.as_deref()
    }

    /// All releases, ascending by version.
    pub(crate) fn releases(&self) -> &[Release] {
        &self.releases
    }

    /// The release with exactly this version, if the graph has it.
    pub(crate) fn release(&self, version: &Version) -> Option<&Release> {
        self.position(version).map(|i| &self.releases[i])
    }

    /// The payload pullspec of this version, if the graph has it.
    pub(crate) fn payload_of(&self, version: &Version) -> Option<&str> {
        self.release(version).map(|r| r.payload.as_str())
    }

    /// Every channel named by some release, sorted.
    pub fn channels(&self) -> BTreeSet<&str> {
        self.releases.iter().flat_map(|r| r.channels.iter().map(String::as_str)).collect()
    }

    /// All updates, ordered by source then target version; an update listed both as plain and
    /// as conditional appears once, as plain.
    pub fn edges(&self) -> impl Iterator<Item = Edge<'_>> {
        self.links.iter().map(|(&(from, to), link)| self.edge_at(from, to, link))
    }

    /// The update from one version to another, if the graph has it.
    pub fn edge(&self, from: &Version, to: &Version) -> Option<Edge<'_>> {
        let key = (self.position(from)?, self.position(to)?);
        self.links.get(&key).map(|link| self.edge_at(key.0, key.1, link))
    }

    /// Updates listed both as plain and as conditional, in the order met; they are treated as
    /// plain (no risks). The service promises never to do this, so a caller may warn about it.
    pub fn plain_and_conditional(&self) -> &[(Version, Version)] {
        &self.plain_and_conditional
    }

    /// The part of the graph in `channel`: its releases and the updates between them.
    /// An unknown channel gives an empty graph, as the update service does.
    pub(crate) fn channel_filter(&self, channel: &str) -> Graph {
        let mut renumber = vec![None; self.releases.len()];
        let mut releases = Vec::new();
        for (old, release) in self.releases.iter().enumerate() {
            if release.channels.iter().any(|c| c == channel) {
                renumber[old] = Some(releases.len());
                releases.push(release.clone());
            }
        }
        let links = self
            .links
            .iter()
            .filter_map(|(&(from, to), link)| Some(((renumber[from]?, renumber[to]?), link.clone())))
            .collect();
        let keep = |v: &Version| releases.iter().any(|r: &Release| &r.version == v);
        let plain_and_conditional =
            self.plain_and_conditional.iter().filter(|(a, b)| keep(a) && keep(b)).cloned().collect();
        Graph { channel: Some(channel.to_string()), releases, links, plain_and_conditional }
    }

    /// Where `version` sits in `releases`.
    fn position(&self, version: &Version) -> Option<usize> {
        self.releases.binary_search_by(|r| r.version.cmp(version)).ok()
    }

    /// The updates leaving the release at `from`, ascending by target version.
    pub(super) fn links_from(&self, from: usize) -> impl Iterator<Item = (usize, &Link)> {
        self.links.range((from, 0)..(from + 1, 0)).map(|(&(_, to), link)| (to, link))
    }

    /// All updates as (from, to, link) positions.
    pub(super) fn links(&self) -> impl Iterator<Item = (usize, usize, &Link)> {
        self.links.iter().map(|(&(from, to), link)| (from, to, link))
    }

    /// "channel stable-4.15" or "the graph", for messages.
    pub(super) fn scope(&self) -> String {
        match &self.channel {
            Some(channel) => format!("channel {channel}"),
            None => "the graph".to_string(),
        }
    }

    fn edge_at<'a>(&'a self, from: usize, to: usize, link: &'a Link) -> Edge<'a> {
        let (from, to) = (&self.releases[from], &self.releases[to]);
        Edge { from, to, conditional: link.conditional, risks: &link.risks }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{body_json, v, Groups};
    use super::*;

    fn parse_err(json: &str) -> GraphError {
        Graph::parse(json.as_bytes()).expect_err("graph should be rejected")
    }

    fn chain(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut cause = err.source();
        while let Some(c) = cause {
            text = format!("{text}: {c}");
            cause = c.source();
        }
        text
    }

    #[test]
    fn sorts_scrambled_nodes_and_keeps_edges_on_their_versions() {
        let nodes = [("4.14.10", "a"), ("4.14.2", "a"), ("4.14.9", "a,b")];
        let json = body_json(&nodes, &[("4.14.2", "4.14.10"), ("4.14.9", "4.14.10")], &[]);
        let g = Graph::parse(json.as_bytes()).unwrap();
        let order: Vec<String> = g.releases().iter().map(|r| r.version.to_string()).collect();
        assert_eq!(order, ["4.14.2", "4.14.9", "4.14.10"]);
        let edges: Vec<String> = g.edges().map(|e| format!("{}>{}", e.from.version, e.to.version)).collect();
        assert_eq!(edges, ["4.14.2>4.14.10", "4.14.9>4.14.10"]);
        assert!(g.edge(&v("4.14.2"), &v("4.14.10")).is_some_and(|e| !e.conditional && e.risks.is_empty()));
        assert!(g.edge(&v("4.14.10"), &v("4.14.2")).is_none());
        assert_eq!(g.channels().into_iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(g.channel(), None);
    }

    #[test]
    fn rejects_edge_indices_out_of_range() {
        let json = r#"{"nodes": [{"version": "4.14.1", "payload": "p1"}, {"version": "4.14.2", "payload": "p2"}],
                       "edges": [[0, 1], [1, 7]]}"#;
        assert_eq!(parse_err(json).to_string(), "graph edge 1 points at node 7, but the graph has 2 nodes");
        let json = r#"{"nodes": [{"version": "4.14.1", "payload": "p1"}], "edges": [[2, 0]]}"#;
        assert_eq!(parse_err(json).to_string(), "graph edge 0 points at node 2, but the graph has 1 nodes");
    }

    #[test]
    fn rejects_conditional_edges_naming_unknown_versions() {
        let groups: Groups = &[(&[("4.14.1", "4.14.2")], &["R"]), (&[("4.14.1", "4.14.9")], &["R"])];
        let json = body_json(&[("4.14.1", "a"), ("4.14.2", "a")], &[], groups);
        let err = parse_err(&json);
        assert_eq!(err.to_string(), "conditional edge group 1 names version 4.14.9, which is not a node of the graph");
        let json = json.replace("4.14.9", "4.14");
        assert_eq!(
            chain(&parse_err(&json)),
            "conditional edge group 1 has an invalid version: invalid version \"4.14\": \
             expected major.minor.patch, e.g. 4.15.3"
        );
    }

    #[test]
    fn rejects_bad_and_duplicate_node_versions() {
        let json = body_json(&[("4.14.1", "a"), ("4.14.x", "a")], &[], &[]);
        assert_eq!(
            chain(&parse_err(&json)),
            "graph node 1 has an invalid version: invalid version \"4.14.x\": patch \"x\" is not a number"
        );
        let json =
            body_json(&[("4.14.1", "a"), ("4.14.2", "a"), ("4.14.3", "a")], &[], &[]).replace("4.14.3", "4.14.1");
        assert_eq!(parse_err(&json).to_string(), "graph lists version 4.14.1 twice (nodes 0 and 2)");
    }

    #[test]
    fn merges_risks_and_keeps_a_plain_edge_plain() {
        let nodes = [("4.14.1", "a"), ("4.14.2", "a"), ("4.15.0", "a")];
        let groups: Groups = &[
            (&[("4.14.2", "4.15.0"), ("4.14.1", "4.14.2")], &["Zeta", "Alpha"]),
            (&[("4.14.2", "4.15.0")], &["Alpha", "Beta"]),
        ];
        let g = Graph::parse(body_json(&nodes, &[("4.14.1", "4.14.2")], groups).as_bytes()).unwrap();
        let hop = g.edge(&v("4.14.2"), &v("4.15.0")).unwrap();
        assert!(hop.conditional);
        let names: Vec<&str> = hop.risks.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Alpha", "Beta", "Zeta"]);
        assert_eq!(hop.risks[0].url, "https://issues.example/Alpha");
        assert_eq!(hop.risks[0].message, "Alpha may bite.");
        let plain = g.edge(&v("4.14.1"), &v("4.14.2")).unwrap();
        assert!(!plain.conditional && plain.risks.is_empty());
        assert_eq!(g.plain_and_conditional(), [(v("4.14.1"), v("4.14.2"))]);
        assert_eq!(g.edges().count(), 2);
    }

    #[test]
    fn channel_filter_keeps_the_channel_and_its_edges() {
        let nodes = [("4.14.1", "stable-4.14,stable-4.15"), ("4.14.2", "stable-4.14"), ("4.15.0", "stable-4.15")];
        let edges = [("4.14.1", "4.14.2"), ("4.14.2", "4.15.0"), ("4.14.1", "4.15.0")];
        let g = Graph::parse(body_json(&nodes, &edges, &[]).as_bytes()).unwrap();
        let stable = g.channel_filter("stable-4.15");
        assert_eq!(stable.channel(), Some("stable-4.15"));
        let kept: Vec<String> = stable.releases().iter().map(|r| r.version.to_string()).collect();
        assert_eq!(kept, ["4.14.1", "4.15.0"]);
        let edges: Vec<String> = stable.edges().map(|e| format!("{}>{}", e.from.version, e.to.version)).collect();
        assert_eq!(edges, ["4.14.1>4.15.0"]);
        assert_eq!(stable.payload_of(&v("4.15.0")), Some("example.com/ocp-release@sha256:4.15.0"));
        assert_eq!(stable.payload_of(&v("4.14.2")), None);
        assert!(g.channel_filter("nope").releases().is_empty());
    }

    #[test]
    fn a_graph_larger_than_any_real_one_is_refused_before_it_is_searched() {
        let nodes: Vec<String> = (0..=MAX_GRAPH_NODES)
            .map(|i| format!(r#"{{"version":"4.{}.{}","payload":"p","metadata":{{}}}}"#, i / 1000, i % 1000))
            .collect();
        let json = format!(r#"{{"nodes":[{}],"edges":[]}}"#, nodes.join(","));
        let err = parse_err(&json).to_string();
        assert_eq!(
            err,
            format!("the update graph has {} nodes, more than the limit of {MAX_GRAPH_NODES}", MAX_GRAPH_NODES + 1)
        );
        let edges = vec!["[0,0]"; MAX_GRAPH_UPDATES + 1].join(",");
        let json = format!(r#"{{"nodes":[{{"version":"4.1.0","payload":"p"}}],"edges":[{edges}]}}"#);
        assert!(parse_err(&json).to_string().contains("updates, more than the limit"));
    }

    #[test]
    fn a_node_whose_manifestref_disagrees_with_its_payload_is_refused() {
        let (a, b) = (format!("sha256:{}", "a".repeat(64)), format!("sha256:{}", "b".repeat(64)));
        let node = |digest: &str| {
            format!(
                r#"{{"nodes":[{{"version":"4.99.2","payload":"q.io/r@{a}","metadata":{{"{MANIFEST_REF_KEY}":"{digest}"}}}}],"edges":[]}}"#
            )
        };
        assert!(Graph::parse(node(&a).as_bytes()).is_ok(), "an agreeing manifestref");
        let err = parse_err(&node(&b)).to_string();
        assert_eq!(err, format!("graph node 4.99.2 has payload q.io/r@{a}, but its manifestref says {b}"));
    }
}
