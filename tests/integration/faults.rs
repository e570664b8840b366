//! Faults between the mirror and its registries, injected by a proxy in front of a real
//! registry: connections cut mid-body on either side, 429 and 5xx bursts, a corrupted byte,
//! a registry killed and restarted. Each run completes with a byte-identical destination or
//! fails with a clear error, and a rerun completes; no corrupt blob is ever stored.

mod secrets;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use crate::mirror::assert_complete;
use crate::support::generator::{generate, GeneratedRelease};
use crate::support::proxy::{Action, Fault, Proxy};
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, command, run, sha256_digest, stderr, temp_dir};

pub const DEST_REPO: &str = "mirror/ocp/release";
const MIB: u64 = 1 << 20;

/// A registry, a proxy in front of it, and a release pushed there whose image-references
/// name the proxy, so that every request of a mirror run goes through it.
pub struct Bed {
    pub registry: Registry,
    pub proxy: Proxy,
    pub release: GeneratedRelease,
}

pub fn bed(spec: ReleaseSpec) -> Bed {
    let registry = Registry::start();
    let proxy = Proxy::in_front_of(&registry);
    let release = generate(&spec, &proxy.host(), "ocp");
    release.push(&registry);
    Bed { registry, proxy, release }
}

/// Three components, the first with a 3 MiB layer.
fn big() -> ReleaseSpec {
    ReleaseSpec { components: 3, big_layer: Some(3 * MIB), ..ReleaseSpec::default() }
}

/// Arguments of a run from the bed's proxy to `to` (`host/repo` or `--to-dir`).
pub fn args(release: &GeneratedRelease, to: String, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        format!("--from={}", release.release_ref()),
        to,
        "--insecure".to_string(),
        "--skip-release-image-signature".to_string(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn to_registry(host: &str) -> String {
    format!("--to={host}/{DEST_REPO}")
}

fn to_dir(dir: &Path) -> String {
    format!("--to-dir={}", dir.display())
}

fn disk_blob(dir: &Path, digest: &str) -> PathBuf {
    dir.join("v2/openshift/release/blobs").join(digest)
}

/// The run failed with exit code 1, a message containing every needle, and no panic.
pub fn assert_clear_failure(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    }
}

/// The blob in `registry` has exactly the bytes its digest names.
fn assert_stored_intact(registry: &Registry, digest: &str) {
    let bytes = registry.client().get_blob(DEST_REPO, digest).expect("blob stored");
    assert_eq!(sha256_digest(&bytes), digest, "the stored blob is corrupt");
}

/// `N registry requests were retried` from the end of a run.
fn retried(out: &Output) -> u64 {
    let err = stderr(out);
    let line = err.lines().find(|l| l.ends_with("registry requests were retried")).unwrap_or_default();
    line.trim_start_matches("info: ").split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[test]
fn a_source_cut_mid_blob_to_disk_resumes_with_a_range_request() {
    let b = bed(big());
    let layer = b.release.big_layer.clone().expect("big layer");
    b.proxy.add(Fault::new(Action::CutResponse(MIB)).on("GET", &layer.digest));
    let media = temp_dir();
    let out = run(args(&b.release, to_dir(media.path()), &["-v"]));
    assert_success(&out);
    let gets = b.proxy.requests("GET", &format!("/blobs/{}", layer.digest));
    assert_eq!(gets.len(), 2, "{gets:#?}");
    assert_eq!((gets[0].body_bytes, gets[0].header("range")), (MIB, None));
    assert_eq!((gets[1].status, gets[1].header("range")), (206, Some("bytes=1048576-")));
    let fetched: u64 = gets.iter().map(|g| g.body_bytes).sum();
    assert_eq!(fetched, layer.blob_size, "every byte fetched once (under 2x the blob)");
    let stored = std::fs::read(disk_blob(media.path(), &layer.digest)).expect("blob written");
    assert_eq!(sha256_digest(&stored), layer.digest);
    let err = stderr(&out);
    assert!(err.contains("cut after 1048576 bytes") && err.contains("resuming with Range: bytes=1048576-"), "{err}");
    assert_eq!(retried(&out), 1, "{err}");
}

#[test]
fn a_source_cut_mid_blob_into_a_registry_resumes_without_restarting_the_upload() {
    let b = bed(big());
    let layer = b.release.big_layer.clone().expect("big layer");
    b.proxy.add(Fault::new(Action::CutResponse(2 * MIB)).on("GET", &layer.digest));
    let dest = Registry::start();
    let out = run(args(&b.release, to_registry(&dest.host()), &["-v"]));
    assert_success(&out);
    assert_complete(&b.release, &dest.client());
    assert_stored_intact(&dest, &layer.digest);
    let gets = b.proxy.requests("GET", &format!("/blobs/{}", layer.digest));
    assert_eq!(gets.len(), 2, "{gets:#?}");
    assert_eq!(gets[1].header("range"), Some("bytes=2097152-"));
    assert_eq!(gets.iter().map(|g| g.body_bytes).sum::<u64>(), layer.blob_size);
}

#[test]
fn a_destination_cut_mid_upload_starts_that_blob_again() {
    let b = bed(big());
    let layer = b.release.big_layer.clone().expect("big layer");
    let dest = Registry::start();
    let front = Proxy::in_front_of(&dest);
    front.add(Fault::new(Action::CutRequest(MIB)).on("PUT", &layer.digest));
    let out = run(args(&b.release, to_registry(&front.host()), &["-v"]));
    assert_success(&out);
    assert_complete(&b.release, &dest.client());
    assert_stored_intact(&dest, &layer.digest);
    let puts = front.requests("PUT", &layer.digest);
    assert_eq!(puts.len(), 2, "{puts:#?}");
    assert_eq!((puts[0].status, puts[1].status), (0, 201), "the cut upload never completed");
    assert!(stderr(&out).contains(&format!("copying blob {} again", layer.digest)), "{}", stderr(&out));
}

#[test]
fn a_429_with_retry_after_is_waited_out() {
    let b = bed(ReleaseSpec::default());
    b.proxy.add(Fault::new(Action::Status { code: 429, retry_after: Some(1) }).on("GET", "/manifests/").times(2));
    let dest = Registry::start();
    let out = run(args(&b.release, to_registry(&dest.host()), &["-v"]));
    assert_success(&out);
    assert_complete(&b.release, &dest.client());
    let first = b.proxy.requests("GET", "/manifests/");
    let statuses: Vec<u16> = first.iter().take(3).map(|e| e.status).collect();
    assert_eq!(statuses, [429, 429, 200]);
    assert!(first[1..3].iter().all(|e| e.path == first[0].path), "the same manifest asked for again: {first:#?}");
    // Retry-After: 1 is waited out at the proxy, not just announced in the log (which says
    // how long: a wall-clock upper bound would fail on a loaded machine).
    for pair in first[..3].windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_secs(1), "asked again after {gap:?}, before the Retry-After second passed");
    }
    let err = stderr(&out);
    let host = b.proxy.host();
    assert!(err.contains(&format!("debug: {host}: try 1 failed (429); retrying in 1000 ms")), "{err}");
    assert!(err.contains(&format!("debug: {host}: try 2 failed (429); retrying in 1000 ms")), "{err}");
    assert_eq!(retried(&out), 2, "{err}");
}

#[test]
fn bursts_of_500_502_and_503_on_both_sides_are_retried_and_counted() {
    let b = bed(ReleaseSpec::default());
    let victim = b.release.component("cli").blobs.last().expect("a layer").clone();
    let status = |code| Action::Status { code, retry_after: None };
    b.proxy.add(Fault::new(status(500)).on("GET", &format!("/blobs/{victim}")).times(3));
    let dest = Registry::start();
    let front = Proxy::in_front_of(&dest);
    front.add(Fault::new(status(502)).on("POST", "/blobs/uploads/").times(2));
    front.add(Fault::new(status(503)).on("PUT", "/manifests/").times(3));
    let out = run(args(&b.release, to_registry(&front.host()), &["-v"]));
    assert_success(&out);
    assert_complete(&b.release, &dest.client());
    let injected = [&b.proxy, &front].iter().flat_map(|p| p.log()).filter(|e| e.fault.is_some()).count();
    assert_eq!(injected, 8);
    let err = stderr(&out);
    assert_eq!(retried(&out), 8, "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("debug:") && l.contains("retrying in")).count(), 8, "{err}");
    for code in ["(500)", "(502)", "(503)"] {
        assert!(err.contains(code), "no retry logged for {code}:\n{err}");
    }
}

#[test]
fn a_burst_longer_than_the_retries_fails_naming_registry_repository_digest_and_status() {
    let b = bed(ReleaseSpec::default());
    let victim = b.release.component("cli").blobs.last().expect("a layer").clone();
    b.proxy.add(Fault::new(Action::Status { code: 503, retry_after: None }).on("GET", &victim).always());
    let dest = Registry::start();
    let out = run(args(&b.release, to_registry(&dest.host()), &["--retries=2"]));
    let repo = "ocp/ocp-v4.0-art-dev";
    let named = format!("registry {} answered 503 for blob {repo}@{victim}", b.proxy.host());
    assert_clear_failure(&out, &[&named]);
    assert!(!dest.client().blob_exists(DEST_REPO, &victim));
    b.proxy.clear_faults();
    assert_success(&run(args(&b.release, to_registry(&dest.host()), &["-q"])));
    assert_complete(&b.release, &dest.client());
}

#[test]
fn a_corrupted_byte_is_caught_and_the_blob_fetched_again() {
    let b = bed(big());
    let layer = b.release.big_layer.clone().expect("big layer");
    b.proxy.add(Fault::new(Action::Corrupt(MIB + 17)).on("GET", &layer.digest));
    let dest = Registry::start();
    let out = run(args(&b.release, to_registry(&dest.host()), &["-v"]));
    assert_success(&out);
    assert_complete(&b.release, &dest.client());
    assert_stored_intact(&dest, &layer.digest);
    let gets = b.proxy.requests("GET", &format!("/blobs/{}", layer.digest));
    assert_eq!(gets.len(), 2, "fetched whole again, not resumed from corrupt bytes: {gets:#?}");
    assert!(gets.iter().all(|g| g.header("range").is_none() && g.body_bytes == layer.blob_size));
    assert!(stderr(&out).contains("does not match its digest"), "{}", stderr(&out));
}

#[test]
fn a_corrupted_byte_without_retries_fails_and_stores_nothing_on_disk() {
    let b = bed(big());
    let layer = b.release.big_layer.clone().expect("big layer");
    b.proxy.add(Fault::new(Action::Corrupt(5)).on("GET", &layer.digest));
    let media = temp_dir();
    let out = run(args(&b.release, to_dir(media.path()), &["--retries=1"]));
    assert_clear_failure(&out, &["does not match its digest", &layer.digest]);
    assert!(!disk_blob(media.path(), &layer.digest).exists(), "no corrupt blob stored");
    let blobs = media.path().join("v2/openshift/release/blobs");
    let temps = std::fs::read_dir(&blobs).into_iter().flatten().flatten();
    assert_eq!(temps.filter(|e| e.file_name().to_string_lossy().starts_with(".release-mirror-tmp-")).count(), 0);
    assert_success(&run(args(&b.release, to_dir(media.path()), &["-q"])));
    let stored = std::fs::read(disk_blob(media.path(), &layer.digest)).expect("blob written by the rerun");
    assert_eq!(sha256_digest(&stored), layer.digest);
}

#[test]
fn a_destination_registry_killed_and_restarted_mid_run() {
    let b = bed(ReleaseSpec { components: 8, ..ReleaseSpec::default() });
    // Slow blob downloads keep the run busy while the destination goes away.
    b.proxy.add(Fault::new(Action::Delay(Duration::from_millis(300))).on("GET", "/blobs/").always());
    let mut dest = Registry::start();
    let home = temp_dir();
    let mut child = command(home.path())
        .args(args(&b.release, to_registry(&dest.host()), &["-v", "--retries=10"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the mirror");
    let (lines, stderr_text) = stderr_lines(&mut child);
    assert!(b.proxy.wait_for("GET", "/blobs/", 5, Duration::from_secs(60)), "the copy never started");
    dest.kill();
    let held = hold_port(&dest.host());
    // The registry stays down until a request of the run was refused: the outage is seen
    // for sure, however slow the machine.
    let refused = format!("debug: {}: try 1 failed (", dest.host());
    let seen = lines.iter().find(|l| l.starts_with(&refused) && l.contains("Connection refused"));
    assert!(seen.is_some(), "no request to the stopped registry was retried");
    dest.restart();
    drop(held);
    let mut out = child.wait_with_output().expect("wait for the mirror");
    out.stderr = stderr_text.join().expect("stderr reader").into_bytes();
    // Ten tries back off for over 3 minutes in all: far longer than the outage. The run
    // must ride it out, not fail and leave it to a rerun.
    assert_success(&out);
    assert_complete(&b.release, &dest.client());
    assert!(retried(&out) > 0, "the retries are counted: {}", stderr(&out));
}

/// The child's standard error line by line as it comes (the receiver ends when the child
/// closes it), and the whole of it once the child is done.
fn stderr_lines(
    child: &mut std::process::Child,
) -> (std::sync::mpsc::Receiver<String>, std::thread::JoinHandle<String>) {
    use std::io::BufRead as _;
    let pipe = child.stderr.take().expect("piped stderr");
    let (send, receive) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = send.send(line);
        }
        all
    });
    (receive, reader)
}

/// Hold `host`'s port (on 127.0.0.1) without listening on it: a connection there is refused,
/// as to a killed registry, and no other test's listener is given the port meanwhile (the
/// kernel does not hand out a bound port to a bind of port 0). The registry's own listener
/// binds it beside this socket when restarted (both set `SO_REUSEADDR`; neither listens yet).
fn hold_port(host: &str) -> socket2::Socket {
    let addr: std::net::SocketAddr = host.parse().expect("IP:PORT");
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    socket.bind(&addr.into()).unwrap_or_else(|e| panic!("hold {host}: {e}"));
    socket
}

#[test]
fn skip_verification_is_warned_and_skips_only_blob_digests() {
    let b = bed(ReleaseSpec::default());
    let victim = b.release.component("cli").blobs.last().expect("a layer").clone();
    b.proxy.add(Fault::new(Action::Corrupt(3)).on("GET", &format!("/blobs/{victim}")));
    let media = temp_dir();
    let out = run(args(&b.release, to_dir(media.path()), &["--skip-verification", "--retries=1"]));
    assert_success(&out);
    let warning = "warning: --skip-verification: blob contents are not compared with their digests";
    assert!(stderr(&out).contains(warning), "{}", stderr(&out));
    let stored = std::fs::read(disk_blob(media.path(), &victim)).expect("blob written");
    assert_ne!(sha256_digest(&stored), victim, "the opt-out kept the corrupted bytes, as documented");

    let manifest = b.release.component("installer").digest.clone();
    b.proxy.add(Fault::new(Action::Corrupt(10)).on("GET", &format!("/manifests/{manifest}")));
    let media = temp_dir();
    let out = run(args(&b.release, to_dir(media.path()), &["--skip-verification", "--retries=1"]));
    assert_clear_failure(&out, &["does not match its digest", &manifest]);
}
