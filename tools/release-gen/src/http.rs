//! A small blocking registry client, independent of the code under test: tests use it
//! to push synthetic content and to check a destination registry.
//!
//! Do not use it inside an async runtime (reqwest's blocking client panics there);
//! call it from plain `#[test]` functions or `spawn_blocking`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::blocking::{Body, RequestBuilder, Response};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::registry::Registry;

/// Every manifest media type the suite deals with.
pub const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json";

/// A manifest as served: exact bytes, `Content-Type`, `Docker-Content-Digest`.
pub type Manifest = (Vec<u8>, String, String);

/// Blocking client for one registry, with optional basic credentials and CA.
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
    basic: Option<(String, String)>,
    /// Bearer tokens by scope, for registries that answer with a token challenge.
    tokens: Mutex<HashMap<String, String>>,
}

fn build_http(ca: Option<&Path>) -> reqwest::blocking::Client {
    super::install_crypto();
    let mut builder =
        reqwest::blocking::Client::builder().timeout(Duration::from_secs(600)).connect_timeout(Duration::from_secs(10));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).expect("read CA certificate");
        let cert = reqwest::Certificate::from_pem(&pem).expect("parse CA certificate");
        builder = builder.tls_certs_only([cert]);
    }
    builder.build().expect("build HTTP client")
}

impl Client {
    /// A client for `host_or_url`: `127.0.0.1:5000` means plain HTTP.
    pub fn new(host_or_url: &str) -> Self {
        let base = if host_or_url.contains("://") {
            host_or_url.trim_end_matches('/').to_string()
        } else {
            format!("http://{host_or_url}")
        };
        Client { base, http: build_http(None), basic: None, tokens: Mutex::new(HashMap::new()) }
    }

    /// The client for a test registry: its scheme, credentials and CA.
    pub fn for_registry(registry: &Registry) -> Self {
        let mut client = Client::new(&registry.url());
        if let Some(ca) = registry.ca_path() {
            client = client.with_ca(ca);
        }
        if let Some((user, password)) = registry.credentials() {
            client = client.with_basic(user, password);
        }
        client
    }

    /// Send these credentials (basic auth, and to the token realm on a challenge).
    pub fn with_basic(mut self, user: &str, password: &str) -> Self {
        self.basic = Some((user.to_string(), password.to_string()));
        self
    }

    /// Trust only this CA certificate (PEM) for HTTPS.
    pub fn with_ca(mut self, ca: &Path) -> Self {
        self.http = build_http(Some(ca));
        self
    }

    /// The underlying reqwest client (TLS set up, no auth), for raw requests.
    pub fn raw(&self) -> &reqwest::blocking::Client {
        &self.http
    }

    /// Base URL, e.g. `http://127.0.0.1:5000`.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn authorize(&self, request: RequestBuilder, scope: &str) -> RequestBuilder {
        let token = self.tokens.lock().expect("token cache").get(scope).cloned();
        match (token, &self.basic) {
            (Some(token), _) => request.bearer_auth(token),
            (None, Some((user, password))) => request.basic_auth(user, Some(password)),
            (None, None) => request,
        }
    }

    /// Send a request built by `build` (called again for the retry after a bearer
    /// challenge, so bodies must be re-creatable).
    pub fn send(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Response {
        let url = if url.starts_with("http") { url.to_string() } else { format!("{}{url}", self.base) };
        let request = |c: &Self| c.authorize(build(c.http.request(method.clone(), &url)), scope);
        let response = request(self).send().unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        if response.status() != StatusCode::UNAUTHORIZED {
            return response;
        }
        let Some(challenge) = bearer_challenge(response.headers()) else {
            return response;
        };
        let token = self.fetch_token(&challenge, scope);
        self.tokens.lock().expect("token cache").insert(scope.to_string(), token);
        request(self).send().unwrap_or_else(|e| panic!("{method} {url}: {e}"))
    }

    fn fetch_token(&self, challenge: &HashMap<String, String>, scope: &str) -> String {
        let realm = challenge.get("realm").expect("bearer challenge without realm");
        let sep = if realm.contains('?') { '&' } else { '?' };
        let mut url = format!("{realm}{sep}scope={}", scope.replace(' ', "%20"));
        if let Some(service) = challenge.get("service") {
            url.push_str(&format!("&service={}", service.replace(' ', "%20")));
        }
        let mut request = self.http.get(url);
        if let Some((user, password)) = &self.basic {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().expect("request a bearer token");
        assert!(response.status().is_success(), "token realm answered {}", response.status());
        let body = json(response);
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .expect("token response without token")
            .to_string()
    }

    /// Fetch a manifest by tag or digest; `None` on 404.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Option<Manifest> {
        let url = format!("/v2/{repo}/manifests/{reference}");
        let response = self.send(Method::GET, &url, &pull(repo), |r| r.header(ACCEPT, MANIFEST_ACCEPT));
        if response.status() == StatusCode::NOT_FOUND {
            return None;
        }
        let response = check(response, &url);
        let header =
            |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let content_type = header("content-type");
        let digest = header("docker-content-digest");
        let body = response.bytes().expect("read manifest body").to_vec();
        Some((body, content_type, digest))
    }

    /// Whether `HEAD /v2/<repo>/blobs/<digest>` answers 200.
    pub fn blob_exists(&self, repo: &str, digest: &str) -> bool {
        let url = format!("/v2/{repo}/blobs/{digest}");
        let response = self.send(Method::HEAD, &url, &pull(repo), |r| r);
        match response.status() {
            StatusCode::OK => true,
            StatusCode::NOT_FOUND => false,
            other => panic!("HEAD {url}: unexpected {other}"),
        }
    }

    /// A blob's bytes; `None` on 404.
    pub fn get_blob(&self, repo: &str, digest: &str) -> Option<Vec<u8>> {
        let url = format!("/v2/{repo}/blobs/{digest}");
        let response = self.send(Method::GET, &url, &pull(repo), |r| r);
        if response.status() == StatusCode::NOT_FOUND {
            return None;
        }
        Some(check(response, &url).bytes().expect("read blob").to_vec())
    }

    /// Tags of `repo`, sorted; empty if the repository is unknown.
    pub fn list_tags(&self, repo: &str) -> Vec<String> {
        self.paginated(&format!("/v2/{repo}/tags/list?n=100"), &pull(repo), "tags")
    }

    /// Repositories in the registry, sorted (follows `Link` pagination: the
    /// registry caps a page at 100 entries).
    pub fn catalog(&self) -> Vec<String> {
        self.paginated("/v2/_catalog?n=100", "registry:catalog:*", "repositories")
    }

    fn paginated(&self, first: &str, scope: &str, field: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut next = Some(first.to_string());
        while let Some(url) = next.take() {
            let response = self.send(Method::GET, &url, scope, |r| r);
            if response.status() == StatusCode::NOT_FOUND {
                break;
            }
            let response = check(response, &url);
            next = response
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once('<'))
                .and_then(|(_, rest)| rest.split_once('>'))
                .map(|(link, _)| link.to_string());
            out.extend(sorted_strings(&json(response)[field]));
        }
        out.sort();
        out
    }

    /// Upload a manifest under a tag or digest; returns the registry's digest.
    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        let url = format!("/v2/{repo}/manifests/{reference}");
        let response =
            self.send(Method::PUT, &url, &push(repo), |r| r.header(CONTENT_TYPE, media_type).body(body.to_vec()));
        let response = check(response, &url);
        response.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }

    /// Upload a blob monolithically (POST then PUT `?digest=`) unless it exists.
    /// `body` makes the content (called again on an auth retry). Returns whether it
    /// was uploaded.
    pub fn push_blob(&self, repo: &str, digest: &str, body: impl Fn() -> Body) -> bool {
        if self.blob_exists(repo, digest) {
            return false;
        }
        let url = format!("/v2/{repo}/blobs/uploads/");
        let response = check(self.send(Method::POST, &url, &push(repo), |r| r), &url);
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("upload without Location")
            .to_string();
        let sep = if location.contains('?') { '&' } else { '?' };
        let put_url = format!("{location}{sep}digest={digest}");
        let response = self.send(Method::PUT, &put_url, &push(repo), |r| {
            r.header(CONTENT_TYPE, "application/octet-stream").body(body())
        });
        check(response, &put_url);
        true
    }

    /// Delete a manifest by digest (the registry runs with deletes enabled).
    pub fn delete_manifest(&self, repo: &str, digest: &str) -> StatusCode {
        let url = format!("/v2/{repo}/manifests/{digest}");
        self.send(Method::DELETE, &url, &push(repo), |r| r).status()
    }
}

fn pull(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn push(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn check(response: Response, what: &str) -> Response {
    if response.status().is_success() {
        return response;
    }
    let status = response.status();
    let body = response.text().unwrap_or_default();
    panic!("{what}: registry answered {status}: {body}");
}

fn json(response: Response) -> serde_json::Value {
    let bytes = response.bytes().expect("read JSON body");
    serde_json::from_slice(&bytes).expect("parse JSON body")
}

fn sorted_strings(value: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> =
        value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default();
    out.sort();
    out
}

/// Parse `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`.
fn bearer_challenge(headers: &HeaderMap) -> Option<HashMap<String, String>> {
    let value = headers.get(WWW_AUTHENTICATE)?.to_str().ok()?;
    let params = value.strip_prefix("Bearer ")?;
    let mut out = HashMap::new();
    let mut rest = params.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let after = after.trim_start();
        let (val, tail) = match after.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => after.split_once(',').unwrap_or((after, "")),
        };
        out.insert(key.trim().trim_start_matches(',').trim().to_string(), val.to_string());
        rest = tail.trim_start_matches(',').trim();
    }
    Some(out)
}

/// [`Client::get_manifest`] on a plain-HTTP, anonymous registry.
pub fn get_manifest(host_or_url: &str, repo: &str, reference: &str) -> Option<Manifest> {
    Client::new(host_or_url).get_manifest(repo, reference)
}

/// [`Client::blob_exists`] on a plain-HTTP, anonymous registry.
pub fn blob_exists(host_or_url: &str, repo: &str, digest: &str) -> bool {
    Client::new(host_or_url).blob_exists(repo, digest)
}

/// [`Client::list_tags`] on a plain-HTTP, anonymous registry.
pub fn list_tags(host_or_url: &str, repo: &str) -> Vec<String> {
    Client::new(host_or_url).list_tags(repo)
}

/// [`Client::catalog`] on a plain-HTTP, anonymous registry.
pub fn catalog(host_or_url: &str) -> Vec<String> {
    Client::new(host_or_url).catalog()
}
