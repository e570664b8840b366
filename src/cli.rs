//! Command-line definitions. The doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Mirror an OpenShift release into a restricted or air-gapped network.
///
/// Copies the release image and every component image its payload references, digests
/// unchanged, from a registry or a --from-dir tree to a registry or a --to-dir tree. Prints
/// the mirror configuration (ImageDigestMirrorSet or ImageContentSourcePolicy) and the
/// upgrade command to use afterwards. Flags follow `oc adm release mirror`.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl release-mirror",
    bin_name = "kubectl release-mirror",
    version,
    args_conflicts_with_subcommands = true,
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub mirror: MirrorArgs,
}

const EXAMPLES: &str = "\
Examples:
  # Mirror a release from its registry to a mirror registry
  kubectl release-mirror --from=quay.io/openshift-release-dev/ocp-release:4.15.0-x86_64 \\
      --to=mirror.internal:5000/ocp/release

  # Mirror, then create the signature ConfigMap in the current kubeconfig context's cluster
  kubectl release-mirror --from=quay.io/openshift-release-dev/ocp-release:4.15.0-x86_64 \\
      --to=mirror.internal:5000/ocp/release --apply-release-image-signature

  # Air gap, connected side: write the release and its signature ConfigMap to removable media
  kubectl release-mirror --from=quay.io/openshift-release-dev/ocp-release:4.15.0-x86_64 \\
      --to-dir=/media/usb/mirror

  # Air gap, disconnected side: upload from the media to the internal registry
  kubectl release-mirror --from-dir=/media/usb/mirror \\
      --from=file://openshift/release:4.15.0-x86_64 --to=registry.internal/ocp/release

  # Push to a registry and write the signature ConfigMap to a folder
  kubectl release-mirror --from=quay.io/openshift-release-dev/ocp-release:4.15.0-x86_64 \\
      --to=mirror.internal:5000/ocp/release --release-image-signature-to-dir=./signatures

  # See what would be copied, without copying anything; summary as JSON for scripts
  kubectl release-mirror --from=SRC --to=DST --dry-run -o json";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify one release signature offline, against a key file, for a release digest.
    ///
    /// Applies the cluster-version operator's rules: the OpenPGP signed message must be valid
    /// for a non-revoked key or subkey of the keyring (key expiry is reported, not enforced),
    /// its JSON must have no unknown fields, type "atomic container signature", the given
    /// digest and a non-empty identity. Prints the identity, digest, key fingerprint and
    /// creation time and exits 0; otherwise prints the reason and exits 3.
    #[command(after_help = VERIFY_EXAMPLES)]
    VerifySignature(VerifySignatureArgs),

    /// Print the releases an upgrade path or range selects, without touching any registry.
    ///
    /// Reads the update graph (--update-service or --graph-file) for --channel and --arch and
    /// prints the releases in upgrade order and, with --shortest-path, each hop with the risks
    /// of conditional updates. `-o json` gives {"releases":[{"version","payload"}],
    /// "hops":[{"from","to","conditional","risks":[{"name","url","message"}]}]} (docs/output.md).
    #[command(after_help = PATH_EXAMPLES)]
    Path(PathArgs),

    /// Print a shell completion script.
    ///
    /// bash: `source <(kubectl release-mirror completion bash)`; zsh: write it to a file named
    /// `_kubectl-release_mirror` in a folder of your $fpath; fish: write it to
    /// ~/.config/fish/completions/kubectl-release_mirror.fish.
    Completion {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the manual page (roff), generated from the same definitions as --help.
    ///
    /// `kubectl release-mirror man > kubectl-release_mirror.1 && man ./kubectl-release_mirror.1`
    Man,
}

const VERIFY_EXAMPLES: &str = "\
Examples:
  # Check a signature carried across the air gap
  kubectl release-mirror verify-signature \\
      --digest=sha256:0da6316466d60a3a4535d5fed3589feb0391989982fba59d47d4c729912d6363 \\
      --signature=signature-1 --key=verifier-public-key-redhat-release";

const PATH_EXAMPLES: &str = "\
Examples:
  # The fewest-hop path from 4.14.10 to 4.15.23 (conditional updates allowed, their risks shown)
  kubectl release-mirror path --channel=stable-4.15 --min-version=4.14.10 --max-version=4.15.23 --shortest-path

  # Every release of a channel between two versions, from a saved graph, as JSON
  kubectl release-mirror path --graph-file=graph.json --channel=stable-4.15 \\
      --min-version=4.15.0 --max-version=4.15.5 -o json";

/// Flags of `path`.
#[derive(Debug, Args)]
pub struct PathArgs {
    #[command(flatten)]
    pub graph: GraphArgs,

    #[command(flatten)]
    pub http: HttpArgs,

    /// Output format on stdout.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// The disconnected update service: the graph-data image and its inputs.
#[derive(Debug, Args, Clone)]
pub struct UpdateServiceArgs {
    /// Build the graph-data image of an OpenShift Update Service and store it in this
    /// repository (a registry repository, or file://REPO inside --to-dir); with --from-dir,
    /// upload the image the tree records. Pair it with --to-release-repo.
    #[arg(long, value_name = "REPO", help_heading = "Update service")]
    pub graph_data_image: Option<String>,

    /// The graph-data tarball: a file or an http(s) URL [default: the update service's
    /// /api/upgrades_info/graph-data].
    #[arg(long, value_name = "FILE|URL", requires = "graph_data_image", help_heading = "Update service")]
    pub graph_data: Option<String>,

    /// Base image of the graph-data image: it needs bash, cp and sleep.
    #[arg(long, value_name = "IMAGE", default_value = release_mirror::osus::DEFAULT_BASE, help_heading = "Update service")]
    pub graph_data_base: String,
}

/// Choosing releases from the update graph.
#[derive(Debug, Args, Clone)]
pub struct GraphArgs {
    /// Update channel to choose releases from (e.g. stable-4.15).
    #[arg(long, value_name = "CHANNEL", help_heading = "Upgrade path")]
    pub channel: Option<String>,

    /// Lowest release to mirror (the cluster's current version for --shortest-path).
    #[arg(long, value_name = "VERSION", help_heading = "Upgrade path")]
    pub min_version: Option<String>,

    /// Highest release to mirror (the target of --shortest-path).
    #[arg(long, value_name = "VERSION", help_heading = "Upgrade path")]
    pub max_version: Option<String>,

    /// Only the releases on the fewest-hop path from --min-version to --max-version (plain and
    /// conditional updates; among equally short paths, the fewest conditional hops).
    #[arg(long, requires_all = ["min_version", "max_version"], help_heading = "Upgrade path")]
    pub shortest_path: bool,

    /// With --shortest-path: use plain updates only, no conditional ones.
    #[arg(long, requires = "shortest_path", help_heading = "Upgrade path")]
    pub no_conditional_updates: bool,

    /// Update service to ask for the graph (GET URL?channel=C&arch=A).
    #[arg(long, value_name = "URL", default_value = release_mirror::graph::DEFAULT_UPDATE_SERVICE, help_heading = "Upgrade path")]
    pub update_service: String,

    /// Read the graph from this file (a saved update-service answer) instead of the service.
    #[arg(long, value_name = "FILE", help_heading = "Upgrade path")]
    pub graph_file: Option<PathBuf>,

    /// Architecture in the graph's names.
    #[arg(long, value_name = "ARCH", default_value = "amd64", value_parser = clap::builder::PossibleValuesParser::new(release_mirror::graph::ARCHES), help_heading = "Upgrade path")]
    pub arch: String,
}

/// Flags of `verify-signature`.
#[derive(Debug, Args)]
pub struct VerifySignatureArgs {
    /// The release digest the signature must sign (the digest of the release image or list).
    #[arg(long, value_name = "sha256:HEX", required_unless_present = "sigstore")]
    pub digest: Option<release_mirror::digest::Digest>,

    /// The signature file: a raw OpenPGP signed message (signature-N of a store).
    #[arg(long, value_name = "FILE", required_unless_present = "sigstore")]
    pub signature: Option<PathBuf>,

    /// The keyring to verify with (armored or binary OpenPGP public keys); with --sigstore,
    /// a PEM public key (RSA or ECDSA).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    /// Check the sigstore (cosign) signature of this image instead: REGISTRY/REPO@sha256:…,
    /// or file://REPO@sha256:… with --from-dir (then --identity); for a list, each platform
    /// image's. Exit 3 unless every one verifies.
    #[arg(long, value_name = "IMAGE", conflicts_with_all = ["digest", "signature"])]
    pub sigstore: Option<String>,

    /// With --sigstore: the oc tree file:// images are read from.
    #[arg(long, value_name = "DIR", requires = "sigstore")]
    pub from_dir: Option<PathBuf>,

    /// With --sigstore: the reference the signature must name (matchRepoDigestOrExact: its
    /// repository); default the image's own.
    #[arg(long, value_name = "REF", requires = "sigstore")]
    pub identity: Option<String>,

    /// With --sigstore: plain HTTP and unverified TLS to the registry.
    #[arg(long, requires = "sigstore")]
    pub insecure: bool,

    /// Output format on stdout.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// The mirror command's flags (the default command).
#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// Release image to mirror: REGISTRY/REPO:TAG, REGISTRY/REPO@sha256:…, or file://REPO:TAG with
    /// --from-dir. Repeat it to mirror several releases in one run (list them in upgrade order).
    #[arg(long, value_name = "REF", help_heading = "Source")]
    pub from: Vec<String>,

    /// Release image to mirror (same as --from), or a bare version (4.15.3) looked up in the
    /// update graph: --channel, else fast-X.Y, stable-X.Y, candidate-X.Y.
    #[arg(value_name = "REF|VERSION", conflicts_with = "from")]
    pub source: Option<String>,

    /// Read file:// sources from this directory (oc's disk layout). Without --from, every
    /// release the tree records is uploaded.
    #[arg(long, value_name = "DIR", help_heading = "Source")]
    pub from_dir: Option<PathBuf>,

    #[command(flatten)]
    pub graph: GraphArgs,

    /// Destination repository (no tag); the release is tagged <version>-<arch>, components <version>-<arch>-<name>.
    #[arg(long, value_name = "REPO", help_heading = "Destination")]
    pub to: Option<String>,

    /// Put the release image at this reference instead of <to>:<version>-<arch>.
    #[arg(long, value_name = "REF", conflicts_with = "skip_release_image", help_heading = "Destination")]
    pub to_release_image: Option<String>,

    /// Do not mirror the release image itself, only its components.
    #[arg(long, help_heading = "Destination")]
    pub skip_release_image: bool,

    /// Put every release image of the run in this repository (tagged <version>-<arch>);
    /// components stay in --to. An update service reads every tag of its release repository.
    #[arg(long, value_name = "REPO", conflicts_with_all = ["to_release_image", "skip_release_image"], help_heading = "Destination")]
    pub to_release_repo: Option<String>,

    /// Write to this directory in oc's disk layout instead of a registry.
    #[arg(long, value_name = "DIR", help_heading = "Destination")]
    pub to_dir: Option<PathBuf>,

    /// With --to-dir: an earlier transfer (its folder, or its release-mirror/releases.json).
    /// The new tree holds only the blobs it, and the transfers it was based on, did not
    /// carry; its upload needs theirs first. Repeatable.
    #[arg(long, value_name = "TREE", requires = "to_dir", help_heading = "Destination")]
    pub since: Vec<PathBuf>,

    /// With --to-dir: write the tree as numbered tar segments of at most SIZE (700MiB, 4GiB;
    /// K, M, G and KiB, MiB, GiB are powers of 1024), with no symbolic links, for FAT or
    /// exFAT media and transfer appliances. --from-dir reads them in place.
    #[arg(long, value_name = "SIZE", requires = "to_dir", help_heading = "Destination")]
    pub archive_size: Option<String>,

    /// Accepted for compatibility: manifest lists are always kept whole.
    #[arg(long, help_heading = "Destination")]
    pub keep_manifest_list: bool,

    /// Plan and print what would be copied; copy, write and apply nothing.
    #[arg(long, help_heading = "Behaviour")]
    pub dry_run: bool,

    /// Print one `SOURCE DESTINATION` line per image, as oc does, and copy nothing (the
    /// release payload is read; signatures are not checked).
    #[arg(long, help_heading = "Behaviour")]
    pub to_mirror: bool,

    /// Do not compare blob contents with their digests (not recommended: only for a registry
    /// known to serve blobs under wrong digests). Lengths and manifests are still checked.
    #[arg(long, help_heading = "Behaviour")]
    pub skip_verification: bool,

    /// With --to-dir: read and hash every blob already in the tree and replace any whose
    /// content does not match its digest (slow: reads the whole tree). Without it a rerun
    /// checks that each blob is there with its size. With --from-dir --dry-run: check the
    /// media, hashing every blob (in segments too), asking no registry.
    #[arg(long, help_heading = "Behaviour")]
    pub verify: bool,

    /// Concurrent requests per registry, fixed. Without it blob transfers start at 6 and
    /// adapt to the link (up to 32: more while more bring more throughput, halved when a
    /// registry pushes back), and manifest reads and existence checks run 32 at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64), help_heading = "Behaviour")]
    pub max_per_registry: Option<u16>,

    /// Mirror configuration to print at the end (any case: ICSP works as oc takes it).
    #[arg(long, value_enum, ignore_case = true, value_name = "KIND", default_value_t = Instructions::Idms, help_heading = "Output")]
    pub print_mirror_instructions: Instructions,

    /// Output format of the end-of-run summary on stdout.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Text, help_heading = "Output")]
    pub output: OutputFormat,

    /// No progress bars or log lines on stderr (errors and warnings still show).
    #[arg(short, long, help_heading = "Output")]
    pub quiet: bool,

    /// More detail in the log on stderr (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, help_heading = "Output")]
    pub verbose: u8,

    #[command(flatten)]
    pub registry: RegistryArgs,

    #[command(flatten)]
    pub http: HttpArgs,

    #[command(flatten)]
    pub signature: SignatureArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    #[command(flatten)]
    pub update_service: UpdateServiceArgs,
}

/// How every HTTPS connection is trusted: registries, the update service, signature stores.
#[derive(Debug, Args, Clone)]
pub struct HttpArgs {
    /// Allow plain HTTP to registries and unverified TLS to every server (registries, the
    /// update service, signature stores).
    #[arg(long, help_heading = "Connection")]
    pub insecure: bool,

    /// Extra CA bundle (PEM) to trust for every HTTPS server (registries, the update
    /// service, signature stores); a self-signed server certificate may be given as its
    /// own CA.
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub certificate_authority: Option<PathBuf>,

    /// Seconds the update service has for its whole answer. Hidden: the tests lower it to
    /// meet a service that never answers without waiting the default out.
    #[arg(long, value_name = "SECONDS", default_value = "120", value_parser = parse_seconds, hide = true)]
    pub update_service_timeout: std::time::Duration,
}

/// How to reach registries.
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    /// Registry credentials file (a pull secret). Default: REGISTRY_AUTH_FILE, then
    /// $XDG_RUNTIME_DIR/containers/auth.json, $XDG_CONFIG_HOME/containers/auth.json,
    /// $DOCKER_CONFIG/config.json (~/.docker), ~/.dockercfg; Docker credential helpers
    /// (credHelpers, credsStore) are run as docker-credential-<name> get.
    #[arg(short = 'a', long, value_name = "FILE", help_heading = "Registry")]
    pub registry_config: Option<PathBuf>,

    /// Tries per registry request (connection errors, 408, 429 and 5xx are retried with
    /// exponential backoff and jitter, honouring Retry-After).
    #[arg(long, value_name = "N", default_value_t = release_mirror::store::DEFAULT_TRIES, value_parser = clap::value_parser!(u32).range(1..=100), help_heading = "Registry")]
    pub retries: u32,

    /// Seconds a blob transfer may send nothing (or less than 1 KiB/s for that long) before
    /// it is resumed or restarted; each time spends one of the blob's --retries. A registry
    /// gets 4 times this long to begin an answer (an upload: counted from its last byte).
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds, help_heading = "Registry")]
    pub stall_timeout: std::time::Duration,
}

/// Release signatures.
#[derive(Debug, Args)]
pub struct SignatureArgs {
    /// Signature store to search instead of the payload's store-* URLs (https, http or file://;
    /// repeatable, searched in order).
    #[arg(long = "release-image-signature-store", value_name = "URL", help_heading = "Signatures")]
    pub stores: Vec<String>,

    /// Keyring file to verify with instead of the payload's verifier-public-key-* keyrings
    /// (armored or binary; repeatable, every keyring must be satisfied).
    #[arg(long = "release-image-signature-key", value_name = "FILE", help_heading = "Signatures")]
    pub keys: Vec<PathBuf>,

    /// Time allowed for each signature store request, in seconds (fractions allowed). A store
    /// that does not answer in time counts as a failed request and the next signature is tried.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds, help_heading = "Signatures")]
    pub release_image_signature_store_timeout: std::time::Duration,

    /// Mirror without verifying the release signature and write no signature ConfigMap
    /// (for unsigned CI/OKD builds).
    #[arg(
        long,
        conflicts_with_all = ["stores", "keys", "release_image_signature_to_dir", "apply_release_image_signature"],
        help_heading = "Signatures"
    )]
    pub skip_release_image_signature: bool,

    /// Write the signature ConfigMap here (default <to-dir>/config when --to-dir is set).
    #[arg(long, value_name = "DIR", help_heading = "Signatures")]
    pub release_image_signature_to_dir: Option<PathBuf>,

    /// After mirroring, create the signature ConfigMap in the cluster of the kubeconfig context.
    /// The cluster is checked before the copy (unusable: exit 5; its own keys reject the
    /// signature: exit 3); a failed apply leaves the mirror done and exits 4.
    #[arg(long, help_heading = "Signatures")]
    pub apply_release_image_signature: bool,

    /// With --apply-release-image-signature: update an existing ConfigMap instead of failing.
    #[arg(long, requires = "apply_release_image_signature", help_heading = "Signatures")]
    pub overwrite: bool,

    /// Sigstore (cosign) signatures, the ones the nodes check from 4.21: require them where
    /// the payload's ClusterImagePolicy is enforced (missing or refused: exit 3, nothing
    /// copied), copy those that verify without requiring any, or skip them. Separate from
    /// the GPG signatures above.
    #[arg(long, value_enum, value_name = "MODE", default_value = "require", help_heading = "Signatures")]
    pub sigstore: SigstoreMode,

    /// A PEM public key (RSA or ECDSA) to check sigstore signatures with instead of the
    /// payload policy's key, for builds signed by another key (repeatable: any one may sign).
    #[arg(long = "sigstore-key", value_name = "FILE", help_heading = "Signatures")]
    pub sigstore_keys: Vec<PathBuf>,
}

/// What happens to sigstore (cosign) signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SigstoreMode {
    /// Required where the payload's ClusterImagePolicy is enforced (4.21 on).
    Require,
    /// Copied when they exist, never required.
    Copy,
    /// Neither looked for nor copied.
    Skip,
}

/// Which cluster to apply to (kubectl semantics).
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE", help_heading = "Cluster")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use.
    #[arg(long, value_name = "NAME", help_heading = "Cluster")]
    pub context: Option<String>,
}

/// Mirror configuration printed at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Instructions {
    /// ImageDigestMirrorSet and install-config imageDigestSources (OpenShift 4.13+).
    Idms,
    /// ImageContentSourcePolicy and install-config imageContentSources (older clusters).
    Icsp,
    /// Print no mirror configuration.
    None,
}

/// Format of the summary on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable, as `oc adm release mirror` prints it.
    Text,
    /// One versioned JSON document (see docs/output.md).
    Json,
}

/// A positive number of seconds, at most an hour.
fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 3600.0 => Ok(std::time::Duration::from_secs_f64(secs)),
        _ => Err(format!("{text:?} is not a number of seconds between 0 and 3600")),
    }
}
