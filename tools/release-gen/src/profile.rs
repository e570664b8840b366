//! The size profile of a real OpenShift release, for full-size benchmarks: component names
//! from a real `image-references`, and layer sizes shaped like a 4.14 x86_64 payload (most
//! components a shared RHEL base plus one or two layers of a few MiB to ~100 MiB, a few
//! small metadata layers, and a handful of images of hundreds of MiB: the CoreOS images,
//! the installer and client artifacts, the tests), scaled to a chosen total.
//!
//! The "natural" sizes below are approximations of the compressed sizes a 4.14 release
//! shows in `oc image info` (the sum is ~13 GiB); every layer is scaled by the same factor
//! so the unique total is the requested one. Sizes depend on the component *name* and the
//! seed only, never on the content version: a component changed along an upgrade path keeps
//! its sizes and gets new bytes.

use std::collections::HashMap;
use std::path::Path;

use super::blobs::XorShift;

const MIB: f64 = 1024.0 * 1024.0;

/// Smallest layer the scaling produces.
const MIN_LAYER: u64 = 512;

/// Base image stacks (natural MiB): 0 = RHEL 8 + the OpenShift base layer, 1 = RHEL 9 + its
/// OpenShift base layer.
const BASES: &[&[f64]] = &[&[76.0, 14.0], &[82.0, 15.0]];

/// The RHEL 8 base's share of the components that are neither heavy nor FROM scratch.
const RHEL8_SHARE: u64 = 85;

/// Components a real release carries at well above the typical size: (name, base stack or
/// `None` for FROM scratch, own layers in natural MiB). `rhel-coreos*` ships in ostree
/// chunks: many layers, generated in [`coreos_chunks`].
const HEAVY: &[(&str, Option<usize>, &[f64])] = &[
    ("machine-os-content", None, &[1050.0, 0.02]),
    ("rhel-coreos-8-extensions", None, &[330.0, 0.01]),
    ("machine-os-images", Some(0), &[950.0]),
    ("installer-artifacts", Some(0), &[310.0, 290.0]),
    ("cli-artifacts", Some(0), &[230.0, 210.0]),
    ("tests", Some(0), &[480.0, 20.0]),
    ("driver-toolkit", Some(0), &[380.0, 40.0]),
    ("ironic-agent", Some(0), &[420.0]),
    ("ironic", Some(0), &[320.0]),
    ("tools", Some(0), &[260.0]),
    ("ovn-kubernetes", Some(0), &[230.0]),
    ("network-tools", Some(0), &[190.0]),
    ("must-gather", Some(0), &[180.0, 0.5]),
    ("hyperkube", Some(0), &[170.0]),
    ("baremetal-installer", Some(0), &[160.0]),
    ("installer", Some(0), &[150.0]),
    ("multus-cni", Some(0), &[140.0]),
    ("ovn-kubernetes-microshift", Some(0), &[120.0]),
    ("sdn", Some(0), &[120.0]),
    ("hypershift", Some(0), &[110.0]),
    ("console", Some(0), &[110.0]),
];

/// Sizes of one component image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentSizes {
    /// Index into [`SizeProfile::bases`]; `None` for an image built FROM scratch.
    pub base: Option<usize>,
    /// The component's own layers, bottom first, in bytes of content.
    pub layers: Vec<u64>,
}

/// Layer sizes of a whole release, in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeProfile {
    /// Base stacks shared by components and the release image.
    pub bases: Vec<Vec<u64>>,
    components: HashMap<String, ComponentSizes>,
    /// The release image's own layers below the payload (the cluster-version-operator).
    pub release_layers: Vec<u64>,
    /// Extra manifests in the payload layer (a real payload has ~800 files).
    pub payload_files: usize,
}

impl SizeProfile {
    /// The profile of a release of `names` whose unique layer bytes (bases, components,
    /// release image; not configs, manifests or the payload) total at least `total` bytes.
    pub fn realistic(names: &[String], total: u64, seed: u64) -> SizeProfile {
        let natural: Vec<(String, ComponentSizes)> =
            names.iter().map(|n| (n.clone(), natural_sizes(n, seed))).collect();
        let release_layers = [45.0];
        let used: Vec<bool> =
            (0..BASES.len()).map(|b| b == 0 || natural.iter().any(|(_, c)| c.base == Some(b))).collect();
        let natural_total: f64 = BASES.iter().zip(&used).filter(|(_, u)| **u).flat_map(|(b, _)| b.iter()).sum::<f64>()
            + release_layers.iter().sum::<f64>()
            + natural.iter().flat_map(|(_, c)| c.layers.iter().map(|&b| b as f64 / MIB)).sum::<f64>();
        let scale = total as f64 / (natural_total * MIB);
        let size = |mib: f64| ((mib * MIB * scale).round() as u64).max(MIN_LAYER);
        let mut profile = SizeProfile {
            bases: BASES.iter().map(|b| b.iter().map(|&m| size(m)).collect()).collect(),
            components: natural
                .into_iter()
                .map(|(n, c)| {
                    let layers = c.layers.iter().map(|&b| size(b as f64 / MIB)).collect();
                    (n, ComponentSizes { base: c.base, layers })
                })
                .collect(),
            release_layers: release_layers.iter().map(|&m| size(m)).collect(),
            payload_files: 800,
        };
        // Rounding may leave the sum a little short: the largest layer makes up the rest.
        let sum = profile.unique_layer_bytes();
        if sum < total {
            if let Some(largest) = profile.components.values_mut().flat_map(|c| c.layers.iter_mut()).max() {
                *largest += total - sum;
            }
        }
        profile
    }

    /// The sizes of component `name` (a name the profile was built from).
    pub fn component(&self, name: &str) -> &ComponentSizes {
        self.components.get(name).unwrap_or_else(|| panic!("size profile has no component {name}"))
    }

    /// Sum of every distinct layer of one release (each base stack in use counted once).
    pub fn unique_layer_bytes(&self) -> u64 {
        let mut used = vec![false; self.bases.len()];
        used[0] = true;
        for c in self.components.values() {
            if let Some(b) = c.base {
                used[b] = true;
            }
        }
        let bases: u64 = self.bases.iter().zip(&used).filter(|(_, u)| **u).flat_map(|(b, _)| b.iter()).sum();
        bases + self.release_layers.iter().sum::<u64>() + self.components.values().flat_map(|c| &c.layers).sum::<u64>()
    }

    /// Number of layers per size class (< 1 MiB, < 100 MiB, larger) over the distinct layers.
    pub fn histogram(&self) -> [usize; 3] {
        let mut out = [0; 3];
        let all = self
            .bases
            .iter()
            .flatten()
            .chain(&self.release_layers)
            .chain(self.components.values().flat_map(|c| &c.layers));
        for &size in all {
            out[if size < 1 << 20 {
                0
            } else if size < 100 << 20 {
                1
            } else {
                2
            }] += 1;
        }
        out
    }
}

/// Natural sizes of one component: from the table for heavy ones, else drawn from the name.
/// Layer sizes are returned in bytes of natural size (scaled later).
fn natural_sizes(name: &str, seed: u64) -> ComponentSizes {
    let bytes = |mib: &[f64]| mib.iter().map(|m| (m * MIB) as u64).collect::<Vec<u64>>();
    if name.starts_with("rhel-coreos") && !name.ends_with("-extensions") {
        return ComponentSizes { base: None, layers: bytes(&coreos_chunks()) };
    }
    if let Some((_, base, layers)) = HEAVY.iter().find(|(n, _, _)| *n == name) {
        return ComponentSizes { base: *base, layers: bytes(layers) };
    }
    let mut rng = XorShift::new(seed, &["size-profile", name]);
    let mut unit = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let base = if (unit() * 100.0) < RHEL8_SHARE as f64 { 0 } else { 1 };
    // Log-uniform between 2 and 90 MiB, weighted toward the middle (two draws averaged):
    // median ~13 MiB, as operators and controllers are.
    let log = |u: f64| (2f64.ln() + u * (90f64.ln() - 2f64.ln())).exp();
    let main = log((unit() + unit()) / 2.0);
    let mut layers = vec![main];
    if unit() < 0.6 {
        layers.push(0.01 + unit() * 0.9); // a small layer of config or scripts
    }
    if unit() < 0.3 {
        layers.push(0.0005 + unit() * 0.015); // a tiny metadata layer
    }
    ComponentSizes { base: Some(base), layers: bytes(&layers) }
}

/// The ostree chunks of a CoreOS image (natural MiB): 48 layers falling off geometrically
/// from ~145 MiB, ~1.2 GiB in all.
fn coreos_chunks() -> Vec<f64> {
    (0..48).map(|k| 145.0 * 0.88f64.powi(k)).collect()
}

/// Component names from a real `image-references` (an ImageStream: `spec.tags[].name`), in
/// file order.
pub fn names_from_image_references(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read(path).map_err(|e| format!("failed to read {}: {e}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let tags = doc["spec"]["tags"].as_array().ok_or_else(|| format!("{} has no spec.tags", path.display()))?;
    let names: Vec<String> = tags.iter().filter_map(|t| t["name"].as_str().map(String::from)).collect();
    if names.is_empty() {
        return Err(format!("{} names no components", path.display()));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(format!("{} names {dup} twice", path.display()));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        let mut v: Vec<String> =
            ["rhel-coreos-8", "machine-os-content", "installer", "tests"].map(String::from).to_vec();
        v.extend((0..n).map(|i| format!("operator-{i}")));
        v
    }

    #[test]
    fn total_is_met_and_shape_is_realistic() {
        let total = 4u64 << 30;
        let p = SizeProfile::realistic(&names(150), total, 1);
        let sum = p.unique_layer_bytes();
        assert!(sum >= total && sum < total + (1 << 20), "{sum}");
        let [small, medium, large] = p.histogram();
        assert!(small >= 50, "many small layers: {small}");
        assert!(medium >= 100, "{medium}");
        assert!((2..=10).contains(&large), "a few of hundreds of MiB: {large}");
        assert!(p.component("rhel-coreos-8").layers.len() >= 40);
        assert_eq!(p.component("machine-os-content").base, None);
    }

    #[test]
    fn sizes_depend_on_name_and_seed_only() {
        let a = SizeProfile::realistic(&names(20), 1 << 30, 1);
        let b = SizeProfile::realistic(&names(20), 1 << 30, 1);
        assert_eq!(a, b);
        let c = SizeProfile::realistic(&names(20), 1 << 30, 2);
        assert_ne!(a.component("operator-3"), c.component("operator-3"));
    }
}
