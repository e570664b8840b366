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
pub(crate) enum Credential {
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
pub(crate) struct Credentials {
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
    pub(crate) fn load(explicit: Option<&Path>) -> Result<Credentials, RegistryError> {
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
    pub(crate) async fn lookup(&self, host: &str, repo: &str) -> Result<Option<Credential>, RegistryError> {
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

    /// Where the credential [`Credentials::lookup`] gives for `host/repo` comes from, for
    /// messages: `credential helper docker-credential-X (named by FILE)` or `FILE`. Asks no
    /// helper that was not asked already.
    pub fn origin(&self, host: &str, repo: &str) -> Option<String> {
        for source in self.sources(host, repo) {
            match source {
                Source::Stored(cred) => {
                    let file = self.files.iter().find(|f| f.auths.values().any(|c| std::ptr::eq(c, cred)))?;
                    return Some(file.path.display().to_string());
                }
                Source::Helper { name, file } => match self.answered(name, host) {
                    Some(Ok(Some(_))) => {
                        let (prefix, file) = (credhelper::PREFIX, file.display());
                        return Some(format!("credential helper {prefix}{name} (named by {file})"));
                    }
                    Some(Ok(None)) => continue,
                    _ => return None,
                },
            }
        }
        None
    }

    /// Helper `name`'s answer for `host`, if it was asked.
    fn answered(&self, name: &str, host: &str) -> Option<HelperAnswer> {
        let answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        answers.get(&(name.to_string(), host.to_string())).and_then(|cell| cell.get().cloned())
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
mod tests;
