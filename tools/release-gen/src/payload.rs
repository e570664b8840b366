//! The `release-manifests/` content of a synthetic release image (DESIGN §3):
//! image-references, release-metadata, the release-verification ConfigMap and a
//! couple of harmless manifests.

use serde_json::json;

/// One `spec.tags[]` entry of image-references: tag name and pull spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagRef {
    pub name: String,
    pub pull_spec: String,
}

/// `release-manifests/image-references`: an ImageStream naming every component.
pub fn image_references(version: &str, tags: &[TagRef]) -> Vec<u8> {
    let tags: Vec<_> = tags
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "annotations": {
                    "io.openshift.build.source-location": "https://example.invalid/source",
                },
                "from": { "kind": "DockerImage", "name": t.pull_spec },
                "generation": null,
                "importPolicy": {},
                "referencePolicy": { "type": "" },
            })
        })
        .collect();
    let stream = json!({
        "kind": "ImageStream",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {
            "name": version,
            "creationTimestamp": null,
            "annotations": {
                "release.openshift.io/from-image-stream": "ocp/4.99-art-latest",
            },
        },
        "spec": { "lookupPolicy": { "local": false }, "tags": tags },
        "status": { "dockerImageRepository": "" },
    });
    let mut out = serde_json::to_vec_pretty(&stream).expect("serialise image-references");
    out.push(b'\n');
    out
}

/// `release-manifests/release-metadata`: Cincinnati metadata naming the version.
pub fn release_metadata(version: &str, previous: &[String]) -> Vec<u8> {
    let metadata = json!({
        "kind": "cincinnati-metadata-v0",
        "version": version,
        "previous": previous,
        "metadata": {
            "url": format!("https://example.invalid/errata/{version}"),
        },
    });
    let mut out = serde_json::to_vec_pretty(&metadata).expect("serialise release-metadata");
    out.push(b'\n');
    out
}

/// A YAML scalar for a ConfigMap data value: a literal block for multi-line text
/// (armored keys), a JSON-style double-quoted string otherwise.
fn yaml_value(value: &str, indent: &str) -> String {
    let block_safe = value.contains('\n')
        && !value.starts_with([' ', '\t', '\n'])
        && !value.contains('\r')
        && !value.lines().any(|l| l.trim_start() != l && l.trim().is_empty());
    if !block_safe {
        return serde_json::to_string(value).expect("quote YAML scalar");
    }
    let chomp = if value.ends_with("\n\n") {
        "+"
    } else if value.ends_with('\n') {
        ""
    } else {
        "-"
    };
    let mut out = format!("|{chomp}\n");
    let body = value.strip_suffix('\n').unwrap_or(value);
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push_str(indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    // Drop the final newline: the caller ends the line.
    out.pop();
    out
}

/// The `release-verification` ConfigMap (file
/// `0000_90_cluster-update-keys_configmap.yaml`), with `verifier-public-key-<name>`
/// and `store-<name>` data keys.
pub fn verification_config_map(keys: &[(String, String)], stores: &[(String, String)]) -> Vec<u8> {
    let mut yaml = String::from(
        "apiVersion: v1\n\
         kind: ConfigMap\n\
         metadata:\n  \
           name: release-verification\n  \
           namespace: openshift-config-managed\n  \
           annotations:\n    \
             include.release.openshift.io/self-managed-high-availability: \"true\"\n    \
             release.openshift.io/verification-config-map: \"\"\n",
    );
    if keys.is_empty() && stores.is_empty() {
        yaml.push_str("data: {}\n");
        return yaml.into_bytes();
    }
    yaml.push_str("data:\n");
    for (name, key) in keys {
        let value = yaml_value(key, "    ");
        yaml.push_str(&format!("  verifier-public-key-{name}: {value}\n"));
    }
    for (name, url) in stores {
        let value = yaml_value(url, "    ");
        yaml.push_str(&format!("  store-{name}: {value}\n"));
    }
    yaml.into_bytes()
}

/// The `openshift` ClusterImagePolicy (file `0000_90_openshift-cluster-image-policy.yaml`), as
/// cluster-update-keys ships it: `keyData` the base64 of the PEM key, the feature-set
/// annotation when given.
pub fn cluster_image_policy(scopes: &[String], key_pem: &str, feature_set: Option<&str>) -> Vec<u8> {
    use base64::Engine as _;
    let mut yaml = String::from(
        "apiVersion: config.openshift.io/v1\n\
         kind: ClusterImagePolicy\n\
         metadata:\n  \
           name: openshift\n  \
           annotations:\n    \
             kubernetes.io/description: Require signatures for the synthetic release images.\n    \
             include.release.openshift.io/self-managed-high-availability: \"true\"\n",
    );
    if let Some(set) = feature_set {
        yaml.push_str(&format!("    release.openshift.io/feature-set: {set}\n"));
    }
    yaml.push_str("spec:\n  scopes:\n");
    for scope in scopes {
        yaml.push_str(&format!("  - {scope}\n"));
    }
    let key = base64::engine::general_purpose::STANDARD.encode(key_pem);
    yaml.push_str(&format!(
        "  policy:\n    rootOfTrust:\n      policyType: PublicKey\n      publicKey:\n        keyData: {key}\n"
    ));
    yaml.into_bytes()
}

/// A namespace manifest, to have something besides the special files.
pub fn namespace_manifest() -> Vec<u8> {
    b"apiVersion: v1\n\
      kind: Namespace\n\
      metadata:\n  \
        name: openshift-synthetic-test\n  \
        annotations:\n    \
          include.release.openshift.io/self-managed-high-availability: \"true\"\n"
        .to_vec()
}

/// A deployment manifest referring to a component by its placeholder pull spec, the way
/// real release manifests do before `oc adm release new` substitutes them.
pub fn deployment_manifest(component: &str) -> Vec<u8> {
    format!(
        "apiVersion: apps/v1\n\
         kind: Deployment\n\
         metadata:\n  \
           name: synthetic-operator\n  \
           namespace: openshift-synthetic-test\n\
         spec:\n  \
           replicas: 1\n  \
           selector:\n    \
             matchLabels:\n      \
               app: synthetic-operator\n  \
           template:\n    \
             metadata:\n      \
               labels:\n        \
                 app: synthetic-operator\n    \
             spec:\n      \
               containers:\n      \
               - name: operator\n        \
                 image: quay.io/openshift/origin-{component}:latest\n"
    )
    .into_bytes()
}

/// The files of the release-manifests layer, in tar order. `image_references` is
/// `None` to leave the file out.
pub fn manifest_files(
    image_references: Option<Vec<u8>>,
    metadata: Vec<u8>,
    config_map: Vec<u8>,
    first_component: &str,
) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![("release-manifests/".to_string(), Vec::new())];
    if let Some(refs) = image_references {
        files.push(("release-manifests/image-references".to_string(), refs));
    }
    files.push(("release-manifests/release-metadata".to_string(), metadata));
    files.push(("release-manifests/0000_50_synthetic-test_00_namespace.yaml".to_string(), namespace_manifest()));
    files.push((
        "release-manifests/0000_50_synthetic-test_01_deployment.yaml".to_string(),
        deployment_manifest(first_component),
    ));
    files.push(("release-manifests/0000_90_cluster-update-keys_configmap.yaml".to_string(), config_map));
    files
}

/// `count` ordinary manifests of ~4 KiB each (ConfigMaps of text a compressor can shrink as
/// it shrinks real YAML), so a profiled payload layer has a real one's size and file count.
pub fn filler_manifests(version: &str, count: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    const WORDS: &[&str] = &[
        "apiVersion",
        "operator",
        "cluster",
        "openshift",
        "config",
        "metadata",
        "namespace",
        "spec",
        "template",
        "containers",
        "resources",
        "requests",
        "memory",
        "cpu",
        "volumeMounts",
        "name",
        "readOnly",
        "true",
        "false",
        "image",
        "args",
        "annotations",
        "labels",
        "selector",
    ];
    let mut rng = super::blobs::XorShift::new(seed, &["filler", version]);
    (0..count)
        .map(|i| {
            let mut yaml = format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: synthetic-{i:04}\n  namespace: openshift-synthetic-test\n  \
                 annotations:\n    include.release.openshift.io/self-managed-high-availability: \"true\"\n    \
                 release.openshift.io/version: \"{version}\"\ndata:\n"
            );
            while yaml.len() < 4096 {
                let key = WORDS[(rng.next_u64() % WORDS.len() as u64) as usize];
                let value: Vec<&str> = (0..6).map(|_| WORDS[(rng.next_u64() % WORDS.len() as u64) as usize]).collect();
                yaml.push_str(&format!("  {key}-{:x}: \"{}\"\n", rng.next_u64() & 0xffff, value.join(" ")));
            }
            (format!("release-manifests/0000_70_synthetic_{i:04}_configmap.yaml"), yaml.into_bytes())
        })
        .collect()
}
