//! The sigstore step, after the GPG check and before anything is copied: which images of
//! each release the nodes will ask a signature for (the release, each platform image of a
//! list, and every component in the scope of the payload's enforced ClusterImagePolicy),
//! each image's manifest read and its signatures looked up at once, `limit` images at a time
//! (in the destination first when it has the image: a rerun of a complete mirror asks the
//! source nothing, a fresh one asks the destination nothing), judged, and either mapped for a
//! byte-for-byte copy beside its image (its blobs kept in memory: the copy sends the bytes
//! judged) or reported missing. With `--sigstore=require` and an enforced policy, every
//! failure is gathered into one error (exit 3) before the copy.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, Result};
use futures_util::{stream, StreamExt as _, TryStreamExt as _};

use super::sigstore_report::{Finding, Looked, SigstoreReport};
use super::{ReleaseRun, Run};
use crate::digest::Digest;
use crate::job::SigstoreMode;
use crate::mirror::{self, Concurrency, Mapping};
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
    let kept = AtomicU64::new(0);
    let images = releases.iter().enumerate().flat_map(|(i, r)| images_of(run, i, &r.release));
    // Each image's manifest, then at once its signatures' lookups: no image waits for
    // every other image's manifest before its own lookups start.
    let done: Vec<(Vec<Looked>, Option<RawManifest>)> = stream::iter(images)
        .map(|image| look_image(run, image, &own, &kept))
        .buffer_unordered(run.job.concurrency.metadata())
        .try_collect()
        .await?;
    let (mut looked, mut read) = (Vec::new(), Vec::new());
    for (found, manifest) in done {
        looked.extend(found);
        read.extend(manifest);
    }
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

/// One image (by digest) of a release whose signatures the nodes may ask for, with the
/// mappings that copy it and whether each is in the enforced policy's scope.
struct Image<'r> {
    release_index: usize,
    release: &'r Release,
    mappings: Vec<(Mapping, bool)>,
}

/// The images of one release whose signatures are looked for: the release image, and each
/// component in the scope of the enforced policy.
fn images_of<'r>(run: &Run<'_>, index: usize, release: &'r Release) -> Vec<Image<'r>> {
    let enforced = release.enforced_image_policy();
    let in_scope = |m: &Mapping| enforced.is_some_and(|p| p.scope_of(&m.origin).is_some());
    let mut images: BTreeMap<(bool, Digest), Image<'r>> = BTreeMap::new();
    for m in mirror::mappings(release, &run.job.target) {
        let required = in_scope(&m);
        if !m.is_release() && !required {
            continue;
        }
        let image = images.entry((m.is_release(), m.digest.clone())).or_insert_with(|| Image {
            release_index: index,
            release,
            mappings: Vec::new(),
        });
        image.mappings.push((m, required));
    }
    images.into_values().collect()
}

/// Look for the signatures of `image` (and of each platform image of a list): a component's
/// manifest is read first, from the destination when it is there. Gives the lookups and the
/// manifest when the source gave it (the plan need not read it again). A component the
/// destination lacks has its own signature looked up while its manifest is read: the
/// lookup needs only its digest, and every image's own signature is looked up, a list's
/// too (so nothing is asked that would not be).
async fn look_image(
    run: &Run<'_>,
    image: Image<'_>,
    own: &[PublicKey],
    kept: &AtomicU64,
) -> Result<(Vec<Looked>, Option<RawManifest>)> {
    let Some((first, first_required)) = image.mappings.first() else { return Ok((Vec::new(), None)) };
    let policy = policy_of(image.release);
    let want = |m: &Mapping, digest: &Digest, required: bool| Wanted {
        release: image.release_index,
        name: m.name.clone(),
        digest: digest.clone(),
        logical: m.origin.repo_only().with_digest(digest),
        source: m.source.repo_only(),
        destination: m.destination.repo_only(),
        required,
    };
    let mut early = None;
    // The destination is asked for the signatures only of an image it has: a fresh mirror
    // then asks it nothing, a rerun reads them there and not from the source.
    let (platforms, at_destination, read) = if first.is_release() {
        (mirror::platform_digests(&image.release.manifest), true, None)
    } else if let Some(manifest) = manifest_at_destination(run, first).await? {
        (mirror::platform_digests(&manifest), true, None)
    } else if trust_of(policy, own).is_ok() {
        let reading = manifest_from_source(run, first);
        let looking = look(run, want(first, &first.digest, *first_required), policy, own, false, kept);
        let (manifest, looked) = both(run, reading, looking).await;
        let (manifest, mut looked) = (manifest?, looked?);
        let platforms = mirror::platform_digests(&manifest);
        // A list's own signature is not what the nodes check (see below).
        looked.wanted.required = *first_required && platforms.is_empty();
        early = Some(looked);
        (platforms, false, Some(manifest))
    } else {
        // Nothing to check against: whether it is required decides the finding, and that
        // needs the manifest first.
        let manifest = manifest_from_source(run, first).await?;
        (mirror::platform_digests(&manifest), false, Some(manifest))
    };
    let mut wanted = Vec::new();
    for (i, (m, required)) in image.mappings.iter().enumerate() {
        // A list's own signature is copied when it exists (as oc-mirror does); the nodes
        // check each platform image's.
        if i > 0 || early.is_none() {
            wanted.push(want(m, &m.digest, *required && platforms.is_empty()));
        }
        wanted.extend(platforms.iter().map(|d| want(m, d, *required)));
    }
    // One after the other: `limit` images at a time is `limit` requests at once, which
    // `--max-per-registry` bounds (a list's platform images add none).
    let mut looked: Vec<Looked> = early.into_iter().collect();
    for w in wanted {
        looked.push(look(run, w, policy, own, at_destination, kept).await?);
    }
    Ok((looked, read))
}

/// Both at once, unless `--max-per-registry` bounds the requests in flight.
async fn both<A, B>(run: &Run<'_>, a: impl Future<Output = A>, b: impl Future<Output = B>) -> (A, B) {
    match run.job.concurrency {
        Concurrency::Adaptive => futures_util::future::join(a, b).await,
        Concurrency::Fixed(_) => (a.await, b.await),
    }
}

/// The destination's copy of a component's manifest (none in a dry run, or when it cannot
/// be read).
async fn manifest_at_destination(run: &Run<'_>, m: &Mapping) -> Result<Option<RawManifest>> {
    if run.job.dry_run {
        return Ok(None);
    }
    let at = m.destination.with_digest(&m.digest);
    Ok(run.dests.get(&at)?.get_manifest(&at.repository, m.digest.as_str()).await.ok())
}

/// A component's manifest from the source (a list names its platform images).
async fn manifest_from_source(run: &Run<'_>, m: &Mapping) -> Result<RawManifest> {
    let store = run.sources.get(&m.source)?;
    store
        .get_manifest(&m.source.repository, m.digest.as_str())
        .await
        .with_context(|| format!("failed to read {} to find its platform images", m.source.with_digest(&m.digest)))
}

/// Look for `w`'s signature: in the destination first when `ask_destination` (verified
/// there, nothing to copy), then in the source. A signature that verifies there has its
/// blobs kept in memory (within [`KEEP_BYTES`] in all): the copy sends those very bytes.
async fn look(
    run: &Run<'_>,
    w: Wanted,
    policy: Option<&ImagePolicy>,
    own: &[PublicKey],
    ask_destination: bool,
    kept: &AtomicU64,
) -> Result<Looked> {
    let trust = trust_of(policy, own);
    if ask_destination && !run.job.dry_run {
        if let Some(Finding::Verified(sig)) = at_destination(run, &w, trust.as_ref()).await {
            return Ok(Looked { wanted: w, finding: Finding::Verified(sig), manifest: None });
        }
    }
    let store = run.sources.get(&w.source)?;
    let (repo, tag) = (&w.source.repository, sigstore::signature_tag(&w.digest));
    let context = || format!("failed to read the sigstore signature {}", w.source.with_tag(&tag));
    let Some(manifest) = sigstore::signature_manifest(store.as_ref(), repo, &tag).await.with_context(context)? else {
        return Ok(Looked { wanted: w, finding: Finding::Missing, manifest: None });
    };
    let trust = match trust {
        Ok(trust) => trust,
        Err(why) => {
            let finding = unverifiable(w.required, run.job.sigstore.mode, manifest.digest.clone(), &why);
            return Ok(Looked { wanted: w, finding, manifest: Some(manifest) });
        }
    };
    let subject = Subject { digest: &w.digest, logical: &w.logical };
    // Only what the verdict needs is read here, before any copy: the config goes with the
    // copy, beside the streamed blobs (`mirror::beside`).
    let judged = sigstore::judge(store.as_ref(), repo, &manifest, subject, trust).await?;
    if let Verdict::Verified { .. } = judged.verdict {
        keep(run, kept, judged.layers);
    }
    // The plan need not read the `.sig` manifest from the source again.
    Ok(Looked { wanted: w, finding: found(judged.verdict), manifest: Some(manifest) })
}

/// The most bytes of signature blobs kept in memory for the copy in one run (a real
/// signature image holds under a KiB; past this, the copy reads them again).
const KEEP_BYTES: u64 = 8 << 20;

/// Keep `blobs` for the copy, while the run's [`KEEP_BYTES`] allow.
fn keep(run: &Run<'_>, kept: &AtomicU64, blobs: Vec<(Digest, bytes::Bytes)>) {
    let size = blobs.iter().map(|(_, b)| b.len() as u64).fold(0, u64::saturating_add);
    if kept.fetch_add(size, Ordering::Relaxed).saturating_add(size) <= KEEP_BYTES {
        run.sources.remember(&blobs);
    }
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
