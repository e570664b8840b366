//! The store side of the graph-data image: the base image read (its platform image, when it
//! is a list), and an image pushed through the store interface (registry or disk alike): its
//! blobs first (skipped when present, mounted within a registry, else streamed from where
//! they are), then its manifest by digest and under its tag.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;
use futures_util::StreamExt as _;

use crate::digest::Digest;
use crate::manifest::{self, Descriptor, Parsed};
use crate::mirror::{AnyStore, Stores};
use crate::reference::ImageRef;
use crate::store::{BlobReader, ImageStore, RawManifest};

/// The largest base config read: a real one is a few KiB.
const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// An image as read from a store: its manifest and config.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// Pinned to the (platform) manifest's digest.
    pub image: ImageRef,
    pub manifest: RawManifest,
    pub config: Descriptor,
}

/// The image `reference` names, for the platform `linux/<arch>` when it is a list.
pub async fn read_image(stores: &Stores, reference: &ImageRef, arch: &str) -> Result<StoredImage> {
    let store = stores.get(reference)?;
    let repo = reference.repository.as_str();
    let mut manifest = store.get_manifest(repo, &reference.reference()).await?;
    let mut parsed = manifest::parse(&manifest.bytes, &manifest.media_type)?;
    if let Parsed::List { manifests } = &parsed {
        let platform = format!("linux/{arch}");
        let child = manifests
            .iter()
            .find(|m| m.platform.as_deref().is_some_and(|p| p == platform || p.starts_with(&format!("{platform}/"))))
            .ok_or_else(|| anyhow!("{reference} has no image for {platform}"))?;
        manifest = store.get_manifest(repo, child.digest.as_str()).await?;
        parsed = manifest::parse(&manifest.bytes, &manifest.media_type)?;
    }
    let Parsed::Image { config, .. } = parsed else { bail!("{reference} is a list of lists") };
    Ok(StoredImage { image: reference.with_digest(&manifest.digest), manifest, config })
}

/// A whole blob of `image` (its config), bounded.
pub async fn read_config(stores: &Stores, image: &StoredImage) -> Result<Bytes> {
    if image.config.size > MAX_CONFIG_BYTES {
        bail!("the config of {} is larger than {MAX_CONFIG_BYTES} bytes", image.image);
    }
    let store = stores.get(&image.image)?;
    let mut reader = store.get_blob(&image.image.repository, &image.config.digest).await?;
    let mut bytes = Vec::new();
    while let Some(chunk) = reader.stream.next().await {
        bytes.extend_from_slice(&chunk?);
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            bail!("the config of {} is larger than {MAX_CONFIG_BYTES} bytes", image.image);
        }
    }
    if Digest::of(&bytes) != image.config.digest {
        bail!("the config of {} does not match its digest", image.image);
    }
    Ok(Bytes::from(bytes))
}

/// What a push did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pushed {
    /// The destination had the manifest already.
    pub present: bool,
    pub blobs_copied: usize,
}

/// Push `manifest` to `to` under its digest and `tag`: the blobs in `new` from memory, the
/// others from `from`'s repository.
pub async fn push(
    stores: (&Stores, &Stores),
    from: &ImageRef,
    to: &ImageRef,
    manifest: &RawManifest,
    new: &HashMap<Digest, Bytes>,
) -> Result<Pushed> {
    let (sources, dests) = stores;
    let dest = dests.get(to)?;
    let repo = to.repository.as_str();
    let tag = to.tag.clone().unwrap_or_else(|| "latest".to_string());
    let present = dest.manifest_digest(repo, manifest.digest.as_str()).await?.is_some();
    let mut pushed = Pushed { present, blobs_copied: 0 };
    if !present {
        let blobs = manifest::parse(&manifest.bytes, &manifest.media_type)?.blobs();
        let source = sources.get(from)?;
        let mount = from.registry().is_some() && from.registry() == to.registry();
        for blob in &blobs {
            if copy_blob(&source, from, &dest, repo, blob, new.get(&blob.digest), mount).await? {
                pushed.blobs_copied += 1;
            }
        }
        dest.put_manifest(repo, manifest.digest.as_str(), manifest).await?;
    }
    if dest.manifest_digest(repo, &tag).await?.as_ref() != Some(&manifest.digest) {
        dest.put_manifest(repo, &tag, manifest).await?;
    }
    Ok(pushed)
}

/// One blob to `repo` of `dest`, unless it is there; `true` when bytes moved.
async fn copy_blob(
    source: &AnyStore,
    from: &ImageRef,
    dest: &AnyStore,
    repo: &str,
    blob: &Descriptor,
    in_memory: Option<&Bytes>,
    mount: bool,
) -> Result<bool> {
    if dest.blob_size(repo, &blob.digest).await? == Some(blob.size) {
        return Ok(false);
    }
    let what = || format!("failed to copy blob {} of {from} to {repo}", blob.digest);
    let reader = match in_memory {
        Some(bytes) => {
            let chunk: std::io::Result<Bytes> = Ok(bytes.clone());
            BlobReader { size: bytes.len() as u64, stream: Box::pin(futures_util::stream::iter([chunk])) }
        }
        None if mount && dest.mount_blob(repo, &blob.digest, &from.repository).await.with_context(what)? => {
            return Ok(false);
        }
        None => source.get_blob(&from.repository, &blob.digest).await.with_context(what)?,
    };
    dest.put_blob(repo, &blob.digest, reader).await.with_context(what)?;
    Ok(true)
}
