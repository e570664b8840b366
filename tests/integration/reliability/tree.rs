//! The `--to-dir` tree: a dry run writes nothing, overlapping runs, repair of a damaged tree,
//! output locations checked before the copy, a corrupt blob on upload.

use std::path::Path;
use std::process::Stdio;

use super::*;
use crate::faults::{args, bed};
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, command, run, stderr, temp_dir};

#[test]
fn a_dry_run_leaves_a_tree_byte_identical_even_with_leftover_temp_files() {
    let b = bed(ReleaseSpec { components: 3, ..ReleaseSpec::default() });
    let tree = temp_dir();
    let to = format!("--to-dir={}", tree.path().display());
    assert_success(&run(args(&b.release, to.clone(), &[])));
    // A temp file a killed run left behind (its process is gone: pid above pid_max).
    std::fs::write(blobs_dir(tree.path()).join(format!("{TMP}4194305-abc")), b"partial").expect("plant");
    let before = snapshot(tree.path());
    let out = run(args(&b.release, to, &["--dry-run"]));
    assert_success(&out);
    assert_eq!(snapshot(tree.path()), before, "a dry run changed the tree");
    assert!(!stderr(&out).contains("removed"), "{}", stderr(&out));
}

#[test]
fn the_start_up_sweep_removes_a_dead_runs_temp_files_and_keeps_a_live_ones() {
    let b = bed(ReleaseSpec { components: 3, ..ReleaseSpec::default() });
    let tree = temp_dir();
    let to = format!("--to-dir={}", tree.path().display());
    assert_success(&run(args(&b.release, to.clone(), &[])));
    let mut live = std::process::Command::new("sleep").arg("60").spawn().expect("spawn a live process");
    let (live_tmp, dead_tmp) = (
        blobs_dir(tree.path()).join(format!("{TMP}{}-abc", live.id())),
        blobs_dir(tree.path()).join(format!("{TMP}4194305-abc")),
    );
    std::fs::write(&live_tmp, b"being written").expect("plant");
    std::fs::write(&dead_tmp, b"left behind").expect("plant");
    let out = run(args(&b.release, to, &[]));
    let _ = live.kill();
    let _ = live.wait();
    assert_success(&out);
    assert!(live_tmp.exists(), "another live run's temp file was removed");
    assert!(!dead_tmp.exists(), "a dead run's temp file was left");
    assert!(stderr(&out).contains("removed 1 temporary files left by an interrupted run"), "{}", stderr(&out));
}

/// The first run is frozen (SIGSTOP) while it has a temp file in the tree; a second run on
/// the same tree runs start to end; then the first resumes. Both must succeed.
#[test]
fn two_overlapping_runs_on_one_tree_both_succeed() {
    let b = bed(ReleaseSpec { components: 6, big_layer: Some(64 << 20), ..ReleaseSpec::default() });
    let tree = temp_dir();
    let home = temp_dir();
    let to = format!("--to-dir={}", tree.path().display());
    let first = command(home.path())
        .args(args(&b.release, to.clone(), &[]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut caught = false;
    while !caught && std::time::Instant::now() < deadline {
        caught = std::fs::read_dir(blobs_dir(tree.path()))
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with(TMP)))
            .unwrap_or(false);
        if !caught {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    assert!(caught, "the first run never had a temp file in the tree");
    signal(first.id(), "STOP");
    let second = run(args(&b.release, to, &[]));
    signal(first.id(), "CONT");
    let first = first.wait_with_output().expect("wait");
    assert_success(&second);
    assert_success(&first);
    assert!(!stderr(&first).contains("retried"), "the first run had to redo work: {}", stderr(&first));
    let leftovers: Vec<String> = std::fs::read_dir(blobs_dir(tree.path()))
        .expect("blobs")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(TMP))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_rerun_repairs_a_deleted_and_a_truncated_blob_and_verify_a_corrupt_one() {
    let b = bed(ReleaseSpec { components: 4, ..ReleaseSpec::default() });
    let tree = temp_dir();
    let to = format!("--to-dir={}", tree.path().display());
    assert_success(&run(args(&b.release, to.clone(), &[])));
    let pristine = snapshot(tree.path());
    // Layers and configs of three components (manifest bodies are checked by their digest).
    let blob = |i: usize| blobs_dir(tree.path()).join(b.release.images[i].blobs.last().expect("a layer"));
    let (deleted, truncated, corrupt) = (&blob(0), &blob(1), &blob(2));
    std::fs::remove_file(deleted).expect("delete");
    let bytes = std::fs::read(truncated).expect("read");
    std::fs::write(truncated, &bytes[..bytes.len() / 2]).expect("truncate");
    let out = run(args(&b.release, to.clone(), &["-o", "json"]));
    assert_success(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(summary["transfer"]["blobsCopied"], 2, "the deleted and the truncated blob: {summary}");
    assert_eq!(std::fs::read(deleted).ok(), pristine.get(&rel(tree.path(), deleted)).cloned());
    assert_eq!(std::fs::read(truncated).ok(), pristine.get(&rel(tree.path(), truncated)).cloned());

    let mut bytes = std::fs::read(corrupt).expect("read");
    bytes[0] ^= 0xff;
    std::fs::write(corrupt, &bytes).expect("corrupt, same size");
    let cheap = run(args(&b.release, to.clone(), &["-o", "json"]));
    let cheap: serde_json::Value = serde_json::from_slice(&cheap.stdout).expect("JSON");
    assert_eq!(cheap["transfer"]["blobsCopied"], 0, "sizes alone cannot see a flipped byte");
    let out = run(args(&b.release, to, &["--verify", "-o", "json"]));
    assert_success(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(summary["transfer"]["blobsCopied"], 1, "{summary}");
    assert_eq!(snapshot(tree.path()), pristine, "the tree is whole again");
}

#[test]
fn an_unusable_signature_folder_fails_before_any_blob_is_copied() {
    let (b, _store) = signed_bed();
    let dest = Registry::start();
    let place = temp_dir();
    let not_a_dir = place.path().join("a-file");
    std::fs::write(&not_a_dir, b"x").expect("write");
    let extra = [format!("--release-image-signature-to-dir={}", not_a_dir.display())];
    let out = run(signed_args(&b, format!("--to={}/mirror/ocp/release", dest.host()), &extra));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("cannot create folder {} for the signature configmap", not_a_dir.display())),
        "{}",
        stderr(&out)
    );
    assert!(dest.client().catalog().is_empty(), "nothing was copied");
}

#[test]
fn a_config_symlink_planted_in_the_tree_is_refused_before_the_copy() {
    let (b, _store) = signed_bed();
    let (tree, outside) = (temp_dir(), temp_dir());
    std::os::unix::fs::symlink(outside.path(), tree.path().join("config")).expect("plant");
    let out = run(signed_args(&b, format!("--to-dir={}", tree.path().display()), &[]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("it is a symbolic link"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(outside.path()).expect("read").count(), 0, "nothing landed outside the tree");
    assert!(!tree.path().join("v2").exists(), "nothing was copied");
}

#[test]
fn a_rerun_leaves_an_identical_configmap_and_record_alone() {
    use std::os::unix::fs::MetadataExt as _;
    let (b, _store) = signed_bed();
    let tree = temp_dir();
    let to = format!("--to-dir={}", tree.path().display());
    assert_success(&run(signed_args(&b, to.clone(), &[])));
    let config =
        std::fs::read_dir(tree.path().join("config")).expect("config").flatten().next().expect("a file").path();
    let record = tree.path().join("release-mirror/releases.json");
    let inodes = |p: &Path| std::fs::metadata(p).expect("stat").ino();
    let before = (inodes(&config), inodes(&record));
    let out = run(signed_args(&b, to, &[]));
    assert_success(&out);
    assert_eq!((inodes(&config), inodes(&record)), before, "rewritten");
    let text = crate::support::stdout(&out);
    assert!(text.contains(&format!("Configmap {} unchanged (same content)", config.display())), "{text}");
}

#[test]
fn uploading_a_tree_with_a_corrupt_blob_leads_with_the_file_and_the_mismatch() {
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let tree = temp_dir();
    assert_success(&run(args(&b.release, format!("--to-dir={}", tree.path().display()), &[])));
    let digest = b.release.images[0].blobs.last().expect("a layer").clone();
    let path = blobs_dir(tree.path()).join(&digest);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[0] ^= 0xff;
    std::fs::write(&path, &bytes).expect("corrupt");
    let dest = Registry::start();
    let out = run([
        format!("--from-dir={}", tree.path().display()),
        format!("--from=file://openshift/release:{}", b.release.release_tag),
        format!("--to={}/mirror/ocp/release", dest.host()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let first = err.lines().find(|l| l.starts_with("error: ")).expect("an error line");
    assert_eq!(
        first,
        format!("error: the source's copy of blob {digest} ({}) is corrupt; rerun the to-disk side with --verify to repair the tree", path.display())
    );
    assert!(err.contains(&format!("caused by: blob content does not match its digest: expected {digest}")), "{err}");
    assert!(!err.contains("cannot reach registry") && !err.contains("retried"), "{err}");
}
