//! What the cluster says before anything is copied: its ClusterVersion (is it OpenShift, is
//! it new enough to read signature ConfigMaps), its own `release-verification` keys (would
//! it accept the signature), and whether the signature ConfigMap is there already.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

use super::error::{reason, status_code, ClusterError, ClusterName};
use super::kubeconfig::Cluster;
use crate::digest::Digest;
use crate::signature::{self, Accepted, Keyring, KEY_PREFIX, NAMESPACE};

/// The cluster-version operator reads signature ConfigMaps from OpenShift 4.3 on.
pub(crate) const MIN_VERSION: (u64, u64) = (4, 3);
/// The cluster's own verification ConfigMap (keys and stores of its running release).
pub(crate) const VERIFICATION_CONFIG_MAP: &str = "release-verification";

/// What `clusterversions/version` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClusterVersion {
    /// 404: the API has no ClusterVersion, so this is not an OpenShift cluster.
    Missing,
    /// Could not be read (forbidden, …): the reason.
    Unreadable(String),
    /// The version the cluster runs or is updating to, when it says.
    Version(Option<String>),
}

/// Reads `config.openshift.io/v1` ClusterVersion `version`.
pub(crate) async fn cluster_version(cluster: &Cluster) -> ClusterVersion {
    let gvk = GroupVersionKind::gvk("config.openshift.io", "v1", "ClusterVersion");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "clusterversions");
    let api: Api<DynamicObject> = Api::all_with(cluster.client.clone(), &resource);
    match api.get("version").await {
        Ok(object) => ClusterVersion::Version(version_of(&object.data)),
        Err(err) if status_code(&err) == Some(404) => ClusterVersion::Missing,
        Err(err) => ClusterVersion::Unreadable(reason(&err)),
    }
}

/// `status.desired.version`, else the newest `status.history[].version`.
pub(crate) fn version_of(data: &Value) -> Option<String> {
    let status = &data["status"];
    let desired = status["desired"]["version"].as_str();
    let history = status["history"][0]["version"].as_str();
    desired.or(history).filter(|v| !v.is_empty()).map(str::to_string)
}

/// Whether `version` (`4.2.36`, `4.14.0-rc.1`) is older than [`MIN_VERSION`]; unknown when unparsable.
pub(crate) fn too_old(version: &str) -> Option<bool> {
    let mut parts = version.split(['.', '-']);
    let major: u64 = parts.next()?.parse().ok()?;
    let minor: u64 = parts.next()?.parse().ok()?;
    Some((major, minor) < MIN_VERSION)
}

/// The warning the ClusterVersion deserves, if any.
pub(crate) fn version_warning(version: &ClusterVersion, cluster: &ClusterName) -> Option<String> {
    let (major, minor) = MIN_VERSION;
    match version {
        ClusterVersion::Missing => Some(format!(
            "cluster {cluster} has no ClusterVersion (config.openshift.io/v1): it does not look like an OpenShift \
             cluster, and nothing there reads signature configmaps"
        )),
        ClusterVersion::Unreadable(why) => {
            Some(format!("cannot read clusterversion/version of cluster {cluster}: {why}; its version is not checked"))
        }
        ClusterVersion::Version(Some(v)) if too_old(v) == Some(true) => Some(format!(
            "cluster {cluster} runs OpenShift {v}: the cluster-version operator reads signature configmaps only from \
             {major}.{minor} on, so the applied signature will not be used"
        )),
        ClusterVersion::Version(_) => None,
    }
}

/// What the cluster's `release-verification` ConfigMap gave.
pub(crate) enum ClusterKeys {
    /// No such ConfigMap (404).
    Absent,
    /// Could not be read: the reason.
    Unreadable(String),
    /// Its keyrings, and warnings about keyrings that could not be parsed.
    Keyrings(Vec<Keyring>, Vec<String>),
}

/// Reads `openshift-config-managed/release-verification` and parses its `verifier-public-key-*`.
pub(crate) async fn cluster_keys(cluster: &Cluster) -> ClusterKeys {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let config_map = match api.get(VERIFICATION_CONFIG_MAP).await {
        Ok(cm) => cm,
        Err(err) if status_code(&err) == Some(404) => return ClusterKeys::Absent,
        Err(err) => return ClusterKeys::Unreadable(reason(&err)),
    };
    let mut keys: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (name, text) in config_map.data.unwrap_or_default() {
        keys.insert(name, text.into_bytes());
    }
    for (name, bytes) in config_map.binary_data.unwrap_or_default() {
        keys.insert(name, bytes.0);
    }
    let (mut keyrings, mut warnings) = (Vec::new(), Vec::new());
    for (name, data) in keys.iter().filter(|(name, _)| name.starts_with(KEY_PREFIX)) {
        match Keyring::from_bytes(name, data) {
            Ok(keyring) => keyrings.push(keyring),
            Err(err) => warnings.push(format!(
                "{NAMESPACE}/{VERIFICATION_CONFIG_MAP} of cluster {}: {}",
                cluster.name,
                crate::exit::one_line(&err)
            )),
        }
    }
    ClusterKeys::Keyrings(keyrings, warnings)
}

/// A signature the cluster's keys reject: the CVO would refuse the update.
#[derive(Debug, thiserror::Error)]
#[error(
    "cluster {cluster} would reject the release signature: no signature to apply is valid for keyring {keyring} \
     of its configmap {NAMESPACE}/{VERIFICATION_CONFIG_MAP} (key {fingerprints}): {reasons}"
)]
pub(crate) struct RejectedByCluster {
    pub(crate) cluster: ClusterName,
    pub(crate) keyring: String,
    pub(crate) fingerprints: String,
    pub(crate) reasons: String,
}

/// Checks the signatures to apply against every keyring of the cluster (the CVO's rule:
/// each keyring needs one valid signature). The keyrings and the key that verified each.
pub(crate) fn verify_with_cluster_keys(
    keyrings: &[Keyring],
    accepted: &[Accepted],
    digest: &Digest,
    cluster: &ClusterName,
) -> Result<Vec<(String, String)>, RejectedByCluster> {
    let signatures = signature::distinct_signatures(accepted);
    let mut satisfied = Vec::new();
    for keyring in keyrings {
        let mut reasons = Vec::new();
        let found = signatures.iter().enumerate().find_map(|(i, bytes)| {
            match signature::verify(bytes, keyring, &digest.to_string()) {
                Ok(v) => Some(v.key_fingerprint),
                Err(err) => {
                    reasons.push(format!("signature {}: {}", i + 1, crate::exit::one_line(&err)));
                    None
                }
            }
        });
        match found {
            Some(fingerprint) => satisfied.push((keyring.name().to_string(), fingerprint)),
            None => {
                return Err(RejectedByCluster {
                    cluster: cluster.clone(),
                    keyring: keyring.name().to_string(),
                    fingerprints: keyring.fingerprints().join(", "),
                    reasons: reasons.join("; "),
                })
            }
        }
    }
    Ok(satisfied)
}

/// The signature ConfigMap as the cluster has it, if it does.
pub(crate) async fn existing_config_map(cluster: &Cluster, name: &str) -> Result<Option<ConfigMap>, ClusterError> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    api.get_opt(name).await.map_err(|err| ClusterError::Api {
        action: "read",
        object: format!("configmap/{name} in namespace {NAMESPACE}"),
        cluster: cluster.name.clone(),
        reason: reason(&err),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> ClusterName {
        ClusterName { server: "https://api.example:6443".into(), context: "admin".into() }
    }

    #[test]
    fn the_version_is_the_desired_one_else_the_newest_in_history() {
        let both =
            serde_json::json!({"status": {"desired": {"version": "4.14.3"}, "history": [{"version": "4.14.2"}]}});
        assert_eq!(version_of(&both).as_deref(), Some("4.14.3"));
        let history = serde_json::json!({"status": {"history": [{"version": "4.2.36"}, {"version": "4.1.0"}]}});
        assert_eq!(version_of(&history).as_deref(), Some("4.2.36"));
        assert_eq!(version_of(&serde_json::json!({"spec": {}})), None);
    }

    #[test]
    fn versions_before_4_3_are_too_old() {
        assert_eq!(too_old("4.2.36"), Some(true));
        assert_eq!(too_old("3.11.0"), Some(true));
        assert_eq!(too_old("4.3.0"), Some(false));
        assert_eq!(too_old("4.14.0-rc.1"), Some(false));
        assert_eq!(too_old("5.0"), Some(false));
        assert_eq!(too_old("nightly"), None);
    }

    #[test]
    fn warnings_name_the_cluster_and_the_reason() {
        let missing = version_warning(&ClusterVersion::Missing, &cluster()).expect("warning");
        assert!(missing.starts_with("cluster https://api.example:6443 (context admin) has no ClusterVersion"));
        assert!(missing.contains("not look like an OpenShift cluster"), "{missing}");
        let old = version_warning(&ClusterVersion::Version(Some("4.2.0".into())), &cluster()).expect("warning");
        assert!(old.contains("runs OpenShift 4.2.0") && old.contains("from 4.3 on"), "{old}");
        assert_eq!(version_warning(&ClusterVersion::Version(Some("4.15.0".into())), &cluster()), None);
        assert_eq!(version_warning(&ClusterVersion::Version(None), &cluster()), None);
        let unreadable = version_warning(&ClusterVersion::Unreadable("forbidden (403)".into()), &cluster());
        assert!(unreadable.is_some_and(|w| w.contains("forbidden (403); its version is not checked")));
    }
}
