//! A synthetic OpenShift release: component images (optionally manifest lists), a
//! release image whose last layer holds `release-manifests/`, all built in memory and
//! pushed with the test bed's own HTTP client (not the code under test).

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use super::blobs::{self, BigLayer, Blob, Layer, XorShift};
use super::payload::{self, TagRef};
use super::profile::{ComponentSizes, SizeProfile};
pub use super::spec::{uname_arch, ComponentRepo, RefStyle, ReleaseSpec};

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
    /// Layers of a size profile generated on the fly, by digest (never held in memory).
    pub(super) streamed: HashMap<String, BigLayer>,
}

fn join(prefix: &str, rest: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix}/{rest}")
    }
}

/// Profile layers of this size or more are streamed, never held in memory.
const STREAM_MIN: u64 = 1 << 20;

/// A layer as referenced from a manifest.
#[derive(Clone)]
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
    streamed: HashMap<String, BigLayer>,
    shared: Vec<LayerRef>,
    /// With a size profile: its base stacks, made.
    bases: Vec<Vec<LayerRef>>,
}

/// A layer of a size profile before it is made: seed labels, file path, content size.
struct Planned {
    labels: Vec<String>,
    path: String,
    size: u64,
}

impl Planned {
    fn new(labels: &[&str], path: String, size: u64) -> Self {
        Planned { labels: labels.iter().map(|l| (*l).to_string()).collect(), path, size }
    }

    fn rng(&self, seed: u64) -> XorShift {
        let labels: Vec<&str> = self.labels.iter().map(String::as_str).collect();
        XorShift::new(seed, &labels)
    }

    /// (seed, size) of the streamed layer, if it is one.
    fn streamed(&self, seed: u64) -> Option<(u64, u64)> {
        (self.size >= STREAM_MIN).then(|| (self.rng(seed).next_u64(), self.size))
    }
}

impl Gen<'_> {
    fn keep(&mut self, layer: &Layer) -> LayerRef {
        let r = LayerRef::from(layer);
        self.blob_data.entry(r.digest.clone()).or_insert_with(|| layer.blob.data.clone());
        r
    }

    /// Make a planned layer: in memory below [`STREAM_MIN`], else described for streaming.
    fn make(&mut self, planned: &Planned) -> LayerRef {
        match planned.streamed(self.spec.seed) {
            None => {
                let layer = blobs::random_layer(&mut planned.rng(self.spec.seed), &planned.path, planned.size as usize);
                self.keep(&layer)
            }
            Some((seed, size)) => {
                let big = BigLayer::cached(seed, size);
                let r = LayerRef { digest: big.digest.clone(), size: big.blob_size, diff_id: big.diff_id.clone() };
                self.streamed.insert(big.digest.clone(), big);
                r
            }
        }
    }

    /// The layers of component `name` for `arch` as of `content`: a size profile's, else the
    /// one unique layer.
    fn own_layers(&mut self, name: &str, arch: &str, content: &str) -> Vec<LayerRef> {
        match &self.spec.profile {
            None => vec![self.unique_layer(name, arch, content)],
            Some(profile) => {
                let planned = planned_layers(profile.component(name), name, arch, content);
                planned.iter().map(|p| self.make(p)).collect()
            }
        }
    }

    /// The layers every image of component `name` starts with.
    fn base_layers(&self, name: &str) -> Vec<LayerRef> {
        match &self.spec.profile {
            None => self.shared.clone(),
            Some(profile) => profile.component(name).base.map(|b| self.bases[b].clone()).unwrap_or_default(),
        }
    }

    /// The layer of component `name` for `arch` as of release `content` (its content version).
    fn unique_layer(&mut self, name: &str, arch: &str, content: &str) -> LayerRef {
        let mut rng = XorShift::new(self.spec.seed, &[content, name, arch]);
        let path = format!("usr/share/{name}/{arch}.bin");
        let layer = blobs::random_layer(&mut rng, &path, self.spec.layer_size);
        self.keep(&layer)
    }

    /// Config + manifest of one image over `base` then `extra` layers.
    fn image(
        &mut self,
        name: &str,
        repo: &str,
        arch: &str,
        (base, extra): (Vec<LayerRef>, Vec<LayerRef>),
        labels: Value,
    ) -> GeneratedImage {
        let media = self.spec.media;
        let layers: Vec<&LayerRef> = base.iter().chain(extra.iter()).collect();
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
    fn list(&mut self, tag: &str, name: &str, repo: &str, content: &str) -> GeneratedImage {
        let media = self.spec.media;
        let mut children = Vec::new();
        let mut entries = Vec::new();
        for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
            let layers = (self.base_layers(name), self.own_layers(name, arch, content));
            let child = self.image(&format!("linux/{arch}"), repo, arch, layers, json!({}));
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
            name: tag.to_string(),
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
    let mut gen =
        Gen { spec, blob_data: HashMap::new(), streamed: HashMap::new(), shared: Vec::new(), bases: Vec::new() };
    if let Some(profile) = &spec.profile {
        BigLayer::prepare(&streamed_layers(spec, profile));
        for (b, stack) in profile.bases.iter().enumerate() {
            let made = base_plan(b, stack).iter().map(|p| gen.make(p)).collect();
            gen.bases.push(made);
        }
    } else {
        for i in 0..spec.shared_layers {
            let mut rng = XorShift::new(spec.seed, &["shared", &i.to_string()]);
            let layer = blobs::random_layer(&mut rng, &format!("usr/lib/base-{i}.bin"), spec.layer_size);
            let r = gen.keep(&layer);
            gen.shared.push(r);
        }
    }
    let big_layer = spec.big_layer.map(|size| BigLayer::new(spec.seed, size));
    let mut images = Vec::new();
    for i in 0..spec.components {
        let name = spec.name(i);
        let tag = spec.tag_name(i);
        let repo = match spec.component_repo {
            ComponentRepo::Shared => join(prefix, "ocp-v4.0-art-dev"),
            ComponentRepo::PerComponent => join(prefix, &format!("components/{name}")),
        };
        let content = spec.content_version(i);
        let mut image = if i < spec.multi_arch_components {
            gen.list(&tag, &name, &repo, content)
        } else {
            let mut extra = gen.own_layers(&name, &spec.arch, content);
            if let (0, Some(big)) = (i, &big_layer) {
                extra.push(LayerRef { digest: big.digest.clone(), size: big.blob_size, diff_id: big.diff_id.clone() });
            }
            let base = gen.base_layers(&name);
            gen.image(&tag, &repo, &spec.arch, (base, extra), json!({}))
        };
        if spec.image_references == RefStyle::ComponentByTag(i) {
            image.tags.push(tag.clone());
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
    let mut files = payload::manifest_files(
        refs,
        payload::release_metadata(&spec.version, &spec.previous),
        payload::verification_config_map(&spec.verification_keys, &spec.stores),
        &spec.name(0),
    );
    if let Some(profile) = &spec.profile {
        files.extend(payload::filler_manifests(&spec.version, profile.payload_files, spec.seed));
    }
    let release_repo = spec.release_repo.clone().unwrap_or_else(|| join(prefix, "release"));
    if let Some(policy) = &spec.image_policy {
        let mut scopes = vec![format!("{host}/{release_repo}")];
        if policy.feature_set.is_none() {
            scopes.push(match spec.component_repo {
                ComponentRepo::Shared => format!("{host}/{}", join(prefix, "ocp-v4.0-art-dev")),
                ComponentRepo::PerComponent => format!("{host}/{}", join(prefix, "components")),
            });
        }
        let yaml = payload::cluster_image_policy(&scopes, &policy.key_pem, policy.feature_set.as_deref());
        files.push(("release-manifests/0000_90_openshift-cluster-image-policy.yaml".to_string(), yaml));
    }
    let file_refs: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), c.as_slice())).collect();
    let manifests_layer = blobs::layer(&file_refs);
    let manifests_layer = gen.keep(&manifests_layer);
    let arch = uname_arch(&spec.arch).to_string();
    let release_tag = spec.release_tag.clone().unwrap_or_else(|| format!("{}-{arch}", spec.version));
    let labels = json!({ "Labels": { "io.openshift.release": spec.version } });
    let (base, mut own) = match &spec.profile {
        None => (gen.shared.clone(), Vec::new()),
        Some(profile) => {
            let own = release_plan(spec, profile).iter().map(|p| gen.make(p)).collect();
            (gen.bases.first().cloned().unwrap_or_default(), own)
        }
    };
    own.push(manifests_layer);
    let mut release = gen.image("release", &release_repo, &spec.arch, (base, own), labels);
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
        streamed: gen.streamed,
    }
}

/// The planned layers of a component with `sizes`.
fn planned_layers(sizes: &ComponentSizes, name: &str, arch: &str, content: &str) -> Vec<Planned> {
    (0..sizes.layers.len())
        .map(|j| {
            let j_text = j.to_string();
            Planned::new(
                &[content, name, arch, "layer", &j_text],
                format!("usr/share/{name}/{arch}-{j}.bin"),
                sizes.layers[j],
            )
        })
        .collect()
}

/// The planned layers of base stack `b`.
fn base_plan(b: usize, stack: &[u64]) -> Vec<Planned> {
    let b_text = b.to_string();
    (0..stack.len())
        .map(|j| Planned::new(&["base", &b_text, &j.to_string()], format!("usr/lib/base-{b}-{j}.bin"), stack[j]))
        .collect()
}

/// The planned layers of the release image below its payload.
fn release_plan(spec: &ReleaseSpec, profile: &SizeProfile) -> Vec<Planned> {
    (0..profile.release_layers.len())
        .map(|j| {
            Planned::new(
                &["release", &spec.version, &j.to_string()],
                format!("usr/bin/cluster-version-operator-{j}"),
                profile.release_layers[j],
            )
        })
        .collect()
}

/// (seed, size) of every streamed layer a profiled release needs.
fn streamed_layers(spec: &ReleaseSpec, profile: &SizeProfile) -> Vec<(u64, u64)> {
    let mut planned: Vec<Planned> = profile.bases.iter().enumerate().flat_map(|(b, s)| base_plan(b, s)).collect();
    planned.extend(release_plan(spec, profile));
    for i in 0..spec.components {
        let name = spec.name(i);
        let archs: &[&str] = if i < spec.multi_arch_components { &["amd64", "arm64"] } else { &[&spec.arch] };
        for arch in archs {
            planned.extend(planned_layers(profile.component(&name), &name, arch, spec.content_version(i)));
        }
    }
    planned.iter().filter_map(|p| p.streamed(spec.seed)).collect()
}
