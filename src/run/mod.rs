//! One mirror run, start to end, as named steps over one record per release: choose the
//! releases → connect to the cluster (when applying) → read the payloads → verify their
//! signatures → prepare the ConfigMap files → map (holding back images of damaged segments;
//! or only check the media) → find and verify the sigstore signatures (exit 3 before any
//! copy) → inspect and plan (counting what `--since` trees carried) → check the tree's space
//! and what an upload relies on → execute → finish a segment set → record the tree → write
//! and apply the ConfigMaps → build the report once. The only module that sees every part;
//! each part knows none of the others.

mod graph_data;
mod inspect;
mod media;
mod report;
mod segments;
mod signatures;
mod sigstore;
mod sigstore_report;
mod since;
mod space;
mod steps;
mod upload;
mod verify_sigstore;

use std::sync::Arc;

use anyhow::Result;

use crate::cluster::Cluster;
use crate::events::EventSink;
use crate::exit::{Failure, Interrupted, RunError};
use crate::job::{Job, SignatureCheck, SignaturePolicy};
use crate::mirror::{Stores, Summary};
use crate::progress::Progress;
use crate::registry::Transport;
use crate::release::Release;
use crate::select::Selected;
use crate::signature::Accepted;

pub use report::{ReleaseReport, Report, SignatureInfo, SignatureReport};
pub use sigstore_report::{MissingSignature, SigstoreRefused, SigstoreReport};
pub use upload::quote;
pub use verify_sigstore::{verify_sigstore, SigstoreCheck, SigstoreResult};

/// Run `job`: mirror, write and apply as it says, tell `events` what happens on the way, and
/// describe what was done. The caller prints the report; [`Report::into_result`] then says
/// whether an apply failed (exit 4).
pub async fn run(job: &Job, events: Arc<dyn EventSink>) -> Result<Report, RunError> {
    run_until(job, events, std::future::pending::<()>()).await
}

/// [`run`], stopped when `stop` completes (a signal): the work in flight is dropped (its temp
/// files remove themselves), open registry upload sessions are cancelled, and the error is
/// [`Failure::Interrupted`] (exit 130). The error says which kind of failure it is, and so
/// which exit code it gives.
pub async fn run_until(
    job: &Job,
    events: Arc<dyn EventSink>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Report, RunError> {
    let progress = Progress::new(events);
    let transport = Transport::new(&job.http, &job.registry, progress.clone()).map_err(anyhow::Error::new)?;
    let result = tokio::select! {
        report = run_with(job, &transport, progress) => report,
        () = stop => {
            let cancelled_uploads = transport.cancel_open_uploads().await;
            Err(Failure::Interrupted.mark(Interrupted { cancelled_uploads }))
        }
    };
    result.map_err(RunError::from)
}

/// What every step shares: the job, both sides' stores, the cluster and the progress.
struct Run<'a> {
    job: &'a Job,
    sources: Stores,
    dests: Stores,
    progress: Progress,
    cluster: Option<Cluster>,
}

/// One release as it moves through the steps.
struct ReleaseRun {
    /// How the selection named it.
    selected: Selected,
    /// Its payload, read.
    release: Release,
    /// Its GPG signatures, accepted before the copy (none when signatures are skipped).
    accepted: Option<Vec<Accepted>>,
    /// Its ConfigMap file, prepared before the copy and written after it.
    config_map: Option<signatures::ConfigMapFile>,
}

async fn run_with(job: &Job, transport: &Transport, progress: Progress) -> Result<Report> {
    let selection = steps::select(job).await?;
    let mut run = Run::new(job, transport, progress);
    steps::note_separate_runs(&run, &selection)?;
    run.cluster = steps::connect_cluster(&run).await?;
    let mut releases = steps::load(&run, &selection).await?;
    if job.to_mirror {
        return Ok(steps::mapping_lines(&run, &releases));
    }
    steps::verify(&run, &mut releases).await?;
    steps::prepare_config_maps(&run, &mut releases)?;
    let graph_data = graph_data::prepare(&run, &releases).await?;
    let mut mappings = steps::mappings(&run, &releases).await?;
    if media::asked(&run) {
        return media::check(&run, &releases, &mappings).await;
    }
    let found = sigstore::find(&run, &releases).await?;
    mappings.extend(found.mappings);
    let damaged = segments::drop_damaged(&run, &mut mappings).await?;
    let plan = inspect::plan(&run, mappings, &releases, found.read).await?;
    let space = space::check(&run, &plan)?;
    since::check_upload(&run, &plan).await?;
    let totals = steps::execute(&run, &plan).await?;
    let graph_data = graph_data::push(&run, graph_data).await?;
    run.dests.finish().await?;
    steps::record_tree(&run, &releases, &selection, graph_data.as_ref())?;
    since::record(&run, &plan.relied_on)?;
    let mut reports = steps::sign(&run, &releases, &plan).await?;
    for (report, sigstore) in reports.iter_mut().zip(found.reports) {
        report.sigstore = Some(sigstore);
    }
    let update_service = graph_data::update_service(&run, graph_data.as_ref())?;
    segments::fail_if_damaged(damaged)?;
    let mut summary =
        Summary::new(&plan, totals, job.dry_run, job.target.mirror_prefixes(), run.upload_commands(&releases));
    summary.transfer.space = space;
    Ok(Report {
        mirror: summary,
        releases: reports,
        upgrade_path: selection.path,
        mapping_lines_only: false,
        graph_data,
        update_service,
    })
}

impl<'a> Run<'a> {
    fn new(job: &'a Job, transport: &'a Transport, progress: Progress) -> Run<'a> {
        Run {
            job,
            sources: Stores::new(transport.clone(), job.from_dir.clone(), job.blob_check),
            dests: match (&job.to_dir, job.archive_size) {
                (Some(dir), Some(size)) => Stores::new(transport.clone(), None, job.blob_check).segmented(dir, size),
                _ => Stores::new(transport.clone(), job.to_dir.clone(), job.blob_check),
            },
            progress,
            cluster: None,
        }
    }

    /// The signature check, unless signatures are skipped.
    fn check(&self) -> Option<&SignatureCheck> {
        match &self.job.signatures {
            SignaturePolicy::Verify(check) => Some(check),
            SignaturePolicy::Skip => None,
        }
    }

    /// The commands that upload a `--to-dir` tree on the other side (none otherwise).
    fn upload_commands(&self, releases: &[ReleaseRun]) -> Vec<String> {
        let Some(dir) = &self.job.to_dir else { return Vec::new() };
        let loaded: Vec<&Release> = releases.iter().map(|r| &r.release).collect();
        let graph_data = self.job.graph_data.as_ref().map(|g| &g.image);
        let commands = upload::commands(dir, &self.job.target.to, &loaded, graph_data);
        // oc cannot read tar segments.
        commands.into_iter().filter(|c| self.job.archive_size.is_none() || !c.starts_with("Or with oc")).collect()
    }
}
