//! The end-of-run report, built once from the run's per-release records: the mirror's
//! summary, each release with its signatures (and what the cluster did with them), and the
//! upgrade path. It is data: the binary renders it as oc's text, and [`Report::to_json`]
//! gives the one versioned JSON document (docs/output.md).

use serde::Serialize;

use crate::cluster::ApplyReport;
use crate::graph::Version;
use crate::mirror::{MappingSummary, MirrorSource, ReleaseSummary, Summary, TransferSummary, SCHEMA_VERSION};
use crate::osus::{GraphDataImage, UpdateService};
use crate::select::Route;
use crate::signature::{format_date, Accepted};

/// Everything a run says at its end.
#[derive(Debug, Default)]
pub struct Report {
    /// What the mirror as a whole did.
    pub mirror: Summary,
    /// Every release in upgrade order, each with its signatures.
    pub releases: Vec<ReleaseReport>,
    /// The upgrade path the releases lie on (a shortest-path selection, or a tree's record).
    pub upgrade_path: Option<Route>,
    /// `--to-mirror`: the text is oc's mapping lines only.
    pub mapping_lines_only: bool,
    /// `--graph-data-image`: where the graph-data image is.
    pub graph_data: Option<GraphDataImage>,
    /// The `UpdateService` naming the release repository and the graph-data image.
    pub update_service: Option<UpdateService>,
}

/// One release of the run.
#[derive(Debug, Serialize)]
pub struct ReleaseReport {
    /// What the release is and where it went.
    #[serde(flatten)]
    pub release: ReleaseSummary,
    /// Its verified signatures and ConfigMap; absent with --skip-release-image-signature.
    pub signature: Option<SignatureReport>,
    /// Its sigstore (cosign) signatures; absent with --sigstore=skip.
    pub sigstore: Option<super::SigstoreReport>,
    /// Its version as the selection gave it, else as its metadata says (when that parses):
    /// what the upgrade path's hops name.
    #[serde(skip)]
    pub version: Option<Version>,
}

/// The JSON document: schema 3 (2 and each release's `sigstore`) keeps the last release (and its signature) at the top level
/// beside the list of every release, in this field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Json<'a> {
    schema_version: u32,
    dry_run: bool,
    release: &'a ReleaseSummary,
    mappings: &'a [MappingSummary],
    transfer: &'a TransferSummary,
    mirrors: &'a [MirrorSource],
    upgrade_command: Option<&'a String>,
    upload_commands: &'a [String],
    sigstore_signatures: &'a [String],
    signature: Option<&'a SignatureReport>,
    releases: &'a [ReleaseReport],
    upgrade_path: Option<&'a Route>,
    graph_data_image: Option<&'a GraphDataImage>,
    update_service: Option<&'a UpdateService>,
}

impl Report {
    /// The last release of the run: the only one, or the target of an upgrade path.
    pub(crate) fn last(&self) -> Option<&ReleaseReport> {
        self.releases.last()
    }

    /// `Err` (exit 4) when a signature was to be applied and was not.
    pub fn into_result(self) -> anyhow::Result<()> {
        let mut applied = self.releases.into_iter().filter_map(|r| r.signature.and_then(|s| s.applied));
        applied.try_for_each(ApplyReport::into_result)
    }
}

/// The one versioned JSON document of a run (schema in docs/output.md).
impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let empty = ReleaseSummary::default();
        let last = self.last();
        let json = Json {
            schema_version: SCHEMA_VERSION,
            dry_run: self.mirror.dry_run,
            release: last.map_or(&empty, |r| &r.release),
            mappings: &self.mirror.mappings,
            transfer: &self.mirror.transfer,
            mirrors: &self.mirror.mirrors,
            upgrade_command: last.and_then(|r| r.release.upgrade_command.as_ref()),
            upload_commands: &self.mirror.upload_commands,
            sigstore_signatures: &self.mirror.sigstore_signatures,
            signature: last.and_then(|r| r.signature.as_ref()),
            releases: if self.mapping_lines_only { &[] } else { &self.releases },
            upgrade_path: self.upgrade_path.as_ref(),
            graph_data_image: self.graph_data.as_ref(),
            update_service: self.update_service.as_ref(),
        };
        json.serialize(s)
    }
}

/// The release signatures verified before copying, and their ConfigMap.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureReport {
    /// The ConfigMap file written (in a dry run: that would be written); absent when none.
    pub file: Option<String>,
    /// The ConfigMap's name: `sha256-<hex>`.
    pub(crate) config_map_name: String,
    /// The first valid signature of each keyring.
    pub signatures: Vec<SignatureInfo>,
    /// The file was there already with the same content and was left alone.
    #[serde(skip)]
    pub unchanged: bool,
    /// With --apply-release-image-signature: what became of the ConfigMap in the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<ApplyReport>,
}

/// One accepted signature.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureInfo {
    /// The keyring it satisfied (`verifier-public-key-<name>` or the key file).
    pub keyring: String,
    /// The identity it claims (`docker-reference`).
    pub identity: String,
    /// The signing key's fingerprint.
    pub key_fingerprint: String,
    /// Signature creation time, ISO 8601 UTC.
    pub(crate) created: Option<String>,
    /// Where it was fetched from.
    pub(crate) url: String,
}

impl SignatureReport {
    /// The report of `accepted` signatures, whose ConfigMap is `config_map_name` in `file`.
    pub(crate) fn new(accepted: &[Accepted], config_map_name: String, file: Option<String>) -> Self {
        let signatures = accepted
            .iter()
            .map(|a| SignatureInfo {
                keyring: a.keyring.clone(),
                identity: a.verified.identity.clone(),
                key_fingerprint: a.verified.key_fingerprint.clone(),
                created: a.verified.created.map(format_date),
                url: a.url.clone(),
            })
            .collect();
        SignatureReport { file, config_map_name, signatures, applied: None, unchanged: false }
    }
}
