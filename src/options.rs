//! Flags → one resolved [`Job`]: every default and conflict settled, every reference and
//! path parsed (pure; usage errors exit 2). The only code besides `main.rs` and `cli.rs`
//! that knows clap's types.

use std::path::PathBuf;

use release_mirror::cluster::ClusterTarget;
use release_mirror::graph::{EdgeKinds, GraphSource, Version};
use release_mirror::job::{
    ApplySignature, Choose, GraphSelection, Job, OutputFormat, OutputSettings, ReleaseSource, SignatureCheck,
    SignaturePolicy,
};
use release_mirror::mirror::{Concurrency, Instructions, Target, TreeCheck};
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
        Ok(Options {
            source,
            from_dir,
            target: Target { to, release_image, skip_release_image: args.skip_release_image },
            to_dir,
        })
    }
}

/// Which releases: a graph selection (`--min-version`/`--max-version`, or a bare version),
/// the `--from` list, or, with `--from-dir` alone, every release the tree records.
fn release_source(args: &MirrorArgs) -> anyhow::Result<ReleaseSource> {
    let g = &args.graph;
    let bare = args.source.as_deref().filter(|t| t.parse::<Version>().is_ok());
    let listed: Vec<&str> =
        args.from.iter().map(String::as_str).chain(args.source.as_deref().filter(|_| bare.is_none())).collect();
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
        return Ok(ReleaseSource::Graph(Box::new(selection(
            g,
            Choose::Version(version_arg("the release", version)?),
        )?)));
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
    Ok(Job {
        releases: opts.source,
        from_dir: opts.from_dir,
        target: opts.target,
        to_dir: opts.to_dir,
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
        output: OutputSettings {
            format: match args.output {
                cli::OutputFormat::Text => OutputFormat::Text,
                cli::OutputFormat::Json => OutputFormat::Json,
            },
            instructions: match args.print_mirror_instructions {
                cli::Instructions::Idms => Instructions::Idms,
                cli::Instructions::Icsp => Instructions::Icsp,
                cli::Instructions::None => Instructions::None,
            },
            quiet: args.quiet,
            verbose: args.verbose,
        },
    })
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
