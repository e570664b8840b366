//! One registry host: base URL discovery, authentication (basic and the bearer-token flow)
//! and sending requests with the right credentials for each repository.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::auth::{Credential, Credentials};
use super::challenge::{self, Challenge, Scope};
use super::retry::{self, RetryPolicy};
use super::RegistryError;

/// How to reach registries: resolved from the registry flags, plain values.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Credentials file (`--registry-config`); `None` follows the default chain.
    pub auth_file: Option<std::path::PathBuf>,
    /// Plain HTTP and unverified TLS allowed (`--insecure`).
    pub insecure: bool,
    /// Extra CA bundle (PEM) to trust (`--certificate-authority`).
    pub certificate_authority: Option<std::path::PathBuf>,
    /// Tries per request (`--retries`); 0 means the default.
    pub tries: u32,
    /// Log each retry on stderr (`-v`).
    pub verbose: bool,
    /// A transfer that sends nothing for this long, or less than [`STALL_FLOOR`] bytes a
    /// second over this long, is stalled (`--stall-timeout`); zero means the default.
    pub stall_timeout: Duration,
}

/// The default `--stall-timeout`.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes a second below which a transfer crawls (curl's `--speed-limit` idea).
pub const STALL_FLOOR: u64 = 1024;

/// Settings shared by every registry of a run.
#[derive(Clone)]
pub struct Transport {
    http: reqwest::Client,
    insecure: bool,
    credentials: Arc<Credentials>,
    retry: RetryPolicy,
    retried: Arc<AtomicU64>,
    verbose: bool,
    uploads: Arc<Mutex<OpenUploads>>,
    stall: Duration,
    /// Retries spent per blob, by whichever way (a resumed download, a restarted copy).
    spent: Arc<Mutex<HashMap<String, u32>>>,
}

/// Blob uploads begun (POST answered with a Location) and not yet finished.
#[derive(Default)]
struct OpenUploads {
    next: u64,
    open: HashMap<u64, (RegistryClient, String, String)>,
}

impl Transport {
    /// Build the HTTP client from the registry settings.
    pub fn new(args: &Settings) -> Result<Transport, RegistryError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("kubectl-release_mirror/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(32)
            .tls_danger_accept_invalid_certs(args.insecure);
        if let Some(path) = &args.certificate_authority {
            let fail = |reason: String| RegistryError::CaFile { path: path.clone(), reason };
            let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(e.to_string()))?;
            if certs.is_empty() {
                return Err(fail("no PEM certificates in it".to_string()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(RegistryError::Client)?;
        let credentials = Arc::new(Credentials::load(args.auth_file.as_deref())?);
        Ok(Transport {
            http,
            insecure: args.insecure,
            credentials,
            retry: RetryPolicy::new(if args.tries == 0 { super::DEFAULT_TRIES } else { args.tries }),
            retried: Arc::default(),
            verbose: args.verbose,
            uploads: Arc::default(),
            stall: if args.stall_timeout.is_zero() { DEFAULT_STALL_TIMEOUT } else { args.stall_timeout },
            spent: Arc::default(),
        })
    }

    /// How long a transfer may send nothing before it counts as stalled.
    pub fn stall_timeout(&self) -> Duration {
        self.stall
    }

    /// Spend one retry of blob `digest` from its one budget (`--retries` tries in all,
    /// however they are made: resumed downloads and restarted copies alike). `false` when
    /// the budget is used up.
    pub fn take_retry(&self, digest: &str) -> bool {
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        let used = spent.entry(digest.to_string()).or_insert(0);
        if *used + 1 >= self.retry.tries {
            return false;
        }
        *used += 1;
        true
    }

    /// Cancel (DELETE) every upload session still open, as on an interrupt, so the registry
    /// does not keep them until they expire; a few seconds at most. Returns how many were
    /// cancelled.
    pub async fn cancel_open_uploads(&self) -> usize {
        let open: Vec<_> =
            self.uploads.lock().unwrap_or_else(|p| p.into_inner()).open.drain().map(|(_, u)| u).collect();
        let cancels = open.iter().map(|(client, repo, location)| async move {
            let scopes = [Scope::push(repo)];
            let req = client.http().delete(location.as_str());
            client.send_once(&scopes, req).await.is_ok_and(|r| r.status().is_success())
        });
        let all = futures_util::future::join_all(cancels);
        tokio::time::timeout(Duration::from_secs(5), all)
            .await
            .map_or(0, |done| done.into_iter().filter(|ok| *ok).count())
    }

    /// The retry policy of every request (`--retries`).
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Count a retry made above the request level (a whole blob copied again).
    pub fn count_retry(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// How many requests were tried again so far.
    pub fn retried(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }

    /// A client for one registry host.
    pub fn client(&self, host: &str) -> RegistryClient {
        RegistryClient {
            transport: self.clone(),
            host: host.to_string(),
            api_host: api_host(host).to_string(),
            base: Arc::new(OnceCell::new()),
            challenge: Arc::new(Mutex::new(None)),
            tokens: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// Docker Hub's API lives on another host than its name.
fn api_host(host: &str) -> &str {
    if host == "docker.io" {
        "registry-1.docker.io"
    } else {
        host
    }
}

/// A client for one registry host; cheap to clone (shared caches).
#[derive(Clone)]
pub struct RegistryClient {
    transport: Transport,
    host: String,
    api_host: String,
    base: Arc<OnceCell<String>>,
    challenge: Arc<Mutex<Option<Challenge>>>,
    tokens: Arc<Mutex<HashMap<String, HeaderValue>>>,
}

#[derive(Deserialize)]
struct TokenReply {
    token: Option<String>,
    access_token: Option<String>,
}

impl RegistryClient {
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.transport.http
    }

    /// `https://host` (or `http://host` when `--insecure` and the registry speaks no TLS).
    pub async fn base(&self) -> Result<&str, RegistryError> {
        let base = self
            .base
            .get_or_try_init(|| async {
                let https = format!("https://{}", self.api_host);
                if !self.transport.insecure {
                    return Ok(https);
                }
                match self.transport.http.get(format!("{https}/v2/")).send().await {
                    Ok(_) => Ok(https),
                    Err(e) if e.is_connect() || e.is_request() => Ok(format!("http://{}", self.api_host)),
                    Err(source) => Err(RegistryError::Connect { host: self.host.clone(), source }),
                }
            })
            .await?;
        Ok(base.as_str())
    }

    /// `<base>/v2/<path>`.
    pub async fn url(&self, path: &str) -> Result<String, RegistryError> {
        Ok(format!("{}/v2/{path}", self.base().await?))
    }

    /// Send a request built by `make`, authenticating for `scopes`: on a 401 the challenge is
    /// answered once (basic credentials or a bearer token) and the request sent again.
    /// Connection errors, 408, 429 and 5xx are retried with backoff (`--retries`).
    pub async fn send<F>(&self, scopes: &[Scope], make: F) -> Result<Response, RegistryError>
    where
        F: Fn(&reqwest::Client) -> RequestBuilder,
    {
        let mut auth = self.cached_auth(scopes).await?;
        let mut answered = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = make(&self.transport.http);
            if let Some(h) = &auth {
                req = req.header(AUTHORIZATION, h.clone());
            }
            let resp = match req.send().await {
                Ok(resp) => resp,
                Err(source) if attempt < self.transport.retry.tries => {
                    self.pause(attempt, None, &crate::exit::one_line(&source.without_url())).await;
                    continue;
                }
                Err(source) => return Err(RegistryError::Connect { host: self.host.clone(), source }),
            };
            let status = resp.status();
            if retry::retryable_status(status) && attempt < self.transport.retry.tries {
                self.pause(attempt, retry::retry_after(resp.headers()), status.as_str()).await;
                continue;
            }
            if status != StatusCode::UNAUTHORIZED || answered {
                return self.check_denied(resp, scopes);
            }
            let found = resp.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).and_then(challenge::parse);
            let Some(found) = found else { return self.check_denied(resp, scopes) };
            *self.challenge.lock().unwrap_or_else(|p| p.into_inner()) = Some(found.clone());
            self.tokens.lock().unwrap_or_else(|p| p.into_inner()).remove(&challenge::scopes_key(scopes));
            auth = Some(self.authorize(&found, scopes).await?);
            answered = true;
        }
    }

    /// Remember an upload session until [`RegistryClient::upload_finished`].
    pub(super) fn upload_started(&self, repo: &str, location: &str) -> u64 {
        let mut uploads = self.transport.uploads.lock().unwrap_or_else(|p| p.into_inner());
        uploads.next += 1;
        let id = uploads.next;
        uploads.open.insert(id, (self.clone(), repo.to_string(), location.to_string()));
        id
    }

    /// The upload session `id` is closed (committed, or refused by the registry).
    pub(super) fn upload_finished(&self, id: u64) {
        self.transport.uploads.lock().unwrap_or_else(|p| p.into_inner()).open.remove(&id);
    }

    /// Wait before another try of a request, and count it.
    async fn pause(&self, attempt: u32, retry_after: Option<Duration>, why: &str) {
        self.wait_before_retry(attempt, retry_after, &format!("try {attempt} failed ({why})")).await;
    }

    /// Count a retry, say why on stderr with `-v` (one `debug:` line each), and wait the
    /// backoff for `attempt` (or the server's `Retry-After`).
    pub(super) async fn wait_before_retry(&self, attempt: u32, retry_after: Option<Duration>, why: &str) {
        self.transport.retried.fetch_add(1, Ordering::Relaxed);
        let wait = self.transport.retry.delay(attempt, retry_after, retry::jitter());
        if self.transport.verbose {
            eprintln!("debug: {}: {why}; retrying in {} ms", self.host, wait.as_millis());
        }
        tokio::time::sleep(wait).await;
    }

    /// The run's transport (budgets, stall timeout).
    pub(super) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Send a request whose body can only be sent once (a streamed blob): the
    /// authorization must already be cached by an earlier request for the same scopes.
    pub async fn send_once(&self, scopes: &[Scope], req: RequestBuilder) -> Result<Response, RegistryError> {
        let req = match self.cached_auth(scopes).await? {
            Some(h) => req.header(AUTHORIZATION, h),
            None => req,
        };
        let resp = req.send().await.map_err(|source| RegistryError::Connect { host: self.host.clone(), source })?;
        self.check_denied(resp, scopes)
    }

    fn check_denied(&self, resp: Response, scopes: &[Scope]) -> Result<Response, RegistryError> {
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let repo = scopes.first().map_or_else(String::new, |s| s.repo.clone());
            return Err(RegistryError::Unauthorized { host: self.host.clone(), repo, status: status.as_u16() });
        }
        Ok(resp)
    }

    /// The header for `scopes` if one is cached, or can be made without a round trip
    /// to the registry because its challenge is already known.
    async fn cached_auth(&self, scopes: &[Scope]) -> Result<Option<HeaderValue>, RegistryError> {
        let key = challenge::scopes_key(scopes);
        if let Some(h) = self.tokens.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(Some(h.clone()));
        }
        let known = self.challenge.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match known {
            Some(c) => Ok(Some(self.authorize(&c, scopes).await?)),
            None => Ok(None),
        }
    }

    /// Answer a challenge for `scopes` and cache the resulting header.
    async fn authorize(&self, found: &Challenge, scopes: &[Scope]) -> Result<HeaderValue, RegistryError> {
        let repo = scopes.first().map_or("", |s| s.repo.as_str());
        let cred = self.transport.credentials.lookup(&self.host, repo).await?;
        let header = match found {
            Challenge::Basic => match &cred {
                Some(Credential::Basic { username, password }) => basic_header(username, password),
                _ => {
                    return Err(RegistryError::Unauthorized {
                        host: self.host.clone(),
                        repo: repo.to_string(),
                        status: 401,
                    })
                }
            },
            Challenge::Bearer { realm, service } => {
                let token = self.fetch_token(realm, service.as_deref(), scopes, cred.as_ref()).await?;
                sensitive(&format!("Bearer {token}"))
            }
        };
        let key = challenge::scopes_key(scopes);
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).insert(key, header.clone());
        Ok(header)
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[Scope],
        cred: Option<&Credential>,
    ) -> Result<String, RegistryError> {
        let fail = |reason: String| RegistryError::Token { host: self.host.clone(), realm: realm.to_string(), reason };
        let mut query: Vec<(&str, String)> = scopes.iter().map(|s| ("scope", s.to_param())).collect();
        if let Some(s) = service {
            query.push(("service", s.to_string()));
        }
        let req = match cred {
            Some(Credential::IdentityToken(t)) => {
                query.push(("grant_type", "refresh_token".into()));
                query.push(("refresh_token", t.clone()));
                query.push(("client_id", "kubectl-release_mirror".into()));
                self.transport.http.post(realm).form(&query)
            }
            Some(Credential::Basic { username, password }) => {
                self.transport.http.get(realm).query(&query).header(AUTHORIZATION, basic_header(username, password))
            }
            None => self.transport.http.get(realm).query(&query),
        };
        let resp = req.send().await.map_err(|e| fail(e.without_url().to_string()))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let repo = scopes.first().map_or_else(String::new, |s| s.repo.clone());
            return Err(RegistryError::Unauthorized { host: self.host.clone(), repo, status: status.as_u16() });
        }
        if !status.is_success() {
            return Err(fail(format!("status {status}")));
        }
        let body = resp.bytes().await.map_err(|e| fail(e.without_url().to_string()))?;
        let reply: TokenReply = serde_json::from_slice(&body).map_err(|_| fail("the reply is not a token".into()))?;
        reply
            .token
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| fail("the reply has no token".into()))
    }
}

fn basic_header(user: &str, password: &str) -> HeaderValue {
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    sensitive(&format!("Basic {enc}"))
}

/// A header value marked sensitive, so no debug output of the request shows it.
fn sensitive(text: &str) -> HeaderValue {
    let mut v = HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}
