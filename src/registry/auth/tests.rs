//! Unit tests of credential loading, matching and the helper chain.
use super::*;

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// The credential the files hold for `host/repo`, when no helper comes first.
fn stored<'a>(creds: &'a Credentials, host: &str, repo: &str) -> Option<&'a Credential> {
    match creds.sources(host, repo).into_iter().next()? {
        Source::Stored(cred) => Some(cred),
        Source::Helper { .. } => None,
    }
}

fn basic(u: &str) -> Credential {
    Credential::Basic { username: u.into(), password: "pw".into() }
}

#[test]
fn matches_the_most_specific_entry_first() {
    let dir = tempfile::tempdir().unwrap();
    let enc = |u: &str| base64::engine::general_purpose::STANDARD.encode(format!("{u}:pw"));
    let body = format!(
        r#"{{"auths":{{"quay.io":{{"auth":"{}"}},"quay.io/ns":{{"auth":"{}"}},"quay.io/ns/repo":{{"auth":"{}"}}}}}}"#,
        enc("host"),
        enc("ns"),
        enc("repo")
    );
    let creds = Credentials::load(Some(&write(dir.path(), "a.json", &body))).unwrap();
    assert_eq!(stored(&creds, "quay.io", "ns/repo"), Some(&basic("repo")));
    assert_eq!(stored(&creds, "quay.io", "ns/other"), Some(&basic("ns")));
    assert_eq!(stored(&creds, "quay.io", "elsewhere/x"), Some(&basic("host")));
    assert_eq!(stored(&creds, "registry.io", "ns/repo"), None);
}

#[test]
fn normalises_docker_hub_and_url_keys() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"{"auths":{"https://index.docker.io/v1/":{"username":"u","password":"pw"},"https://m.example:5000":{"identitytoken":"tok"}}}"#;
    let creds = Credentials::load(Some(&write(dir.path(), "a.json", body))).unwrap();
    assert_eq!(stored(&creds, "docker.io", "library/busybox"), Some(&basic("u")));
    assert_eq!(stored(&creds, "m.example:5000", "a"), Some(&Credential::IdentityToken("tok".into())));
}

#[test]
fn explicit_file_errors_name_the_path_and_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let err = Credentials::load(Some(&missing)).unwrap_err().to_string();
    assert!(err.contains("nope.json"), "{err}");
    let bad = write(dir.path(), "bad.json", r#"{"auths":{"q.io":{"auth":"!!secret!!"}}}"#);
    let err = Credentials::load(Some(&bad)).unwrap_err().to_string();
    assert!(err.contains("bad.json") && err.contains("q.io") && !err.contains("secret"), "{err}");
    let cred = basic("me");
    assert!(!format!("{cred:?}").contains("pw"));
}

fn chain_of(vars: &[(&str, &str)], home: Option<&str>) -> Vec<(String, Layout)> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    chain(|name| vars.get(name).map(Into::into), home.map(PathBuf::from))
        .into_iter()
        .map(|(p, layout)| (p.display().to_string(), layout))
        .collect()
}

#[test]
fn the_default_chain_is_where_podman_and_docker_look_in_their_order() {
    use Layout::{Current, Legacy};
    let all = [
        ("REGISTRY_AUTH_FILE", "/ra.json"),
        ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ("XDG_CONFIG_HOME", "/cfg"),
        ("DOCKER_CONFIG", "/dc"),
    ];
    let expected = [
        ("/ra.json", Current),
        ("/run/user/1000/containers/auth.json", Current),
        ("/cfg/containers/auth.json", Current),
        ("/dc/config.json", Current),
        ("/h/.dockercfg", Legacy),
    ];
    let expected: Vec<(String, Layout)> = expected.iter().map(|(p, l)| (p.to_string(), *l)).collect();
    assert_eq!(chain_of(&all, Some("/h")), expected);
    let defaults =
        [("/h/.config/containers/auth.json", Current), ("/h/.docker/config.json", Current), ("/h/.dockercfg", Legacy)];
    let defaults: Vec<(String, Layout)> = defaults.iter().map(|(p, l)| (p.to_string(), *l)).collect();
    assert_eq!(chain_of(&[("XDG_CONFIG_HOME", ""), ("REGISTRY_AUTH_FILE", "")], Some("/h")), defaults);
    assert_eq!(chain_of(&[], None), vec![]);
}

#[test]
fn the_legacy_dockercfg_is_the_auths_map_alone() {
    let dir = tempfile::tempdir().unwrap();
    let enc = base64::engine::general_purpose::STANDARD.encode("u:pw");
    let path = write(dir.path(), ".dockercfg", &format!(r#"{{"https://q.io":{{"auth":"{enc}","email":"a@b"}}}}"#));
    let mut creds = Credentials::default();
    creds.add_file(&path, Layout::Legacy).unwrap();
    assert_eq!(stored(&creds, "q.io", "a/b"), Some(&basic("u")));
}

#[test]
fn cred_helpers_answer_for_their_host_and_creds_store_for_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let enc = |u: &str| base64::engine::general_purpose::STANDARD.encode(format!("{u}:pw"));
    // What `docker login` leaves with a store: an empty `auths` entry, the helper names.
    let docker = write(
        dir.path(),
        "config.json",
        &format!(
            r#"{{"auths":{{"h.io":{{}},"q.io/ns":{{"auth":"{}"}},"c.io":{{"auth":"{}"}}}},
                "credHelpers":{{"https://c.io/":"per-host","h.io":"per-host"}},"credsStore":"store"}}"#,
            enc("q-ns"),
            enc("shadowed")
        ),
    );
    let other = write(dir.path(), "auth.json", &format!(r#"{{"auths":{{"h.io":{{"auth":"{}"}}}}}}"#, enc("h")));
    let mut creds = Credentials::default();
    creds.add_file(&docker, Layout::Current).unwrap();
    creds.add_file(&other, Layout::Current).unwrap();
    let helper = |name| Source::Helper { name, file: docker.as_path() };
    let stored_h = basic("h");
    // credHelpers: the host key (a URL key normalised), and nothing else from that file.
    assert_eq!(creds.sources("c.io", "x/y"), vec![helper("per-host")]);
    // Then the next file of the chain, when the helper has nothing.
    assert_eq!(creds.sources("h.io", "x"), vec![helper("per-host"), Source::Stored(&stored_h)]);
    // An `auths` credential of the file comes before its credsStore ...
    assert_eq!(creds.sources("q.io", "ns/r"), vec![Source::Stored(&basic("q-ns"))]);
    // ... which answers for every other registry.
    assert_eq!(creds.sources("q.io", "other/r"), vec![helper("store")]);
    assert_eq!(creds.sources("docker.io", "library/x"), vec![helper("store")]);
}

#[test]
fn a_missing_helper_is_an_error_naming_the_file_the_helper_and_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "config.json", r#"{"credsStore":"release-mirror-test-absent-6b1d"}"#);
    let creds = Credentials::load(Some(&path)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let err = rt.block_on(creds.lookup("m.example:5000", "a/b")).unwrap_err().to_string();
    assert!(err.contains("config.json"), "{err}");
    assert!(
        err.contains(
            "credential helper docker-credential-release-mirror-test-absent-6b1d failed for registry m.example:5000: \
             not found on PATH"
        ),
        "{err}"
    );
    assert!(matches!(rt.block_on(creds.lookup("m.example:5000", "a/b")), Err(RegistryError::AuthFile { .. })));
}
