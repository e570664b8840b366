//! The end-of-run report, assembled where the mirror, the signatures and the cluster meet:
//! the mirror's summary plus the signature section (and what the cluster did with it), as
//! oc's text or one versioned JSON document (docs/output.md).

use std::fmt::Write as _;

use serde::Serialize;

use crate::cluster::ApplyReport;
use crate::mirror::{Instructions, Summary};
use crate::signature::{format_date, Accepted};

/// Everything a run says at its end.
#[derive(Debug, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub mirror: Summary,
    /// The verified release signatures; absent with --skip-release-image-signature.
    pub signature: Option<SignatureReport>,
}

impl Report {
    /// The JSON document (schema in docs/output.md).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// oc's summary: `Success`, the update image, mirror prefixes, the signatures, then
    /// the instructions.
    pub fn to_text(&self, instructions: Instructions) -> String {
        let dry_run = self.mirror.dry_run;
        let mut out = self.mirror.head_text();
        if let Some(signature) = &self.signature {
            out.push_str(&signature.to_text(dry_run));
        }
        out.push('\n');
        out.push_str(&self.mirror.tail_text(instructions));
        let applied = self.signature.as_ref().and_then(|s| s.applied.as_ref()).is_some_and(ApplyReport::succeeded);
        if let (Some(file), false, false) = (self.signature.as_ref().and_then(|s| s.file.as_ref()), dry_run, applied) {
            let _ = writeln!(
                out,
                "\nTo let the cluster verify this release, apply its signature ConfigMap (before upgrading):\n\n  oc apply -f {file}"
            );
        }
        out
    }

    /// `Err` (exit 4) when the signature was to be applied and was not.
    pub fn into_result(self) -> anyhow::Result<()> {
        match self.signature.and_then(|s| s.applied) {
            Some(applied) => applied.into_result(),
            None => Ok(()),
        }
    }
}

/// The release signatures verified before copying, and their ConfigMap.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureReport {
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
        SignatureReport { file, config_map_name, signatures, applied: None }
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
