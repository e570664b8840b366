//! What the plan needs to know, and the plan: first what the destination has (tags and
//! manifests), then the manifests of the images it lacks (a rerun of a complete mirror reads
//! none from the source), then which of their blobs it has. A dry run needs no destination.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;

use super::{ReleaseRun, Run};
use crate::digest::Digest;
use crate::mirror::{self, Mapping, Plan};
use crate::reference::ImageRef;
use crate::store::ImageStore as _;

/// How long a dry run waits for the destination to say what it has.
const DRY_RUN_PROBE: std::time::Duration = std::time::Duration::from_secs(5);

/// The plan for `mappings`: temp files a killed run left are swept first (not in a dry run,
/// which writes nothing), then both sides are inspected.
/// `read` are manifests read already (the sigstore step's lists): not asked for again.
pub(super) async fn plan(
    run: &Run<'_>,
    mappings: Vec<Mapping>,
    releases: &[ReleaseRun],
    read: Vec<crate::store::RawManifest>,
) -> Result<Plan> {
    if !run.job.dry_run {
        let mut removed = 0;
        let mut seen = BTreeSet::new();
        for dest in mappings.iter().map(|m| &m.destination).filter(|d| seen.insert(d.repo_only().to_string())) {
            removed += run.dests.get(dest)?.sweep(&dest.repository);
        }
        if removed > 0 {
            run.progress.info(&format!("removed {removed} temporary files left by an interrupted run"));
        }
    }
    let mut known: Vec<_> = releases.iter().map(|r| r.release.manifest.clone()).collect();
    known.extend(read);
    let (images, mut state) = inspect(run, &mappings, &known).await?;
    let relied_on = super::since::assume_carried(run, &mappings, &images, &mut state)?;
    Ok(mirror::Plan { relied_on, ..mirror::plan(mappings, &images, &state, super::steps::same_registry) })
}

async fn inspect(
    run: &Run<'_>,
    mappings: &[Mapping],
    known: &[crate::store::RawManifest],
) -> Result<(BTreeMap<Digest, mirror::SourceImage>, mirror::DestState)> {
    let limit = run.job.concurrency.metadata();
    let state = probe(run, mirror::read_destination(&run.dests, mappings, limit)).await?;
    let empty = mirror::DestState::default();
    let seen = state.as_ref().unwrap_or(&empty);
    let wanted = mirror::images_to_read(mappings, seen, |dest| run.dests.manifest_implies_blobs(dest));
    let images = mirror::read_images(&run.sources, &run.dests, &wanted, seen, known, limit).await?;
    let Some(state) = state else { return Ok((images, empty)) };
    let blobs = mirror::read_destination_blobs(&run.dests, mappings, &images, state, limit, run.job.tree_check);
    let state = probe(run, blobs).await?.unwrap_or_default();
    Ok((images, state))
}

/// Ask the destination. A dry run needs no destination (Red Hat's documented step runs it on
/// a connected host that cannot reach the mirror): when it does not answer within a few
/// seconds, one warning, and `None`: the plan treats it as empty.
async fn probe<T>(run: &Run<'_>, read: impl std::future::Future<Output = Result<T>>) -> Result<Option<T>> {
    if !run.job.dry_run {
        return read.await.map(Some);
    }
    let why = match tokio::time::timeout(DRY_RUN_PROBE, read).await {
        Ok(Ok(state)) => return Ok(Some(state)),
        Ok(Err(err)) => crate::exit::one_line(err.as_ref()),
        Err(_) => format!("the destination did not answer within {} s", DRY_RUN_PROBE.as_secs()),
    };
    run.progress.warn(&format!("{why}; planning as if the destination were empty"));
    Ok(None)
}

/// A release read from a tree came from somewhere: the tree's record says where, so the
/// mirror configuration names the release's original repository. A tree without a record
/// (written by oc) cannot say: that is warned about, with what to add by hand.
pub(super) fn recorded_origins(run: &Run<'_>, dir: &Path, releases: &mut [ReleaseRun]) -> Result<()> {
    let record = crate::select::read_record(dir)?;
    let job = run.job;
    for release in releases.iter_mut().map(|r| &mut r.release).filter(|r| r.source.registry().is_none()) {
        let digest = release.digest.to_string();
        let found = record.as_ref().and_then(|rec| rec.releases.iter().find(|r| r.digest == digest));
        match found.map(|r| ImageRef::parse(&r.source)) {
            Some(Ok(origin)) if origin.registry().is_some() => release.origin = Some(origin),
            _ if job.target.to.registry().is_some() && !job.target.skip_release_image => run.progress.warn(&format!(
                "{} does not record where release {} came from ({}): the mirror configuration below covers \
                 its components only; add its original repository (for OpenShift \
                 quay.io/openshift-release-dev/ocp-release) with the mirror {}",
                dir.display(),
                release.version,
                match (&record, found) {
                    (_, Some(_)) => "it was itself copied from disk".to_string(),
                    (Some(_), None) => format!("its record does not list {digest}"),
                    (None, None) => "a tree written by oc".to_string(),
                },
                job.target.to.name()
            )),
            _ => {}
        }
    }
    Ok(())
}
