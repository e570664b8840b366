//! Why the cluster could not be reached, checked or written to. Every message names the
//! cluster (server URL and context) and, where there is one, the object and the file.

use std::path::PathBuf;

/// Which cluster: `https://api.example:6443 (context admin)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterName {
    pub(crate) server: String,
    pub(crate) context: String,
}

impl std::fmt::Display for ClusterName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (context {})", self.server, self.context)
    }
}

/// An error at the cluster edge.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    #[error("no kubeconfig found (looked at {looked}): give --kubeconfig=FILE, set KUBECONFIG, or create {}", default.display())]
    NoKubeconfig { looked: String, default: PathBuf },
    #[error("cannot read kubeconfig {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("cannot merge kubeconfig {} into the files before it", path.display())]
    Merge {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("kubeconfig {files} names no current context: give --context=NAME")]
    NoContext { files: String },
    #[error("context {context:?} is not in kubeconfig {files} (contexts: {available})")]
    UnknownContext { context: String, files: String, available: String },
    #[error("cannot use context {context:?} of kubeconfig {files}")]
    Config {
        context: String,
        files: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("cannot set up a client for cluster {cluster}")]
    Client {
        cluster: ClusterName,
        #[source]
        source: kube::Error,
    },
    #[error("cannot reach the api server of cluster {cluster}")]
    Unreachable {
        cluster: ClusterName,
        #[source]
        source: kube::Error,
    },
    #[error("cannot {action} {object} in cluster {cluster}: {reason}")]
    Api { action: &'static str, object: String, cluster: ClusterName, reason: String },
    #[error(
        "{object} already exists in cluster {cluster}: give --overwrite to update it \
         (the signatures of the same release may already be there)"
    )]
    Exists { object: String, cluster: ClusterName },
    #[error("{object} kept changing in cluster {cluster}: gave up after {tries} conflicting updates")]
    Conflicts { object: String, cluster: ClusterName, tries: u32 },
    #[error("cannot convert the signature configmap {name} for the api")]
    Convert {
        name: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The reason an API call failed, as the user should read it: the server's own message and
/// HTTP status for an API error, the transport error chain otherwise.
pub(crate) fn reason(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => {
            let what = match status.code {
                401 => "unauthorized (the kubeconfig credentials were refused)",
                403 => "forbidden",
                404 => "not found",
                409 => "conflict",
                _ => "",
            };
            let message = status.message.trim();
            match (what.is_empty(), message.is_empty()) {
                (true, _) => format!("{message} ({})", status.code),
                (false, true) => format!("{what} ({})", status.code),
                (false, false) => format!("{what}: {message} ({})", status.code),
            }
        }
        other => crate::exit::one_line(other),
    }
}

/// The HTTP status of an API error, if it is one.
pub(crate) fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// The machine-readable reason of an API error (`AlreadyExists`, `Conflict`, …).
pub(crate) fn status_reason(err: &kube::Error) -> Option<&str> {
    match err {
        kube::Error::Api(status) => Some(status.reason.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
    }

    #[test]
    fn reasons_carry_the_server_message_and_status() {
        let err = api(403, "Forbidden", "configmaps is forbidden: User \"dev\" cannot create resource");
        assert_eq!(reason(&err), "forbidden: configmaps is forbidden: User \"dev\" cannot create resource (403)");
        assert_eq!(
            reason(&api(401, "Unauthorized", "")),
            "unauthorized (the kubeconfig credentials were refused) (401)"
        );
        assert_eq!(reason(&api(500, "InternalError", "etcd is down")), "etcd is down (500)");
        assert_eq!(status_code(&api(409, "Conflict", "x")), Some(409));
        assert_eq!(status_reason(&api(409, "AlreadyExists", "x")), Some("AlreadyExists"));
    }

    #[test]
    fn the_cluster_is_named_by_server_and_context() {
        let cluster = ClusterName { server: "https://api.example:6443".into(), context: "admin".into() };
        let err = ClusterError::Exists { object: "configmap/sha256-ab".into(), cluster };
        assert_eq!(
            err.to_string(),
            "configmap/sha256-ab already exists in cluster https://api.example:6443 (context admin): give \
             --overwrite to update it (the signatures of the same release may already be there)"
        );
    }

    #[test]
    fn a_chain_lists_each_cause_once() {
        let inner = std::io::Error::other("connection refused");
        let err = ClusterError::Read {
            path: "/k".into(),
            source: kube::config::KubeconfigError::ReadConfig(inner, "/k".into()),
        };
        let text = crate::exit::one_line(&err);
        assert!(text.starts_with("cannot read kubeconfig /k: failed to read kubeconfig"), "{text}");
        assert_eq!(text.matches("connection refused").count(), 1, "{text}");
    }
}
