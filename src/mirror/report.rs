//! The end-of-run summary: oc's text, or one versioned JSON document (docs/output.md).

use std::fmt::Write as _;

use serde::Serialize;

use super::executor::Totals;
use super::instructions::{mirror_sources, render, MirrorSource};
use super::plan::Plan;
use crate::cli::Instructions;
use crate::cluster::ApplyReport;
use crate::release::Release;
use crate::signature::{format_date, Accepted};

/// Version of the JSON summary schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything the summary says.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub schema_version: u32,
    pub dry_run: bool,
    pub release: ReleaseSummary,
    pub mappings: Vec<MappingSummary>,
    pub transfer: TransferSummary,
    pub mirrors: Vec<MirrorSource>,
    /// `oc adm upgrade …` for registry destinations; absent for disk.
    pub upgrade_command: Option<String>,
    /// Commands to upload a disk tree (to-disk runs only).
    pub upload_commands: Vec<String>,
    /// Sigstore (cosign) signature images mirrored beside the release.
    pub sigstore_signatures: Vec<String>,
    /// The verified release signatures; absent with --skip-release-image-signature.
    pub signature: Option<SignatureSummary>,
}

/// The release signatures verified before copying, and their ConfigMap.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureSummary {
    /// The ConfigMap file written (in a dry run: that would be written); absent when none.
    pub file: Option<String>,
    pub config_map_name: String,
    /// The first valid signature of each keyring.
    pub signatures: Vec<SignatureInfo>,
    /// With --apply-release-image-signature: what became of the ConfigMap in the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<ApplyReport>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureInfo {
    pub keyring: String,
    pub identity: String,
    pub key_fingerprint: String,
    /// Signature creation time, ISO 8601 UTC.
    pub created: Option<String>,
    /// Where it was fetched from.
    pub url: String,
}

impl SignatureSummary {
    pub fn new(accepted: &[Accepted], config_map_name: String, file: Option<String>) -> Self {
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
        SignatureSummary { file, config_map_name, signatures, applied: None }
    }

    /// One line per signature, then what became of the ConfigMap.
    fn to_text(&self, dry_run: bool) -> String {
        let mut out = String::new();
        for s in &self.signatures {
            let _ = writeln!(
                out,
                "Release signature: valid for keyring {} (key {}, identity {})",
                s.keyring, s.key_fingerprint, s.identity
            );
        }
        match (&self.file, dry_run) {
            (Some(file), false) => _ = writeln!(out, "Configmap {file} created"),
            (Some(file), true) => _ = writeln!(out, "Would create Configmap {file}"),
            (None, _) if self.applied.is_some() => {}
            (None, _) => {
                _ = writeln!(
                out,
                "No signature ConfigMap written: give --release-image-signature-to-dir=DIR (or --to-dir) to write one"
            )
            }
        }
        if let Some(applied) = &self.applied {
            out.push_str(&applied.to_text());
        }
        out
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSummary {
    pub source: String,
    pub digest: String,
    pub version: String,
    pub architecture: String,
    /// Where the release image now is (absent with --skip-release-image).
    pub destination: Option<String>,
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
    pub fn new(release: &Release, plan: &Plan, totals: Totals, dry_run: bool) -> Summary {
        let release_mapping = plan.mappings.iter().find(|m| m.is_release());
        let destination = release_mapping.map(|m| m.destination.to_string());
        let to_registry = plan.mappings.first().is_some_and(|m| m.destination.registry().is_some());
        let upgrade_command = match (release_mapping, to_registry) {
            (Some(m), true) => Some(format!(
                "oc adm upgrade --allow-explicit-upgrade --to-image {}",
                m.destination.repo_only().with_digest(&release.digest)
            )),
            _ => None,
        };
        Summary {
            schema_version: SCHEMA_VERSION,
            dry_run,
            release: ReleaseSummary {
                source: release.source.to_string(),
                digest: release.digest.to_string(),
                version: release.version.clone(),
                architecture: release.arch.clone(),
                destination,
            },
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
            upgrade_command,
            upload_commands: Vec::new(),
            sigstore_signatures: plan
                .mappings
                .iter()
                .filter(|m| m.name.ends_with(".sig"))
                .map(|m| m.destination.to_string())
                .collect(),
            signature: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// oc's summary: `Success`, the update image, mirror prefixes, then instructions.
    pub fn to_text(&self, instructions: Instructions) -> String {
        let mut out = String::new();
        if self.dry_run {
            let t = &self.transfer;
            let _ = writeln!(out, "Dry run: nothing was copied.");
            let _ = writeln!(
                out,
                "Release {} ({}, {})",
                self.release.source, self.release.version, self.release.architecture
            );
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
        if let Some(dest) = &self.release.destination {
            let _ = writeln!(out, "Update image:  {dest}");
        }
        if let Some(first) = self.mappings.first() {
            let prefix = first.destination.rsplit_once(':').map_or(first.destination.as_str(), |(p, _)| p);
            let _ = writeln!(out, "Mirror prefix: {prefix}");
        }
        if let Some(dest) = &self.release.destination {
            let _ = writeln!(out, "Mirror prefix: {dest}");
        }
        if let Some(signature) = &self.signature {
            out.push_str(&signature.to_text(self.dry_run));
        }
        out.push('\n');
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
        if let Some(cmd) = &self.upgrade_command {
            let _ = writeln!(out, "\nTo upgrade a cluster to this release, run:\n\n  {cmd}");
        }
        let applied = self.signature.as_ref().and_then(|s| s.applied.as_ref()).is_some_and(ApplyReport::succeeded);
        if let (Some(file), false, false) =
            (self.signature.as_ref().and_then(|s| s.file.as_ref()), self.dry_run, applied)
        {
            let _ = writeln!(
                out,
                "\nTo let the cluster verify this release, apply its signature ConfigMap (before upgrading):\n\n  oc apply -f {file}"
            );
        }
        out
    }
}
