//! The disconnected OpenShift Update Service (OSUS): everything `--graph-data-image` needs
//! besides the release images. This folder owns the graph-data tarball (fetched bounded in
//! `fetch.rs`, checked in `tarball.rs`), the graph-data image built without a container
//! runtime (its layer in `layer.rs`, its manifest and config in `image.rs`, read and pushed
//! through the store interface in `push.rs`), and the `UpdateService` resource that names
//! it (`resource.rs`). The run calls [`prepare`] before the copy (so bad graph data stops
//! the run before anything is pushed) and [`push`] after it.

mod fetch;
mod image;
mod layer;
mod push;
mod resource;
pub(crate) mod tarball;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::mirror::Stores;
use crate::progress::Progress;
use crate::reference::ImageRef;

pub use fetch::default_url;
pub use resource::{UpdateService, FILE_NAME as UPDATE_SERVICE_FILE};

/// The base image oc-mirror uses: it has `bash`, `cp` and `sleep`, as the operator needs.
pub const DEFAULT_BASE: &str = "registry.access.redhat.com/ubi9/ubi:latest";
/// The tag the graph-data image is stored under (it is named by digest everywhere else).
pub(crate) const TAG: &str = "latest";

/// `--graph-data-image` and its inputs.
#[derive(Debug, Clone)]
pub struct GraphDataJob {
    /// Where the image goes: a registry repository or a `file://` repository in `--to-dir`.
    pub image: ImageRef,
    /// The graph-data tarball.
    pub source: GraphDataSource,
    /// The base image (`--graph-data-base`).
    pub base: ImageRef,
}

/// Where the graph-data tarball comes from (`--graph-data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphDataSource {
    /// A file saved earlier.
    File(PathBuf),
    /// An `http(s)` URL, fetched with the run's HTTP settings.
    Url(String),
}

impl std::fmt::Display for GraphDataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GraphDataSource::File(p) => write!(f, "{}", p.display()),
            GraphDataSource::Url(u) => f.write_str(&crate::http::redact(u)),
        }
    }
}

/// The image, ready to push: built in memory, or recorded in the `--from-dir` tree.
#[derive(Debug)]
pub(crate) enum Prepared {
    Build(Box<Build>),
    /// The tree's image (`file://…@sha256:…`), uploaded as it is.
    Recorded(ImageRef),
}

/// A graph-data image built in memory on its base.
#[derive(Debug)]
pub(crate) struct Build {
    /// The base, pinned (to its list when several of its images were built on).
    base: ImageRef,
    layer: layer::Layer,
    /// The built image (a list of the built platform images, for a list base).
    set: push::ImageSet,
    /// The configs of the built images, by digest.
    configs: Vec<(crate::digest::Digest, bytes::Bytes)>,
}

/// What became of the graph-data image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphDataImage {
    /// Where it is, by digest.
    pub image: String,
    /// `built`, `uploaded` (from a tree), `present` (the destination had it) or `planned` (dry run).
    pub action: &'static str,
    /// The base image, by digest (absent for an upload).
    pub base: Option<String>,
    /// The graph-data layer's digest (absent for an upload).
    pub(crate) layer_digest: Option<String>,
    /// The graph-data layer's compressed size (absent for an upload).
    pub layer_size: Option<u64>,
    /// The image reference, pinned.
    #[serde(skip)]
    pub(crate) pinned: Option<ImageRef>,
}

/// Before anything is copied: a tree's recorded image, or the tarball fetched and checked,
/// the base read and the image made in memory. `archs` are the releases' (`x86_64`, `multi`).
pub(crate) async fn prepare(
    job: &GraphDataJob,
    from_dir: Option<&Path>,
    sources: &Stores,
    http: &crate::http::Settings,
    archs: &[&str],
    progress: &Progress,
) -> Result<Prepared> {
    if let Some(recorded) = recorded(from_dir)? {
        progress.info(&format!("uploading the graph-data image {recorded} the tree records"));
        return Ok(Prepared::Recorded(recorded));
    }
    progress.info(&format!("reading the graph data {}", job.source));
    let bytes = fetch::fetch(&job.source, http).await.with_context(|| match from_dir {
        Some(dir) => format!(
            "{} records no graph-data image (build one into the tree with --graph-data-image=file://REPO), so it \
             is built here",
            dir.display()
        ),
        None => format!("no graph data for the graph-data image {}", job.image),
    })?;
    let data = tarball::check(&bytes).with_context(|| format!("the graph data {} is refused", job.source))?;
    drop(bytes);
    let layer = layer::build(&data).context("failed to build the graph-data layer")?;
    let build = build_on_base(job, sources, platforms(archs).as_deref(), layer).await?;
    progress.info(&format!(
        "graph data {} ({} files): layer {} ({} bytes) on {}",
        data.version,
        build.layer.files,
        build.layer.digest,
        build.layer.blob.len(),
        build.base
    ));
    Ok(Prepared::Build(Box::new(build)))
}

/// The layer added to each chosen image of the base; a list of them for a list base with
/// more than one.
async fn build_on_base(
    job: &GraphDataJob,
    sources: &Stores,
    platforms: Option<&[String]>,
    layer: layer::Layer,
) -> Result<Build> {
    let read = || format!("failed to read the graph-data base image {}", job.base);
    let base = push::read_base(sources, &job.base, platforms).await.with_context(read)?;
    let mut built = Vec::with_capacity(base.images.len());
    for image in &base.images {
        let config = push::read_config(sources, image).await.with_context(read)?;
        built.push((image.manifest.digest.clone(), image::build(&image.manifest, &config, &layer)?));
    }
    let configs = built.iter().map(|(_, b)| (b.config_digest.clone(), b.config.clone())).collect();
    let set = match (&base.list, built.as_slice()) {
        (_, []) => anyhow::bail!("{} has no image to build on", job.base),
        (_, [(_, only)]) => push::ImageSet { top: only.manifest.clone(), children: Vec::new() },
        (Some(list), _) => {
            let pairs: Vec<_> = built.iter().map(|(d, b)| (d, &b.manifest)).collect();
            let top = image::list(list, &pairs)?;
            push::ImageSet { top, children: built.iter().map(|(_, b)| b.manifest.clone()).collect() }
        }
        (None, _) => anyhow::bail!("{} is one image, but more than one was built on it", job.base),
    };
    // One image built on: the base is that image; several: the list.
    let base_image = match base.images.as_slice() {
        [only] => only.image.clone(),
        _ => base.image,
    };
    Ok(Build { base: base_image, layer, set, configs })
}

/// Push the prepared image to `job.image` (nothing in a dry run), and say where it is.
pub(crate) async fn push(
    job: &GraphDataJob,
    prepared: Prepared,
    stores: (&Stores, &Stores),
    dry_run: bool,
    progress: &Progress,
) -> Result<GraphDataImage> {
    let to = job.image.with_tag(TAG);
    let (from, set, new, mut report) = match prepared {
        Prepared::Recorded(recorded) => {
            let set = push::read_set(stores.0, &recorded)
                .await
                .with_context(|| format!("failed to read the graph-data image {recorded}"))?;
            (recorded, set, HashMap::new(), GraphDataImage { action: "uploaded", ..empty() })
        }
        Prepared::Build(b) => {
            let mut new: HashMap<_, _> = b.configs.into_iter().collect();
            new.insert(b.layer.digest.clone(), b.layer.blob.clone());
            let report = GraphDataImage {
                action: "built",
                base: Some(b.base.to_string()),
                layer_digest: Some(b.layer.digest.to_string()),
                layer_size: Some(b.layer.blob.len() as u64),
                ..empty()
            };
            (b.base, b.set, new, report)
        }
    };
    let pinned = job.image.with_digest(&set.top.digest);
    report.image = pinned.to_string();
    report.pinned = Some(pinned.clone());
    if dry_run {
        report.action = "planned";
        return Ok(report);
    }
    let pushed = push::push(stores, &from, &to, &set, &new)
        .await
        .with_context(|| format!("failed to push the graph-data image to {to}"))?;
    if pushed.present {
        report.action = "present";
    }
    progress.info(&format!("graph-data image {pinned} ({} blobs copied)", pushed.blobs_copied));
    Ok(report)
}

fn empty() -> GraphDataImage {
    GraphDataImage { image: String::new(), action: "", base: None, layer_digest: None, layer_size: None, pinned: None }
}

/// The graph-data image a `--from-dir` tree records, if any.
fn recorded(from_dir: Option<&Path>) -> Result<Option<ImageRef>> {
    let Some(dir) = from_dir else { return Ok(None) };
    let Some(text) = crate::select::read_record(dir)?.and_then(|r| r.graph_data_image) else { return Ok(None) };
    let image = ImageRef::parse(&text)
        .with_context(|| format!("the release record of {} names an invalid graph-data image", dir.display()))?;
    Ok(Some(image))
}

/// The base platforms the releases run on (`x86_64` → `linux/amd64`); `None` (every linux
/// platform of a list) when one of them is multi-arch.
fn platforms(archs: &[&str]) -> Option<Vec<String>> {
    if archs.contains(&"multi") {
        return None;
    }
    let mut out: Vec<String> = archs
        .iter()
        .map(|arch| match *arch {
            "x86_64" => "linux/amd64".to_string(),
            "aarch64" => "linux/arm64".to_string(),
            other => format!("linux/{other}"),
        })
        .collect();
    out.sort();
    out.dedup();
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_releases_architectures_name_the_base_platforms() {
        let names = |archs: &[&str]| super::platforms(archs);
        let amd_arm = Some(vec!["linux/amd64".to_string(), "linux/arm64".to_string()]);
        assert_eq!(names(&["x86_64", "aarch64", "x86_64"]), amd_arm);
        assert_eq!(names(&["s390x"]), Some(vec!["linux/s390x".to_string()]));
        assert_eq!(names(&["x86_64", "multi"]), None, "every platform for a multi-arch release");
    }
}
