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
    /// `--to-release-repo`: release images go here (tagged `<version>-<arch>`), components
    /// stay in `to`; the layout the update service needs.
    pub release_repo: Option<ImageRef>,
}

impl Target {
    /// oc's `Mirror prefix:` lines: the repository of a registry destination, then the
    /// `--to-release-image` reference when given.
    pub(crate) fn mirror_prefixes(&self) -> Vec<String> {
        let repo = self.to.registry().map(|_| self.to.name());
        let release_repo = self.release_repo.as_ref().filter(|r| r.registry().is_some()).map(ImageRef::name);
        repo.into_iter().chain(release_repo).chain(self.release_image.as_ref().map(ToString::to_string)).collect()
    }

    /// Where a release tagged `tag` goes: `--to-release-image`, else `--to-release-repo`,
    /// else `--to`.
    pub fn release_destination(&self, tag: &str) -> ImageRef {
        match (&self.release_image, &self.release_repo) {
            (Some(r), _) => r.clone(),
            (None, Some(repo)) => repo.with_tag(tag),
            (None, None) => self.to.with_tag(tag),
        }
    }
}

/// One image to mirror: the payload's name for it, where the payload says it lives, where
/// we read it from, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The component name, or empty for the release image itself.
    pub(crate) name: String,
    /// The reference the payload (or the user) gave: what mirror configuration covers.
    pub(crate) origin: ImageRef,
    /// Where the bytes are read: `origin`, or the `--from-dir` repository.
    pub(crate) source: ImageRef,
    /// Destination repository and tag.
    pub(crate) destination: ImageRef,
    pub(crate) digest: Digest,
}

impl Mapping {
    pub(crate) fn is_release(&self) -> bool {
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
        let destination = target.release_destination(&tag);
        out.push(Mapping {
            name: String::new(),
            origin: release.origin.clone().unwrap_or_else(|| release.source.with_digest(&release.digest)),
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
    pub(crate) manifest: RawManifest,
    /// Config and layers (empty for a list).
    pub(crate) blobs: Vec<Descriptor>,
    /// The platform images of a manifest list, all of them.
    pub(crate) children: Vec<SourceImage>,
}

/// What the destination already has.
#[derive(Debug, Clone, Default)]
pub struct DestState {
    /// (repository, digest) of manifests present.
    pub(crate) manifests: HashSet<(String, Digest)>,
    /// (repository, tag) → the digest the tag points at now.
    pub(crate) tags: BTreeMap<(String, String), Digest>,
    /// (repository, digest) → size of blobs present.
    pub(crate) blobs: BTreeMap<(String, Digest), u64>,
    /// Repositories whose blobs were not asked about, because their registry does not know
    /// them: nothing was tagged there yet, so every blob goes to the copy, and its upload
    /// starts as a mount from that repository, which finds a blob an interrupted run left.
    pub(crate) unasked: BTreeSet<String>,
}

impl DestState {
    /// Whether the destination has the mapping's manifest (in its repository).
    pub(crate) fn has_manifest(&self, m: &Mapping) -> bool {
        self.manifests.contains(&(m.destination.repository.clone(), m.digest.clone()))
    }

    /// Whether the mapping's tag at the destination points at the mapping's digest.
    pub(crate) fn has_tag(&self, m: &Mapping) -> bool {
        let key = (m.destination.repository.clone(), m.destination.tag.clone().unwrap_or_default());
        self.tags.get(&key) == Some(&m.digest)
    }
}

/// How a blob gets to its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BlobAction {
    Copy,
    /// Cross-repository mount: same registry, no bytes move.
    Mount,
}

/// One blob to transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobTask {
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    pub(crate) from: ImageRef,
    pub(crate) to: ImageRef,
    pub(crate) action: BlobAction,
    /// The destination was not asked whether it has the blob ([`DestState::unasked`]).
    pub(crate) unasked: bool,
}

/// One manifest to store, under its digest (list children) or a tag.
#[derive(Debug, Clone)]
pub(crate) struct ManifestTask {
    pub(crate) to: ImageRef,
    pub(crate) reference: String,
    pub(crate) manifest: RawManifest,
}

/// Everything the executor will do, and what it can skip.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub(crate) mappings: Vec<Mapping>,
    /// Blobs to transfer, largest first.
    pub(crate) blobs: Vec<BlobTask>,
    pub(crate) skipped_blobs: usize,
    pub(crate) skipped_bytes: u64,
    /// Platform manifests of lists, stored by digest before anything refers to them.
    pub(crate) children: Vec<ManifestTask>,
    /// Tagged manifests, stored last.
    pub(crate) tagged: Vec<ManifestTask>,
    /// Mappings already complete at the destination.
    pub(crate) complete: usize,
    /// Blobs counted as present because an earlier transfer carried them (`--since`).
    pub(crate) relied_on: BTreeMap<Digest, u64>,
}

impl Plan {
    pub(crate) fn bytes_to_copy(&self) -> u64 {
        self.blobs.iter().filter(|b| b.action == BlobAction::Copy).map(|b| b.size).sum()
    }

    pub(crate) fn is_noop(&self) -> bool {
        self.blobs.is_empty() && self.children.is_empty() && self.tagged.is_empty()
    }
}

/// Compute the plan. `sources` maps each mapping's digest to what was read (an image
/// already complete at the destination needs no entry); `can_mount` says whether a source
/// and destination share a registry.
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
        let repo = m.destination.repository.clone();
        let tag = m.destination.tag.clone().unwrap_or_default();
        let present = dest.has_manifest(m);
        if present && dest.has_tag(m) {
            plan.complete += 1;
            continue;
        }
        let Some(image) = sources.get(&m.digest) else { continue };
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
                            action: if can_mount(&m.source, &m.destination) {
                                BlobAction::Mount
                            } else {
                                BlobAction::Copy
                            },
                            unasked: dest.unasked.contains(&repo),
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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn digest(n: u8) -> Digest {
        Digest::of(&[n])
    }

    fn desc(n: u8, size: u64) -> Descriptor {
        Descriptor { digest: digest(n), size, media_type: String::new(), platform: None }
    }

    fn image(n: u8, blobs: &[(u8, u64)]) -> SourceImage {
        let bytes = Bytes::from(vec![n, n]);
        SourceImage {
            manifest: RawManifest { digest: Digest::of(&bytes), bytes, media_type: String::new() },
            blobs: blobs.iter().map(|(b, s)| desc(*b, *s)).collect(),
            children: Vec::new(),
        }
    }

    fn mapping(name: &str, img: &SourceImage) -> Mapping {
        let src = ImageRef::parse("src.io/ocp/art").unwrap().with_digest(&img.manifest.digest);
        Mapping {
            name: name.into(),
            origin: src.clone(),
            source: src,
            destination: ImageRef::parse_repository("dst.io/mirror").unwrap().with_tag(&format!("4.1-x86_64-{name}")),
            digest: img.manifest.digest.clone(),
        }
    }

    fn setup() -> (Vec<Mapping>, BTreeMap<Digest, SourceImage>) {
        let a = image(1, &[(10, 100), (11, 5)]);
        let b = image(2, &[(10, 100), (12, 900)]);
        let maps = vec![mapping("a", &a), mapping("b", &b)];
        let sources = [a, b].into_iter().map(|i| (i.manifest.digest.clone(), i)).collect();
        (maps, sources)
    }

    #[test]
    fn copies_each_shared_blob_once_largest_first() {
        let (maps, sources) = setup();
        let p = plan(maps, &sources, &DestState::default(), |_, _| false);
        let order: Vec<u64> = p.blobs.iter().map(|b| b.size).collect();
        assert_eq!(order, vec![900, 100, 5], "blob 10 is shared and copied once");
        assert_eq!(p.bytes_to_copy(), 1005);
        assert_eq!(p.tagged.len(), 2);
        assert!(!p.is_noop());
    }

    #[test]
    fn a_complete_destination_gives_an_empty_plan() {
        let (maps, sources) = setup();
        let mut dest = DestState::default();
        for m in &maps {
            let repo = m.destination.repository.clone();
            dest.manifests.insert((repo.clone(), m.digest.clone()));
            dest.tags.insert((repo, m.destination.tag.clone().unwrap()), m.digest.clone());
        }
        let p = plan(maps.clone(), &sources, &dest, |_, _| false);
        assert!(p.is_noop());
        assert_eq!(p.complete, 2);
        let p = plan(maps, &BTreeMap::new(), &dest, |_, _| false);
        assert_eq!((p.is_noop(), p.complete), (true, 2), "complete images need no source manifest");
    }

    #[test]
    fn present_blobs_are_skipped_and_a_missing_tag_is_only_retagged() {
        let (maps, sources) = setup();
        let mut dest = DestState::default();
        dest.blobs.insert(("mirror".into(), digest(12)), 900);
        dest.manifests.insert(("mirror".into(), maps[0].digest.clone()));
        let p = plan(maps, &sources, &dest, |_, _| false);
        assert_eq!(p.skipped_blobs, 1);
        assert_eq!(p.skipped_bytes, 900);
        let sizes: Vec<u64> = p.blobs.iter().map(|b| b.size).collect();
        assert_eq!(sizes, vec![100], "only b's missing layer; a's manifest is present");
        assert_eq!(p.tagged.len(), 2, "a is retagged, b is pushed");
    }

    #[test]
    fn a_blob_of_the_wrong_size_is_copied_again() {
        let (maps, sources) = setup();
        let mut dest = DestState::default();
        dest.blobs.insert(("mirror".into(), digest(12)), 899);
        let p = plan(maps, &sources, &dest, |_, _| false);
        assert!(p.blobs.iter().any(|b| b.digest == digest(12)));
    }

    #[test]
    fn blobs_of_a_repository_not_asked_about_are_copied_and_marked_so() {
        let (maps, sources) = setup();
        let p = plan(maps.clone(), &sources, &DestState::default(), |_, _| false);
        assert!(p.blobs.iter().all(|b| !b.unasked), "asked, found absent");
        let dest = DestState { unasked: ["mirror".to_string()].into(), ..DestState::default() };
        let p = plan(maps, &sources, &dest, |_, _| false);
        assert_eq!(p.blobs.len(), 3);
        assert!(p.blobs.iter().all(|b| b.unasked), "the upload finds out");
    }

    #[test]
    fn same_registry_blobs_are_mounted() {
        let (maps, sources) = setup();
        let p = plan(maps, &sources, &DestState::default(), |_, _| true);
        assert!(p.blobs.iter().all(|b| b.action == BlobAction::Mount));
        assert_eq!(p.bytes_to_copy(), 0);
    }

    #[test]
    fn list_children_are_stored_before_the_list() {
        let (mut maps, mut sources) = setup();
        let mut list = image(3, &[]);
        list.children = vec![image(4, &[(20, 1)]), image(5, &[(21, 2)])];
        maps.push(mapping("multi", &list));
        sources.insert(list.manifest.digest.clone(), list);
        let p = plan(maps, &sources, &DestState::default(), |_, _| false);
        assert_eq!(p.children.len(), 2);
        assert!(p.blobs.iter().any(|b| b.digest == digest(21)), "every platform's blobs");
    }
}
