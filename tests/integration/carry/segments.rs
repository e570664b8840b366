//! `--archive-size`: the tree as tar segments, read in place, checked, resumed.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::{to_dir_args, upload};
use crate::mirror::{assert_complete, source_with};
use crate::support::generator::{generate, GeneratedRelease};
use crate::support::proxy::{Action, Fault, Proxy};
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, run, stderr, temp_dir};

/// Every file below `dir` with its size; a symbolic link anywhere fails the test.
fn plain_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("list").flatten() {
            let meta = fs::symlink_metadata(e.path()).expect("stat");
            assert!(!meta.file_type().is_symlink(), "a symbolic link: {}", e.path().display());
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                found.push((e.path(), meta.len()));
            }
        }
    }
    found.sort();
    found
}

const SEGMENT: u64 = 64 * 1024;

/// A release whose layers (100 KiB, incompressible) are larger than a 64 KiB segment.
fn segmented_release() -> (crate::mirror::Source, tempfile::TempDir) {
    let src = source_with(ReleaseSpec { components: 3, layer_size: 100 << 10, ..ReleaseSpec::default() });
    let tree = temp_dir();
    let out = run(to_dir_args(&src.release.release_ref(), tree.path(), &["-q", "--archive-size=64K"]));
    assert_success(&out);
    let text = crate::support::stdout(&out);
    assert!(
        text.contains("kubectl release-mirror") && !text.contains("oc image mirror"),
        "oc reads no segments:\n{text}"
    );
    (src, tree)
}

fn index(tree: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(tree.join("segments/index.json")).expect("index")).expect("json")
}

#[test]
fn archive_segments_keep_every_file_under_the_size_with_no_link_and_blobs_spanning_them() {
    let (src, tree) = segmented_release();
    let files = plain_files(tree.path());
    let over: Vec<_> = files.iter().filter(|(_, size)| *size > SEGMENT).collect();
    assert!(over.is_empty(), "files over 64 KiB: {over:?}");
    assert!(!tree.path().join("v2").exists(), "no oc tree beside the segments");
    let segments: Vec<_> = files.iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "tar")).collect();
    assert!(segments.len() > 3, "{files:?}");

    let index = index(tree.path());
    let spanning =
        index["blobs"].as_object().expect("blobs").values().filter(|b| b["pieces"].as_array().map_or(0, Vec::len) > 1);
    assert!(spanning.count() > 0, "a blob larger than a segment spans several: {index}");
    for blob in src.release.all_blob_digests() {
        assert!(index["blobs"].get(&blob).is_some(), "{blob} is in the index");
    }
    for s in index["segments"].as_array().expect("segments") {
        let path = tree.path().join("segments").join(s["name"].as_str().expect("name"));
        let bytes = fs::read(&path).expect("segment");
        assert_eq!(s["sha256"].as_str(), Some(format!("sha256:{}", sha256_hex(&bytes)).as_str()));
        let mut archive = tar::Archive::new(bytes.as_slice());
        assert!(archive.entries().expect("a tar").all(|e| e.is_ok()), "{} is a valid tar", path.display());
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn a_segmented_tree_is_uploaded_in_place_and_left_as_it_was() {
    let (src, tree) = segmented_release();
    let before = plain_files(tree.path());
    let dest = Registry::start();
    assert_success(&upload(tree.path(), &dest));
    assert_complete(&src.release, &dest.client());
    assert_eq!(plain_files(tree.path()), before, "nothing extracted, nothing changed");
}

/// A segment holding bytes of `victim`'s own blobs only (none of the release image's or any
/// other component's), with the offset of one of its pieces.
fn segment_of_only(index: &serde_json::Value, src: &GeneratedRelease, victim: usize) -> Option<(String, u64)> {
    let own: BTreeSet<&String> = src.images[victim].blobs.iter().collect();
    let others: BTreeSet<&String> = src
        .images
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .flat_map(|(_, img)| img.blobs.iter().chain([&img.digest]))
        .chain(src.release.blobs.iter().chain([&src.release_digest]))
        .collect();
    let segments = index["segments"].as_array()?;
    let blobs = index["blobs"].as_object()?;
    let in_segment = |n: u64| {
        let hits =
            blobs.iter().filter(move |(_, b)| b["pieces"].as_array().into_iter().flatten().any(|p| p["segment"] == n));
        hits.map(|(d, _)| d.clone()).collect::<Vec<_>>()
    };
    (0..segments.len() as u64).find_map(|n| {
        let held = in_segment(n);
        let mine = held.iter().find(|d| own.contains(d))?;
        if held.iter().any(|d| others.contains(d)) {
            return None;
        }
        let piece = blobs[mine]["pieces"].as_array()?.iter().find(|p| p["segment"] == n)?.clone();
        Some((segments[n as usize]["name"].as_str()?.to_string(), piece["offset"].as_u64()?))
    })
}

#[test]
fn a_flipped_byte_in_one_segment_names_the_damaged_image_and_the_rest_goes_up() {
    let (src, tree) = segmented_release();
    let index = index(tree.path());
    let (victim, (segment, offset)) = (0..src.release.images.len())
        .find_map(|i| Some((i, segment_of_only(&index, &src.release, i)?)))
        .expect("a segment of one image");
    let path = tree.path().join("segments").join(&segment);
    let mut bytes = fs::read(&path).expect("segment");
    bytes[offset as usize + 10] ^= 0xff;
    fs::write(&path, bytes).expect("flip a byte");

    let dest = Registry::start();
    let out = upload(tree.path(), &dest);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let name = &src.release.images[victim].name;
    let tag = src.release.mirror_tag(name);
    assert!(err.contains(&format!("not uploading {}/mirror/ocp/release:{tag}", dest.host())), "{err}");
    assert!(err.contains(&format!("{segment}, which is damaged")), "{err}");
    assert!(err.contains(&format!("segments of {} are damaged: {segment}", tree.path().display())), "{err}");
    let client = dest.client();
    assert!(client.get_manifest("mirror/ocp/release", &tag).is_none(), "the damaged image is not there");
    let release_tag = format!("{}-{}", src.release.version, src.release.arch);
    assert!(client.get_manifest("mirror/ocp/release", &release_tag).is_none(), "nor the release naming it");
    for image in src.release.images.iter().filter(|i| &i.name != name) {
        let tag = src.release.mirror_tag(&image.name);
        let (bytes, _, _) = client.get_manifest("mirror/ocp/release", &tag).unwrap_or_else(|| panic!("{tag} went up"));
        assert_eq!(bytes, image.manifest);
    }
}

/// The blob digests the proxy saw fetched (GET), from log entry `from` on.
fn fetched(proxy: &Proxy, from: usize) -> BTreeSet<String> {
    let log = proxy.log();
    let gets = log.iter().skip(from).filter(|e| e.method == "GET" && e.path.contains("/blobs/sha256:"));
    gets.filter_map(|e| e.path.rsplit('/').next().map(String::from)).collect()
}

#[test]
fn an_interrupted_segmented_write_is_resumed_where_it_stopped() {
    let registry = Registry::start();
    let proxy = Proxy::in_front_of(&registry);
    let spec = ReleaseSpec { components: 3, layer_size: 100 << 10, ..ReleaseSpec::default() };
    let release = generate(&spec, &proxy.host(), "ocp");
    release.push(&registry);
    let victim = release.images[2].config_digest.clone();
    proxy.add(
        Fault::new(Action::Status { code: 404, retry_after: None }).on("GET", &format!("/blobs/{victim}")).always(),
    );
    let tree = temp_dir();
    let args = to_dir_args(&release.release_ref(), tree.path(), &["-q", "--archive-size=64K"]);
    // One transfer at a time, largest first: the small config comes after the layers.
    let first = run([&args[..], &["--max-per-registry=1".to_string()]].concat());
    assert_eq!(first.status.code(), Some(1), "the write stops at the missing blob");

    let segments = tree.path().join("segments");
    assert!(
        segments.join("journal.json").is_file() && !segments.join("index.json").exists(),
        "a half-written set: {}",
        stderr(&first)
    );
    let journal: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(segments.join("journal.json")).expect("journal")).expect("json");
    let written: BTreeSet<String> = journal["blobs"].as_object().expect("blobs").keys().cloned().collect();
    assert!(written.len() > 3 && !written.contains(&victim), "{written:?}");
    let dest = Registry::start();
    let refused = run([
        format!("--from-dir={}", tree.path().display()),
        "--from=file://openshift/release:4.99.0-x86_64".into(),
        format!("--to={}/mirror/ocp/release", dest.host()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ]);
    assert!(stderr(&refused).contains("the segment set was not finished"), "{}", stderr(&refused));
    let names = |dir: &Path| {
        plain_files(dir).into_iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "tar")).collect::<Vec<_>>()
    };
    let before = names(tree.path());
    let kept: Vec<(PathBuf, Vec<u8>)> =
        before[..before.len() - 1].iter().map(|(p, _)| (p.clone(), fs::read(p).expect("segment"))).collect();

    proxy.clear_faults();
    let from = proxy.log().len();
    assert_success(&run(&args));
    let again: BTreeSet<String> =
        fetched(&proxy, from).into_iter().filter(|d| !release.release.blobs.contains(d)).collect();
    assert!(again.contains(&victim), "{again:?}");
    assert!(again.is_disjoint(&written), "no blob of the first run is fetched again: {again:?}");
    for (path, bytes) in kept {
        assert_eq!(fs::read(&path).expect("segment"), bytes, "{} is kept as it was", path.display());
    }
    assert!(segments.join("index.json").is_file() && !segments.join("journal.json").exists());
    assert_success(&upload(tree.path(), &dest));
    assert_complete(&release, &dest.client());
}

fn check_media(tree: &Path, dest: &Proxy) -> std::process::Output {
    run([
        format!("--from-dir={}", tree.display()),
        format!("--to={}/mirror/ocp/release", dest.host()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
        "--dry-run".into(),
        "--verify".into(),
    ])
}

#[test]
fn checking_the_media_hashes_every_blob_in_segments_or_files_and_asks_no_registry() {
    let (src, tree) = segmented_release();
    let dest = Registry::start();
    let proxy = Proxy::in_front_of(&dest);
    let out = check_media(tree.path(), &proxy);
    assert_success(&out);
    let blobs = src.release.all_blob_digests().len() + 1 + src.release.images.len();
    let want = format!("Checked {blobs} blobs (");
    assert!(crate::support::stdout(&out).contains(&want), "{want}:\n{}", crate::support::stdout(&out));

    let index = index(tree.path());
    let (victim, (segment, offset)) = (0..src.release.images.len())
        .find_map(|i| Some((i, segment_of_only(&index, &src.release, i)?)))
        .expect("a segment of one image");
    flip(&tree.path().join("segments").join(&segment), offset + 10);
    let out = check_media(tree.path(), &proxy);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let tag = src.release.mirror_tag(&src.release.images[victim].name);
    let err = stderr(&out);
    assert!(err.contains(&format!(":{tag} is damaged: its content does not match its digest")), "{err}");
    assert!(err.contains("1 of the "), "one blob: {err}");

    let plain = temp_dir();
    assert_success(&run(to_dir_args(&src.release.release_ref(), plain.path(), &["-q"])));
    let layer = &src.release.images[victim].config_digest;
    fs::remove_file(plain.path().join("v2/openshift/release/blobs").join(layer)).expect("remove a layer");
    let out = check_media(plain.path(), &proxy);
    assert!(
        stderr(&out).contains(&format!("blob {layer} of ")) && stderr(&out).contains(&format!(":{tag} is missing"))
    );
    assert!(proxy.log().is_empty(), "no registry was asked: {:?}", proxy.log());
}

/// Flip the bits of the byte at `at` in the file `path`.
fn flip(path: &Path, at: u64) {
    let mut bytes = fs::read(path).expect("read");
    bytes[at as usize] ^= 0xff;
    fs::write(path, bytes).expect("write");
}

#[test]
fn segments_since_an_earlier_transfer_hold_only_the_changed_blobs_and_upload_whole() {
    let (_registry, rel) = super::releases(&["4.99.0", "4.99.1"]);
    let (week1, week2) = (temp_dir(), temp_dir());
    let seg = "--archive-size=64K";
    assert_success(&run(to_dir_args(&rel[0].release_ref(), week1.path(), &["-q", seg])));
    let since = format!("--since={}", week1.path().display());
    assert_success(&run(to_dir_args(&rel[1].release_ref(), week2.path(), &["-q", seg, &since])));
    let changed: BTreeSet<String> =
        super::blobs_of(&[&rel[1]]).difference(&super::blobs_of(&[&rel[0]])).cloned().collect();
    let manifests: BTreeSet<String> =
        rel[1].images.iter().map(|i| i.digest.clone()).chain([rel[1].release_digest.clone()]).collect();
    let held: BTreeSet<String> = index(week2.path())["blobs"]
        .as_object()
        .expect("blobs")
        .keys()
        .filter(|d| !manifests.contains(*d))
        .cloned()
        .collect();
    assert_eq!(held, changed, "the second set holds exactly the changed blobs");
    let dest = Registry::start();
    assert_success(&upload(week1.path(), &dest));
    assert_success(&upload(week2.path(), &dest));
    assert_complete(&rel[1], &dest.client());
}
