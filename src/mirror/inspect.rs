//! Reading what the plan needs: the source manifests and the destination's state.

use std::collections::{BTreeMap, HashSet};

use anyhow::{Context as _, Result};
use futures_util::{stream, StreamExt, TryStreamExt};

use super::plan::{DestState, Mapping, SourceImage};
use super::stores::Stores;
use crate::digest::Digest;
use crate::manifest::{self, Parsed};
use crate::reference::ImageRef;
use crate::store::{ImageStore, RawManifest};

/// The images whose manifests (and blob lists) the plan needs: every mapping but those the
/// destination already has, tagged, where `whole` says its manifest implies its blobs (a
/// registry); a tree's images are checked blob by blob.
pub fn images_to_read<'a>(
    mappings: &'a [Mapping],
    state: &DestState,
    whole: impl Fn(&ImageRef) -> bool,
) -> Vec<&'a Mapping> {
    mappings.iter().filter(|m| !(state.has_manifest(m) && state.has_tag(m) && whole(&m.destination))).collect()
}

/// Read the manifest (and the platform manifests of a list) of each image `wanted`, `limit`
/// at a time: from the destination when it has the manifest already (a rerun: no round trip
/// to a distant source), else, or when that copy cannot be read, from the source.
pub async fn read_images(
    sources: &Stores,
    dests: &Stores,
    wanted: &[&Mapping],
    state: &DestState,
    known: &[RawManifest],
    limit: usize,
) -> Result<BTreeMap<Digest, SourceImage>> {
    let mut unique: BTreeMap<Digest, &Mapping> = BTreeMap::new();
    for m in wanted {
        unique.entry(m.digest.clone()).or_insert(m);
    }
    let images: Vec<(Digest, SourceImage)> = stream::iter(unique)
        .map(|(digest, m)| async move {
            let known = known.iter().find(|k| k.digest == digest).cloned();
            if state.has_manifest(m) && known.is_none() {
                let at = m.destination.with_digest(&digest);
                if let Ok(image) = read_image(dests, &at, &digest, None).await {
                    return Ok((digest, image));
                }
            }
            let image = read_image(sources, &m.source, &digest, known).await?;
            Ok::<_, anyhow::Error>((digest, image))
        })
        .buffer_unordered(limit)
        .try_collect()
        .await?;
    Ok(images.into_iter().collect())
}

async fn read_image(
    sources: &Stores,
    source: &ImageRef,
    digest: &Digest,
    known: Option<RawManifest>,
) -> Result<SourceImage> {
    let store = sources.get(source)?;
    let repo = &source.repository;
    let top = match known {
        Some(m) => m,
        None => store
            .get_manifest(repo, digest.as_str())
            .await
            .with_context(|| format!("failed to read manifest of {}", source.with_digest(digest)))?,
    };
    let describe = || format!("manifest of {}", source.with_digest(digest));
    let parsed = manifest::parse(&top.bytes, &top.media_type).with_context(describe)?;
    match parsed {
        Parsed::Image { .. } => Ok(SourceImage { blobs: parsed.blobs(), manifest: top, children: Vec::new() }),
        Parsed::List { manifests } => {
            let mut children = Vec::with_capacity(manifests.len());
            let mut held = 0;
            for child in manifests {
                held += usize::try_from(child.size).unwrap_or(usize::MAX);
                if held > manifest::MAX_LIST_CHILD_BYTES {
                    anyhow::bail!(
                        "the platform manifests of {} add up to more than {} MiB: refused (real ones are a few KiB each)",
                        describe(),
                        manifest::MAX_LIST_CHILD_BYTES >> 20
                    );
                }
                let m = store
                    .get_manifest(repo, child.digest.as_str())
                    .await
                    .with_context(|| format!("failed to read platform manifest {} of {}", child.digest, source))?;
                // A size the list understated counts as it really is.
                held += m.bytes.len().saturating_sub(usize::try_from(child.size).unwrap_or(usize::MAX));
                if held > manifest::MAX_LIST_CHILD_BYTES {
                    anyhow::bail!("the platform manifests of {} are larger than the list says: refused", describe());
                }
                let parsed = manifest::parse(&m.bytes, &m.media_type).with_context(describe)?;
                if let Parsed::List { .. } = parsed {
                    anyhow::bail!("{} nests a manifest list inside a manifest list", describe());
                }
                let blobs = parsed.blobs();
                children.push(SourceImage { manifest: m, blobs, children: Vec::new() });
            }
            Ok(SourceImage { manifest: top, blobs: Vec::new(), children })
        }
    }
}

/// How much of a disk destination to trust before a rerun skips an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TreeCheck {
    /// Every blob of a complete image is there with its size (a stat each).
    #[default]
    Sizes,
    /// Every blob is read and hashed (`--verify`).
    Contents,
}

/// Ask the destination which tags and manifests of the mappings it has, `limit` at a time.
pub async fn read_destination(dests: &Stores, mappings: &[Mapping], limit: usize) -> Result<DestState> {
    let mut state = DestState::default();
    let probes: Vec<(String, String, Option<Digest>, Option<Digest>)> = stream::iter(mappings)
        .map(|m| async move {
            let store = dests.get(&m.destination)?;
            let repo = m.destination.repository.clone();
            let tag = m.destination.tag.clone().unwrap_or_default();
            let what = || format!("failed to inspect {} at the destination", m.destination);
            let tagged = store.manifest_digest(&repo, &tag).await.with_context(what)?;
            let present = match &tagged {
                Some(d) if *d == m.digest => Some(d.clone()),
                _ => store.manifest_digest(&repo, m.digest.as_str()).await.with_context(what)?,
            };
            Ok::<_, anyhow::Error>((repo, tag, tagged, present))
        })
        .buffer_unordered(limit)
        .try_collect()
        .await?;
    for (repo, tag, tagged, present) in probes {
        if let Some(d) = tagged {
            state.tags.insert((repo.clone(), tag), d);
        }
        if let Some(d) = present {
            state.manifests.insert((repo, d));
        }
    }
    Ok(state)
}

/// Ask the destination which blobs of the images it lacks it has. In a disk tree the blobs
/// of complete images are checked too (sizes, or contents with [`TreeCheck::Contents`]): an
/// image with a missing, truncated or corrupt blob counts as absent, so the rerun repairs it.
pub async fn read_destination_blobs(
    dests: &Stores,
    mappings: &[Mapping],
    images: &BTreeMap<Digest, SourceImage>,
    mut state: DestState,
    limit: usize,
    check: TreeCheck,
) -> Result<DestState> {
    let mut missing_blobs: HashSet<(ImageRef, Digest)> = HashSet::new();
    for m in mappings {
        if state.has_manifest(m) && dests.manifest_implies_blobs(&m.destination) {
            continue;
        }
        if let Some(img) = images.get(&m.digest) {
            for blob in img.blobs.iter().chain(img.children.iter().flat_map(|c| c.blobs.iter())) {
                missing_blobs.insert((m.destination.repo_only(), blob.digest.clone()));
            }
        }
    }
    let found: Vec<Option<((String, Digest), u64)>> = stream::iter(missing_blobs)
        .map(|(dest, digest)| async move {
            let what = || format!("failed to inspect blob {digest} at {}", dest.name());
            let store = dests.get(&dest)?;
            let size = match check {
                TreeCheck::Contents => store.intact_blob_size(&dest.repository, &digest).await,
                TreeCheck::Sizes => store.blob_size(&dest.repository, &digest).await,
            };
            let size = size.with_context(what)?;
            Ok::<_, anyhow::Error>(size.map(|s| ((dest.repository.clone(), digest), s)))
        })
        .buffer_unordered(limit)
        .try_collect()
        .await?;
    state.blobs.extend(found.into_iter().flatten());
    forget_damaged(&mut state, mappings, images, |dest| dests.manifest_implies_blobs(dest));
    Ok(state)
}

/// A disk image whose blobs are not all there, whole, is not complete: forget its manifest
/// so the plan copies what is missing and stores the manifest again.
fn forget_damaged(
    state: &mut DestState,
    mappings: &[Mapping],
    sources: &BTreeMap<Digest, SourceImage>,
    whole: impl Fn(&ImageRef) -> bool,
) {
    for m in mappings.iter().filter(|m| !whole(&m.destination)) {
        let repo = m.destination.repository.clone();
        let Some(img) = sources.get(&m.digest) else { continue };
        let mut blobs = img.blobs.iter().chain(img.children.iter().flat_map(|c| c.blobs.iter()));
        let whole = blobs.all(|b| {
            state.blobs.get(&(repo.clone(), b.digest.clone())).is_some_and(|size| b.size == 0 || *size == b.size)
        });
        if !whole {
            state.manifests.remove(&(repo, m.digest.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(to: &str, n: u8) -> Mapping {
        let digest = Digest::of(&[n]);
        let source = ImageRef::parse("src.io/ocp/art").unwrap().with_digest(&digest);
        let destination = ImageRef::parse(to).unwrap().with_tag(&format!("4.1-x86_64-c{n}"));
        Mapping { name: format!("c{n}"), origin: source.clone(), source, destination, digest }
    }

    fn complete(state: &mut DestState, m: &Mapping) {
        let repo = m.destination.repository.clone();
        state.manifests.insert((repo.clone(), m.digest.clone()));
        state.tags.insert((repo, m.destination.tag.clone().unwrap()), m.digest.clone());
    }

    #[test]
    fn only_images_a_registry_lacks_are_read_but_every_image_of_a_tree() {
        let maps = vec![mapping("dst.io/mirror", 1), mapping("dst.io/mirror", 2), mapping("dst.io/mirror", 3)];
        let mut state = DestState::default();
        complete(&mut state, &maps[0]);
        // Present but tagged elsewhere: the tag is pushed again, so its manifest is needed.
        state.manifests.insert(("mirror".into(), maps[1].digest.clone()));
        let registry = |_: &ImageRef| true;
        let names: Vec<&str> = images_to_read(&maps, &state, registry).iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["c2", "c3"]);

        let tree = vec![mapping("file://openshift/release", 1)];
        let mut state = DestState::default();
        complete(&mut state, &tree[0]);
        let tree_store = |_: &ImageRef| false;
        assert_eq!(
            images_to_read(&tree, &state, tree_store).len(),
            1,
            "a tree's blobs are checked, so its manifest is read"
        );
    }
}
