//! What a tree record says about the transfers it belongs to (`--since`): its own identity,
//! the earlier transfers it builds on, every blob the chain carried (cumulatively, with the
//! transfer that carried it), and the blobs its images need at the destination that an
//! earlier transfer carried. All fields are optional in the file: a record written before
//! them reads as a transfer that relies on nothing. Format: docs/disk-layout.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The most blobs a record may list: a year of weekly transfers of a real release.
pub(crate) const MAX_RECORDED_BLOBS: usize = 30_000;

/// The transfer part of a tree record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Carry {
    /// This tree's identity, made when it is first written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) transfer: Option<String>,
    /// The earlier transfers it builds on, the whole chain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) based_on: Vec<EarlierTransfer>,
    /// Every blob this tree and the transfers it builds on carried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) blobs: Vec<CarriedBlob>,
    /// The blobs its images need that it does not hold: the destination must have them
    /// before it is uploaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) expects: Vec<CarriedBlob>,
}

/// An earlier transfer: its identity and where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EarlierTransfer {
    pub(crate) transfer: String,
    pub(crate) folder: PathBuf,
}

/// A blob and the transfer that carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CarriedBlob {
    pub(crate) digest: String,
    pub(crate) size: u64,
    pub(crate) transfer: String,
}

impl Carry {
    /// Add what another run into the same tree recorded: one identity (the first), and the
    /// union of the rest.
    pub(crate) fn merge(&mut self, new: Carry) {
        if self.transfer.is_none() {
            self.transfer = new.transfer;
        }
        for t in new.based_on {
            if !self.based_on.iter().any(|o| o.transfer == t.transfer) {
                self.based_on.push(t);
            }
        }
        self.blobs = union(std::mem::take(&mut self.blobs), new.blobs);
        self.expects = union(std::mem::take(&mut self.expects), new.expects);
    }

    /// The blobs the chain carried, by digest, with their size and carrying transfer.
    pub(crate) fn carried(&self) -> BTreeMap<Digest, (u64, String)> {
        let parsed = self.blobs.iter().filter_map(|b| Some((b.digest.parse().ok()?, (b.size, b.transfer.clone()))));
        parsed.collect()
    }

    /// Where transfer `id` was written, as the chain recorded it.
    pub(crate) fn folder_of(&self, id: &str) -> Option<&Path> {
        self.based_on.iter().find(|t| t.transfer == id).map(|t| t.folder.as_path())
    }
}

fn union(old: Vec<CarriedBlob>, new: Vec<CarriedBlob>) -> Vec<CarriedBlob> {
    let mut by_digest: BTreeMap<String, CarriedBlob> = BTreeMap::new();
    for b in old.into_iter().chain(new) {
        by_digest.entry(b.digest.clone()).or_insert(b);
    }
    by_digest.into_values().collect()
}

/// Refuse transfer fields that are not what this tool writes: bounded lists of valid
/// digests, each carried by a transfer the record names.
pub(super) fn check(carry: &Carry) -> Result<()> {
    let n = carry.blobs.len() + carry.expects.len();
    ensure!(n <= 2 * MAX_RECORDED_BLOBS, "it lists {n} blobs, more than the limit of {}", 2 * MAX_RECORDED_BLOBS);
    let known = |id: &str| carry.transfer.as_deref() == Some(id) || carry.folder_of(id).is_some();
    for b in carry.blobs.iter().chain(&carry.expects) {
        b.digest.parse::<Digest>().with_context(|| format!("its blob {:?} is not a digest", b.digest))?;
        ensure!(known(&b.transfer), "its blob {} names transfer {:?}, which it does not list", b.digest, b.transfer);
    }
    Ok(())
}

/// The record of the tree at `root`, checked on its own (not against the tree, which may
/// be gone): what `--since` reads.
pub(super) fn read_alone(root: &Path) -> Result<super::TreeRecord> {
    let path = root.join(super::RECORD_DIR).join(super::tree::RECORD_FILE);
    let bytes = crate::disk::read_small(&path, super::MAX_RECORD_BYTES)?
        .with_context(|| format!("--since {}: there is no release record {}", root.display(), path.display()))?;
    let record: super::TreeRecord = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a release record of this tool", path.display()))?;
    check(&record.carry).with_context(|| format!("refusing the release record {}", path.display()))?;
    Ok(record)
}

/// A new transfer identity: unique per tree and moment.
pub(crate) fn new_transfer_id(folder: &Path) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let seed = format!("{}:{}:{}", folder.display(), now.as_nanos(), std::process::id());
    Digest::of(seed.as_bytes()).hex()[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(hex: char, transfer: &str) -> CarriedBlob {
        CarriedBlob { digest: format!("sha256:{}", hex.to_string().repeat(64)), size: 1, transfer: transfer.into() }
    }

    #[test]
    fn merging_keeps_the_first_identity_and_each_blob_once() {
        let mut a = Carry { transfer: Some("a".into()), blobs: vec![blob('1', "a")], ..Carry::default() };
        let b = Carry { transfer: Some("b".into()), blobs: vec![blob('1', "b"), blob('2', "a")], ..Carry::default() };
        a.merge(b);
        assert_eq!(a.transfer.as_deref(), Some("a"));
        assert_eq!(a.blobs, vec![blob('1', "a"), blob('2', "a")]);
        assert!(check(&a).is_ok());
    }

    #[test]
    fn a_blob_of_an_unlisted_transfer_or_a_bad_digest_is_refused() {
        let carry = Carry { transfer: Some("a".into()), blobs: vec![blob('1', "zz")], ..Carry::default() };
        assert!(format!("{:#}", check(&carry).expect_err("unknown")).contains("which it does not list"));
        let mut bad = blob('1', "a");
        bad.digest = "sha256:xyz".into();
        let carry = Carry { transfer: Some("a".into()), blobs: vec![bad], ..Carry::default() };
        assert!(format!("{:#}", check(&carry).expect_err("bad")).contains("is not a digest"));
        let carry = Carry {
            transfer: Some("a".into()),
            blobs: vec![blob('1', "a"); 2 * MAX_RECORDED_BLOBS + 1],
            ..Carry::default()
        };
        assert!(format!("{:#}", check(&carry).expect_err("too many")).contains("more than the limit of 60000"));
    }
}
