//! Image references: `registry[:port]/repo[:tag][@sha256:…]` and `file://repo[:tag]`.

#[cfg(test)]
mod proptests;

use std::fmt;

use crate::digest::Digest;

/// Where an image lives: a registry host, or the `--from-dir`/`--to-dir` tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// `host[:port]` as written (Docker Hub normalised to `docker.io`).
    Registry(String),
    /// A `file://` reference, resolved against a directory given elsewhere.
    Disk,
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// A registry host, or a disk tree (`file://`).
    pub location: Location,
    /// The repository path (`openshift-release-dev/ocp-release`).
    pub repository: String,
    /// The tag, when given.
    pub tag: Option<String>,
    /// The digest, when given.
    pub digest: Option<Digest>,
}

/// Why a reference was refused; the message carries the offending text.
#[derive(Debug, thiserror::Error)]
#[error("invalid image reference {text:?}: {reason}")]
pub struct ReferenceError {
    pub(crate) text: String,
    pub(crate) reason: String,
}

const DOCKER_HUB: &str = "docker.io";

impl ImageRef {
    /// Parse a reference as written on the command line.
    pub fn parse(text: &str) -> Result<ImageRef, ReferenceError> {
        let fail = |reason: &str| ReferenceError { text: text.to_string(), reason: reason.to_string() };
        if text.is_empty() {
            return Err(fail("it is empty"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail("it contains white space or control characters"));
        }
        let (location, rest) = match text.strip_prefix("file://") {
            Some(rest) => (Location::Disk, rest),
            None if text.contains("://") => return Err(fail("only file:// is accepted as a scheme")),
            None => split_registry(text).map_err(|r| fail(&r))?,
        };
        let (name, digest) = match rest.split_once('@') {
            Some((name, d)) => (name, Some(d.parse::<Digest>().map_err(|e| fail(&e.to_string()))?)),
            None => (rest, None),
        };
        let (repository, tag) = split_tag(name);
        if let Some(tag) = &tag {
            check_tag(tag).map_err(|r| fail(&r))?;
        }
        check_repository(&repository).map_err(|r| fail(&r))?;
        let repository = match &location {
            Location::Registry(host) if host == DOCKER_HUB && !repository.contains('/') => {
                format!("library/{repository}")
            }
            _ => repository,
        };
        Ok(ImageRef { location, repository, tag, digest })
    }

    /// Parse a destination repository: a reference with neither tag nor digest.
    pub fn parse_repository(text: &str) -> Result<ImageRef, ReferenceError> {
        let r = ImageRef::parse(text)?;
        if r.tag.is_some() || r.digest.is_some() {
            return Err(ReferenceError {
                text: text.to_string(),
                reason: "a destination repository takes no tag or digest".to_string(),
            });
        }
        Ok(r)
    }

    /// The registry host, or `None` for a `file://` reference.
    pub(crate) fn registry(&self) -> Option<&str> {
        match &self.location {
            Location::Registry(h) => Some(h),
            Location::Disk => None,
        }
    }

    /// `host/repo` (or `file://repo`) without tag or digest.
    pub(crate) fn name(&self) -> String {
        match &self.location {
            Location::Registry(h) => format!("{h}/{}", self.repository),
            Location::Disk => format!("file://{}", self.repository),
        }
    }

    /// The same repository with another tag and no digest.
    pub(crate) fn with_tag(&self, tag: &str) -> ImageRef {
        ImageRef { tag: Some(tag.to_string()), digest: None, ..self.clone() }
    }

    /// The same repository pinned to a digest (no tag).
    pub(crate) fn with_digest(&self, digest: &Digest) -> ImageRef {
        ImageRef { tag: None, digest: Some(digest.clone()), ..self.clone() }
    }

    /// The repository alone, without tag or digest.
    pub(crate) fn repo_only(&self) -> ImageRef {
        ImageRef { tag: None, digest: None, ..self.clone() }
    }

    /// The tag or digest to ask a store for: the digest wins, then the tag, then `latest`.
    pub(crate) fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Docker's rule: the first component is a registry when it has a `.` or `:` or is `localhost`.
fn split_registry(text: &str) -> Result<(Location, &str), String> {
    match text.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            check_host(first)?;
            let host = match first {
                "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
                h => h,
            };
            Ok((Location::Registry(host.to_string()), rest))
        }
        _ => Ok((Location::Registry(DOCKER_HUB.to_string()), text)),
    }
}

/// A registry host: a DNS name or IPv4 address, or a bracketed IPv6 address, with an
/// optional `:port`. Anything else (`user:pass@`, `#`, `?`, `\`, a second `:`) would send
/// requests elsewhere than the text seems to say.
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    let bad = |why: String| {
        Err(format!("registry host {host:?} {why}; expected a hostname or IP address with an optional :port"))
    };
    let outside = |c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if let Some(c) = host.chars().find(|c| outside(*c)) {
        return bad(format!("contains {c:?}"));
    }
    let (name, port) = match host.strip_prefix('[') {
        Some(v6) => {
            let Some((_, rest)) = v6.split_once(']').filter(|(a, _)| a.parse::<std::net::Ipv6Addr>().is_ok()) else {
                return bad("is not a valid bracketed IPv6 address".into());
            };
            match (rest, rest.strip_prefix(':')) {
                ("", _) => (None, None),
                (_, Some(port)) => (None, Some(port)),
                (other, None) => return bad(format!("has {other:?} after the address")),
            }
        }
        None => match host.rsplit_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        },
    };
    if let Some(name) = name {
        if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))) {
            return bad(format!("contains {c:?}"));
        }
        if name.is_empty()
            || name.split('.').any(|label| label.is_empty() || label.starts_with('-') || label.ends_with('-'))
        {
            return bad("has an empty or malformed name".into());
        }
    }
    if let Some(port) = port {
        if port.parse::<u16>().ok().filter(|p| *p > 0 && !port.starts_with('+')).is_none() {
            return bad(format!("has an invalid port {port:?}"));
        }
    }
    Ok(())
}

fn split_tag(name: &str) -> (String, Option<String>) {
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => (name[..last_slash + i].to_string(), Some(name[last_slash + i + 1..].to_string())),
        None => (name.to_string(), None),
    }
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (so never `..`, `/` or empty).
pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && tag.len() <= 128 {
        Ok(())
    } else {
        Err(format!("tag {tag:?} must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"))
    }
}

/// Repository path components: lowercase alphanumerics joined by `.`, `_`, `__` or dashes.
pub(crate) fn check_repository(repo: &str) -> Result<(), String> {
    if repo.is_empty() {
        return Err("the repository name is empty".to_string());
    }
    if repo.len() > 255 {
        return Err("the repository name is longer than 255 characters".to_string());
    }
    for part in repo.split('/') {
        if !component_ok(part) {
            return Err(format!(
                "repository component {part:?} must be lowercase letters and digits, \
                 separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

fn component_ok(part: &str) -> bool {
    let b = part.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(&b[0]) || !alnum(&b[b.len() - 1]) {
        return false;
    }
    // Separators: one '.', one or two '_', any number of '-'; never mixed or doubled dots.
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let sep = &part[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0da6316466d60a3a4535d5fed3589feb0391989982fba59d47d4c729912d6363";

    #[test]
    fn parses_registry_port_repo_and_tag() {
        let r = ImageRef::parse("registry.example:5000/ocp/release:4.15.0-x86_64").unwrap();
        assert_eq!(r.registry(), Some("registry.example:5000"));
        assert_eq!(r.repository, "ocp/release");
        assert_eq!(r.tag.as_deref(), Some("4.15.0-x86_64"));
        assert_eq!(r.digest, None);
        assert_eq!(r.to_string(), "registry.example:5000/ocp/release:4.15.0-x86_64");
    }

    #[test]
    fn parses_digest_references_with_and_without_tag() {
        let r = ImageRef::parse(&format!("quay.io/openshift-release-dev/ocp-release@{D}")).unwrap();
        assert_eq!(r.digest.as_ref().map(|d| d.as_str()), Some(D));
        assert_eq!(r.reference(), D);
        let r = ImageRef::parse(&format!("quay.io/a/b:v1@{D}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.reference(), D, "the digest wins over the tag");
    }

    #[test]
    fn applies_docker_hub_defaults() {
        let r = ImageRef::parse("busybox").unwrap();
        assert_eq!(r.registry(), Some("docker.io"));
        assert_eq!(r.repository, "library/busybox");
        assert_eq!(r.reference(), "latest");
        let r = ImageRef::parse("index.docker.io/someone/tool:1").unwrap();
        assert_eq!(r.to_string(), "docker.io/someone/tool:1");
        let r = ImageRef::parse("localhost/x:1").unwrap();
        assert_eq!(r.registry(), Some("localhost"));
    }

    #[test]
    fn parses_file_references() {
        let r = ImageRef::parse("file://openshift/release:4.15.0-x86_64").unwrap();
        assert_eq!(r.location, Location::Disk);
        assert_eq!(r.repository, "openshift/release");
        assert_eq!(r.to_string(), "file://openshift/release:4.15.0-x86_64");
    }

    #[test]
    fn rejects_malformed_references_naming_the_text() {
        for bad in [
            "",
            "quay.io/Upper/case",
            "quay.io/a//b",
            "quay.io/a/b:",
            "quay.io/a/b:..",
            "quay.io/a/b@sha256:123",
            "file://../etc:x",
            "file:///abs/path:x",
            "https://quay.io/a/b",
            "quay.io/a/b c",
            "quay.io/a/b:t/../x",
        ] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn destination_repositories_take_no_tag() {
        assert!(ImageRef::parse_repository("mirror:5000/ocp/release").is_ok());
        let err = ImageRef::parse_repository("mirror:5000/ocp/release:tag").unwrap_err();
        assert!(err.to_string().contains("takes no tag"));
    }

    #[test]
    fn accepts_separator_rules_of_the_distribution_spec() {
        for ok in ["a.b", "a_b", "a__b", "a---b", "ocp-v4.0-art-dev"] {
            assert!(check_repository(ok).is_ok(), "{ok}");
        }
        for bad in ["a..b", "a___b", "-a", "a-", ".a", "a._b"] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_registry_host_is_a_name_or_address_with_an_optional_port() {
        for ok in [
            "quay.io/a/b:1",
            "127.0.0.1:5000/a/b",
            "localhost/a",
            "[::1]:5000/a/b",
            "[fd00::1]/a",
            "my-reg.example.com:443/a",
        ] {
            assert!(ImageRef::parse(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("127.0.0.1:5399@127.0.0.1:5301/ocp/release:1", "contains '@'"),
            ("user:pass@quay.io/ocp/release:1", "contains '@'"),
            ("quay.io#frag/ocp/release:1", "contains '#'"),
            ("quay.io?q=1/ocp/release:1", "contains '?'"),
            ("quay.io\\evil/ocp/release:1", "contains '\\\\'"),
            ("quay.io:99999/a", "invalid port \"99999\""),
            ("quay.io:/a", "invalid port \"\""),
            ("a..b:5000/a", "malformed name"),
            ("[::1/a", "bracketed IPv6"),
            ("[::1]x/a", "after the address"),
        ] {
            let err = ImageRef::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(why) && err.contains("expected a hostname or IP address"), "{bad}: {err}");
        }
    }
}
