//! The sigstore part of the summary: per release, the signatures verified and copied and the
//! ones missing; and, when a release is 4.21 or later with its signatures in the mirror, the
//! admin-ack a 4.20 cluster with mirrors needs before it updates.

use std::fmt::Write as _;

use release_mirror::run::{ReleaseReport, SigstoreReport, SigstoreResult};

/// The admin-ack a 4.20 cluster asks for before it updates to 4.21.
pub const ADMIN_ACK: &str = "oc -n openshift-config patch configmap admin-acks --type=merge --patch \
                             '{\"data\":{\"ack-4.20-sigstore-in-4.21\":\"true\"}}'";

/// One paragraph per release whose sigstore signatures were looked for, then the admin-ack.
pub fn render(releases: &[ReleaseReport], dry_run: bool) -> String {
    let mut out = String::new();
    for r in releases {
        let Some(s) = &r.sigstore else { continue };
        if !s.enforced && s.verified.is_empty() && s.unverified.is_empty() && s.missing.is_empty() {
            continue; // nothing to say of a release without signatures that needs none
        }
        out.push_str(&release_text(&r.release.version, s, dry_run));
    }
    let ack = releases.iter().any(|r| {
        at_least_4_21(&r.release.version)
            && r.sigstore.as_ref().is_some_and(|s| s.missing.is_empty() && !s.verified.is_empty())
    });
    if ack {
        let _ = writeln!(
            out,
            "\nA 4.20 cluster that pulls through mirrors asks for an acknowledgement before it updates to 4.21, \
             whose nodes check sigstore signatures: the mirror holds them beside each image, so once its mirror \
             configuration is applied the nodes find them. Then acknowledge:\n\n  {ADMIN_ACK}"
        );
    }
    out
}

fn release_text(version: &str, s: &SigstoreReport, dry_run: bool) -> String {
    let copied = if dry_run { "to copy" } else { "copied" };
    let mut out = format!("Sigstore signatures of release {version}: {} verified and {copied}", s.verified.len());
    if !s.unverified.is_empty() {
        let _ = write!(out, ", {} {copied} unverified", s.unverified.len());
    }
    if !s.missing.is_empty() {
        let _ = write!(out, ", {} missing", s.missing.len());
    }
    out.push('\n');
    for m in &s.missing {
        let what = if m.component.is_empty() { "release image".to_string() } else { m.component.clone() };
        let _ = writeln!(out, "  missing: {what} {}: {}", m.image, m.reason);
    }
    out
}

/// `verify-signature --sigstore`: one line per image, then its details indented.
pub fn results(results: &[SigstoreResult]) -> String {
    let mut out = String::new();
    for r in results {
        let signature = r.signature.as_deref().map(|s| format!(" (signature {s})")).unwrap_or_default();
        let _ = writeln!(out, "{} {}{signature}", r.verdict, r.digest);
        for detail in &r.details {
            let _ = writeln!(out, "  {detail}");
        }
    }
    out
}

/// Whether `version` (`4.21.3`, `5.0.0-rc.1`, …) is 4.21 or later.
fn at_least_4_21(version: &str) -> bool {
    let mut parts = version.split(['.', '-']).map(str::parse::<u64>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= (4, 21),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_ack_is_for_4_21_and_later() {
        assert!(at_least_4_21("4.21.0") && at_least_4_21("4.22.0-rc.1") && at_least_4_21("5.0.0"));
        assert!(!at_least_4_21("4.20.9") && !at_least_4_21("4.9.0") && !at_least_4_21("latest"));
    }
}
