//! The `UpdateService` resource and the command that points the cluster at it (pure). The
//! resource names the graph-data image by digest: by tag, the operator would start a pod
//! every five minutes to resolve the tag.

use serde::Serialize;

/// Name of the resource, as the mirror configuration objects are named.
pub(crate) const NAME: &str = "release-mirror";
/// The namespace the OpenShift Update Service operator watches.
pub(crate) const NAMESPACE: &str = "openshift-update-service";
/// The file written beside the signature ConfigMaps.
pub const FILE_NAME: &str = "update-service.yaml";

/// The `UpdateService` for a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateService {
    /// The release repository (no tag): release images only.
    pub(crate) releases: String,
    /// The graph-data image, by digest.
    pub(crate) graph_data_image: String,
    /// The resource, as YAML.
    pub resource: String,
    /// The file it was written to (in a dry run: would be); absent when no folder was given.
    pub file: Option<String>,
    /// The one command that points the cluster's `ClusterVersion` at the local service.
    pub cluster_version_command: String,
}

impl UpdateService {
    /// The resource for `releases` and `graph_data_image` (a digest reference).
    pub(crate) fn new(releases: String, graph_data_image: String) -> UpdateService {
        let resource = yaml(&releases, &graph_data_image);
        UpdateService { releases, graph_data_image, resource, file: None, cluster_version_command: patch_command() }
    }
}

fn yaml(releases: &str, graph_data_image: &str) -> String {
    format!(
        "apiVersion: updateservice.operator.openshift.io/v1\nkind: UpdateService\nmetadata:\n  name: {NAME}\n  \
         namespace: {NAMESPACE}\nspec:\n  graphDataImage: {graph_data_image}\n  releases: {releases}\n  replicas: 2\n"
    )
}

/// `oc patch` of `ClusterVersion` with the service's policy-engine URI, read from the
/// resource's status once the operator has reconciled it.
fn patch_command() -> String {
    format!(
        "oc patch clusterversion/version --type=merge --patch \"{{\\\"spec\\\":{{\\\"upstream\\\":\\\"$(oc get -n \
         {NAMESPACE} updateservice/{NAME} -o jsonpath='{{.status.policyEngineURI}}')/api/upgrades_info/v1/graph\\\"}}}}\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_names_the_release_repository_and_the_image_by_digest() {
        let image = format!("m.io:5000/ocp/graph-data@sha256:{}", "a".repeat(64));
        let us = UpdateService::new("m.io:5000/ocp/release-images".into(), image.clone());
        assert_eq!(
            us.resource,
            format!(
                "apiVersion: updateservice.operator.openshift.io/v1\nkind: UpdateService\nmetadata:\n  name: \
                 release-mirror\n  namespace: openshift-update-service\nspec:\n  graphDataImage: {image}\n  \
                 releases: m.io:5000/ocp/release-images\n  replicas: 2\n"
            )
        );
    }

    #[test]
    fn the_patch_command_is_one_shell_command_that_sets_the_upstream() {
        let cmd = patch_command();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("oc() {{ if [ \"$1\" = get ]; then printf https://osus.example; else printf '%s|' \"$@\"; fi; }}; {cmd}"))
            .output()
            .expect("run sh");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "patch|clusterversion/version|--type=merge|--patch|\
             {\"spec\":{\"upstream\":\"https://osus.example/api/upgrades_info/v1/graph\"}}|"
        );
    }
}
