//! The proxy's authentication fronts: the fixed-token bearer front (`require_bearer`) and
//! the token service of the quirk tests (`require_tokens`), which issues a new token per
//! request, each living as long as its policy says (or until a chosen request revokes every
//! token issued so far) and granting only the repositories and actions it was asked for, as
//! Docker Hub, Quay and Harbor do. Both answer a token request only for the `service` their
//! challenge named.

use std::collections::HashMap;
use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::wire::Head;
use super::{answer, lock, Reader, Request, Shared};

/// The fixed-token front.
#[derive(Clone)]
pub struct Bearer {
    basic: String,
    token: String,
}

impl Bearer {
    pub fn new(user: &str, password: &str, token: &str) -> Bearer {
        Bearer { basic: basic(user, password), token: token.to_string() }
    }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// The `service` the fronts name in their challenges, and the only one they issue tokens for.
pub const SERVICE: &str = "proxy";

/// How the token service behaves. A token always grants only the scopes asked for: `pull` on
/// a repository for GET and HEAD, `push` for the rest, and `pull` on the source of a mount.
#[derive(Clone, Debug)]
pub struct TokenPolicy {
    pub user: String,
    pub password: String,
    /// The lifetime said in `expires_in` (`None`: 300 s).
    pub lifetime: Option<Duration>,
    /// Tokens stop working this long after they are issued (`None`: never by the clock;
    /// [`super::Proxy::revoke_tokens_at`] ends them at a chosen request instead).
    pub refused_after: Option<Duration>,
    /// Say the lifetime in `expires_in`; `false` says nothing, so a client assumes the
    /// token spec's 60 s and meets a 401 in the middle of its work.
    pub announce: bool,
    /// Answer `{"access_token": …}` only, without `token`, as Azure Container Registry does.
    pub access_token_only: bool,
    /// Anonymous requests other than `GET /v2/` are answered 404 with no challenge.
    pub challenge_only_at_v2: bool,
}

impl TokenPolicy {
    pub fn new(user: &str, password: &str) -> TokenPolicy {
        TokenPolicy {
            user: user.into(),
            password: password.into(),
            lifetime: None,
            refused_after: None,
            announce: true,
            access_token_only: false,
            challenge_only_at_v2: false,
        }
    }
}

/// The token service's state: its policy and every token it issued.
pub struct Tokens {
    policy: TokenPolicy,
    issued: HashMap<String, Issued>,
}

/// A token: when it was issued, what it grants, and whether it was revoked.
struct Issued {
    at: Instant,
    granted: Vec<String>,
    revoked: bool,
}

impl Tokens {
    pub fn new(policy: TokenPolicy) -> Tokens {
        Tokens { policy, issued: HashMap::new() }
    }

    /// Every token issued so far stops working (as if expired or revoked).
    pub fn revoke_all(&mut self) {
        self.issued.values_mut().for_each(|t| t.revoked = true);
    }
}

/// The request at which every token issued so far is revoked.
pub struct Revocation {
    method: String,
    path: String,
    /// Matching requests still to come before it (0: the next one).
    before: usize,
    done: bool,
}

impl Revocation {
    pub fn new(method: &str, path: &str, nth: usize) -> Revocation {
        Revocation { method: method.into(), path: path.into(), before: nth.saturating_sub(1), done: false }
    }
}

/// Revoke every token issued so far if this request is one a revocation waits for.
pub fn revoke_if_due(shared: &Shared, method: &str, path: &str) {
    let mut due = false;
    for r in lock(&shared.revocations).iter_mut().filter(|r| !r.done && r.method == method && path.contains(&r.path)) {
        if r.before == 0 {
            r.done = true;
            due = true;
        } else {
            r.before -= 1;
        }
    }
    if due {
        if let Some(tokens) = lock(&shared.tokens).as_mut() {
            tokens.revoke_all();
        }
    }
}

/// With a bearer front: serve the token realm, refuse requests without the token, and
/// strip it from those forwarded. `None` to go on with the request.
pub fn bearer_gate(
    shared: &Shared,
    entry: usize,
    method: &str,
    path: &str,
    head: &mut Head,
    reader: &mut Reader,
    writer: &mut TcpStream,
) -> io::Result<Option<bool>> {
    let Some(bearer) = lock(&shared.bearer).clone() else { return Ok(None) };
    if path.starts_with("/token") {
        let (status, body) = if let Some(refusal) = wrong_service(path) {
            refusal
        } else if head.get("authorization") == Some(bearer.basic.as_str()) {
            (200, format!(r#"{{"token":"{}","expires_in":300}}"#, bearer.token))
        } else {
            (401, r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#.to_string())
        };
        return answer(shared, entry, method, head, reader, writer, status, &[], body.as_bytes()).map(Some);
    }
    if head.get("authorization") == Some(format!("Bearer {}", bearer.token).as_str()) {
        head.remove("Authorization");
        return Ok(None);
    }
    let challenge = format!(r#"Bearer realm="http://{}/token",service="{SERVICE}""#, shared.host);
    let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
    answer(shared, entry, method, head, reader, writer, 401, &[("WWW-Authenticate", challenge)], body).map(Some)
}

/// With a token service: serve `GET /token`, and let through only requests whose token is
/// live and grants what they do (stripping it). `None` to go on with the request.
pub fn token_gate(
    shared: &Shared,
    req: &Request,
    head: &mut Head,
    reader: &mut Reader,
    writer: &mut TcpStream,
) -> io::Result<Option<bool>> {
    let mut guard = lock(&shared.tokens);
    let Some(tokens) = guard.as_mut() else { return Ok(None) };
    let (entry, method, path) = (req.entry, req.method.as_str(), req.path.as_str());
    if path.starts_with("/token") {
        let (status, body) = issue(tokens, head, path);
        drop(guard);
        return answer(shared, entry, method, head, reader, writer, status, &[], body.as_bytes()).map(Some);
    }
    let presented = head.get("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(str::to_string);
    let needed = needed_scopes(method, path);
    let verdict = match presented.as_deref().and_then(|t| tokens.issued.get(t)) {
        None if presented.is_none() && tokens.policy.challenge_only_at_v2 && path != "/v2/" => Verdict::Hidden,
        None => Verdict::Challenge("invalid_token"),
        Some(t) if t.revoked || tokens.policy.refused_after.is_some_and(|life| t.at.elapsed() >= life) => {
            Verdict::Challenge("invalid_token")
        }
        Some(t) if !needed.iter().all(|n| grants(&t.granted, n)) => Verdict::Challenge("insufficient_scope"),
        Some(_) => Verdict::Pass,
    };
    drop(guard);
    match verdict {
        Verdict::Pass => {
            head.remove("Authorization");
            Ok(None)
        }
        Verdict::Hidden => {
            let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#;
            answer(shared, entry, method, head, reader, writer, 404, &[], body).map(Some)
        }
        Verdict::Challenge(error) => {
            let mut challenge =
                format!(r#"Bearer realm="http://{}/token",service="{SERVICE}",error="{error}""#, shared.host);
            if let Some(scope) = needed.first() {
                challenge.push_str(&format!(r#",scope="{scope}""#));
            }
            let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
            answer(shared, entry, method, head, reader, writer, 401, &[("WWW-Authenticate", challenge)], body).map(Some)
        }
    }
}

enum Verdict {
    Pass,
    Hidden,
    Challenge(&'static str),
}

/// Answer a token request: a fresh token for the scopes asked, to the right credentials.
fn issue(tokens: &mut Tokens, head: &Head, path: &str) -> (u16, String) {
    let policy = &tokens.policy;
    if let Some(refusal) = wrong_service(path) {
        return refusal;
    }
    if head.get("authorization") != Some(basic(&policy.user, &policy.password).as_str()) {
        return (401, r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#.to_string());
    }
    let token = format!("tok-{:04}-{:08x}", tokens.issued.len() + 1, rand_ish(tokens.issued.len()));
    let expires = match (policy.announce, policy.lifetime) {
        (true, Some(life)) => format!(r#","expires_in":{}"#, life.as_secs().max(1)),
        (true, None) => r#","expires_in":300"#.to_string(),
        (false, _) => String::new(),
    };
    let issued = Issued { at: Instant::now(), granted: scopes_of(path), revoked: false };
    tokens.issued.insert(token.clone(), issued);
    let field = if policy.access_token_only { "access_token" } else { "token" };
    (200, format!(r#"{{"{field}":"{token}"{expires}}}"#))
}

/// A token request for another service than the challenge named (or none) is refused, as
/// Docker's and Harbor's token services refuse it.
fn wrong_service(path: &str) -> Option<(u16, String)> {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let service = query.split('&').find_map(|kv| kv.strip_prefix("service=")).map(crate::support::form_decode);
    (service.as_deref() != Some(SERVICE)).then(|| {
        let named = service.unwrap_or_else(|| "none".into());
        let message = format!("the token request names service {named}, not {SERVICE}");
        (400, format!(r#"{{"errors":[{{"code":"DENIED","message":"{message}"}}]}}"#))
    })
}

fn rand_ish(n: usize) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    (u64::from(nanos) ^ (n as u64).wrapping_mul(0x9E37_79B9)) & 0xffff_ffff
}

/// Whether granted scopes (`repository:<repo>:<actions>`) cover `needed`.
fn grants(granted: &[String], needed: &str) -> bool {
    let Some((repo, action)) = needed.strip_prefix("repository:").and_then(|r| r.rsplit_once(':')) else {
        return false;
    };
    granted.iter().any(|g| {
        g.strip_prefix("repository:")
            .and_then(|r| r.rsplit_once(':'))
            .is_some_and(|(r, actions)| r == repo && actions.split(',').any(|a| a == action || a == "*"))
    })
}

/// The scopes a request needs: `pull` (GET, HEAD) or `push` on its repository, and `pull` on
/// a mount's source. None for `/v2/` itself.
fn needed_scopes(method: &str, path: &str) -> Vec<String> {
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let Some(rest) = route.strip_prefix("/v2/") else { return Vec::new() };
    let cut = ["/manifests/", "/blobs/", "/tags/"].iter().filter_map(|m| rest.find(m)).min();
    let Some(cut) = cut else { return Vec::new() };
    let action = if matches!(method, "GET" | "HEAD") { "pull" } else { "push" };
    let mut scopes = vec![format!("repository:{}:{action}", &rest[..cut])];
    let from = query.split('&').find_map(|kv| kv.strip_prefix("from="));
    if let Some(from) = from {
        scopes.push(format!("repository:{}:pull", crate::support::form_decode(from)));
    }
    scopes
}

/// The `scope` parameters of a token request, decoded.
pub fn scopes_of(path: &str) -> Vec<String> {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    query.split('&').filter_map(|kv| kv.strip_prefix("scope=")).map(crate::support::form_decode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_needs_push_on_the_target_and_pull_on_the_source() {
        let path = "/v2/mirror/ocp/release/blobs/uploads/?mount=sha256%3Aab&from=ocp%2Focp-v4.0-art-dev";
        assert_eq!(
            needed_scopes("POST", path),
            ["repository:mirror/ocp/release:push", "repository:ocp/ocp-v4.0-art-dev:pull"]
        );
        assert_eq!(needed_scopes("HEAD", "/v2/a/b/manifests/x"), ["repository:a/b:pull"]);
        assert!(needed_scopes("GET", "/v2/").is_empty());
    }

    #[test]
    fn granted_scopes_cover_their_repository_and_actions_only() {
        let granted = vec!["repository:a/b:pull,push".to_string(), "repository:c:pull".to_string()];
        assert!(grants(&granted, "repository:a/b:push"));
        assert!(grants(&granted, "repository:c:pull"));
        assert!(!grants(&granted, "repository:c:push"));
        assert!(!grants(&granted, "repository:a:pull"));
        assert_eq!(
            scopes_of("/token?scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=repository:c:pull&service=proxy"),
            ["repository:a/b:pull,push", "repository:c:pull"]
        );
    }
}
