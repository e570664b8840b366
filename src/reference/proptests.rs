//! `ImageRef::parse`: never panics, what it accepts round-trips through `Display` and cannot
//! name a path outside its repository, and well-formed references parse to their parts.

use proptest::prelude::*;

use crate::digest::Digest;
use crate::fuzzing::{config, mutated};
use crate::reference::{check_tag, ImageRef, Location};

fn corpus() -> Vec<Vec<u8>> {
    include_str!("../../tests/data/corpus/references.txt").lines().map(|l| l.as_bytes().to_vec()).collect()
}

/// What every accepted reference must satisfy.
fn check(text: &str) -> Result<(), TestCaseError> {
    let _ = ImageRef::parse_repository(text);
    let Ok(r) = ImageRef::parse(text) else { return Ok(()) };
    let again = ImageRef::parse(&r.to_string());
    let again = again.ok();
    prop_assert_eq!(again.as_ref(), Some(&r), "{:?} does not round-trip", text);
    prop_assert!(!r.repository.starts_with('/') && !r.repository.ends_with('/'), "{:?}", r);
    for part in r.repository.split('/') {
        prop_assert!(!part.is_empty() && part != "." && part != "..", "{:?} escapes: {:?}", text, r);
    }
    if let Some(tag) = &r.tag {
        prop_assert!(check_tag(tag).is_ok(), "{:?}", r);
    }
    if let Location::Registry(host) = &r.location {
        prop_assert!(!host.is_empty() && !host.contains('/'), "{:?}", r);
    }
    Ok(())
}

fn host() -> impl Strategy<Value = String> {
    let named = "[a-z][a-z0-9-]{0,10}[a-z0-9](\\.[a-z][a-z0-9]{0,8}){1,2}";
    let port = prop::option::of(1u16..=u16::MAX);
    let named = (named, port).prop_map(|(name, port)| port.map_or_else(|| name.clone(), |p| format!("{name}:{p}")));
    prop_oneof![named, Just("localhost".to_string()), Just("localhost:5000".to_string())]
        .prop_filter("not Docker Hub (normalised)", |h| !h.contains("docker.io"))
}

fn repository() -> impl Strategy<Value = String> {
    let part = "[a-z0-9]{1,8}(([._]|__|-{1,3})[a-z0-9]{1,8}){0,2}";
    prop::collection::vec(part, 1..5).prop_map(|parts| parts.join("/"))
}

fn tag() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}".prop_map(String::from)
}

fn digest() -> impl Strategy<Value = Digest> {
    "[0-9a-f]{64}".prop_map(|hex| format!("sha256:{hex}").parse().expect("a valid digest"))
}

proptest! {
    #![proptest_config(config("proptest-regressions/reference/proptests.txt"))]

    #[test]
    fn any_text_is_refused_or_parses_safely(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn reference_alphabet_text_is_refused_or_parses_safely(text in "(file://)?[a-zA-Z0-9._:/@-]{0,72}") {
        check(&text)?;
    }

    #[test]
    fn mutated_corpus_references_are_refused_or_parse_safely(bytes in mutated(corpus())) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn well_formed_references_parse_to_their_parts(
        host in host(),
        repo in repository(),
        tag in prop::option::of(tag()),
        digest in prop::option::of(digest()),
    ) {
        let mut text = format!("{host}/{repo}");
        if let Some(t) = &tag {
            text.push_str(&format!(":{t}"));
        }
        if let Some(d) = &digest {
            text.push_str(&format!("@{d}"));
        }
        let r = ImageRef::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&r.location, &Location::Registry(host));
        prop_assert_eq!(&r.repository, &repo);
        prop_assert_eq!(&r.tag, &tag);
        prop_assert_eq!(&r.digest, &digest);
        prop_assert_eq!(r.to_string(), text);
        let disk = ImageRef::parse(&format!("file://{repo}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(disk.location, Location::Disk);
    }

    #[test]
    fn digests_parse_only_in_canonical_form(text in "(sha256:)?[0-9a-fA-F]{0,66}") {
        if let Ok(d) = text.parse::<Digest>() {
            prop_assert_eq!(d.as_str(), text.as_str());
            prop_assert_eq!(d.hex().len(), 64);
            prop_assert!(d.hex().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
    }
}
