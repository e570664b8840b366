//! The sigstore parsers read untrusted input: keys from a payload or a file, `.sig`
//! manifests and payloads from any registry. None may panic, whatever the bytes; what a
//! payload parse accepts has exactly cosign's shape; and a payload changed in any way after
//! signing is never accepted.

use std::sync::OnceLock;

use base64::Engine as _;
use proptest::prelude::*;

use super::identity::SignedIdentity;
use super::key::tests::{P256_PEM, RSA_PEM};
use super::key::PublicKey;
use super::verify::tests::{cosign_payload, digest, Signer, RELEASE};
use super::verify::{evaluate, signature_layers, SigLayer, Subject, Trust};
use super::{payload, payload::COSIGN_TYPE};
use crate::digest::Digest;
use crate::fuzzing::{config, json_tree, mutated};
use crate::reference::ImageRef;
use crate::store::RawManifest;

const KEYS: &[&str] = &[
    "critical",
    "optional",
    "type",
    "image",
    "identity",
    "docker-manifest-digest",
    "docker-reference",
    "creator",
    "timestamp",
    "schemaVersion",
    "mediaType",
    "layers",
    "digest",
    "size",
    "annotations",
    "dev.cosignproject.cosign/signature",
];

fn der_of(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("base64")
}

fn key_seeds() -> Vec<Vec<u8>> {
    vec![der_of(RSA_PEM), der_of(P256_PEM)]
}

fn payload_seeds() -> Vec<Vec<u8>> {
    let good = cosign_payload(&format!("{RELEASE}:4.22.0"), &digest('a'));
    let optional = String::from_utf8(good.clone()).expect("text").replace("null", r#"{"creator":"x","timestamp":1}"#);
    vec![good, optional.into_bytes()]
}

fn manifest_seed() -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":233,"digest":"{a}"}},"layers":[{{"mediaType":"{t}","size":248,"digest":"{a}","annotations":{{"dev.cosignproject.cosign/signature":"MEUCIQ=="}}}}]}}"#,
        a = digest('a'),
        t = super::SIMPLE_SIGNING
    )
    .into_bytes()
}

/// The first seed with white space after some `{` and `,` (never inside a string): the
/// same JSON, other bytes.
fn respaced() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((any::<usize>(), prop::sample::select(vec![b' ', b'\n', b'\t'])), 1..4).prop_map(|spaces| {
        let mut bytes = payload_seeds().remove(0);
        let structural: Vec<usize> =
            bytes.iter().enumerate().filter(|(_, b)| matches!(b, b'{' | b',')).map(|(i, _)| i + 1).collect();
        let mut at: Vec<(usize, u8)> = spaces.iter().map(|(i, c)| (structural[i % structural.len()], *c)).collect();
        at.sort_unstable_by(|a, b| b.cmp(a));
        for (i, c) in at {
            bytes.insert(i, c);
        }
        bytes
    })
}

/// Payload-shaped objects: cosign's keys or others, the real type or another string.
fn shaped_payload() -> impl Strategy<Value = Vec<u8>> {
    let text = prop_oneof![Just(COSIGN_TYPE.to_string()), "[ -~]{0,40}"];
    let extra = prop::option::of(prop::sample::select(KEYS));
    let optional =
        prop_oneof![Just("null".to_string()), Just("{}".to_string()), Just(r#"{"timestamp":1.5}"#.to_string())];
    (text, extra, optional, any::<bool>()).prop_map(|(kind, extra, optional, tagged)| {
        let reference = if tagged { format!("{RELEASE}:1") } else { RELEASE.to_string() };
        let extra = extra.map(|k| format!(r#","{k}":1"#)).unwrap_or_default();
        let kind = serde_json::to_string(&kind).expect("a JSON string");
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{}"}},"type":{kind}{extra}}},"optional":{optional}}}"#,
            digest('a')
        )
        .into_bytes()
    })
}

/// What `payload::parse` accepts has exactly the top-level and critical keys of cosign's
/// payload and its type.
fn check_payload(bytes: &[u8]) -> Result<(), TestCaseError> {
    if payload::parse(bytes).is_ok() {
        let doc: serde_json::Value = serde_json::from_slice(bytes).expect("accepted JSON parses");
        let mut top: Vec<&String> = doc.as_object().expect("an object").keys().collect();
        top.sort();
        prop_assert_eq!(top, ["critical", "optional"]);
        let mut critical: Vec<&String> = doc["critical"].as_object().expect("an object").keys().collect();
        critical.sort();
        prop_assert_eq!(critical, ["identity", "image", "type"]);
        prop_assert_eq!(doc["critical"]["type"].as_str(), Some(COSIGN_TYPE));
    }
    Ok(())
}

fn check_manifest(bytes: &[u8]) {
    let raw = RawManifest { digest: Digest::of(bytes), bytes: bytes.to_vec().into(), media_type: String::new() };
    let _ = signature_layers(&raw);
}

/// One signer for every case: a signature of the good payload.
fn signed() -> &'static (Signer, SigLayer, Vec<u8>) {
    static SIGNED: OnceLock<(Signer, SigLayer, Vec<u8>)> = OnceLock::new();
    SIGNED.get_or_init(|| {
        let signer = Signer::new();
        let payload = payload_seeds().remove(0);
        let (layer, _) = signer.layer(&payload);
        (signer, layer, payload)
    })
}

proptest! {
    #![proptest_config(config("proptest-regressions/signature/sigstore/proptests.txt"))]

    #[test]
    fn keys_of_any_bytes_are_refused_or_one_of_three_algorithms(
        der in prop_oneof![mutated(key_seeds()), prop::collection::vec(any::<u8>(), 0..600)]
    ) {
        if let Ok(key) = PublicKey::from_spki(&der) {
            let name = key.algorithm();
            prop_assert!(name.starts_with("RSA-") || name == "ECDSA P-256" || name == "ECDSA P-384", "{}", name);
        }
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der));
        let _ = PublicKey::from_pem(pem.as_bytes());
    }

    #[test]
    fn mutated_pem_text_never_panics(text in mutated(vec![RSA_PEM.as_bytes().to_vec(), P256_PEM.as_bytes().to_vec()])) {
        let _ = PublicKey::from_pem(&text);
    }

    #[test]
    fn payloads_are_refused_or_have_exactly_cosigns_shape(
        bytes in prop_oneof![
            mutated(payload_seeds()),
            json_tree(KEYS).prop_map(|v| serde_json::to_vec(&v).expect("serialise")),
            shaped_payload(),
        ]
    ) {
        check_payload(&bytes)?;
    }

    #[test]
    fn signature_manifests_of_any_shape_never_panic(
        bytes in prop_oneof![
            mutated(vec![manifest_seed()]),
            json_tree(KEYS).prop_map(|v| serde_json::to_vec(&v).expect("serialise")),
        ]
    ) {
        check_manifest(&bytes);
    }

    #[test]
    fn identity_rules_never_panic_on_any_claim(claim in "[ -~]{0,80}", intended in "[a-z0-9./:@-]{1,60}") {
        let Ok(intended) = ImageRef::parse(&intended) else { return Ok(()) };
        for rule in [
            SignedIdentity::MatchRepoDigestOrExact,
            SignedIdentity::MatchRepository,
            SignedIdentity::ExactRepository("quay.io/a/b".into()),
            SignedIdentity::RemapIdentity { prefix: "quay.io".into(), signed_prefix: "m.io:5000/x".into() },
        ] {
            let _ = rule.matches(&intended, &claim);
        }
    }

    #[test]
    fn a_payload_changed_after_signing_is_never_accepted(
        bytes in prop_oneof![mutated(payload_seeds().into_iter().take(1).collect()), respaced()]
    ) {
        let (signer, layer, original) = signed();
        let image = digest('a');
        let logical = ImageRef::parse(&format!("{RELEASE}@{image}")).expect("reference");
        let keys = [signer.key.clone()];
        let trust = Trust { keys: &keys, identity: &SignedIdentity::MatchRepoDigestOrExact };
        let verdict = evaluate(
            std::slice::from_ref(layer),
            &[bytes.clone().into()],
            Subject { digest: &image, logical: &logical },
            trust,
        );
        prop_assert_eq!(verdict.is_ok(), &bytes == original);
    }
}
