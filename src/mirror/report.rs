//! What a mirror did, as data (the JSON fields of docs/output.md) and as oc's text. The
//! signature and cluster parts are added where those meet the mirror (`run/`).

use std::fmt::Write as _;

use serde::Serialize;

use super::executor::Totals;
use super::instructions::Instructions;
use super::instructions::{mirror_sources, render, MirrorSource};
use super::plan::{Mapping, Plan};
use crate::release::Release;

/// Version of the JSON summary schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything the summary says.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub schema_version: u32,
    pub dry_run: bool,
    /// The last release of the run (the only one, or the target of an upgrade path).
    pub release: ReleaseSummary,
    /// Every release of the run, in upgrade order (the report adds their signatures).
    #[serde(skip)]
    pub releases: Vec<ReleaseSummary>,
    /// oc's `Mirror prefix:` lines: the `--to` repository of a registry destination, and
    /// `--to-release-image` when given.
    #[serde(skip)]
    pub mirror_prefixes: Vec<String>,
    pub mappings: Vec<MappingSummary>,
    pub transfer: TransferSummary,
    pub mirrors: Vec<MirrorSource>,
    /// `oc adm upgrade …` for registry destinations; absent for disk.
    pub upgrade_command: Option<String>,
    /// Commands to upload a disk tree (to-disk runs only).
    pub upload_commands: Vec<String>,
    /// Sigstore (cosign) signature images mirrored beside the release.
    pub sigstore_signatures: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSummary {
    pub source: String,
    pub digest: String,
    pub version: String,
    pub architecture: String,
    /// Where the release image now is (absent with --skip-release-image).
    pub destination: Option<String>,
    /// `oc adm upgrade …` to this release (registry destinations only).
    pub upgrade_command: Option<String>,
}

impl ReleaseSummary {
    fn new(release: &Release, mappings: &[Mapping]) -> ReleaseSummary {
        let mapping = mappings.iter().find(|m| m.is_release() && m.digest == release.digest);
        let upgrade_command = mapping.filter(|m| m.destination.registry().is_some()).map(|m| {
            format!(
                "oc adm upgrade --allow-explicit-upgrade --to-image {}",
                m.destination.repo_only().with_digest(&release.digest)
            )
        });
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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingSummary {
    /// Component name; empty for the release image.
    pub name: String,
    pub source: String,
    pub destination: String,
    pub digest: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferSummary {
    pub images: usize,
    pub images_complete_before: usize,
    pub blobs_to_copy: usize,
    pub bytes_to_copy: u64,
    pub blobs_skipped: usize,
    pub bytes_skipped: u64,
    #[serde(flatten)]
    pub done: Totals,
}

impl Summary {
    /// The summary of a run over `releases` (in upgrade order; at least one).
    pub fn new(releases: &[Release], plan: &Plan, totals: Totals, dry_run: bool) -> Summary {
        let all: Vec<ReleaseSummary> = releases.iter().map(|r| ReleaseSummary::new(r, &plan.mappings)).collect();
        let release = all.last().cloned().unwrap_or_default();
        let to_registry = plan.mappings.first().is_some_and(|m| m.destination.registry().is_some());
        Summary {
            schema_version: SCHEMA_VERSION,
            dry_run,
            upgrade_command: release.upgrade_command.clone(),
            release,
            releases: all,
            mirror_prefixes: Vec::new(),
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
            },
            mirrors: if to_registry { mirror_sources(&plan.mappings) } else { Vec::new() },
            upload_commands: Vec::new(),
            sigstore_signatures: plan
                .mappings
                .iter()
                .filter(|m| m.name.ends_with(".sig"))
                .map(|m| m.destination.to_string())
                .collect(),
        }
    }

    /// The start of oc's summary: `Success` (or the dry-run plan), the update image and the
    /// mirror prefixes.
    pub fn head_text(&self) -> String {
        let mut out = String::new();
        if self.dry_run {
            let t = &self.transfer;
            let _ = writeln!(out, "Dry run: nothing was copied.");
            for r in &self.releases {
                let _ = writeln!(out, "Release {} ({}, {})", r.source, r.version, r.architecture);
            }
            for m in &self.mappings {
                let label = if m.name.is_empty() { "release" } else { &m.name };
                let _ = writeln!(out, "  {label}: {} -> {}", m.source, m.destination);
            }
            let _ = writeln!(
                out,
                "Would copy {} blobs ({} bytes); {} blobs ({} bytes) already present; {} of {} images complete.\n",
                t.blobs_to_copy, t.bytes_to_copy, t.blobs_skipped, t.bytes_skipped, t.images_complete_before, t.images
            );
        } else {
            let _ = writeln!(out, "Success");
        }
        // oc names a disk target without its scheme: `openshift/release:4.15.0-x86_64`.
        for dest in self.releases.iter().filter_map(|r| r.destination.as_ref()) {
            let _ = writeln!(out, "Update image:  {}", dest.strip_prefix("file://").unwrap_or(dest));
        }
        for prefix in &self.mirror_prefixes {
            let _ = writeln!(out, "Mirror prefix: {prefix}");
        }
        out
    }

    /// The end of the summary: sigstore signatures, upload commands, mirror configuration
    /// and the upgrade command.
    pub fn tail_text(&self, instructions: Instructions) -> String {
        let mut out = String::new();
        for sig in &self.sigstore_signatures {
            let _ = writeln!(out, "Sigstore signature: {sig}");
        }
        if !self.sigstore_signatures.is_empty() {
            out.push('\n');
        }
        for cmd in &self.upload_commands {
            let _ = writeln!(out, "{cmd}\n");
        }
        if !self.mirrors.is_empty() {
            out.push_str(&render(instructions, &self.mirrors));
        }
        if let (Some(cmd), 1) = (&self.upgrade_command, self.releases.len()) {
            let _ = writeln!(out, "\nTo upgrade a cluster to this release, run:\n\n  {cmd}");
        }
        out
    }
}
