//! `parse_image_references`: never panics on any payload file, everything it accepts is safe
//! to mirror (pinned by digest, unique names usable in tags), and well-formed ImageStreams
//! parse to exactly their components.

use proptest::prelude::*;
use serde_json::json;

use crate::fuzzing::{config, corpus_files, json_tree, mutated};
use crate::reference::check_tag;
use crate::release::parse_image_references;

const KEYS: &[&str] = &["kind", "apiVersion", "metadata", "name", "spec", "tags", "from", "annotations", "status"];

/// What every accepted image-references must satisfy.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(refs) = parse_image_references(bytes) else { return Ok(()) };
    let mut names = std::collections::BTreeSet::new();
    for c in &refs.components {
        prop_assert!(check_tag(&c.name).is_ok(), "{:?}", c.name);
        prop_assert!(names.insert(c.name.clone()), "{:?} twice", c.name);
        prop_assert!(c.source.digest.is_some() && c.source.tag.is_none(), "{:?}", c.source);
        prop_assert!(c.source.registry().is_some(), "{:?}", c.source);
    }
    prop_assert!(!refs.components.is_empty());
    Ok(())
}

fn stream(version: &str, tags: serde_json::Value) -> Vec<u8> {
    let doc = json!({
        "kind": "ImageStream",
        "apiVersion": "image.openshift.io/v1",
        "metadata": { "name": version },
        "spec": { "tags": tags },
    });
    serde_json::to_vec(&doc).expect("serialise")
}

/// Unique component names with `host/repo@digest` pull specs.
fn components() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = "[a-z0-9_][a-z0-9_.-]{0,30}";
    let spec = ("[a-z]{1,8}\\.[a-z]{2,4}(:[1-9][0-9]{0,3})?", "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}", "[0-9a-f]{64}")
        .prop_map(|(host, repo, hex)| format!("{host}/{repo}@sha256:{hex}"));
    prop::collection::btree_map(name, spec, 1..24).prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(config("proptest-regressions/release/image_references/proptests.txt"))]

    #[test]
    fn arbitrary_bytes_are_refused_or_parse_safely(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes)?;
    }

    #[test]
    fn mutated_corpus_files_are_refused_or_parse_safely(bytes in mutated(corpus_files("image-references"))) {
        check(&bytes)?;
    }

    #[test]
    fn structured_json_is_refused_or_parses_safely(doc in json_tree(KEYS)) {
        check(&serde_json::to_vec(&doc).expect("serialise"))?;
    }

    #[test]
    fn random_tags_in_a_real_stream_are_refused_or_parse_safely(tags in json_tree(KEYS)) {
        check(&stream("4.99.0", json!([tags])))?;
    }

    #[test]
    fn well_formed_streams_parse_to_their_components(version in "[0-9]\\.[0-9]{1,2}\\.[0-9]", comps in components()) {
        let tags: Vec<_> = comps
            .iter()
            .map(|(name, spec)| json!({ "name": name, "from": { "kind": "DockerImage", "name": spec } }))
            .collect();
        let refs = parse_image_references(&stream(&version, json!(tags))).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&refs.version, &version);
        let got: Vec<(String, String)> = refs.components.iter().map(|c| (c.name.clone(), c.source.to_string())).collect();
        prop_assert_eq!(got, comps);
    }
}
