//! Tests against a real update-service graph (4.14 → 4.15, saved by oc-mirror's e2e suite).
//! Expected values are computed from the raw JSON here, not through the code under test.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{default_channels, v, EdgeKinds, Graph, GraphBody, GraphError, CHANNELS_KEY};

const FIXTURE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/oc-mirror/internal/e2e/infra_demo/cincinnati-graph.json");

fn bytes() -> Vec<u8> {
    std::fs::read(FIXTURE).unwrap_or_else(|e| panic!("cannot read the graph fixture {FIXTURE}: {e}"))
}

fn raw() -> Value {
    serde_json::from_slice(&bytes()).unwrap_or_else(|e| panic!("{FIXTURE} is not JSON: {e}"))
}

fn stable() -> Graph {
    Graph::parse(&bytes()).unwrap_or_else(|e| panic!("{e}")).channel_filter("stable-4.15")
}

/// The test's own reading of a plain `x.y.z` version, for ordering.
fn triple(s: &str) -> (u64, u64, u64) {
    let n: Vec<u64> = s.split('.').map(|p| p.parse().unwrap_or_else(|_| panic!("not x.y.z: {s}"))).collect();
    (n[0], n[1], n[2])
}

fn node_versions(raw: &Value) -> Vec<&str> {
    raw["nodes"].as_array().unwrap().iter().map(|n| n["version"].as_str().unwrap()).collect()
}

fn plain_edges(raw: &Value) -> BTreeSet<(String, String)> {
    let names = node_versions(raw);
    let at = |x: &Value| names[x.as_u64().unwrap() as usize].to_string();
    raw["edges"].as_array().unwrap().iter().map(|e| (at(&e[0]), at(&e[1]))).collect()
}

/// Risk names of every conditional group holding `from -> to`.
fn conditional_risks(raw: &Value, from: &str, to: &str) -> Option<BTreeSet<String>> {
    let mut found = None;
    for group in raw["conditionalEdges"].as_array().unwrap() {
        if group["edges"].as_array().unwrap().iter().any(|e| e["from"] == from && e["to"] == to) {
            let names = group["risks"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string());
            found.get_or_insert_with(BTreeSet::new).extend(names);
        }
    }
    found
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn counts_nodes_and_edges() {
    let body = GraphBody::parse(&bytes()).unwrap();
    assert_eq!(body.nodes.len(), 55);
    assert_eq!(body.edges.len(), 358);
    assert_eq!(body.conditional_edges.len(), 19);
    assert_eq!(body.conditional_edges.iter().map(|g| g.edges.len()).sum::<usize>(), 629);
    let graph = Graph::from_body(&body).unwrap();
    assert_eq!(graph.releases().len(), 55);
    assert_eq!(graph.edges().filter(|e| !e.conditional).count(), 358);
    assert_eq!(graph.edges().filter(|e| e.conditional).count(), 629);
    assert!(graph.plain_and_conditional().is_empty(), "{:?}", graph.plain_and_conditional());
    assert_eq!(stable().releases().len(), 55, "every node of this graph is in stable-4.15");
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn has_no_plain_minor_version_update() {
    let raw = raw();
    let across: Vec<_> = plain_edges(&raw).into_iter().filter(|(a, b)| triple(a).1 != triple(b).1).collect();
    assert!(across.is_empty(), "{across:?}");
    let graph = Graph::parse(&bytes()).unwrap();
    assert!(graph.edges().filter(|e| e.from.version.minor() != e.to.version.minor()).all(|e| e.conditional));
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn shortest_path_crosses_the_minor_in_two_hops() {
    let raw = raw();
    let plain = plain_edges(&raw);
    let path = stable().shortest_path(&v("4.14.10"), &v("4.15.23"), EdgeKinds::All).unwrap();
    assert_eq!(path.hops.len(), 2);
    assert_eq!(path.releases.len(), 3);
    assert_eq!(path.conditional_hops(), 1, "one hop must cross 4.14 -> 4.15 conditionally");
    for hop in &path.hops {
        let (from, to) = (hop.from.to_string(), hop.to.to_string());
        let risks = conditional_risks(&raw, &from, &to);
        if hop.conditional {
            let names: BTreeSet<String> = hop.risks.iter().map(|r| r.name.clone()).collect();
            assert_eq!(Some(names), risks, "{from} -> {to}");
        } else {
            assert!(plain.contains(&(from.clone(), to.clone())), "{from} -> {to} is not a plain edge");
            assert!(hop.risks.is_empty());
        }
    }
    // Tie-break: the highest 4.14.z with a plain update from 4.14.10 and any update to 4.15.23.
    let via = path.releases[1].version.to_string();
    assert_eq!(via, "4.14.33");
    let risky = path.hops.iter().find(|h| h.conditional).unwrap();
    assert!(risky.risks.iter().any(|r| r.name == "OVNIPsecPausedMCPConnectivity"), "{:?}", risky.risks);
    assert!(risky.risks.iter().all(|r| r.url.starts_with("https://") && !r.message.is_empty()));
    let payload =
        raw["nodes"].as_array().unwrap().iter().find(|n| n["version"] == "4.15.23").unwrap()["payload"].clone();
    assert_eq!(path.releases[2].payload, payload.as_str().unwrap());
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn plain_only_finds_no_path_and_lists_what_is_reachable() {
    let raw = raw();
    let plain = plain_edges(&raw);
    let mut reached = BTreeSet::new();
    let mut todo = vec!["4.14.10".to_string()];
    while let Some(at) = todo.pop() {
        for (_, to) in plain.iter().filter(|(from, _)| *from == at) {
            if reached.insert(to.clone()) {
                todo.push(to.clone());
            }
        }
    }
    let mut expected: Vec<String> = reached.into_iter().collect();
    expected.sort_by_key(|s| triple(s));
    let err = stable().shortest_path(&v("4.14.10"), &v("4.15.23"), EdgeKinds::PlainOnly).unwrap_err();
    let GraphError::Unreachable(u) = &err else { panic!("expected Unreachable, got {err:?}") };
    let got: Vec<String> = u.reachable.iter().map(ToString::to_string).collect();
    assert_eq!(got, expected);
    assert!(got.contains(&"4.14.33".to_string()) && got.iter().all(|s| s.starts_with("4.14.")), "{got:?}");
    assert!(u.conditional_path_exists);
    let text = err.to_string();
    assert!(text.starts_with("4.15.23 is not reachable from 4.14.10 in channel stable-4.15"), "{text}");
    assert!(text.contains("drop --no-conditional-updates"), "{text}");
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn range_lists_the_channel_between_the_bounds() {
    let raw = raw();
    let (low, high) = (triple("4.14.10"), triple("4.15.23"));
    let mut expected: Vec<&str> = raw["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["metadata"][CHANNELS_KEY].as_str().unwrap_or("").split(',').any(|c| c == "stable-4.15"))
        .map(|n| n["version"].as_str().unwrap())
        .filter(|s| (low..=high).contains(&triple(s)))
        .collect();
    expected.sort_by_key(|s| triple(s));
    let graph = stable();
    let got: Vec<String> =
        graph.select_range(&v("4.14.10"), &v("4.15.23")).unwrap().iter().map(|r| r.version.to_string()).collect();
    assert_eq!(got, expected);
    assert_eq!(got.len(), 45);
    let err = graph.select_range(&v("4.14.10"), &v("4.15.4")).unwrap_err().to_string();
    assert!(err.contains("its releases span 4.14.0 … 4.15.23); nearest: 4.15.3 and 4.15.5"), "{err}");
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn resolves_a_bare_version_through_the_default_channels() {
    let graph = Graph::parse(&bytes()).unwrap();
    let version = v("4.15.3");
    let channel =
        default_channels(&version).into_iter().find(|c| graph.channel_filter(c).payload_of(&version).is_some());
    assert_eq!(channel.as_deref(), Some("fast-4.15"));
    let raw = raw();
    let node = raw["nodes"].as_array().unwrap().iter().find(|n| n["version"] == "4.15.3").unwrap();
    assert_eq!(graph.payload_of(&version), node["payload"].as_str());
}
