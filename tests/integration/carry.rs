//! Carrying less and carrying safely across the air gap: the space of the media checked
//! before anything is written, and transfers that carry only what earlier ones did not
//! (`--since`).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::mirror::{assert_complete, source_with};
use crate::support::generator::{generate, GeneratedRelease};
use crate::support::registry::Registry;
use crate::support::spec::{series, ReleaseSpec};
use crate::support::{assert_success, run, stderr, stdout, temp_dir};

mod segments;

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

pub(crate) fn to_dir_args(release: &str, dir: &Path, extra: &[&str]) -> Vec<String> {
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

/// A series of releases (25 % of 8 components change from one to the next) in one registry.
pub(crate) fn releases(versions: &[&str]) -> (Registry, Vec<GeneratedRelease>) {
    let registry = Registry::start();
    let made = series(&ReleaseSpec { components: 8, ..ReleaseSpec::default() }, versions, 0.25)
        .iter()
        .map(|spec| {
            let release = generate(spec, &registry.host(), "ocp");
            release.push(&registry);
            release
        })
        .collect();
    (registry, made)
}

/// The config and layer blobs a tree holds (manifest bodies, which `manifests/` links, left out).
fn layer_blobs(tree: &Path) -> BTreeSet<String> {
    let repo = tree.join("v2/openshift/release");
    let manifests: BTreeSet<String> = names(&repo.join("manifests"));
    names(&repo.join("blobs")).into_iter().filter(|b| !manifests.contains(b)).collect()
}

fn names(dir: &Path) -> BTreeSet<String> {
    let entries = fs::read_dir(dir).into_iter().flatten().flatten();
    entries.map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}

pub(crate) fn blobs_of(releases: &[&GeneratedRelease]) -> BTreeSet<String> {
    releases.iter().flat_map(|r| r.all_blob_digests()).collect()
}

pub(crate) fn upload(tree: &Path, dest: &Registry) -> std::process::Output {
    run([
        format!("--from-dir={}", tree.display()),
        format!("--to={}/mirror/ocp/release", dest.host()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ])
}

#[test]
fn a_transfer_since_an_earlier_one_carries_only_the_changed_blobs_and_uploads_whole() {
    let (_registry, rel) = releases(&["4.99.0", "4.99.1"]);
    let (week1, week2) = (temp_dir(), temp_dir());
    assert_success(&run(to_dir_args(&rel[0].release_ref(), week1.path(), &["-q"])));
    let record_path = week1.path().join("release-mirror/releases.json");
    let since = format!("--since={}", record_path.display());
    let out = run(to_dir_args(&rel[1].release_ref(), week2.path(), &[&since]));
    assert_success(&out);

    let changed: BTreeSet<String> = blobs_of(&[&rel[1]]).difference(&blobs_of(&[&rel[0]])).cloned().collect();
    assert!(!changed.is_empty() && changed.len() < blobs_of(&[&rel[1]]).len(), "a partial change");
    assert_eq!(layer_blobs(week2.path()), changed, "the second tree holds exactly the changed blobs");
    let text = fs::read_to_string(week2.path().join("release-mirror/releases.json")).expect("record");
    let record: serde_json::Value = serde_json::from_str(&text).expect("json");
    let first: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&record_path).expect("first record")).expect("json");
    assert_eq!(record["basedOn"][0]["transfer"], first["transfer"], "names the earlier transfer");
    assert_eq!(record["basedOn"][0]["folder"], week1.path().display().to_string());
    let listed: BTreeSet<&str> =
        record["blobs"].as_array().expect("blobs").iter().filter_map(|b| b["digest"].as_str()).collect();
    assert!(blobs_of(&[&rel[0], &rel[1]]).iter().all(|b| listed.contains(b.as_str())), "cumulative: {text}");
    let relied = blobs_of(&[&rel[1]]).intersection(&blobs_of(&[&rel[0]])).count();
    assert_eq!(record["expects"].as_array().map(Vec::len), Some(relied), "what it expects at the destination");
    let said = format!("{relied} blobs (");
    assert!(stderr(&out).contains(&said) && stderr(&out).contains("carried by earlier transfers"), "{}", stderr(&out));

    let dest = Registry::start();
    assert_success(&upload(week1.path(), &dest));
    assert_success(&upload(week2.path(), &dest));
    assert_complete(&rel[1], &dest.client());
    assert_complete(&rel[0], &dest.client());
}

#[test]
fn a_tree_relying_on_an_earlier_one_is_refused_by_an_empty_registry_before_copying() {
    let (_registry, rel) = releases(&["4.99.0", "4.99.1"]);
    let (week1, week2) = (temp_dir(), temp_dir());
    assert_success(&run(to_dir_args(&rel[0].release_ref(), week1.path(), &["-q"])));
    let since = format!("--since={}", week1.path().display());
    assert_success(&run(to_dir_args(&rel[1].release_ref(), week2.path(), &["-q", &since])));

    let dest = Registry::start();
    let out = upload(week2.path(), &dest);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let relied = blobs_of(&[&rel[1]]).intersection(&blobs_of(&[&rel[0]])).count();
    let err = stderr(&out);
    let want = format!("the destination lacks {relied} blobs that {} relies on", week2.path().display());
    assert!(err.contains(&want), "{want}:\n{err}");
    assert!(err.contains(&format!("written to {}", week1.path().display())), "names the earlier tree:\n{err}");
    assert!(err.contains("upload that earlier tree first"), "{err}");
    assert_eq!(dest.client().catalog(), Vec::<String>::new(), "nothing at the destination");
}

#[test]
fn a_chain_of_three_transfers_carries_each_blob_once_and_needs_its_links_in_order() {
    let (_registry, rel) = releases(&["4.99.0", "4.99.1", "4.99.2"]);
    let weeks = [temp_dir(), temp_dir(), temp_dir()];
    assert_success(&run(to_dir_args(&rel[0].release_ref(), weeks[0].path(), &["-q"])));
    for i in 1..3 {
        let since = format!("--since={}", weeks[i - 1].path().display());
        assert_success(&run(to_dir_args(&rel[i].release_ref(), weeks[i].path(), &["-q", &since])));
    }
    let new: BTreeSet<String> = blobs_of(&[&rel[2]]).difference(&blobs_of(&[&rel[0], &rel[1]])).cloned().collect();
    assert_eq!(layer_blobs(weeks[2].path()), new, "only what neither earlier transfer carried");

    let dest = Registry::start();
    assert_success(&upload(weeks[0].path(), &dest));
    let out = upload(weeks[2].path(), &dest);
    assert_eq!(out.status.code(), Some(1), "the middle transfer is missing");
    let err = stderr(&out);
    assert!(err.contains(&format!("written to {}", weeks[1].path().display())), "names the middle tree:\n{err}");
    assert!(!err.contains(&format!("written to {}", weeks[0].path().display())), "not the uploaded one:\n{err}");
    assert_success(&upload(weeks[1].path(), &dest));
    assert_success(&upload(weeks[2].path(), &dest));
    assert_complete(&rel[2], &dest.client());
}

#[test]
fn a_transfer_of_several_releases_since_an_earlier_one_carries_what_none_of_them_shared() {
    let (_registry, rel) = releases(&["4.99.0", "4.99.1", "4.99.2"]);
    let (week1, week2) = (temp_dir(), temp_dir());
    assert_success(&run(to_dir_args(&rel[0].release_ref(), week1.path(), &["-q"])));
    let mut args = to_dir_args(&rel[1].release_ref(), week2.path(), &["-q"]);
    args.push(format!("--from={}", rel[2].release_ref()));
    args.push(format!("--since={}", week1.path().display()));
    assert_success(&run(args));
    let new: BTreeSet<String> = blobs_of(&[&rel[1], &rel[2]]).difference(&blobs_of(&[&rel[0]])).cloned().collect();
    assert_eq!(layer_blobs(week2.path()), new);
    let dest = Registry::start();
    assert_success(&upload(week1.path(), &dest));
    assert_success(&upload(week2.path(), &dest));
    assert_complete(&rel[1], &dest.client());
    assert_complete(&rel[2], &dest.client());
}
