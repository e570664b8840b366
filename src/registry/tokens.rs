//! Authorization for one registry host: the headers already earned, cached per set of token
//! scopes for as long as the token service said they last, and the bearer-token request
//! itself (the distribution token protocol: `GET realm?service=…&scope=…` with basic
//! credentials, or `POST` with an identity token as an OAuth2 refresh token).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::StatusCode;
use serde::Deserialize;

use super::auth::Credential;
use super::challenge::Scope;
use super::RegistryError;

/// How long a token lasts when the token service does not say (the token spec's default).
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

/// Cached `Authorization` headers by scope key ([`super::challenge::scopes_key`]).
#[derive(Default)]
pub(crate) struct TokenCache {
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    header: HeaderValue,
    /// When to stop sending it; `None` for basic credentials, which do not expire.
    stale_at: Option<Instant>,
}

impl TokenCache {
    /// The header for `key`, unless it is missing or about to expire.
    pub(crate) fn get(&self, key: &str) -> Option<HeaderValue> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get(key)?;
        if entry.stale_at.is_some_and(|at| Instant::now() >= at) {
            entries.remove(key);
            return None;
        }
        Some(entry.header.clone())
    }

    /// Remember `header` for `key`; a token earned at `earned` that lives `lifetime`.
    pub(crate) fn insert(&self, key: String, header: HeaderValue, lifetime: Option<(Instant, Duration)>) {
        let stale_at = lifetime.map(|(earned, life)| earned + usable_for(life));
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).insert(key, Entry { header, stale_at });
    }

    /// Forget the header for `key` (the registry refused it).
    pub(crate) fn remove(&self, key: &str) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// How long to use a token that lives `lifetime`: all but a tenth of it (at most 10 s), so a
/// request is not sent with a token that expires on its way.
pub(crate) fn usable_for(lifetime: Duration) -> Duration {
    lifetime - (lifetime / 10).min(Duration::from_secs(10))
}

/// A bearer token and how long the service said it lasts.
pub(crate) struct Token {
    pub(crate) value: String,
    pub(crate) lifetime: Duration,
}

#[derive(Deserialize)]
struct TokenReply {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// Where to ask for a token, for which registry.
pub(crate) struct Realm<'a> {
    pub(crate) host: &'a str,
    pub(crate) realm: &'a str,
    pub(crate) service: Option<&'a str>,
}

/// Ask the token service of `at` for a token granting `scopes` (all in one request, as a
/// cross-repository mount needs pull on the source and push on the target).
pub async fn fetch(
    http: &reqwest::Client,
    at: &Realm<'_>,
    scopes: &[Scope],
    cred: Option<&Credential>,
) -> Result<Token, RegistryError> {
    let fail = |reason: String| RegistryError::Token { host: at.host.to_string(), realm: at.realm.to_string(), reason };
    let mut query: Vec<(&str, String)> = scopes.iter().map(|s| ("scope", s.to_param())).collect();
    if let Some(s) = at.service {
        query.push(("service", s.to_string()));
    }
    let req = match cred {
        Some(Credential::IdentityToken(t)) => {
            query.push(("grant_type", "refresh_token".into()));
            query.push(("refresh_token", t.clone()));
            query.push(("client_id", "kubectl-release_mirror".into()));
            http.post(at.realm).form(&query)
        }
        Some(Credential::Basic { username, password }) => {
            http.get(at.realm).query(&query).header(AUTHORIZATION, basic_header(username, password))
        }
        None => http.get(at.realm).query(&query),
    };
    let resp = req.send().await.map_err(|e| fail(e.without_url().to_string()))?;
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        let repo = scopes.first().map_or_else(String::new, |s| s.repo.clone());
        return Err(RegistryError::Unauthorized { host: at.host.to_string(), repo, status: status.as_u16() });
    }
    if !status.is_success() {
        return Err(fail(format!("status {status}")));
    }
    let body = resp.bytes().await.map_err(|e| fail(e.without_url().to_string()))?;
    let reply: TokenReply = serde_json::from_slice(&body).map_err(|_| fail("the reply is not a token".into()))?;
    let lifetime = reply.expires_in.filter(|s| *s > 0).map_or(DEFAULT_LIFETIME, Duration::from_secs);
    let value = reply.token.or(reply.access_token).filter(|t| !t.is_empty());
    let value = value.ok_or_else(|| fail("the reply has no token".into()))?;
    Ok(Token { value, lifetime })
}

pub(crate) fn basic_header(user: &str, password: &str) -> HeaderValue {
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    sensitive(&format!("Basic {enc}"))
}

/// A header value marked sensitive, so no debug output of the request shows it.
pub(crate) fn sensitive(text: &str) -> HeaderValue {
    let mut v = HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_used_for_all_but_a_tenth_of_its_life() {
        assert_eq!(usable_for(Duration::from_secs(2)), Duration::from_millis(1800));
        assert_eq!(usable_for(Duration::from_secs(60)), Duration::from_secs(54));
        assert_eq!(usable_for(Duration::from_secs(300)), Duration::from_secs(290), "at most 10 s early");
    }

    #[test]
    fn a_stale_token_is_not_handed_out() {
        let cache = TokenCache::default();
        let h = HeaderValue::from_static("Bearer t");
        cache.insert("a".into(), h.clone(), None);
        cache.insert("b".into(), h.clone(), Some((Instant::now(), Duration::from_secs(60))));
        cache.insert("c".into(), h.clone(), Some((Instant::now() - Duration::from_secs(2), Duration::from_secs(2))));
        assert_eq!(cache.get("a"), Some(h.clone()), "basic credentials do not expire");
        assert_eq!(cache.get("b"), Some(h));
        assert_eq!(cache.get("c"), None, "expired");
        cache.remove("a");
        assert_eq!(cache.get("a"), None);
    }
}
