//! What the plan needs to know, and the plan: for each image, what the destination has
//! (tags and manifests), then its manifest when the destination lacks it (a rerun of a
//! complete mirror reads none from the source), then which of its blobs the destination has;
//! every image at once, so a long path's source reads overlap its destination checks. A dry
//! run needs no destination. The run logs how long the plan took.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context as _, Result};

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
    let started = std::time::Instant::now();
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
    let plan = mirror::Plan { relied_on, ..mirror::plan(mappings, &images, &state, super::steps::same_registry) };
    let (images, blobs) = (plan.mappings.len(), plan.blobs.len());
    run.progress.info(&planned(images, blobs, plan.bytes_to_copy(), started.elapsed()));
    Ok(plan)
}

/// The line that says what the plan holds and how long it took to build: the time from the
/// payloads read to the first byte a user waits through, shown on every run.
fn planned(images: usize, blobs: usize, bytes: u64, took: std::time::Duration) -> String {
    let (bytes, took) = (indicatif::HumanBytes(bytes), took.as_secs_f64());
    format!("planned {images} images, {blobs} blobs to copy ({bytes}) in {took:.2} s")
}

async fn inspect(
    run: &Run<'_>,
    mappings: &[Mapping],
    known: &[crate::store::RawManifest],
) -> Result<(BTreeMap<Digest, mirror::SourceImage>, mirror::DestState)> {
    let limit = run.job.concurrency.metadata();
    let reachable = match mappings.first() {
        Some(m) if run.job.dry_run => probe(run, answers(run, m)).await?.is_some(),
        _ => true,
    };
    let dests = reachable.then_some(&run.dests);
    mirror::survey(&run.sources, dests, mappings, known, limit, run.job.tree_check).await
}

/// Whether the destination answers about one mapping's tag.
async fn answers(run: &Run<'_>, m: &Mapping) -> Result<()> {
    let dest = &m.destination;
    let store = run.dests.get(dest)?;
    let tag = dest.tag.clone().unwrap_or_default();
    store
        .manifest_digest(&dest.repository, &tag)
        .await
        .with_context(|| format!("failed to inspect {dest} at the destination"))?;
    Ok(())
}

/// Ask the destination. A dry run needs no destination (Red Hat's documented step runs it on
/// a connected host that cannot reach the mirror): when its first answer does not come
/// within a few seconds, one warning, and `None`: the plan treats it as empty.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_line_names_the_images_the_blobs_the_bytes_and_the_time() {
        let line = planned(1840, 1909, 355_604_196, std::time::Duration::from_millis(420));
        assert_eq!(line, "planned 1840 images, 1909 blobs to copy (339.13 MiB) in 0.42 s");
    }
}
