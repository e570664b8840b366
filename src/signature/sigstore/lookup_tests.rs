use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use super::*;
use crate::reference::ImageRef;
use crate::signature::sigstore::identity::SignedIdentity;
use crate::signature::sigstore::key::PublicKey;
use crate::signature::sigstore::verify::tests::{cosign_payload, digest, Signer, RELEASE};
use crate::signature::sigstore::verify::{SigLayer, SIMPLE_SIGNING};
use crate::store::{BlobReader, RawManifest};

/// Manifests by tag or digest and blobs of one repository, in memory.
#[derive(Default)]
struct MemStore {
    manifests: Mutex<HashMap<String, RawManifest>>,
    blobs: Mutex<HashMap<Digest, bytes::Bytes>>,
}

#[derive(Debug, thiserror::Error)]
#[error("absent")]
struct Absent;

impl MemStore {
    fn put(&self, tag: &str, media_type: &str, bytes: Vec<u8>) {
        let m = RawManifest { digest: Digest::of(&bytes), bytes: bytes.into(), media_type: media_type.into() };
        let mut all = self.manifests.lock().unwrap();
        all.insert(m.digest.to_string(), m.clone());
        all.insert(tag.to_string(), m);
    }

    fn blob(&self, bytes: &[u8]) -> Digest {
        let d = Digest::of(bytes);
        self.blobs.lock().unwrap().insert(d.clone(), bytes::Bytes::copy_from_slice(bytes));
        d
    }

    /// A `.sig` image for `image` as cosign pushes it: the config, then one layer each.
    fn put_signature(&self, image: &Digest, layers: &[(SigLayer, bytes::Bytes)]) -> Digest {
        let diff_ids: Vec<String> = layers.iter().map(|(l, _)| l.digest.to_string()).collect();
        let config = serde_json::json!({"architecture":"","config":{},"created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":diff_ids}});
        let config = serde_json::to_vec(&config).unwrap();
        let config_digest = self.blob(&config);
        let descriptors: Vec<_> = layers
            .iter()
            .map(|(l, bytes)| {
                self.blob(bytes);
                serde_json::json!({"mediaType": l.media_type, "size": l.size, "digest": l.digest, "annotations": l.annotations})
            })
            .collect();
        let manifest = serde_json::json!({"schemaVersion":2,"mediaType":OCI,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":config.len(),"digest":config_digest},"layers":descriptors});
        let bytes = serde_json::to_vec(&manifest).unwrap();
        self.put(&signature_tag(image), OCI, bytes.clone());
        Digest::of(&bytes)
    }

    /// Every manifest and blob of an OCI layout, its `index.json` manifest under `tag`.
    fn from_oci_layout(dir: &Path, tag: &str) -> MemStore {
        let store = MemStore::default();
        for entry in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
            store.blob(&std::fs::read(entry.unwrap().path()).unwrap());
        }
        let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let top = &index["manifests"][0];
        let d: Digest = top["digest"].as_str().unwrap().parse().unwrap();
        let bytes = store.blobs.lock().unwrap()[&d].to_vec();
        store.put(tag, top["mediaType"].as_str().unwrap(), bytes);
        store
    }
}

const OCI: &str = crate::manifest::OCI_MANIFEST;

impl ImageStore for MemStore {
    async fn get_manifest(&self, _: &str, reference: &str) -> Result<RawManifest, StoreError> {
        self.manifests.lock().unwrap().get(reference).cloned().ok_or(StoreError::new(Absent, true))
    }
    async fn manifest_digest(&self, _: &str, reference: &str) -> Result<Option<Digest>, StoreError> {
        Ok(self.manifests.lock().unwrap().get(reference).map(|m| m.digest.clone()))
    }
    async fn put_manifest(&self, _: &str, _: &str, _: &RawManifest) -> Result<(), StoreError> {
        unreachable!("a lookup writes nothing")
    }
    async fn blob_size(&self, _: &str, digest: &Digest) -> Result<Option<u64>, StoreError> {
        Ok(self.blobs.lock().unwrap().get(digest).map(|b| b.len() as u64))
    }
    async fn get_blob(&self, _: &str, digest: &Digest) -> Result<BlobReader, StoreError> {
        let bytes = self.blobs.lock().unwrap().get(digest).cloned().ok_or(StoreError::new(Absent, true))?;
        let size = bytes.len() as u64;
        Ok(BlobReader { size, stream: Box::pin(futures_util::stream::iter([Ok(bytes)])) })
    }
    async fn put_blob(&self, _: &str, _: &Digest, _: BlobReader) -> Result<(), StoreError> {
        unreachable!("a lookup writes nothing")
    }
    async fn mount_blob(&self, _: &str, _: &Digest, _: &str) -> Result<bool, StoreError> {
        unreachable!("a lookup writes nothing")
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

fn judged(store: &MemStore, image: &Digest, logical: &str, keys: &[PublicKey], identity: SignedIdentity) -> Verdict {
    let logical = ImageRef::parse(logical).unwrap();
    let subject = Subject { digest: image, logical: &logical };
    block_on(check(store, "repo", subject, Trust { keys, identity: &identity })).unwrap()
}

#[test]
fn a_signature_pushed_beside_the_image_is_verified_and_names_its_manifest() {
    let (store, signer, image) = (MemStore::default(), Signer::new(), digest('a'));
    let layer = signer.layer(&cosign_payload(&format!("{RELEASE}:4.22.0-x86_64"), &image));
    let sig = store.put_signature(&image, &[layer]);
    let verdict =
        judged(&store, &image, &format!("{RELEASE}@{image}"), &[signer.key], SignedIdentity::MatchRepoDigestOrExact);
    let Verdict::Verified { signature, accepted } = verdict else { panic!("{verdict:?}") };
    assert_eq!((signature, accepted.layer), (sig, 1));
}

/// Copy the `.sig` image of `image` from `from` into `to`, byte for byte, as the mirror does.
async fn copy_signature<T: ImageStore>(from: &MemStore, to: &T, repo: &str, image: &Digest) {
    let tag = signature_tag(image);
    let manifest = from.get_manifest(repo, &tag).await.unwrap();
    let blobs: Vec<(Digest, bytes::Bytes)> = from.blobs.lock().unwrap().clone().into_iter().collect();
    for (digest, bytes) in blobs {
        let size = bytes.len() as u64;
        let stream = Box::pin(futures_util::stream::iter([Ok(bytes)]));
        to.put_blob(repo, &digest, BlobReader { size, stream }).await.unwrap();
    }
    to.put_manifest(repo, &tag, &manifest).await.unwrap();
}

#[test]
fn a_signature_copied_into_an_oc_tree_is_verified_there_offline() {
    let (store, signer, image) = (MemStore::default(), Signer::new(), digest('a'));
    let layer = signer.layer(&cosign_payload(&format!("{RELEASE}:4.22.0-x86_64"), &image));
    let sig = store.put_signature(&image, &[layer]);
    let dir = tempfile::tempdir().unwrap();
    let tree = crate::disk::DiskStore::new(dir.path());
    block_on(copy_signature(&store, &tree, "openshift/release", &image));
    let logical = ImageRef::parse(&format!("{RELEASE}@{image}")).unwrap();
    let (keys, identity) = ([signer.key], SignedIdentity::MatchRepoDigestOrExact);
    let subject = Subject { digest: &image, logical: &logical };
    let verdict = block_on(check(&tree, "openshift/release", subject, Trust { keys: &keys, identity: &identity }));
    assert!(matches!(verdict, Ok(Verdict::Verified { ref signature, .. }) if *signature == sig), "{verdict:?}");
}

#[test]
fn a_judged_signature_hands_back_the_layers_it_read_byte_for_byte() {
    let (store, signer, image) = (MemStore::default(), Signer::new(), digest('a'));
    let (layer, bytes) = signer.layer(&cosign_payload(&format!("{RELEASE}:4.22.0-x86_64"), &image));
    store.put_signature(&image, &[(layer.clone(), bytes.clone())]);
    let manifest = block_on(signature_manifest(&store, "repo", &signature_tag(&image))).unwrap().expect("found");
    let logical = ImageRef::parse(&format!("{RELEASE}@{image}")).unwrap();
    let (keys, identity) = ([signer.key], SignedIdentity::MatchRepoDigestOrExact);
    let subject = Subject { digest: &image, logical: &logical };
    let judged =
        block_on(judge(&store, "repo", &manifest, subject, Trust { keys: &keys, identity: &identity })).unwrap();
    assert!(matches!(judged.verdict, Verdict::Verified { .. }), "{:?}", judged.verdict);
    assert_eq!(judged.layers, [(layer.digest, bytes)]);
}

#[test]
fn no_signature_tag_is_missing_not_an_error() {
    let logical = format!("{RELEASE}@{}", digest('a'));
    let verdict = judged(&MemStore::default(), &digest('a'), &logical, &[], SignedIdentity::MatchRepoDigestOrExact);
    assert_eq!(verdict, Verdict::Missing);
}

#[test]
fn a_docker_manifest_at_the_signature_tag_is_rejected() {
    let (store, image) = (MemStore::default(), digest('a'));
    store.put(&signature_tag(&image), crate::manifest::DOCKER_MANIFEST, br#"{"schemaVersion":2,"layers":[]}"#.to_vec());
    let verdict = judged(&store, &image, &format!("{RELEASE}@{image}"), &[], SignedIdentity::MatchRepoDigestOrExact);
    let Verdict::Rejected { reasons, .. } = verdict else { panic!("{verdict:?}") };
    assert!(reasons[0].contains("not an OCI image manifest"), "{reasons:?}");
}

#[test]
fn a_layer_over_4_mib_is_refused_unread() {
    let (store, signer, image) = (MemStore::default(), Signer::new(), digest('a'));
    let payload = cosign_payload(&format!("{RELEASE}:4.22.0-x86_64"), &image);
    let (mut layer, bytes) = signer.layer(&payload);
    layer.size = MAX_SIGNATURE_BYTES + 1;
    store.put_signature(&image, &[(layer, bytes)]);
    let verdict = judged(&store, &image, &format!("{RELEASE}@{image}"), &[signer.key], SignedIdentity::MatchRepository);
    let Verdict::Rejected { reasons, .. } = verdict else { panic!("{verdict:?}") };
    assert!(reasons[0].contains("over the limit of 4194304"), "{reasons:?}");
}

#[test]
fn a_layer_whose_bytes_do_not_match_its_digest_is_refused() {
    let (store, signer, image) = (MemStore::default(), Signer::new(), digest('a'));
    let (layer, bytes) = signer.layer(&cosign_payload(&format!("{RELEASE}:1"), &image));
    store.put_signature(&image, &[(layer.clone(), bytes)]);
    // As long, other bytes: the layer's digest, not its length, gives it away.
    let other = cosign_payload(&format!("{RELEASE}:2"), &image);
    store.blobs.lock().unwrap().insert(layer.digest.clone(), other.into());
    let verdict = judged(&store, &image, &format!("{RELEASE}@{image}"), &[signer.key], SignedIdentity::MatchRepository);
    let Verdict::Rejected { reasons, .. } = verdict else { panic!("{verdict:?}") };
    assert!(reasons[0].contains("does not match its digest"), "{reasons:?}");
}

#[test]
fn signature_images_over_16_mib_in_all_are_refused_unread() {
    let (store, signer, image) = (MemStore::default(), Signer::new(), digest('a'));
    let (mut layer, bytes) = signer.layer(&cosign_payload(&format!("{RELEASE}:1"), &image));
    layer.size = MAX_SIGNATURE_BYTES;
    store.put_signature(&image, &vec![(layer, bytes); 5]);
    let verdict = judged(&store, &image, &format!("{RELEASE}@{image}"), &[signer.key], SignedIdentity::MatchRepository);
    let Verdict::Rejected { reasons, .. } = verdict else { panic!("{verdict:?}") };
    assert!(reasons[0].contains("over the limit of 16777216"), "{reasons:?}");
}

#[test]
fn a_layer_the_store_cannot_give_is_an_error_not_a_rejection() {
    let (store, signer, image) = (MemStore::default(), Signer::new(), digest('a'));
    let (layer, bytes) = signer.layer(&cosign_payload(&format!("{RELEASE}:1"), &image));
    store.put_signature(&image, &[(layer.clone(), bytes)]);
    store.blobs.lock().unwrap().remove(&layer.digest);
    let logical = ImageRef::parse(&format!("{RELEASE}@{image}")).unwrap();
    let (keys, identity) = ([signer.key], SignedIdentity::MatchRepository);
    let subject = Subject { digest: &image, logical: &logical };
    let err = block_on(check(&store, "repo", subject, Trust { keys: &keys, identity: &identity })).unwrap_err();
    assert_eq!(err.to_string(), format!("failed to read the sigstore signature repo:{}", signature_tag(&image)));
}

#[test]
fn the_signature_tag_is_cosigns() {
    let d = digest('e');
    assert_eq!(signature_tag(&d), format!("sha256-{}.sig", "e".repeat(64)));
}

// The real vectors of ../shared/fixtures/sigstore (README there): cosign signatures pushed by
// oc-mirror's tests, verified through the store interface from their OCI layouts.

fn fixtures() -> std::path::PathBuf {
    crate::signature::vectors::fixtures().join("sigstore")
}

/// The signer's key of an oc-mirror vector: the one in the Rekor bundle of its layer.
fn bundle_key(store: &MemStore, tag: &str) -> PublicKey {
    use base64::Engine as _;
    let manifest = block_on(store.get_manifest("repo", tag)).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
    let bundle: serde_json::Value =
        serde_json::from_str(doc["layers"][0]["annotations"]["dev.sigstore.cosign/bundle"].as_str().unwrap()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let body: serde_json::Value =
        serde_json::from_slice(&b64.decode(bundle["Payload"]["body"].as_str().unwrap()).unwrap()).unwrap();
    let pem = b64.decode(body["spec"]["signature"]["publicKey"]["content"].as_str().unwrap()).unwrap();
    PublicKey::from_pem(&pem).unwrap()
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn the_oc_mirror_empty_image_signature_verifies_but_its_bare_identity_fails_repo_digest_or_exact() {
    let dir = fixtures().join("cosign-oc-mirror-empty-image");
    let image = Digest::of(&std::fs::read(dir.join("signed-image-manifest.json")).unwrap());
    let store = MemStore::from_oci_layout(&dir.join("single-arch-empty-image-sig"), &signature_tag(&image));
    let key = PublicKey::from_pem(&std::fs::read(dir.join("cosign.pub.from-rekor-bundle")).unwrap()).unwrap();
    let logical = format!("quay.io/rh_ee_aguidi/empty-image@{image}");
    let keys = [key];
    let verdict = judged(&store, &image, &logical, &keys, SignedIdentity::MatchRepository);
    assert!(
        matches!(&verdict, Verdict::Verified { accepted, .. } if accepted.identity == "quay.io/rh_ee_aguidi/empty-image"),
        "{verdict:?}"
    );
    let Verdict::Rejected { reasons, .. } =
        judged(&store, &image, &logical, &keys, SignedIdentity::MatchRepoDigestOrExact)
    else {
        panic!("a bare repository identity is refused by matchRepoDigestOrExact")
    };
    assert!(reasons[0].contains("does not match") && reasons[0].contains("matchRepoDigestOrExact"), "{reasons:?}");
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn each_platform_digest_of_the_multi_platform_image_is_checked_against_its_own_signature() {
    let dir = fixtures().join("cosign-oc-mirror-multi-platform");
    let manifests = dir.join("multi-platform-container-latest-manifests");
    let digests: Vec<Digest> = ["02f29c270f30", "0de0e983a498", "832f20ad3d7e", "b15a2f174d80", "e033aa62f842"]
        .iter()
        .map(|prefix| {
            let file = std::fs::read_dir(&manifests)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("sha256-{prefix}")))
                .unwrap();
            Digest::of(&std::fs::read(file).unwrap())
        })
        .collect();
    let repo = "quay.io/rh_ee_aguidi/multi-platform-container";
    for (i, image) in digests.iter().enumerate() {
        let layout = dir.join(format!("multi-platform-container-sha256-{}-sig", image.hex()));
        let store = MemStore::from_oci_layout(&layout, &signature_tag(image));
        let keys = [bundle_key(&store, &signature_tag(image))];
        let verdict = judged(&store, image, &format!("{repo}@{image}"), &keys, SignedIdentity::MatchRepository);
        assert!(matches!(verdict, Verdict::Verified { .. }), "{image}: {verdict:?}");
        // Another platform's signature, placed at this digest's tag, is refused.
        let other = &digests[(i + 1) % digests.len()];
        let wrong = MemStore::from_oci_layout(&layout, &signature_tag(other));
        let verdict = judged(&wrong, other, &format!("{repo}@{other}"), &keys, SignedIdentity::MatchRepository);
        let Verdict::Rejected { reasons, .. } = verdict else { panic!("{other}: {verdict:?}") };
        assert!(reasons[0].contains(&format!("it signs {image}, not the image {other}")), "{reasons:?}");
    }
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn release_key_3_does_not_verify_a_signature_made_by_another_key() {
    let dir = fixtures().join("cosign-oc-mirror-empty-image");
    let image = Digest::of(&std::fs::read(dir.join("signed-image-manifest.json")).unwrap());
    let store = MemStore::from_oci_layout(&dir.join("single-arch-empty-image-sig"), &signature_tag(&image));
    let key3 = PublicKey::from_pem(&std::fs::read(fixtures().join("redhat-release-3.pem")).unwrap()).unwrap();
    let logical = format!("quay.io/rh_ee_aguidi/empty-image@{image}");
    let verdict = judged(&store, &image, &logical, &[key3], SignedIdentity::MatchRepository);
    let Verdict::Rejected { reasons, .. } = verdict else { panic!("{verdict:?}") };
    assert!(reasons[0].contains("does not verify with RSA-4096 key"), "{reasons:?}");
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn the_containers_image_vectors_verify_with_their_keys() {
    use base64::Engine as _;
    let dir = fixtures().join("cosign-containers-image");
    for (name, key, identity) in [
        ("dir-img-cosign-valid", "cosign.pub", "192.168.64.2:5000/cosign-signed-single-sample"),
        ("dir-img-cosign-key-rekor-valid", "cosign2.pub", "192.168.64.2:5000/cosign-signed/key-1"),
    ] {
        let raw = std::fs::read(dir.join(name).join("signature-1")).unwrap();
        let json = raw.strip_prefix(b"\x00sigstore-json\n").expect("c/image's dir: signature format");
        let sig: serde_json::Value = serde_json::from_slice(json).unwrap();
        let payload = base64::engine::general_purpose::STANDARD.decode(sig["payload"].as_str().unwrap()).unwrap();
        let annotations = serde_json::from_value(sig["annotations"].clone()).unwrap();
        let layer = SigLayer {
            media_type: SIMPLE_SIGNING.into(),
            digest: Digest::of(&payload),
            size: payload.len() as u64,
            annotations,
        };
        let store = MemStore::default();
        let image = Digest::of(&std::fs::read(dir.join(name).join("manifest.json")).unwrap());
        store.put_signature(&image, &[(layer, payload.into())]);
        let keys = [PublicKey::from_pem(&std::fs::read(dir.join(key)).unwrap()).unwrap()];
        let verdict = judged(&store, &image, &format!("{identity}@{image}"), &keys, SignedIdentity::MatchRepository);
        assert!(matches!(verdict, Verdict::Verified { .. }), "{name}: {verdict:?}");
    }
}
