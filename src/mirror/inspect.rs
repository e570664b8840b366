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
            for child in manifests {
                let m = store
                    .get_manifest(repo, child.digest.as_str())
                    .await
                    .with_context(|| format!("failed to read platform manifest {} of {}", child.digest, source))?;
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

/// Ask the destination what it has: tags and manifests of every mapping, then the blobs of
/// the images it lacks.
pub async fn read_destination(
    dests: &Stores,
    mappings: &[Mapping],
    sources: &BTreeMap<Digest, SourceImage>,
    limit: usize,
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
        if let Some(d) = present {
            state.manifests.insert((repo, d));
            continue;
        }
        if let Some(img) = sources.get(&m.digest) {
            for blob in img.blobs.iter().chain(img.children.iter().flat_map(|c| c.blobs.iter())) {
                missing_blobs.insert((m.destination.repo_only(), blob.digest.clone()));
            }
        }
    }
    let found: Vec<Option<((String, Digest), u64)>> = stream::iter(missing_blobs)
        .map(|(dest, digest)| async move {
            let store = dests.get(&dest)?;
            let size = store
                .blob_size(&dest.repository, &digest)
                .await
                .with_context(|| format!("failed to inspect blob {digest} at {}", dest.name()))?;
            Ok::<_, anyhow::Error>(size.map(|s| ((dest.repository.clone(), digest), s)))
        })
        .buffer_unordered(limit)
        .try_collect()
        .await?;
    state.blobs.extend(found.into_iter().flatten());
    Ok(state)
}
