//! Uploading a segment set (`--from-dir` of a tree written with `--archive-size`): before
//! the plan, every segment is checked against the index (there, its length, its sha256).
//! An image with a byte in a damaged segment is left out and named, and so is the release
//! image that lists it (a release is not tagged with images missing); the rest goes up, and
//! the run then fails, naming the segments to carry again.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

use super::Run;
use crate::disk::segments::{self, Index};
use crate::manifest::{self, Parsed};
use crate::mirror::Mapping;
use crate::store::ImageStore as _;

/// Leave out the mappings that depend on a damaged segment; the message to fail with after
/// the rest is uploaded, when any were left out.
pub(super) async fn drop_damaged(run: &Run<'_>, mappings: &mut Vec<Mapping>) -> Result<Option<String>> {
    let Some(dir) = run.job.from_dir.as_deref().filter(|d| segments::is_set(d)) else { return Ok(None) };
    let index = segments::read_index(dir)?;
    let damaged = segments::damaged_segments(dir, &index).await;
    if damaged.is_empty() {
        return Ok(None);
    }
    let mut bad: BTreeSet<String> = BTreeSet::new();
    for m in mappings.iter().filter(|m| m.source.registry().is_none() && !m.is_release()) {
        if let Some(segment) = first_damaged(run, m, &index, &damaged).await {
            run.progress.warn(&format!(
                "not uploading {}: its bytes are in {segment}, which is damaged ({})",
                m.destination, damaged[&segment]
            ));
            bad.insert(m.destination.tag.clone().unwrap_or_default());
        }
    }
    let held_back = |m: &Mapping| {
        let tag = m.destination.tag.clone().unwrap_or_default();
        m.is_release() && bad.iter().any(|b| b.starts_with(&format!("{tag}-")))
    };
    for m in mappings.iter().filter(|m| held_back(m)) {
        run.progress.warn(&format!("not tagging release {}: some of its images are damaged", m.destination));
    }
    let before = mappings.len();
    mappings.retain(|m| !held_back(m) && !bad.contains(m.destination.tag.as_deref().unwrap_or_default()));
    let names: Vec<String> = damaged.iter().map(|(name, why)| format!("{name} ({why})")).collect();
    Ok(Some(format!(
        "{} images were not uploaded because segments of {} are damaged: {}; copy those segments again from the \
         connected side (or rerun the --to-dir command there) and run this upload again",
        before - mappings.len(),
        dir.display(),
        names.join(", ")
    )))
}

/// The first damaged segment holding a byte of `m`'s image: its manifest, a list's
/// platform manifests, configs and layers. A manifest that cannot be read counts as damaged.
async fn first_damaged(
    run: &Run<'_>,
    m: &Mapping,
    index: &Index,
    damaged: &BTreeMap<String, String>,
) -> Option<String> {
    let hit = |digest: &str| index.segments_of(digest).into_iter().find(|s| damaged.contains_key(*s)).map(String::from);
    let store = run.sources.get(&m.source).ok()?;
    let mut manifests = vec![m.digest.clone()];
    while let Some(digest) = manifests.pop() {
        if let Some(s) = hit(digest.as_str()) {
            return Some(s);
        }
        let Ok(raw) = store.get_manifest(&m.source.repository, digest.as_str()).await else {
            return index.segments_of(digest.as_str()).first().map(|s| s.to_string());
        };
        match manifest::parse(&raw.bytes, &raw.media_type) {
            Ok(Parsed::List { manifests: children }) => manifests.extend(children.into_iter().map(|c| c.digest)),
            Ok(Parsed::Image { config, layers }) => {
                if let Some(s) = std::iter::once(&config).chain(&layers).find_map(|d| hit(d.digest.as_str())) {
                    return Some(s);
                }
            }
            Err(_) => return index.segments_of(digest.as_str()).first().map(|s| s.to_string()),
        }
    }
    None
}

/// After the rest went up: fail when images were left out.
pub(super) fn fail_if_damaged(message: Option<String>) -> Result<()> {
    match message {
        Some(message) => bail!("{message}"),
        None => Ok(()),
    }
}
