//! What the sigstore lookups found, concluded: the `.sig` images to copy, each release's
//! part of the report, the warnings, and under `--sigstore=require` the one error (exit 3)
//! that lists every required signature missing or refused.

use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;

use super::sigstore::{mapping, Wanted};
use super::{ReleaseRun, Run};
use crate::digest::Digest;
use crate::job::SigstoreMode;
use crate::mirror::Mapping;
use crate::release::Release;

/// What was found for one image.
#[derive(Debug)]
pub(super) enum Finding {
    /// A signature that verifies (in the source, or already in the destination).
    Verified(Digest),
    /// A signature found with nothing to check it against (why), copied as found.
    Unverified(Digest, String),
    Missing,
    /// A signature image nothing of which is accepted: why.
    Rejected(String),
}

/// One image and what its lookup found.
#[derive(Debug)]
pub(super) struct Looked {
    pub(super) wanted: Wanted,
    pub(super) finding: Finding,
    /// The `.sig` manifest as the source gave it.
    pub(super) manifest: Option<crate::store::RawManifest>,
}

/// The sigstore (cosign) signatures of one release (`sigstore` in the JSON, schema 3).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SigstoreReport {
    /// Whether the payload's ClusterImagePolicy is enforced on a default cluster: the
    /// nodes then refuse an image in its scope without a signature.
    pub enforced: bool,
    /// Verified signatures, where they are (or will be, in a dry run) in the destination.
    pub verified: Vec<String>,
    /// Signatures copied as found, with nothing to check them against (no enforced policy).
    pub unverified: Vec<String>,
    /// Signatures the nodes will ask for that were missing or refused.
    pub missing: Vec<MissingSignature>,
}

/// A signature that was not found, or not accepted.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingSignature {
    /// The image, by its original reference.
    pub image: String,
    /// Its component name; empty for the release image.
    pub component: String,
    /// Why it is missing or refused.
    pub reason: String,
}

/// Required signatures missing or refused under `--sigstore=require`, every one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SigstoreRefused(pub String);

/// The mappings of the signatures to copy and each release's report; the error when a
/// required signature is missing or refused under `require`.
pub(super) fn conclude(
    run: &Run<'_>,
    releases: &[ReleaseRun],
    mut looked: Vec<Looked>,
    mode: SigstoreMode,
) -> Result<(Vec<Mapping>, Vec<SigstoreReport>)> {
    looked.sort_by(|a, b| (a.wanted.release, &a.wanted.name).cmp(&(b.wanted.release, &b.wanted.name)));
    let mut reports: Vec<SigstoreReport> = releases
        .iter()
        .map(|r| SigstoreReport { enforced: r.release.enforced_image_policy().is_some(), ..Default::default() })
        .collect();
    let mut mappings = Vec::new();
    for Looked { wanted: w, finding, .. } in looked {
        let report = &mut reports[w.release];
        let reason = match finding {
            Finding::Verified(sig) => {
                report.verified.push(record(&mut mappings, &w, &sig));
                continue;
            }
            Finding::Unverified(sig, why) => {
                run.progress.info(&format!("copying the sigstore signature of {} unverified: {why}", w.logical));
                report.unverified.push(record(&mut mappings, &w, &sig));
                continue;
            }
            Finding::Missing => {
                format!("no signature {} in {}", crate::signature::sigstore::signature_tag(&w.digest), w.source)
            }
            Finding::Rejected(why) => format!("its signature is refused: {why}"),
        };
        if w.required {
            report.missing.push(MissingSignature { image: w.logical.to_string(), component: w.name, reason });
        } else if !reason.starts_with("no signature") {
            run.progress.warn(&format!("not copying the sigstore signature of {}: {reason}", w.logical));
        }
    }
    refuse_or_warn(run, releases, &reports, mode)?;
    Ok((mappings, reports))
}

fn record(mappings: &mut Vec<Mapping>, w: &Wanted, sig: &Digest) -> String {
    let m = mapping(w, sig);
    let at = m.destination.to_string();
    if !mappings.iter().any(|o: &Mapping| o.destination == m.destination) {
        mappings.push(m);
    }
    at
}

/// Under `require`, every missing signature in one error; under `copy`, one warning each.
/// A release whose policy is not enforced by default and has no signature: one warning.
fn refuse_or_warn(
    run: &Run<'_>,
    releases: &[ReleaseRun],
    reports: &[SigstoreReport],
    mode: SigstoreMode,
) -> Result<()> {
    let mut refused = String::new();
    for (r, report) in releases.iter().zip(reports) {
        let version = &r.release.version;
        for m in &report.missing {
            let line = format!("release {version}, {}: {}", describe(m), m.reason);
            match mode {
                SigstoreMode::Require => {
                    let _ = write!(refused, "\n  {line}");
                }
                _ => run.progress.warn(&format!("sigstore signature missing: {line}")),
            }
        }
        if let Some(note) = not_enforced_note(&r.release, report) {
            run.progress.warn(&note);
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(crate::exit::signature_failure(SigstoreRefused(format!(
        "the release's ClusterImagePolicy requires sigstore signatures the nodes would not find; nothing was copied \
         (--sigstore=copy mirrors without them):{refused}"
    ))))
}

fn describe(m: &MissingSignature) -> String {
    match m.component.as_str() {
        "" => format!("release image {}", m.image),
        name => format!("component {name} ({})", m.image),
    }
}

/// A payload whose policy only some feature sets enforce, with no signature: what that means.
fn not_enforced_note(release: &Release, report: &SigstoreReport) -> Option<String> {
    let policy = release.image_policies.first()?;
    if report.enforced || !report.verified.is_empty() || !report.unverified.is_empty() {
        return None;
    }
    Some(format!(
        "release {} has no sigstore signature: its ClusterImagePolicy applies only to the {} feature set, so only \
         clusters of that feature set would refuse its images from this mirror",
        release.version,
        policy.feature_sets.join(", ")
    ))
}
