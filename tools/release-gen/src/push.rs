//! Pushing a generated release with the test bed's own client, and the accessors
//! tests use to compare a destination with what was generated.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::blocking::Body;

use super::blobs::BigLayer;
use super::generator::{GeneratedImage, GeneratedRelease};
use super::http::Client;
use super::registry::Registry;

/// Totals of one push.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushStats {
    pub blobs_uploaded: usize,
    pub blobs_skipped: usize,
    pub bytes_uploaded: u64,
    pub manifests: usize,
}

impl GeneratedRelease {
    /// Push everything to `registry` (its scheme, CA and credentials).
    pub fn push(&self, registry: &Registry) -> PushStats {
        self.push_with(&registry.client())
    }

    /// Push everything with `client`: per image, blobs (skipping those the registry
    /// has), then the manifest by digest, then its tags; children before lists,
    /// components before the release.
    pub fn push_with(&self, client: &Client) -> PushStats {
        let mut stats = PushStats::default();
        for image in self.all_images() {
            self.push_image(client, image, &mut stats);
        }
        stats
    }

    fn push_image(&self, client: &Client, image: &GeneratedImage, stats: &mut PushStats) {
        if image.children.is_empty() {
            for digest in &image.blobs {
                self.push_blob(client, &image.repo, digest, stats);
            }
        }
        for child in &image.children {
            self.push_image(client, child, stats);
        }
        let pushed = client.put_manifest(&image.repo, &image.digest, &image.media_type, &image.manifest);
        assert_eq!(pushed, image.digest, "registry computed another manifest digest");
        stats.manifests += 1;
        for tag in &image.tags {
            client.put_manifest(&image.repo, tag, &image.media_type, &image.manifest);
            stats.manifests += 1;
        }
    }

    fn push_blob(&self, client: &Client, repo: &str, digest: &str, stats: &mut PushStats) {
        let uploaded = match (self.blob_data.get(digest), self.streamed_layer(digest)) {
            (Some(data), _) => {
                let size = data.len() as u64;
                let up = client.push_blob(repo, digest, || Body::from(data.clone()));
                if up {
                    stats.bytes_uploaded += size;
                }
                up
            }
            (None, Some(big)) => {
                let up = client.push_blob(repo, digest, || Body::sized(big.reader(), big.blob_size));
                if up {
                    stats.bytes_uploaded += big.blob_size;
                }
                up
            }
            _ => panic!("generated release has no content for blob {digest}"),
        };
        if uploaded {
            stats.blobs_uploaded += 1;
        } else {
            stats.blobs_skipped += 1;
        }
    }

    /// Components then the release image (top level only; lists hold children).
    pub fn all_images(&self) -> impl Iterator<Item = &GeneratedImage> {
        self.images.iter().chain(std::iter::once(&self.release))
    }

    /// A component by its image-references name.
    pub fn component(&self, name: &str) -> &GeneratedImage {
        self.images.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("no component named {name}"))
    }

    /// Component name → manifest digest (list digest for multi-arch components).
    pub fn component_digests(&self) -> BTreeMap<String, String> {
        self.images.iter().map(|i| (i.name.clone(), i.digest.clone())).collect()
    }

    /// Every manifest digest: release, components and list children, sorted.
    pub fn all_manifest_digests(&self) -> Vec<String> {
        fn walk(image: &GeneratedImage, out: &mut BTreeSet<String>) {
            out.insert(image.digest.clone());
            for child in &image.children {
                walk(child, out);
            }
        }
        let mut out = BTreeSet::new();
        for image in self.all_images() {
            walk(image, &mut out);
        }
        out.into_iter().collect()
    }

    /// Every blob digest (layers and configs, incl. the big layer), unique, sorted.
    pub fn all_blob_digests(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.all_images().flat_map(|i| i.blobs.iter()).collect();
        set.into_iter().cloned().collect()
    }

    /// `(repo, blob digest)` pairs a complete copy must hold, sorted.
    pub fn repo_blobs(&self) -> Vec<(String, String)> {
        let set: BTreeSet<(String, String)> =
            self.all_images().flat_map(|i| i.blobs.iter().map(|b| (i.repo.clone(), b.clone()))).collect();
        set.into_iter().collect()
    }

    /// A blob's bytes (`None` for a streamed layer: see [`GeneratedRelease::streamed_layer`]).
    pub fn blob(&self, digest: &str) -> Option<&[u8]> {
        self.blob_data.get(digest).map(Vec::as_slice)
    }

    /// The streamed layer with this digest (the big layer, or a size profile's), whose
    /// `reader()` regenerates its bytes.
    pub fn streamed_layer(&self, digest: &str) -> Option<&BigLayer> {
        self.streamed.get(digest).or(self.big_layer.as_ref().filter(|big| big.digest == digest))
    }

    /// Total bytes of all unique blobs (streamed layers included).
    pub fn total_blob_bytes(&self) -> u64 {
        self.all_blob_digests()
            .iter()
            .map(|d| match (self.blob_data.get(d), self.streamed_layer(d)) {
                (Some(data), _) => data.len() as u64,
                (None, Some(big)) => big.blob_size,
                (None, None) => 0,
            })
            .sum()
    }

    /// `host/prefix/release:4.99.0-x86_64`.
    pub fn release_ref(&self) -> String {
        format!("{}/{}:{}", self.host, self.release_repo, self.release_tag)
    }

    /// `host/prefix/release@sha256:…`.
    pub fn release_digest_ref(&self) -> String {
        format!("{}/{}@{}", self.host, self.release_repo, self.release_digest)
    }

    /// The exact content of a `release-manifests/` file, e.g. `image-references`.
    pub fn manifest_file(&self, name: &str) -> Option<&[u8]> {
        let path = format!("release-manifests/{name}");
        self.manifest_files.iter().find(|(p, _)| *p == path).map(|(_, c)| c.as_slice())
    }

    /// `4.99.0-x86_64-<name>`: where `--to REPO` puts a component, per DESIGN §2.
    pub fn mirror_tag(&self, component: &str) -> String {
        format!("{}-{}-{component}", self.version, self.arch)
    }
}
