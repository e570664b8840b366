//! The tree's record crosses the gap and is trusted there only after it is checked against
//! the tree: an entry naming a registry, a mirror source by another digest, or a record
//! linked to a device stops the upload before any registry is asked.

use serde_json::Value;

use crate::faults::{args, bed};
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, run, stderr, temp_dir};

/// Upload the tree at `dir` with no `--from`: exit 1 with `needle`, nothing pushed, and the
/// source registry (behind the bed's proxy) never asked.
fn assert_upload_refused(dir: &std::path::Path, proxy_requests: impl Fn() -> usize, needle: &str) {
    let before = proxy_requests();
    super::assert_refused_with_nothing_copied(vec![format!("--from-dir={}", dir.display())], needle);
    assert_eq!(proxy_requests(), before, "the source registry was contacted");
}

#[test]
fn a_tampered_or_linked_record_stops_the_upload_before_any_registry_is_asked() {
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let tree = temp_dir();
    assert_success(&run(args(&b.release, format!("--to-dir={}", tree.path().display()), &[])));
    let record_path = tree.path().join("release-mirror/releases.json");
    let original: Value = serde_json::from_slice(&std::fs::read(&record_path).expect("record")).expect("JSON");
    let requests = || b.proxy.log().len();

    let mut registry_entry = original.clone();
    registry_entry["releases"][0]["image"] = Value::from(b.release.release_ref());
    std::fs::write(&record_path, registry_entry.to_string()).expect("tamper");
    assert_upload_refused(tree.path(), requests, "is not an image inside the tree");

    let mut evil_source = original.clone();
    evil_source["releases"][0]["source"] = Value::from("evil.example.com/x/y");
    std::fs::write(&record_path, evil_source.to_string()).expect("tamper");
    assert_upload_refused(tree.path(), requests, "its source evil.example.com/x/y is not by digest");

    let mut future = original.clone();
    future["schemaVersion"] = Value::from(99);
    std::fs::write(&record_path, future.to_string()).expect("tamper");
    assert_upload_refused(tree.path(), requests, "schemaVersion 99 is not known");

    std::fs::remove_file(&record_path).expect("rm");
    std::os::unix::fs::symlink("/dev/zero", &record_path).expect("symlink");
    assert_upload_refused(tree.path(), requests, "it is a symbolic link, expected a regular file");
}

#[test]
fn a_tree_written_by_separate_runs_is_not_shown_as_one_path() {
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let tree = temp_dir();
    assert_success(&run(args(&b.release, format!("--to-dir={}", tree.path().display()), &[])));
    let record_path = tree.path().join("release-mirror/releases.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&record_path).expect("record")).expect("JSON");
    // What a shortest-path run left before this release was added by a `--from` run.
    let hop = serde_json::json!({"from": "4.98.0", "to": "4.98.1", "conditional": false, "risks": []});
    record["upgradePath"] =
        serde_json::json!({"channel": "stable-4.98", "arch": "amd64", "hops": [hop], "graph": null});
    std::fs::write(&record_path, record.to_string()).expect("write");
    let dest = Registry::start();
    let out = crate::carry::upload(tree.path(), &dest);
    assert_success(&out);
    let (err, text) = (stderr(&out), String::from_utf8_lossy(&out.stdout).into_owned());
    assert!(err.contains("holds releases of several separate runs"), "{err}");
    assert!(!text.contains("Upgrade sequence") && !text.contains("hop"), "{text}");
}

/// The issue's own reproduction: two processes writing one tree at the same moment, many
/// times over (ten rounds); every time both succeed and the record lists both releases (before, 8 in 30
/// pairs lost an entry and 1–2 failed with `File exists`).
#[test]
fn two_runs_started_together_into_one_tree_both_succeed_and_both_stay_recorded() {
    let a = crate::mirror::source_with(ReleaseSpec { version: "4.99.0".into(), ..ReleaseSpec::default() });
    let b = crate::mirror::source_with(ReleaseSpec { version: "4.99.1".into(), ..ReleaseSpec::default() });
    let home = temp_dir();
    for round in 0..10 {
        let tree = temp_dir();
        let start = |src: &crate::mirror::Source| {
            crate::support::command(home.path())
                .args([
                    format!("--from={}", src.release.release_ref()),
                    format!("--to-dir={}", tree.path().display()),
                    "--insecure".into(),
                    "--skip-release-image-signature".into(),
                    "-q".into(),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn the plugin")
        };
        let (first, second) = (start(&a), start(&b));
        for child in [first, second] {
            let out = child.wait_with_output().expect("wait for the plugin");
            assert_eq!(out.status.code(), Some(0), "round {round}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let record = std::fs::read(tree.path().join("release-mirror/releases.json")).expect("the record");
        let record: Value = serde_json::from_slice(&record).expect("json");
        let versions: Vec<&str> =
            record["releases"].as_array().expect("releases").iter().filter_map(|r| r["version"].as_str()).collect();
        assert_eq!(versions, ["4.99.0", "4.99.1"], "round {round}: both releases recorded, in order");
    }
}

/// A release the tree holds but its record does not list is uploaded, and the warning says
/// exactly that (not "a tree written by oc", which it is not).
#[test]
fn a_release_the_record_does_not_list_is_named_so_in_the_upload_warning() {
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let tree = temp_dir();
    assert_success(&run(args(&b.release, format!("--to-dir={}", tree.path().display()), &[])));
    let record_path = tree.path().join("release-mirror/releases.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&record_path).expect("record")).expect("JSON");
    record["releases"] = serde_json::json!([]);
    std::fs::write(&record_path, record.to_string()).expect("write");
    let dest = Registry::start();
    let tag = b.release.release_ref().rsplit_once(':').expect("a tag").1.to_string();
    let out = run([
        format!("--from-dir={}", tree.path().display()),
        format!("--from=file://openshift/release:{tag}"),
        format!("--to={}/mirror/ocp/release", dest.host()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ]);
    assert_success(&out);
    let err = stderr(&out);
    let want = format!("its record does not list {}", b.release.release_digest);
    assert!(err.contains(&want), "{err}");
    assert!(!err.contains("a tree written by oc"), "{err}");
}
