//! Bad input and failures: each a clear message and its documented exit code.

use std::path::{Path, PathBuf};

use crate::mirror::{mirror_args, source_with};
use crate::support::registry::{Registry, RegistryOptions};
use crate::support::spec::{RefStyle, ReleaseSpec};
use crate::support::{run, stderr};

fn assert_fails(out: &std::process::Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
}

#[test]
fn a_malformed_from_is_a_usage_error_naming_the_text() {
    let out = run(["--from=quay.io/Bad/Name:1", "--to=mirror.example/ocp"]);
    assert_fails(&out, 2, &["error: invalid image reference \"quay.io/Bad/Name:1\""]);
}

#[test]
fn conflicting_flags_are_usage_errors() {
    let out = run(["--from=q.io/a:1", "--to=m.io/a", "--to-release-image=m.io/r:1", "--skip-release-image"]);
    assert_fails(&out, 2, &["cannot be used with"]);
    let out = run(["--from=q.io/a:1", "--to=m.io/a", "--overwrite"]);
    assert_fails(&out, 2, &["--apply-release-image-signature"]);
    let out = run(["--to=m.io/a"]);
    assert_fails(&out, 2, &["no release image given"]);
}

#[test]
fn a_release_without_image_references_is_refused() {
    let src = source_with(ReleaseSpec { image_references: RefStyle::Missing, ..ReleaseSpec::default() });
    let dest = Registry::start();
    let out = run(mirror_args(&src, &dest, &[]));
    assert_fails(&out, 1, &["has no release-manifests/image-references", &src.release.release_ref()]);
    assert!(dest.client().catalog().is_empty());
}

#[test]
fn a_component_referenced_by_tag_is_refused() {
    let src = source_with(ReleaseSpec { image_references: RefStyle::ComponentByTag(1), ..ReleaseSpec::default() });
    let dest = Registry::start();
    let out = run(mirror_args(&src, &dest, &[]));
    assert_fails(&out, 1, &["image-references must point at images by digest", "installer"]);
    assert!(dest.client().catalog().is_empty());
}

#[test]
fn an_unreachable_registry_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = run([format!("--from=127.0.0.1:{port}/ocp/release:1"), "--to=127.0.0.1:1/x".into(), "--insecure".into()]);
    assert_fails(&out, 1, &[&format!("cannot reach registry 127.0.0.1:{port}")]);
}

#[test]
fn a_registry_needing_credentials_without_them_is_named() {
    let src = source_with(ReleaseSpec::default());
    let dest = Registry::start_with(RegistryOptions { htpasswd: Some(("u".into(), "pw".into())), tls: false });
    let out = run(mirror_args(&src, &dest, &[]));
    assert_fails(&out, 1, &[&format!("registry {} refused access", dest.host()), "--registry-config"]);
}

/// Rewrite a stored manifest in the registry's storage so it no longer matches its digest.
fn tamper_stored_blob(storage: &Path, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    let path = storage.join(format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]));
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let at = bytes.iter().position(|b| b.is_ascii_digit()).expect("a digit in the manifest");
    bytes[at] = if bytes[at] == b'9' { b'8' } else { bytes[at] + 1 };
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_manifest_whose_bytes_do_not_match_its_digest_is_refused() {
    let src = source_with(ReleaseSpec::default());
    let victim = src.release.component("cli").digest.clone();
    tamper_stored_blob(&src.registry.storage_dir(), &victim);
    let dest = Registry::start();
    let out = run(mirror_args(&src, &dest, &[]));
    assert_fails(&out, 1, &["does not match its digest", &victim]);
    assert!(dest.client().catalog().is_empty(), "nothing was stored");
}
