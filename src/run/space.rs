//! `--to-dir`: before any blob is written, the plan's files are weighed against the free
//! space of the tree's filesystem. A plan that does not fit stops the run
//! ([`crate::exit::Failure::NoSpace`]); a dry run reports what it would need.

use anyhow::{Context as _, Result};

use super::Run;
use crate::disk::space::{allocated, free_space, TREE_OVERHEAD};
use crate::exit::{Failure, NoSpace};
use crate::mirror::{Plan, SpaceNeeded};

/// The bytes the plan writes into the tree at `block`-byte allocation: the blobs it copies
/// there, the manifests it stores, and the record and folders beside them.
pub(crate) fn needed(plan: &Plan, block: u64) -> u64 {
    allocated(files(plan), block).saturating_add(TREE_OVERHEAD)
}

/// The same, written as tar segments of at most `size` bytes: each file a tar entry, and
/// each segment a header for a spanning piece, the end blocks and a partly used block.
pub(crate) fn needed_in_segments(plan: &Plan, size: u64, block: u64) -> u64 {
    use crate::disk::segments::{entry_len, SEGMENT_OVERHEAD};
    let entries = files(plan).map(entry_len).fold(0, u64::saturating_add);
    let segments = entries / size.max(1) + 1;
    entries.saturating_add(segments * (SEGMENT_OVERHEAD + block)).saturating_add(TREE_OVERHEAD)
}

/// The sizes of the files the plan writes into a tree: blobs, then manifests.
fn files(plan: &Plan) -> impl Iterator<Item = u64> + '_ {
    let blobs = plan.blobs.iter().filter(|b| b.to.registry().is_none()).map(|b| b.size);
    let manifests = plan
        .children
        .iter()
        .chain(&plan.tagged)
        .filter(|m| m.to.registry().is_none())
        .map(|m| m.manifest.bytes.len() as u64);
    blobs.chain(manifests)
}

/// With `--to-dir`: what the plan needs and what the filesystem has; an error marked
/// [`Failure::NoSpace`] when it does not fit, unless this is a dry run (which reports it).
pub(super) fn check(run: &Run<'_>, plan: &Plan) -> Result<Option<SpaceNeeded>> {
    let Some(dir) = &run.job.to_dir else { return Ok(None) };
    let free = free_space(dir).with_context(|| format!("cannot tell how much space {} has", dir.display()))?;
    let needed = match run.job.archive_size {
        Some(size) => needed_in_segments(plan, size, free.block),
        None => needed(plan, free.block),
    };
    let space = SpaceNeeded { folder: dir.clone(), needed, available: free.available };
    if space.needed > space.available {
        let err = NoSpace { dir: dir.clone(), needed: space.needed, available: space.available };
        if !run.job.dry_run {
            return Err(Failure::NoSpace.mark(err));
        }
        run.progress.warn(&err.to_string().replace("nothing was written: ", ""));
    }
    Ok(Some(space))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::digest::Digest;
    use crate::manifest::Descriptor;
    use crate::mirror::{plan, DestState, Mapping, SourceImage};
    use crate::reference::ImageRef;
    use crate::store::RawManifest;

    /// One image of two blobs (5000 and 10 bytes) going to `to`, and what was read of it.
    fn inputs(to: &str) -> (Vec<Mapping>, BTreeMap<Digest, SourceImage>) {
        let bytes = bytes::Bytes::from_static(b"{}");
        let manifest = RawManifest { digest: Digest::of(&bytes), bytes, media_type: String::new() };
        let blob =
            |n: u8, size| Descriptor { digest: Digest::of(&[n]), size, media_type: String::new(), platform: None };
        let image =
            SourceImage { manifest: manifest.clone(), blobs: vec![blob(1, 5000), blob(2, 10)], children: vec![] };
        let source = ImageRef::parse("src.io/ocp/art").expect("ref").with_digest(&manifest.digest);
        let destination = ImageRef::parse_repository(to).expect("repo").with_tag("4.99.0-x86_64-a");
        let m =
            Mapping { name: "a".into(), origin: source.clone(), source, destination, digest: manifest.digest.clone() };
        (vec![m], BTreeMap::from([(manifest.digest, image)]))
    }

    #[test]
    fn a_tree_needs_its_missing_blobs_and_manifests_in_whole_blocks() {
        let (mappings, sources) = inputs("file://openshift/release");
        let p = plan(mappings, &sources, &DestState::default(), |_, _| false);
        assert_eq!(needed(&p, 4096), 8192 + 4096 + 4096 + TREE_OVERHEAD, "5000, 10 and the manifest's 2 bytes");
        let mut dest = DestState::default();
        dest.blobs.insert(("openshift/release".into(), Digest::of(&[1])), 5000);
        let (mappings, sources) = inputs("file://openshift/release");
        let p = plan(mappings, &sources, &dest, |_, _| false);
        assert_eq!(needed(&p, 4096), 4096 + 4096 + TREE_OVERHEAD, "a blob the tree has takes no more");
    }

    #[test]
    fn segments_need_each_file_as_a_tar_entry_plus_each_segment_s_overhead() {
        let (mappings, sources) = inputs("file://openshift/release");
        let p = plan(mappings, &sources, &DestState::default(), |_, _| false);
        let entries = (512 + 5120) + (512 + 512) + (512 + 512);
        assert_eq!(needed_in_segments(&p, 1 << 20, 4096), entries + (1536 + 4096) + TREE_OVERHEAD);
    }

    #[test]
    fn a_registry_destination_needs_no_local_space() {
        let (mappings, sources) = inputs("dst.io/mirror");
        let p = plan(mappings, &sources, &DestState::default(), |_, _| false);
        assert_eq!(needed(&p, 4096), TREE_OVERHEAD);
    }
}
