//! The steps of a run, in the order `run_with` takes them; each reads the shared [`Run`] and
//! the per-release records, and says what it did through the progress handle.

use anyhow::{bail, Result};

use super::report::ReleaseReport;
use super::{signatures, ReleaseRun, Run};
use crate::cluster;
use crate::job::Job;
use crate::mirror::{self, Concurrency, Mapping, Plan, ReleaseSummary, Summary, Totals};
use crate::reference::ImageRef;
use crate::release;
use crate::select::{self, RecordedPath, RecordedRelease, Selected, Selection, TreeRecord};
use crate::store::BlobCheck;

/// The releases of the run, in upgrade order; at least one.
pub(super) async fn select(job: &Job) -> Result<Selection> {
    let selection = select::resolve(&job.releases, job.from_dir.as_deref(), &job.http).await?;
    if selection.releases.is_empty() {
        bail!("no release image to mirror");
    }
    if selection.releases.len() > 1 && job.target.release_image.is_some() {
        let n = selection.releases.len();
        let msg = format!("--to-release-image names one image, but this run mirrors {n} releases: drop it");
        return Err(crate::exit::usage(msg));
    }
    Ok(selection)
}

/// A tree whose recorded path does not join its recorded releases was written by separate
/// runs: say so, since its releases are then listed in version order, not as one path.
pub(super) fn note_separate_runs(run: &Run<'_>, selection: &Selection) -> Result<()> {
    let (crate::job::ReleaseSource::Tree, Some(dir), None) = (&run.job.releases, &run.job.from_dir, &selection.path)
    else {
        return Ok(());
    };
    if select::read_record(dir)?.is_some_and(|r| r.upgrade_path.is_some()) {
        run.progress.warn(&format!(
            "{} holds releases of several separate runs: its recorded upgrade path does not join them, so they \
             are listed in version order, not as one path",
            dir.display()
        ));
    }
    Ok(())
}

/// With `--apply-release-image-signature`: the cluster, reached now, in seconds, before any
/// payload is read. A dry run needs no cluster: it warns and plans without one.
pub(super) async fn connect_cluster(run: &Run<'_>) -> Result<Option<cluster::Cluster>> {
    if run.job.blob_check == BlobCheck::LengthOnly {
        run.progress.warn(
            "--skip-verification: blob contents are not compared with their digests, so a corrupt or \
             tampered layer can be stored; manifests are still verified",
        );
    }
    let Some(apply) = run.check().and_then(|c| c.apply.as_ref()) else { return Ok(None) };
    match cluster::connect(&apply.cluster, &run.progress).await {
        Ok(cluster) => Ok(Some(cluster)),
        Err(err) if run.job.dry_run => {
            let why = crate::exit::one_line(err.as_ref());
            run.progress.warn(&format!("{why}; the dry run goes on without the cluster"));
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Every release's payload, read at once (the round trips of a path overlap); a tree's
/// releases learn their original repositories from its record.
pub(super) async fn load(run: &Run<'_>, selection: &Selection) -> Result<Vec<ReleaseRun>> {
    let reads = selection.releases.iter().map(|selected| load_one(run, selected));
    let mut releases = futures_util::future::try_join_all(reads).await?;
    for r in &releases {
        check_claims(run.job, r)?;
    }
    if let (Some(dir), false) = (&run.job.from_dir, run.job.to_mirror) {
        super::inspect::recorded_origins(run, dir, &mut releases)?;
    }
    Ok(releases)
}

/// What the graph (or the tree's record) named must be what was fetched: the payload's own
/// metadata version, and the architecture the graph was asked for. Checked before any copy.
fn check_claims(job: &Job, r: &ReleaseRun) -> Result<()> {
    let (own, image) = (&r.release.version, &r.selected.image);
    if let Some(named) = &r.selected.version {
        if own.parse::<crate::graph::Version>().ok().as_ref() != Some(named) {
            bail!(
                "release {named} was chosen, but its payload {image} says it is release {own}: refusing to mirror it"
            );
        }
    }
    if let crate::job::ReleaseSource::Graph(graph) = &job.releases {
        let want = release::openshift_arch(&graph.arch);
        if graph.arch != "multi" && r.release.arch != want {
            bail!(
                "the update graph for architecture {} names {image}, a release for {}: refusing to mirror it",
                graph.arch,
                r.release.arch
            );
        }
    }
    Ok(())
}

async fn load_one(run: &Run<'_>, selected: &Selected) -> Result<ReleaseRun> {
    let source = &selected.image;
    run.progress.info(&format!("reading release image {source}"));
    let store = run.sources.get(source)?;
    let release = release::load(store.as_ref(), source, run.job.blob_check).await?;
    run.sources.remember(&release.blobs);
    run.progress.info(&format!(
        "release {} ({}) {} with {} component images",
        release.version,
        release.arch,
        release.digest,
        release.components.len()
    ));
    Ok(ReleaseRun { selected: selected.clone(), release, accepted: None, config_map: None })
}

/// `--to-mirror`: the planned mappings as oc's lines; nothing checked or copied.
pub(super) fn mapping_lines(run: &Run<'_>, releases: &[ReleaseRun]) -> super::Report {
    let mappings = releases.iter().flat_map(|r| mirror::mappings(&r.release, &run.job.target)).collect();
    let plan = Plan { mappings, ..Plan::default() };
    let reports = releases.iter().map(|r| release_report(r, &plan, None)).collect();
    let mirror = Summary::new(&plan, Totals::default(), true, Vec::new(), Vec::new());
    super::Report { mirror, releases: reports, upgrade_path: None, mapping_lines_only: true, ..Default::default() }
}

/// Before anything is copied, every release's signatures: a release the cluster cannot
/// verify is not worth the copy. With a cluster, its own keys and ConfigMaps are checked too.
pub(super) async fn verify(run: &Run<'_>, releases: &mut [ReleaseRun]) -> Result<()> {
    let Some(check) = run.check() else {
        signatures::warn_skipped(&run.progress);
        return Ok(());
    };
    let apply = check.apply.as_ref();
    for r in releases.iter_mut() {
        let accepted =
            signatures::verify(check, run.job.from_dir.as_deref(), &r.release, &run.job.http, &run.progress).await?;
        if let (Some(cluster), Some(apply)) = (&run.cluster, apply) {
            cluster::preflight(cluster, &r.release.digest, &accepted, apply.overwrite, &run.progress).await?;
        }
        r.accepted = Some(accepted);
    }
    Ok(())
}

/// Where the ConfigMaps go is checked now, not after an hour of copying.
pub(super) fn prepare_config_maps(run: &Run<'_>, releases: &mut [ReleaseRun]) -> Result<()> {
    let Some(check) = run.check() else { return Ok(()) };
    for r in releases.iter_mut() {
        let Some(accepted) = &r.accepted else { continue };
        let (write_to, to_dir) = (check.write_to.as_deref(), run.job.to_dir.as_deref());
        r.config_map = signatures::prepare_config_map(write_to, to_dir, &r.release, accepted, run.job.dry_run)?;
    }
    Ok(())
}

/// Which image goes where: every release's images (their sigstore signatures are found by
/// the next step, `sigstore::find`).
pub(super) async fn mappings(run: &Run<'_>, releases: &[ReleaseRun]) -> Result<Vec<Mapping>> {
    Ok(releases.iter().flat_map(|r| mirror::mappings(&r.release, &run.job.target)).collect())
}

/// Carry out the plan (nothing in a dry run).
pub(super) async fn execute(run: &Run<'_>, plan: &Plan) -> Result<Totals> {
    if run.job.dry_run {
        return Ok(Totals::default());
    }
    if plan.is_noop() {
        run.progress.info("the destination already has every image: nothing to copy");
    }
    // Segments take one blob at a time: a second download would wait, unread, for the first.
    let concurrency = if run.job.archive_size.is_some() { Concurrency::Fixed(1) } else { run.job.concurrency };
    let totals = mirror::execute(plan, &run.sources, &run.dests, concurrency, &run.progress).await?;
    let retried = run.dests.retries().retried();
    if retried > 0 {
        run.progress.info(&format!("{retried} registry requests were retried"));
    }
    Ok(totals)
}

/// Record the tree's releases, path and graph beside its `v2/` folder (`--to-dir`, not in a
/// dry run).
pub(super) fn record_tree(
    run: &Run<'_>,
    releases: &[ReleaseRun],
    selection: &Selection,
    graph_data: Option<&crate::osus::GraphDataImage>,
) -> Result<()> {
    let (Some(dir), false) = (&run.job.to_dir, run.job.dry_run) else { return Ok(()) };
    let recorded = releases
        .iter()
        .map(|r| RecordedRelease {
            version: r.release.version.clone(),
            architecture: r.release.arch.clone(),
            image: run.job.target.release_destination(&r.release.tag()).to_string(),
            digest: r.release.digest.to_string(),
            source: r
                .release
                .origin
                .clone()
                .unwrap_or_else(|| r.release.source.with_digest(&r.release.digest))
                .to_string(),
        })
        .collect();
    let graph = selection.graph.as_deref();
    let upgrade_path = selection.path.as_ref().map(|route| RecordedPath {
        route: route.clone(),
        graph: graph.map(|_| format!("{}/{}", select::RECORD_DIR, select::GRAPH_FILE)),
    });
    let graph_data_image = graph_data.map(|g| g.image.clone());
    let record = TreeRecord {
        schema_version: select::RECORD_VERSION,
        releases: recorded,
        upgrade_path,
        graph_data_image,
        ..TreeRecord::default()
    };
    let path = select::write_record(dir, record, graph)?;
    run.progress.info(&format!("recorded the releases of the tree in {}", path.display()));
    Ok(())
}

/// After the copy: each release's ConfigMap written and applied as the job says, and its
/// part of the report.
pub(super) async fn sign(run: &Run<'_>, releases: &[ReleaseRun], plan: &Plan) -> Result<Vec<ReleaseReport>> {
    let mut reports = Vec::with_capacity(releases.len());
    for r in releases {
        let signature = match &r.accepted {
            Some(accepted) => Some(sign_one(run, r, accepted).await?),
            None => None,
        };
        reports.push(release_report(r, plan, signature));
    }
    Ok(reports)
}

async fn sign_one(
    run: &Run<'_>,
    r: &ReleaseRun,
    accepted: &[crate::signature::Accepted],
) -> Result<super::SignatureReport> {
    let dry_run = run.job.dry_run;
    let mut written = signatures::write_config_map(r.config_map.as_ref(), &r.release, accepted, dry_run)?;
    let apply = run.check().and_then(|c| c.apply.as_ref());
    if let (Some(cluster), Some(apply)) = (&run.cluster, apply) {
        let digest = &r.release.digest;
        written.applied =
            Some(cluster::apply_signature(cluster, digest, accepted, apply.overwrite, dry_run, &run.progress).await);
    }
    Ok(written)
}

fn release_report(r: &ReleaseRun, plan: &Plan, signature: Option<super::SignatureReport>) -> ReleaseReport {
    let version = r.selected.version.clone().or_else(|| r.release.version.parse().ok());
    ReleaseReport { release: ReleaseSummary::new(&r.release, &plan.mappings), signature, sigstore: None, version }
}

/// Cross-repository mounts work within one registry.
pub(super) fn same_registry(a: &ImageRef, b: &ImageRef) -> bool {
    a.registry().is_some() && a.registry() == b.registry()
}
