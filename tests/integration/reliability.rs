//! Reliability, second round: what a hostile review broke. A dry run writes nothing, runs on
//! one tree leave each other's temp files alone, malformed registry hosts are refused, a
//! closed stdout ends the run quietly.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use crate::faults::{args, bed};
use crate::support::proxy::Proxy;
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, command, run, stderr, temp_dir};

const TMP: &str = ".release-mirror-tmp-";

/// Every file and symlink under `root` with its bytes (or link target), by relative path.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).expect("below root").display().to_string();
            let kind = entry.file_type().expect("file type");
            if kind.is_symlink() {
                out.insert(rel, std::fs::read_link(&path).expect("link").display().to_string().into_bytes());
            } else if kind.is_dir() {
                out.insert(rel, Vec::new());
                todo.push(path);
            } else {
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

fn blobs_dir(tree: &Path) -> std::path::PathBuf {
    tree.join("v2/openshift/release/blobs")
}

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

/// Send `signal` (`STOP`, `CONT`) to process `pid` with kill(1).
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill").args([format!("-{signal}"), pid.to_string()]).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
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
fn a_malformed_registry_host_is_a_usage_error_naming_the_bad_part_and_nothing_is_sent() {
    let registry = Registry::start();
    let proxy = Proxy::in_front_of(&registry);
    let port = proxy.host().rsplit_once(':').map(|(_, p)| p.to_string()).expect("port");
    for (host, bad) in [
        (format!("127.0.0.1:1@127.0.0.1:{port}"), "contains '@'"),
        (format!("user:pass@127.0.0.1:{port}"), "contains '@'"),
        (format!("127.0.0.1:{port}#frag"), "contains '#'"),
        (format!("127.0.0.1:{port}?q=1"), "contains '?'"),
        (format!("127.0.0.1:{port}\\evil"), "contains '\\\\'"),
    ] {
        let out = run([format!("--from={host}/ocp/release:1"), "--to-dir=/nonexistent/x".into(), "--insecure".into()]);
        assert_eq!(out.status.code(), Some(2), "{host}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("registry host {host:?}")) && err.contains(bad), "{host}: {err}");
    }
    assert!(proxy.log().is_empty(), "no request was sent: {:?}", proxy.log().len());
}

#[test]
fn a_closed_stdout_ends_a_successful_run_quietly() {
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let tree = temp_dir();
    let home = temp_dir();
    let mut child = command(home.path())
        .args(args(&b.release, format!("--to-dir={}", tree.path().display()), &[]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // as `| true` does: the reader is gone before the summary
    let out = child.wait_with_output().expect("wait");
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
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

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).expect("below root").display().to_string()
}

#[test]
fn a_signature_store_password_never_appears_in_any_output() {
    use base64::Engine as _;
    let k = crate::support::gpg::keys();
    let store = crate::support::sigstore::SigStore::start(crate::support::sigstore::Mode::Serve);
    let with_password = store.url().replacen("http://", "http://mirror:s3cretPW@", 1);
    let spec = ReleaseSpec { verification_keys: vec![("test".into(), k.gpg.export(&k.rsa))], ..ReleaseSpec::default() };
    let b = bed(ReleaseSpec { stores: vec![("local".into(), with_password.clone())], ..spec });
    let dest = Registry::start();
    let to = format!("--to={}/mirror/ocp/release", dest.host());
    let secrets = ["s3cretPW".to_string(), base64::engine::general_purpose::STANDARD.encode("mirror:s3cretPW")];
    let check = |out: &std::process::Output| {
        let all = format!("{}{}", crate::support::stdout(out), stderr(out));
        for secret in &secrets {
            assert!(!all.contains(secret.as_str()), "{secret} printed:\n{all}");
        }
        assert!(all.contains("***@127.0.0.1"), "the store is still named:\n{all}");
    };
    // No signature yet: the refusal lists every store and attempt.
    for extra in [&["-v"][..], &["-q"][..], &["-o", "json", "-vv"][..]] {
        let mut a = vec![format!("--from={}", b.release.release_ref()), to.clone(), "--insecure".into()];
        a.extend(extra.iter().map(|s| s.to_string()));
        let out = run(&a);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        check(&out);
    }
    let digest = &b.release.release_digest;
    let identity = "quay.io/openshift-release-dev/ocp-release:4.99.0-x86_64";
    store.put(digest, 1, k.gpg.sign(&k.rsa, &crate::support::gpg::atomic_payload(digest, identity), true));
    let out = run([
        format!("--from={}", b.release.release_ref()),
        to,
        "--insecure".into(),
        "-v".into(),
        "-o".into(),
        "json".into(),
    ]);
    assert_success(&out);
    check(&out);
}

/// A release signed by the test key, its signature in a local store.
pub fn signed_bed() -> (crate::faults::Bed, crate::support::sigstore::SigStore) {
    let k = crate::support::gpg::keys();
    let store = crate::support::sigstore::SigStore::start(crate::support::sigstore::Mode::Serve);
    let b = bed(ReleaseSpec {
        verification_keys: vec![("test".into(), k.gpg.export(&k.rsa))],
        stores: vec![("local".into(), store.url())],
        ..ReleaseSpec::default()
    });
    let digest = &b.release.release_digest;
    let identity = "quay.io/openshift-release-dev/ocp-release:4.99.0-x86_64";
    store.put(digest, 1, k.gpg.sign(&k.rsa, &crate::support::gpg::atomic_payload(digest, identity), true));
    (b, store)
}

fn signed_args(b: &crate::faults::Bed, to: String, extra: &[String]) -> Vec<String> {
    let mut a = vec![format!("--from={}", b.release.release_ref()), to, "--insecure".into()];
    a.extend(extra.iter().cloned());
    a
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
fn sighup_stops_like_sigterm_and_cancels_the_open_upload_sessions() {
    use crate::support::proxy::{Action, Fault};
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let dest = Registry::start();
    let front = Proxy::in_front_of(&dest);
    // Every blob upload hangs in the proxy, so the run is mid-upload when the signal comes.
    front.add(Fault::new(Action::Delay(std::time::Duration::from_secs(20))).on("PUT", "/blobs/uploads/").always());
    let home = temp_dir();
    let child = command(home.path())
        .args(args(&b.release, format!("--to={}/mirror/ocp/release", front.host()), &[]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    assert!(front.wait_for("PUT", "/blobs/uploads/", 1, std::time::Duration::from_secs(20)), "no upload began");
    let started = std::time::Instant::now();
    signal(child.id(), "HUP");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "it stopped promptly");
    let puts = front.requests("PUT", "/blobs/uploads/").len();
    let deletes: Vec<_> = front.requests("DELETE", "/blobs/uploads/");
    assert_eq!(deletes.len(), puts, "every open session cancelled: {puts} PUTs, {} DELETEs", deletes.len());
    assert!(deletes.iter().all(|d| d.status == 204), "{:?}", deletes.iter().map(|d| d.status).collect::<Vec<_>>());
    assert!(stderr(&out).contains(&format!("and {puts} open registry upload(s) cancelled")), "{}", stderr(&out));
}

#[test]
fn sighup_during_a_to_disk_run_leaves_no_temp_files() {
    use crate::support::proxy::{Action, Fault};
    let b = bed(ReleaseSpec { components: 2, big_layer: Some(8 << 20), ..ReleaseSpec::default() });
    // Blob fetches hang in the proxy: the run is in its copy when the signal comes (before
    // this change SIGHUP killed the process outright, exit 129).
    b.proxy.add(Fault::new(Action::Delay(std::time::Duration::from_secs(20))).on("GET", "/blobs/").always());
    let tree = temp_dir();
    let home = temp_dir();
    let child = command(home.path())
        .args(args(&b.release, format!("--to-dir={}", tree.path().display()), &[]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    assert!(b.proxy.wait_for("GET", "/blobs/", 1, std::time::Duration::from_secs(20)), "no blob fetch began");
    signal(child.id(), "HUP");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let temps: Vec<String> = snapshot(tree.path()).into_keys().filter(|k| k.contains(TMP)).collect();
    assert!(temps.is_empty(), "{temps:?}");
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

const MIB: u64 = 1 << 20;

/// Range requests for `digest` at the proxy.
fn range_gets(proxy: &Proxy, digest: &str) -> Vec<String> {
    proxy.requests("GET", digest).iter().filter_map(|e| e.header("range").map(str::to_string)).collect()
}

#[test]
fn a_source_that_goes_silent_is_resumed_after_the_stall_timeout_with_one_range_request() {
    use crate::support::proxy::{Action, Fault};
    let b = bed(ReleaseSpec { components: 2, big_layer: Some(3 * MIB), ..ReleaseSpec::default() });
    let layer = b.release.big_layer.clone().expect("big layer");
    b.proxy.add(Fault::new(Action::StallResponse(MIB)).on("GET", &layer.digest));
    let tree = temp_dir();
    let out = run(args(&b.release, format!("--to-dir={}", tree.path().display()), &[]));
    assert_success(&out);
    assert_eq!(range_gets(&b.proxy, &layer.digest), [format!("bytes={MIB}-")], "one resume, where it stopped");
    let warning = format!("stalled: no data for 30 s after {MIB} bytes; resuming");
    assert!(stderr(&out).contains(&warning), "{}", stderr(&out));
    let bytes = std::fs::read(blobs_dir(tree.path()).join(&layer.digest)).expect("blob written");
    assert_eq!(crate::support::sha256_digest(&bytes), layer.digest);
}

#[test]
fn a_trickling_source_is_abandoned_and_resumed() {
    use crate::support::proxy::{Action, Fault};
    let b = bed(ReleaseSpec { components: 2, big_layer: Some(3 * MIB), ..ReleaseSpec::default() });
    let layer = b.release.big_layer.clone().expect("big layer");
    b.proxy.add(Fault::new(Action::TrickleResponse(MIB)).on("GET", &layer.digest));
    let tree = temp_dir();
    let out = run(args(&b.release, format!("--to-dir={}", tree.path().display()), &["--stall-timeout=3"]));
    assert_success(&out);
    let ranges = range_gets(&b.proxy, &layer.digest);
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    assert!(stderr(&out).contains("below 1024 bytes/s"), "{}", stderr(&out));
    let bytes = std::fs::read(blobs_dir(tree.path()).join(&layer.digest)).expect("blob written");
    assert_eq!(crate::support::sha256_digest(&bytes), layer.digest);
}

#[test]
fn a_blob_that_always_stalls_spends_one_retry_budget_not_tries_squared() {
    use crate::support::proxy::{Action, Fault};
    let b = bed(ReleaseSpec { components: 2, big_layer: Some(3 * MIB), ..ReleaseSpec::default() });
    let layer = b.release.big_layer.clone().expect("big layer");
    b.proxy.add(Fault::new(Action::StallResponse(MIB)).on("GET", &layer.digest).always());
    let tree = temp_dir();
    let out =
        run(args(&b.release, format!("--to-dir={}", tree.path().display()), &["--stall-timeout=1", "--retries=3"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(b.proxy.requests("GET", &layer.digest).len(), 3, "three tries in all, resumes included");
    assert!(stderr(&out).contains("stalled: no data for 1 s"), "{}", stderr(&out));
    let err = stderr(&out);
    let path = blobs_dir(tree.path()).join(&layer.digest);
    let first = err.lines().find(|l| l.starts_with("error: ")).expect("an error line");
    assert!(first.contains(&format!("failed to copy blob {}", layer.digest)), "{err}");
    assert!(err.contains(&format!("failed to receive the content of {} from the source", path.display())), "{err}");
    assert!(!err.contains("failed to write"), "a source failure is not a disk write failure: {err}");
}

#[test]
fn an_upload_the_registry_never_answers_is_retried_after_the_stall_timeout() {
    use crate::support::proxy::{Action, Fault};
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let dest = Registry::start();
    let front = Proxy::in_front_of(&dest);
    front.add(Fault::new(Action::HoldResponse(std::time::Duration::from_secs(120))).on("PUT", "/blobs/uploads/"));
    let out = run(args(&b.release, format!("--to={}/mirror/ocp/release", front.host()), &["--stall-timeout=2", "-v"]));
    assert_success(&out);
    assert!(stderr(&out).contains("did not answer the upload of blob"), "{}", stderr(&out));
    crate::mirror::assert_complete_in(&b.release, &dest.client(), "mirror/ocp/release");
}
