//! What to generate: the knobs of a synthetic release, and series of releases that share
//! most of their components (an upgrade path).

use std::sync::Arc;

use super::blobs::XorShift;
use super::profile::SizeProfile;

/// Manifest flavour of every generated image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Media {
    /// Docker schema 2 (`application/vnd.docker.distribution.manifest.v2+json`).
    #[default]
    Docker,
    /// OCI image manifest / index.
    Oci,
}

impl Media {
    pub fn manifest_type(self) -> &'static str {
        match self {
            Media::Docker => "application/vnd.docker.distribution.manifest.v2+json",
            Media::Oci => "application/vnd.oci.image.manifest.v1+json",
        }
    }
    pub fn list_type(self) -> &'static str {
        match self {
            Media::Docker => "application/vnd.docker.distribution.manifest.list.v2+json",
            Media::Oci => "application/vnd.oci.image.index.v1+json",
        }
    }
    pub fn config_type(self) -> &'static str {
        match self {
            Media::Docker => "application/vnd.docker.container.image.v1+json",
            Media::Oci => "application/vnd.oci.image.config.v1+json",
        }
    }
    pub fn layer_type(self) -> &'static str {
        match self {
            Media::Docker => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            Media::Oci => "application/vnd.oci.image.layer.v1.tar+gzip",
        }
    }
}

/// How image-references names the components.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefStyle {
    /// Every component by digest (valid release).
    #[default]
    ByDigest,
    /// Component at this index by tag (`repo:<name>`, and that tag is pushed): invalid.
    ComponentByTag(usize),
    /// No image-references file at all: invalid.
    Missing,
}

/// Where component images live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ComponentRepo {
    /// All in `<prefix>/ocp-v4.0-art-dev`, by digest, as real releases do.
    #[default]
    Shared,
    /// Each in `<prefix>/components/<name>`.
    PerComponent,
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct ReleaseSpec {
    pub version: String,
    /// Go architecture of the release image config (`amd64`, `arm64`, …).
    pub arch: String,
    pub components: usize,
    pub media: Media,
    /// The first N components are manifest lists with amd64 and arm64 images.
    pub multi_arch_components: usize,
    /// Bytes of random content per unique layer (before gzip).
    pub layer_size: usize,
    /// Base layers shared by every image (components and release).
    pub shared_layers: usize,
    /// One extra layer of this many bytes on the first component, streamed.
    pub big_layer: Option<u64>,
    pub image_references: RefStyle,
    pub component_repo: ComponentRepo,
    /// `(name, armored key)` → `verifier-public-key-<name>`.
    pub verification_keys: Vec<(String, String)>,
    /// `(name, url)` → `store-<name>`.
    pub stores: Vec<(String, String)>,
    /// Full release repository; default `<prefix>/release`.
    pub release_repo: Option<String>,
    /// Release tag; default `<version>-<uname arch>` (e.g. `4.99.0-x86_64`).
    pub release_tag: Option<String>,
    /// `previous` versions in release-metadata.
    pub previous: Vec<String>,
    /// Per component, the version whose content it carries: component `i` gets the unique
    /// layers (hence the config, manifest and digests) it has in a release generated with
    /// `version = component_versions[i]`. Empty, or shorter than `components`: the others
    /// carry `version`. Two releases giving a component the same content version build it
    /// byte for byte the same; the release image still names its own `version`. See [`series`].
    pub component_versions: Vec<String>,
    /// Seed of all content; shared layers (and the big layer) depend on it only, component
    /// layers also on their content version, the release image also on `version`.
    pub seed: u64,
    /// Component names (content identity: layer seeds, paths, sizes), e.g. from a real
    /// image-references; empty, or shorter than `components`: the built-in names.
    pub names: Vec<String>,
    /// image-references tag names where they differ from `names` (a release listing two
    /// versions of one component); empty or shorter: the component name.
    pub tag_names: Vec<String>,
    /// Layer sizes of a real release instead of `layer_size`/`shared_layers`: base stacks,
    /// per-component layers (streamed when 1 MiB or more), a realistic payload.
    pub profile: Option<Arc<SizeProfile>>,
    /// A ClusterImagePolicy named `openshift` in the payload (sigstore signatures), or none.
    pub image_policy: Option<ImagePolicySpec>,
}

/// The payload's `openshift` ClusterImagePolicy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePolicySpec {
    /// The PEM public key, written base64-encoded as `keyData`.
    pub key_pem: String,
    /// `None`: 4.22-shaped, enforced by default, scoping the release repository and the
    /// component repository. `Some(set)`: 4.20-shaped, annotated
    /// `release.openshift.io/feature-set: <set>`, scoping the release repository only.
    pub feature_set: Option<String>,
}

impl ReleaseSpec {
    /// The version whose content component `i` carries (see `component_versions`).
    pub fn content_version(&self, i: usize) -> &str {
        self.component_versions.get(i).map_or(&self.version, String::as_str)
    }

    /// Name of component `i` (see `names`).
    pub fn name(&self, i: usize) -> String {
        self.names.get(i).cloned().unwrap_or_else(|| component_name(i))
    }

    /// image-references tag of component `i` (see `tag_names`).
    pub fn tag_name(&self, i: usize) -> String {
        self.tag_names.get(i).cloned().unwrap_or_else(|| self.name(i))
    }
}

impl Default for ReleaseSpec {
    fn default() -> Self {
        ReleaseSpec {
            version: "4.99.0".into(),
            arch: "amd64".into(),
            components: 3,
            media: Media::Docker,
            multi_arch_components: 0,
            layer_size: 4096,
            shared_layers: 2,
            big_layer: None,
            image_references: RefStyle::ByDigest,
            component_repo: ComponentRepo::Shared,
            verification_keys: Vec::new(),
            stores: Vec::new(),
            release_repo: None,
            release_tag: None,
            previous: vec!["4.98.0".into()],
            component_versions: Vec::new(),
            seed: 1,
            names: Vec::new(),
            tag_names: Vec::new(),
            profile: None,
            image_policy: None,
        }
    }
}

const NAMES: &[&str] = &[
    "cli",
    "installer",
    "machine-config-operator",
    "etcd",
    "hyperkube",
    "console",
    "oauth-server",
    "pod",
    "tests",
    "cluster-network-operator",
    "haproxy-router",
    "coredns",
    "prometheus",
    "must-gather",
    "tools",
    "baremetal-installer",
];

/// Component name for index `i`.
pub fn component_name(i: usize) -> String {
    NAMES.get(i).map_or_else(|| format!("extra-component-{i:03}"), |n| (*n).to_string())
}

/// `amd64` → `x86_64`, `arm64` → `aarch64`, others as-is.
pub fn uname_arch(arch: &str) -> &str {
    match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    }
}

/// Specs of releases `versions` (oldest first) along an upgrade path, built on `base`: the
/// first release's components carry `base`'s content (versions[0] where `base` names none);
/// each later release changes `round(changed_fraction × components)` components (at least
/// one when the fraction is above 0), chosen deterministically from `seed` and the version,
/// and every other component keeps the content of the release it last changed in, so its
/// image (manifest, config, layers) is byte-identical to that release's. Each release names
/// the one before as `previous` (the first keeps `base.previous`); `release_tag` is reset so
/// each release gets its default `<version>-<arch>` tag.
pub fn series(base: &ReleaseSpec, versions: &[&str], changed_fraction: f64) -> Vec<ReleaseSpec> {
    let n = base.components;
    let fraction = changed_fraction.clamp(0.0, 1.0);
    let count = match (fraction * n as f64).round() as usize {
        0 if fraction > 0.0 && n > 0 => 1,
        c => c.min(n),
    };
    let mut out: Vec<ReleaseSpec> = Vec::with_capacity(versions.len());
    for (k, version) in versions.iter().enumerate() {
        let (contents, previous) = match out.last() {
            None => {
                let first: Vec<String> = (0..n)
                    .map(|i| base.component_versions.get(i).map_or_else(|| (*version).to_string(), Clone::clone))
                    .collect();
                (first, base.previous.clone())
            }
            Some(before) => {
                let mut contents = before.component_versions.clone();
                for i in changed_components(base.seed, version, n, count) {
                    contents[i] = (*version).to_string();
                }
                (contents, vec![versions[k - 1].to_string()])
            }
        };
        out.push(ReleaseSpec {
            version: (*version).to_string(),
            component_versions: contents,
            previous,
            release_tag: None,
            ..base.clone()
        });
    }
    out
}

/// A release `version` listing every distinct component image of `releases` (a series):
/// each component as of every content version it has there, in first-seen order, tagged
/// `<name>` the first time and `<name>-<content version>` after. Its components are
/// byte-identical to the series' (same names, content versions and profile), so mirroring
/// it moves exactly the series' unique component bytes: the baseline an upgrade-path run is
/// compared with.
pub fn union(releases: &[ReleaseSpec], version: &str) -> ReleaseSpec {
    let Some(first) = releases.first() else {
        return ReleaseSpec { version: version.to_string(), components: 0, ..ReleaseSpec::default() };
    };
    let mut seen = std::collections::HashSet::new();
    let (mut names, mut tags, mut contents) = (Vec::new(), Vec::new(), Vec::new());
    for spec in releases {
        for i in 0..spec.components {
            let (name, content) = (spec.name(i), spec.content_version(i).to_string());
            if seen.insert((name.clone(), content.clone())) {
                let tag = if tags.contains(&spec.tag_name(i)) {
                    format!("{}-{content}", spec.tag_name(i))
                } else {
                    spec.tag_name(i)
                };
                tags.push(tag);
                names.push(name);
                contents.push(content);
            }
        }
    }
    ReleaseSpec {
        version: version.to_string(),
        components: names.len(),
        multi_arch_components: 0,
        names,
        tag_names: tags,
        component_versions: contents,
        release_tag: None,
        previous: Vec::new(),
        ..first.clone()
    }
}

/// The `count` components (of `n`) that change in release `version`, in index order: the
/// lowest ranks of a hash of (seed, version, component name).
pub fn changed_components(seed: u64, version: &str, n: usize, count: usize) -> Vec<usize> {
    let mut ranked: Vec<(u64, usize)> =
        (0..n).map(|i| (XorShift::new(seed, &["series", version, &component_name(i)]).next_u64(), i)).collect();
    ranked.sort_unstable();
    let mut chosen: Vec<usize> = ranked.into_iter().take(count).map(|(_, i)| i).collect();
    chosen.sort_unstable();
    chosen
}
