//! The index of a segment set, as data: the segments with their lengths and sha256, where
//! each blob lives (pieces: segment, offset, length), and the tags. Also the pure
//! arithmetic of fitting a piece into a segment of at most `size` bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A tar block.
pub(crate) const BLOCK: u64 = 512;
/// The two zero blocks that end a tar archive, always kept after the last entry.
pub(crate) const END: u64 = 2 * BLOCK;
/// The smallest `--archive-size`: a header, a block of data and the end.
pub(crate) const MIN_SIZE: u64 = 16 * 1024;
/// Version of the index format.
pub(crate) const INDEX_VERSION: u32 = 1;

/// The state of a set: the index once written, the journal while being written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    pub(crate) schema_version: u32,
    /// The largest size of a segment file, in bytes.
    pub(crate) archive_size: u64,
    /// `segment-0001.tar`, … in order.
    pub(crate) segments: Vec<Segment>,
    /// Blob digest → where its bytes are.
    pub(crate) blobs: BTreeMap<String, Blob>,
    /// Repository → tag → manifest digest.
    pub(crate) tags: BTreeMap<String, BTreeMap<String, String>>,
}

/// One segment file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Segment {
    pub(crate) name: String,
    /// Bytes of entries, before the two zero blocks that end it (the file is 1024 longer).
    pub(crate) length: u64,
    /// sha256 of the whole file, filled when the set is finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sha256: Option<String>,
}

/// Where one blob is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Blob {
    pub(crate) size: u64,
    pub(crate) pieces: Vec<Piece>,
}

/// A run of a blob's bytes in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Piece {
    /// Index into `segments`.
    pub(crate) segment: usize,
    /// Byte offset of the data in the segment file.
    pub(crate) offset: u64,
    pub(crate) length: u64,
}

impl Index {
    pub(crate) fn new(archive_size: u64) -> Index {
        Index { schema_version: INDEX_VERSION, archive_size, ..Index::default() }
    }

    /// The manifest digest `repo:tag` names.
    pub(crate) fn tag(&self, repo: &str, tag: &str) -> Option<&str> {
        self.tags.get(repo).and_then(|t| t.get(tag)).map(String::as_str)
    }

    /// Refuse an index this tool would not write (it crosses the gap): segments named in
    /// order (so no name leaves the folder), pieces inside their segment summing to the
    /// blob's size, digests, repositories and tags that are valid names.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.schema_version != INDEX_VERSION {
            return Err(format!(
                "schemaVersion {} is not known (this tool reads {INDEX_VERSION})",
                self.schema_version
            ));
        }
        for (n, s) in self.segments.iter().enumerate() {
            if s.name != segment_name(n) || s.length > self.archive_size {
                return Err(format!(
                    "segment {} is not {} of at most {} bytes",
                    s.name,
                    segment_name(n),
                    self.archive_size
                ));
            }
        }
        for (digest, blob) in &self.blobs {
            digest.parse::<crate::digest::Digest>().map_err(|e| format!("blob {digest:?}: {e}"))?;
            let inside =
                |p: &Piece| self.segments.get(p.segment).is_some_and(|s| p.offset.saturating_add(p.length) <= s.length);
            if !blob.pieces.iter().all(inside) || blob.pieces.iter().map(|p| p.length).sum::<u64>() != blob.size {
                return Err(format!(
                    "the pieces of blob {digest} do not lie in its segments or do not add up to its size"
                ));
            }
        }
        for (repo, tags) in &self.tags {
            crate::reference::check_repository(repo)?;
            for (tag, digest) in tags {
                crate::reference::check_tag(tag)?;
                digest.parse::<crate::digest::Digest>().map_err(|e| format!("tag {tag}: {e}"))?;
            }
        }
        Ok(())
    }

    /// The segment names a blob's bytes depend on.
    pub(crate) fn segments_of(&self, digest: &str) -> Vec<&str> {
        let Some(blob) = self.blobs.get(digest) else { return Vec::new() };
        blob.pieces.iter().filter_map(|p| self.segments.get(p.segment)).map(|s| s.name.as_str()).collect()
    }
}

/// The file name of segment `n` (from 0).
pub(crate) fn segment_name(n: usize) -> String {
    format!("segment-{:04}.tar", n + 1)
}

/// Bytes of data a new entry can hold in a segment whose entries take `used` bytes, so that
/// the file (header, data padded to a block, the end blocks) stays within `size`.
pub(crate) fn room(used: u64, size: u64) -> u64 {
    size.saturating_sub(used + BLOCK + END) / BLOCK * BLOCK
}

/// Bytes an entry of `length` data bytes takes: its header and its padded data.
pub(crate) fn entry_len(length: u64) -> u64 {
    BLOCK + length.div_ceil(BLOCK) * BLOCK
}

/// `700MiB`, `4GiB`, `64K`, `1G`, or a number of bytes: `K`, `M`, `G` and `KiB`, `MiB`, `GiB`
/// are all powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a size such as 700MiB or 4GiB"))?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        other => return Err(format!("{text:?}: unknown unit {other:?} (use K, M, G or KiB, MiB, GiB)")),
    };
    let bytes = n.checked_mul(1 << shift).ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes < MIN_SIZE {
        return Err(format!("{text:?} is smaller than the smallest segment, {} KiB", MIN_SIZE / 1024));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_powers_of_1024_in_both_spellings() {
        assert_eq!(parse_size("700MiB"), Ok(700 << 20));
        assert_eq!(parse_size("700M"), Ok(700 << 20));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("65536"), Ok(65536));
        for bad in ["", "MiB", "4TB", "1K", "4 parsecs"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_index_naming_a_path_outside_its_folder_or_pieces_outside_a_segment_is_refused() {
        let mut index = Index::new(MIN_SIZE);
        index.segments.push(Segment { name: segment_name(0), length: 4096, sha256: None });
        let piece = Piece { segment: 0, offset: 512, length: 100 };
        index.blobs.insert(format!("sha256:{}", "a".repeat(64)), Blob { size: 100, pieces: vec![piece] });
        assert_eq!(index.check(), Ok(()));
        let mut bad = index.clone();
        bad.segments[0].name = "../../etc/passwd".into();
        assert!(bad.check().is_err_and(|e| e.contains("is not segment-0001.tar")));
        let mut bad = index.clone();
        bad.blobs.values_mut().for_each(|b| b.pieces[0].offset = 4000);
        assert!(bad.check().is_err_and(|e| e.contains("do not lie in its segments")));
        let mut bad = index;
        bad.tags.entry("../x".into()).or_default().insert("t".into(), format!("sha256:{}", "a".repeat(64)));
        assert!(bad.check().is_err());
    }

    #[test]
    fn an_entry_never_pushes_a_segment_over_its_size() {
        let size = 20 * 1024;
        for used in [0, 512, 10 * 1024, size - 2048, size - 1536, size] {
            let r = room(used, size);
            assert_eq!(r % BLOCK, 0);
            if r > 0 {
                assert!(used + entry_len(r) + END <= size, "used {used}: room {r}");
                assert!(used + entry_len(r + BLOCK) + END > size, "used {used}: room {r} is the most");
            }
        }
    }
}
