//! Writing the signature ConfigMap to the cluster, as `oc apply` would for this one object:
//! create it, or with `--overwrite` get it and replace it at its current resourceVersion,
//! again on a conflict. Every write names the tool as field manager; a dry run asks the API
//! server to validate without persisting (`dryRun=All`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap as ApiConfigMap;
use kube::api::{Api, PostParams};

use super::error::{reason, status_code, status_reason, ClusterError};
use super::kubeconfig::Cluster;
use crate::signature::{ConfigMap, NAMESPACE};

/// The field manager of every write.
pub(crate) const FIELD_MANAGER: &str = "kubectl-release_mirror";
/// How many times an update is tried when the object keeps changing under it.
pub(crate) const CONFLICT_TRIES: u32 = 5;

/// What the apply did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    Created,
    Configured,
}

impl Applied {
    /// kubectl's word for it.
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Applied::Created => "created",
            Applied::Configured => "configured",
        }
    }
}

/// The API's ConfigMap for ours: the same name, namespace, label and binaryData.
pub(crate) fn to_api(config_map: &ConfigMap) -> Result<ApiConfigMap, ClusterError> {
    let convert = |source| ClusterError::Convert { name: config_map.metadata.name.clone(), source };
    let value = serde_json::to_value(config_map).map_err(convert)?;
    serde_json::from_value(value).map_err(convert)
}

/// `configmap/<name>`.
pub(crate) fn object_name(config_map: &ConfigMap) -> String {
    format!("configmap/{}", config_map.metadata.name)
}

/// Creates `config_map`, or with `overwrite` creates or updates it.
pub(crate) async fn apply(
    cluster: &Cluster,
    config_map: &ConfigMap,
    overwrite: bool,
    dry_run: bool,
) -> Result<Applied, ClusterError> {
    let api: Api<ApiConfigMap> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let object = to_api(config_map)?;
    let params = PostParams { dry_run, field_manager: Some(FIELD_MANAGER.to_string()) };
    let writer = Writer { cluster, api, object_name: object_name(config_map) };
    if !overwrite {
        return match writer.api.create(&params, &object).await {
            Ok(_) => Ok(Applied::Created),
            Err(err) if status_reason(&err) == Some("AlreadyExists") => Err(writer.exists()),
            Err(err) => Err(writer.failed("create", &err)),
        };
    }
    for _ in 0..CONFLICT_TRIES {
        match writer.try_update(&params, &object).await? {
            Some(applied) => return Ok(applied),
            None => continue,
        }
    }
    Err(ClusterError::Conflicts { object: writer.in_namespace(), cluster: cluster.name.clone(), tries: CONFLICT_TRIES })
}

struct Writer<'a> {
    cluster: &'a Cluster,
    api: Api<ApiConfigMap>,
    object_name: String,
}

impl Writer<'_> {
    /// One try of create-or-replace; `None` when it lost a race and should be tried again.
    async fn try_update(&self, params: &PostParams, object: &ApiConfigMap) -> Result<Option<Applied>, ClusterError> {
        let name = object.metadata.name.clone().unwrap_or_default();
        let existing = self.api.get_opt(&name).await.map_err(|err| self.failed("read", &err))?;
        let Some(existing) = existing else {
            return match self.api.create(params, object).await {
                Ok(_) => Ok(Some(Applied::Created)),
                Err(err) if status_reason(&err) == Some("AlreadyExists") => Ok(None),
                Err(err) => Err(self.failed("create", &err)),
            };
        };
        let updated = updated(existing, object);
        match self.api.replace(&name, params, &updated).await {
            Ok(_) => Ok(Some(Applied::Configured)),
            Err(err) if status_code(&err) == Some(409) => Ok(None),
            // Deleted between the get and the replace: create it on the next try.
            Err(err) if status_code(&err) == Some(404) && status_reason(&err) == Some("NotFound") => Ok(None),
            Err(err) => Err(self.failed("update", &err)),
        }
    }

    fn in_namespace(&self) -> String {
        format!("{} in namespace {NAMESPACE}", self.object_name)
    }

    fn failed(&self, action: &'static str, err: &kube::Error) -> ClusterError {
        ClusterError::Api {
            action,
            object: self.in_namespace(),
            cluster: self.cluster.name.clone(),
            reason: reason(err),
        }
    }

    fn exists(&self) -> ClusterError {
        ClusterError::Exists { object: self.in_namespace(), cluster: self.cluster.name.clone() }
    }
}

/// `existing` with the signatures of `ours`: its resourceVersion (so that a concurrent change
/// is a conflict, not lost), its other labels and annotations, our label and binaryData.
pub(crate) fn updated(existing: ApiConfigMap, ours: &ApiConfigMap) -> ApiConfigMap {
    let mut metadata = existing.metadata;
    let mut labels: BTreeMap<String, String> = metadata.labels.take().unwrap_or_default();
    labels.extend(ours.metadata.labels.clone().unwrap_or_default());
    metadata.labels = Some(labels);
    ApiConfigMap { metadata, binary_data: ours.binary_data.clone(), data: None, immutable: existing.immutable }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::ByteString;

    const HEX: &str = "81154f5c03294534e1eaf0319bef7a601134f891689ccede5d705ef659aa8c92";

    fn ours() -> ConfigMap {
        let digest: Digest = format!("sha256:{HEX}").parse().expect("digest");
        crate::signature::build_config_map(&digest, &[b"one", b"two"])
    }

    #[test]
    fn the_api_object_is_the_configmap_the_cvo_reads() {
        let object = to_api(&ours()).expect("convert");
        let json = serde_json::to_value(&object).expect("json");
        let name = format!("sha256-{HEX}");
        assert_eq!(json["apiVersion"], "v1");
        assert_eq!(json["kind"], "ConfigMap");
        assert_eq!(json["metadata"]["name"], name.as_str());
        assert_eq!(json["metadata"]["namespace"], NAMESPACE);
        assert_eq!(json["metadata"]["labels"]["release.openshift.io/verification-signatures"], "");
        assert_eq!(json["binaryData"][format!("{name}-1")], "b25l");
        assert_eq!(json["binaryData"][format!("{name}-2")], "dHdv");
        assert_eq!(object_name(&ours()), format!("configmap/{name}"));
    }

    #[test]
    fn an_update_keeps_the_resource_version_and_foreign_metadata_and_replaces_the_signatures() {
        let existing = ApiConfigMap {
            metadata: ObjectMeta {
                name: Some(format!("sha256-{HEX}")),
                namespace: Some(NAMESPACE.into()),
                resource_version: Some("42".into()),
                labels: Some([("team".to_string(), "infra".to_string())].into()),
                annotations: Some([("note".to_string(), "kept".to_string())].into()),
                ..ObjectMeta::default()
            },
            binary_data: Some([("old".to_string(), ByteString(b"x".to_vec()))].into()),
            data: Some([("k".to_string(), "v".to_string())].into()),
            immutable: None,
        };
        let ours = to_api(&ours()).expect("convert");
        let merged = updated(existing, &ours);
        assert_eq!(merged.metadata.resource_version.as_deref(), Some("42"));
        let labels = merged.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get("team").map(String::as_str), Some("infra"));
        assert_eq!(labels.get("release.openshift.io/verification-signatures").map(String::as_str), Some(""));
        assert_eq!(merged.metadata.annotations.and_then(|a| a.get("note").cloned()).as_deref(), Some("kept"));
        assert_eq!(merged.binary_data, ours.binary_data);
        assert_eq!(merged.data, None);
    }
}
