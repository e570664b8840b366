//! `WWW-Authenticate` challenges and token scopes (pure).

/// What a registry asked for in its 401 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String> },
}

/// Access to one repository, as a token scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Scope {
    pub(crate) repo: String,
    pub(crate) push: bool,
}

impl Scope {
    pub(crate) fn pull(repo: &str) -> Scope {
        Scope { repo: repo.to_string(), push: false }
    }

    pub(crate) fn push(repo: &str) -> Scope {
        Scope { repo: repo.to_string(), push: true }
    }

    /// `repository:<repo>:pull` or `repository:<repo>:pull,push`.
    pub(crate) fn to_param(&self) -> String {
        let actions = if self.push { "pull,push" } else { "pull" };
        format!("repository:{}:{actions}", self.repo)
    }
}

/// A cache key for a set of scopes.
pub(crate) fn scopes_key(scopes: &[Scope]) -> String {
    scopes.iter().map(Scope::to_param).collect::<Vec<_>>().join(" ")
}

/// Parse a `WWW-Authenticate` header value; `None` when it names no scheme we speak.
pub fn parse(header: &str) -> Option<Challenge> {
    let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(params);
    let get = |k: &str| params.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
    Some(Challenge::Bearer { realm: get("realm")?, service: get("service") })
}

/// `a="x", b=y, c="with, comma"` → pairs.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 1..];
        let (value, remainder) = if let Some(stripped) = after.strip_prefix('"') {
            match stripped.find('"') {
                Some(end) => (stripped[..end].to_string(), &stripped[end + 1..]),
                None => (stripped.to_string(), ""),
            }
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.push((key, value));
        rest = remainder.trim_start_matches([',', ' ']);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_bearer_challenge_with_quoted_values() {
        let c = parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into())
            })
        );
    }

    #[test]
    fn parses_basic_and_ignores_unknown_schemes() {
        assert_eq!(parse(r#"Basic realm="Registry Realm""#), Some(Challenge::Basic));
        assert_eq!(parse("Negotiate abc"), None);
        assert_eq!(parse("Bearer service=x"), None, "a bearer challenge needs a realm");
    }

    #[test]
    fn scopes_render_as_the_distribution_token_spec_says() {
        assert_eq!(Scope::pull("ocp/release").to_param(), "repository:ocp/release:pull");
        let key = scopes_key(&[Scope::push("a"), Scope::pull("b")]);
        assert_eq!(key, "repository:a:pull,push repository:b:pull");
    }
}
