//! `verify-signature --sigstore IMAGE`: the cosign signature of one image, in a registry or
//! an oc tree, checked with the same rules as the mirror run: for a manifest list, each
//! platform image's (the ones the nodes check). No payload and no run: the key is given.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::events::EventSink;
use crate::mirror::Stores;
use crate::progress::Progress;
use crate::reference::ImageRef;
use crate::registry::Transport;
use crate::signature::sigstore::{self, PublicKey, SignedIdentity, Subject, Trust, Verdict};
use crate::store::{BlobCheck, ImageStore as _};

/// What to check.
#[derive(Debug, Clone)]
pub struct SigstoreCheck {
    /// The image, by digest: `host/repo@sha256:…`, or `file://repo@sha256:…` with `from_dir`.
    pub image: ImageRef,
    /// The tree `file://` references are read from.
    pub from_dir: Option<PathBuf>,
    /// PEM public keys (any one may sign).
    pub keys: Vec<PathBuf>,
    /// The reference the signature must name (its repository, under `matchRepoDigestOrExact`);
    /// the image itself when it is in a registry.
    pub identity: Option<ImageRef>,
    /// HTTP settings (`--insecure`, `--certificate-authority`).
    pub http: crate::http::Settings,
}

/// One image's verdict (`-o json`: a list of these).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SigstoreResult {
    /// The (platform) image digest.
    pub digest: String,
    /// `verified`, `missing` or `rejected`.
    pub verdict: &'static str,
    /// The `.sig` manifest's digest, when there is one.
    pub signature: Option<String>,
    /// Why it was rejected (each signature's reason); the identity it claims when verified.
    pub details: Vec<String>,
}

impl SigstoreResult {
    /// Whether the signature verified.
    pub fn verified(&self) -> bool {
        self.verdict == "verified"
    }
}

/// Check `check.image`'s signature (each platform image's, for a list).
pub async fn verify_sigstore(check: &SigstoreCheck, events: Arc<dyn EventSink>) -> Result<Vec<SigstoreResult>> {
    let digest =
        check.image.digest.clone().context("verify-signature --sigstore needs an image by digest (@sha256:…)")?;
    let keys: Vec<PublicKey> = check
        .keys
        .iter()
        .map(|p| PublicKey::from_file(p).map_err(|e| crate::exit::usage(e.to_string())))
        .collect::<Result<_>>()?;
    let logical = match (&check.identity, check.image.registry()) {
        (Some(identity), _) => identity.repo_only().with_digest(&digest),
        (None, Some(_)) => check.image.clone(),
        (None, None) => return Err(crate::exit::usage("a file:// image needs --identity, its original reference")),
    };
    let transport = Transport::new(&check.http, &Default::default(), Progress::new(events))?;
    let stores = Stores::new(transport, check.from_dir.clone(), BlobCheck::Digest);
    let store = stores.get(&check.image)?;
    let repo = &check.image.repository;
    let top =
        store.get_manifest(repo, digest.as_str()).await.with_context(|| format!("failed to read {}", check.image))?;
    let mut digests = crate::mirror::platform_digests(&top);
    if digests.is_empty() {
        digests.push(digest);
    }
    let identity = SignedIdentity::MatchRepoDigestOrExact;
    let trust = Trust { keys: &keys, identity: &identity };
    let mut out = Vec::new();
    for d in &digests {
        let logical = logical.repo_only().with_digest(d);
        let verdict = sigstore::check(store.as_ref(), repo, Subject { digest: d, logical: &logical }, trust).await?;
        out.push(result(d, verdict));
    }
    Ok(out)
}

fn result(digest: &crate::digest::Digest, verdict: Verdict) -> SigstoreResult {
    let digest = digest.to_string();
    match verdict {
        Verdict::Verified { signature, accepted } => SigstoreResult {
            digest,
            verdict: "verified",
            signature: Some(signature.to_string()),
            details: vec![format!("signed by {} as {}", accepted.key, accepted.identity)],
        },
        Verdict::Missing => SigstoreResult { digest, verdict: "missing", signature: None, details: Vec::new() },
        Verdict::Rejected { signature, reasons } => {
            SigstoreResult { digest, verdict: "rejected", signature: Some(signature.to_string()), details: reasons }
        }
    }
}
