//! containers/image's rules for a `.sig` image, on bytes already read: the tag holds an OCI
//! image manifest; each layer of type `application/vnd.dev.cosign.simplesigning.v1+json` is
//! one signature, its annotation `dev.cosignproject.cosign/signature` the base64 signature of
//! the exact layer bytes; the payload is parsed strictly only after the signature verified;
//! it must name the image's digest and an identity the policy accepts. One accepted
//! signature suffices; otherwise every layer's reason is kept.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use super::identity::SignedIdentity;
use super::key::PublicKey;
use super::payload;
use crate::digest::Digest;
use crate::manifest::OCI_MANIFEST;
use crate::reference::ImageRef;
use crate::store::RawManifest;

/// The media type of a cosign signature layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// containers/image's `MaxSignatureBodySize`: the most bytes read of one signature layer.
pub const MAX_SIGNATURE_BYTES: u64 = 4 * 1024 * 1024;

/// What signatures are checked against: keys and the identity rule.
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    pub(crate) keys: &'a [PublicKey],
    pub(crate) identity: &'a SignedIdentity,
}

/// The image a signature must be for.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The digest of the (platform) image manifest.
    pub digest: &'a Digest,
    /// The reference the cluster asks for (the source pull spec, not the mirror's).
    pub logical: &'a ImageRef,
}

/// One layer of a signature manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SigLayer {
    pub(crate) media_type: String,
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    pub(crate) annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLayer {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct SigManifest {
    #[serde(default)]
    layers: Vec<RawLayer>,
}

/// The signature that was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// 1-based position among the manifest's layers.
    pub(crate) layer: usize,
    pub(crate) key: String,
    /// The `docker-reference` it claims.
    pub(crate) identity: String,
}

/// The layers of a `.sig` manifest, or why the manifest itself is refused.
pub(crate) fn signature_layers(manifest: &RawManifest) -> Result<Vec<SigLayer>, String> {
    let doc: SigManifest =
        serde_json::from_slice(&manifest.bytes).map_err(|e| format!("the signature manifest is not valid: {e}"))?;
    // The stores report the registry's Content-Type when it is a manifest type, else the
    // body's own mediaType (a disk tree has no headers).
    if manifest.media_type != OCI_MANIFEST {
        let media_type = &manifest.media_type;
        return Err(format!("the signature tag holds a {media_type:?} manifest, not an OCI image manifest"));
    }
    let layer = |raw: RawLayer| {
        let digest =
            raw.digest.parse().map_err(|e: crate::digest::DigestError| format!("a signature layer has {e}"))?;
        Ok(SigLayer { media_type: raw.media_type, digest, size: raw.size, annotations: raw.annotations })
    };
    doc.layers.into_iter().map(layer).collect()
}

/// Check every signature layer (`payloads[i]` the bytes of `layers[i]`, already read and
/// digest-checked) until one is accepted; otherwise the reason of each.
pub(crate) fn evaluate(
    layers: &[SigLayer],
    payloads: &[bytes::Bytes],
    subject: Subject<'_>,
    trust: Trust<'_>,
) -> Result<Accepted, Vec<String>> {
    let mut reasons = Vec::new();
    for (i, (layer, payload)) in layers.iter().zip(payloads).enumerate() {
        if layer.media_type != SIMPLE_SIGNING {
            continue;
        }
        match check_layer(layer, payload, subject, trust) {
            Ok((key, identity)) => return Ok(Accepted { layer: i + 1, key, identity }),
            Err(why) => reasons.push(format!("layer {} ({}): {why}", i + 1, short(&layer.digest))),
        }
    }
    if reasons.is_empty() {
        reasons.push(format!("the signature image has no {SIMPLE_SIGNING} layer"));
    }
    Err(reasons)
}

/// One signature: the key that verified it and the identity it claims, or why not.
fn check_layer(
    layer: &SigLayer,
    payload: &[u8],
    subject: Subject<'_>,
    trust: Trust<'_>,
) -> Result<(String, String), String> {
    let encoded = layer.annotations.get(SIGNATURE_ANNOTATION).ok_or(format!("no {SIGNATURE_ANNOTATION} annotation"))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| format!("the {SIGNATURE_ANNOTATION} annotation is not base64"))?;
    let key = trust.keys.iter().find(|k| k.verifies(payload, &signature)).ok_or_else(|| {
        let keys: Vec<String> = trust.keys.iter().map(ToString::to_string).collect();
        format!(
            "the signature does not verify with {}",
            if keys.is_empty() { "any key".into() } else { keys.join(" or ") }
        )
    })?;
    let claim = payload::parse(payload)?;
    if claim.manifest_digest != *subject.digest {
        return Err(format!("it signs {}, not the image {}", claim.manifest_digest, subject.digest));
    }
    if !trust.identity.matches(subject.logical, &claim.docker_reference) {
        return Err(format!(
            "its identity {:?} does not match {} under {}",
            claim.docker_reference, subject.logical, trust.identity
        ));
    }
    Ok((key.to_string(), claim.docker_reference))
}

/// `sha256:` and the first 12 hex digits.
fn short(digest: &Digest) -> String {
    format!("sha256:{}", &digest.hex()[..12])
}

#[cfg(test)]
#[path = "verify_tests.rs"]
pub(crate) mod tests;
