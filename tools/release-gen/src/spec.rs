//! What to generate: the knobs of a synthetic release.

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
    /// Seed of all content; shared layers depend on it only, the rest also on version.
    pub seed: u64,
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
            seed: 1,
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
