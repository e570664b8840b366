//! What a run shows on stderr, rendered by the binary from the library's events: silence
//! with `-q` even when requests are retried and downloads resumed, and a closed stderr that
//! loses lines without stopping the run.

use std::process::Stdio;

use crate::faults::{args, bed};
use crate::support::gpg::{atomic_payload, keys};
use crate::support::proxy::{Action, Fault};
use crate::support::sigstore::{Mode, SigStore};
use crate::support::spec::ReleaseSpec;
use crate::support::{command, stderr, stdout, temp_dir};

const MIB: u64 = 1 << 20;

#[test]
fn quiet_prints_nothing_on_stderr_in_a_run_that_retries_and_resumes() {
    // A signed release: skipping the signature check would be a warning, which -q shows.
    let k = keys();
    let store = SigStore::start(Mode::Serve);
    let b = bed(ReleaseSpec {
        components: 2,
        big_layer: Some(3 * MIB),
        verification_keys: vec![("test".into(), k.gpg.export(&k.rsa))],
        stores: vec![("local".into(), store.url())],
        ..ReleaseSpec::default()
    });
    let digest = b.release.release_digest.clone();
    let identity = "quay.io/openshift-release-dev/ocp-release:4.99.0-x86_64";
    store.put(&digest, 1, k.gpg.sign(&k.rsa, &atomic_payload(&digest, identity), true));
    let layer = b.release.big_layer.clone().expect("big layer");
    b.proxy.add(Fault::new(Action::StallResponse(MIB)).on("GET", &layer.digest));
    b.proxy.add(Fault::new(Action::Status { code: 503, retry_after: None }).on("GET", "/manifests/"));
    let tree = temp_dir();
    let home = temp_dir();
    let out = command(home.path())
        .arg(format!("--from={}", b.release.release_ref()))
        .arg(format!("--to-dir={}", tree.path().display()))
        .args(["--insecure", "-q", "--stall-timeout=1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let faults: Vec<String> = b.proxy.log().into_iter().filter_map(|e| e.fault).collect();
    assert_eq!(faults.len(), 2, "the stall and the 503 both happened: {faults:?}");
    let ranges: Vec<_> =
        b.proxy.requests("GET", &layer.digest).iter().filter_map(|e| e.header("range").map(String::from)).collect();
    assert_eq!(ranges, [format!("bytes={MIB}-")], "the stalled blob was resumed where it stopped");
    let manifests = b.proxy.requests("GET", "/manifests/");
    assert_eq!((manifests[0].status, manifests[1].path == manifests[0].path), (503, true), "the 503 was retried");
    assert_eq!(stderr(&out), "", "-q prints nothing");
}

#[test]
fn a_closed_stderr_loses_the_lines_but_not_the_run() {
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let tree = temp_dir();
    let home = temp_dir();
    let to = format!("--to-dir={}", tree.path().display());
    let mut child = command(home.path())
        .args(args(&b.release, to, &["-v", "-o", "json"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stderr.take()); // as `… 2>&1 | head -1` does once head has its line
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(report["transfer"]["images"], 3, "the release and its 2 components");
}

#[test]
fn a_failing_run_with_a_closed_stderr_exits_with_its_own_code() {
    let home = temp_dir();
    let tree = temp_dir();
    let mut child = command(home.path())
        .args(["--from=127.0.0.1:1/ocp/release:1", &format!("--to-dir={}", tree.path().display()), "--retries=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stderr.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "the connection failure's code, not a panic's 101");
}
