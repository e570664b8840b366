//! The payload's `release-verification` ConfigMap: default signature keys and stores.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The annotation that marks the ConfigMap.
pub(crate) const ANNOTATION: &str = "release.openshift.io/verification-config-map";

/// Keys and stores named in the payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VerificationConfig {
    /// `verifier-public-key-<name>` → keyring text (armored or binary).
    pub(crate) keys: BTreeMap<String, Vec<u8>>,
    /// `store-<name>` → URL.
    pub(crate) stores: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct Doc {
    kind: Option<String>,
    #[serde(default)]
    metadata: DocMeta,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default, rename = "binaryData")]
    binary_data: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct DocMeta {
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Whether a manifest file is worth parsing for the ConfigMap (cheap text check).
pub(crate) fn mentions_annotation(text: &[u8]) -> bool {
    text.windows(ANNOTATION.len()).any(|w| w == ANNOTATION.as_bytes())
}

/// Find the annotated ConfigMap among the documents of one YAML file.
pub(crate) fn parse_verification(yaml: &[u8]) -> Result<Option<VerificationConfig>, String> {
    // Real payloads repeat keys (cluster-update-keys has `namespace` twice); Go's YAML
    // keeps the last one, and so do we.
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    let docs: Vec<Doc> = serde_saphyr::from_slice_multiple_with_options(yaml, options).map_err(|e| e.to_string())?;
    let Some(doc) = docs
        .into_iter()
        .find(|d| d.kind.as_deref() == Some("ConfigMap") && d.metadata.annotations.contains_key(ANNOTATION))
    else {
        return Ok(None);
    };
    let mut config = VerificationConfig::default();
    for (key, value) in &doc.data {
        if let Some(name) = key.strip_prefix("verifier-public-key-") {
            config.keys.insert(name.to_string(), value.clone().into_bytes());
        } else if let Some(name) = key.strip_prefix("store-") {
            config.stores.insert(name.to_string(), value.trim().to_string());
        }
    }
    for (key, value) in &doc.binary_data {
        if let Some(name) = key.strip_prefix("verifier-public-key-") {
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(value.split_whitespace().collect::<String>())
                .map_err(|_| format!("binaryData {key} is not base64"))?;
            config.keys.insert(name.to_string(), raw);
        }
    }
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_and_stores_of_the_annotated_config_map() {
        let yaml = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release-verification\n  namespace: openshift-config-managed\n  annotations:\n    {ANNOTATION}: \"\"\ndata:\n  verifier-public-key-test: |\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n    abc\n  store-local: http://127.0.0.1:1/sigs\n"
        );
        assert!(mentions_annotation(yaml.as_bytes()));
        let c = parse_verification(yaml.as_bytes()).unwrap().unwrap();
        assert!(String::from_utf8_lossy(&c.keys["test"]).starts_with("-----BEGIN PGP"));
        assert_eq!(c.stores["local"], "http://127.0.0.1:1/sigs");
    }

    #[test]
    fn ignores_unannotated_documents() {
        let yaml = "kind: ConfigMap\nmetadata:\n  name: x\ndata:\n  store-a: b\n---\nkind: Namespace\n";
        assert_eq!(parse_verification(yaml.as_bytes()).unwrap(), None);
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn parses_the_real_cluster_update_keys_config_map() {
        let path = crate::signature::vectors::fixtures()
            .join("cluster-update-keys/manifests.rhel/0000_90_cluster-update-keys_configmap.yaml");
        let yaml = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let c = parse_verification(&yaml).unwrap().expect("annotated ConfigMap");
        assert!(c.keys.keys().any(|k| k.contains("redhat")), "{:?}", c.keys.keys());
        assert!(c.stores.values().all(|u| u.starts_with("https://")), "{:?}", c.stores);
    }
}
