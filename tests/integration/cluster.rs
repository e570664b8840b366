//! `--apply-release-image-signature`: the signature ConfigMap applied to a cluster reached
//! through a real kubeconfig file (HTTPS, CA data, bearer token) — an in-process stand-in
//! of the Kubernetes API, since no kube-apiserver can be installed here. A release signed by
//! GnuPG, its signature in a local store, mirrored between real registries.

mod refusals;

use std::path::PathBuf;
use std::process::Output;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::mirror::{assert_complete, source_with, Source};
use crate::support::apiserver::{cluster_version, ApiServer, Forbid, Logged};
use crate::support::gpg::{atomic_payload, keys};
use crate::support::registry::Registry;
use crate::support::sigstore::{Mode, SigStore};
use crate::support::spec::ReleaseSpec;
use crate::support::{command, stderr, stdout, temp_dir};

const IDENTITY: &str = "quay.io/openshift-release-dev/ocp-release:4.99.0-x86_64";
const NS: &str = "openshift-config-managed";
const CONFIGMAPS: &str = "/api/v1/namespaces/openshift-config-managed/configmaps";
const MANAGER: &str = "kubectl-release_mirror";

/// A signed release, an empty destination, a cluster and a kubeconfig for it.
struct Bed {
    src: Source,
    dest: Registry,
    api: ApiServer,
    home: tempfile::TempDir,
    kubeconfig: PathBuf,
    signature: Vec<u8>,
    _store: SigStore,
}

impl Bed {
    fn new() -> Bed {
        let k = keys();
        let store = SigStore::start(Mode::Serve);
        let stores = vec![("local".to_string(), store.url())];
        let verification_keys = vec![("test".to_string(), k.gpg.export(&k.rsa))];
        let src = source_with(ReleaseSpec { verification_keys, stores, ..ReleaseSpec::default() });
        let digest = src.release.release_digest.clone();
        let signature = k.gpg.sign(&k.rsa, &atomic_payload(&digest, IDENTITY), true);
        store.put(&digest, 1, signature.clone());
        let (api, home) = (ApiServer::start(), temp_dir());
        let kubeconfig = api.kubeconfig(home.path(), "kubeconfig", "standin");
        Bed { src, dest: Registry::start(), api, home, kubeconfig, signature, _store: store }
    }

    /// `sha256-<hex>`.
    fn name(&self) -> String {
        self.src.release.release_digest.replacen(':', "-", 1)
    }

    fn object_path(&self) -> String {
        format!("{CONFIGMAPS}/{}", self.name())
    }

    /// The mirror with `--apply-release-image-signature --kubeconfig=…` and `extra`.
    fn apply(&self, extra: &[&str]) -> Output {
        let kubeconfig = format!("--kubeconfig={}", self.kubeconfig.display());
        self.run(&[&["--apply-release-image-signature", &kubeconfig], extra].concat(), &[])
    }

    fn run(&self, args: &[&str], env: &[(&str, String)]) -> Output {
        let mut cmd = command(self.home.path());
        cmd.arg(format!("--from={}", self.src.release.release_ref()))
            .arg(format!("--to={}/mirror/ocp/release", self.dest.host()))
            .arg("--insecure")
            .args(args);
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.output().expect("run the plugin")
    }

    /// The ConfigMap exactly as DESIGN §5 has it.
    fn expected_config_map(&self) -> Value {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.signature);
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": self.name(), "namespace": NS,
                         "labels": {"release.openshift.io/verification-signatures": ""}},
            "binaryData": {format!("{}-1", self.name()): b64}
        })
    }

    fn stored(&self) -> Option<Value> {
        self.api.state().config_maps.get(&(NS.to_string(), self.name())).cloned()
    }

    fn put_existing(&self, labels: Value) {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": self.name(), "labels": labels}, "binaryData": {"old-1": "b2xk"}});
        self.api.state().put_config_map(NS, object);
    }

    fn cluster_keys(&self, key: String) {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "release-verification"},
                            "data": {"verifier-public-key-cluster": key, "store-redhat": "https://example/sigs"}});
        self.api.state().put_config_map(NS, object);
    }
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn explain(out: &Output) -> String {
    format!("exit {:?}\n--- stdout\n{}\n--- stderr\n{}", code(out), stdout(out), stderr(out))
}

fn calls(log: &[Logged]) -> Vec<String> {
    log.iter().map(|r| format!("{} {} {}", r.method, r.path, r.status)).collect()
}

#[test]
fn creates_the_configmap_after_the_mirror_with_the_real_path_body_and_field_manager() {
    let bed = Bed::new();
    bed.cluster_keys(keys().gpg.export(&keys().rsa));
    let out = bed.apply(&[]);
    assert_eq!(code(&out), Some(0), "{}", explain(&out));
    assert_complete(&bed.src.release, &bed.dest.client());
    assert!(stdout(&out).contains(&format!("configmap/{} created\n", bed.name())), "{}", explain(&out));
    assert!(stderr(&out).contains("the cluster's keyring verifier-public-key-cluster accepts the signature"));
    let log = bed.api.requests();
    let want = [
        "GET /version 200".to_string(),
        "GET /apis/config.openshift.io/v1/clusterversions/version 200".into(),
        format!("GET {CONFIGMAPS}/release-verification 200"),
        format!("GET {} 404", bed.object_path()),
        format!("POST {CONFIGMAPS} 201"),
    ];
    assert_eq!(calls(&log), want);
    let post = &log[4];
    assert_eq!(post.param("fieldManager"), Some(MANAGER));
    assert_eq!(post.param("dryRun"), None);
    assert_eq!(post.content_type.as_deref(), Some("application/json"));
    assert_eq!(post.body.as_ref(), Some(&bed.expected_config_map()), "the body is the ConfigMap of DESIGN §5");
    let stored = bed.stored().expect("persisted");
    assert_eq!(stored["binaryData"], bed.expected_config_map()["binaryData"]);
    assert_eq!(stored["metadata"]["managedFields"][0]["manager"], MANAGER);
    assert!(
        log.iter()
            .all(|r| r.path.starts_with("/api/v1/namespaces/openshift-config-managed/configmaps") || r.method == "GET"),
        "touches no other object: {:?}",
        calls(&log)
    );
}

#[test]
fn nothing_is_sent_to_the_cluster_unless_asked() {
    let bed = Bed::new();
    let out = bed.run(&[], &[("KUBECONFIG", bed.kubeconfig.display().to_string())]);
    assert_eq!(code(&out), Some(0), "{}", explain(&out));
    assert!(bed.api.requests().is_empty(), "{:?}", calls(&bed.api.requests()));
    assert!(!stdout(&out).contains("configmap/"), "{}", stdout(&out));
}

#[test]
fn a_dry_run_sends_dry_run_all_and_persists_nothing() {
    let bed = Bed::new();
    let out = bed.apply(&["--dry-run"]);
    assert_eq!(code(&out), Some(0), "{}", explain(&out));
    assert!(stdout(&out).contains(&format!("configmap/{} created (server dry run)", bed.name())), "{}", explain(&out));
    let writes = bed.api.writes();
    assert_eq!(calls(&writes), [format!("POST {CONFIGMAPS} 201")]);
    assert_eq!(writes[0].param("dryRun"), Some("All"));
    assert_eq!(writes[0].param("fieldManager"), Some(MANAGER));
    assert_eq!(bed.stored(), None, "a dry run persists nothing");
    assert!(bed.dest.client().catalog().is_empty(), "a dry run copies nothing");
}

#[test]
fn an_existing_configmap_without_overwrite_stops_before_the_copy_and_names_overwrite() {
    let bed = Bed::new();
    bed.put_existing(json!({}));
    let out = bed.apply(&[]);
    assert_eq!(code(&out), Some(5), "{}", explain(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!(
        "configmap/{} in namespace {NS} already exists in cluster {}",
        bed.name(),
        bed.api.url()
    )));
    assert!(err.contains("(context standin): give --overwrite to update it"), "{err}");
    assert!(bed.api.writes().is_empty());
    assert!(bed.dest.client().catalog().is_empty(), "nothing copied: {:?}", bed.dest.client().catalog());
    assert!(stdout(&out).is_empty());
}

#[test]
fn overwrite_replaces_the_configmap_at_its_resource_version_and_keeps_foreign_labels() {
    let bed = Bed::new();
    bed.put_existing(json!({"team": "infra"}));
    let before = bed.stored().expect("existing")["metadata"]["resourceVersion"].clone();
    let out = bed.apply(&["--overwrite"]);
    assert_eq!(code(&out), Some(0), "{}", explain(&out));
    assert!(stdout(&out).contains(&format!("configmap/{} configured\n", bed.name())), "{}", explain(&out));
    let writes = bed.api.writes();
    assert_eq!(calls(&writes), [format!("PUT {} 200", bed.object_path())]);
    let body = writes[0].body.clone().expect("body");
    assert_eq!(body["metadata"]["resourceVersion"], before);
    assert_eq!(writes[0].param("fieldManager"), Some(MANAGER));
    let stored = bed.stored().expect("stored");
    assert_eq!(stored["binaryData"], bed.expected_config_map()["binaryData"], "old signatures replaced");
    assert_eq!(stored["metadata"]["labels"]["team"], "infra");
    assert_eq!(stored["metadata"]["labels"]["release.openshift.io/verification-signatures"], "");
    assert_ne!(stored["metadata"]["resourceVersion"], before);
}

#[test]
fn a_conflicting_update_is_retried_with_a_fresh_resource_version() {
    let bed = Bed::new();
    bed.put_existing(json!({}));
    bed.api.state().conflicts_left = 2;
    let out = bed.apply(&["--overwrite", "-o", "json"]);
    assert_eq!(code(&out), Some(0), "{}", explain(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("json summary");
    let applied = &summary["signature"]["applied"];
    assert_eq!(applied["result"], "configured", "{summary}");
    assert_eq!(applied["cluster"], bed.api.url().as_str());
    assert_eq!(applied["context"], "standin");
    assert_eq!(applied["object"], format!("configmap/{}", bed.name()).as_str());
    assert_eq!(applied["dryRun"], false);
    let path = bed.object_path();
    let tail: Vec<String> = calls(&bed.api.requests()).into_iter().skip(4).collect();
    let want = [
        format!("GET {path} 200"),
        format!("PUT {path} 409"),
        format!("GET {path} 200"),
        format!("PUT {path} 409"),
        format!("GET {path} 200"),
        format!("PUT {path} 200"),
    ];
    assert_eq!(tail, want);
    let versions: Vec<Value> = bed
        .api
        .writes()
        .iter()
        .map(|w| w.body.clone().unwrap_or_default()["metadata"]["resourceVersion"].clone())
        .collect();
    assert!(versions.windows(2).all(|w| w[0] != w[1]), "each try sends the version it read: {versions:?}");
}

#[test]
fn running_out_of_conflict_retries_warns_and_exits_4_leaving_the_configmap_as_it_was() {
    let bed = Bed::new();
    bed.put_existing(json!({}));
    bed.api.state().conflicts_left = 100;
    let out = bed.apply(&["--overwrite"]);
    assert_eq!(code(&out), Some(4), "{}", explain(&out));
    assert_complete(&bed.src.release, &bed.dest.client());
    let object = format!("configmap/{} in namespace {NS}", bed.name());
    let cluster = format!("cluster {} (context standin)", bed.api.url());
    let reason = format!("{object} kept changing in {cluster}: gave up after 5 conflicting updates");
    let text = stdout(&out);
    assert!(text.contains(&format!("configmap/{} not applied: {reason}\n", bed.name())), "{}", explain(&out));
    let warning = format!("warning: the release is mirrored, but the signature was not applied: {reason}; apply it");
    assert!(stderr(&out).contains(&warning), "{}", explain(&out));
    let path = bed.object_path();
    let tail: Vec<String> = calls(&bed.api.requests()).into_iter().skip(4).collect();
    let tries: Vec<String> = (0..5).flat_map(|_| [format!("GET {path} 200"), format!("PUT {path} 409")]).collect();
    assert_eq!(tail, tries, "five tries, each reading the object again");
    assert_eq!(bed.api.state().conflicts_left, 95);
    assert_eq!(bed.stored().expect("still there")["binaryData"], json!({"old-1": "b2xk"}), "nothing was written");
}
