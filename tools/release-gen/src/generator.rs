//! A synthetic OpenShift release: component images (optionally manifest lists), a
//! release image whose last layer holds `release-manifests/`, all built in memory and
//! pushed with the test bed's own HTTP client (not the code under test).

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use super::blobs::{self, BigLayer, Blob, Layer, XorShift};
use super::payload::{self, TagRef};
pub use super::spec::{component_name, uname_arch, ComponentRepo, RefStyle, ReleaseSpec};

/// One generated image (or manifest list, with `children`).
#[derive(Clone, Debug)]
pub struct GeneratedImage {
    /// Component tag name in image-references; `release` for the release image;
    /// `linux/<arch>` for a list's children.
    pub name: String,
    pub repo: String,
    pub digest: String,
    /// Exact manifest bytes as pushed.
    pub manifest: Vec<u8>,
    pub media_type: String,
    /// Config and layer digests; for a list, the union of its children's.
    pub blobs: Vec<String>,
    /// Config digest; empty for a list.
    pub config_digest: String,
    pub children: Vec<GeneratedImage>,
    /// Tags pushed for this image (besides its digest).
    pub tags: Vec<String>,
}

/// A generated release, ready to push.
#[derive(Clone, Debug)]
pub struct GeneratedRelease {
    pub host: String,
    pub prefix: String,
    pub version: String,
    /// Architecture as in tags (`x86_64`, `aarch64`, …).
    pub arch: String,
    pub release_repo: String,
    pub release_tag: String,
    pub release_digest: String,
    pub release_manifest: Vec<u8>,
    pub release: GeneratedImage,
    /// Components, in image-references order.
    pub images: Vec<GeneratedImage>,
    /// `release-manifests/` files of the release image's last layer.
    pub manifest_files: Vec<(String, Vec<u8>)>,
    pub big_layer: Option<BigLayer>,
    /// In-memory blobs by digest (everything but the big layer).
    pub(super) blob_data: HashMap<String, Vec<u8>>,
}

fn join(prefix: &str, rest: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix}/{rest}")
    }
}

/// A layer as referenced from a manifest.
struct LayerRef {
    digest: String,
    size: u64,
    diff_id: String,
}

impl From<&Layer> for LayerRef {
    fn from(layer: &Layer) -> Self {
        LayerRef {
            digest: layer.blob.digest.clone(),
            size: layer.blob.data.len() as u64,
            diff_id: layer.diff_id.clone(),
        }
    }
}

struct Gen<'a> {
    spec: &'a ReleaseSpec,
    blob_data: HashMap<String, Vec<u8>>,
    shared: Vec<LayerRef>,
}

impl Gen<'_> {
    fn keep(&mut self, layer: &Layer) -> LayerRef {
        let r = LayerRef::from(layer);
        self.blob_data.entry(r.digest.clone()).or_insert_with(|| layer.blob.data.clone());
        r
    }

    /// The layer of component `name` for `arch` as of release `content` (its content version).
    fn unique_layer(&mut self, name: &str, arch: &str, content: &str) -> LayerRef {
        let mut rng = XorShift::new(self.spec.seed, &[content, name, arch]);
        let path = format!("usr/share/{name}/{arch}.bin");
        let layer = blobs::random_layer(&mut rng, &path, self.spec.layer_size);
        self.keep(&layer)
    }

    /// Config + manifest of one image over `extra` layers after the shared ones.
    fn image(&mut self, name: &str, repo: &str, arch: &str, extra: Vec<LayerRef>, labels: Value) -> GeneratedImage {
        let media = self.spec.media;
        let layers: Vec<&LayerRef> = self.shared.iter().chain(extra.iter()).collect();
        let config = json!({
            "architecture": arch,
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": labels,
            "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>() },
        });
        let config = Blob::new(serde_json::to_vec(&config).expect("serialise config"));
        let descriptor = |media_type: &str, digest: &str, size: u64| json!({ "mediaType": media_type, "digest": digest, "size": size });
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media.manifest_type(),
            "config": descriptor(media.config_type(), &config.digest, config.data.len() as u64),
            "layers": layers.iter().map(|l| descriptor(media.layer_type(), &l.digest, l.size)).collect::<Vec<_>>(),
        });
        let manifest = serde_json::to_vec_pretty(&manifest).expect("serialise manifest");
        let mut blobs = vec![config.digest.clone()];
        blobs.extend(layers.iter().map(|l| l.digest.clone()));
        let config_digest = config.digest.clone();
        self.blob_data.insert(config.digest, config.data);
        GeneratedImage {
            name: name.to_string(),
            repo: repo.to_string(),
            digest: blobs::digest(&manifest),
            manifest,
            media_type: media.manifest_type().to_string(),
            blobs,
            config_digest,
            children: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// A manifest list over amd64 and arm64 images of component `name` as of `content`.
    fn list(&mut self, name: &str, repo: &str, content: &str) -> GeneratedImage {
        let media = self.spec.media;
        let mut children = Vec::new();
        let mut entries = Vec::new();
        for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
            let unique = self.unique_layer(name, arch, content);
            let child = self.image(&format!("linux/{arch}"), repo, arch, vec![unique], json!({}));
            let mut platform = json!({ "architecture": arch, "os": "linux" });
            if let Some(variant) = variant {
                platform["variant"] = json!(variant);
            }
            entries.push(json!({
                "mediaType": child.media_type,
                "digest": child.digest,
                "size": child.manifest.len(),
                "platform": platform,
            }));
            children.push(child);
        }
        let list = json!({ "schemaVersion": 2, "mediaType": media.list_type(), "manifests": entries });
        let manifest = serde_json::to_vec_pretty(&list).expect("serialise list");
        let blobs: BTreeSet<String> = children.iter().flat_map(|c| c.blobs.iter().cloned()).collect();
        GeneratedImage {
            name: name.to_string(),
            repo: repo.to_string(),
            digest: blobs::digest(&manifest),
            manifest,
            media_type: media.list_type().to_string(),
            blobs: blobs.into_iter().collect(),
            config_digest: String::new(),
            children,
            tags: Vec::new(),
        }
    }
}

/// Build a release whose image-references point at `host` (the registry it will be
/// pushed to), with repositories under `prefix`.
pub fn generate(spec: &ReleaseSpec, host: &str, prefix: &str) -> GeneratedRelease {
    let mut gen = Gen { spec, blob_data: HashMap::new(), shared: Vec::new() };
    for i in 0..spec.shared_layers {
        let mut rng = XorShift::new(spec.seed, &["shared", &i.to_string()]);
        let layer = blobs::random_layer(&mut rng, &format!("usr/lib/base-{i}.bin"), spec.layer_size);
        let r = gen.keep(&layer);
        gen.shared.push(r);
    }
    let big_layer = spec.big_layer.map(|size| BigLayer::new(spec.seed, size));
    let mut images = Vec::new();
    for i in 0..spec.components {
        let name = component_name(i);
        let repo = match spec.component_repo {
            ComponentRepo::Shared => join(prefix, "ocp-v4.0-art-dev"),
            ComponentRepo::PerComponent => join(prefix, &format!("components/{name}")),
        };
        let content = spec.content_version(i);
        let mut image = if i < spec.multi_arch_components {
            gen.list(&name, &repo, content)
        } else {
            let mut extra = vec![gen.unique_layer(&name, &spec.arch, content)];
            if let (0, Some(big)) = (i, &big_layer) {
                extra.push(LayerRef { digest: big.digest.clone(), size: big.blob_size, diff_id: big.diff_id.clone() });
            }
            gen.image(&name, &repo, &spec.arch, extra, json!({}))
        };
        if spec.image_references == RefStyle::ComponentByTag(i) {
            image.tags.push(name.clone());
        }
        images.push(image);
    }
    let tags: Vec<TagRef> = images
        .iter()
        .map(|image| TagRef {
            name: image.name.clone(),
            pull_spec: match image.tags.first() {
                Some(tag) => format!("{host}/{}:{tag}", image.repo),
                None => format!("{host}/{}@{}", image.repo, image.digest),
            },
        })
        .collect();
    let refs = (spec.image_references != RefStyle::Missing).then(|| payload::image_references(&spec.version, &tags));
    let files = payload::manifest_files(
        refs,
        payload::release_metadata(&spec.version, &spec.previous),
        payload::verification_config_map(&spec.verification_keys, &spec.stores),
        &component_name(0),
    );
    let file_refs: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), c.as_slice())).collect();
    let manifests_layer = blobs::layer(&file_refs);
    let manifests_layer = gen.keep(&manifests_layer);
    let release_repo = spec.release_repo.clone().unwrap_or_else(|| join(prefix, "release"));
    let arch = uname_arch(&spec.arch).to_string();
    let release_tag = spec.release_tag.clone().unwrap_or_else(|| format!("{}-{arch}", spec.version));
    let labels = json!({ "Labels": { "io.openshift.release": spec.version } });
    let mut release = gen.image("release", &release_repo, &spec.arch, vec![manifests_layer], labels);
    release.tags.push(release_tag.clone());
    GeneratedRelease {
        host: host.to_string(),
        prefix: prefix.to_string(),
        version: spec.version.clone(),
        arch,
        release_digest: release.digest.clone(),
        release_manifest: release.manifest.clone(),
        release_repo,
        release_tag,
        release,
        images,
        manifest_files: files,
        big_layer,
        blob_data: gen.blob_data,
    }
}
