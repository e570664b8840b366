//! Releases chosen from an update graph: a version range of a channel, the shortest path
//! between two releases, or a bare version looked up as `oc adm release mirror X.Y.Z` does.

use anyhow::{bail, Context as _, Result};

use super::{Route, Selected, Selection};
use crate::graph::{self, default_channels, Graph, Version};
use crate::http::Settings as HttpSettings;
use crate::job::{Choose, GraphSelection};
use crate::reference::ImageRef;

/// The releases `selection` makes in its graph.
pub(super) async fn select(selection: &GraphSelection, http: &HttpSettings) -> Result<Selection> {
    let channel = match (&selection.channel, &selection.choose) {
        (Some(channel), _) => channel,
        (None, Choose::Version(version)) => return bare_version(selection, http, version).await,
        (None, _) => bail!("choosing releases from the update graph needs --channel (e.g. --channel=stable-4.15)"),
    };
    let (graph, bytes) = channel_graph(selection, http, channel).await?;
    let channel = graph.channel().unwrap_or_default().to_string();
    let (releases, path): (Vec<(Version, String)>, Option<Route>) = match &selection.choose {
        Choose::Range { min, max } => {
            let found = graph.select_range(min, max)?;
            (found.iter().map(|r| (r.version.clone(), r.payload.clone())).collect(), None)
        }
        Choose::ShortestPath { from, to, kinds } => {
            let p = graph.shortest_path(from, to, *kinds)?;
            let releases = p.releases.iter().map(|r| (r.version.clone(), r.payload.clone())).collect();
            (releases, Some(Route { channel: channel.clone(), arch: selection.arch.clone(), hops: p.hops }))
        }
        Choose::Version(version) => {
            let r = graph.find(version)?;
            (vec![(r.version.clone(), r.payload.clone())], None)
        }
    };
    finish(releases, path, Some(bytes))
}

/// The graph of `channel`, fetched, parsed and narrowed; an empty one is an error.
async fn channel_graph(selection: &GraphSelection, http: &HttpSettings, channel: &str) -> Result<(Graph, Vec<u8>)> {
    let bytes = graph::fetch(&selection.source, http, channel, &selection.arch).await?;
    let from = describe(&selection.source);
    let invalid = |source| graph::FetchError::Invalid {
        from: from.clone(),
        channel: channel.to_string(),
        arch: selection.arch.clone(),
        source: Box::new(source),
    };
    let parsed = Graph::parse(&bytes).map_err(invalid)?.channel_filter(channel);
    if parsed.releases().is_empty() {
        bail!(
            "channel {channel} has no releases for architecture {} in the update graph from {from}: check the \
             channel name (e.g. stable-4.15) and --arch ({})",
            selection.arch,
            graph::ARCHES.join(", ")
        );
    }
    Ok((parsed, bytes))
}

/// As `oc adm release mirror 4.15.3`: the first of `fast-X.Y`, `stable-X.Y`,
/// `candidate-X.Y` that has the version.
async fn bare_version(selection: &GraphSelection, http: &HttpSettings, version: &Version) -> Result<Selection> {
    let mut tried = Vec::new();
    for channel in default_channels(version) {
        let bytes = graph::fetch(&selection.source, http, &channel, &selection.arch).await?;
        let parsed = Graph::parse(&bytes).map_err(|source| graph::FetchError::Invalid {
            from: describe(&selection.source),
            channel: channel.clone(),
            arch: selection.arch.clone(),
            source: Box::new(source),
        })?;
        if let Some(payload) = parsed.channel_filter(&channel).payload_of(version) {
            return finish(vec![(version.clone(), payload.to_string())], None, Some(bytes));
        }
        tried.push(channel);
    }
    bail!(
        "release {version} is in none of the channels {} of the update graph from {}: give --channel, or \
         the release image itself with --from",
        tried.join(", "),
        describe(&selection.source)
    )
}

/// Where the graph came from, for messages; a password in the service's URL is not shown.
fn describe(source: &graph::GraphSource) -> String {
    match source {
        graph::GraphSource::Service(url) => crate::http::redact(url),
        graph::GraphSource::File(path) => path.display().to_string(),
    }
}

fn finish(releases: Vec<(Version, String)>, path: Option<Route>, graph: Option<Vec<u8>>) -> Result<Selection> {
    let mut selection = Selection { path, graph, ..Selection::default() };
    for (version, payload) in releases {
        let image = ImageRef::parse(&payload)
            .with_context(|| format!("the update graph's payload of release {version} is not an image reference"))?;
        if image.registry().is_none() || image.digest.is_none() {
            bail!("the update graph's payload of release {version} is {payload}: a graph must name a registry image by digest");
        }
        selection.releases.push(Selected { version: Some(version), image });
    }
    Ok(selection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_by_tag_or_on_disk_is_refused_for_path_and_mirror_alike() {
        let v: Version = "4.15.3".parse().expect("version");
        for payload in ["q.io/ocp/release:4.15.3-x86_64", "file://openshift/release:4.15.3-x86_64"] {
            let err = finish(vec![(v.clone(), payload.into())], None, None).expect_err("refused").to_string();
            assert!(err.ends_with("a graph must name a registry image by digest"), "{err}");
        }
        let by_digest = format!("q.io/ocp/release@sha256:{}", "a".repeat(64));
        assert_eq!(finish(vec![(v, by_digest)], None, None).expect("accepted").releases.len(), 1);
    }

    #[test]
    fn an_update_service_password_is_not_shown_in_messages() {
        let source = graph::GraphSource::Service("https://admin:s3cret@osus.example/graph?x=1".into());
        assert_eq!(describe(&source), "https://***@osus.example/graph?x=1");
    }
}
