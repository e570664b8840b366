//! The one layer the graph-data image adds (pure): the checked files under
//! `/var/lib/cincinnati-graph-data/`, as a tar whose every byte is fixed by the files alone
//! (sorted names, mtime 0, uid/gid 0, modes 0755/0644, GNU headers) and a gzip without a
//! timestamp, so the same tarball gives the same digest on every run.

use std::io::{self, Write};

use bytes::Bytes;

use super::tarball::GraphData;
use crate::digest::{Digest, Hasher};

/// Where the image keeps the data; the image's command copies it from here.
pub(crate) const DATA_DIR: &str = "var/lib/cincinnati-graph-data";
/// Where the operator's init container mounts the folder graph-builder reads.
pub(crate) const MOUNT_DIR: &str = "/var/lib/cincinnati/graph-data";

/// The layer, compressed, with both of its digests.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    /// The gzip blob.
    pub(crate) blob: Bytes,
    /// Its digest (the manifest's layer descriptor).
    pub(crate) digest: Digest,
    /// The digest of the uncompressed tar (the config's `diff_id`).
    pub(crate) diff_id: Digest,
    /// Files in it.
    pub(crate) files: usize,
}

/// The image's command, as oc-mirror and the operator's documentation give it.
pub(crate) fn command() -> Vec<String> {
    let copy = format!("exec cp -rp /{DATA_DIR}/* {MOUNT_DIR}");
    vec!["/bin/bash".into(), "-c".into(), copy]
}

/// Build the layer from checked data.
pub(crate) fn build(data: &GraphData) -> io::Result<Layer> {
    let gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(Tee { inner: gz, hasher: Hasher::default() });
    tar.mode(tar::HeaderMode::Deterministic);
    append(&mut tar, &format!("{DATA_DIR}/"), None)?;
    // Folders and files in one sorted walk: a folder's name sorts before its content.
    let mut names: Vec<(&str, Option<&[u8]>)> = data.dirs.iter().map(|d| (d.as_str(), None)).collect();
    names.extend(data.files.iter().map(|(f, body)| (f.as_str(), Some(body.as_slice()))));
    names.sort_by(|a, b| a.0.cmp(b.0));
    for (name, body) in names {
        let path = match body {
            None => format!("{DATA_DIR}/{name}/"),
            Some(_) => format!("{DATA_DIR}/{name}"),
        };
        append(&mut tar, &path, body)?;
    }
    let tee = tar.into_inner()?;
    let diff_id = tee.hasher.finish();
    let blob = Bytes::from(tee.inner.finish()?);
    Ok(Layer { digest: Digest::of(&blob), diff_id, files: data.files.len(), blob })
}

fn append<W: Write>(tar: &mut tar::Builder<W>, path: &str, body: Option<&[u8]>) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    let (kind, mode, bytes) = match body {
        None => (tar::EntryType::Directory, 0o755, &[][..]),
        Some(b) => (tar::EntryType::Regular, 0o644, b),
    };
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(bytes.len() as u64);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    tar.append_data(&mut header, path, bytes)
}

/// Hashes what passes on to `inner`: the uncompressed tar's digest as it is compressed.
struct Tee<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn data() -> GraphData {
        let mut d = GraphData::default();
        d.files.insert("version".into(), b"1.1.0\n".to_vec());
        d.files.insert("channels/stable-4.15.yaml".into(), b"name: stable-4.15\n".to_vec());
        d.dirs.insert("channels".into());
        d
    }

    #[test]
    fn the_layer_holds_the_files_under_the_data_folder_with_fixed_owners_and_times() {
        let layer = build(&data()).expect("layer");
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&layer.blob[..]).read_to_end(&mut tar).expect("gunzip");
        assert_eq!(Digest::of(&tar), layer.diff_id);
        let mut archive = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        for e in archive.entries().expect("entries") {
            let mut e = e.expect("entry");
            let h = e.header();
            assert_eq!((h.mtime().unwrap(), h.uid().unwrap(), h.gid().unwrap()), (0, 0, 0));
            let mode = if h.entry_type().is_dir() { 0o755 } else { 0o644 };
            assert_eq!(h.mode().unwrap(), mode);
            let name = e.path().unwrap().display().to_string();
            let mut body = String::new();
            e.read_to_string(&mut body).unwrap();
            seen.push((name, body));
        }
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "var/lib/cincinnati-graph-data/",
                "var/lib/cincinnati-graph-data/channels/",
                "var/lib/cincinnati-graph-data/channels/stable-4.15.yaml",
                "var/lib/cincinnati-graph-data/version"
            ]
        );
        assert_eq!(seen[3].1, "1.1.0\n");
    }

    #[test]
    fn the_same_data_gives_the_same_digest_and_other_data_another() {
        let (a, b) = (build(&data()).unwrap(), build(&data()).unwrap());
        assert_eq!((a.digest.clone(), a.diff_id.clone()), (b.digest, b.diff_id));
        let mut other = data();
        other.files.insert("version".into(), b"1.2.0\n".to_vec());
        assert_ne!(build(&other).unwrap().digest, a.digest);
        assert_eq!(&a.blob[4..8], &[0, 0, 0, 0], "no time in the gzip header");
    }

    #[test]
    fn the_command_copies_the_data_into_the_mounted_folder() {
        assert_eq!(
            command(),
            ["/bin/bash", "-c", "exec cp -rp /var/lib/cincinnati-graph-data/* /var/lib/cincinnati/graph-data"]
        );
    }
}
