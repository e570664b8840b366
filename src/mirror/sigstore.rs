//! Sigstore (cosign) signatures beside the images: a `.sig` image is mirrored like any other
//! image, byte for byte, under the tag `sha256-<hex>.sig` in its image's destination
//! repository. Which ones, and whether they verify, the run decides (`run/sigstore.rs`);
//! this says which platform images of a list the nodes ask signatures for.

use crate::digest::Digest;
use crate::manifest::{self, Parsed};
use crate::store::RawManifest;

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
