//! The binary's text renderings of the library's reports: oc's summary of a mirror run, the
//! upgrade sequence of several releases, and the `path` subcommand's listing. The reports
//! are data (their JSON comes from serde); this is the one place their text is made.

mod osus;
mod sequence;
mod shown;
mod sigstore;

pub use sigstore::results as sigstore_results;

use std::fmt::Write as _;

use release_mirror::cluster::ApplyReport;
use release_mirror::mirror::{self, Instructions};
use release_mirror::run::{Report, SignatureReport};
use release_mirror::select::Selection;

/// oc's summary: `Success`, the update image, mirror prefixes, the signatures, then the
/// instructions, the upgrade sequence and what to apply.
pub fn report(report: &Report, instructions: Instructions) -> String {
    if report.mapping_lines_only {
        return report.mirror.mappings.iter().map(|m| format!("{} {}\n", m.source, m.destination)).collect();
    }
    let dry_run = report.mirror.dry_run;
    let mut out = head(report);
    let signatures: Vec<&SignatureReport> = report.releases.iter().filter_map(|r| r.signature.as_ref()).collect();
    for signature in &signatures {
        out.push_str(&signature_text(signature, dry_run));
    }
    out.push('\n');
    out.push_str(&tail(report, instructions));
    out.push_str(&osus::render(report.graph_data.as_ref(), report.update_service.as_ref(), dry_run));
    if report.releases.len() > 1 || report.upgrade_path.is_some() {
        out.push_str(&sequence::render(&report.releases, report.upgrade_path.as_ref()));
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
            let _ = writeln!(out, "  oc apply -f {}", release_mirror::run::quote(file));
        }
    }
    out
}

/// The start of oc's summary: `Success` (or the dry-run plan), the update image and the
/// mirror prefixes.
fn head(report: &Report) -> String {
    let mirror = &report.mirror;
    let mut out = String::new();
    if mirror.dry_run {
        let t = &mirror.transfer;
        let _ = writeln!(out, "Dry run: nothing was copied.");
        for r in &report.releases {
            let _ = writeln!(out, "Release {} ({}, {})", r.release.source, r.release.version, r.release.architecture);
        }
        for m in &mirror.mappings {
            let label = if m.name.is_empty() { "release" } else { &m.name };
            let _ = writeln!(out, "  {label}: {} -> {}", m.source, m.destination);
        }
        if let Some(check) = &t.checked {
            let (n, bytes, dir) = (check.blobs, check.bytes, check.folder.display());
            let _ = writeln!(out, "Checked {n} blobs ({bytes} bytes) in {dir}: all intact; no registry was asked.");
        } else {
            let _ = writeln!(
                out,
                "Would copy {} blobs ({} bytes); {} blobs ({} bytes) already present; {} of {} images complete.",
                t.blobs_to_copy, t.bytes_to_copy, t.blobs_skipped, t.bytes_skipped, t.images_complete_before, t.images
            );
        }
        if let Some(space) = &t.space {
            let _ = writeln!(
                out,
                "Space needed in {}: {} bytes; {} bytes free.",
                space.folder.display(),
                space.needed,
                space.available
            );
        }
        out.push('\n');
    } else {
        let _ = writeln!(out, "Success");
    }
    // oc names a disk target without its scheme: `openshift/release:4.15.0-x86_64`.
    for dest in report.releases.iter().filter_map(|r| r.release.destination.as_ref()) {
        let _ = writeln!(out, "Update image:  {}", dest.strip_prefix("file://").unwrap_or(dest));
    }
    for prefix in &mirror.mirror_prefixes {
        let _ = writeln!(out, "Mirror prefix: {prefix}");
    }
    out
}

/// How many sigstore signature images the text names before it counts the rest.
const SIGSTORE_LINES: usize = 5;

/// The end of the summary: sigstore signatures, upload commands, mirror configuration and
/// the upgrade command.
fn tail(report: &Report, instructions: Instructions) -> String {
    let mirror = &report.mirror;
    let mut out = String::new();
    // A full release has ~190 signature images: a few are named, all are in -o json.
    for sig in mirror.sigstore_signatures.iter().take(SIGSTORE_LINES) {
        let _ = writeln!(out, "Sigstore signature: {sig}");
    }
    if let Some(more) = mirror.sigstore_signatures.len().checked_sub(SIGSTORE_LINES).filter(|n| *n > 0) {
        let _ = writeln!(out, "… and {more} more sigstore signatures beside their images (every one in -o json)");
    }
    if !mirror.sigstore_signatures.is_empty() {
        out.push('\n');
    }
    let sigstore = sigstore::render(&report.releases, mirror.dry_run);
    if !sigstore.is_empty() {
        let _ = writeln!(out, "{sigstore}");
    }
    for cmd in &mirror.upload_commands {
        let _ = writeln!(out, "{cmd}\n");
    }
    if !mirror.mirrors.is_empty() {
        out.push_str(&mirror::render_instructions(instructions, &mirror.mirrors));
    }
    if let [only] = report.releases.as_slice() {
        if let Some(cmd) = &only.release.upgrade_command {
            let _ = writeln!(out, "\nTo upgrade a cluster to this release, run:\n\n  {cmd}");
        }
    }
    out
}

/// One line per signature, then what became of the ConfigMap.
fn signature_text(signature: &SignatureReport, dry_run: bool) -> String {
    let mut out = String::new();
    for s in &signature.signatures {
        let _ = writeln!(
            out,
            "Release signature: valid for keyring {} (key {}, identity {})",
            s.keyring, s.key_fingerprint, s.identity
        );
    }
    match (&signature.file, dry_run) {
        (Some(file), false) if signature.unchanged => _ = writeln!(out, "Configmap {file} unchanged (same content)"),
        (Some(file), false) => _ = writeln!(out, "Configmap {file} created"),
        (Some(file), true) => _ = writeln!(out, "Would create Configmap {file}"),
        (None, _) if signature.applied.is_some() => {}
        (None, _) => {
            _ = writeln!(
                out,
                "No signature ConfigMap written: give --release-image-signature-to-dir=DIR (or --to-dir) to write one"
            )
        }
    }
    if let Some(applied) = &signature.applied {
        out.push_str(&applied.to_text());
    }
    out
}

/// The versioned JSON document of a report (or a selection), one line feed after it.
pub fn json(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    text.push('\n');
    text
}

/// `path`: one line per release; each hop between them, with the risks of a conditional one.
pub fn path(selection: &Selection) -> String {
    let mut out = String::new();
    let mut previous = None;
    for r in &selection.releases {
        let hop = selection.path.as_ref().zip(previous.zip(r.version.as_ref())).and_then(|(p, (a, b))| p.hop(a, b));
        if let Some(h) = hop {
            let kind = if h.conditional { "conditional update" } else { "update" };
            let _ = writeln!(out, "  ↓ {kind} {} -> {}", h.from, h.to);
            for risk in &h.risks {
                out.push_str(&shown::risk(risk));
            }
        }
        let version = r.version.as_ref().map(ToString::to_string).unwrap_or_default();
        let _ = writeln!(out, "{version}  {}", r.image);
        previous = r.version.as_ref();
    }
    out
}

#[cfg(test)]
mod tests {
    use release_mirror::graph::{Hop, Risk, Version};
    use release_mirror::reference::ImageRef;
    use release_mirror::select::{Route, Selected, Selection};

    fn v(text: &str) -> Version {
        text.parse().expect("version")
    }

    fn selected(version: &str, hex: char) -> Selected {
        let image = ImageRef::parse(&format!("q.example/r@sha256:{}", hex.to_string().repeat(64))).expect("ref");
        Selected { version: Some(v(version)), image }
    }

    #[test]
    fn path_text_tells_a_conditional_hop_from_a_plain_one_and_shows_its_risks() {
        let risk = Risk { name: "R".into(), url: "https://issues.example/R".into(), message: "R may bite.".into() };
        let hops = vec![
            Hop { from: v("4.14.1"), to: v("4.14.2"), conditional: false, risks: Vec::new() },
            Hop { from: v("4.14.2"), to: v("4.15.0"), conditional: true, risks: vec![risk] },
        ];
        let route = Route { channel: "stable-4.15".into(), arch: "amd64".into(), hops };
        let releases = vec![selected("4.14.1", 'a'), selected("4.14.2", 'b'), selected("4.15.0", 'c')];
        let text = super::path(&Selection { releases, path: Some(route), graph: None });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                format!("4.14.1  q.example/r@sha256:{}", "a".repeat(64)).as_str(),
                "  ↓ update 4.14.1 -> 4.14.2",
                format!("4.14.2  q.example/r@sha256:{}", "b".repeat(64)).as_str(),
                "  ↓ conditional update 4.14.2 -> 4.15.0",
                "    risk R: R may bite. (https://issues.example/R)",
                format!("4.15.0  q.example/r@sha256:{}", "c".repeat(64)).as_str(),
            ]
        );
    }
}
