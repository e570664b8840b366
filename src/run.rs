//! One mirror run: read the payload → plan → execute → report.

use anyhow::Result;

use std::path::PathBuf;

use crate::cli::{MirrorArgs, OutputFormat, SignatureArgs};
use crate::cluster;
use crate::mirror::{self, SignatureSummary, Stores, Summary, Totals};
use crate::options::Options;
use crate::progress::Progress;
use crate::reference::ImageRef;
use crate::registry::Transport;
use crate::release::{self, Release};
use crate::signature::{self, Accepted, GateOptions};

/// Run the mirror command.
pub async fn run(args: &MirrorArgs) -> Result<()> {
    let opts = Options::from_args(args)?;
    let transport = Transport::new(&args.registry)?.verbose(args.verbose > 0);
    let sources = Stores::new(transport.clone(), opts.from_dir.clone());
    let dests = Stores::new(transport.clone(), opts.to_dir.clone());
    let progress = Progress::new(args.quiet, args.verbose);
    let limit = usize::from(args.max_per_registry);
    if args.skip_verification {
        progress.warn(
            "--skip-verification: blob contents are not compared with their digests, so a corrupt or \
             tampered layer can be stored; manifests are still verified",
        );
        crate::digest::skip_blob_digest_checks();
    }
    // A bad kubeconfig or context fails here, in seconds, before the payload is read.
    let cluster = cluster::connect(args, &progress).await?;

    progress.info(&format!("reading release image {}", opts.source));
    let store = sources.get(&opts.source)?;
    let release = release::load(&store, &opts.source).await?;
    progress.info(&format!(
        "release {} ({}) {} with {} component images",
        release.version,
        release.arch,
        release.digest,
        release.components.len()
    ));
    // Before anything is copied: a release the cluster cannot verify is not worth the copy.
    let accepted = check_signatures(&args.signature, &opts, &release, &progress).await?;
    if let (Some(cluster), Some(accepted)) = (&cluster, &accepted) {
        cluster::preflight(cluster, &release.digest, accepted, args.signature.overwrite, &progress).await?;
    }

    let mut mappings = mirror::mappings(&release, &opts.target);
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

    let totals = if args.dry_run {
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
    let mut summary = Summary::new(&release, &plan, totals, args.dry_run);
    if opts.to_dir.is_some() {
        summary.upload_commands = upload_commands(&opts, &release);
    }
    if let Some(accepted) = &accepted {
        let dir = signature_dir(&args.signature, &opts);
        summary.signature = Some(write_config_map(dir, &release, accepted, args.dry_run)?);
    }
    let applied = match (&cluster, &accepted, summary.signature.as_mut()) {
        (Some(cluster), Some(accepted), Some(signature)) => {
            let overwrite = args.signature.overwrite;
            let report =
                cluster::apply_signature(cluster, &release.digest, accepted, overwrite, args.dry_run, &progress).await;
            signature.applied = Some(report.clone());
            Some(report)
        }
        _ => None,
    };
    match args.output {
        OutputFormat::Json => println!("{}", summary.to_json()),
        OutputFormat::Text => print!("{}", summary.to_text(args.print_mirror_instructions)),
    }
    applied.map_or(Ok(()), cluster::ApplyReport::into_result)
}

/// Cross-repository mounts work within one registry.
fn same_registry(a: &ImageRef, b: &ImageRef) -> bool {
    a.registry().is_some() && a.registry() == b.registry()
}

/// Remove temp files a killed run left in the destination tree.
fn sweep_disk(disk: &crate::disk::DiskStore, mappings: &[mirror::Mapping], progress: &Progress) {
    let repos: std::collections::BTreeSet<&str> = mappings.iter().map(|m| m.destination.repository.as_str()).collect();
    let removed: usize = repos.iter().map(|r| disk.sweep(r)).sum();
    if removed > 0 {
        progress.info(&format!("removed {removed} temporary files left by an interrupted run"));
    }
}

/// The commands that upload a `--to-dir` tree on the other side of the gap: ours and oc's.
fn upload_commands(opts: &Options, release: &release::Release) -> Vec<String> {
    let dir = opts.to_dir.as_deref().map(|d| d.display().to_string()).unwrap_or_default();
    let repo = opts.target.to.name();
    let tag = release.tag();
    vec![
        format!(
            "To upload the release to a registry on the other side, run:\n\n  \
             kubectl release-mirror --from-dir={dir} --from={repo}:{tag} --to=REGISTRY/REPO"
        ),
        format!("Or with oc:\n\n  oc image mirror --from-dir={dir} '{repo}:{tag}*' REGISTRY/REPO"),
    ]
}

/// Fetches and verifies the release signatures (unless skipped); exit code 3 when none is valid.
async fn check_signatures(
    args: &SignatureArgs,
    opts: &Options,
    release: &Release,
    progress: &Progress,
) -> Result<Option<Vec<Accepted>>> {
    if args.skip_release_image_signature {
        progress.warn(
            "--skip-release-image-signature: the release signature is not verified and no signature \
             ConfigMap is written; a cluster refuses to update to a release it cannot verify",
        );
        return Ok(None);
    }
    progress.info(&format!("verifying the signature of release {}", release.digest));
    let options = GateOptions {
        key_files: args.keys.clone(),
        stores: local_signature_store(args, opts, release, progress).unwrap_or_else(|| args.stores.clone()),
        timeout: args.release_image_signature_store_timeout,
    };
    let accepted = signature::check_release(&options, release.verification.as_ref(), &release.digest)
        .await
        .map_err(crate::exit::signature_failure)?;
    for a in &accepted {
        let v = &a.verified;
        progress.info(&format!(
            "valid signature {} for keyring {}: identity {}, key {}",
            a.url, a.keyring, v.identity, v.key_fingerprint
        ));
        for warning in &v.warnings {
            progress.warn(warning);
        }
    }
    Ok(Some(accepted))
}

/// `--release-image-signature-to-dir`, else `<to-dir>/config`, else none.
/// On the far side of the gap the internet stores are out of reach: with `--from-dir` and
/// no `--release-image-signature-store`, the signature ConfigMap the to-disk run wrote
/// (`<from-dir>/config/signature-sha256-<16hex>.yaml`, or oc's `.json`) is the store.
fn local_signature_store(
    args: &SignatureArgs,
    opts: &Options,
    release: &Release,
    progress: &Progress,
) -> Option<Vec<String>> {
    if !args.stores.is_empty() {
        return None;
    }
    let config = opts.from_dir.as_ref()?.join("config");
    let yaml = crate::disk::layout::signature_file_name(&release.digest);
    let json = yaml.replace(".yaml", ".json");
    let path = [yaml, json].into_iter().map(|name| config.join(name)).find(|p| p.is_file())?;
    progress.info(&format!("reading release signatures from {}", path.display()));
    Some(vec![format!("file://{}", path.display())])
}

fn signature_dir(args: &SignatureArgs, opts: &Options) -> Option<PathBuf> {
    args.release_image_signature_to_dir.clone().or_else(|| opts.to_dir.as_ref().map(|d| d.join("config")))
}

/// Writes the signature ConfigMap into `dir` (not in a dry run) and describes it.
fn write_config_map(
    dir: Option<PathBuf>,
    release: &Release,
    accepted: &[Accepted],
    dry_run: bool,
) -> Result<SignatureSummary> {
    let name = signature::config_map_name(&release.digest);
    let Some(dir) = dir else {
        return Ok(SignatureSummary::new(accepted, name, None));
    };
    let file_name = crate::disk::layout::signature_file_name(&release.digest);
    let path = if dry_run {
        dir.join(file_name)
    } else {
        let config_map = signature::build_config_map(&release.digest, &signature::distinct_signatures(accepted));
        config_map.write(&dir, &file_name)?
    };
    Ok(SignatureSummary::new(accepted, name, Some(path.display().to_string())))
}
