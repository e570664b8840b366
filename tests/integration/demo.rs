//! The demo's main job on the bundled sample release (sample/mirror, made by
//! scripts/make-sample with the project's generator): offline, from disk, signature verified
//! against the key its payload names, ConfigMap written, instructions printed.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::gpg::Gpg;
use crate::support::registry::Registry;
use crate::support::{assert_success, run, sha256_digest, stderr, stdout, temp_dir};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/mirror")
}

fn sample_tag() -> String {
    let manifests = sample().join("v2/openshift/release/manifests");
    let mut tags: Vec<String> = std::fs::read_dir(manifests)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("-x86_64"))
        .collect();
    tags.sort();
    tags.remove(0)
}

fn config_map(dir: &Path) -> (PathBuf, String) {
    let config = dir.join("config");
    let entry = std::fs::read_dir(&config).unwrap().flatten().next().expect("a ConfigMap file");
    let text = std::fs::read_to_string(entry.path()).unwrap();
    (entry.path(), text)
}

/// The signature ConfigMap the cluster-version operator reads for the sample release, built
/// here from first principles rather than from what the tool wrote: the release digest is
/// the hash of the manifest its tag names, the signature is the one GnuPG verifies with the
/// sample key for that digest, and the document's shape is DESIGN §5's. (file name, document)
fn expected_config_map(tag: &str, signature: &[u8]) -> (String, Value) {
    let manifest = std::fs::read(sample().join("v2/openshift/release/manifests").join(tag)).unwrap();
    let digest = sha256_digest(&manifest);
    let gpg = Gpg::new();
    gpg.run(
        &["--import"],
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/keys/sample-release.asc")).unwrap(),
    );
    let verified = gpg.run(&["--status-fd", "2", "--decrypt"], signature);
    assert!(String::from_utf8_lossy(&verified.stderr).contains("[GNUPG:] VALIDSIG "), "GnuPG verifies the signature");
    let payload: Value = serde_json::from_slice(&verified.stdout).expect("the signed payload is JSON");
    assert_eq!(payload["critical"]["image"]["docker-manifest-digest"], digest.as_str(), "it signs this release");
    let name = digest.replacen(':', "-", 1);
    let document = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "openshift-config-managed",
            "labels": {"release.openshift.io/verification-signatures": ""},
        },
        "binaryData": {format!("{name}-1"): base64::engine::general_purpose::STANDARD.encode(signature)},
    });
    (format!("signature-{}.yaml", &name[..name.len() - 48]), document)
}

/// The one signature in the sample's own ConfigMap (the demo's only copy of it).
fn shipped_signature() -> Vec<u8> {
    let (_, text) = config_map(&sample());
    let document: Value = serde_saphyr::from_str(&text).expect("YAML");
    let data = document["binaryData"].as_object().expect("binaryData");
    assert_eq!(data.len(), 1, "one signature: {data:?}");
    let b64 = data.values().next().and_then(Value::as_str).expect("base64 text");
    base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")
}

#[test]
fn the_bundled_sample_mirrors_offline_with_its_signature_verified() {
    let tag = sample_tag();
    let media = temp_dir();
    let out = run([
        format!("--from-dir={}", sample().display()),
        format!("--from=file://openshift/release:{tag}"),
        format!("--to-dir={}", media.path().display()),
    ]);
    assert_success(&out);
    assert!(stderr(&out).contains("valid signature"), "{}", stderr(&out));
    assert!(stderr(&out).contains("for keyring verifier-public-key-sample"), "{}", stderr(&out));
    let (path, written) = config_map(media.path());
    let (file_name, expected) = expected_config_map(&tag, &shipped_signature());
    assert_eq!(path, media.path().join("config").join(file_name));
    let written: Value = serde_saphyr::from_str(&written).expect("the ConfigMap is YAML");
    assert_eq!(written, expected, "the signature ConfigMap the cluster-version operator reads");
    let text = stdout(&out);
    assert!(text.contains(&format!("Configmap {} created", path.display())), "{text}");
    assert!(text.contains("kubectl release-mirror --from-dir="), "{text}");

    let dest = Registry::start();
    let out = run([
        format!("--from-dir={}", media.path().display()),
        format!("--from=file://openshift/release:{tag}"),
        format!("--to={}/ocp/release", dest.host()),
        "--insecure".into(),
    ]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("kind: ImageDigestMirrorSet"), "{text}");
    assert!(text.contains("source: quay.example/openshift-release-dev/ocp-v4.0-art-dev"), "{text}");
    assert!(!text.contains("source: file://"), "a file:// origin is no mirror source:\n{text}");
    assert!(text.contains(&format!("--to-image {}/ocp/release@sha256:", dest.host())), "{text}");
    let tags = dest.client().list_tags("ocp/release");
    assert!(tags.contains(&tag) && tags.iter().filter(|t| t.starts_with(&format!("{tag}-"))).count() == 4, "{tags:?}");
}
