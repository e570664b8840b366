//! One mirror run: read the payload → plan → execute → report.

use anyhow::Result;

use crate::cli::{MirrorArgs, OutputFormat};
use crate::mirror::{self, Stores, Summary, Totals};
use crate::options::Options;
use crate::progress::Progress;
use crate::reference::ImageRef;
use crate::registry::Transport;
use crate::release;

/// Run the mirror command.
pub async fn run(args: &MirrorArgs) -> Result<()> {
    let opts = Options::from_args(args)?;
    let transport = Transport::new(&args.registry)?;
    let sources = Stores::new(transport.clone(), opts.from_dir.clone());
    let dests = Stores::new(transport, opts.to_dir.clone());
    let progress = Progress::new(args.quiet, args.verbose);
    let limit = usize::from(args.max_per_registry);

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

    let mappings = mirror::mappings(&release, &opts.target);
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
    let mut summary = Summary::new(&release, &plan, totals, args.dry_run);
    if opts.to_dir.is_some() {
        summary.upload_commands = upload_commands(&opts, &release);
    }
    match args.output {
        OutputFormat::Json => println!("{}", summary.to_json()),
        OutputFormat::Text => print!("{}", summary.to_text(args.print_mirror_instructions)),
    }
    Ok(())
}

/// Cross-repository mounts work within one registry.
fn same_registry(a: &ImageRef, b: &ImageRef) -> bool {
    a.registry().is_some() && a.registry() == b.registry()
}

/// Remove temp files a killed run left in the destination tree.
fn sweep_disk(disk: &crate::disk::DiskStore, mappings: &[mirror::Mapping], progress: &Progress) {
    let mut repos: Vec<&str> = mappings.iter().map(|m| m.destination.repository.as_str()).collect();
    repos.dedup();
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

