//! Sigstore (cosign) signatures of the release image: clusters from OpenShift 4.21 verify
//! the release at pull time with them. When the source has the signature tag
//! `sha256-<hex>.sig` of the release (or of a multi-arch release's platform images), it is
//! mirrored too, byte for byte, beside the release.

use anyhow::{Context as _, Result};

use super::plan::Mapping;
use super::stores::Stores;
use crate::digest::Digest;
use crate::manifest::{self, Parsed};
use crate::release::Release;
use crate::store::ImageStore;

/// `sha256-<hex>.sig`: cosign's tag for the signature of `digest`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("{}-{}.sig", digest.algorithm(), digest.hex())
}

/// The digests whose cosign signatures to look for: the release and, for a manifest list,
/// each of its platform images.
pub(crate) fn signed_digests(release: &Release) -> Vec<Digest> {
    let mut out = vec![release.digest.clone()];
    if let Ok(Parsed::List { manifests }) = manifest::parse(&release.manifest.bytes, &release.manifest.media_type) {
        out.extend(manifests.into_iter().map(|m| m.digest));
    }
    out
}

/// Mappings for the cosign signatures the source has, next to the release mapping.
pub(crate) async fn signature_mappings(
    sources: &Stores,
    release: &Release,
    mappings: &[Mapping],
) -> Result<Vec<Mapping>> {
    let Some(release_mapping) = mappings.iter().find(|m| m.is_release()) else { return Ok(Vec::new()) };
    let source = &release_mapping.source;
    let store = sources.get(source)?;
    let mut out = Vec::new();
    for signed in signed_digests(release) {
        let tag = signature_tag(&signed);
        let found = store
            .manifest_digest(&source.repository, &tag)
            .await
            .with_context(|| format!("failed to look for the sigstore signature {}:{tag}", source.name()))?;
        if let Some(digest) = found {
            out.push(Mapping {
                name: tag.clone(),
                origin: release_mapping.origin.repo_only().with_digest(&digest),
                source: source.repo_only().with_digest(&digest),
                destination: release_mapping.destination.repo_only().with_tag(&tag),
                digest,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_tag_is_cosigns() {
        let d: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(signature_tag(&d), format!("sha256-{}.sig", "ab".repeat(32)));
        assert!(crate::reference::check_tag(&signature_tag(&d)).is_ok(), "usable as a tag, also on disk");
    }
}
