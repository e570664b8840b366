use super::*;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING};

pub(crate) const RELEASE: &str = "quay.io/openshift-release-dev/ocp-release";

/// A P-256 key made for the test (the key tests check ring against openssl's signatures;
/// here only the rules around the signature are under test).
pub(crate) struct Signer {
    pair: EcdsaKeyPair,
    pub key: PublicKey,
}

impl Signer {
    pub(crate) fn new() -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        // SubjectPublicKeyInfo of id-ecPublicKey / prime256v1 around the point.
        let mut spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
        spki.extend_from_slice(pair.public_key().as_ref());
        Signer { key: PublicKey::from_spki(&spki).unwrap(), pair }
    }

    /// A simple-signing layer over exactly `payload`, and the payload bytes.
    pub(crate) fn layer(&self, payload: &[u8]) -> (SigLayer, bytes::Bytes) {
        let sig = self.pair.sign(&SystemRandom::new(), payload).unwrap();
        let encoded = base64::engine::general_purpose::STANDARD.encode(sig.as_ref());
        let layer = SigLayer {
            media_type: SIMPLE_SIGNING.to_string(),
            digest: Digest::of(payload),
            size: payload.len() as u64,
            annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_string(), encoded)]),
        };
        (layer, bytes::Bytes::copy_from_slice(payload))
    }
}

/// What cosign writes for `reference` and `digest`.
pub(crate) fn cosign_payload(reference: &str, digest: &Digest) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

pub(crate) fn digest(c: char) -> Digest {
    format!("sha256:{}", c.to_string().repeat(64)).parse().unwrap()
}

struct Case {
    signer: Signer,
    image: Digest,
    logical: ImageRef,
    identity: SignedIdentity,
}

impl Case {
    fn new() -> Case {
        let image = digest('a');
        let logical = ImageRef::parse(&format!("{RELEASE}@{image}")).unwrap();
        Case { signer: Signer::new(), image, logical, identity: SignedIdentity::MatchRepoDigestOrExact }
    }

    fn run(&self, layers: &[(SigLayer, bytes::Bytes)]) -> Result<Accepted, Vec<String>> {
        let (l, p): (Vec<SigLayer>, Vec<bytes::Bytes>) = layers.iter().cloned().unzip();
        let keys = [self.signer.key.clone()];
        let subject = Subject { digest: &self.image, logical: &self.logical };
        evaluate(&l, &p, subject, Trust { keys: &keys, identity: &self.identity })
    }

    fn signed(&self, payload: &[u8]) -> (SigLayer, bytes::Bytes) {
        self.signer.layer(payload)
    }

    fn good(&self) -> Vec<u8> {
        cosign_payload(&format!("{RELEASE}:4.22.0-x86_64"), &self.image)
    }

    fn reason(&self, layers: &[(SigLayer, bytes::Bytes)]) -> String {
        let reasons = self.run(layers).expect_err("rejected");
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        reasons[0].clone()
    }
}

#[test]
fn accepts_a_signature_of_the_image_digest_with_a_tagged_release_identity() {
    let c = Case::new();
    let accepted = c.run(&[c.signed(&c.good())]).unwrap();
    assert_eq!(accepted.layer, 1);
    assert_eq!(accepted.identity, format!("{RELEASE}:4.22.0-x86_64"));
    assert_eq!(accepted.key, c.signer.key.to_string());
}

#[test]
fn refuses_a_payload_with_an_extra_field_even_when_signed() {
    let c = Case::new();
    let text = String::from_utf8(c.good()).unwrap().replacen(r#""optional":null"#, r#""optional":null,"x":1"#, 1);
    assert!(c.reason(&[c.signed(text.as_bytes())]).contains("unknown field `x`"));
}

#[test]
fn refuses_a_payload_of_another_type() {
    let c = Case::new();
    let text = String::from_utf8(c.good()).unwrap().replace("cosign container image", "atomic container");
    assert!(c.reason(&[c.signed(text.as_bytes())]).contains("critical.type"));
}

#[test]
fn refuses_a_signature_of_another_digest() {
    let c = Case::new();
    let other = cosign_payload(&format!("{RELEASE}:4.22.0-x86_64"), &digest('b'));
    let why = c.reason(&[c.signed(&other)]);
    assert!(why.contains(&format!("it signs {}, not the image {}", digest('b'), c.image)), "{why}");
}

#[test]
fn refuses_a_signature_naming_another_repository_or_the_bare_repository() {
    let c = Case::new();
    let other = cosign_payload("quay.io/someone/else:4.22.0", &c.image);
    assert!(c.reason(&[c.signed(&other)]).contains("does not match"));
    let bare = cosign_payload(RELEASE, &c.image);
    assert!(c.reason(&[c.signed(&bare)]).contains("matchRepoDigestOrExact"));
}

#[test]
fn refuses_a_signature_by_another_key_or_over_other_bytes() {
    let c = Case::new();
    let stranger = Signer::new().layer(&c.good());
    assert!(c.reason(&[stranger]).contains("does not verify with ECDSA P-256 key"));
    let (layer, _) = c.signed(&c.good());
    let reformatted = bytes::Bytes::from(String::from_utf8(c.good()).unwrap().replace(':', ": "));
    assert!(c.reason(&[(layer, reformatted)]).contains("does not verify"), "verified over the exact bytes");
}

#[test]
fn refuses_a_layer_without_its_signature_annotation() {
    let c = Case::new();
    let (mut layer, payload) = c.signed(&c.good());
    layer.annotations.clear();
    assert!(c.reason(&[(layer, payload)]).contains(SIGNATURE_ANNOTATION));
}

#[test]
fn one_accepted_signature_suffices_and_other_media_types_are_ignored() {
    let c = Case::new();
    let (mut other, bytes) = c.signed(b"not a signature");
    other.media_type = "application/vnd.example.attestation".into();
    let bad = Signer::new().layer(&c.good());
    let accepted = c.run(&[(other, bytes), bad, c.signed(&c.good())]).unwrap();
    assert_eq!(accepted.layer, 3);
}

#[test]
fn says_why_each_layer_was_refused_when_none_is_accepted() {
    let c = Case::new();
    let reasons = c.run(&[Signer::new().layer(&c.good()), c.signed(&cosign_payload(RELEASE, &c.image))]).unwrap_err();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].starts_with("layer 1 (sha256:") && reasons[0].contains("does not verify"), "{reasons:?}");
    assert!(reasons[1].starts_with("layer 2 (sha256:") && reasons[1].contains("does not match"), "{reasons:?}");
    let none = c.run(&[]).unwrap_err();
    assert!(none[0].contains("no application/vnd.dev.cosign.simplesigning.v1+json layer"), "{none:?}");
}

#[test]
fn a_signature_tag_must_hold_an_oci_image_manifest() {
    let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","layers":[]}"#;
    let docker = RawManifest {
        bytes: bytes::Bytes::from_static(body),
        media_type: crate::manifest::DOCKER_MANIFEST.into(),
        digest: Digest::of(body),
    };
    let why = signature_layers(&docker).unwrap_err();
    assert!(why.contains("not an OCI image manifest"), "{why}");
    let oci = RawManifest { media_type: OCI_MANIFEST.into(), ..docker.clone() };
    assert_eq!(signature_layers(&oci).unwrap(), []);
    let unknown = RawManifest { media_type: String::new(), ..docker };
    assert!(signature_layers(&unknown).is_err());
}
