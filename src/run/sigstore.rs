//! The sigstore step, after the GPG check and before anything is copied: which images of
//! each release the nodes will ask a signature for (the release, each platform image of a
//! list, and every component in the scope of the payload's enforced ClusterImagePolicy),
//! each looked up at once, `limit` at a time (in the destination first: a rerun of a complete
//! mirror asks the source nothing), judged, and either mapped for a byte-for-byte copy beside
//! its image or reported missing. With `--sigstore=require` and an enforced policy, every
//! failure is gathered into one error (exit 3) before the copy.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use futures_util::{stream, StreamExt as _, TryStreamExt as _};

use super::sigstore_report::{Finding, Looked, SigstoreReport};
use super::{ReleaseRun, Run};
use crate::digest::Digest;
use crate::job::SigstoreMode;
use crate::mirror::{self, Mapping};
use crate::reference::ImageRef;
use crate::release::Release;
use crate::signature::sigstore::{self, ImagePolicy, PublicKey, Subject, Trust, Verdict};
use crate::store::{ImageStore as _, RawManifest};

/// One image whose signature is looked for.
#[derive(Debug, Clone)]
pub(super) struct Wanted {
    /// Index of its release in the run.
    pub(super) release: usize,
    /// Its component name; empty for the release image.
    pub(super) name: String,
    pub(super) digest: Digest,
    /// The reference the cluster asks for (its original repository, by digest).
    pub(super) logical: ImageRef,
    /// Where it is read from, and where it goes (repositories).
    pub(super) source: ImageRef,
    pub(super) destination: ImageRef,
    /// The nodes refuse the image without it (in an enforced scope, not a list).
    pub(super) required: bool,
}

/// What the step found.
#[derive(Default)]
pub(super) struct Found {
    /// The `.sig` images to copy beside their images.
    pub(super) mappings: Vec<Mapping>,
    /// Each release's part of the report (none with `--sigstore=skip`).
    pub(super) reports: Vec<SigstoreReport>,
    /// Manifests read from the source (components' to find their platform images, the
    /// `.sig` images'): the plan need not read them again.
    pub(super) read: Vec<RawManifest>,
}

/// The signatures of every release: what to copy, and what each release's report says.
/// Fails (exit 3) when a required signature is missing or rejected under `require`.
pub(super) async fn find(run: &Run<'_>, releases: &[ReleaseRun]) -> Result<Found> {
    let mode = run.job.sigstore.mode;
    if mode == SigstoreMode::Skip {
        return Ok(Found::default());
    }
    let own = own_keys(&run.job.sigstore.keys)?;
    let (mut wanted, mut read) = (Vec::new(), Vec::new());
    for (i, r) in releases.iter().enumerate() {
        wanted.extend(wanted_of(run, i, &r.release, &mut read).await?);
    }
    let limit = run.job.concurrency.metadata();
    let mut looked: Vec<Looked> = stream::iter(wanted)
        .map(|w| {
            let policy = policy_of(&releases[w.release].release);
            let own = &own;
            async move { look(run, w, policy, own).await }
        })
        .buffer_unordered(limit)
        .try_collect()
        .await?;
    read.extend(looked.iter_mut().filter_map(|l| l.manifest.take()));
    let (mappings, reports) = super::sigstore_report::conclude(run, releases, looked, mode)?;
    Ok(Found { mappings, reports, read })
}

/// `--sigstore-key` files, read once.
fn own_keys(paths: &[std::path::PathBuf]) -> Result<Vec<PublicKey>> {
    paths.iter().map(|p| PublicKey::from_file(p).map_err(|e| crate::exit::usage(e.to_string()))).collect()
}

/// The policy a release's signatures are judged by: the enforced one, else any it ships.
fn policy_of(release: &Release) -> Option<&ImagePolicy> {
    release.enforced_image_policy().or(release.image_policies.first())
}

/// The images of one release whose signatures the nodes may ask for; the component
/// manifests read to find them (many at once) are added to `read`.
async fn wanted_of(run: &Run<'_>, index: usize, release: &Release, read: &mut Vec<RawManifest>) -> Result<Vec<Wanted>> {
    let enforced = release.enforced_image_policy();
    let in_scope = |m: &Mapping| enforced.is_some_and(|p| p.scope_of(&m.origin).is_some());
    let mappings = mirror::mappings(release, &run.job.target);
    let mut unique: BTreeMap<&Digest, &Mapping> = BTreeMap::new();
    for m in mappings.iter().filter(|m| !m.is_release() && in_scope(m)) {
        unique.entry(&m.digest).or_insert(m);
    }
    let manifests: BTreeMap<Digest, (RawManifest, bool)> = stream::iter(unique.into_values())
        .map(|m| async move { manifest_of(run, m).await.map(|found| (m.digest.clone(), found)) })
        .buffer_unordered(run.job.concurrency.metadata())
        .try_collect()
        .await?;
    let mut out = Vec::new();
    for m in &mappings {
        let platforms = match (m.is_release(), manifests.get(&m.digest)) {
            (true, _) => mirror::platform_digests(&release.manifest),
            (false, Some((manifest, _))) => mirror::platform_digests(manifest),
            (false, None) => continue,
        };
        let required = in_scope(m);
        let wanted = |digest: &Digest, required: bool| Wanted {
            release: index,
            name: m.name.clone(),
            digest: digest.clone(),
            logical: m.origin.repo_only().with_digest(digest),
            source: m.source.repo_only(),
            destination: m.destination.repo_only(),
            required,
        };
        // A list's own signature is copied when it exists (as oc-mirror does); the nodes
        // check each platform image's.
        out.push(wanted(&m.digest, required && platforms.is_empty()));
        out.extend(platforms.iter().map(|d| wanted(d, required)));
    }
    // Only what the source gave: the plan reads what the destination has from there.
    read.extend(manifests.into_values().filter_map(|(manifest, from_source)| from_source.then_some(manifest)));
    Ok(out)
}

/// A component's manifest (a list names its platform images): from the destination when
/// it is there, else from the source (then `true`).
async fn manifest_of(run: &Run<'_>, m: &Mapping) -> Result<(RawManifest, bool)> {
    if !run.job.dry_run {
        let at = m.destination.with_digest(&m.digest);
        if let Ok(found) = run.dests.get(&at)?.get_manifest(&at.repository, m.digest.as_str()).await {
            return Ok((found, false));
        }
    }
    let store = run.sources.get(&m.source)?;
    let found = store
        .get_manifest(&m.source.repository, m.digest.as_str())
        .await
        .with_context(|| format!("failed to read {} to find its platform images", m.source.with_digest(&m.digest)))?;
    Ok((found, true))
}

/// Look for `w`'s signature: in the destination first (verified there, nothing to copy),
/// then in the source.
async fn look(run: &Run<'_>, w: Wanted, policy: Option<&ImagePolicy>, own: &[PublicKey]) -> Result<Looked> {
    let trust = trust_of(policy, own);
    if !run.job.dry_run {
        if let Some(Finding::Verified(sig)) = at_destination(run, &w, trust.as_ref()).await {
            return Ok(Looked { wanted: w, finding: Finding::Verified(sig), manifest: None });
        }
    }
    let store = run.sources.get(&w.source)?;
    let (repo, tag) = (&w.source.repository, sigstore::signature_tag(&w.digest));
    let context = || format!("failed to read the sigstore signature {}", w.source.with_tag(&tag));
    let Some(sig) = store.manifest_digest(repo, &tag).await.with_context(context)? else {
        return Ok(Looked { wanted: w, finding: Finding::Missing, manifest: None });
    };
    let trust = match trust {
        Ok(trust) => trust,
        Err(why) => {
            let finding = unverifiable(w.required, run.job.sigstore.mode, sig, &why);
            return Ok(Looked { wanted: w, finding, manifest: None });
        }
    };
    let manifest = store.get_manifest(repo, sig.as_str()).await.with_context(context)?;
    let subject = Subject { digest: &w.digest, logical: &w.logical };
    let finding = found(sigstore::judge(store.as_ref(), repo, &manifest, subject, trust).await?);
    // The plan need not read the `.sig` manifest from the source again.
    Ok(Looked { wanted: w, finding, manifest: Some(manifest) })
}

/// A signature found with nothing to check it against: under `require`, a required one is
/// refused (the nodes would check it, so must the mirror); otherwise it is copied as found.
fn unverifiable(required: bool, mode: SigstoreMode, sig: Digest, why: &str) -> Finding {
    if required && mode == SigstoreMode::Require {
        Finding::Rejected(why.to_string())
    } else {
        Finding::Unverified(sig, why.to_string())
    }
}

/// What `w`'s signature is checked against, or why it cannot be.
fn trust_of<'a>(policy: Option<&'a ImagePolicy>, own: &'a [PublicKey]) -> Result<Trust<'a>, String> {
    match policy {
        Some(policy) => policy.trust(own),
        None => Err("the payload ships no ClusterImagePolicy to check it against".to_string()),
    }
}

fn found(verdict: Verdict) -> Finding {
    match verdict {
        Verdict::Verified { signature, .. } => Finding::Verified(signature),
        Verdict::Missing => Finding::Missing,
        Verdict::Rejected { reasons, .. } => Finding::Rejected(reasons.join("; ")),
    }
}

/// The destination's copy of `w`'s signature, when it has one that verifies (any failure to
/// read it only means the source is asked).
async fn at_destination(run: &Run<'_>, w: &Wanted, trust: Result<&Trust<'_>, &String>) -> Option<Finding> {
    let trust = trust.ok()?;
    let store = run.dests.get(&w.destination).ok()?;
    let subject = Subject { digest: &w.digest, logical: &w.logical };
    let verdict = sigstore::check(store.as_ref(), &w.destination.repository, subject, *trust).await.ok()?;
    Some(found(verdict))
}

/// The mapping that copies `w`'s signature `sig` beside its image, under cosign's tag.
pub(super) fn mapping(w: &Wanted, sig: &Digest) -> Mapping {
    let tag = sigstore::signature_tag(&w.digest);
    Mapping {
        name: tag.clone(),
        origin: w.logical.repo_only().with_digest(sig),
        source: w.source.with_digest(sig),
        destination: w.destination.with_tag(&tag),
        digest: sig.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_required_signature_nothing_can_check_is_refused_under_require_and_copied_otherwise() {
        let sig = Digest::of(b"sig");
        let why = "its root of trust (Fulcio) cannot be checked offline";
        assert!(
            matches!(unverifiable(true, SigstoreMode::Require, sig.clone(), why), Finding::Rejected(w) if w == why)
        );
        assert!(matches!(unverifiable(true, SigstoreMode::Copy, sig.clone(), why), Finding::Unverified(..)));
        assert!(matches!(unverifiable(false, SigstoreMode::Require, sig, why), Finding::Unverified(..)));
    }
}
