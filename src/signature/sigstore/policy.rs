//! The `openshift` ClusterImagePolicy a release payload ships: its scopes, its root of trust
//! (a PEM public key in `keyData`), its `signedIdentity`, and whether it applies by default
//! (a policy annotated `release.openshift.io/feature-set` applies only to those feature sets).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use super::identity::SignedIdentity;
use super::key::PublicKey;
use super::verify::Trust;
use crate::reference::{ImageRef, Location};

/// The policy's kind and the name of the one the release ships.
pub(crate) const KIND: &str = "ClusterImagePolicy";
pub(crate) const NAME: &str = "openshift";
/// The annotation that limits a manifest to some feature sets (comma-separated).
pub(crate) const FEATURE_SET: &str = "release.openshift.io/feature-set";

/// Why a policy manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not YAML (the parser's message).
    #[error("not valid YAML: {0}")]
    Yaml(String),
    /// A policy this tool cannot understand.
    #[error("ClusterImagePolicy {name}: {reason}")]
    Invalid {
        /// The policy's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// What a policy trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootOfTrust {
    /// `policyType: PublicKey` without a Rekor key: signatures of this key.
    PublicKey(PublicKey),
    /// Anything this tool cannot check offline (Fulcio, PKI, a Rekor key): its description.
    Unsupported(String),
}

/// One parsed ClusterImagePolicy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePolicy {
    pub(crate) name: String,
    /// The repositories, namespaces or hosts it covers.
    pub scopes: Vec<String>,
    pub(crate) root: RootOfTrust,
    pub(crate) identity: SignedIdentity,
    /// The feature sets it is limited to; empty: every cluster.
    pub feature_sets: Vec<String>,
}

impl ImagePolicy {
    /// Whether a cluster of the default feature set enforces it.
    pub(crate) fn enforced_by_default(&self) -> bool {
        self.feature_sets.is_empty() || self.feature_sets.iter().any(|s| s == "Default")
    }

    /// What its signatures are checked against: `own` keys when given (`--sigstore-key`),
    /// else the policy's key; an error saying why when the policy's root of trust cannot be
    /// checked offline and no key of one's own is given.
    pub fn trust<'a>(&'a self, own: &'a [PublicKey]) -> Result<Trust<'a>, String> {
        if !own.is_empty() {
            return Ok(Trust { keys: own, identity: &self.identity });
        }
        match &self.root {
            RootOfTrust::PublicKey(key) => Ok(Trust { keys: std::slice::from_ref(key), identity: &self.identity }),
            RootOfTrust::Unsupported(what) => Err(format!(
                "ClusterImagePolicy {}: its root of trust ({what}) cannot be checked offline; give a key with --sigstore-key",
                self.name
            )),
        }
    }

    /// The scope covering `image` (by its logical, source reference), if any.
    pub fn scope_of(&self, image: &ImageRef) -> Option<&str> {
        self.scopes.iter().map(String::as_str).find(|scope| scope_matches(scope, image))
    }
}

/// Whether a policy scope covers `image`: the whole reference, its repository, a namespace
/// or host above it, or a `*.domain` wildcard for the host (containers-policy.json(5)).
pub fn scope_matches(scope: &str, image: &ImageRef) -> bool {
    let Location::Registry(host) = &image.location else { return false };
    if let Some(domain) = scope.strip_prefix("*.") {
        let host = host.split(':').next().unwrap_or(host);
        return host.strip_suffix(domain).is_some_and(|sub| sub.ends_with('.') && sub.len() > 1);
    }
    let name = image.name();
    image.to_string() == scope || name == scope || name.strip_prefix(scope).is_some_and(|rest| rest.starts_with('/'))
}

/// Whether a payload file may hold a ClusterImagePolicy (a cheap text check: a top-level
/// `kind: ClusterImagePolicy` line; the CRD names the kind only indented).
pub fn mentions_policy(text: &[u8]) -> bool {
    text.split(|b| *b == b'\n').any(|line| line.trim_ascii_end() == b"kind: ClusterImagePolicy")
}

#[derive(Deserialize)]
struct Doc {
    kind: Option<String>,
    #[serde(default)]
    metadata: Meta,
    spec: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct Meta {
    name: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Spec {
    #[serde(default)]
    scopes: Vec<String>,
    policy: Policy,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Policy {
    root_of_trust: Root,
    signed_identity: Option<Identity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Root {
    policy_type: String,
    public_key: Option<KeyRoot>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyRoot {
    key_data: String,
    rekor_key_data: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    match_policy: String,
    exact_repository: Option<ExactRepository>,
    remap_identity: Option<Remap>,
}

#[derive(Deserialize)]
struct ExactRepository {
    repository: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Remap {
    prefix: String,
    signed_prefix: String,
}

/// Every ClusterImagePolicy named `openshift` among the documents of one YAML file.
pub fn parse_policies(yaml: &[u8]) -> Result<Vec<ImagePolicy>, PolicyError> {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    let docs: Vec<Doc> =
        serde_saphyr::from_slice_multiple_with_options(yaml, options).map_err(|e| PolicyError::Yaml(e.to_string()))?;
    docs.into_iter()
        .filter(|d| d.kind.as_deref() == Some(KIND) && d.metadata.name.as_deref() == Some(NAME))
        .map(policy_of)
        .collect()
}

fn policy_of(doc: Doc) -> Result<ImagePolicy, PolicyError> {
    let name = doc.metadata.name.clone().unwrap_or_default();
    let invalid = |reason: String| PolicyError::Invalid { name: name.clone(), reason };
    let spec = doc.spec.ok_or_else(|| invalid("it has no spec".into()))?;
    let spec: Spec = serde_json::from_value(spec).map_err(|e| invalid(format!("invalid spec: {e}")))?;
    if spec.scopes.is_empty() {
        return Err(invalid("it has no scopes".into()));
    }
    let identity = match &spec.policy.signed_identity {
        None => SignedIdentity::MatchRepoDigestOrExact,
        Some(i) => identity_of(i).map_err(invalid)?,
    };
    let feature_sets = match doc.metadata.annotations.get(FEATURE_SET) {
        None => Vec::new(),
        Some(v) => v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
    };
    Ok(ImagePolicy {
        root: root_of(&spec.policy.root_of_trust).map_err(invalid)?,
        name,
        scopes: spec.scopes,
        identity,
        feature_sets,
    })
}

fn root_of(root: &Root) -> Result<RootOfTrust, String> {
    let key = match (root.policy_type.as_str(), &root.public_key) {
        ("PublicKey", Some(key)) => key,
        ("PublicKey", None) => return Err("policyType PublicKey without publicKey".into()),
        (other, _) => return Ok(RootOfTrust::Unsupported(format!("policyType {other}"))),
    };
    if key.rekor_key_data.is_some() {
        return Ok(RootOfTrust::Unsupported("a public key with rekorKeyData".into()));
    }
    let pem = base64::engine::general_purpose::STANDARD
        .decode(key.key_data.split_whitespace().collect::<String>())
        .map_err(|_| "publicKey.keyData is not base64".to_string())?;
    PublicKey::from_pem(&pem).map(RootOfTrust::PublicKey).map_err(|e| format!("publicKey.keyData: {e}"))
}

fn identity_of(identity: &Identity) -> Result<SignedIdentity, String> {
    match identity.match_policy.as_str() {
        "MatchRepoDigestOrExact" => Ok(SignedIdentity::MatchRepoDigestOrExact),
        "MatchRepository" => Ok(SignedIdentity::MatchRepository),
        "ExactRepository" => {
            let repo = identity.exact_repository.as_ref().ok_or("ExactRepository without exactRepository")?;
            let text = &repo.repository;
            let why = |e: String| format!("signedIdentity exactRepository.repository {text:?}: {e}");
            let parsed = ImageRef::parse(text).map_err(|e| why(e.reason))?;
            if parsed.location == Location::Disk || parsed.tag.is_some() || parsed.digest.is_some() {
                return Err(why("it must be a repository without tag or digest".into()));
            }
            Ok(SignedIdentity::ExactRepository(parsed.name()))
        }
        "RemapIdentity" => {
            let remap = identity.remap_identity.as_ref().ok_or("RemapIdentity without remapIdentity")?;
            Ok(SignedIdentity::RemapIdentity {
                prefix: prefix("remapIdentity.prefix", &remap.prefix)?,
                signed_prefix: prefix("remapIdentity.signedPrefix", &remap.signed_prefix)?,
            })
        }
        other => Err(format!("unknown signedIdentity matchPolicy {other:?}")),
    }
}

/// A remapping prefix: a host[:port], a namespace or a repository, fully expanded.
fn prefix(what: &str, text: &str) -> Result<String, String> {
    let why = |e: &str| Err(format!("signedIdentity {what} {text:?}: {e}"));
    let Some((host, _)) = text.split_once('/') else {
        return match crate::reference::check_host(text) {
            Ok(()) => Ok(text.to_string()),
            Err(e) => why(&e),
        };
    };
    match ImageRef::parse(text) {
        Ok(r) if r.tag.is_none() && r.digest.is_none() && r.name() == text && r.registry() == Some(host) => {
            Ok(text.to_string())
        }
        Ok(_) => why("it must be a fully expanded host, namespace or repository, without tag or digest"),
        Err(e) => why(&e.reason),
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
