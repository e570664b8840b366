//! The store side of the graph-data image: the base image read (its chosen platform images,
//! when it is a list), and an image pushed through the store interface (registry or disk
//! alike): its blobs first (skipped when present, mounted within a registry, else streamed
//! from where they are), then a list's platform manifests, then its manifest by digest and
//! under its tag.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;
use futures_util::StreamExt as _;

use crate::digest::Digest;
use crate::manifest::{self, Descriptor, Parsed};
use crate::mirror::Stores;
use crate::reference::ImageRef;
use crate::store::{BlobReader, ImageStore, RawManifest};

/// The largest base config read: a real one is a few KiB.
const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// An image as read from a store: its manifest and config.
#[derive(Debug, Clone)]
pub(crate) struct StoredImage {
    /// Pinned to the (platform) manifest's digest.
    pub(crate) image: ImageRef,
    pub(crate) manifest: RawManifest,
    pub(crate) config: Descriptor,
}

/// A base image as read: one image, or the chosen platform images of a list.
#[derive(Debug, Clone)]
pub(crate) struct Base {
    /// Pinned to the digest `reference` resolved to (the list's, for a list).
    pub(crate) image: ImageRef,
    /// The list, when the base is one.
    pub(crate) list: Option<RawManifest>,
    /// The images the graph-data image is built on, in the list's order.
    pub(crate) images: Vec<StoredImage>,
}

/// The base `reference` names; for a list, its images for `platforms` (`linux/amd64`…), or
/// every `linux/…` image when `platforms` is `None`.
pub(crate) async fn read_base(stores: &Stores, reference: &ImageRef, platforms: Option<&[String]>) -> Result<Base> {
    let store = stores.get(reference)?;
    let repo = reference.repository.as_str();
    let top = store.get_manifest(repo, &reference.reference()).await?;
    let image = reference.with_digest(&top.digest);
    let manifests = match manifest::parse(&top.bytes, &top.media_type)? {
        Parsed::Image { config, .. } => {
            let images = vec![StoredImage { image: image.clone(), manifest: top, config }];
            return Ok(Base { image, list: None, images });
        }
        Parsed::List { manifests } => manifests,
    };
    let chosen = choose(&manifests, platforms).map_err(|p| anyhow!("{reference} has no image for {p}"))?;
    let mut images = Vec::with_capacity(chosen.len());
    for child in chosen {
        let manifest = store.get_manifest(repo, child.digest.as_str()).await?;
        let Parsed::Image { config, .. } = manifest::parse(&manifest.bytes, &manifest.media_type)? else {
            bail!("{reference} is a list of lists")
        };
        images.push(StoredImage { image: reference.with_digest(&manifest.digest), manifest, config });
    }
    Ok(Base { image, list: Some(top), images })
}

/// The entries of a list for `platforms` (`linux/arm64` matches `linux/arm64/v8`), in the
/// list's order; `Err` names a platform the list lacks.
fn choose<'a>(manifests: &'a [Descriptor], platforms: Option<&[String]>) -> Result<Vec<&'a Descriptor>, String> {
    let matches = |m: &Descriptor, p: &str| {
        m.platform.as_deref().is_some_and(|q| q == p || q.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
    };
    let Some(platforms) = platforms else {
        let linux: Vec<&Descriptor> = manifests.iter().filter(|m| matches(m, "linux")).collect();
        return if linux.is_empty() { Err("linux".into()) } else { Ok(linux) };
    };
    if let Some(missing) = platforms.iter().find(|p| !manifests.iter().any(|m| matches(m, p))) {
        return Err(missing.clone());
    }
    Ok(manifests.iter().filter(|m| platforms.iter().any(|p| matches(m, p))).collect())
}

/// A whole blob of `image` (its config), bounded.
pub(crate) async fn read_config(stores: &Stores, image: &StoredImage) -> Result<Bytes> {
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
pub(crate) struct Pushed {
    /// The destination had the manifest already.
    pub(crate) present: bool,
    pub(crate) blobs_copied: usize,
}

/// An image to push: its manifest and, for a list, its platform manifests.
#[derive(Debug, Clone)]
pub(crate) struct ImageSet {
    pub(crate) top: RawManifest,
    pub(crate) children: Vec<RawManifest>,
}

/// The image `reference` (by digest) names in its store, with a list's platform manifests.
pub(crate) async fn read_set(stores: &Stores, reference: &ImageRef) -> Result<ImageSet> {
    let store = stores.get(reference)?;
    let repo = reference.repository.as_str();
    let top = store.get_manifest(repo, &reference.reference()).await?;
    let mut children = Vec::new();
    if let Parsed::List { manifests } = manifest::parse(&top.bytes, &top.media_type)? {
        for child in manifests {
            children.push(store.get_manifest(repo, child.digest.as_str()).await?);
        }
    }
    Ok(ImageSet { top, children })
}

/// Push `set` to `to` (platform manifests first, by digest; then the top one by digest and
/// under `to`'s tag): the blobs in `new` from memory, the others from `from`'s repository.
pub(crate) async fn push(
    stores: (&Stores, &Stores),
    from: &ImageRef,
    to: &ImageRef,
    set: &ImageSet,
    new: &HashMap<Digest, Bytes>,
) -> Result<Pushed> {
    let (sources, dests) = stores;
    let dest = dests.get(to)?;
    let repo = to.repository.as_str();
    let tag = to.tag.clone().unwrap_or_else(|| "latest".to_string());
    let present = dest.manifest_digest(repo, set.top.digest.as_str()).await?.is_some();
    let mut pushed = Pushed { present, blobs_copied: 0 };
    if !present {
        let source = sources.get(from)?;
        let mount = from.registry().is_some() && from.registry() == to.registry();
        for manifest in set.children.iter().chain(std::iter::once(&set.top)) {
            for blob in &manifest::parse(&manifest.bytes, &manifest.media_type)?.blobs() {
                if copy_blob(source.as_ref(), from, dest.as_ref(), repo, blob, new.get(&blob.digest), mount).await? {
                    pushed.blobs_copied += 1;
                }
            }
            dest.put_manifest(repo, manifest.digest.as_str(), manifest).await?;
        }
    }
    if dest.manifest_digest(repo, &tag).await?.as_ref() != Some(&set.top.digest) {
        dest.put_manifest(repo, &tag, &set.top).await?;
    }
    Ok(pushed)
}

/// One blob to `repo` of `dest`, unless it is there; `true` when bytes moved.
async fn copy_blob(
    source: &impl ImageStore,
    from: &ImageRef,
    dest: &impl ImageStore,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(platform: &str) -> Descriptor {
        let digest = Digest::of(platform.as_bytes());
        Descriptor { digest, size: 1, media_type: String::new(), platform: Some(platform.into()) }
    }

    #[test]
    fn platforms_are_chosen_in_the_lists_order_and_a_missing_one_is_named() {
        let list = [entry("linux/arm64/v8"), entry("linux/amd64"), entry("windows/amd64"), entry("linux/s390x")];
        let names = |chosen: Vec<&Descriptor>| chosen.iter().map(|d| d.platform.clone().unwrap()).collect::<Vec<_>>();
        let amd_arm = ["linux/amd64".to_string(), "linux/arm64".to_string()];
        assert_eq!(names(choose(&list, Some(&amd_arm)).unwrap()), ["linux/arm64/v8", "linux/amd64"]);
        assert_eq!(names(choose(&list, None).unwrap()), ["linux/arm64/v8", "linux/amd64", "linux/s390x"]);
        let ppc = ["linux/ppc64le".to_string()];
        assert_eq!(choose(&list, Some(&ppc)).unwrap_err(), "linux/ppc64le");
        assert_eq!(choose(&[entry("linux/amd64x")], Some(&["linux/amd64".into()])).unwrap_err(), "linux/amd64");
    }
}
