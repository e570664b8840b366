//! Registry credentials: pull-secret / auth.json / docker config files, matched
//! most-specific-first, and the Docker credential helpers those files name.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::credhelper::{self, HelperError};
use super::RegistryError;

/// A user name and password (or an identity token). `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic { username: String, password: String },
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// Every credential from the files that were read, and the helpers they name.
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    /// In priority order: the first file that has a match wins.
    files: Vec<AuthSource>,
    /// What each helper answered for each registry: asked once a run, when first needed.
    answers: Arc<Mutex<Answers>>,
}

type HelperAnswer = Result<Option<Credential>, HelperError>;
/// Helper name and registry host → the helper's answer, filled once.
type Answers = HashMap<(String, String), Arc<OnceCell<HelperAnswer>>>;

/// One file of the chain.
#[derive(Debug, Clone)]
struct AuthSource {
    path: PathBuf,
    /// `auths`, keyed by normalised `host[/path]`.
    auths: BTreeMap<String, Credential>,
    /// `credHelpers`: registry host → helper name.
    helpers: BTreeMap<String, String>,
    /// `credsStore`: the helper for every registry the file has no credential for.
    store: Option<String>,
}

/// Where the credential for one registry may come from, in the order to try.
#[derive(Debug, PartialEq)]
enum Source<'a> {
    Stored(&'a Credential),
    Helper { name: &'a str, file: &'a Path },
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

/// How a file of the chain is laid out.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// `{"auths": {...}, "credHelpers": {...}, "credsStore": "..."}`.
    Current,
    /// `~/.dockercfg`: the `auths` map alone.
    Legacy,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

impl Credentials {
    /// `-a FILE` when given (it must exist), else the default chain (missing files
    /// skipped): `REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
    /// `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config`), `$DOCKER_CONFIG/config.json`
    /// (`~/.docker`), `~/.dockercfg`.
    pub fn load(explicit: Option<&Path>) -> Result<Credentials, RegistryError> {
        let mut creds = Credentials::default();
        if let Some(path) = explicit {
            creds.add_file(path, Layout::Current)?;
            return Ok(creds);
        }
        for (path, layout) in default_chain() {
            if path.is_file() {
                creds.add_file(&path, layout)?;
            }
        }
        Ok(creds)
    }

    fn add_file(&mut self, path: &Path, layout: Layout) -> Result<(), RegistryError> {
        let fail = |reason: String| RegistryError::AuthFile { path: path.to_path_buf(), reason };
        let text = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let file: AuthFile = match layout {
            Layout::Current => serde_json::from_slice(&text),
            Layout::Legacy => serde_json::from_slice(&text).map(|auths| AuthFile {
                auths,
                cred_helpers: BTreeMap::new(),
                creds_store: None,
            }),
        }
        .map_err(|e| fail(format!("not valid JSON ({e})")))?;
        let mut auths = BTreeMap::new();
        for (key, entry) in file.auths {
            let cred = entry.into_credential().map_err(|r| fail(format!("entry {key:?}: {r}")))?;
            if let Some(cred) = cred {
                auths.insert(normalize_key(&key), cred);
            }
        }
        let helpers = file
            .cred_helpers
            .into_iter()
            .filter(|(_, name)| !name.is_empty())
            .map(|(key, name)| (normalize_key(&key), name))
            .collect();
        let store = file.creds_store.filter(|name| !name.is_empty());
        self.files.push(AuthSource { path: path.to_path_buf(), auths, helpers, store });
        Ok(())
    }

    /// Where the credential for `host/repo` may come from, file by file: the file's
    /// `credHelpers` entry for `host` (then nothing else from that file), else its `auths`
    /// entry for `host/ns/repo`, `host/ns` or `host`, else its `credsStore`.
    fn sources(&self, host: &str, repo: &str) -> Vec<Source<'_>> {
        let full = format!("{host}/{repo}");
        let candidates: Vec<&str> =
            std::iter::successors(Some(full.as_str()), |s| s.rfind('/').map(|i| &s[..i])).collect();
        let mut sources = Vec::new();
        for file in &self.files {
            if let Some(name) = file.helpers.get(host) {
                sources.push(Source::Helper { name, file: &file.path });
            } else if let Some(cred) = candidates.iter().find_map(|c| file.auths.get(*c)) {
                sources.push(Source::Stored(cred));
            } else if let Some(name) = &file.store {
                sources.push(Source::Helper { name, file: &file.path });
            }
        }
        sources
    }

    /// The credential for `host/repo` ([`Credentials::sources`] in order; a helper that
    /// has none passes to the next). Helpers run here, when a registry first asks, once
    /// per helper and registry in a run. A helper that fails or is missing is an error
    /// naming the file, the helper and the registry; its output is never shown.
    pub async fn lookup(&self, host: &str, repo: &str) -> Result<Option<Credential>, RegistryError> {
        for source in self.sources(host, repo) {
            let (name, file) = match source {
                Source::Stored(cred) => return Ok(Some(cred.clone())),
                Source::Helper { name, file } => (name, file),
            };
            match self.ask(name, host).await {
                Ok(Some(cred)) => return Ok(Some(cred)),
                Ok(None) => continue,
                Err(e) => {
                    return Err(RegistryError::AuthFile {
                        path: file.to_path_buf(),
                        reason: format!(
                            "credential helper {}{name} failed for registry {host}: {e}",
                            credhelper::PREFIX
                        ),
                    })
                }
            }
        }
        Ok(None)
    }

    /// Helper `name`'s answer for `host`, asked on a blocking thread the first time.
    async fn ask(&self, name: &str, host: &str) -> HelperAnswer {
        let cell = {
            let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(answers.entry((name.to_string(), host.to_string())).or_default())
        };
        let answer = cell
            .get_or_init(|| {
                let (name, server) = (name.to_string(), credhelper::server_url(host));
                async move {
                    tokio::task::spawn_blocking(move || credhelper::get(&name, &server, credhelper::TIMEOUT))
                        .await
                        .unwrap_or_else(|e| Err(HelperError::Io(format!("its task failed ({e})"))))
                }
            })
            .await;
        answer.clone()
    }
}

impl AuthEntry {
    fn into_credential(self) -> Result<Option<Credential>, String> {
        if let Some(token) = self.identitytoken.filter(|t| !t.is_empty()) {
            return Ok(Some(Credential::IdentityToken(token)));
        }
        if let Some(auth) = self.auth.filter(|a| !a.is_empty()) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| "\"auth\" is not base64".to_string())?;
            let text = String::from_utf8(raw).map_err(|_| "\"auth\" is not UTF-8".to_string())?;
            let (u, p) = text.split_once(':').ok_or("\"auth\" is not user:password")?;
            return Ok(Some(Credential::Basic { username: u.to_string(), password: p.to_string() }));
        }
        match (self.username, self.password) {
            (Some(username), Some(password)) => Ok(Some(Credential::Basic { username, password })),
            _ => Ok(None),
        }
    }
}

/// The files read without `-a`, in priority order: where podman/skopeo
/// (containers-auth.json(5)) and docker look.
fn default_chain() -> Vec<(PathBuf, Layout)> {
    chain(|name| std::env::var_os(name), dirs::home_dir())
}

/// [`default_chain`] for environment `var` and home directory `home`.
fn chain(var: impl Fn(&str) -> Option<std::ffi::OsString>, home: Option<PathBuf>) -> Vec<(PathBuf, Layout)> {
    let var = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut chain = Vec::new();
    if let Some(p) = var("REGISTRY_AUTH_FILE") {
        chain.push((p, Layout::Current));
    }
    if let Some(dir) = var("XDG_RUNTIME_DIR") {
        chain.push((dir.join("containers/auth.json"), Layout::Current));
    }
    if let Some(dir) = var("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config"))) {
        chain.push((dir.join("containers/auth.json"), Layout::Current));
    }
    if let Some(dir) = var("DOCKER_CONFIG").or_else(|| home.as_ref().map(|h| h.join(".docker"))) {
        chain.push((dir.join("config.json"), Layout::Current));
    }
    if let Some(home) = &home {
        chain.push((home.join(".dockercfg"), Layout::Legacy));
    }
    chain
}

/// `https://index.docker.io/v1/` → `docker.io`; `https://quay.io/` → `quay.io`.
fn normalize_key(key: &str) -> String {
    let key = key.split_once("://").map_or(key, |(_, rest)| rest);
    let key = key.trim_end_matches('/');
    match key {
        "index.docker.io/v1" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        k => k.to_string(),
    }
}

#[cfg(test)]
mod tests {
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
        let defaults = [
            ("/h/.config/containers/auth.json", Current),
            ("/h/.docker/config.json", Current),
            ("/h/.dockercfg", Legacy),
        ];
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
}
