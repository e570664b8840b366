//! Which releases a run mirrors, in upgrade order: as listed, chosen from an update graph
//! (range, shortest path, or a bare version), or as a `--from-dir` tree records them.
//! Everything here happens before any registry is asked anything.

use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use serde::Serialize;

use super::record;
use crate::graph::{self, default_channels, Graph, Hop, Version};
use crate::http::Settings as HttpSettings;
use crate::job::{Choose, GraphSelection, ReleaseSource};
use crate::reference::ImageRef;

/// The releases of a run and how they were chosen.
#[derive(Debug, Clone, Default)]
pub struct Chosen {
    /// In upgrade order.
    pub releases: Vec<ImageRef>,
    /// The graph's versions of `releases` (empty when listed by hand).
    pub versions: Vec<String>,
    /// The path they lie on (shortest-path selections, or a tree that recorded one).
    pub path: Option<ChosenPath>,
    /// The graph's bytes as the service sent them (graph selections), to record on disk.
    pub graph: Option<Vec<u8>>,
}

/// The upgrade path of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChosenPath {
    pub channel: String,
    pub arch: String,
    pub hops: Vec<Hop>,
}

/// Resolve `source`; `from_dir` is the tree a [`ReleaseSource::Tree`] reads.
pub async fn resolve(source: &ReleaseSource, from_dir: Option<&Path>, http: &HttpSettings) -> Result<Chosen> {
    match source {
        ReleaseSource::Listed(list) => Ok(Chosen { releases: list.clone(), ..Chosen::default() }),
        ReleaseSource::Graph(selection) => from_graph(selection, http).await,
        ReleaseSource::Tree => {
            let dir = from_dir.ok_or_else(|| anyhow!("no release given: use --from, or --from-dir with a tree"))?;
            from_tree(dir)
        }
    }
}

async fn from_graph(selection: &GraphSelection, http: &HttpSettings) -> Result<Chosen> {
    let channel = match (&selection.channel, &selection.choose) {
        (Some(channel), _) => channel,
        (None, Choose::Version(version)) => return bare_version(selection, http, version).await,
        (None, _) => bail!("choosing releases from the update graph needs --channel (e.g. --channel=stable-4.15)"),
    };
    let (graph, bytes) = channel_graph(selection, http, channel).await?;
    let channel = graph.channel().unwrap_or_default().to_string();
    let (releases, path): (Vec<(Version, String)>, Option<ChosenPath>) = match &selection.choose {
        Choose::Range { min, max } => {
            let found = graph.select_range(min, max)?;
            (found.iter().map(|r| (r.version.clone(), r.payload.clone())).collect(), None)
        }
        Choose::ShortestPath { from, to, kinds } => {
            let p = graph.shortest_path(from, to, *kinds)?;
            let releases = p.releases.iter().map(|r| (r.version.clone(), r.payload.clone())).collect();
            (releases, Some(ChosenPath { channel: channel.clone(), arch: selection.arch.clone(), hops: p.hops }))
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
async fn bare_version(selection: &GraphSelection, http: &HttpSettings, version: &Version) -> Result<Chosen> {
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

fn describe(source: &graph::GraphSource) -> String {
    match source {
        graph::GraphSource::Service(url) => url.clone(),
        graph::GraphSource::File(path) => path.display().to_string(),
    }
}

fn finish(releases: Vec<(Version, String)>, path: Option<ChosenPath>, graph: Option<Vec<u8>>) -> Result<Chosen> {
    let mut chosen = Chosen { path, graph, ..Chosen::default() };
    for (version, payload) in releases {
        let image = ImageRef::parse(&payload)
            .with_context(|| format!("the update graph's payload of release {version} is not an image reference"))?;
        chosen.releases.push(image);
        chosen.versions.push(version.to_string());
    }
    Ok(chosen)
}

/// Every release the tree records, as `file://` references, with the recorded path.
fn from_tree(dir: &Path) -> Result<Chosen> {
    let Some(rec) = record::read(dir)? else {
        bail!(
            "no --from given, and {} records no releases (it was not written by kubectl release-mirror): give \
             --from=file://openshift/release:<version>-<arch>",
            dir.display()
        );
    };
    if rec.releases.is_empty() {
        bail!("no --from given, and the release record of {} lists no releases", dir.display());
    }
    let mut chosen = Chosen::default();
    for r in &rec.releases {
        let image = ImageRef::parse(&r.image)
            .with_context(|| format!("the release record of {} names an invalid image", dir.display()))?;
        chosen.releases.push(image);
        chosen.versions.push(r.version.clone());
    }
    chosen.path = rec.upgrade_path.map(|p| ChosenPath { channel: p.channel, arch: p.arch, hops: p.hops });
    Ok(chosen)
}

/// What `path` prints: the releases in upgrade order and the hops (empty for a range).
#[derive(Debug, Clone, Serialize)]
pub struct PathReport {
    pub releases: Vec<PathEntry>,
    pub hops: Vec<Hop>,
}

/// One release of a [`PathReport`].
#[derive(Debug, Clone, Serialize)]
pub struct PathEntry {
    pub version: String,
    pub payload: String,
}

impl PathReport {
    /// Resolve `selection` against its graph, fetched with the `http` setup.
    pub async fn resolve(selection: &GraphSelection, http: &HttpSettings) -> Result<PathReport> {
        let chosen = from_graph(selection, http).await?;
        let releases = chosen
            .versions
            .iter()
            .zip(&chosen.releases)
            .map(|(version, image)| PathEntry { version: version.clone(), payload: image.to_string() })
            .collect();
        Ok(PathReport { releases, hops: chosen.path.map(|p| p.hops).unwrap_or_default() })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// One line per release; each hop between them, with the risks of a conditional one.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for (i, r) in self.releases.iter().enumerate() {
            let hop = i.checked_sub(1).and_then(|p| {
                let from = &self.releases[p].version;
                self.hops.iter().find(|h| h.from.to_string() == *from && h.to.to_string() == r.version)
            });
            if let Some(h) = hop {
                let kind = if h.conditional { "conditional update" } else { "update" };
                let _ = writeln!(out, "  ↓ {kind} {} -> {}", h.from, h.to);
                for risk in &h.risks {
                    let _ = writeln!(out, "    risk {}: {} ({})", risk.name, risk.message, risk.url);
                }
            }
            let _ = writeln!(out, "{}  {}", r.version, r.payload);
        }
        out
    }
}
