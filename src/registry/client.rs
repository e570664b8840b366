//! One registry host: base URL discovery, authentication (basic and the bearer-token flow)
//! and sending requests with the right credentials for each repository.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};
use tokio::sync::OnceCell;

use super::auth::Credential;
use super::challenge::{self, Challenge, Scope};
use super::retry;
use super::tokens::{self, Realm, TokenCache};
use super::transport::Transport;
use super::RegistryError;

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
    tokens: Arc<TokenCache>,
    learned: Arc<Learned>,
}

/// What a run found out about one registry, so it is asked the way it answers.
#[derive(Default)]
pub(super) struct Learned {
    /// It refused a monolithic upload: upload in chunks from now on.
    pub(crate) chunked: AtomicBool,
    /// The largest chunk it took after refusing a larger one as too large (0: none refused).
    pub(crate) chunk_limit: AtomicU64,
    /// It refused `HEAD` on manifests: ask with `GET`.
    pub(crate) no_manifest_head: AtomicBool,
}

impl RegistryClient {
    pub(super) fn new(transport: Transport, host: &str) -> RegistryClient {
        RegistryClient {
            transport,
            host: host.to_string(),
            api_host: api_host(host).to_string(),
            base: Arc::new(OnceCell::new()),
            challenge: Arc::new(Mutex::new(None)),
            tokens: Arc::default(),
            learned: Arc::default(),
        }
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.transport.http
    }

    /// The client for a request whose body streams from a source: no answer timeout (the
    /// caller times the answer from the body's last byte).
    pub(crate) fn streaming_http(&self) -> &reqwest::Client {
        &self.transport.streaming
    }

    /// What the run learned about this registry so far.
    pub(super) fn learned(&self) -> &Learned {
        &self.learned
    }

    /// `https://host` (or `http://host` when `--insecure` and the registry speaks no TLS),
    /// found by pinging `GET /v2/` once, as docker and podman do before anything else: a 401
    /// there tells how to authenticate, for registries that challenge only there. Any other
    /// answer, a 404 from a registry behind a path prefix included, is fine; the ping never
    /// fails a run (the requests that follow report an unreachable registry, with retries).
    pub(crate) async fn base(&self) -> Result<&str, RegistryError> {
        let base = self
            .base
            .get_or_try_init(|| async {
                let https = format!("https://{}", self.api_host);
                match self.ping(&https).await {
                    Ok(()) => Ok(https),
                    Err(_) if !self.transport.insecure => Ok(https),
                    Err(e) if e.is_connect() || e.is_request() => {
                        let http = format!("http://{}", self.api_host);
                        let _ = self.ping(&http).await;
                        Ok(http)
                    }
                    Err(source) => Err(RegistryError::Connect { host: self.host.clone(), source }),
                }
            })
            .await?;
        Ok(base.as_str())
    }

    /// `GET <base>/v2/`, remembering the challenge of a 401.
    async fn ping(&self, base: &str) -> Result<(), reqwest::Error> {
        let resp = self.transport.http.get(format!("{base}/v2/")).send().await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            self.learn_challenge(&resp);
        }
        Ok(())
    }

    /// Keep the challenge of a 401 answer; `None` when it names no scheme we speak.
    fn learn_challenge(&self, resp: &Response) -> Option<Challenge> {
        let found = resp.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).and_then(challenge::parse)?;
        *self.challenge.lock().unwrap_or_else(|p| p.into_inner()) = Some(found.clone());
        Some(found)
    }

    /// `<base>/v2/<path>`.
    pub(crate) async fn url(&self, path: &str) -> Result<String, RegistryError> {
        Ok(format!("{}/v2/{path}", self.base().await?))
    }

    /// Send a request built by `make`, authenticating for `scopes`: on a 401 (a first
    /// challenge, or a token that expired or was revoked meanwhile) the challenge is
    /// answered once more and the request sent again. Connection errors, 408, 429 and 5xx
    /// are retried with backoff (`--retries`), waiting out a `Retry-After`.
    pub(crate) async fn send<F>(&self, scopes: &[Scope], make: F) -> Result<Response, RegistryError>
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
                // A refused redirect (https to http, too many) is the same on every try.
                Err(source) if attempt < self.transport.retries.policy().tries && !source.is_redirect() => {
                    self.pause(attempt, None, &crate::exit::one_line(&source.without_url())).await;
                    continue;
                }
                Err(source) => return Err(RegistryError::Connect { host: self.host.clone(), source }),
            };
            let status = resp.status();
            if retry::retryable_status(status) && attempt < self.transport.retries.policy().tries {
                self.pause(attempt, retry::retry_after(resp.headers()), status.as_str()).await;
                continue;
            }
            if answered && status == StatusCode::UNAUTHORIZED {
                let denied = self.check_denied(resp, scopes);
                return denied.map_err(|e| self.rejected(e, scopes));
            }
            if status != StatusCode::UNAUTHORIZED || answered {
                return self.check_denied(resp, scopes);
            }
            let Some(found) = self.learn_challenge(&resp) else { return self.check_denied(resp, scopes) };
            self.tokens.remove(&challenge::scopes_key(scopes));
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

    /// Count a retry, say why (a retry event), and wait the backoff for `attempt` (or the
    /// server's `Retry-After`).
    pub(super) async fn wait_before_retry(&self, attempt: u32, retry_after: Option<Duration>, why: &str) {
        self.transport.retries.count();
        let wait = self.transport.retries.policy().delay(attempt, retry_after, crate::store::jitter());
        self.transport.progress.retry(&self.host, why, wait);
        tokio::time::sleep(wait).await;
    }

    /// The run's transport (budgets, stall timeout).
    pub(super) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Send a request whose body can only be sent once (a streamed blob) with the
    /// authorization cached for `scopes`. A 401 here means the token expired or was revoked
    /// since it was earned: it is forgotten and the failure is transient, so the copy is
    /// made again with a fresh one.
    pub(crate) async fn send_once(&self, scopes: &[Scope], req: RequestBuilder) -> Result<Response, RegistryError> {
        let req = match self.cached_auth(scopes).await? {
            Some(h) => req.header(AUTHORIZATION, h),
            None => req,
        };
        let resp = req.send().await.map_err(|source| RegistryError::Connect { host: self.host.clone(), source })?;
        if resp.status() == StatusCode::UNAUTHORIZED && self.learn_challenge(&resp).is_some() {
            self.tokens.remove(&challenge::scopes_key(scopes));
            let repo = scopes.first().map_or_else(String::new, |s| s.repo.clone());
            return Err(RegistryError::TokenRefused { host: self.host.clone(), repo });
        }
        self.check_denied(resp, scopes)
    }

    /// A 401 after credentials were sent: they were rejected, and the message says whose
    /// they were (a helper's password is not "no credentials").
    fn rejected(&self, err: RegistryError, scopes: &[Scope]) -> RegistryError {
        let RegistryError::Unauthorized { host, repo, status: 401 } = err else { return err };
        let scope_repo = scopes.first().map_or("", |s| s.repo.as_str());
        match self.transport.credentials.origin(&host, scope_repo) {
            Some(origin) => RegistryError::Rejected { host, repo, status: 401, origin },
            None => RegistryError::Unauthorized { host, repo, status: 401 },
        }
    }

    fn check_denied(&self, resp: Response, scopes: &[Scope]) -> Result<Response, RegistryError> {
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let repo = scopes.first().map_or_else(String::new, |s| s.repo.clone());
            return Err(RegistryError::Unauthorized { host: self.host.clone(), repo, status: status.as_u16() });
        }
        Ok(resp)
    }

    /// The header for `scopes` if one is cached and fresh, or can be made without a round
    /// trip to the registry because its challenge is already known. A basic challenge with
    /// no credential for it sends the request anonymously (the registry may allow it).
    async fn cached_auth(&self, scopes: &[Scope]) -> Result<Option<HeaderValue>, RegistryError> {
        let key = challenge::scopes_key(scopes);
        if let Some(h) = self.tokens.get(&key) {
            return Ok(Some(h));
        }
        let known = self.challenge.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match known {
            Some(Challenge::Basic) if self.credential(scopes).await?.is_none() => Ok(None),
            Some(c) => Ok(Some(self.authorize(&c, scopes).await?)),
            None => Ok(None),
        }
    }

    async fn credential(&self, scopes: &[Scope]) -> Result<Option<Credential>, RegistryError> {
        let repo = scopes.first().map_or("", |s| s.repo.as_str());
        self.transport.credentials.lookup(&self.host, repo).await
    }

    /// Answer a challenge for `scopes` and cache the resulting header (a token for as long
    /// as the token service said it lasts).
    async fn authorize(&self, found: &Challenge, scopes: &[Scope]) -> Result<HeaderValue, RegistryError> {
        let cred = self.credential(scopes).await?;
        let (header, lifetime) = match found {
            Challenge::Basic => match &cred {
                Some(Credential::Basic { username, password }) => (tokens::basic_header(username, password), None),
                _ => {
                    let repo = scopes.first().map_or_else(String::new, |s| s.repo.clone());
                    return Err(RegistryError::Unauthorized { host: self.host.clone(), repo, status: 401 });
                }
            },
            Challenge::Bearer { realm, service } => {
                let earned = Instant::now();
                let at = Realm { host: &self.host, realm, service: service.as_deref() };
                let token = tokens::fetch(&self.transport.http, &at, scopes, cred.as_ref())
                    .await
                    .map_err(|e| self.rejected(e, scopes))?;
                (tokens::sensitive(&format!("Bearer {}", token.value)), Some((earned, token.lifetime)))
            }
        };
        self.tokens.insert(challenge::scopes_key(scopes), header.clone(), lifetime);
        Ok(header)
    }
}
