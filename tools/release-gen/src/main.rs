//! `release-gen`: make a synthetic OpenShift release (or a series of them along an upgrade
//! path) and push it to a registry or write it as oc's disk tree. Prints a JSON line per
//! release describing what it made.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use release_gen::generator::generate;
use release_gen::http::Client;
use release_gen::profile::{names_from_image_references, SizeProfile};
use release_gen::spec::{series, union, ImagePolicySpec, Media, ReleaseSpec};

/// Make a synthetic OpenShift release for demos and benchmarks.
#[derive(Debug, Parser)]
struct Args {
    /// Push to this registry (`host:port`); the payload's image-references name it.
    #[arg(long, conflicts_with = "to_dir", required_unless_present = "to_dir")]
    push: Option<String>,
    /// Registry is plain HTTP (with --push).
    #[arg(long)]
    insecure: bool,
    /// Write oc's disk tree here instead.
    #[arg(long)]
    to_dir: Option<PathBuf>,
    /// Repository of the disk tree (with --to-dir).
    #[arg(long, default_value = "openshift/release")]
    disk_repo: String,
    /// Registry host the payload names when writing to disk.
    #[arg(long, default_value = "quay.example")]
    host: String,
    /// Repository prefix: the release goes to <prefix>/release, components to <prefix>/ocp-v4.0-art-dev.
    #[arg(long, default_value = "openshift-release-dev")]
    prefix: String,
    #[arg(long, default_value = "4.99.0")]
    version: String,
    /// Make a series of releases instead, oldest first (e.g. 4.99.0,4.99.1,4.100.0): each
    /// changes --changed-fraction of the components and keeps the others byte-identical to
    /// the release before, whose version its release-metadata names as `previous`. One JSON
    /// line per release; with --to-dir all go into the one tree. Replaces --version.
    #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with = "version")]
    series: Vec<String>,
    /// Share of the components that change from one release of --series to the next.
    #[arg(long, default_value_t = 0.25, requires = "series")]
    changed_fraction: f64,
    #[arg(long, default_value = "amd64")]
    arch: String,
    /// Number of components [default: 3, or every name of --names-from].
    #[arg(long)]
    components: Option<usize>,
    /// Take the component names from a real image-references file (its spec.tags[].name, in
    /// order), e.g. a release's `release-manifests/image-references`.
    #[arg(long)]
    names_from: Option<PathBuf>,
    /// Size the release like a real one, with this many GiB of unique layers: base stacks
    /// shared by most components, one to three layers per component (many small, most a few
    /// MiB to ~100 MiB, a few of hundreds of MiB, the CoreOS image in ~48 chunks), ~800
    /// payload manifests. Layers of 1 MiB or more are streamed, never held in memory.
    /// Replaces --layer-size and --shared-layers.
    #[arg(long)]
    total_gib: Option<f64>,
    /// With --series: also make release VERSION listing every distinct component image of
    /// the series (a changed component's later versions tagged <name>-<version>): the
    /// "union as one release" an upgrade-path mirror is compared with.
    #[arg(long, requires = "series")]
    union: Option<String>,
    /// Bytes of random content per unique layer.
    #[arg(long, default_value_t = 4096)]
    layer_size: usize,
    /// Base layers shared by every component.
    #[arg(long, default_value_t = 2)]
    shared_layers: usize,
    /// Components that are manifest lists (amd64 + arm64).
    #[arg(long, default_value_t = 0)]
    multi_arch: usize,
    /// One extra layer of this many bytes, streamed (never held in memory).
    #[arg(long)]
    big_layer: Option<u64>,
    #[arg(long, value_enum, default_value_t = MediaArg::Docker)]
    media: MediaArg,
    /// Payload signature key: NAME=FILE (armored public key) → verifier-public-key-NAME.
    #[arg(long, value_parser = pair)]
    key: Vec<(String, String)>,
    /// Payload signature store: NAME=URL → store-NAME.
    #[arg(long, value_parser = pair)]
    store: Vec<(String, String)>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Put a 4.22-shaped `openshift` ClusterImagePolicy in the payload, trusting this PEM
    /// public key (sigstore signatures of the release and component repositories).
    #[arg(long, value_name = "PEM")]
    image_policy_key: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MediaArg {
    Docker,
    Oci,
}

fn pair(text: &str) -> Result<(String, String), String> {
    let (k, v) = text.split_once('=').ok_or("expected NAME=VALUE")?;
    Ok((k.to_string(), v.to_string()))
}

fn main() -> std::process::ExitCode {
    release_gen::install_crypto();
    let args = Args::parse();
    match run(args) {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    for (name, file) in &args.key {
        let text = std::fs::read_to_string(file).map_err(|e| format!("failed to read key {file}: {e}"))?;
        keys.push((name.clone(), text));
    }
    let mut names = match &args.names_from {
        Some(path) => names_from_image_references(path)?,
        None => Vec::new(),
    };
    let components = match (args.components, names.len()) {
        (Some(n), 0) => n,
        (Some(n), have) if n <= have => n,
        (Some(n), have) => return Err(format!("--components {n}: the image-references names only {have}")),
        (None, 0) => 3,
        (None, have) => have,
    };
    names.truncate(components);
    let profile = match args.total_gib {
        None => None,
        Some(gib) if gib > 0.0 && gib < 1024.0 => {
            let all: Vec<String> = (0..components)
                .map(|i| names.get(i).cloned().unwrap_or_else(|| release_gen::spec::component_name(i)))
                .collect();
            let profile = SizeProfile::realistic(&all, (gib * (1u64 << 30) as f64) as u64, args.seed);
            let [small, medium, large] = profile.histogram();
            eprintln!(
                "size profile: {components} components, {:.2} GiB of layers: {small} under 1 MiB, {medium} under 100 MiB, {large} larger",
                profile.unique_layer_bytes() as f64 / (1u64 << 30) as f64
            );
            Some(std::sync::Arc::new(profile))
        }
        Some(gib) => return Err(format!("--total-gib {gib} is not between 0 and 1024")),
    };
    if args.union.is_some() && args.multi_arch > 0 {
        return Err("--union works on single-architecture components only (no --multi-arch)".into());
    }
    let spec = ReleaseSpec {
        version: args.version.clone(),
        arch: args.arch.clone(),
        components,
        names,
        profile,
        media: match args.media {
            MediaArg::Docker => Media::Docker,
            MediaArg::Oci => Media::Oci,
        },
        multi_arch_components: args.multi_arch,
        layer_size: args.layer_size,
        shared_layers: args.shared_layers,
        big_layer: args.big_layer,
        verification_keys: keys,
        stores: args.store.clone(),
        seed: args.seed,
        image_policy: match &args.image_policy_key {
            Some(file) => Some(ImagePolicySpec {
                key_pem: std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?,
                feature_set: None,
            }),
            None => None,
        },
        ..ReleaseSpec::default()
    };
    if !(0.0..=1.0).contains(&args.changed_fraction) {
        return Err(format!("--changed-fraction {} is not between 0 and 1", args.changed_fraction));
    }
    let mut specs = if args.series.is_empty() {
        vec![spec]
    } else {
        let versions: Vec<&str> = args.series.iter().map(String::as_str).collect();
        series(&spec, &versions, args.changed_fraction)
    };
    if let Some(version) = &args.union {
        if args.series.contains(version) {
            return Err(format!("--union {version} is also in --series"));
        }
        specs.push(union(&specs, version));
    }
    specs.iter().map(|spec| make(&args, spec)).collect()
}

/// Generate, push or write one release; its JSON line.
fn make(args: &Args, spec: &ReleaseSpec) -> Result<String, String> {
    let host = args.push.clone().unwrap_or_else(|| args.host.clone());
    let rel = generate(spec, &host, &args.prefix);
    let where_to = match (&args.push, &args.to_dir) {
        (Some(host), _) => {
            let scheme = if args.insecure { "http" } else { "https" };
            rel.push_with(&Client::new(&format!("{scheme}://{host}")));
            rel.release_ref()
        }
        (None, Some(dir)) => {
            release_gen::ocdisk::write_oc_tree(dir, &args.disk_repo, &rel)
                .map_err(|e| format!("failed to write {}: {e}", dir.display()))?;
            format!("file://{}:{}", args.disk_repo, rel.release_tag)
        }
        (None, None) => return Err("give --push HOST or --to-dir DIR".into()),
    };
    Ok(format!(
        r#"{{"release":"{where_to}","digest":"{}","tag":"{}","components":{},"blobs":{},"bytes":{}}}"#,
        rel.release_digest,
        rel.release_tag,
        rel.images.len(),
        rel.all_blob_digests().len(),
        rel.total_blob_bytes()
    ))
}
