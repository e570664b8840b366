//! Stalls: a silent or trickling source, an upload never answered, one retry budget per blob.

use super::*;
use crate::faults::{args, bed};
use crate::support::proxy::Proxy;
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, run, stderr, temp_dir};

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

#[test]
fn an_upload_that_streams_longer_than_the_answer_timeout_from_a_slow_source_is_not_cut() {
    use crate::support::proxy::{Action, Fault};
    // 3 MiB at 256 KiB/s: the PUT streams for ~12 s; with --stall-timeout=2 a registry gets
    // 8 s to begin an answer, which must count from the upload's last byte, not its first.
    let b = bed(ReleaseSpec { components: 2, big_layer: Some(3 * MIB), ..ReleaseSpec::default() });
    let layer = b.release.big_layer.clone().expect("big layer");
    b.proxy.add(Fault::new(Action::PaceResponse(256 << 10)).on("GET", &layer.digest).always());
    let dest = Registry::start();
    let out = run(args(&b.release, format!("--to={}/mirror/ocp/release", dest.host()), &["--stall-timeout=2", "-v"]));
    assert_success(&out);
    assert_eq!(b.proxy.requests("GET", &layer.digest).len(), 1, "copied once, never restarted: {}", stderr(&out));
    assert!(!stderr(&out).contains("again in"), "{}", stderr(&out));
    crate::mirror::assert_complete_in(&b.release, &dest.client(), "mirror/ocp/release");
}
