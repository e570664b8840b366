//! Both sides of the air gap: registry → disk (oc's layout) → registry.

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::mirror::{assert_complete, source_with};
use crate::support::generator::{generate, GeneratedRelease};
use crate::support::registry::Registry;
use crate::support::spec::{Media, ReleaseSpec};
use crate::support::{assert_success, command, run, stderr, stdout, temp_dir};

const DISK_REPO: &str = "openshift/release";

fn to_disk(src: &GeneratedRelease, dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        format!("--from={}", src.release_ref()),
        format!("--to-dir={}", dir.display()),
        "--insecure".into(),
        // Generated releases are unsigned; signatures are tested in signatures.rs.
        "--skip-release-image-signature".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    run(args)
}

fn from_disk(dir: &Path, tag: &str, dest: &Registry, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        format!("--from-dir={}", dir.display()),
        format!("--from=file://{DISK_REPO}:{tag}"),
        format!("--to={}/mirror/ocp/release", dest.host()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    run(args)
}

fn repo_dir(dir: &Path) -> PathBuf {
    dir.join("v2").join(DISK_REPO)
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else if e.file_name().to_string_lossy().starts_with(".release-mirror-tmp-") {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn registry_to_disk_to_registry_is_byte_identical() {
    let src = source_with(ReleaseSpec {
        components: 8,
        media: Media::Oci,
        multi_arch_components: 1,
        ..ReleaseSpec::default()
    });
    let media = temp_dir();
    let out = to_disk(&src.release, media.path(), &[]);
    assert_success(&out);
    let text = stdout(&out);
    let tag = "4.99.0-x86_64";
    let ours = format!(
        "kubectl release-mirror --from-dir={} --from=file://{DISK_REPO}:{tag} --to=REGISTRY/REPO",
        media.path().display()
    );
    let theirs =
        format!("oc image mirror --from-dir={} 'file://{DISK_REPO}:{tag}*' REGISTRY/REPO", media.path().display());
    assert!(text.contains(&ours) && text.contains(&theirs), "{text}");
    assert!(!text.contains("ImageDigestMirrorSet"), "no mirror configuration for a disk destination");

    let dest = Registry::start();
    assert_success(&from_disk(media.path(), tag, &dest, &["-q"]));
    assert_complete(&src.release, &dest.client());
    let out = from_disk(media.path(), tag, &dest, &[]);
    let text = stdout(&out);
    let art = format!("source: {}/ocp/ocp-v4.0-art-dev", src.registry.host());
    assert!(text.contains(&art), "mirror configuration names the payload's repositories:\n{text}");
}

#[test]
fn the_disk_tree_uses_ocs_layout_and_permissions() {
    let src = source_with(ReleaseSpec::default());
    let media = temp_dir();
    assert_success(&to_disk(&src.release, media.path(), &["-q"]));
    let repo = repo_dir(media.path());
    let tag = repo.join("manifests/4.99.0-x86_64");
    let target = fs::read_link(&tag).expect("the tag is a symlink");
    assert_eq!(target, Path::new(&src.release.release_digest));
    let manifest = repo.join("manifests").join(&src.release.release_digest);
    let blob = repo.join("blobs").join(&src.release.release_digest);
    assert_eq!(fs::read(&manifest).unwrap(), src.release.release_manifest);
    assert_eq!(fs::metadata(&manifest).unwrap().ino(), fs::metadata(&blob).unwrap().ino(), "hard link");
    for image in &src.release.images {
        assert!(repo.join("manifests").join(src.release.mirror_tag(&image.name)).is_symlink());
        for b in &image.blobs {
            let meta = fs::metadata(repo.join("blobs").join(b)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o644, "blob {b}");
        }
    }
    for dir in [media.path().join("v2"), repo.join("blobs"), repo.join("manifests")] {
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o755, "{}", dir.display());
    }
    assert!(temp_files(media.path()).is_empty());
}

#[test]
fn a_killed_to_disk_run_resumes_and_reuses_finished_blobs() {
    let spec = ReleaseSpec {
        components: 12,
        layer_size: 256 * 1024,
        big_layer: Some(192 * 1024 * 1024),
        ..ReleaseSpec::default()
    };
    let src = source_with(spec);
    let media = temp_dir();
    let home = temp_dir();
    let mut child = command(home.path())
        .args([format!("--from={}", src.release.release_ref()), format!("--to-dir={}", media.path().display())])
        .args(["--insecure", "--skip-release-image-signature", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let blobs = repo_dir(media.path()).join("blobs");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let finished = fs::read_dir(&blobs)
            .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("sha256:")).count())
            .unwrap_or(0);
        if finished >= 3 && !temp_files(media.path()).is_empty() {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run finished before it could be killed");
        assert!(Instant::now() < deadline, "no progress to interrupt");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!temp_files(media.path()).is_empty(), "the kill left a partial blob behind");

    let out = to_disk(&src.release, media.path(), &["-o", "json"]);
    assert_success(&out);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let copied = summary["transfer"]["bytesCopied"].as_u64().unwrap();
    assert!(summary["transfer"]["blobsSkipped"].as_u64().unwrap() >= 3, "{summary}");
    assert!(copied < src.release.total_blob_bytes(), "rerun copied {copied} of {}", src.release.total_blob_bytes());
    assert!(temp_files(media.path()).is_empty(), "temp files remain: {:?}", temp_files(media.path()));
    let dest = Registry::start();
    assert_success(&from_disk(media.path(), "4.99.0-x86_64", &dest, &["-q"]));
    assert_complete(&src.release, &dest.client());
}

/// Lay out a release the way `oc adm release mirror --to-dir` does, by hand.
fn write_oc_tree(dir: &Path, rel: &GeneratedRelease) {
    crate::support::ocdisk::write_oc_tree(dir, DISK_REPO, rel).expect("write the oc-style tree");
}

#[test]
fn a_hand_made_oc_style_tree_uploads() {
    let spec = ReleaseSpec { components: 5, multi_arch_components: 1, ..ReleaseSpec::default() };
    let rel = generate(&spec, "quay.example", "openshift-release-dev");
    let media = temp_dir();
    write_oc_tree(media.path(), &rel);
    let dest = Registry::start();
    let out = from_disk(media.path(), &rel.release_tag, &dest, &[]);
    assert_success(&out);
    assert_complete(&rel, &dest.client());
    assert!(stdout(&out).contains("source: quay.example/openshift-release-dev/ocp-v4.0-art-dev"), "{}", stdout(&out));
}

fn assert_refused(out: &std::process::Output, needle: &str, dest: &Registry) {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    assert!(stderr(out).contains(needle), "stderr lacks {needle:?}: {}", stderr(out));
    assert!(dest.client().catalog().is_empty(), "nothing reaches the destination");
}

#[test]
fn a_tag_symlink_leaving_its_folder_is_refused() {
    let rel = generate(&ReleaseSpec::default(), "quay.example", "ocp");
    let media = temp_dir();
    write_oc_tree(media.path(), &rel);
    let tag = repo_dir(media.path()).join("manifests").join(&rel.release_tag);
    fs::remove_file(&tag).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc/passwd", &tag).unwrap();
    let dest = Registry::start();
    assert_refused(&from_disk(media.path(), &rel.release_tag, &dest, &[]), "refusing tag symlink", &dest);
}

#[test]
fn a_blob_whose_content_does_not_match_its_name_is_refused() {
    let rel = generate(&ReleaseSpec::default(), "quay.example", "ocp");
    let media = temp_dir();
    write_oc_tree(media.path(), &rel);
    let victim = rel.component("cli").blobs.last().unwrap();
    let path = repo_dir(media.path()).join("blobs").join(victim);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&path, bytes).unwrap();
    let dest = Registry::start();
    let out = from_disk(media.path(), &rel.release_tag, &dest, &["--skip-release-image"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not match its digest"), "{}", stderr(&out));
    assert!(!dest.client().blob_exists("mirror/ocp/release", victim), "the corrupt blob was not stored");
}

#[test]
fn a_symlinked_blob_pointing_outside_the_tree_is_refused() {
    let rel = generate(&ReleaseSpec::default(), "quay.example", "ocp");
    let media = temp_dir();
    write_oc_tree(media.path(), &rel);
    let outside = temp_dir();
    let victim = &rel.component("cli").blobs[0];
    let path = repo_dir(media.path()).join("blobs").join(victim);
    fs::rename(&path, outside.path().join("blob")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("blob"), &path).unwrap();
    let dest = Registry::start();
    let out = from_disk(media.path(), &rel.release_tag, &dest, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("it is a symbolic link"), "{}", stderr(&out));
    assert!(!dest.client().blob_exists("mirror/ocp/release", victim), "the linked file was not read");
}

/// A corrupt layer of the release image itself is caught by its digest while the payload is read.
#[test]
fn a_corrupt_release_layer_is_named_by_its_digest() {
    let rel = generate(&ReleaseSpec::default(), "quay.example", "ocp");
    let media = temp_dir();
    write_oc_tree(media.path(), &rel);
    let victim = rel.release.blobs.last().unwrap();
    let path = repo_dir(media.path()).join("blobs").join(victim);
    let mut bytes = fs::read(&path).unwrap();
    bytes[20] ^= 0xff;
    fs::write(&path, bytes).unwrap();
    let dest = Registry::start();
    let out = from_disk(media.path(), &rel.release_tag, &dest, &[]);
    assert_refused(&out, &format!("blob content does not match its digest: expected {victim}"), &dest);
}

#[test]
fn a_to_dir_tree_with_a_symlink_leading_outside_is_not_written_through() {
    let src = source_with(ReleaseSpec::default());
    let media = temp_dir();
    let outside = temp_dir();
    fs::create_dir_all(media.path().join("v2")).unwrap();
    std::os::unix::fs::symlink(outside.path(), media.path().join("v2/openshift")).unwrap();
    let out = to_disk(&src.release, media.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0, "nothing written outside --to-dir");
}

#[test]
fn escaping_file_references_are_usage_errors() {
    let media = temp_dir();
    let out = run([
        format!("--from-dir={}", media.path().display()),
        "--from=file://../../etc:x".into(),
        "--to=m.io/x".into(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid image reference \"file://../../etc:x\""), "{}", stderr(&out));
}
