//! Registry credentials: pull-secret / auth.json files, matched most-specific-first.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

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

/// Every credential from the files that were read, keyed by normalised `host[/path]`.
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    /// In priority order: the first file that has a match wins.
    files: Vec<(PathBuf, BTreeMap<String, Credential>)>,
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

impl Credentials {
    /// `-a FILE` when given (it must exist), else the default chain: `REGISTRY_AUTH_FILE`,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.docker/config.json` (missing ones skipped).
    pub fn load(explicit: Option<&Path>) -> Result<Credentials, RegistryError> {
        let mut creds = Credentials::default();
        if let Some(path) = explicit {
            creds.add_file(path)?;
            return Ok(creds);
        }
        for path in default_chain() {
            if path.is_file() {
                creds.add_file(&path)?;
            }
        }
        Ok(creds)
    }

    fn add_file(&mut self, path: &Path) -> Result<(), RegistryError> {
        let fail = |reason: String| RegistryError::AuthFile { path: path.to_path_buf(), reason };
        let text = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let file: AuthFile = serde_json::from_slice(&text).map_err(|e| fail(format!("not valid JSON ({e})")))?;
        let mut map = BTreeMap::new();
        for (key, entry) in file.auths {
            let cred = entry.into_credential().map_err(|r| fail(format!("entry {key:?}: {r}")))?;
            if let Some(cred) = cred {
                map.insert(normalize_key(&key), cred);
            }
        }
        self.files.push((path.to_path_buf(), map));
        Ok(())
    }

    /// The credential for `host/repo`: `host/ns/repo`, then `host/ns`, then `host`.
    pub fn find(&self, host: &str, repo: &str) -> Option<&Credential> {
        let full = format!("{host}/{repo}");
        let candidates: Vec<&str> =
            std::iter::successors(Some(full.as_str()), |s| s.rfind('/').map(|i| &s[..i])).collect();
        self.files.iter().find_map(|(_, map)| candidates.iter().find_map(|c| map.get(*c)))
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

fn default_chain() -> Vec<PathBuf> {
    let mut chain = Vec::new();
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        chain.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        chain.push(PathBuf::from(dir).join("containers/auth.json"));
    }
    if let Some(home) = dirs::home_dir() {
        chain.push(home.join(".docker/config.json"));
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
        assert_eq!(creds.find("quay.io", "ns/repo"), Some(&basic("repo")));
        assert_eq!(creds.find("quay.io", "ns/other"), Some(&basic("ns")));
        assert_eq!(creds.find("quay.io", "elsewhere/x"), Some(&basic("host")));
        assert_eq!(creds.find("registry.io", "ns/repo"), None);
    }

    #[test]
    fn normalises_docker_hub_and_url_keys() {
        let dir = tempfile::tempdir().unwrap();
        let body = r#"{"auths":{"https://index.docker.io/v1/":{"username":"u","password":"pw"},"https://m.example:5000":{"identitytoken":"tok"}}}"#;
        let creds = Credentials::load(Some(&write(dir.path(), "a.json", body))).unwrap();
        assert_eq!(creds.find("docker.io", "library/busybox"), Some(&basic("u")));
        assert_eq!(creds.find("m.example:5000", "a"), Some(&Credential::IdentityToken("tok".into())));
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
}
