//! The release payload: which images make up the release, its version and architecture,
//! its default signature keys and stores, and the `openshift` ClusterImagePolicy that tells
//! the nodes which sigstore signatures to require.

mod image_references;
mod payload;
mod verification;

use serde::Deserialize;

pub(crate) use image_references::{parse_image_references, parse_release_metadata, Component};
pub(crate) use verification::VerificationConfig;

use crate::digest::Digest;
use crate::manifest::{self, Descriptor, Parsed};
use crate::reference::ImageRef;
use crate::signature::sigstore::ImagePolicy;
use crate::store::{BlobCheck, ImageStore, RawManifest, StoreError};

/// A release failure.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The release image's manifest could not be read.
    #[error("failed to read the release image {image}")]
    Read {
        /// The release image.
        image: String,
        /// The store's failure.
        #[source]
        source: Box<StoreError>,
    },
    /// The release image's manifest is not one the tool can read.
    #[error("release image {image}: {source}")]
    Manifest {
        /// The release image.
        image: String,
        /// What is wrong with it.
        source: manifest::ManifestError,
    },
    /// The payload has no image-references: not a release image.
    #[error("release image {image} has no release-manifests/image-references: it is not an OpenShift release image")]
    NoImageReferences {
        /// The image.
        image: String,
    },
    /// The image-references file is invalid.
    #[error("invalid release-manifests/image-references: {reason}")]
    ImageReferences {
        /// What is wrong with it.
        reason: String,
    },
    /// The release-metadata file is invalid.
    #[error("invalid release-manifests/release-metadata: {reason}")]
    Metadata {
        /// What is wrong with it.
        reason: String,
    },
    /// A payload layer could not be fetched.
    #[error("failed to read release image layer {digest}")]
    Layer {
        /// The layer.
        digest: String,
        /// The store's failure.
        #[source]
        source: Box<StoreError>,
    },
    /// A payload layer could not be read as a gzip'd tar stream.
    #[error("failed to read release image layer {digest}")]
    Io {
        /// The layer.
        digest: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The release image's config is invalid.
    #[error("invalid release image config {digest}: {reason}")]
    Config {
        /// The config blob.
        digest: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Neither payload file names the release's version.
    #[error("release image {image} has no version (image-references metadata.name and release-metadata are empty)")]
    NoVersion {
        /// The release image.
        image: String,
    },
}

/// A release image and what its payload says.
#[derive(Debug, Clone)]
pub struct Release {
    pub(crate) source: ImageRef,
    /// Where the release came from when `source` is a copy (a `file://` tree that recorded
    /// it): what the cluster's mirror configuration must name. `None`: `source` itself.
    pub(crate) origin: Option<ImageRef>,
    /// The digest of the release manifest as stored (a manifest list's own digest).
    pub(crate) digest: Digest,
    pub(crate) manifest: RawManifest,
    pub(crate) version: String,
    /// `x86_64`, `aarch64`, … or `multi` for a manifest list.
    pub(crate) arch: String,
    pub(crate) components: Vec<Component>,
    pub(crate) verification: Option<VerificationConfig>,
    /// Every ClusterImagePolicy named `openshift` in `release-manifests/`, in file name order
    /// (4.17 to 4.20 ship one for TechPreviewNoUpgrade only; from 4.21 it is enforced).
    pub image_policies: Vec<ImagePolicy>,
    /// Blobs of the release image read whole while loading it (config, small payload layers):
    /// the mirror copies these without fetching them again.
    pub(crate) blobs: Vec<(Digest, bytes::Bytes)>,
}

impl Release {
    /// `<version>-<arch>`, the release's tag in the mirror.
    pub(crate) fn tag(&self) -> String {
        format!("{}-{}", self.version, self.arch)
    }

    /// The `openshift` ClusterImagePolicy a cluster of the default feature set enforces, if
    /// the payload has one: sigstore signatures of the images in its scopes are required.
    pub fn enforced_image_policy(&self) -> Option<&ImagePolicy> {
        self.image_policies.iter().find(|p| p.enforced_by_default())
    }
}

/// Read the release image at `source` from `store`.
/// `check` is the blob-check policy of the run (`--skip-verification`: length only).
pub async fn load<S: ImageStore>(store: &S, source: &ImageRef, check: BlobCheck) -> Result<Release, ReleaseError> {
    let image = source.to_string();
    let read_err = |e: StoreError| ReleaseError::Read { image: image.clone(), source: Box::new(e) };
    let repo = &source.repository;
    let mut kept = Vec::new();
    let top = store.get_manifest(repo, &source.reference()).await.map_err(read_err)?;
    let parsed = manifest::parse(&top.bytes, &top.media_type)
        .map_err(|source| ReleaseError::Manifest { image: image.clone(), source })?;
    // An image's config (its architecture) and payload are read at once: two round trips
    // to a distant registry, not four.
    let (layers, config) = match parsed {
        Parsed::Image { config, layers } => (layers, Some(config)),
        Parsed::List { manifests } => {
            let child =
                pick_platform(&manifests).ok_or_else(|| ReleaseError::NoImageReferences { image: image.clone() })?;
            let m = store.get_manifest(repo, child.digest.as_str()).await.map_err(read_err)?;
            match manifest::parse(&m.bytes, &m.media_type) {
                Ok(Parsed::Image { layers, .. }) => (layers, None),
                Ok(Parsed::List { .. }) => {
                    let reason = "a manifest list inside a manifest list".to_string();
                    return Err(ReleaseError::Config { digest: child.digest.to_string(), reason });
                }
                Err(source) => return Err(ReleaseError::Manifest { image, source }),
            }
        }
    };
    let arch = async {
        match &config {
            Some(config) => {
                let (arch, body) = read_arch(store, repo, config, check).await?;
                Ok((arch, Some((config.digest.clone(), body))))
            }
            None => Ok(("multi".to_string(), None)),
        }
    };
    let ((arch, config_blob), mut files) =
        futures_util::future::try_join(arch, payload::read_payload(store, repo, &layers, check)).await?;
    kept.extend(config_blob);
    kept.append(&mut files.blobs);
    let refs = files.image_references.ok_or_else(|| ReleaseError::NoImageReferences { image: image.clone() })?;
    let refs = parse_image_references(&refs)?;
    let meta_version = files.release_metadata.as_deref().map(parse_release_metadata).transpose()?;
    let version =
        Some(refs.version).filter(|v| !v.is_empty()).or(meta_version).ok_or(ReleaseError::NoVersion { image })?;
    Ok(Release {
        source: source.clone(),
        origin: None,
        digest: top.digest.clone(),
        manifest: top,
        version,
        arch,
        components: refs.components,
        verification: files.verification,
        image_policies: files.image_policies.into_values().flatten().collect(),
        blobs: kept,
    })
}

/// linux/amd64 when the list has it, else the first linux entry, else the first.
fn pick_platform(manifests: &[Descriptor]) -> Option<&Descriptor> {
    manifests
        .iter()
        .find(|m| m.platform.as_deref() == Some("linux/amd64"))
        .or_else(|| manifests.iter().find(|m| m.platform.as_deref().is_some_and(|p| p.starts_with("linux/"))))
        .or_else(|| manifests.first())
}

#[derive(Deserialize)]
struct ImageConfig {
    architecture: Option<String>,
}

/// The architecture in the image config, in OpenShift's names.
async fn read_arch<S: ImageStore>(
    store: &S,
    repo: &str,
    config: &Descriptor,
    check: BlobCheck,
) -> Result<(String, bytes::Bytes), ReleaseError> {
    use futures_util::TryStreamExt;
    let fail = |reason: String| ReleaseError::Config { digest: config.digest.to_string(), reason };
    if config.size > 1024 * 1024 {
        return Err(fail(format!("it is {} bytes, over the limit of 1 MiB", config.size)));
    }
    let blob = store
        .get_blob(repo, &config.digest)
        .await
        .map_err(|e| ReleaseError::Layer { digest: config.digest.to_string(), source: Box::new(e) })?;
    let stream = crate::store::verified(blob.stream, config.digest.clone(), config.size, check);
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.map_err(|e| fail(e.to_string()))?;
    let body = chunks.concat();
    let cfg: ImageConfig = serde_json::from_slice(&body).map_err(|e| fail(format!("not valid JSON ({e})")))?;
    Ok((openshift_arch(cfg.architecture.as_deref().unwrap_or("amd64")), bytes::Bytes::from(body)))
}

/// `amd64` → `x86_64`, `arm64` → `aarch64`, others as they are.
pub(crate) fn openshift_arch(arch: &str) -> String {
    match arch {
        "amd64" => "x86_64".to_string(),
        "arm64" => "aarch64".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_go_architectures_to_openshift_names() {
        assert_eq!(openshift_arch("amd64"), "x86_64");
        assert_eq!(openshift_arch("arm64"), "aarch64");
        assert_eq!(openshift_arch("s390x"), "s390x");
        assert_eq!(openshift_arch("ppc64le"), "ppc64le");
    }

    #[test]
    fn picks_linux_amd64_from_a_list() {
        let d = |p: &str, c: char| Descriptor {
            digest: format!("sha256:{}", c.to_string().repeat(64)).parse().unwrap(),
            size: 1,
            media_type: String::new(),
            platform: Some(p.to_string()),
        };
        let list = vec![d("linux/arm64", 'a'), d("linux/amd64", 'b')];
        assert_eq!(pick_platform(&list).unwrap().platform.as_deref(), Some("linux/amd64"));
    }
}
