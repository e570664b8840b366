//! One mirror run, resolved: the plain value the engine runs from. The command line builds
//! it in one place (the binary's `options.rs`), with every default and conflict settled and
//! every reference and path parsed; a library user builds it directly. Nothing here knows
//! clap, and nothing below it reads a flag.

use std::path::PathBuf;
use std::time::Duration;

use crate::cluster::ClusterTarget;
use crate::graph::{EdgeKinds, GraphSource, Version};
use crate::http;
use crate::mirror::{Concurrency, Target, TreeCheck};
use crate::reference::ImageRef;
use crate::registry;
use crate::store::BlobCheck;

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct Job {
    /// Which releases to mirror: listed, chosen from an update graph, or those a
    /// `--from-dir` tree records.
    pub releases: ReleaseSource,
    /// The tree `file://` sources are read from (`--from-dir`).
    pub from_dir: Option<PathBuf>,
    /// Where images go and how they are tagged.
    pub target: Target,
    /// The tree `file://` destinations are written to (`--to-dir`).
    pub to_dir: Option<PathBuf>,
    /// `--since`: earlier transfers (tree folders); a `--to-dir` tree then holds only the
    /// blobs they and the transfers they build on did not carry.
    pub since: Vec<PathBuf>,
    /// `--archive-size`: the `--to-dir` tree is written as numbered tar segments of at most
    /// this many bytes (no symbolic links), read in place by `--from-dir`.
    pub archive_size: Option<u64>,
    /// Plan and report only: copy, write and apply nothing.
    pub dry_run: bool,
    /// `--to-mirror`: print oc's `SOURCE DESTINATION` mapping lines and stop (no signature
    /// check, nothing read but the release payloads).
    pub to_mirror: bool,
    /// How every HTTP client connects (CA bundle, `--insecure`): registries, the update
    /// service and signature stores.
    pub http: http::Settings,
    /// How registries are reached (credentials, retries, stalls).
    pub registry: registry::Settings,
    /// How blob bytes are checked as they stream.
    pub blob_check: BlobCheck,
    /// How much of a `--to-dir` tree is checked before a rerun skips an image.
    pub tree_check: TreeCheck,
    /// Requests at once per registry: `--max-per-registry`, or adapted to the link.
    pub concurrency: Concurrency,
    /// Whether and how release signatures are verified, written and applied.
    pub signatures: SignaturePolicy,
    /// What happens to sigstore (cosign) signatures, the ones the nodes check.
    pub sigstore: SigstorePolicy,
    /// `--graph-data-image`: build (or upload) the graph-data image of a disconnected update
    /// service.
    pub graph_data: Option<crate::osus::GraphDataJob>,
}

impl Job {
    /// A job mirroring `release` to `target` with every default: signatures verified
    /// against the payload's keys and stores, nothing written or applied besides the images.
    pub fn new(release: ImageRef, target: Target) -> Job {
        Job {
            releases: ReleaseSource::Listed(vec![release]),
            from_dir: None,
            target,
            to_dir: None,
            since: Vec::new(),
            archive_size: None,
            dry_run: false,
            to_mirror: false,
            http: http::Settings::default(),
            registry: registry::Settings::default(),
            blob_check: BlobCheck::Digest,
            tree_check: TreeCheck::Sizes,
            concurrency: Concurrency::Adaptive,
            signatures: SignaturePolicy::Verify(SignatureCheck::default()),
            sigstore: SigstorePolicy::default(),
            graph_data: None,
        }
    }
}

/// Where the releases of a run come from.
#[derive(Debug, Clone)]
pub enum ReleaseSource {
    /// Release images given one by one (`--from`, repeatable), in upgrade order.
    Listed(Vec<ImageRef>),
    /// Chosen from an update graph.
    Graph(Box<GraphSelection>),
    /// Every release recorded in the `--from-dir` tree, in its recorded upgrade order.
    Tree,
}

/// Releases chosen from an update graph.
#[derive(Debug, Clone)]
pub struct GraphSelection {
    /// The update service, or a graph file saved earlier.
    pub source: GraphSource,
    /// `None` only for a bare version: then `fast-X.Y`, `stable-X.Y`, `candidate-X.Y`.
    pub channel: Option<String>,
    /// The graph's architecture name (`amd64`, `arm64`, `ppc64le`, `s390x`, `multi`).
    pub arch: String,
    /// Which of its releases.
    pub choose: Choose,
}

/// How releases are chosen from the graph.
#[derive(Debug, Clone)]
pub enum Choose {
    /// Every release of the channel between the bounds, both included.
    Range {
        /// The lowest release.
        min: Version,
        /// The highest release.
        max: Version,
    },
    /// The fewest-hop path from `from` to `to`.
    ShortestPath {
        /// The cluster's current release.
        from: Version,
        /// The target release.
        to: Version,
        /// Whether conditional updates may be used.
        kinds: EdgeKinds,
    },
    /// One release by version.
    Version(Version),
}

/// What happens to release signatures.
#[derive(Debug, Clone)]
pub enum SignaturePolicy {
    /// `--skip-release-image-signature`: not verified, no ConfigMap.
    Skip,
    /// Verified before anything is copied; then written and/or applied.
    Verify(SignatureCheck),
}

/// How signatures are found, checked, written and applied.
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    /// Keyring files instead of the payload's `verifier-public-key-*` (every one must be satisfied).
    pub keys: Vec<PathBuf>,
    /// Store URLs instead of the payload's `store-*`, searched in order.
    pub stores: Vec<String>,
    /// Time allowed for each store request.
    pub store_timeout: Duration,
    /// Folder the ConfigMap file is written to (the flag, else `<to-dir>/config`).
    pub write_to: Option<PathBuf>,
    /// Apply the ConfigMap to a cluster after the mirror.
    pub apply: Option<ApplySignature>,
}

impl Default for SignatureCheck {
    fn default() -> Self {
        SignatureCheck {
            keys: Vec::new(),
            stores: Vec::new(),
            store_timeout: Duration::from_secs(30),
            write_to: None,
            apply: None,
        }
    }
}

/// What happens to sigstore (cosign) signatures (`--sigstore`, `--sigstore-key`), apart
/// from the GPG ones the CVO checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigstorePolicy {
    /// Require, copy or skip.
    pub mode: SigstoreMode,
    /// PEM public keys that replace the payload policy's key (any one may sign).
    pub keys: Vec<PathBuf>,
}

/// Whether sigstore signatures are required, copied, or left alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SigstoreMode {
    /// Verified and copied; where the payload's policy is enforced, a missing or rejected
    /// signature stops the run before anything is copied.
    #[default]
    Require,
    /// Whatever signatures exist are copied; none is required.
    Copy,
    /// Neither looked for nor copied.
    Skip,
}

/// `--apply-release-image-signature`: where, and whether an existing ConfigMap is updated.
#[derive(Debug, Clone, Default)]
pub struct ApplySignature {
    /// The cluster (`--kubeconfig`, `--context`).
    pub cluster: ClusterTarget,
    /// `--overwrite`: update an existing ConfigMap instead of failing.
    pub overwrite: bool,
}
