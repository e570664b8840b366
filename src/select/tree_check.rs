//! The tree record is read on the far side of the gap and trusted there: before anything in
//! it is used, it is checked against the tree it describes. A known schema, a bounded number
//! of releases, each naming a tag inside the tree that holds the entry's digest, a source by
//! that same digest, no release twice, and versions in upgrade order. A recorded path is
//! used only when it joins exactly the recorded releases (separate runs into one tree make
//! several selections, not one path).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, ensure, Context as _, Result};

use super::tree::{RecordedRelease, TreeRecord, RECORD_VERSION};
use super::Route;
use crate::digest::Digest;
use crate::disk::layout::{parse_tag_link, Layout};
use crate::graph::Version;
use crate::reference::ImageRef;

/// The largest record read: a real one is a few kilobytes.
pub const MAX_RECORD_BYTES: usize = 4 << 20;
/// The most releases a record may list: a real path or range is a few dozen.
pub const MAX_RECORDED_RELEASES: usize = 100;

/// Refuse a record that does not describe the tree at `root`; the message says why.
pub(super) fn check(record: &TreeRecord, root: &Path) -> Result<()> {
    let version = record.schema_version;
    ensure!(
        (1..=RECORD_VERSION).contains(&version),
        "schemaVersion {version} is not known (this tool reads 1 to {RECORD_VERSION})"
    );
    let n = record.releases.len();
    ensure!(n <= MAX_RECORDED_RELEASES, "it lists {n} releases, more than the limit of {MAX_RECORDED_RELEASES}");
    super::tree_carry::check(&record.carry)?;
    let layout = Layout::new(root);
    let mut seen = BTreeSet::new();
    let mut previous: Option<Version> = None;
    for r in &record.releases {
        for key in [&r.digest, &r.image] {
            ensure!(seen.insert(key.clone()), "it lists {key} twice");
        }
        entry(&layout, r).with_context(|| format!("its entry for release {:?} ({})", r.version, r.image))?;
        if let Ok(version) = r.version.parse::<Version>() {
            // Equal versions are one release for several architectures; a lower one is a downgrade.
            if let Some(before) = previous.as_ref().filter(|p| **p > version) {
                bail!("release {version} comes after {before}: the releases are not in upgrade order");
            }
            previous = Some(version);
        }
    }
    Ok(())
}

/// One entry: a tag of the tree holding its digest, and a source by that digest.
fn entry(layout: &Layout, r: &RecordedRelease) -> Result<()> {
    let image = ImageRef::parse(&r.image)?;
    ensure!(image.registry().is_none(), "{} is not an image inside the tree", r.image);
    let Some(tag) = image.tag.as_deref().filter(|_| image.digest.is_none()) else {
        bail!("{} names no tag of the tree", r.image);
    };
    let digest: Digest = r.digest.parse()?;
    if crate::disk::segments::is_set(layout.root()) {
        let index = crate::disk::segments::read_index(layout.root())?;
        let held = index.tag(&image.repository, tag).with_context(|| format!("the tree has no {}", r.image))?;
        ensure!(held == digest.as_str(), "the tree's {} is {held}, not {digest}", r.image);
        return source_by(r, &digest);
    }
    let link = layout.manifest(&image.repository, tag).map_err(anyhow::Error::msg)?;
    let meta = std::fs::symlink_metadata(&link).with_context(|| format!("the tree has no {}", r.image))?;
    ensure!(meta.file_type().is_symlink(), "{} is not a tag link", link.display());
    let target = std::fs::read_link(&link).with_context(|| format!("failed to read {}", link.display()))?;
    let held = parse_tag_link(&target).map_err(anyhow::Error::msg)?;
    ensure!(held == digest, "the tree's {} is {held}, not {digest}", r.image);
    source_by(r, &digest)
}

fn source_by(r: &RecordedRelease, digest: &Digest) -> Result<()> {
    let source = ImageRef::parse(&r.source).context("its source is not an image reference")?;
    ensure!(source.digest.as_ref() == Some(digest), "its source {} is not by digest {digest}", r.source);
    Ok(())
}

/// Whether `route` joins exactly `releases`, hop by hop.
pub(super) fn path_fits(route: &Route, releases: &[RecordedRelease]) -> bool {
    let versions: Vec<Option<Version>> = releases.iter().map(|r| r.version.parse().ok()).collect();
    route.hops.len() + 1 == versions.len()
        && route
            .hops
            .iter()
            .zip(versions.windows(2))
            .all(|(hop, pair)| pair[0].as_ref() == Some(&hop.from) && pair[1].as_ref() == Some(&hop.to))
}
