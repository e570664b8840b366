//! The signature ConfigMap the cluster-version operator reads (DESIGN §5): built from the
//! accepted signatures and serialised as YAML (the caller writes it).

use base64::Engine as _;
use serde::ser::SerializeMap as _;
use serde::{Serialize, Serializer};

use crate::digest::Digest;

/// Namespace the CVO reads signature ConfigMaps from.
pub(crate) const NAMESPACE: &str = "openshift-config-managed";
/// The label that marks a signature ConfigMap.
pub(crate) const LABEL: &str = "release.openshift.io/verification-signatures";

/// Why the ConfigMap could not be serialised.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigMapError {
    #[error("cannot serialise signature configmap {name} as yaml")]
    Yaml {
        name: String,
        #[source]
        source: serde_saphyr::SerializeError,
    },
}

/// A `v1` ConfigMap with `binaryData` in signature order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfigMap {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: Metadata,
    #[serde(serialize_with = "ordered")]
    pub(crate) binary_data: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Metadata {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) labels: std::collections::BTreeMap<String, String>,
}

/// `sha256-<hex>`: the ConfigMap's name for a release digest.
pub(crate) fn config_map_name(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm(), digest.hex())
}

/// The ConfigMap for `digest` carrying `signatures` as `<name>-1`, `<name>-2`, …
pub(crate) fn build(digest: &Digest, signatures: &[&[u8]]) -> ConfigMap {
    let name = config_map_name(digest);
    let b64 = base64::engine::general_purpose::STANDARD;
    let binary_data =
        signatures.iter().enumerate().map(|(i, sig)| (format!("{name}-{}", i + 1), b64.encode(sig))).collect();
    ConfigMap {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        metadata: Metadata { name, namespace: NAMESPACE.into(), labels: [(LABEL.to_string(), String::new())].into() },
        binary_data,
    }
}

impl ConfigMap {
    /// The YAML document.
    pub(crate) fn to_yaml(&self) -> Result<String, ConfigMapError> {
        serde_saphyr::to_string(self)
            .map_err(|source| ConfigMapError::Yaml { name: self.metadata.name.clone(), source })
    }
}

/// Pairs serialised as a mapping, in their order (`-10` after `-9`, unlike a BTreeMap).
fn ordered<S: Serializer>(pairs: &[(String, String)], serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (key, value) in pairs {
        map.serialize_entry(key, value)?;
    }
    map.end()
}

/// Signature `n` of `digest` from a signature ConfigMap file (ours or oc's, YAML or JSON):
/// the base64 of `binaryData["sha256-<hex>-<n>"]`, or `None` when it has no such entry.
pub(crate) fn read_signature(text: &[u8], digest: &Digest, n: u32) -> Result<Option<Vec<u8>>, String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(default, rename = "binaryData")]
        binary_data: std::collections::BTreeMap<String, String>,
    }
    let doc: Doc = serde_saphyr::from_slice(text).map_err(|e| format!("not a ConfigMap ({e})"))?;
    let key = format!("{}-{n}", config_map_name(digest));
    let Some(value) = doc.binary_data.get(&key) else { return Ok(None) };
    let compact: String = value.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map(Some)
        .map_err(|_| format!("binaryData {key} is not base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "81154f5c03294534e1eaf0319bef7a601134f891689ccede5d705ef659aa8c92";

    fn digest() -> Digest {
        format!("sha256:{HEX}").parse().expect("digest")
    }

    #[test]
    fn signatures_read_back_from_a_written_configmap() {
        let cm = build(&digest(), &[b"first", b"second"]);
        let yaml = cm.to_yaml().expect("yaml");
        assert_eq!(read_signature(yaml.as_bytes(), &digest(), 2).expect("parse"), Some(b"second".to_vec()));
        assert_eq!(read_signature(yaml.as_bytes(), &digest(), 3).expect("parse"), None);
        let other: Digest = format!("sha256:{}", "0".repeat(64)).parse().expect("digest");
        assert_eq!(read_signature(yaml.as_bytes(), &other, 1).expect("parse"), None);
        assert!(read_signature(b"[1, 2]", &digest(), 1).is_err());
    }

    #[test]
    fn yaml_is_the_configmap_the_cvo_reads() {
        let yaml = build(&digest(), &[b"one", b"two"]).to_yaml().expect("yaml");
        let want = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sha256-{HEX}\n  \
             namespace: openshift-config-managed\n  labels:\n    \
             release.openshift.io/verification-signatures: \"\"\nbinaryData:\n  \
             sha256-{HEX}-1: b25l\n  sha256-{HEX}-2: dHdv\n"
        );
        assert_eq!(yaml, want);
    }
}
