//! What a mirror did, as data (the JSON fields of docs/output.md) and as oc's text. The
//! signature and cluster parts are added where those meet the mirror (`run/`).

use serde::Serialize;

use super::executor::Totals;
use super::instructions::{mirror_sources, MirrorSource};
use super::plan::{Mapping, Plan};
use crate::release::Release;

/// Version of the JSON summary schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 3;

/// What the mirror as a whole did: every image mapping, the transfer, the mirror
/// configuration and what to run next. What each release is lies in [`ReleaseSummary`].
#[derive(Debug, Default)]
pub struct Summary {
    /// Planned and reported only: nothing was copied.
    pub dry_run: bool,
    /// oc's `Mirror prefix:` lines: the `--to` repository of a registry destination, and
    /// `--to-release-image` when given.
    pub mirror_prefixes: Vec<String>,
    /// Every image mapping, the release's first.
    pub mappings: Vec<MappingSummary>,
    /// What was (or would be) copied and what was there already.
    pub transfer: TransferSummary,
    /// The repositories the cluster's mirror configuration names (registry destinations).
    pub mirrors: Vec<MirrorSource>,
    /// Commands to upload a disk tree (to-disk runs only).
    pub upload_commands: Vec<String>,
    /// Sigstore (cosign) signature images mirrored beside the release.
    pub sigstore_signatures: Vec<String>,
}

/// What one release is, and where it went.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSummary {
    /// Where it was read from.
    pub source: String,
    /// Its manifest digest.
    pub digest: String,
    /// Its version, from its metadata.
    pub version: String,
    /// Its architecture (`x86_64`, `aarch64`, `multi`, …).
    pub architecture: String,
    /// Where the release image now is (absent with --skip-release-image).
    pub destination: Option<String>,
    /// `oc adm upgrade …` to this release (registry destinations only).
    pub upgrade_command: Option<String>,
}

impl ReleaseSummary {
    /// What `release` is and where `mappings` put it.
    pub(crate) fn new(release: &Release, mappings: &[Mapping]) -> ReleaseSummary {
        let mapping = mappings.iter().find(|m| m.is_release() && m.digest == release.digest);
        let upgrade_command = mapping
            .filter(|m| m.destination.registry().is_some())
            .map(|m| upgrade_command(&m.destination.repo_only().with_digest(&release.digest)));
        ReleaseSummary {
            source: release.source.to_string(),
            digest: release.digest.to_string(),
            version: release.version.clone(),
            architecture: release.arch.clone(),
            destination: mapping.map(|m| m.destination.to_string()),
            upgrade_command,
        }
    }
}

/// One image: where it came from and where it went.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingSummary {
    /// Component name; empty for the release image.
    pub name: String,
    /// Its original reference (what the cluster's mirror configuration names).
    pub source: String,
    /// Where it is now.
    pub destination: String,
    /// Its manifest digest.
    pub digest: String,
}

/// What was (or would be) copied, and what was there already.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferSummary {
    /// Images of the run.
    pub images: usize,
    /// Of those, complete at the destination before the run.
    pub images_complete_before: usize,
    /// Blobs the plan copies.
    pub blobs_to_copy: usize,
    /// Their bytes.
    pub bytes_to_copy: u64,
    /// Blobs the destination had.
    pub blobs_skipped: usize,
    /// Their bytes.
    pub bytes_skipped: u64,
    #[serde(flatten)]
    pub(crate) done: Totals,
    /// `--to-dir`: the space the plan needs on the tree's filesystem, and what it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space: Option<SpaceNeeded>,
    /// `--from-dir --dry-run --verify`: the blobs of the tree, all read and found intact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked: Option<MediaCheck>,
}

/// The media check of a `--from-dir` tree: every blob hashed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaCheck {
    /// The `--from-dir` folder.
    pub folder: std::path::PathBuf,
    /// Blobs read and hashed (manifests included).
    pub blobs: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// The space a `--to-dir` plan needs, in whole blocks of the tree's filesystem.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpaceNeeded {
    /// The `--to-dir` folder.
    pub folder: std::path::PathBuf,
    /// Bytes the plan writes there: missing blobs, manifests and the record.
    pub needed: u64,
    /// Bytes free on its filesystem before the run.
    pub available: u64,
}

impl Summary {
    /// The summary of carrying out `plan` (`totals`: what was done; none in a dry run).
    /// `mirror_prefixes` and `upload_commands` are what the target says to print.
    pub(crate) fn new(
        plan: &Plan,
        totals: Totals,
        dry_run: bool,
        mirror_prefixes: Vec<String>,
        upload_commands: Vec<String>,
    ) -> Summary {
        let to_registry = plan.mappings.first().is_some_and(|m| m.destination.registry().is_some());
        Summary {
            dry_run,
            mirror_prefixes,
            mappings: plan
                .mappings
                .iter()
                .map(|m| MappingSummary {
                    name: m.name.clone(),
                    source: m.origin.to_string(),
                    destination: m.destination.to_string(),
                    digest: m.digest.to_string(),
                })
                .collect(),
            transfer: TransferSummary {
                images: plan.mappings.len(),
                images_complete_before: plan.complete,
                blobs_to_copy: plan.blobs.len(),
                bytes_to_copy: plan.bytes_to_copy(),
                blobs_skipped: plan.skipped_blobs,
                bytes_skipped: plan.skipped_bytes,
                done: totals,
                space: None,
                checked: None,
            },
            mirrors: if to_registry { mirror_sources(&plan.mappings) } else { Vec::new() },
            upload_commands,
            sigstore_signatures: plan
                .mappings
                .iter()
                .filter(|m| m.name.ends_with(".sig"))
                .map(|m| m.destination.to_string())
                .collect(),
        }
    }
}

/// `oc adm upgrade …` to `image`, the reference quoted for the shell (`[::1]:5000/…` is a
/// glob otherwise).
fn upgrade_command(image: &crate::reference::ImageRef) -> String {
    format!("oc adm upgrade --allow-explicit-upgrade --to-image {}", crate::run::quote(&image.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::reference::ImageRef;

    #[test]
    fn the_upgrade_command_quotes_an_ipv6_mirror_and_leaves_a_plain_one_alone() {
        let digest = format!("sha256:{}", "1".repeat(64));
        let ipv6 = ImageRef::parse(&format!("[::1]:5000/ocp/release@{digest}")).expect("ref");
        let want = format!("oc adm upgrade --allow-explicit-upgrade --to-image '[::1]:5000/ocp/release@{digest}'");
        assert_eq!(super::upgrade_command(&ipv6), want);
        let plain = ImageRef::parse(&format!("m.io:5000/ocp/release@{digest}")).expect("ref");
        let want = format!("oc adm upgrade --allow-explicit-upgrade --to-image m.io:5000/ocp/release@{digest}");
        assert_eq!(super::upgrade_command(&plain), want);
    }
}
