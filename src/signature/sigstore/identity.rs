//! `signedIdentity`: how the `docker-reference` a signature claims is matched against the
//! image's logical reference (the source pull spec the cluster asks for, even when the bytes
//! come from a mirror), exactly as containers/image's `policy_reference_match.go` does.

use crate::reference::{ImageRef, Location};

/// A policy's identity rule (default `MatchRepoDigestOrExact`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignedIdentity {
    /// Same repository for a digest reference; the same string for a tagged one; a
    /// signature naming a repository alone never matches.
    MatchRepoDigestOrExact,
    /// Same repository, whatever the tag.
    MatchRepository,
    /// The signature names this repository (fully expanded), whatever the image.
    ExactRepository(String),
    /// The image reference with `prefix` replaced by `signed_prefix`, then as
    /// `MatchRepoDigestOrExact`.
    RemapIdentity { prefix: String, signed_prefix: String },
}

impl std::fmt::Display for SignedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignedIdentity::MatchRepoDigestOrExact => f.write_str("matchRepoDigestOrExact"),
            SignedIdentity::MatchRepository => f.write_str("matchRepository"),
            SignedIdentity::ExactRepository(r) => write!(f, "exactRepository {r}"),
            SignedIdentity::RemapIdentity { prefix, signed_prefix } => {
                write!(f, "remapIdentity {prefix} → {signed_prefix}")
            }
        }
    }
}

impl SignedIdentity {
    /// Whether a signature claiming `signed` (its `docker-reference`) covers `intended`.
    pub(crate) fn matches(&self, intended: &ImageRef, signed: &str) -> bool {
        let Some(signed) = parse(signed) else { return false };
        if intended.location == Location::Disk {
            return false;
        }
        match self {
            SignedIdentity::MatchRepoDigestOrExact => repo_digest_or_exact(intended, &signed),
            SignedIdentity::MatchRepository => signed.name() == intended.name(),
            SignedIdentity::ExactRepository(repo) => signed.name() == *repo,
            SignedIdentity::RemapIdentity { prefix, signed_prefix } => {
                let text = intended.to_string();
                if !has_prefix(&text, prefix) {
                    return repo_digest_or_exact(intended, &signed);
                }
                match parse(&text.replacen(prefix.as_str(), signed_prefix, 1)) {
                    Some(remapped) => repo_digest_or_exact(&remapped, &signed),
                    None => false,
                }
            }
        }
    }
}

/// A registry reference, as `reference.ParseNormalizedNamed` takes it.
fn parse(text: &str) -> Option<ImageRef> {
    ImageRef::parse(text).ok().filter(|r| r.location != Location::Disk)
}

fn repo_digest_or_exact(intended: &ImageRef, signed: &ImageRef) -> bool {
    if signed.tag.is_none() && signed.digest.is_none() {
        return false;
    }
    match (&intended.tag, &intended.digest) {
        (Some(_), _) => signed.to_string() == intended.to_string(),
        (None, Some(_)) => signed.name() == intended.name(),
        (None, None) => false,
    }
}

/// containers/image's `refMatchesPrefix`: the prefix, then nothing or one of `/`, `:`, `@`.
fn has_prefix(reference: &str, prefix: &str) -> bool {
    match reference.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with(['/', ':', '@']),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:fbad931c725b2e5b937b295b58345334322bdabb0b67da1c800a53686d7397da";
    const RELEASE: &str = "quay.io/openshift-release-dev/ocp-release";

    fn image(text: &str) -> ImageRef {
        ImageRef::parse(text).unwrap()
    }

    #[test]
    fn repo_digest_or_exact_takes_any_tag_of_the_repository_for_a_digest_pull() {
        let by_digest = image(&format!("{RELEASE}@{D}"));
        let id = SignedIdentity::MatchRepoDigestOrExact;
        assert!(id.matches(&by_digest, &format!("{RELEASE}:4.21.0-x86_64")));
        assert!(id.matches(&by_digest, &format!("{RELEASE}@{D}")));
        assert!(!id.matches(&by_digest, "quay.io/openshift-release-dev/ocp-v4.0-art-dev:4.21.0-x86_64"));
    }

    #[test]
    fn repo_digest_or_exact_refuses_a_signature_naming_the_repository_alone() {
        let by_digest = image(&format!("{RELEASE}@{D}"));
        assert!(!SignedIdentity::MatchRepoDigestOrExact.matches(&by_digest, RELEASE));
        assert!(SignedIdentity::MatchRepository.matches(&by_digest, RELEASE));
    }

    #[test]
    fn repo_digest_or_exact_wants_the_same_tag_for_a_tagged_pull() {
        let tagged = image(&format!("{RELEASE}:4.21.0-x86_64"));
        let id = SignedIdentity::MatchRepoDigestOrExact;
        assert!(id.matches(&tagged, &format!("{RELEASE}:4.21.0-x86_64")));
        assert!(!id.matches(&tagged, &format!("{RELEASE}:4.21.1-x86_64")));
        assert!(!id.matches(&tagged, &format!("{RELEASE}@{D}")));
    }

    #[test]
    fn exact_repository_ignores_the_image() {
        let id = SignedIdentity::ExactRepository("quay.io/signed/here".into());
        assert!(id.matches(&image(&format!("mirror.example:5000/any/repo@{D}")), "quay.io/signed/here"));
        assert!(!id.matches(&image(&format!("mirror.example:5000/any/repo@{D}")), "quay.io/signed/elsewhere:1"));
    }

    #[test]
    fn remap_identity_rewrites_the_prefix_before_matching() {
        let id = SignedIdentity::RemapIdentity {
            prefix: "mirror.example.com/ocp/release".into(),
            signed_prefix: RELEASE.into(),
        };
        let pulled = image(&format!("mirror.example.com/ocp/release@{D}"));
        assert!(id.matches(&pulled, &format!("{RELEASE}:4.21.0-x86_64")));
        assert!(!id.matches(&pulled, "mirror.example.com/ocp/release:4.21.0-x86_64"));
        let other = image(&format!("mirror.example.com/ocp/release-other@{D}"));
        let remapped_other = format!("{RELEASE}-other:4.21.0-x86_64");
        assert!(!id.matches(&other, &remapped_other), "a prefix stops at a separator: no remapping");
    }

    #[test]
    fn a_signature_identity_that_is_not_a_reference_matches_nothing() {
        let pulled = image(&format!("{RELEASE}@{D}"));
        for bad in ["", "Quay.io/UPPER:1", "file://x/y:1", "quay.io/a b:1"] {
            assert!(!SignedIdentity::MatchRepository.matches(&pulled, bad), "{bad:?}");
        }
    }
}
