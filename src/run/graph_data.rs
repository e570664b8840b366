//! The steps of `--graph-data-image`: the graph-data image prepared before the copy, pushed
//! after it, and the `UpdateService` that names it with the release repository (written
//! beside the signature ConfigMaps when they have a folder).

use anyhow::{Context as _, Result};

use super::{ReleaseRun, Run};
use crate::osus::{self, GraphDataImage, UpdateService};

/// Before anything is copied: the graph data checked and the image made in memory.
pub(super) async fn prepare(run: &Run<'_>, releases: &[ReleaseRun]) -> Result<Option<osus::Prepared>> {
    let Some(job) = &run.job.graph_data else { return Ok(None) };
    let archs: Vec<&str> = releases.iter().map(|r| r.release.arch.as_str()).collect();
    let from_dir = run.job.from_dir.as_deref();
    osus::prepare(job, from_dir, &run.sources, &run.job.http, &archs, &run.progress).await.map(Some)
}

/// After the copy: the image pushed (in a dry run: only named).
pub(super) async fn push(run: &Run<'_>, prepared: Option<osus::Prepared>) -> Result<Option<GraphDataImage>> {
    let (Some(job), Some(prepared)) = (&run.job.graph_data, prepared) else { return Ok(None) };
    let stores = (&run.sources, &run.dests);
    osus::push(job, prepared, stores, run.job.dry_run, &run.progress).await.map(Some)
}

/// The `UpdateService` for an image in a registry, with the release repository; written to
/// the ConfigMaps' folder (not in a dry run).
pub(super) fn update_service(run: &Run<'_>, image: Option<&GraphDataImage>) -> Result<Option<UpdateService>> {
    let Some(pinned) = image.and_then(|i| i.pinned.as_ref()).filter(|p| p.registry().is_some()) else {
        return Ok(None);
    };
    let Some(releases) = run.job.target.release_repo.as_ref().filter(|r| r.registry().is_some()) else {
        run.progress.warn(
            "no UpdateService written: the update service reads every tag of its release repository, so give \
             --to-release-repo=REPO to keep the release images apart from their components",
        );
        return Ok(None);
    };
    let mut service = UpdateService::new(releases.name(), pinned.to_string());
    let folder = run.check().and_then(|c| c.write_to.as_deref());
    if let Some(folder) = folder {
        let path = folder.join(osus::UPDATE_SERVICE_FILE);
        if !run.job.dry_run {
            std::fs::create_dir_all(folder).with_context(|| format!("failed to create folder {}", folder.display()))?;
            crate::disk::write_file_atomic(&path, service.resource.as_bytes())
                .with_context(|| format!("failed to write {}", path.display()))?;
        }
        service.file = Some(path.display().to_string());
    }
    Ok(Some(service))
}
