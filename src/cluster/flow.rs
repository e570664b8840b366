//! The cluster's part of a mirror run with `--apply-release-image-signature`:
//!
//! 1. before the payload is read: load the kubeconfig, reach the API server, read the
//!    ClusterVersion (a bad kubeconfig or context fails here, in seconds: exit 5);
//! 2. once the signatures are known, before the copy: check them against the cluster's own
//!    keys (a rejected signature stops the run: exit 3) and whether the ConfigMap is there
//!    already (without `--overwrite` that stops the run: exit 5);
//! 3. after the mirror: apply. A failure is a warning naming cluster, object and reason; the
//!    summary still prints, and the run exits 4.

use serde::Serialize;

use super::apply::{apply, object_name};
use super::checks::{self, ClusterKeys, VERIFICATION_CONFIG_MAP};
use super::error::ClusterError;
use super::kubeconfig::{Cluster, ClusterTarget};
use crate::digest::Digest;
use crate::exit::one_line;
use crate::exit::{cluster_unusable, signature_failure, NotApplied};
use crate::progress::Progress;
use crate::signature::{self, Accepted, NAMESPACE};

/// Step 1: connect to the cluster to apply to and read its version.
pub async fn connect(target: &ClusterTarget, progress: &Progress) -> anyhow::Result<Cluster> {
    let cluster = Cluster::load(target).await.map_err(cluster_unusable)?;
    let version = cluster.ping().await.map_err(cluster_unusable)?;
    progress.info(&format!("cluster {} answers (Kubernetes {version})", cluster.name));
    let cluster_version = checks::cluster_version(&cluster).await;
    if let checks::ClusterVersion::Version(Some(v)) = &cluster_version {
        progress.info(&format!("cluster {} runs OpenShift {v}", cluster.name));
    }
    if let Some(warning) = checks::version_warning(&cluster_version, &cluster.name) {
        progress.warn(&warning);
    }
    Ok(cluster)
}

/// Step 2: would the cluster accept the signatures, and may the ConfigMap be written?
pub async fn preflight(
    cluster: &Cluster,
    digest: &Digest,
    accepted: &[Accepted],
    overwrite: bool,
    progress: &Progress,
) -> anyhow::Result<()> {
    let source = format!("{NAMESPACE}/{VERIFICATION_CONFIG_MAP}");
    match checks::cluster_keys(cluster).await {
        ClusterKeys::Absent => {
            progress.info(&format!("cluster {} has no {source} configmap: its keys are not checked", cluster.name));
        }
        ClusterKeys::Unreadable(why) => {
            progress
                .warn(&format!("cannot read {source} of cluster {}: {why}; its keys are not checked", cluster.name));
        }
        ClusterKeys::Keyrings(keyrings, warnings) => {
            for warning in &warnings {
                progress.warn(warning);
            }
            let satisfied = checks::verify_with_cluster_keys(&keyrings, accepted, digest, &cluster.name)
                .map_err(signature_failure)?;
            for (keyring, key) in satisfied {
                progress.info(&format!("the cluster's keyring {keyring} accepts the signature (key {key})"));
            }
        }
    }
    let name = signature::config_map_name(digest);
    match checks::existing_config_map(cluster, &name).await {
        Ok(Some(_)) if !overwrite => {
            let object = format!("configmap/{name} in namespace {NAMESPACE}");
            let err = ClusterError::Exists { object, cluster: cluster.name.clone() };
            return Err(cluster_unusable(err));
        }
        Ok(Some(_)) => progress.info(&format!("configmap/{name} exists in the cluster: --overwrite updates it")),
        Ok(None) => {}
        Err(err) => progress.warn(&format!("{}; applying the signature will likely fail", one_line(&err))),
    }
    Ok(())
}

/// What became of the apply, for the summary.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    /// The API server URL.
    pub cluster: String,
    pub context: String,
    pub namespace: String,
    /// `configmap/<name>`.
    pub object: String,
    /// `created`, `configured`, or `failed`.
    pub result: String,
    /// Sent with `dryRun=All`: validated by the API server, not persisted.
    pub dry_run: bool,
    /// Why it failed.
    pub error: Option<String>,
}

impl ApplyReport {
    /// kubectl's line: `configmap/<name> created`, `… configured (server dry run)`, or the failure.
    pub fn to_text(&self) -> String {
        match &self.error {
            // The reason names the cluster and the object already.
            Some(why) => format!("{} not applied: {why}\n", self.object),
            None if self.dry_run => format!("{} {} (server dry run)\n", self.object, self.result),
            None => format!("{} {}\n", self.object, self.result),
        }
    }

    /// Whether the signature is (or in a dry run would be) in the cluster.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    /// `Err(NotApplied)` (exit 4) when the apply failed.
    pub fn into_result(self) -> anyhow::Result<()> {
        match self.error {
            None => Ok(()),
            Some(_) => Err(crate::exit::Failure::NotApplied.mark(NotApplied {
                object: format!("{} in namespace {}", self.object, self.namespace),
                cluster: format!("{} (context {})", self.cluster, self.context),
            })),
        }
    }
}

/// Step 3: applies the ConfigMap of `accepted`; a failure is a warning and a failed report.
pub async fn apply_signature(
    cluster: &Cluster,
    digest: &Digest,
    accepted: &[Accepted],
    overwrite: bool,
    dry_run: bool,
    progress: &Progress,
) -> ApplyReport {
    let config_map = signature::build_config_map(digest, &signature::distinct_signatures(accepted));
    let object = object_name(&config_map);
    let how = if dry_run { " (server dry run: dryRun=All, nothing is persisted)" } else { "" };
    progress.info(&format!("applying {object} to cluster {}{how}", cluster.name));
    let outcome = apply(cluster, &config_map, overwrite, dry_run).await;
    let (result, error) = match outcome {
        Ok(applied) => (applied.verb().to_string(), None),
        Err(err) => {
            progress.warn(&format!(
                "the release is mirrored, but the signature was not applied: {}; apply it later with \
                 --apply-release-image-signature{} or `oc apply -f` on the signature configmap file",
                one_line(&err),
                if overwrite { " --overwrite" } else { "" }
            ));
            ("failed".to_string(), Some(one_line(&err)))
        }
    };
    ApplyReport {
        cluster: cluster.name.server.clone(),
        context: cluster.name.context.clone(),
        namespace: NAMESPACE.to_string(),
        object,
        result,
        dry_run,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(result: &str, dry_run: bool, error: Option<&str>) -> ApplyReport {
        ApplyReport {
            cluster: "https://api.example:6443".into(),
            context: "admin".into(),
            namespace: NAMESPACE.into(),
            object: "configmap/sha256-ab".into(),
            result: result.into(),
            dry_run,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn lines_read_like_kubectl() {
        assert_eq!(report("created", false, None).to_text(), "configmap/sha256-ab created\n");
        assert_eq!(report("configured", true, None).to_text(), "configmap/sha256-ab configured (server dry run)\n");
        let failed = report("failed", false, Some("cannot create configmap/sha256-ab in cluster c: forbidden (403)"));
        assert_eq!(
            failed.to_text(),
            "configmap/sha256-ab not applied: cannot create configmap/sha256-ab in cluster c: forbidden (403)\n"
        );
    }

    #[test]
    fn only_a_failure_exits_4() {
        assert!(report("created", false, None).into_result().is_ok());
        let err = report("failed", false, Some("x")).into_result().expect_err("failed");
        assert_eq!(crate::exit::code_for(&err), crate::exit::Code::NotApplied);
    }
}
