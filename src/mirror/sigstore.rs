//! Sigstore (cosign) signatures beside the images: a `.sig` image is mirrored like any other
//! image, byte for byte, under the tag `sha256-<hex>.sig` in its image's destination
//! repository. Which ones, and whether they verify, the run decides (`run/sigstore.rs`);
//! this says which platform images of a list the nodes ask signatures for, and which tagged
//! manifests are signature images (the executor stores those beside the copy).

use crate::digest::Digest;
use crate::manifest::{self, Parsed};
use crate::store::RawManifest;

/// Whether `reference` is cosign's tag for a signature, `sha256-<64 hex>.sig`.
pub(crate) fn is_signature_tag(reference: &str) -> bool {
    reference
        .strip_prefix("sha256-")
        .and_then(|rest| rest.strip_suffix(".sig"))
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The blobs (config and layers) of an image manifest; `None` for a list or what does not
/// parse.
pub(crate) fn image_blobs(manifest: &RawManifest) -> Option<Vec<Digest>> {
    match manifest::parse(&manifest.bytes, &manifest.media_type) {
        Ok(parsed @ Parsed::Image { .. }) => Some(parsed.blobs().into_iter().map(|b| b.digest).collect()),
        _ => None,
    }
}

/// The platform images of a manifest list (none for an image or what does not parse): the
/// nodes look up `sha256-<instance digest>.sig` for the one they pull.
pub(crate) fn platform_digests(manifest: &RawManifest) -> Vec<Digest> {
    match manifest::parse(&manifest.bytes, &manifest.media_type) {
        Ok(Parsed::List { manifests }) => manifests.into_iter().map(|m| m.digest).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cosigns_signature_tags_are_signature_tags() {
        let hex = "0123456789abcdef".repeat(4);
        assert!(is_signature_tag(&format!("sha256-{hex}.sig")));
        for other in [format!("sha256-{hex}.att"), format!("sha256-{}.sig", &hex[1..]), "4.14.1-x86_64".into()] {
            assert!(!is_signature_tag(&other), "{other}");
        }
    }

    #[test]
    fn a_list_names_its_platform_images_and_an_image_none() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"platform":{{"architecture":"arm64","os":"linux"}}}}]}}"#,
            d('a'),
            d('b')
        );
        let raw = |bytes: String, media_type: &str| RawManifest {
            digest: Digest::of(bytes.as_bytes()),
            bytes: bytes.into_bytes().into(),
            media_type: media_type.into(),
        };
        let digests: Vec<String> = platform_digests(&raw(list, "application/vnd.oci.image.index.v1+json"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(digests, [d('a'), d('b')]);
        let image = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":1}},"layers":[]}}"#,
            d('c')
        );
        assert!(platform_digests(&raw(image, "application/vnd.oci.image.manifest.v1+json")).is_empty());
    }
}
