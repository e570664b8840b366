//! Reading what a manifest refers to. Manifests are never re-serialised: this only looks.

#[cfg(test)]
mod proptests;

use serde::Deserialize;

use crate::digest::Digest;

pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Every manifest media type we accept, for `Accept` headers.
pub(crate) const ACCEPTED: [&str; 4] = [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX];

/// A blob or manifest a manifest points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Descriptor {
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    pub(crate) media_type: String,
    /// `os/architecture[/variant]` for the entries of a list.
    pub(crate) platform: Option<String>,
}

/// What a manifest refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// An image: its config then its layers, in manifest order.
    Image { config: Descriptor, layers: Vec<Descriptor> },
    /// A manifest list / image index: its platform manifests.
    List { manifests: Vec<Descriptor> },
}

/// Why a manifest could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON.
    #[error("manifest is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A media type that is not mirrored (its name).
    #[error("unsupported manifest media type {0:?} (schema 1 and unknown types are not mirrored)")]
    MediaType(String),
    /// A schemaVersion other than 2.
    #[error("manifest schemaVersion is {0}, expected 2")]
    Schema(u64),
    /// A digest that does not parse.
    #[error("manifest has an invalid digest: {0}")]
    Digest(#[from] crate::digest::DigestError),
    /// A manifest list with more entries than any real one (how many).
    #[error(
        "manifest list has {0} entries, more than the {MAX_LIST_ENTRIES} accepted (a real list has one per platform)"
    )]
    TooManyEntries(usize),
}

/// The most entries accepted in a manifest list or index: real ones have a handful of
/// platforms (OpenShift's have four), and every entry is a manifest held in memory.
pub(crate) const MAX_LIST_ENTRIES: usize = 128;
/// The most bytes of platform manifests read for one list (each is a few KiB in practice).
pub(crate) const MAX_LIST_CHILD_BYTES: usize = 16 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDoc {
    schema_version: Option<u64>,
    media_type: Option<String>,
    config: Option<RawDesc>,
    #[serde(default)]
    layers: Vec<RawDesc>,
    manifests: Option<Vec<RawDesc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDesc {
    media_type: Option<String>,
    digest: String,
    size: u64,
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
struct RawPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl RawDesc {
    fn into_descriptor(self) -> Result<Descriptor, ManifestError> {
        Ok(Descriptor {
            digest: self.digest.parse()?,
            size: self.size,
            media_type: self.media_type.unwrap_or_default(),
            platform: self.platform.map(|p| match p.variant {
                Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                None => format!("{}/{}", p.os, p.architecture),
            }),
        })
    }
}

/// Parse `bytes` given the media type the store reported (the body's own `mediaType`
/// is used when the store gave none or a generic one).
pub(crate) fn parse(bytes: &[u8], media_type: &str) -> Result<Parsed, ManifestError> {
    let doc: RawDoc = serde_json::from_slice(bytes)?;
    if let Some(v) = doc.schema_version {
        if v != 2 {
            return Err(ManifestError::Schema(v));
        }
    }
    let kind = effective_media_type(media_type, doc.media_type.as_deref(), doc.manifests.is_some());
    match kind.as_str() {
        DOCKER_LIST | OCI_INDEX => {
            let manifests = doc.manifests.unwrap_or_default();
            if manifests.len() > MAX_LIST_ENTRIES {
                return Err(ManifestError::TooManyEntries(manifests.len()));
            }
            let manifests = manifests.into_iter().map(RawDesc::into_descriptor).collect::<Result<_, _>>()?;
            Ok(Parsed::List { manifests })
        }
        DOCKER_MANIFEST | OCI_MANIFEST => {
            let config = doc.config.ok_or(ManifestError::MediaType(format!("{kind} without config")))?;
            let layers = doc.layers.into_iter().map(RawDesc::into_descriptor).collect::<Result<_, _>>()?;
            Ok(Parsed::Image { config: config.into_descriptor()?, layers })
        }
        other => Err(ManifestError::MediaType(other.to_string())),
    }
}

/// The media type to treat a manifest as: the store's header when specific, else the body's,
/// else OCI by shape (OCI allows omitting `mediaType`).
pub(crate) fn effective_media_type(header: &str, body: Option<&str>, has_manifests: bool) -> String {
    let header = header.split(';').next().unwrap_or("").trim();
    if ACCEPTED.contains(&header) {
        return header.to_string();
    }
    match body {
        Some(b) => b.to_string(),
        None if has_manifests => OCI_INDEX.to_string(),
        None => OCI_MANIFEST.to_string(),
    }
}

/// The media type written in a manifest body, used when a store has no headers (disk).
pub(crate) fn sniff_media_type(bytes: &[u8]) -> String {
    match serde_json::from_slice::<RawDoc>(bytes) {
        Ok(doc) => effective_media_type("", doc.media_type.as_deref(), doc.manifests.is_some()),
        Err(_) => String::new(),
    }
}

impl Parsed {
    /// The blobs an image needs (config first), or nothing for a list.
    pub(crate) fn blobs(&self) -> Vec<Descriptor> {
        match self {
            Parsed::Image { config, layers } => std::iter::once(config.clone()).chain(layers.iter().cloned()).collect(),
            Parsed::List { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn reads_config_and_layers_of_a_docker_image() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"x","digest":"{}","size":7}},
            "layers":[{{"mediaType":"y","digest":"{}","size":100}}]}}"#,
            d('a'),
            d('b')
        );
        let p = parse(body.as_bytes(), DOCKER_MANIFEST).unwrap();
        let blobs = p.blobs();
        assert_eq!(blobs.len(), 2);
        assert_eq!(blobs[0].digest.as_str(), d('a'));
        assert_eq!(blobs[1].size, 100);
    }

    #[test]
    fn reads_platforms_of_an_oci_index_without_media_type() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}","size":5,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#,
            d('c')
        );
        let Parsed::List { manifests } = parse(body.as_bytes(), "application/octet-stream").unwrap() else {
            panic!("expected a list")
        };
        assert_eq!(manifests[0].platform.as_deref(), Some("linux/arm64/v8"));
        assert_eq!(sniff_media_type(body.as_bytes()), OCI_INDEX);
    }

    #[test]
    fn refuses_schema_one_and_unknown_types() {
        let err = parse(br#"{"schemaVersion":1,"name":"x"}"#, "").unwrap_err();
        assert!(err.to_string().contains("schemaVersion is 1"));
        let err = parse(br#"{"schemaVersion":2,"mediaType":"text/plain"}"#, "").unwrap_err();
        assert!(err.to_string().contains("text/plain"));
        assert!(parse(b"not json", DOCKER_MANIFEST).is_err());
    }

    #[test]
    fn a_list_of_more_entries_than_platforms_exist_is_refused_before_any_is_read() {
        let entry =
            format!(r#"{{"mediaType":"{DOCKER_MANIFEST}","digest":"sha256:{}","size":2097152}}"#, "a".repeat(64));
        let body = |n: usize| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{}]}}"#,
                vec![entry.as_str(); n].join(",")
            )
        };
        assert!(matches!(parse(body(MAX_LIST_ENTRIES).as_bytes(), DOCKER_LIST), Ok(Parsed::List { .. })));
        let err = parse(body(1500).as_bytes(), DOCKER_LIST).expect_err("1,500 entries");
        assert_eq!(
            err.to_string(),
            "manifest list has 1500 entries, more than the 128 accepted (a real list has one per platform)"
        );
    }
}
