//! Which cluster, by kubectl's rules: `--kubeconfig` wins, else the `KUBECONFIG` list
//! (missing files skipped, the rest merged, the first to set a name wins), else
//! `~/.kube/config`; `--context` picks the context, else the `current-context`. Client
//! certificates, tokens, exec plugins and CA data are kube's config loader's business.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::error::{reason, ClusterError, ClusterName};

/// How long a connection to the API server may take before the cluster counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one API answer may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Which cluster to use, as kubectl's flags say it: `--kubeconfig` and `--context`
/// (`None`: kubectl's defaults, `KUBECONFIG` then `~/.kube/config`, the current context).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterTarget {
    /// `--kubeconfig`: this file instead of `KUBECONFIG` or `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`: this context instead of the current one.
    pub context: Option<String>,
}

/// A client for the chosen cluster, and its name for messages.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) client: kube::Client,
    pub(crate) name: ClusterName,
}

/// The kubeconfig files to read, in kubectl's order.
pub(crate) fn kubeconfig_files(
    explicit: Option<&Path>,
    env: Option<&OsStr>,
    home: Option<&Path>,
) -> Result<Vec<PathBuf>, ClusterError> {
    let default = home.map_or_else(|| PathBuf::from("~/.kube/config"), |h| h.join(".kube").join("config"));
    if let Some(path) = explicit {
        return Ok(vec![path.to_path_buf()]);
    }
    let listed: Vec<PathBuf> =
        env.map(|v| std::env::split_paths(v).filter(|p| !p.as_os_str().is_empty()).collect()).unwrap_or_default();
    let files = if listed.is_empty() { vec![default.clone()] } else { listed };
    let existing: Vec<PathBuf> = files.iter().filter(|p| p.exists()).cloned().collect();
    if existing.is_empty() {
        let looked = files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        return Err(ClusterError::NoKubeconfig { looked, default });
    }
    Ok(existing)
}

/// Reads and merges `files`; the first file to name a cluster, user or context wins.
pub(crate) fn read_merged(files: &[PathBuf]) -> Result<Kubeconfig, ClusterError> {
    let mut merged = Kubeconfig::default();
    for path in files {
        let next = Kubeconfig::read_from(path).map_err(|source| ClusterError::Read { path: path.clone(), source })?;
        merged = merged.merge(next).map_err(|source| ClusterError::Merge { path: path.clone(), source })?;
    }
    Ok(merged)
}

/// The context to use: `--context`, else the merged `current-context`; it must exist.
pub(crate) fn choose_context(config: &Kubeconfig, flag: Option<&str>, files: &str) -> Result<String, ClusterError> {
    let current = config.current_context.as_deref().filter(|c| !c.is_empty());
    let context = flag.or(current).ok_or_else(|| ClusterError::NoContext { files: files.to_string() })?;
    if !config.contexts.iter().any(|c| c.name == context) {
        let names: Vec<&str> = config.contexts.iter().map(|c| c.name.as_str()).collect();
        let available = if names.is_empty() { "none".to_string() } else { names.join(", ") };
        return Err(ClusterError::UnknownContext { context: context.to_string(), files: files.to_string(), available });
    }
    Ok(context.to_string())
}

impl Cluster {
    /// Loads the kubeconfig as kubectl would and builds a client (no request yet).
    pub(crate) async fn load(args: &ClusterTarget) -> Result<Cluster, ClusterError> {
        let env = std::env::var_os("KUBECONFIG");
        let home = dirs::home_dir();
        let files = kubeconfig_files(args.kubeconfig.as_deref(), env.as_deref(), home.as_deref())?;
        let listed = files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":");
        let merged = read_merged(&files)?;
        let context = choose_context(&merged, args.context.as_deref(), &listed)?;
        let options = KubeConfigOptions { context: Some(context.clone()), ..KubeConfigOptions::default() };
        let mut config = kube::Config::from_custom_kubeconfig(merged, &options)
            .await
            .map_err(|source| ClusterError::Config { context: context.clone(), files: listed.clone(), source })?;
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(READ_TIMEOUT);
        let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
        let name = ClusterName { server, context };
        let client =
            kube::Client::try_from(config).map_err(|source| ClusterError::Client { cluster: name.clone(), source })?;
        Ok(Cluster { client, name })
    }

    /// Asks the API server for its version: proves the server answers and takes the credentials.
    pub(crate) async fn ping(&self) -> Result<String, ClusterError> {
        match self.client.apiserver_version().await {
            Ok(info) => Ok(info.git_version),
            Err(err @ kube::Error::Api(_)) => Err(ClusterError::Api {
                action: "read",
                object: "the server version (/version)".into(),
                cluster: self.name.clone(),
                reason: reason(&err),
            }),
            Err(source) => Err(ClusterError::Unreachable { cluster: self.name.clone(), source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_CONTEXTS: &str = "apiVersion: v1\nkind: Config\ncurrent-context: first\nclusters:\n\
        - name: one\n  cluster:\n    server: https://one.example:6443\n\
        contexts:\n- name: first\n  context:\n    cluster: one\n    user: u\n\
        users:\n- name: u\n  user:\n    token: abc\n";

    const OTHER: &str = "apiVersion: v1\nkind: Config\ncurrent-context: second\nclusters:\n\
        - name: one\n  cluster:\n    server: https://shadowed.example:6443\n\
        - name: two\n  cluster:\n    server: https://two.example:6443\n\
        contexts:\n- name: second\n  context:\n    cluster: two\n    user: v\n\
        users:\n- name: v\n  user:\n    token: def\n";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    #[test]
    fn the_flag_wins_then_the_env_list_then_home() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (write(dir.path(), "a", TWO_CONTEXTS), write(dir.path(), "b", OTHER));
        let list = std::env::join_paths([&a, &dir.path().join("missing"), &b]).expect("join");
        let files = kubeconfig_files(Some(&b), Some(&list), Some(dir.path())).expect("flag");
        assert_eq!(files, [b.as_path()]);
        assert_eq!(kubeconfig_files(None, Some(&list), None).expect("env"), [a.as_path(), b.as_path()]);
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".kube")).expect("mkdir");
        let config = write(&home.join(".kube"), "config", TWO_CONTEXTS);
        assert_eq!(kubeconfig_files(None, Some(OsStr::new("")), Some(&home)).expect("home"), [config]);
        let err = kubeconfig_files(None, None, Some(dir.path())).expect_err("none");
        let want =
            format!("no kubeconfig found (looked at {}/.kube/config): give --kubeconfig=FILE", dir.path().display());
        assert!(err.to_string().starts_with(&want), "{err}");
    }

    #[test]
    fn merged_files_keep_the_first_current_context_and_cluster() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = [write(dir.path(), "a", TWO_CONTEXTS), write(dir.path(), "b", OTHER)];
        let merged = read_merged(&files).expect("merge");
        assert_eq!(merged.current_context.as_deref(), Some("first"));
        let one = merged.clusters.iter().find(|c| c.name == "one").and_then(|c| c.cluster.as_ref());
        assert_eq!(one.and_then(|c| c.server.as_deref()), Some("https://one.example:6443"));
        assert_eq!(choose_context(&merged, None, "a:b").expect("current"), "first");
        assert_eq!(choose_context(&merged, Some("second"), "a:b").expect("flag"), "second");
    }

    #[test]
    fn an_unknown_context_names_the_files_and_the_choices() {
        let dir = tempfile::tempdir().expect("tempdir");
        let merged = read_merged(&[write(dir.path(), "a", TWO_CONTEXTS)]).expect("read");
        let err = choose_context(&merged, Some("prod"), "/k/a").expect_err("unknown");
        assert_eq!(err.to_string(), "context \"prod\" is not in kubeconfig /k/a (contexts: first)");
        let empty = Kubeconfig::default();
        let err = choose_context(&empty, None, "/k/a").expect_err("none");
        assert_eq!(err.to_string(), "kubeconfig /k/a names no current context: give --context=NAME");
    }

    #[test]
    fn an_unreadable_kubeconfig_names_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = write(dir.path(), "bad", "clusters: [ {");
        let err = read_merged(std::slice::from_ref(&bad)).expect_err("bad yaml");
        assert_eq!(err.to_string(), format!("cannot read kubeconfig {}", bad.display()));
    }
}
