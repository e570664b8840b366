//! `release-manifests/image-references` (an ImageStream) and `release-metadata`.

#[cfg(test)]
mod proptests;

use std::collections::BTreeSet;

use serde::Deserialize;

use super::ReleaseError;
use crate::reference::{check_tag, ImageRef};

/// One component image of the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Component {
    /// The ImageStream tag name, e.g. `cluster-version-operator`.
    pub(crate) name: String,
    /// Where it lives, always pinned by digest.
    pub(crate) source: ImageRef,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageStream {
    kind: Option<String>,
    api_version: Option<String>,
    #[serde(default)]
    metadata: Metadata,
    spec: Option<Spec>,
}

#[derive(Deserialize, Default)]
struct Metadata {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Spec {
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    name: String,
    from: Option<From>,
}

#[derive(Deserialize)]
struct From {
    kind: Option<String>,
    name: String,
}

/// The parsed ImageStream: its name (the release version) and components.
#[derive(Debug, Clone)]
pub(crate) struct ImageReferences {
    pub(crate) version: String,
    pub(crate) components: Vec<Component>,
}

/// Parse and validate `image-references`: every component by digest, unique, and with a
/// name that can become part of a tag.
pub(crate) fn parse_image_references(bytes: &[u8]) -> Result<ImageReferences, ReleaseError> {
    let bad = |reason: String| ReleaseError::ImageReferences { reason };
    let is: ImageStream = serde_json::from_slice(bytes).map_err(|e| bad(format!("not valid JSON ({e})")))?;
    if is.kind.as_deref() != Some("ImageStream") {
        return Err(bad(format!("kind is {:?}, expected \"ImageStream\"", is.kind.unwrap_or_default())));
    }
    if let Some(v) = is.api_version.as_deref().filter(|v| !v.starts_with("image.openshift.io/")) {
        return Err(bad(format!("apiVersion is {v:?}, expected image.openshift.io/v1")));
    }
    let tags = is.spec.map(|s| s.tags).unwrap_or_default();
    if tags.is_empty() {
        return Err(bad("it lists no component images (spec.tags is empty)".to_string()));
    }
    let mut seen = BTreeSet::new();
    let mut components = Vec::with_capacity(tags.len());
    for tag in tags {
        check_tag(&tag.name).map_err(|r| bad(format!("component name {:?} is not usable in a tag: {r}", tag.name)))?;
        if !seen.insert(tag.name.clone()) {
            return Err(bad(format!("component {:?} is listed twice", tag.name)));
        }
        components.push(component(tag).map_err(bad)?);
    }
    Ok(ImageReferences { version: is.metadata.name.unwrap_or_default(), components })
}

fn component(tag: Tag) -> Result<Component, String> {
    let from = tag.from.ok_or_else(|| format!("component {:?} has no from", tag.name))?;
    if let Some(kind) = from.kind.as_deref().filter(|k| *k != "DockerImage") {
        return Err(format!("component {:?} is a {kind}, expected DockerImage", tag.name));
    }
    let source = ImageRef::parse(&from.name).map_err(|e| format!("component {:?}: {e}", tag.name))?;
    if source.registry().is_none() {
        return Err(format!("component {:?} refers to a file:// image {:?}", tag.name, from.name));
    }
    if source.digest.is_none() {
        return Err(format!(
            "component {:?} refers to {:?} by tag; image-references must point at images by digest",
            tag.name, from.name
        ));
    }
    Ok(Component { name: tag.name, source: ImageRef { tag: None, ..source } })
}

#[derive(Deserialize)]
struct ReleaseMetadata {
    kind: Option<String>,
    version: Option<String>,
}

/// The `version` of `release-metadata` (`cincinnati-metadata-v0`).
pub(crate) fn parse_release_metadata(bytes: &[u8]) -> Result<String, ReleaseError> {
    let bad = |reason: String| ReleaseError::Metadata { reason };
    let m: ReleaseMetadata = serde_json::from_slice(bytes).map_err(|e| bad(format!("not valid JSON ({e})")))?;
    if m.kind.as_deref() != Some("cincinnati-metadata-v0") {
        return Err(bad(format!("kind is {:?}, expected \"cincinnati-metadata-v0\"", m.kind.unwrap_or_default())));
    }
    m.version.filter(|v| !v.is_empty()).ok_or_else(|| bad("it has no version".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0da6316466d60a3a4535d5fed3589feb0391989982fba59d47d4c729912d6363";

    fn stream(tags: &str) -> String {
        format!(
            r#"{{"kind":"ImageStream","apiVersion":"image.openshift.io/v1","metadata":{{"name":"4.99.0"}},"spec":{{"tags":[{tags}]}}}}"#
        )
    }

    #[test]
    fn reads_components_pinned_by_digest() {
        let body = stream(&format!(r#"{{"name":"cli","from":{{"kind":"DockerImage","name":"quay.io/o/art@{D}"}}}}"#));
        let refs = parse_image_references(body.as_bytes()).unwrap();
        assert_eq!(refs.version, "4.99.0");
        assert_eq!(refs.components[0].name, "cli");
        assert_eq!(refs.components[0].source.to_string(), format!("quay.io/o/art@{D}"));
    }

    #[test]
    fn rejects_a_component_referenced_by_tag() {
        let body = stream(r#"{"name":"cli","from":{"kind":"DockerImage","name":"quay.io/o/art:latest"}}"#);
        let err = parse_image_references(body.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("must point at images by digest") && err.contains("\"cli\""), "{err}");
    }

    #[test]
    fn rejects_duplicates_wrong_kind_and_empty_lists() {
        let one = format!(r#"{{"name":"a","from":{{"name":"q.io/x@{D}"}}}}"#);
        let err = parse_image_references(stream(&format!("{one},{one}")).as_bytes()).unwrap_err();
        assert!(err.to_string().contains("listed twice"));
        let err = parse_image_references(br#"{"kind":"List"}"#).unwrap_err();
        assert!(err.to_string().contains("expected \"ImageStream\""));
        let err = parse_image_references(stream("").as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no component images"));
        let bad_name = format!(r#"{{"name":"../x","from":{{"name":"q.io/x@{D}"}}}}"#);
        assert!(parse_image_references(stream(&bad_name).as_bytes()).is_err());
    }

    #[test]
    fn reads_release_metadata_version() {
        let v =
            parse_release_metadata(br#"{"kind":"cincinnati-metadata-v0","version":"4.15.0","previous":[]}"#).unwrap();
        assert_eq!(v, "4.15.0");
        assert!(parse_release_metadata(br#"{"kind":"other","version":"1"}"#).is_err());
    }

    /// The real payloads in ../shared/fixtures parse; the by-tag one is refused.
    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn parses_real_image_references_from_fixtures() {
        let root = crate::signature::vectors::fixtures();
        let ocp412 = root.join("oc-mirror/tests/unit/testdata/working-dir-fake/hold-release/ocp-release/4.14.1-x86_64/release-manifests/image-references");
        let refs = parse_image_references(&std::fs::read(ocp412).unwrap()).unwrap();
        assert_eq!(refs.version, "4.12.0");
        assert_eq!(refs.components.len(), 183);
        let refs =
            parse_image_references(&std::fs::read(root.join("crashvb-oc-mirror/tests/data/image-references")).unwrap())
                .unwrap();
        assert_eq!(refs.components.len(), 108);
        let by_tag = root
            .join("oc-mirror/tests/integration/image-builders/release/artifacts/release-manifests/image-references");
        let err = parse_image_references(&std::fs::read(by_tag).unwrap()).unwrap_err();
        assert!(err.to_string().contains("by digest"), "{err}");
    }
}
