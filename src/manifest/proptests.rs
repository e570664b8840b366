//! `manifest::parse` and `sniff_media_type`: never panic on any body and any `Content-Type`,
//! and well-formed images and lists (Docker and OCI) parse to exactly their descriptors.

use proptest::prelude::*;
use serde_json::json;

use crate::digest::Digest;
use crate::fuzzing::{config, corpus_files, json_tree, mutated};
use crate::manifest::{self, Descriptor, Parsed, ACCEPTED};

const KEYS: &[&str] = &[
    "schemaVersion",
    "mediaType",
    "config",
    "layers",
    "manifests",
    "digest",
    "size",
    "platform",
    "os",
    "architecture",
    "variant",
    "annotations",
];

fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(ACCEPTED.to_vec()).prop_map(str::to_string),
        prop::sample::select(ACCEPTED.to_vec()).prop_map(|t| format!("{t}; charset=utf-8")),
        Just(String::new()),
        "[ -~]{0,40}",
    ]
}

/// Parsing must not panic; what parses has valid digests only (checked by their type).
fn check(bytes: &[u8], content_type: &str) -> Result<(), TestCaseError> {
    let _ = manifest::sniff_media_type(bytes);
    if let Ok(parsed) = manifest::parse(bytes, content_type) {
        let _ = parsed.blobs();
    }
    Ok(())
}

fn descriptor(with_platform: bool) -> impl Strategy<Value = Descriptor> {
    let platform = ("(linux|windows)", "(amd64|arm64|s390x|ppc64le)", prop::option::of("v[5-8]"))
        .prop_map(|(os, arch, v)| v.map_or(format!("{os}/{arch}"), |v| format!("{os}/{arch}/{v}")));
    let platform = if with_platform { prop::option::of(platform).boxed() } else { Just(None).boxed() };
    ("[0-9a-f]{64}", any::<u64>(), "[a-z]{1,10}/[a-z.+-]{1,30}", platform).prop_map(
        |(hex, size, media_type, platform)| {
            let digest: Digest = format!("sha256:{hex}").parse().expect("a valid digest");
            Descriptor { digest, size, media_type, platform }
        },
    )
}

fn to_json(d: &Descriptor) -> serde_json::Value {
    let mut v = json!({ "mediaType": d.media_type, "digest": d.digest.as_str(), "size": d.size });
    if let Some(p) = &d.platform {
        let mut parts = p.split('/');
        let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
        v["platform"] = json!({ "os": os, "architecture": arch });
        if let Some(variant) = variant {
            v["platform"]["variant"] = json!(variant);
        }
    }
    v
}

proptest! {
    #![proptest_config(config("proptest-regressions/manifest/proptests.txt"))]

    #[test]
    fn arbitrary_bytes_are_refused_or_parse(bytes in prop::collection::vec(any::<u8>(), 0..512), ct in content_type()) {
        check(&bytes, &ct)?;
    }

    #[test]
    fn mutated_corpus_manifests_are_refused_or_parse(bytes in mutated(corpus_files("manifests")), ct in content_type()) {
        check(&bytes, &ct)?;
    }

    #[test]
    fn structured_json_is_refused_or_parses(doc in json_tree(KEYS), ct in content_type()) {
        check(&serde_json::to_vec(&doc).expect("serialise"), &ct)?;
    }

    #[test]
    fn images_parse_to_their_config_and_layers(
        config in descriptor(false),
        layers in prop::collection::vec(descriptor(false), 0..12),
        oci in any::<bool>(),
        with_type in any::<bool>(),
    ) {
        let kind = if oci { manifest::OCI_MANIFEST } else { manifest::DOCKER_MANIFEST };
        let mut doc = json!({ "schemaVersion": 2, "config": to_json(&config), "layers": layers.iter().map(to_json).collect::<Vec<_>>() });
        if with_type || !oci {
            doc["mediaType"] = json!(kind);
        }
        let bytes = serde_json::to_vec_pretty(&doc).expect("serialise");
        let header = if with_type { kind } else { "application/octet-stream" };
        let parsed = manifest::parse(&bytes, header).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed, Parsed::Image { config, layers });
        prop_assert_eq!(manifest::sniff_media_type(&bytes), kind);
    }

    #[test]
    fn lists_parse_to_their_platform_manifests(entries in prop::collection::vec(descriptor(true), 0..12), oci in any::<bool>()) {
        let kind = if oci { manifest::OCI_INDEX } else { manifest::DOCKER_LIST };
        let doc = json!({ "schemaVersion": 2, "mediaType": kind, "manifests": entries.iter().map(to_json).collect::<Vec<_>>() });
        let bytes = serde_json::to_vec(&doc).expect("serialise");
        let parsed = manifest::parse(&bytes, "").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed, Parsed::List { manifests: entries });
    }
}
