//! What an update graph claims about a release is checked against the release fetched: a
//! node whose payload is another version, or a graph of another architecture, is refused
//! before anything is copied.

use serde_json::json;

use crate::support::generator::{generate, GeneratedRelease};
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::updateservice::UpdateService;

const CHANNEL: &str = "stable-4.99";

/// One 4.99.3 amd64 release in a registry.
fn release(registry: &Registry) -> GeneratedRelease {
    let spec = ReleaseSpec { version: "4.99.3".into(), components: 2, ..ReleaseSpec::default() };
    let release = generate(&spec, &registry.host(), "ocp");
    release.push(registry);
    release
}

fn graph_naming(version: &str, release: &GeneratedRelease) -> String {
    json!({"version": 1, "edges": [],
           "nodes": [{"version": version, "payload": release.release_digest_ref(),
                      "metadata": {"io.openshift.upgrades.graph.release.channels": CHANNEL}}]})
    .to_string()
}

/// Mirror the graph's 4.99.x releases of `arch`: exit 1 with `needle`, nothing copied.
fn assert_refused(service: &UpdateService, arch: &str, version: &str, needle: &str) {
    let args = vec![
        format!("--update-service={}", service.url()),
        format!("--channel={CHANNEL}"),
        format!("--arch={arch}"),
        format!("--min-version={version}"),
        format!("--max-version={version}"),
    ];
    super::assert_refused_with_nothing_copied(args, needle);
}

#[test]
fn a_graph_node_whose_payload_is_another_version_is_refused_before_the_copy() {
    let registry = Registry::start();
    let r = release(&registry);
    let service = UpdateService::start();
    service.add_graph(CHANNEL, "amd64", graph_naming("4.99.2", &r));
    let needle =
        format!("release 4.99.2 was chosen, but its payload {} says it is release 4.99.3", r.release_digest_ref());
    assert_refused(&service, "amd64", "4.99.2", &needle);
}

#[test]
fn a_graph_for_another_architecture_naming_an_amd64_release_is_refused_before_the_copy() {
    let registry = Registry::start();
    let r = release(&registry);
    let service = UpdateService::start();
    service.add_graph(CHANNEL, "arm64", graph_naming("4.99.3", &r));
    assert_refused(&service, "arm64", "4.99.3", "the update graph for architecture arm64 names");
}
