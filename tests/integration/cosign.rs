//! Sigstore (cosign) signatures through the public API, against a real registry: a release
//! whose payload carries a ClusterImagePolicy, its images signed by `openssl` in cosign's
//! exact format (support/cosign.rs), read back and judged by `signature::sigstore`.

use release_mirror::digest::Digest;
use release_mirror::reference::ImageRef;
use release_mirror::registry::{RegistryStore, Settings, Transport};
use release_mirror::release::{self, Release};
use release_mirror::signature::sigstore::{self, ImagePolicy, Subject, Verdict};
use release_mirror::store::BlobCheck;

use crate::mirror::{source_with, Source};
use crate::support::cosign::{sign_and_push, sign_release, signature_image, CosignKey, Signature};
use crate::support::spec::{ImagePolicySpec, ReleaseSpec};

/// A release of 3 components (the first a list of 2 platform images) whose payload's policy
/// trusts `key` (`feature_set` as given).
fn release_with_policy(key: &CosignKey, feature_set: Option<&str>) -> Source {
    let image_policy =
        Some(ImagePolicySpec { key_pem: key.public_pem.clone(), feature_set: feature_set.map(Into::into) });
    source_with(ReleaseSpec { components: 3, multi_arch_components: 1, image_policy, ..ReleaseSpec::default() })
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    crate::support::install_crypto();
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

fn store(src: &Source) -> RegistryStore {
    let http = release_mirror::http::Settings { insecure: true, ..Default::default() };
    let progress = release_mirror::progress::Progress::new(std::sync::Arc::new(release_mirror::events::Discard));
    let transport = Transport::new(&http, &Settings::default(), progress).expect("transport");
    RegistryStore::new(transport.client(&src.registry.host()))
}

fn load(src: &Source) -> Release {
    let reference = ImageRef::parse(&src.release.release_ref()).expect("release reference");
    block_on(release::load(&store(src), &reference, BlobCheck::Digest)).expect("the release loads")
}

/// Judge the signature of the image `reference` (`host/repo@digest`) under `policy`.
fn judge(src: &Source, policy: &ImagePolicy, reference: &str) -> Verdict {
    let logical = ImageRef::parse(reference).expect("image reference");
    let digest: Digest = logical.digest.clone().expect("a digest reference");
    assert!(policy.scope_of(&logical).is_some(), "{reference} is in a scope of the policy");
    let subject = Subject { digest: &digest, logical: &logical };
    let trust = policy.trust(&[]).expect("the policy's key");
    block_on(sigstore::check(&store(src), &logical.repository, subject, trust)).expect("the lookup runs")
}

#[test]
fn a_release_and_its_components_signed_with_rsa_or_ecdsa_keys_are_verified_from_the_registry() {
    for key in [CosignKey::rsa(), CosignKey::ecdsa_p256()] {
        let src = release_with_policy(&key, None);
        let release = load(&src);
        let policy = release.enforced_image_policy().expect("a 4.22-shaped policy is enforced");
        assert_eq!(policy.scopes.len(), 2, "the release and the component repository");
        let signed = sign_release(&src.release, &src.registry.client(), &key);
        assert_eq!(signed.len(), 1 + 3 + 2, "the release, 3 components, the 2 platform images of a list");
        for s in &signed {
            let reference = format!("{}/{}@{}", src.release.host, s.repo, s.image);
            let verdict = judge(&src, policy, &reference);
            let Verdict::Verified { signature, .. } = verdict else { panic!("{reference}: {verdict:?}") };
            assert_eq!(signature.as_str(), s.signature.digest, "{reference}");
        }
    }
}

#[test]
fn a_component_signed_by_another_key_is_rejected_and_an_unsigned_one_is_missing() {
    let (trusted, stranger) = (CosignKey::rsa(), CosignKey::ecdsa_p256());
    let src = release_with_policy(&trusted, None);
    let release = load(&src);
    let policy = release.enforced_image_policy().expect("enforced");
    let (host, signed, unsigned) = (&src.release.host, &src.release.images[1], &src.release.images[2]);
    let identity = format!("{host}/{}:4.99.0", signed.repo);
    sign_and_push(&src.registry.client(), &signed.repo, &signed.digest, &identity, &stranger);
    let reference = format!("{host}/{}@{}", signed.repo, signed.digest);
    let Verdict::Rejected { reasons, .. } = judge(&src, policy, &reference) else { panic!("rejected") };
    assert!(reasons[0].contains("does not verify with RSA-2048 key"), "{reasons:?}");
    assert_eq!(judge(&src, policy, &format!("{host}/{}@{}", unsigned.repo, unsigned.digest)), Verdict::Missing);
}

#[test]
fn a_4_20_shaped_tech_preview_policy_is_kept_but_not_enforced_by_default() {
    let src = release_with_policy(&CosignKey::ecdsa_p256(), Some("TechPreviewNoUpgrade"));
    let release = load(&src);
    assert_eq!(release.image_policies.len(), 1);
    assert_eq!(release.image_policies[0].feature_sets, ["TechPreviewNoUpgrade"]);
    assert_eq!(release.image_policies[0].scopes, [format!("{}/{}", src.release.host, src.release.release_repo)]);
    assert!(release.enforced_image_policy().is_none());
}

/// The test bed's `.sig` image is cosign's, byte for byte: built from the real vector's
/// payload and signature, it has the vector's config and, but for the Rekor bundle
/// annotation the test bed does not make, its manifest.
#[test]
#[ignore = "needs ../shared/fixtures"]
fn the_test_bed_builds_signature_images_byte_for_byte_as_cosign_does() {
    use base64::Engine as _;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/sigstore/cosign-oc-mirror-empty-image");
    let manifest = std::fs::read_to_string(dir.join("sig-manifest.json")).expect("the vector's manifest");
    let doc: serde_json::Value = serde_json::from_str(&manifest).expect("JSON");
    let layer = &doc["layers"][0];
    let encoded = layer["annotations"]["dev.cosignproject.cosign/signature"].as_str().expect("signature");
    let signature = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64");
    let payload = std::fs::read(dir.join("payload.json")).expect("payload");
    let built = signature_image(&[Signature { payload, signature }]);
    assert_eq!(built.blobs[0].0, doc["config"]["digest"].as_str().expect("config digest"), "the config");
    let bundle = serde_json::to_string(layer["annotations"]["dev.sigstore.cosign/bundle"].as_str().unwrap()).unwrap();
    let without_bundle = manifest.replace(&format!(",\"dev.sigstore.cosign/bundle\":{bundle}"), "");
    assert_eq!(String::from_utf8(built.manifest).unwrap(), without_bundle);
}
