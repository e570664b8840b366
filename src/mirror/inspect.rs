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

/// Fetch every mapping's manifest (and the platform manifests of lists), `limit` at a time.
pub async fn read_sources(
    sources: &Stores,
    mappings: &[Mapping],
    known: &[RawManifest],
    limit: usize,
) -> Result<BTreeMap<Digest, SourceImage>> {
    let mut unique: BTreeMap<Digest, &ImageRef> = BTreeMap::new();
    for m in mappings {
        unique.entry(m.digest.clone()).or_insert(&m.source);
    }
    let images: Vec<(Digest, SourceImage)> = stream::iter(unique)
        .map(|(digest, source)| async move {
            let known = known.iter().find(|k| k.digest == digest).cloned();
            let image = read_image(sources, source, &digest, known).await?;
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

/// Ask the destination what it has: tags and manifests of every mapping, then the blobs of
/// the images it lacks. In a disk tree the blobs of complete images are checked too (sizes,
/// or contents with [`TreeCheck::Contents`]): an image with a missing, truncated or corrupt
/// blob counts as absent, so the rerun repairs it.
pub async fn read_destination(
    dests: &Stores,
    mappings: &[Mapping],
    sources: &BTreeMap<Digest, SourceImage>,
    limit: usize,
    check: TreeCheck,
) -> Result<DestState> {
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
    let mut missing_blobs: HashSet<(ImageRef, Digest)> = HashSet::new();
    for ((repo, tag, tagged, present), m) in probes.into_iter().zip(mappings) {
        if let Some(d) = tagged {
            state.tags.insert((repo.clone(), tag), d);
        }
        let on_disk = m.destination.registry().is_none();
        if let Some(d) = present {
            state.manifests.insert((repo, d));
            if !on_disk {
                continue;
            }
        }
        if let Some(img) = sources.get(&m.digest) {
            for blob in img.blobs.iter().chain(img.children.iter().flat_map(|c| c.blobs.iter())) {
                missing_blobs.insert((m.destination.repo_only(), blob.digest.clone()));
            }
        }
    }
    let found: Vec<Option<((String, Digest), u64)>> = stream::iter(missing_blobs)
        .map(|(dest, digest)| async move {
            let what = || format!("failed to inspect blob {digest} at {}", dest.name());
            let size = match (dests.disk(), dest.registry(), check) {
                (Some(disk), None, TreeCheck::Contents) => {
                    disk.intact_blob_size(&dest.repository, &digest).await.with_context(what)?
                }
                _ => dests.get(&dest)?.blob_size(&dest.repository, &digest).await.with_context(what)?,
            };
            Ok::<_, anyhow::Error>(size.map(|s| ((dest.repository.clone(), digest), s)))
        })
        .buffer_unordered(limit)
        .try_collect()
        .await?;
    state.blobs.extend(found.into_iter().flatten());
    forget_damaged(&mut state, mappings, sources);
    Ok(state)
}

/// A disk image whose blobs are not all there, whole, is not complete: forget its manifest
/// so the plan copies what is missing and stores the manifest again.
fn forget_damaged(state: &mut DestState, mappings: &[Mapping], sources: &BTreeMap<Digest, SourceImage>) {
    for m in mappings.iter().filter(|m| m.destination.registry().is_none()) {
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
