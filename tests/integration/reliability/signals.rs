//! Signals and what is printed: malformed hosts, a closed stdout, secrets in store URLs,
//! SIGHUP and the upload sessions it leaves.

use std::process::Stdio;

use super::*;
use crate::faults::{args, bed};
use crate::mirror::assert_complete;
use crate::support::proxy::Proxy;
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, command, run, stderr, temp_dir};

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

#[test]
fn sighup_stops_like_sigterm_and_cancels_the_open_upload_sessions() {
    use crate::support::proxy::{Action, Fault};
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let dest = Registry::start();
    let front = Proxy::in_front_of(&dest);
    // Every blob upload hangs in the proxy (for longer than any test runs), so the run is
    // mid-upload when the signal comes, and stops without any upload answered.
    front.add(Fault::new(Action::Delay(std::time::Duration::from_secs(600))).on("PUT", "/blobs/uploads/").always());
    let home = temp_dir();
    let child = spawn(home.path(), args(&b.release, format!("--to={}/mirror/ocp/release", front.host()), &[]));
    assert!(front.wait_for("PUT", "/blobs/uploads/", 1, std::time::Duration::from_secs(20)), "no upload began");
    let out = stop(child, "HUP");
    // It stopped without waiting for its uploads: none of them had been answered.
    let answered: Vec<u16> = front.requests("PUT", "/blobs/uploads/").iter().map(|e| e.status).collect();
    assert!(!answered.is_empty() && answered.iter().all(|s| *s == 0), "it waited for its uploads: {answered:?}");
    // The session of an upload: its path up to the query.
    let session = |path: &str| path.split('?').next().unwrap_or_default().to_string();
    let puts: Vec<String> = front.requests("PUT", "/blobs/uploads/").iter().map(|e| session(&e.path)).collect();
    let deletes: Vec<_> = front.requests("DELETE", "/blobs/uploads/");
    let cancelled: Vec<String> = deletes.iter().map(|e| session(&e.path)).collect();
    // Every session with an upload in flight is cancelled; so is one opened whose PUT had
    // not left yet when the signal came.
    assert!(!puts.is_empty() && puts.iter().all(|p| cancelled.contains(p)), "PUTs {puts:?}, DELETEs {cancelled:?}");
    let statuses: Vec<u16> = deletes.iter().map(|d| d.status).collect();
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}\n{}", stderr(&out));
    let n = deletes.len();
    assert!(stderr(&out).contains(&format!("and {n} open registry upload(s) cancelled")), "{}", stderr(&out));
}

#[test]
fn sighup_during_a_to_disk_run_removes_the_temp_file_being_written() {
    use crate::support::proxy::{Action, Fault};
    let b = bed(ReleaseSpec { components: 2, big_layer: Some(8 << 20), ..ReleaseSpec::default() });
    // The big layer's download stops after 1 MiB and stays silent: its temp file is in the
    // tree when the signal comes (before SIGHUP was handled, it killed the process outright,
    // exit 129, and left the file).
    let layer = b.release.big_layer.clone().expect("big layer").digest;
    b.proxy.add(Fault::new(Action::StallResponse(1 << 20)).on("GET", &layer));
    let tree = temp_dir();
    let home = temp_dir();
    let child = spawn(home.path(), args(&b.release, format!("--to-dir={}", tree.path().display()), &[]));
    let temps = || snapshot(tree.path()).into_keys().filter(|k| k.contains(TMP)).collect::<Vec<String>>();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while temps().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no temp file appeared: {:?}", b.proxy.log());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stop(child, "HUP");
    assert!(temps().is_empty(), "{:?}", temps());
}

#[test]
fn a_run_stopped_before_its_first_image_was_complete_is_resumed_without_sending_its_blobs_again() {
    use crate::support::proxy::{Action, Fault};
    let b = bed(ReleaseSpec { components: 3, big_layer: Some(2 << 20), ..ReleaseSpec::default() });
    let dest = Registry::start();
    let front = Proxy::in_front_of(&dest);
    // No manifest lands: the run is stopped while the first one is held, so the repository
    // has blobs and no tag, which the registry reports as a repository it does not know.
    front.add(Fault::new(Action::Delay(std::time::Duration::from_secs(600))).on("PUT", "/manifests/").always());
    let home = temp_dir();
    let to = format!("--to={}/mirror/ocp/release", front.host());
    let child = spawn(home.path(), args(&b.release, to.clone(), &[]));
    assert!(front.wait_for("PUT", "/manifests/", 1, std::time::Duration::from_secs(30)), "no manifest was sent");
    stop(child, "TERM");
    let digest_of = |path: &str| path.split("digest=").nth(1).map(|d| d.replace("%3A", ":"));
    let uploaded: std::collections::BTreeSet<String> = front
        .requests("PUT", "/blobs/uploads/")
        .iter()
        .filter(|e| e.status == 201)
        .filter_map(|e| digest_of(&e.path))
        .collect();
    assert!(!uploaded.is_empty(), "no blob was uploaded before the stop");
    let tags = reqwest::blocking::get(format!("{}/v2/mirror/ocp/release/tags/list", dest.url())).expect("tags");
    assert_eq!(tags.status(), 404, "a repository with blobs only");
    assert!(tags.text().expect("body").contains("NAME_UNKNOWN"));

    front.clear_faults();
    let mark = front.log().len();
    let out = run(args(&b.release, to, &["-o", "json"]));
    assert_success(&out);
    assert_complete(&b.release, &dest.client());
    let again: Vec<String> =
        front.log()[mark..].iter().filter(|e| e.method == "PUT").filter_map(|e| digest_of(&e.path)).collect();
    let resent: Vec<&String> = again.iter().filter(|d| uploaded.contains(*d)).collect();
    assert!(resent.is_empty(), "sent again: {resent:?}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(summary["transfer"]["blobsFound"], uploaded.len(), "{summary}");
    let size = |d: &String| match b.release.blob(d) {
        Some(bytes) => bytes.len() as u64,
        None => b.release.streamed_layer(d).expect("a blob of the release").blob_size,
    };
    let bytes: u64 = uploaded.iter().map(size).sum();
    let to_copy = summary["transfer"]["bytesToCopy"].as_u64().expect("bytesToCopy");
    assert_eq!(summary["transfer"]["bytesCopied"], to_copy - bytes, "{summary}");
}
