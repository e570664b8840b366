//! The mirror plan: a plain value computed from the release, the source manifests and the
//! destination's state. `--dry-run` prints it; the executor carries it out.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::reference::ImageRef;
use crate::release::Release;
use crate::store::RawManifest;

/// Where the images go, from the command line.
#[derive(Debug, Clone)]
pub struct Target {
    /// `--to` (or the `file://` repository of `--to-dir`).
    pub to: ImageRef,
    /// `--to-release-image`.
    pub release_image: Option<ImageRef>,
    /// `--skip-release-image`.
    pub skip_release_image: bool,
}

/// One image to mirror: the payload's name for it, where the payload says it lives, where
/// we read it from, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The component name, or empty for the release image itself.
    pub name: String,
    /// The reference the payload (or the user) gave: what mirror configuration covers.
    pub origin: ImageRef,
    /// Where the bytes are read: `origin`, or the `--from-dir` repository.
    pub source: ImageRef,
    /// Destination repository and tag.
    pub destination: ImageRef,
    pub digest: Digest,
}

impl Mapping {
    pub fn is_release(&self) -> bool {
        self.name.is_empty()
    }
}

/// Compute the mappings: the release to `<to>:<version>-<arch>` (or `--to-release-image`),
/// each component to `<to>:<version>-<arch>-<name>`. Components of a `file://` release are
/// read from the release's own disk repository, by digest.
pub fn mappings(release: &Release, target: &Target) -> Vec<Mapping> {
    let tag = release.tag();
    let from_disk = release.source.registry().is_none();
    let mut out = Vec::with_capacity(release.components.len() + 1);
    if !target.skip_release_image {
        let destination = match &target.release_image {
            Some(r) => r.clone(),
            None => target.to.with_tag(&tag),
        };
        out.push(Mapping {
            name: String::new(),
            origin: release.source.with_digest(&release.digest),
            source: release.source.with_digest(&release.digest),
            destination,
            digest: release.digest.clone(),
        });
    }
    for c in &release.components {
        let digest = c.source.digest.clone().unwrap_or_else(|| release.digest.clone());
        let source = if from_disk { release.source.with_digest(&digest) } else { c.source.clone() };
        out.push(Mapping {
            name: c.name.clone(),
            origin: c.source.clone(),
            source,
            destination: target.to.with_tag(&format!("{tag}-{}", c.name)),
            digest,
        });
    }
    out
}

/// A source image as read: its manifest and, for a list, its platform images.
#[derive(Debug, Clone)]
pub struct SourceImage {
    pub manifest: RawManifest,
    /// Config and layers (empty for a list).
    pub blobs: Vec<Descriptor>,
    /// The platform images of a manifest list, all of them.
    pub children: Vec<SourceImage>,
}

/// What the destination already has.
#[derive(Debug, Clone, Default)]
pub struct DestState {
    /// (repository, digest) of manifests present.
    pub manifests: HashSet<(String, Digest)>,
    /// (repository, tag) → the digest the tag points at now.
    pub tags: BTreeMap<(String, String), Digest>,
    /// (repository, digest) → size of blobs present.
    pub blobs: BTreeMap<(String, Digest), u64>,
}

/// How a blob gets to its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobAction {
    Copy,
    /// Cross-repository mount: same registry, no bytes move.
    Mount,
}

/// One blob to transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobTask {
    pub digest: Digest,
    pub size: u64,
    pub from: ImageRef,
    pub to: ImageRef,
    pub action: BlobAction,
}

/// One manifest to store, under its digest (list children) or a tag.
#[derive(Debug, Clone)]
pub struct ManifestTask {
    pub to: ImageRef,
    pub reference: String,
    pub manifest: RawManifest,
}

/// Everything the executor will do, and what it can skip.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub mappings: Vec<Mapping>,
    /// Blobs to transfer, largest first.
    pub blobs: Vec<BlobTask>,
    pub skipped_blobs: usize,
    pub skipped_bytes: u64,
    /// Platform manifests of lists, stored by digest before anything refers to them.
    pub children: Vec<ManifestTask>,
    /// Tagged manifests, stored last.
    pub tagged: Vec<ManifestTask>,
    /// Mappings already complete at the destination.
    pub complete: usize,
}

impl Plan {
    pub fn bytes_to_copy(&self) -> u64 {
        self.blobs.iter().filter(|b| b.action == BlobAction::Copy).map(|b| b.size).sum()
    }

    pub fn is_noop(&self) -> bool {
        self.blobs.is_empty() && self.children.is_empty() && self.tagged.is_empty()
    }
}

/// Compute the plan. `sources` maps each mapping's digest to what was read; `can_mount`
/// says whether a source and destination share a registry.
pub fn plan(
    mappings: Vec<Mapping>,
    sources: &BTreeMap<Digest, SourceImage>,
    dest: &DestState,
    can_mount: impl Fn(&ImageRef, &ImageRef) -> bool,
) -> Plan {
    let mut plan = Plan::default();
    let mut seen_blobs: BTreeSet<(String, Digest)> = BTreeSet::new();
    let mut seen_children: BTreeSet<(String, Digest)> = BTreeSet::new();
    for m in &mappings {
        let Some(image) = sources.get(&m.digest) else { continue };
        let repo = m.destination.repository.clone();
        let tag = m.destination.tag.clone().unwrap_or_default();
        let tag_ok = dest.tags.get(&(repo.clone(), tag.clone())) == Some(&m.digest);
        let present = dest.manifests.contains(&(repo.clone(), m.digest.clone()));
        if tag_ok && present {
            plan.complete += 1;
            continue;
        }
        if !present {
            let images = std::iter::once(image).chain(image.children.iter());
            for img in images {
                for blob in &img.blobs {
                    if !seen_blobs.insert((repo.clone(), blob.digest.clone())) {
                        continue;
                    }
                    match dest.blobs.get(&(repo.clone(), blob.digest.clone())) {
                        Some(size) if *size == blob.size || blob.size == 0 => {
                            plan.skipped_blobs += 1;
                            plan.skipped_bytes += blob.size;
                        }
                        _ => plan.blobs.push(BlobTask {
                            digest: blob.digest.clone(),
                            size: blob.size,
                            from: m.source.clone(),
                            to: m.destination.clone(),
                            action: if can_mount(&m.source, &m.destination) { BlobAction::Mount } else { BlobAction::Copy },
                        }),
                    }
                }
            }
            for child in &image.children {
                if seen_children.insert((repo.clone(), child.manifest.digest.clone()))
                    && !dest.manifests.contains(&(repo.clone(), child.manifest.digest.clone()))
                {
                    plan.children.push(ManifestTask {
                        to: m.destination.clone(),
                        reference: child.manifest.digest.to_string(),
                        manifest: child.manifest.clone(),
                    });
                }
            }
        }
        plan.tagged.push(ManifestTask { to: m.destination.clone(), reference: tag, manifest: image.manifest.clone() });
    }
    plan.blobs.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.digest.cmp(&b.digest)));
    plan.mappings = mappings;
    plan
}
