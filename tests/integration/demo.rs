//! The demo's main job on the bundled sample release (sample/mirror, made by
//! scripts/make-sample with the project's generator): offline, from disk, signature verified
//! against the key its payload names, ConfigMap written, instructions printed.

use std::path::{Path, PathBuf};

use crate::support::registry::Registry;
use crate::support::{assert_success, run, stderr, stdout, temp_dir};

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
    let (_, shipped) = config_map(&sample());
    assert_eq!(written, shipped, "the same signature ConfigMap, carried on");
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
