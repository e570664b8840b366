//! Clusters that refuse or cannot take the signature: missing rights, a missing namespace,
//! a bad context or token, a cluster that is not OpenShift or too old, keys that reject it;
//! and a kubeconfig made of two files.

use super::*;

/// A user may create ConfigMaps but not read them: the cluster's keys and the existing
/// ConfigMap cannot be checked (warned, with the server's 403), the create still works, and
/// an `--overwrite`, which must read the object first, fails with exit 4.
#[test]
fn a_user_who_may_not_read_configmaps_is_warned_and_only_an_overwrite_fails() {
    let bed = Bed::new();
    bed.api.state().forbid = Forbid::ConfigMapReads;
    let forbidden = |name: &str| {
        format!(
            "forbidden: configmaps \"{name}\" is forbidden: User \"system:serviceaccount:mirror:robot\" cannot get \
             resource \"configmaps\" in API group \"\" in the namespace \"{NS}\" (403)"
        )
    };
    let cluster = format!("cluster {} (context standin)", bed.api.url());
    let out = bed.apply(&[]);
    assert_eq!(code(&out), Some(0), "{}", explain(&out));
    let err = stderr(&out);
    let keys = format!(
        "warning: cannot read {NS}/release-verification of {cluster}: {}; its keys are not checked",
        forbidden("release-verification")
    );
    assert!(err.contains(&keys), "{}", explain(&out));
    let existing = format!(
        "warning: cannot read configmap/{0} in namespace {NS} in {cluster}: {1}; applying the signature will likely fail",
        bed.name(),
        forbidden(&bed.name())
    );
    assert!(err.contains(&existing), "{}", explain(&out));
    assert!(stdout(&out).contains(&format!("configmap/{} created\n", bed.name())), "{}", explain(&out));
    assert_eq!(bed.stored().map(|s| s["binaryData"].clone()), Some(bed.expected_config_map()["binaryData"].clone()));

    let out = bed.apply(&["--overwrite"]);
    assert_eq!(code(&out), Some(4), "{}", explain(&out));
    let reason =
        format!("cannot read configmap/{0} in namespace {NS} in {cluster}: {1}", bed.name(), forbidden(&bed.name()));
    assert!(stdout(&out).contains(&format!("configmap/{} not applied: {reason}\n", bed.name())), "{}", explain(&out));
    assert_eq!(calls(&bed.api.writes()), [format!("POST {CONFIGMAPS} 201")], "only the first run's create");
}

#[test]
fn forbidden_writes_warn_and_exit_4_with_the_mirror_complete_and_summarised() {
    let bed = Bed::new();
    bed.api.state().forbid = Forbid::ConfigMapWrites;
    let out = bed.apply(&[]);
    assert_eq!(code(&out), Some(4), "{}", explain(&out));
    assert_complete(&bed.src.release, &bed.dest.client());
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(text.starts_with("Success\n"), "the summary still prints: {text}");
    assert!(text.contains("oc adm upgrade --allow-explicit-upgrade"), "{text}");
    let cluster = format!("cluster {} (context standin)", bed.api.url());
    let line =
        format!("configmap/{0} not applied: cannot create configmap/{0} in namespace {NS} in {cluster}", bed.name());
    assert!(text.contains(&line), "{text}");
    let warning = format!(
        "warning: the release is mirrored, but the signature was not applied: cannot create configmap/{} in \
         namespace {NS} in {cluster}: forbidden: configmaps is forbidden",
        bed.name()
    );
    assert!(err.contains(&warning), "{err}");
    assert!(err.contains("(403)"), "{err}");
}

#[test]
fn a_missing_namespace_is_a_warning_and_exit_4() {
    let bed = Bed::new();
    bed.api.state().namespaces.remove(NS);
    let out = bed.apply(&[]);
    assert_eq!(code(&out), Some(4), "{}", explain(&out));
    assert!(
        stderr(&out).contains("not found: namespaces \"openshift-config-managed\" not found (404)"),
        "{}",
        explain(&out)
    );
    assert!(stdout(&out).starts_with("Success\n"));
    // As a real API server answers: the reads find no object, the create finds no namespace.
    let want = [
        format!("GET {CONFIGMAPS}/release-verification 404"),
        format!("GET {} 404", bed.object_path()),
        format!("POST {CONFIGMAPS} 404"),
    ];
    assert_eq!(calls(&bed.api.requests())[2..], want);
}

#[test]
fn a_bad_context_fails_before_any_blob_is_copied() {
    let bed = Bed::new();
    let out = bed.apply(&["--context=production"]);
    assert_eq!(code(&out), Some(5), "{}", explain(&out));
    let want = format!("context \"production\" is not in kubeconfig {} (contexts: standin)", bed.kubeconfig.display());
    assert!(stderr(&out).contains(&want), "{}", explain(&out));
    assert!(bed.api.requests().is_empty());
    assert!(bed.dest.client().catalog().is_empty(), "{:?}", bed.dest.client().catalog());
}

#[test]
fn a_refused_token_or_an_unreachable_server_fails_before_the_copy() {
    let bed = Bed::new();
    let yaml = bed.api.kubeconfig_yaml("standin").replace(bed.api.token(), "wrong-token");
    std::fs::write(&bed.kubeconfig, yaml).expect("write");
    let out = bed.apply(&[]);
    assert_eq!(code(&out), Some(5), "{}", explain(&out));
    assert!(stderr(&out).contains("unauthorized (the kubeconfig credentials were refused)"), "{}", explain(&out));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let yaml = bed.api.kubeconfig_yaml("standin").replace(&bed.api.url(), &format!("https://127.0.0.1:{closed}"));
    std::fs::write(&bed.kubeconfig, yaml).expect("write");
    let out = bed.apply(&[]);
    assert_eq!(code(&out), Some(5), "{}", explain(&out));
    let want = format!("cannot reach the api server of cluster https://127.0.0.1:{closed} (context standin)");
    assert!(stderr(&out).contains(&want), "{}", explain(&out));
    assert!(bed.dest.client().catalog().is_empty());
}

#[test]
fn a_cluster_without_clusterversion_is_warned_about_as_not_openshift() {
    let bed = Bed::new();
    bed.api.state().cluster_version = None;
    let out = bed.apply(&[]);
    assert_eq!(code(&out), Some(0), "{}", explain(&out));
    let want = format!("warning: cluster {} (context standin) has no ClusterVersion", bed.api.url());
    assert!(stderr(&out).contains(&want), "{}", explain(&out));
    assert!(stderr(&out).contains("does not look like an OpenShift cluster"));
}

#[test]
fn a_4_2_cluster_is_warned_about_as_too_old_to_read_signature_configmaps() {
    let bed = Bed::new();
    bed.api.state().cluster_version = Some(cluster_version("4.2.36"));
    let out = bed.apply(&[]);
    assert_eq!(code(&out), Some(0), "{}", explain(&out));
    let want = "runs OpenShift 4.2.36: the cluster-version operator reads signature configmaps only from 4.3 on";
    assert!(stderr(&out).contains(want), "{}", explain(&out));
}

#[test]
fn a_signature_the_cluster_keys_reject_stops_the_run_before_the_copy() {
    let bed = Bed::new();
    bed.cluster_keys(keys().gpg.export(&keys().ed25519));
    let out = bed.apply(&[]);
    assert_eq!(code(&out), Some(3), "{}", explain(&out));
    let err = stderr(&out);
    let want = format!(
        "cluster {} (context standin) would reject the release signature: no signature to apply is valid for keyring \
         verifier-public-key-cluster of its configmap {NS}/release-verification (key {})",
        bed.api.url(),
        keys().ed25519
    );
    assert!(err.contains(&want), "{err}");
    assert!(err.contains("signature 1: signature is not valid for any key of keyring"), "{err}");
    assert!(bed.api.writes().is_empty());
    assert!(bed.dest.client().catalog().is_empty());
}

/// The second file's user gets its token from an exec credential plugin, as `oc login` or a
/// cloud CLI would hand it out.
#[test]
fn kubeconfig_env_with_two_files_and_context_selecting_the_second_works_with_an_exec_plugin() {
    let bed = Bed::new();
    let plugin = bed.home.path().join("credential-plugin");
    let credential = json!({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                            "status": {"token": bed.api.token()}});
    std::fs::write(&plugin, format!("#!/bin/sh\necho '{credential}'\n")).expect("write plugin");
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let exec = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n",
        plugin.display()
    );
    let yaml = bed.api.kubeconfig_yaml("standin").replace(&format!("    token: {}\n", bed.api.token()), &exec);
    assert!(yaml.contains("exec:"), "{yaml}");
    std::fs::write(&bed.kubeconfig, yaml).expect("write kubeconfig");
    let other = ApiServer::start();
    let first = other.kubeconfig(bed.home.path(), "first.yaml", "first");
    let list = std::env::join_paths([&first, &bed.kubeconfig]).expect("join").to_string_lossy().into_owned();
    let out = bed.run(&["--apply-release-image-signature", "--context=standin"], &[("KUBECONFIG", list)]);
    assert_eq!(code(&out), Some(0), "{}", explain(&out));
    assert!(stdout(&out).contains(&format!("configmap/{} created", bed.name())), "{}", explain(&out));
    assert_eq!(bed.stored().map(|s| s["binaryData"].clone()), Some(bed.expected_config_map()["binaryData"].clone()));
    assert!(other.requests().is_empty(), "the first file's current context is not used");
}
