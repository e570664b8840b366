//! One mirror run, start to end: connect to the cluster (when applying) → read the
//! payload → verify signatures → plan → execute → write the signature ConfigMap → apply
//! it → report. The only module that sees every part; each part knows none of the others.

mod report;
mod signatures;

use std::collections::BTreeSet;

use anyhow::{anyhow, Result};

use crate::cluster;
use crate::disk::DiskStore;
use crate::job::{Job, SignaturePolicy};
use crate::mirror::{self, Mapping, Stores, Summary, Totals};
use crate::progress::Progress;
use crate::reference::ImageRef;
use crate::registry::Transport;
use crate::release;
use crate::store::BlobCheck;

pub use report::{Report, SignatureInfo, SignatureReport};

/// Run `job`: mirror, write and apply as it says, and describe what was done. The caller
/// prints the report; [`Report::into_result`] then says whether the apply failed (exit 4).
pub async fn run(job: &Job) -> Result<Report> {
    let source = match job.releases.as_slice() {
        [one] => one,
        [] => return Err(anyhow!("no release image to mirror")),
        _ => return Err(anyhow!("this version mirrors one release per run")),
    };
    let progress = Progress::new(job.output.quiet, job.output.verbose);
    let transport = Transport::new(&job.registry)?;
    let sources = Stores::new(transport.clone(), job.from_dir.clone(), job.blob_check);
    let dests = Stores::new(transport.clone(), job.to_dir.clone(), job.blob_check);
    let limit = job.max_per_registry;
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
    // A bad kubeconfig or context fails here, in seconds, before the payload is read.
    let cluster = match apply {
        Some(a) => Some(cluster::connect(&a.cluster, &progress).await?),
        None => None,
    };

    progress.info(&format!("reading release image {source}"));
    let store = sources.get(source)?;
    let release = release::load(store.as_ref(), source, job.blob_check).await?;
    progress.info(&format!(
        "release {} ({}) {} with {} component images",
        release.version,
        release.arch,
        release.digest,
        release.components.len()
    ));
    // Before anything is copied: a release the cluster cannot verify is not worth the copy.
    let accepted = match check {
        Some(check) => Some(signatures::verify(check, job.from_dir.as_deref(), &release, &progress).await?),
        None => {
            signatures::warn_skipped(&progress);
            None
        }
    };
    if let (Some(cluster), Some(accepted), Some(apply)) = (&cluster, &accepted, apply) {
        cluster::preflight(cluster, &release.digest, accepted, apply.overwrite, &progress).await?;
    }

    let mut mappings = mirror::mappings(&release, &job.target);
    let sigstore = mirror::signature_mappings(&sources, &release, &mappings).await?;
    for m in &sigstore {
        progress.info(&format!("found sigstore signature {}; mirroring it beside the release", m.source));
    }
    mappings.extend(sigstore);
    let images = mirror::read_sources(&sources, &mappings, std::slice::from_ref(&release.manifest), limit).await?;
    if let Some(disk) = dests.disk() {
        sweep_disk(disk, &mappings, &progress);
    }
    let state = mirror::read_destination(&dests, &mappings, &images, limit).await?;
    let plan = mirror::plan(mappings, &images, &state, same_registry);

    let totals = if job.dry_run {
        Totals::default()
    } else {
        if plan.is_noop() {
            progress.info("the destination already has every image: nothing to copy");
        }
        mirror::execute(&plan, &sources, &dests, limit, &progress).await?
    };
    if transport.retried() > 0 {
        progress.info(&format!("{} registry requests were retried", transport.retried()));
    }
    let mut summary = Summary::new(&release, &plan, totals, job.dry_run);
    if let Some(dir) = &job.to_dir {
        summary.upload_commands = upload_commands(dir, &job.target.to, &release.tag());
    }
    let mut signature = None;
    if let (Some(check), Some(accepted)) = (check, &accepted) {
        let mut written = signatures::write_config_map(check.write_to.as_deref(), &release, accepted, job.dry_run)?;
        if let (Some(cluster), Some(apply)) = (&cluster, apply) {
            let digest = &release.digest;
            let report =
                cluster::apply_signature(cluster, digest, accepted, apply.overwrite, job.dry_run, &progress).await;
            written.applied = Some(report);
        }
        signature = Some(written);
    }
    Ok(Report { mirror: summary, signature })
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

/// The commands that upload a `--to-dir` tree on the other side of the gap: ours and oc's.
fn upload_commands(dir: &std::path::Path, repo: &ImageRef, tag: &str) -> Vec<String> {
    let dir = dir.display();
    let repo = repo.name();
    vec![
        format!(
            "To upload the release to a registry on the other side, run:\n\n  \
             kubectl release-mirror --from-dir={dir} --from={repo}:{tag} --to=REGISTRY/REPO"
        ),
        format!("Or with oc:\n\n  oc image mirror --from-dir={dir} '{repo}:{tag}*' REGISTRY/REPO"),
    ]
}
