//! `--from-dir DIR --dry-run --verify`: check the media before the upload window. Every
//! blob of every image the tree would upload (manifests, configs, layers, a list's platform
//! images) is read and hashed, from files or in place from segments; what is missing or
//! damaged is named with the image that needs it. No registry is asked anything.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

use super::{ReleaseRun, Run};
use crate::digest::Digest;
use crate::manifest::{self, Parsed};
use crate::mirror::{Mapping, MediaCheck};
use crate::store::ImageStore as _;

/// Whether this run is the media check.
pub(super) fn asked(run: &Run<'_>) -> bool {
    let job = run.job;
    job.dry_run
        && job.tree_check == crate::mirror::TreeCheck::Contents
        && job.from_dir.is_some()
        && job.to_dir.is_none()
}

/// Hash every blob the mappings read from the tree; the report of a clean check, or an
/// error naming each missing or damaged blob and its image.
pub(super) async fn check(run: &Run<'_>, releases: &[ReleaseRun], mappings: &[Mapping]) -> Result<super::Report> {
    let mut seen: BTreeSet<Digest> = BTreeSet::new();
    let mut bad: BTreeMap<Digest, (String, &'static str)> = BTreeMap::new();
    let mut bytes = 0u64;
    for m in mappings.iter().filter(|m| m.source.registry().is_none()) {
        let store = run.sources.get(&m.source)?;
        let repo = &m.source.repository;
        // (digest, whether it is a manifest whose blobs follow)
        let mut pending = vec![(m.digest.clone(), true)];
        while let Some((digest, is_manifest)) = pending.pop() {
            if !seen.insert(digest.clone()) {
                continue;
            }
            let Some(size) = store.blob_size(repo, &digest).await? else {
                bad.insert(digest, (m.destination.to_string(), "missing"));
                continue;
            };
            if store.intact_blob_size(repo, &digest).await?.is_none() {
                bad.insert(digest, (m.destination.to_string(), "damaged: its content does not match its digest"));
                continue;
            }
            bytes += size;
            if !is_manifest {
                continue;
            }
            if let Ok(raw) = store.get_manifest(repo, digest.as_str()).await {
                match manifest::parse(&raw.bytes, &raw.media_type) {
                    Ok(Parsed::List { manifests }) => pending.extend(manifests.into_iter().map(|d| (d.digest, true))),
                    Ok(Parsed::Image { config, layers }) => {
                        pending.extend(std::iter::once(config).chain(layers).map(|d| (d.digest, false)));
                    }
                    Err(_) => {}
                }
            }
        }
    }
    let dir = run.job.from_dir.clone().unwrap_or_default();
    if !bad.is_empty() {
        let lines: Vec<String> =
            bad.iter().take(20).map(|(d, (image, why))| format!("blob {d} of {image} is {why}")).collect();
        let more = if bad.len() > 20 { format!("; and {} more", bad.len() - 20) } else { String::new() };
        bail!(
            "{} of the {} blobs in {} are missing or damaged: {}{more}; write the tree again on the connected side \
             (a rerun replaces only what is wrong)",
            bad.len(),
            seen.len(),
            dir.display(),
            lines.join("; ")
        );
    }
    run.progress.info(&format!("checked {} blobs ({bytes} bytes) in {}: all intact", seen.len(), dir.display()));
    let mut report = super::steps::mapping_lines(run, releases);
    report.mapping_lines_only = false;
    report.mirror.transfer.checked = Some(MediaCheck { folder: dir, blobs: seen.len(), bytes });
    Ok(report)
}
