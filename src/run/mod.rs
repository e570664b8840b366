//! One mirror run, start to end: connect to the cluster (when applying) → read the
//! payload → verify signatures → plan → execute → write the signature ConfigMap → apply
//! it → report. The only module that sees every part; each part knows none of the others.

mod record;
mod releases;
mod report;
mod sequence;
mod signatures;
mod upload;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

use crate::cluster::{self, Cluster};
use crate::digest::Digest;
use crate::disk::DiskStore;
use crate::job::{ApplySignature, Job, SignatureCheck, SignaturePolicy};
use crate::mirror::{self, Mapping, Stores, Summary, Totals};
use crate::progress::Progress;
use crate::reference::ImageRef;
use crate::registry::Transport;
use crate::release::{self, Release};
use crate::signature::Accepted;
use crate::store::BlobCheck;

pub use record::{RecordedPath, RecordedRelease, TreeRecord};
pub use releases::{resolve, Chosen, ChosenPath, PathEntry, PathReport};
pub use report::{ReleaseReport, Report, SignatureInfo, SignatureReport};

/// Run `job`: mirror, write and apply as it says, and describe what was done. The caller
/// prints the report; [`Report::into_result`] then says whether an apply failed (exit 4).
pub async fn run(job: &Job) -> Result<Report> {
    run_until(job, std::future::pending::<()>()).await
}

/// [`run`], stopped when `stop` completes (a signal): the work in flight is dropped (its temp
/// files remove themselves), open registry upload sessions are cancelled, and the error is
/// [`crate::exit::Interrupted`] (exit 130).
pub async fn run_until(job: &Job, stop: impl std::future::Future<Output = ()>) -> Result<Report> {
    let transport = Transport::new(&job.http, &job.registry)?;
    tokio::select! {
        report = run_with(job, &transport) => report,
        () = stop => {
            let cancelled_uploads = transport.cancel_open_uploads().await;
            Err(anyhow::Error::new(crate::exit::Interrupted { cancelled_uploads }))
        }
    }
}

async fn run_with(job: &Job, transport: &Transport) -> Result<Report> {
    let progress = Progress::new(job.output.quiet, job.output.verbose);
    let chosen = releases::resolve(&job.releases, job.from_dir.as_deref(), &job.http).await?;
    if chosen.releases.is_empty() {
        bail!("no release image to mirror");
    }
    if chosen.releases.len() > 1 && job.target.release_image.is_some() {
        let n = chosen.releases.len();
        let msg = format!("--to-release-image names one image, but this run mirrors {n} releases: drop it");
        return Err(anyhow::Error::new(crate::exit::UsageError(msg)));
    }
    let sources = Stores::new(transport.clone(), job.from_dir.clone(), job.blob_check);
    let dests = Stores::new(transport.clone(), job.to_dir.clone(), job.blob_check);
    if job.blob_check == BlobCheck::LengthOnly {
        progress.warn(
            "--skip-verification: blob contents are not compared with their digests, so a corrupt or \
             tampered layer can be stored; manifests are still verified",
        );
    }
    let check = match &job.signatures {
        SignaturePolicy::Verify(check) => Some(check),
        SignaturePolicy::Skip => None,
    };
    let apply = check.and_then(|c| c.apply.as_ref());
    // A bad kubeconfig or context fails here, in seconds, before the payload is read. A dry
    // run needs no cluster: it warns and plans without one.
    let cluster = match apply {
        Some(a) => match cluster::connect(&a.cluster, &progress).await {
            Ok(cluster) => Some(cluster),
            Err(err) if job.dry_run => {
                let why = crate::exit::one_line(err.as_ref());
                progress.warn(&format!("{why}; the dry run goes on without the cluster"));
                None
            }
            Err(err) => return Err(err),
        },
        None => None,
    };

    // The releases of a path are read at once: their round trips overlap.
    let reads = chosen.releases.iter().map(|source| load_release(&sources, source, job.blob_check, &progress));
    let mut loaded = futures_util::future::try_join_all(reads).await?;
    if let (Some(dir), false) = (&job.from_dir, job.to_mirror) {
        recorded_origins(dir, &mut loaded, job, &progress)?;
    }
    if job.to_mirror {
        let mappings = loaded.iter().flat_map(|r| mirror::mappings(r, &job.target)).collect();
        let plan = mirror::Plan { mappings, ..mirror::Plan::default() };
        let summary = Summary::new(&loaded, &plan, Totals::default(), true);
        return Ok(Report::mapping_lines(summary));
    }
    // Before anything is copied: a release the cluster cannot verify is not worth the copy.
    let accepted = verify_all(check, job, &loaded, cluster.as_ref(), apply, &progress).await?;
    // Where the ConfigMaps go is checked now, not after an hour of copying.
    let mut files = Vec::with_capacity(loaded.len());
    for (release, accepted) in loaded.iter().zip(&accepted) {
        let file = match (check, accepted) {
            (Some(check), Some(accepted)) => signatures::prepare_config_map(
                check.write_to.as_deref(),
                job.to_dir.as_deref(),
                release,
                accepted,
                job.dry_run,
            )?,
            _ => None,
        };
        files.push(file);
    }

    let mut mappings = Vec::new();
    for release in &loaded {
        mappings.extend(mirror::mappings(release, &job.target));
        let sigstore = mirror::signature_mappings(&sources, release, &mappings).await?;
        for m in &sigstore {
            progress.info(&format!("found sigstore signature {}; mirroring it beside the release", m.source));
        }
        mappings.extend(sigstore);
    }
    let known: Vec<_> = loaded.iter().map(|r| r.manifest.clone()).collect();
    // A dry run writes nothing, temp files included.
    if let (Some(disk), false) = (dests.disk(), job.dry_run) {
        sweep_disk(disk, &mappings, &progress);
    }
    let (images, state) = inspect(job, &sources, &dests, &mappings, &known, &progress).await?;
    let plan = mirror::plan(mappings, &images, &state, same_registry);

    let totals = if job.dry_run {
        Totals::default()
    } else {
        if plan.is_noop() {
            progress.info("the destination already has every image: nothing to copy");
        }
        mirror::execute(&plan, &sources, &dests, job.concurrency, &progress).await?
    };
    if transport.retried() > 0 {
        progress.info(&format!("{} registry requests were retried", transport.retried()));
    }
    let mut summary = Summary::new(&loaded, &plan, totals, job.dry_run);
    summary.mirror_prefixes = job.target.mirror_prefixes();
    if let Some(dir) = &job.to_dir {
        summary.upload_commands = upload::commands(dir, &job.target.to, &loaded);
        if !job.dry_run {
            let path = write_record(dir, job, &loaded, &chosen)?;
            progress.info(&format!("recorded the releases of the tree in {}", path.display()));
        }
    }
    let mut reports = Vec::with_capacity(loaded.len());
    for (((release, accepted), summary), file) in loaded.iter().zip(&accepted).zip(&summary.releases).zip(&files) {
        let signature = match accepted {
            Some(accepted) => {
                Some(sign(file.as_ref(), release, accepted, cluster.as_ref(), apply, job.dry_run, &progress).await?)
            }
            None => None,
        };
        reports.push(ReleaseReport { release: summary.clone(), signature });
    }
    let signature = reports.last().and_then(|r| r.signature.clone());
    Ok(Report { mirror: summary, signature, releases: reports, upgrade_path: chosen.path, mapping_lines_only: false })
}

/// What the plan needs to know: first what the destination has (tags and manifests), then
/// the manifests of the images it lacks (a rerun of a complete mirror reads none from the
/// source), then which of their blobs it has.
async fn inspect(
    job: &Job,
    sources: &Stores,
    dests: &Stores,
    mappings: &[Mapping],
    known: &[crate::store::RawManifest],
    progress: &Progress,
) -> Result<(BTreeMap<Digest, mirror::SourceImage>, mirror::DestState)> {
    let limit = job.concurrency.metadata();
    let state = probe(job, mirror::read_destination(dests, mappings, limit), progress).await?;
    let empty = mirror::DestState::default();
    let seen = state.as_ref().unwrap_or(&empty);
    let wanted = mirror::images_to_read(mappings, seen);
    let images = mirror::read_images(sources, dests, &wanted, seen, known, limit).await?;
    let Some(state) = state else { return Ok((images, empty)) };
    let blobs = mirror::read_destination_blobs(dests, mappings, &images, state, limit, job.tree_check);
    let state = probe(job, blobs, progress).await?.unwrap_or_default();
    Ok((images, state))
}

/// How long a dry run waits for the destination to say what it has.
const DRY_RUN_PROBE: std::time::Duration = std::time::Duration::from_secs(5);

/// Ask the destination. A dry run needs no destination (Red Hat's documented step runs it on
/// a connected host that cannot reach the mirror): when it does not answer within a few
/// seconds, one warning, and `None`: the plan treats it as empty.
async fn probe<T>(
    job: &Job,
    read: impl std::future::Future<Output = Result<T>>,
    progress: &Progress,
) -> Result<Option<T>> {
    if !job.dry_run {
        return read.await.map(Some);
    }
    let why = match tokio::time::timeout(DRY_RUN_PROBE, read).await {
        Ok(Ok(state)) => return Ok(Some(state)),
        Ok(Err(err)) => crate::exit::one_line(err.as_ref()),
        Err(_) => format!("the destination did not answer within {} s", DRY_RUN_PROBE.as_secs()),
    };
    progress.warn(&format!("{why}; planning as if the destination were empty"));
    Ok(None)
}

/// A release read from a tree came from somewhere: the tree's record says where, so the
/// mirror configuration names the release's original repository. A tree without a record
/// (written by oc) cannot say: that is warned about, with what to add by hand.
fn recorded_origins(dir: &std::path::Path, loaded: &mut [Release], job: &Job, progress: &Progress) -> Result<()> {
    let record = record::read(dir)?;
    for release in loaded.iter_mut().filter(|r| r.source.registry().is_none()) {
        let digest = release.digest.to_string();
        let found = record.as_ref().and_then(|rec| rec.releases.iter().find(|r| r.digest == digest));
        match found.map(|r| ImageRef::parse(&r.source)) {
            Some(Ok(origin)) if origin.registry().is_some() => release.origin = Some(origin),
            _ if job.target.to.registry().is_some() && !job.target.skip_release_image => progress.warn(&format!(
                "{} does not record where release {} came from ({}): the mirror configuration below covers \
                 its components only; add its original repository (for OpenShift \
                 quay.io/openshift-release-dev/ocp-release) with the mirror {}",
                dir.display(),
                release.version,
                if found.is_some() { "it was itself copied from disk" } else { "a tree written by oc" },
                job.target.to.name()
            )),
            _ => {}
        }
    }
    Ok(())
}

async fn load_release(sources: &Stores, source: &ImageRef, check: BlobCheck, progress: &Progress) -> Result<Release> {
    progress.info(&format!("reading release image {source}"));
    let store = sources.get(source)?;
    let release = release::load(store.as_ref(), source, check).await?;
    sources.remember(&release.blobs);
    progress.info(&format!(
        "release {} ({}) {} with {} component images",
        release.version,
        release.arch,
        release.digest,
        release.components.len()
    ));
    Ok(release)
}

/// Every release's signatures, verified (and checked against the cluster) before the copy.
async fn verify_all(
    check: Option<&SignatureCheck>,
    job: &Job,
    loaded: &[Release],
    cluster: Option<&Cluster>,
    apply: Option<&ApplySignature>,
    progress: &Progress,
) -> Result<Vec<Option<Vec<Accepted>>>> {
    let Some(check) = check else {
        signatures::warn_skipped(progress);
        return Ok(vec![None; loaded.len()]);
    };
    let mut out = Vec::with_capacity(loaded.len());
    for release in loaded {
        let accepted = signatures::verify(check, job.from_dir.as_deref(), release, &job.http, progress).await?;
        if let (Some(cluster), Some(apply)) = (cluster, apply) {
            cluster::preflight(cluster, &release.digest, &accepted, apply.overwrite, progress).await?;
        }
        out.push(Some(accepted));
    }
    Ok(out)
}

/// Write the release's signature ConfigMap file and apply it, as the job says.
async fn sign(
    file: Option<&signatures::ConfigMapFile>,
    release: &Release,
    accepted: &[Accepted],
    cluster: Option<&Cluster>,
    apply: Option<&ApplySignature>,
    dry_run: bool,
    progress: &Progress,
) -> Result<SignatureReport> {
    let mut written = signatures::write_config_map(file, release, accepted, dry_run)?;
    if let (Some(cluster), Some(apply)) = (cluster, apply) {
        let digest = &release.digest;
        written.applied =
            Some(cluster::apply_signature(cluster, digest, accepted, apply.overwrite, dry_run, progress).await);
    }
    Ok(written)
}

/// Record the tree's releases, path and graph beside its `v2/` folder.
fn write_record(dir: &std::path::Path, job: &Job, loaded: &[Release], chosen: &Chosen) -> Result<std::path::PathBuf> {
    let releases = loaded
        .iter()
        .map(|r| RecordedRelease {
            version: r.version.clone(),
            architecture: r.arch.clone(),
            image: job.target.to.with_tag(&r.tag()).to_string(),
            digest: r.digest.to_string(),
            source: r.origin.clone().unwrap_or_else(|| r.source.with_digest(&r.digest)).to_string(),
        })
        .collect();
    let graph = chosen.graph.as_deref();
    let upgrade_path = chosen.path.as_ref().map(|p| RecordedPath {
        channel: p.channel.clone(),
        arch: p.arch.clone(),
        hops: p.hops.clone(),
        graph: graph.map(|_| format!("{}/{}", record::RECORD_DIR, record::GRAPH_FILE)),
    });
    let record = TreeRecord { schema_version: record::RECORD_VERSION, releases, upgrade_path };
    record::write(dir, record, graph)
}

/// Cross-repository mounts work within one registry.
fn same_registry(a: &ImageRef, b: &ImageRef) -> bool {
    a.registry().is_some() && a.registry() == b.registry()
}

/// Remove temp files a killed run left in the destination tree.
fn sweep_disk(disk: &DiskStore, mappings: &[Mapping], progress: &Progress) {
    let repos: BTreeSet<&str> = mappings.iter().map(|m| m.destination.repository.as_str()).collect();
    let removed: usize = repos.iter().map(|r| disk.sweep(r)).sum();
    if removed > 0 {
        progress.info(&format!("removed {removed} temporary files left by an interrupted run"));
    }
}
