//! Transfers that build on earlier ones (`--since`). Writing: the blobs the earlier
//! transfers carried count as present in the new tree, so only the rest are written, and the
//! tree's record lists what it carried, what the chain carried, and what it expects to find
//! at the destination. Uploading: before anything is copied, every blob the plan needs from
//! the tree is either in it or already at the destination; otherwise the earlier tree that
//! carried it must be uploaded first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context as _, Result};

use super::Run;
use crate::digest::Digest;
use crate::mirror::{DestState, Mapping, Plan, SourceImage};
use crate::select::{self, CarriedBlob, Carry, EarlierTransfer, TreeRecord};

/// What the `--since` trees carried, together: every blob of their chains, and the
/// transfers this one builds on (theirs and they themselves).
fn chain(since: &[std::path::PathBuf]) -> Result<Carry> {
    let mut all = Carry::default();
    for folder in since {
        let record = select::read_since_record(folder)?;
        let Some(id) = record.carry.transfer.clone() else {
            bail!(
                "the record of {} names no transfer: it was written by an earlier version of this tool; write \
                 that transfer again, or give no --since",
                folder.display()
            );
        };
        let mut carry = record.carry;
        carry.transfer = None;
        carry.expects.clear();
        carry.based_on.push(EarlierTransfer { transfer: id, folder: folder.clone() });
        all.merge(carry);
    }
    Ok(all)
}

/// `--since`: the blobs the earlier transfers carried count as present in the tree, for
/// every repository the run writes there. Returns the ones the plan's images use, which
/// the destination must have: the tree relies on them.
pub(super) fn assume_carried(
    run: &Run<'_>,
    mappings: &[Mapping],
    images: &BTreeMap<Digest, SourceImage>,
    state: &mut DestState,
) -> Result<BTreeMap<Digest, u64>> {
    if run.job.since.is_empty() || run.job.to_dir.is_none() {
        return Ok(BTreeMap::new());
    }
    let carried = chain(&run.job.since)?.carried();
    let mut relied = BTreeMap::new();
    for m in mappings.iter().filter(|m| m.destination.registry().is_none()) {
        let repo = &m.destination.repository;
        let Some(image) = images.get(&m.digest) else { continue };
        let blobs = image.blobs.iter().chain(image.children.iter().flat_map(|c| c.blobs.iter()));
        for blob in blobs {
            let key = (repo.clone(), blob.digest.clone());
            match carried.get(&blob.digest) {
                Some((size, _)) if !state.blobs.contains_key(&key) => {
                    state.blobs.insert(key, *size);
                    relied.insert(blob.digest.clone(), *size);
                }
                _ => {}
            }
        }
    }
    if !relied.is_empty() {
        let bytes: u64 = relied.values().sum();
        run.progress.info(&format!(
            "{} blobs ({bytes} bytes) were carried by earlier transfers: the tree does not hold them again",
            relied.len()
        ));
    }
    Ok(relied)
}

/// After a `--to-dir` run: what the tree carried (every blob file in it) joins the chain's
/// list, and what it relies on is named with the transfer that carried it.
pub(super) fn record(run: &Run<'_>, relied: &BTreeMap<Digest, u64>) -> Result<()> {
    let (Some(dir), false) = (&run.job.to_dir, run.job.dry_run) else { return Ok(()) };
    let chain = chain(&run.job.since)?;
    let own = select::read_record(dir)?.and_then(|r| r.carry.transfer).unwrap_or_else(|| select::new_transfer_id(dir));
    let carried = chain.carried();
    let held =
        crate::disk::blobs_in_tree(dir).with_context(|| format!("failed to list the blobs of {}", dir.display()))?;
    let mut blobs = chain.blobs.clone();
    blobs.extend(held.into_iter().filter(|(d, _)| !carried.contains_key(d)).map(|(digest, size)| CarriedBlob {
        digest: digest.to_string(),
        size,
        transfer: own.clone(),
    }));
    let expects = relied
        .iter()
        .filter_map(|(digest, size)| {
            let (_, transfer) = carried.get(digest)?;
            Some(CarriedBlob { digest: digest.to_string(), size: *size, transfer: transfer.clone() })
        })
        .collect();
    let carry = Carry { transfer: Some(own), based_on: chain.based_on, blobs, expects };
    select::write_record(
        dir,
        TreeRecord { schema_version: select::RECORD_VERSION, carry, ..TreeRecord::default() },
        None,
    )?;
    Ok(())
}

/// Uploading a tree that relies on earlier transfers: every blob the plan copies from the
/// tree must be in it. Those that are not, and that an earlier transfer carried, stop the
/// run before anything is copied, naming that transfer (a dry run warns).
pub(super) async fn check_upload(run: &Run<'_>, plan: &Plan) -> Result<()> {
    let Some(dir) = &run.job.from_dir else { return Ok(()) };
    let Some(record) = select::read_record(dir)? else { return Ok(()) };
    if record.carry.expects.is_empty() {
        return Ok(());
    }
    let expected: BTreeMap<&str, &CarriedBlob> = record.carry.expects.iter().map(|b| (b.digest.as_str(), b)).collect();
    let mut missing: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for task in plan.blobs.iter().filter(|t| t.from.registry().is_none()) {
        let Some(blob) = expected.get(task.digest.as_str()) else { continue };
        if !seen.insert(&task.digest) {
            continue;
        }
        let store = run.sources.get(&task.from)?;
        if crate::store::ImageStore::blob_size(store.as_ref(), &task.from.repository, &task.digest).await?.is_none() {
            let entry = missing.entry(blob.transfer.as_str()).or_default();
            *entry = (entry.0 + 1, entry.1 + blob.size);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let message = refusal(dir, &record.carry, &missing);
    if run.job.dry_run {
        run.progress.warn(&message);
        return Ok(());
    }
    bail!("{message}")
}

fn refusal(dir: &Path, carry: &Carry, missing: &BTreeMap<&str, (usize, u64)>) -> String {
    let total: usize = missing.values().map(|(n, _)| n).sum();
    let by: Vec<String> = missing
        .iter()
        .map(|(id, (n, bytes))| match carry.folder_of(id) {
            Some(folder) => format!("{n} ({bytes} bytes) carried by transfer {id}, written to {}", folder.display()),
            None => format!("{n} ({bytes} bytes) carried by transfer {id}"),
        })
        .collect();
    format!(
        "the destination lacks {total} blobs that {} relies on: {}; upload that earlier tree first, then this one; \
         nothing was copied",
        dir.display(),
        by.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_counts_the_missing_blobs_and_names_each_transfer_and_its_folder() {
        let carry = Carry {
            based_on: vec![EarlierTransfer { transfer: "aa".into(), folder: "/media/week1".into() }],
            ..Carry::default()
        };
        let missing = BTreeMap::from([("aa", (3, 300)), ("bb", (1, 7))]);
        let text = refusal(Path::new("/media/week2"), &carry, &missing);
        assert!(text.starts_with("the destination lacks 4 blobs that /media/week2 relies on"), "{text}");
        assert!(text.contains("3 (300 bytes) carried by transfer aa, written to /media/week1"), "{text}");
        assert!(text.contains("1 (7 bytes) carried by transfer bb;"), "{text}");
        assert!(text.ends_with("nothing was copied"), "{text}");
    }
}
