//! The end-of-run report, assembled where the mirror, the signatures and the cluster meet:
//! the mirror's summary plus the signature section (and what the cluster did with it), as
//! oc's text or one versioned JSON document (docs/output.md).

use std::fmt::Write as _;

use serde::Serialize;

use super::releases::ChosenPath;
use crate::cluster::ApplyReport;
use crate::mirror::{Instructions, ReleaseSummary, Summary};
use crate::signature::{format_date, Accepted};

/// Everything a run says at its end.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    #[serde(flatten)]
    pub mirror: Summary,
    /// The verified signatures of the last release; absent with --skip-release-image-signature.
    pub signature: Option<SignatureReport>,
    /// Every release in upgrade order, each with its signatures.
    pub releases: Vec<ReleaseReport>,
    /// The upgrade path the releases lie on (a shortest-path selection, or a tree's record).
    pub upgrade_path: Option<ChosenPath>,
    /// `--to-mirror`: the text is oc's mapping lines only.
    #[serde(skip)]
    pub mapping_lines_only: bool,
}

/// One release of the run.
#[derive(Debug, Serialize)]
pub struct ReleaseReport {
    #[serde(flatten)]
    pub release: ReleaseSummary,
    pub signature: Option<SignatureReport>,
}

impl Report {
    /// The report of `--to-mirror`: the planned mappings, nothing done.
    pub fn mapping_lines(mirror: Summary) -> Report {
        Report { mirror, signature: None, releases: Vec::new(), upgrade_path: None, mapping_lines_only: true }
    }

    /// The JSON document (schema in docs/output.md).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// oc's summary: `Success`, the update image, mirror prefixes, the signatures, then
    /// the instructions.
    pub fn to_text(&self, instructions: Instructions) -> String {
        if self.mapping_lines_only {
            return self.mirror.mappings.iter().map(|m| format!("{} {}\n", m.source, m.destination)).collect();
        }
        let dry_run = self.mirror.dry_run;
        let mut out = self.mirror.head_text();
        let signatures: Vec<&SignatureReport> = self.releases.iter().filter_map(|r| r.signature.as_ref()).collect();
        for signature in &signatures {
            out.push_str(&signature.to_text(dry_run));
        }
        out.push('\n');
        out.push_str(&self.mirror.tail_text(instructions));
        if self.releases.len() > 1 || self.upgrade_path.is_some() {
            out.push_str(&super::sequence::render(&self.releases, self.upgrade_path.as_ref()));
        }
        let unapplied: Vec<&String> = signatures
            .iter()
            .filter(|s| !s.applied.as_ref().is_some_and(ApplyReport::succeeded))
            .filter_map(|s| s.file.as_ref())
            .collect();
        if !dry_run && !unapplied.is_empty() {
            let what = if unapplied.len() == 1 {
                "this release, apply its signature ConfigMap"
            } else {
                "these releases, apply their signature ConfigMaps"
            };
            let _ = writeln!(out, "\nTo let the cluster verify {what} (before upgrading):\n");
            for file in unapplied {
                let _ = writeln!(out, "  oc apply -f {file}");
            }
        }
        out
    }

    /// `Err` (exit 4) when a signature was to be applied and was not.
    pub fn into_result(self) -> anyhow::Result<()> {
        let mut applied = self.releases.into_iter().filter_map(|r| r.signature.and_then(|s| s.applied));
        applied.try_for_each(ApplyReport::into_result)
    }
}

/// The release signatures verified before copying, and their ConfigMap.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureReport {
    /// The ConfigMap file written (in a dry run: that would be written); absent when none.
    pub file: Option<String>,
    pub config_map_name: String,
    /// The first valid signature of each keyring.
    pub signatures: Vec<SignatureInfo>,
    /// The file was there already with the same content and was left alone.
    #[serde(skip)]
    pub unchanged: bool,
    /// With --apply-release-image-signature: what became of the ConfigMap in the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<ApplyReport>,
}

#[derive(Debug, Clone, Serialize)]
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

impl SignatureReport {
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
        SignatureReport { file, config_map_name, signatures, applied: None, unchanged: false }
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
            (Some(file), false) if self.unchanged => _ = writeln!(out, "Configmap {file} unchanged (same content)"),
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
