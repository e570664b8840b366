//! Flags → one resolved [`Job`]: every default and conflict settled, every reference and
//! path parsed (pure; usage errors exit 2). The only code besides `main.rs` and `cli.rs`
//! that knows clap's types.

use std::path::PathBuf;

use release_mirror::cluster::ClusterTarget;
use release_mirror::graph::{EdgeKinds, GraphSource, Version};
use release_mirror::job::{
    ApplySignature, Choose, GraphSelection, Job, ReleaseSource, SignatureCheck, SignaturePolicy, SigstoreMode,
    SigstorePolicy,
};
use release_mirror::mirror::{Concurrency, Instructions, Target, TreeCheck};
use release_mirror::osus::{self, GraphDataJob, GraphDataSource};
use release_mirror::reference::{ImageRef, Location};
use release_mirror::store::BlobCheck;
use release_mirror::{http, registry};

use crate::cli::{self, GraphArgs, MirrorArgs};

/// The default repository of a `--to-dir` tree, as oc names it.
pub const DEFAULT_DISK_REPO: &str = "file://openshift/release";

/// The source and destination flags, validated.
#[derive(Debug, Clone)]
struct Options {
    pub source: ReleaseSource,
    pub from_dir: Option<PathBuf>,
    pub target: Target,
    pub to_dir: Option<PathBuf>,
}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    release_mirror::exit::usage(msg)
}

impl Options {
    fn from_args(args: &MirrorArgs) -> anyhow::Result<Options> {
        let source = release_source(args)?;
        // As oc: a `file://` destination is written under --to-dir, else the current
        // directory; with a registry --to, --to-dir only receives the signature ConfigMap.
        let (to, to_dir) = match (&args.to, &args.to_dir) {
            (Some(to), dir) => {
                let r = ImageRef::parse_repository(to)?;
                let dir = match (&r.location, dir) {
                    (Location::Disk, Some(dir)) => Some(dir.clone()),
                    (Location::Disk, None) => Some(current_dir()?),
                    (Location::Registry(_), _) => None,
                };
                (r, dir)
            }
            (None, Some(dir)) => (ImageRef::parse_repository(DEFAULT_DISK_REPO)?, Some(dir.clone())),
            // oc's default for a mapping-only run.
            (None, None) if args.to_mirror => (ImageRef::parse_repository("openshift/release")?, None),
            (None, None) => return Err(usage("no destination given: use --to=REGISTRY/REPO or --to-dir=DIR")),
        };
        let from_dir = match (&args.from_dir, reads_disk(&source)) {
            (Some(dir), _) => Some(dir.clone()),
            (None, true) => Some(current_dir()?),
            (None, false) => None,
        };
        let release_image = args.to_release_image.as_deref().map(release_image_ref).transpose()?;
        if let Some(r) = &release_image {
            if (r.location == Location::Disk) != (to.location == Location::Disk) {
                return Err(usage("--to-release-image must go to the same kind of destination as --to/--to-dir"));
            }
        }
        let release_repo = args.to_release_repo.as_deref().map(ImageRef::parse_repository).transpose()?;
        if release_repo.as_ref().is_some_and(|r| (r.location == Location::Disk) != (to.location == Location::Disk)) {
            return Err(usage("--to-release-repo must go to the same kind of destination as --to/--to-dir"));
        }
        Ok(Options {
            source,
            from_dir,
            target: Target { to, release_image, skip_release_image: args.skip_release_image, release_repo },
            to_dir,
        })
    }
}

/// Which releases: a graph selection (`--min-version`/`--max-version`, or a bare version),
/// the `--from` list, or, with `--from-dir` alone, every release the tree records.
fn release_source(args: &MirrorArgs) -> anyhow::Result<ReleaseSource> {
    let g = &args.graph;
    let bare = args.source.as_deref().map(bare_version).transpose()?.flatten();
    let listed: Vec<&str> =
        args.from.iter().map(String::as_str).chain(args.source.as_deref().filter(|_| bare.is_none())).collect();
    if bare.is_some() && (g.min_version.is_some() || g.max_version.is_some()) {
        return Err(usage(
            "a bare version names one release; --min-version/--max-version choose several: give one or the other",
        ));
    }
    let from_graph = g.min_version.is_some() || g.max_version.is_some() || bare.is_some();
    if from_graph && !listed.is_empty() {
        return Err(usage(
            "--min-version/--max-version and a bare version choose releases from the update graph: give \
             either those or --from, not both",
        ));
    }
    if from_graph && args.from_dir.is_some() {
        return Err(usage("releases chosen from the update graph are read from registries: drop --from-dir"));
    }
    if let Some(version) = bare {
        return Ok(ReleaseSource::Graph(Box::new(selection(g, Choose::Version(version))?)));
    }
    if from_graph {
        return Ok(ReleaseSource::Graph(Box::new(selection(g, range_or_path(g)?)?)));
    }
    if g.channel.is_some() {
        return Err(usage("--channel chooses releases with --min-version/--max-version or a bare version"));
    }
    if listed.is_empty() {
        return match args.from_dir {
            Some(_) => Ok(ReleaseSource::Tree),
            None => Err(usage(
                "no release image given: use --from=REGISTRY/REPO:TAG (or file://REPO:TAG with --from-dir), a \
                 version (4.15.3), or --channel with --min-version and --max-version",
            )),
        };
    }
    let refs = listed.iter().map(|text| listed_ref(text, args.from_dir.is_some())).collect::<anyhow::Result<_>>()?;
    Ok(ReleaseSource::Listed(refs))
}

/// The release a bare positional argument names: `4.15.3` or `v4.15.3`; `None` for an image
/// reference. `4.15` (a minor version, which would otherwise be taken as the image
/// `docker.io/library/4.15`) is explained.
fn bare_version(text: &str) -> anyhow::Result<Option<Version>> {
    let plain = text.strip_prefix('v').unwrap_or(text);
    if let Ok(version) = plain.parse::<Version>() {
        return Ok(Some(version));
    }
    let parts: Vec<&str> = plain.split('.').collect();
    if parts.len() == 2 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(usage(format!(
            "{text} is a minor version, not a release: give a release such as {plain}.0, or choose releases with \
             --channel=stable-{plain} --min-version and --max-version"
        )));
    }
    Ok(None)
}

/// Whether the releases are read from a `file://` tree.
fn reads_disk(source: &ReleaseSource) -> bool {
    matches!(source, ReleaseSource::Listed(list) if list.iter().any(|r| r.location == Location::Disk))
}

/// The directory `file://` references use when no folder is given, as oc does.
fn current_dir() -> anyhow::Result<PathBuf> {
    use anyhow::Context as _;
    std::env::current_dir().context("failed to read the current directory (for a file:// reference)")
}

/// One `--from`, consistent with `--from-dir` (a `file://` one without it reads the
/// current directory).
fn listed_ref(text: &str, from_dir: bool) -> anyhow::Result<ImageRef> {
    let source = ImageRef::parse(text)?;
    match (&source.location, from_dir) {
        (Location::Registry(_), true) => {
            Err(usage(format!("--from-dir only reads file:// sources, but --from={text} is a registry")))
        }
        _ => Ok(source),
    }
}

fn range_or_path(g: &GraphArgs) -> anyhow::Result<Choose> {
    let (Some(min), Some(max)) = (g.min_version.as_deref(), g.max_version.as_deref()) else {
        return Err(usage("choosing releases from the update graph needs both --min-version and --max-version"));
    };
    let (min, max) = (version_arg("--min-version", min)?, version_arg("--max-version", max)?);
    if min > max {
        return Err(usage(format!("--min-version={min} is above --max-version={max}")));
    }
    Ok(match g.shortest_path {
        false => Choose::Range { min, max },
        true => {
            let kinds = if g.no_conditional_updates { EdgeKinds::PlainOnly } else { EdgeKinds::All };
            Choose::ShortestPath { from: min, to: max, kinds }
        }
    })
}

fn version_arg(what: &str, text: &str) -> anyhow::Result<Version> {
    text.parse().map_err(|e| usage(format!("{what}: {e}")))
}

/// Where the graph comes from, for which channel and architecture.
pub fn selection(g: &GraphArgs, choose: Choose) -> anyhow::Result<GraphSelection> {
    if g.channel.is_none() && !matches!(choose, Choose::Version(_)) {
        return Err(usage("choosing releases from the update graph needs --channel (e.g. --channel=stable-4.15)"));
    }
    let source = match &g.graph_file {
        Some(path) => GraphSource::File(path.clone()),
        None => GraphSource::Service(g.update_service.clone()),
    };
    Ok(GraphSelection { source, channel: g.channel.clone(), arch: g.arch.clone(), choose })
}

/// The graph selection of `path` (a range or a shortest path; never a bare version).
pub fn path_selection(g: &GraphArgs) -> anyhow::Result<GraphSelection> {
    selection(g, range_or_path(g)?)
}

/// The job the flags describe.
pub fn job(args: &MirrorArgs) -> anyhow::Result<Job> {
    let opts = Options::from_args(args)?;
    let signatures = signature_policy(args, args.to_dir.as_ref());
    let sigstore = sigstore_policy(&args.signature)?;
    let graph_data = graph_data(args, opts.to_dir.is_some())?;
    Ok(Job {
        releases: opts.source,
        from_dir: opts.from_dir,
        target: opts.target,
        to_dir: opts.to_dir,
        since: args.since.iter().map(|p| since_folder(p)).collect(),
        archive_size: args
            .archive_size
            .as_deref()
            .map(|t| {
                release_mirror::disk::parse_size(t)
                    .map_err(|e| release_mirror::exit::usage(format!("--archive-size: {e}")))
            })
            .transpose()?,
        dry_run: args.dry_run || args.to_mirror,
        to_mirror: args.to_mirror,
        http: http_settings(&args.http),
        registry: registry::Settings {
            auth_file: args.registry.registry_config.clone(),
            tries: args.registry.retries,
            stall_timeout: args.registry.stall_timeout,
        },
        blob_check: if args.skip_verification { BlobCheck::LengthOnly } else { BlobCheck::Digest },
        tree_check: if args.verify { TreeCheck::Contents } else { TreeCheck::Sizes },
        concurrency: args.max_per_registry.map_or(Concurrency::Adaptive, |n| Concurrency::Fixed(usize::from(n))),
        signatures,
        sigstore,
        graph_data,
    })
}

/// The tree folder of `--since`: given as such, or as its `release-mirror/releases.json`.
fn since_folder(path: &std::path::Path) -> PathBuf {
    let record = path.ends_with("release-mirror/releases.json");
    match path.parent().and_then(std::path::Path::parent) {
        Some(root) if record => {
            if root.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                root.to_path_buf()
            }
        }
        _ => path.to_path_buf(),
    }
}

/// `--graph-data-image` with its tarball (default: the update service's endpoint) and base.
fn graph_data(args: &MirrorArgs, to_dir: bool) -> anyhow::Result<Option<GraphDataJob>> {
    let flags = &args.update_service;
    let Some(repo) = &flags.graph_data_image else { return Ok(None) };
    let image = ImageRef::parse_repository(repo)?;
    if image.location == Location::Disk && !to_dir {
        return Err(usage(format!("--graph-data-image={repo} is a file:// repository: it needs --to-dir")));
    }
    let source = match &flags.graph_data {
        Some(text) if text.starts_with("http://") || text.starts_with("https://") => GraphDataSource::Url(text.clone()),
        Some(path) => GraphDataSource::File(PathBuf::from(path)),
        None => GraphDataSource::Url(osus::default_url(&args.graph.update_service)),
    };
    let base = ImageRef::parse(&flags.graph_data_base)?;
    Ok(Some(GraphDataJob { image, source, base }))
}

/// What the command line prints, and how: the binary's business, not the job's.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// The summary on stdout: oc's text, or the versioned JSON document.
    pub format: cli::OutputFormat,
    /// Mirror configuration printed at the end of the text summary.
    pub instructions: Instructions,
    /// No progress or log lines (errors and warnings still show).
    pub quiet: bool,
    /// Detail in the log (0: normal).
    pub verbose: u8,
}

/// The output settings of a mirror run.
pub fn output(args: &MirrorArgs) -> Output {
    Output {
        format: args.output,
        instructions: match args.print_mirror_instructions {
            cli::Instructions::Idms => Instructions::Idms,
            cli::Instructions::Icsp => Instructions::Icsp,
            cli::Instructions::None => Instructions::None,
        },
        quiet: args.quiet,
        verbose: args.verbose,
    }
}

/// How every HTTP client connects (`--certificate-authority`, `--insecure`).
pub fn http_settings(args: &cli::HttpArgs) -> http::Settings {
    http::Settings {
        certificate_authority: args.certificate_authority.clone(),
        insecure: args.insecure,
        update_service_timeout: Some(args.update_service_timeout),
    }
}

/// Skip, or verify with these keys and stores; the ConfigMap goes to
/// `--release-image-signature-to-dir`, else `<to-dir>/config`; applied when asked.
fn signature_policy(args: &MirrorArgs, to_dir: Option<&PathBuf>) -> SignaturePolicy {
    let flags = &args.signature;
    if flags.skip_release_image_signature {
        return SignaturePolicy::Skip;
    }
    SignaturePolicy::Verify(SignatureCheck {
        keys: flags.keys.clone(),
        stores: flags.stores.clone(),
        store_timeout: flags.release_image_signature_store_timeout,
        write_to: flags.release_image_signature_to_dir.clone().or_else(|| to_dir.map(|d| d.join("config"))),
        apply: flags.apply_release_image_signature.then(|| ApplySignature {
            cluster: ClusterTarget {
                kubeconfig: args.cluster.kubeconfig.clone(),
                context: args.cluster.context.clone(),
            },
            overwrite: flags.overwrite,
        }),
    })
}

/// `--sigstore` and `--sigstore-key`, apart from the GPG flags (a key is no use when skipped).
fn sigstore_policy(flags: &cli::SignatureArgs) -> anyhow::Result<SigstorePolicy> {
    let mode = match flags.sigstore {
        cli::SigstoreMode::Require => SigstoreMode::Require,
        cli::SigstoreMode::Copy => SigstoreMode::Copy,
        cli::SigstoreMode::Skip => SigstoreMode::Skip,
    };
    if mode == SigstoreMode::Skip && !flags.sigstore_keys.is_empty() {
        return Err(usage("--sigstore-key has no use with --sigstore=skip"));
    }
    Ok(SigstorePolicy { mode, keys: flags.sigstore_keys.clone() })
}

/// `--to-release-image` needs a tag (or digest) to store the release under.
fn release_image_ref(text: &str) -> anyhow::Result<ImageRef> {
    let r = ImageRef::parse(text)?;
    if r.tag.is_none() {
        return Err(usage(format!("--to-release-image={text} needs a tag, e.g. {text}:4.15.0-x86_64")));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn parse(args: &[&str]) -> anyhow::Result<Options> {
        let cli = Cli::try_parse_from(std::iter::once("kubectl-release_mirror").chain(args.iter().copied())).unwrap();
        Options::from_args(&cli.mirror)
    }

    fn usage_text(args: &[&str]) -> String {
        let err = parse(args).unwrap_err();
        assert_eq!(release_mirror::exit::code_for(&err), release_mirror::exit::Code::Usage, "{err}");
        err.to_string()
    }

    #[test]
    fn registry_to_registry() {
        let o = parse(&["--from=q.io/ocp/release:4.1.0-x86_64", "--to=m.io:5000/ocp/release"]).unwrap();
        let ReleaseSource::Listed(list) = &o.source else { panic!("a listed release: {:?}", o.source) };
        assert_eq!(list.iter().map(ToString::to_string).collect::<Vec<_>>(), ["q.io/ocp/release:4.1.0-x86_64"]);
        assert_eq!(o.target.to.to_string(), "m.io:5000/ocp/release");
    }

    fn job_of(args: &[&str]) -> anyhow::Result<Job> {
        let cli = Cli::try_parse_from(std::iter::once("kubectl-release_mirror").chain(args.iter().copied())).unwrap();
        job(&cli.mirror)
    }

    #[test]
    fn the_update_service_flags_give_a_release_repo_and_a_graph_data_job() {
        let args = ["--from=q.io/a:1", "--to=m.io/x", "--to-release-repo=m.io/releases", "--graph-data-image=m.io/gd"];
        let job = job_of(&args).unwrap();
        assert_eq!(job.target.release_repo.map(|r| r.to_string()).as_deref(), Some("m.io/releases"));
        let g = job.graph_data.expect("a graph-data job");
        let url = "https://api.openshift.com/api/upgrades_info/graph-data";
        assert_eq!((g.image.to_string(), g.source), ("m.io/gd".to_string(), GraphDataSource::Url(url.into())));
        assert_eq!(g.base.to_string(), "registry.access.redhat.com/ubi9/ubi:latest");
        let service =
            job_of(&[&args[..], &["--update-service=http://127.0.0.1:9/g", "--graph-data=./gd.tgz"]].concat());
        assert_eq!(service.unwrap().graph_data.unwrap().source, GraphDataSource::File("./gd.tgz".into()));
        let by_service = job_of(&[&args[..], &["--update-service=http://127.0.0.1:9/g"]].concat()).unwrap();
        let url = "http://127.0.0.1:9/api/upgrades_info/graph-data";
        assert_eq!(by_service.graph_data.unwrap().source, GraphDataSource::Url(url.into()));
    }

    #[test]
    fn update_service_repositories_must_match_the_destination() {
        let disk_repo = ["--from=q.io/a:1", "--to=m.io/x", "--to-release-repo=file://releases"];
        assert!(usage_text(&disk_repo).contains("--to-release-repo must go to the same kind of destination"));
        let err = job_of(&["--from=q.io/a:1", "--to=m.io/x", "--graph-data-image=file://gd"]).unwrap_err();
        assert!(err.to_string().contains("is a file:// repository: it needs --to-dir"), "{err}");
        assert_eq!(release_mirror::exit::code_for(&err), release_mirror::exit::Code::Usage);
        let both = ["kubectl-release_mirror", "--from=q.io/a:1", "--to=m.io/x", "--to-release-repo=m.io/r"];
        assert!(Cli::try_parse_from([&both[..], &["--to-release-image=m.io/r:1"]].concat()).is_err(), "conflict");
    }

    #[test]
    fn to_dir_defaults_to_openshift_release() {
        let o = parse(&["q.io/ocp/release:4.1", "--to-dir=/tmp/m"]).unwrap();
        assert_eq!(o.target.to.to_string(), "file://openshift/release");
    }

    #[test]
    fn names_what_is_missing_or_inconsistent() {
        assert!(usage_text(&["--to=m.io/x"]).contains("no release image"));
        assert!(usage_text(&["--from=q.io/a:1"]).contains("no destination"));

        assert!(usage_text(&["--from=q.io/a:1", "--to=m.io/x:tag"]).contains("takes no tag"));
        assert!(usage_text(&["--from=Q.IO/Bad:1", "--to=m.io/x"]).contains("\"Q.IO/Bad:1\""));
        assert!(usage_text(&["--from=q.io/a:1", "--to=m.io/x", "--to-release-image=m.io/r"]).contains("needs a tag"));
    }

    #[test]
    fn graph_flags_choose_a_range_a_path_or_a_bare_version() {
        let range = parse(&["--channel=stable-4.15", "--min-version=4.15.0", "--max-version=4.15.3", "--to=m.io/x"]);
        let Ok(Options { source: ReleaseSource::Graph(g), .. }) = range else { panic!("a graph selection") };
        assert!(matches!(g.choose, Choose::Range { .. }), "{g:?}");
        assert_eq!((g.channel.as_deref(), g.arch.as_str()), (Some("stable-4.15"), "amd64"));
        let path =
            parse(&["--channel=c", "--min-version=4.1.0", "--max-version=4.2.0", "--shortest-path", "--to=m.io/x"]);
        let Ok(Options { source: ReleaseSource::Graph(g), .. }) = path else { panic!("a graph selection") };
        assert!(matches!(g.choose, Choose::ShortestPath { kinds: EdgeKinds::All, .. }), "{g:?}");
        for text in ["v4.15.3", "4.15.3"] {
            let Ok(Options { source: ReleaseSource::Graph(g), .. }) = parse(&[text, "--to=m.io/x"]) else {
                panic!("{text}: a graph selection")
            };
            assert!(matches!(&g.choose, Choose::Version(v) if v.to_string() == "4.15.3"), "{g:?}");
        }
        let minor = parse(&["4.15", "--to=m.io/x"]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(minor.starts_with("4.15 is a minor version, not a release: give a release such as 4.15.0"), "{minor}");
        let both = parse(&["4.15.3", "--min-version=4.15.1", "--to=m.io/x"]).err().map(|e| e.to_string());
        assert!(both.unwrap_or_default().starts_with("a bare version names one release"), "--min-version not ignored");
        let bare = parse(&["4.15.3", "--to=m.io/x"]);
        let Ok(Options { source: ReleaseSource::Graph(g), .. }) = bare else { panic!("a graph selection") };
        assert!(matches!(g.choose, Choose::Version(_)) && g.channel.is_none(), "{g:?}");
        let many = parse(&["--from=q.io/a:1", "--from=q.io/a:2", "--to=m.io/x"]);
        assert!(matches!(many, Ok(Options { source: ReleaseSource::Listed(ref l), .. }) if l.len() == 2));
        let tree = parse(&["--from-dir=/media", "--to=m.io/x"]);
        assert!(matches!(tree, Ok(Options { source: ReleaseSource::Tree, .. })));
    }

    #[test]
    fn file_references_without_a_folder_use_the_current_directory_as_oc_does() {
        let cwd = std::env::current_dir().expect("cwd");
        let from = parse(&["--from=file://openshift/release:1", "--to=m.io/x"]).expect("valid");
        assert_eq!(from.from_dir.as_deref(), Some(cwd.as_path()));
        let to = parse(&["--from=q.io/a:1", "--to=file://openshift/release"]).expect("valid");
        assert_eq!(to.to_dir.as_deref(), Some(cwd.as_path()));
    }

    #[test]
    fn to_dir_with_a_registry_to_only_receives_the_signature_configmap() {
        let args = ["--from=q.io/a:1", "--to=m.io/x", "--to-dir=/media/usb"];
        let o = parse(&args).expect("valid");
        assert_eq!((o.target.to.to_string().as_str(), o.to_dir), ("m.io/x", None));
        let cli = Cli::try_parse_from(std::iter::once("k").chain(args)).expect("parse");
        let SignaturePolicy::Verify(check) = job(&cli.mirror).expect("job").signatures else { panic!("verify") };
        assert_eq!(check.write_to.as_deref(), Some(std::path::Path::new("/media/usb/config")));
    }

    #[test]
    fn sigstore_flags_are_separate_from_the_gpg_ones() {
        let job_of = |extra: &[&str]| {
            let args = ["k", "--from=q.io/a:1", "--to=m.io/x"].into_iter().chain(extra.iter().copied());
            job(&Cli::try_parse_from(args).expect("parse").mirror)
        };
        assert_eq!(job_of(&[]).expect("job").sigstore, SigstorePolicy { mode: SigstoreMode::Require, keys: vec![] });
        let gpg = job_of(&["--skip-release-image-signature"]).expect("job");
        assert!(matches!(gpg.signatures, SignaturePolicy::Skip) && gpg.sigstore.mode == SigstoreMode::Require);
        let copy = job_of(&["--sigstore=copy", "--sigstore-key=a.pem", "--sigstore-key=b.pem"]).expect("job");
        let keys: Vec<PathBuf> = vec!["a.pem".into(), "b.pem".into()];
        assert_eq!((copy.sigstore.mode, copy.sigstore.keys), (SigstoreMode::Copy, keys));
        assert!(matches!(copy.signatures, SignaturePolicy::Verify(ref c) if c.keys.is_empty()), "GPG keys untouched");
        assert_eq!(job_of(&["--sigstore=skip"]).expect("job").sigstore.mode, SigstoreMode::Skip);
        let err = job_of(&["--sigstore=skip", "--sigstore-key=a.pem"]).unwrap_err();
        let usage = release_mirror::exit::code_for(&err) == release_mirror::exit::Code::Usage;
        assert!(usage && err.to_string().contains("--sigstore-key"), "{err}");
    }

    #[test]
    fn graph_flags_that_do_not_fit_are_usage_errors() {
        assert!(usage_text(&["--min-version=4.1.0", "--max-version=4.2.0", "--to=m.io/x"]).contains("--channel"));
        assert!(usage_text(&["--channel=c", "--min-version=4.1.0", "--to=m.io/x"]).contains("both --min-version"));
        assert!(usage_text(&["--channel=c", "--min-version=4.2.0", "--max-version=4.1.0", "--to=m.io/x"])
            .contains("is above"));
        assert!(usage_text(&["--channel=c", "--min-version=4.x", "--max-version=4.1.0", "--to=m.io/x"])
            .contains("--min-version: invalid version"));
        assert!(usage_text(&[
            "--from=q.io/a:1",
            "--channel=c",
            "--min-version=4.1.0",
            "--max-version=4.2.0",
            "--to=m.io/x"
        ])
        .contains("not both"));
        assert!(usage_text(&["--from=q.io/a:1", "--channel=c", "--to=m.io/x"]).contains("--channel chooses"));
    }

    #[test]
    fn clap_rejects_conflicting_flags() {
        let conflict = Cli::try_parse_from([
            "k",
            "--from=q.io/a:1",
            "--to=m.io/x",
            "--to-release-image=m.io/r:1",
            "--skip-release-image",
        ]);
        assert!(conflict.unwrap_err().to_string().contains("cannot be used with"));
        let overwrite = Cli::try_parse_from(["k", "--from=q.io/a:1", "--to=m.io/x", "--overwrite"]);
        assert!(overwrite.unwrap_err().to_string().contains("--apply-release-image-signature"));
        let both = Cli::try_parse_from(["k", "--from=q.io/a:1", "q.io/b:1", "--to=m.io/x"]);
        assert!(both.is_err());
    }
}
