//! Hostile release images: layers with raw tar entries (paths the tar crate would refuse to
//! write: `..`, absolute, links out of the tree, huge files) and release images over them,
//! pushed with the test bed's own client.

use std::io::{self, Read, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::blocking::Body;
use serde_json::json;

use crate::support::generator::GeneratedRelease;
use crate::support::http::Client;
use crate::support::payload::{self, TagRef};
use crate::support::sha256_digest;

const MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// A tar entry, its name written byte for byte.
#[derive(Clone)]
pub enum Entry {
    File(String, Vec<u8>),
    /// A regular file of this many zero bytes, streamed.
    Zeros(String, u64),
    Symlink(String, String),
    Hardlink(String, String),
}

fn header(name: &str, size: u64, kind: tar::EntryType, link: &str) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let gnu = h.as_gnu_mut().expect("a GNU header");
    assert!(name.len() <= 100 && link.len() <= 100, "names fit the header");
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(kind);
    h.set_cksum();
    h
}

/// A layer blob (gzip'd tar) and its diff id (digest of the tar).
pub struct Layer {
    pub blob: Vec<u8>,
    pub diff_id: String,
}

/// Hashes what passes on its way into the gzip encoder.
struct Tee<W> {
    inner: W,
    tar: sha2::Sha256,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.tar, &buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub fn layer(entries: &[Entry]) -> Layer {
    let gz = GzEncoder::new(Vec::new(), Compression::fast());
    let mut builder = tar::Builder::new(Tee { inner: gz, tar: <sha2::Sha256 as sha2::Digest>::new() });
    for entry in entries {
        let (h, data): (tar::Header, Box<dyn Read>) = match entry {
            Entry::File(name, body) => {
                (header(name, body.len() as u64, tar::EntryType::Regular, ""), Box::new(io::Cursor::new(body.clone())))
            }
            Entry::Zeros(name, size) => {
                (header(name, *size, tar::EntryType::Regular, ""), Box::new(io::repeat(0).take(*size)))
            }
            Entry::Symlink(name, target) => (header(name, 0, tar::EntryType::Symlink, target), Box::new(io::empty())),
            Entry::Hardlink(name, target) => (header(name, 0, tar::EntryType::Link, target), Box::new(io::empty())),
        };
        builder.append(&h, data).expect("append a tar entry");
    }
    let tee = builder.into_inner().expect("finish the tar");
    let diff_id = format!("sha256:{}", hex::encode(sha2::Digest::finalize(tee.tar)));
    Layer { blob: tee.inner.finish().expect("finish gzip"), diff_id }
}

/// The generated release's own `release-manifests/` files as entries.
pub fn manifest_entries(release: &GeneratedRelease) -> Vec<Entry> {
    release.manifest_files.iter().map(|(path, body)| Entry::File(path.clone(), body.clone())).collect()
}

/// The `release-manifests/` files with this image-references in place of the release's own.
pub fn with_image_references(release: &GeneratedRelease, image_references: Vec<u8>) -> Vec<Entry> {
    let mut entries = manifest_entries(release);
    for e in &mut entries {
        if let Entry::File(path, body) = e {
            if path == "release-manifests/image-references" {
                *body = image_references.clone();
            }
        }
    }
    entries
}

/// image-references naming the release's components as generated, plus `extra`.
pub fn image_references(release: &GeneratedRelease, version: &str, extra: &[(&str, String)]) -> Vec<u8> {
    let mut tags: Vec<TagRef> = release
        .images
        .iter()
        .map(|i| TagRef { name: i.name.clone(), pull_spec: format!("{}/{}@{}", release.host, i.repo, i.digest) })
        .collect();
    tags.extend(extra.iter().map(|(name, spec)| TagRef { name: name.to_string(), pull_spec: spec.clone() }));
    payload::image_references(version, &tags)
}

/// Push a release image of `layers` as `<repo>:<tag>` with this config architecture;
/// returns the manifest digest.
pub fn push_release(client: &Client, repo: &str, tag: &str, arch: &str, layers: &[Layer]) -> String {
    let config = json!({
        "architecture": arch,
        "os": "linux",
        "config": { "Labels": { "io.openshift.release": "4.99.0" } },
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>() },
    });
    let config = serde_json::to_vec(&config).expect("serialise config");
    let mut descriptors = Vec::new();
    for l in layers {
        let digest = sha256_digest(&l.blob);
        let data = l.blob.clone();
        client.push_blob(repo, &digest, move || Body::from(data.clone()));
        descriptors.push(json!({ "mediaType": LAYER, "digest": digest, "size": l.blob.len() }));
    }
    let config_digest = sha256_digest(&config);
    let data = config.clone();
    client.push_blob(repo, &config_digest, move || Body::from(data.clone()));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": { "mediaType": CONFIG, "digest": config_digest, "size": config.len() },
        "layers": descriptors,
    });
    let manifest = serde_json::to_vec_pretty(&manifest).expect("serialise manifest");
    client.put_manifest(repo, tag, MANIFEST, &manifest)
}
