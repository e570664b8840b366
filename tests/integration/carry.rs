//! Carrying less and carrying safely across the air gap: the space of the media checked
//! before anything is written.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::mirror::source_with;
use crate::support::spec::ReleaseSpec;
use crate::support::{run, stderr, stdout, temp_dir};

/// A tmpfs of `size` mounted on a fresh folder for the life of the value. The tests run as
/// root here and in CI; a machine that cannot mount one fails the test, it is not skipped.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(size: &str) -> SmallFs {
        let dir = temp_dir();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test needs a {size} tmpfs (run the tests as root): mount failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallFs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Every regular file below `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                _ => found.push(e.path()),
            }
        }
    }
    found.sort();
    found
}

fn to_dir_args(release: &str, dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        format!("--from={release}"),
        format!("--to-dir={}", dir.display()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn a_release_larger_than_the_media_stops_before_any_blob_is_written() {
    // 6 components of 5 MiB of incompressible layer each: over 30 MiB, onto 6 MiB.
    let src = source_with(ReleaseSpec { components: 6, layer_size: 5 << 20, ..ReleaseSpec::default() });
    let media = SmallFs::mount("6m");
    let tree = media.path().join("tree");

    let out = run(to_dir_args(&src.release.release_ref(), &tree, &["--dry-run"]));
    assert_eq!(out.status.code(), Some(0), "a dry run reports, it does not fail:\n{}", stderr(&out));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.starts_with("Space needed in ")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(&tree.display().to_string()), "{line}");
    assert!(stderr(&out).contains("not enough space in"), "the dry run warns:\n{}", stderr(&out));

    let out = run(to_dir_args(&src.release.release_ref(), &tree, &[]));
    assert_eq!(out.status.code(), Some(6), "the documented exit code:\n{}", stderr(&out));
    let err = stderr(&out);
    let free = 6u64 << 20;
    assert!(err.contains(&format!("not enough space in {}", tree.display())), "{err}");
    assert!(err.contains(&format!("the filesystem has {free} bytes")), "the free bytes:\n{err}");
    let needed: u64 = err
        .split("the transfer needs ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the needed bytes:\n{err}"));
    assert!(needed > 30 << 20, "over the release's 30 MiB: {needed}");
    assert_eq!(files(media.path()), Vec::<PathBuf>::new(), "nothing written onto the media");
}

#[test]
fn a_release_that_fits_is_written_with_the_space_check_passed() {
    let src = source_with(ReleaseSpec { components: 2, layer_size: 1 << 20, ..ReleaseSpec::default() });
    let media = SmallFs::mount("6m");
    let tree = media.path().join("tree");
    let out = run(to_dir_args(&src.release.release_ref(), &tree, &["--dry-run", "-o", "json"]));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let space = &json["transfer"]["space"];
    assert_eq!(space["folder"], tree.display().to_string());
    assert_eq!(space["available"], 6u64 << 20);
    let needed = space["needed"].as_u64().expect("needed bytes");
    let to_copy = json["transfer"]["bytesToCopy"].as_u64().expect("bytes to copy");
    assert!(needed > to_copy && needed < 6 << 20, "{needed} for {to_copy} bytes of blobs");
    let out = run(to_dir_args(&src.release.release_ref(), &tree, &["-q"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(files(&tree).iter().any(|f| f.to_string_lossy().contains("/blobs/sha256:")));
}
