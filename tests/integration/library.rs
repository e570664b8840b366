//! The engine as a library: `examples/mirror_between_registries.rs` mirrors a GnuPG-signed
//! release between two real registries through the public API alone.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::mirror::{assert_complete_in, source_with};
use crate::support::gpg::{atomic_payload, keys};
use crate::support::registry::Registry;
use crate::support::sigstore::{Mode, SigStore};
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, stdout, temp_dir};

/// The example's binary: built by `cargo test --all-targets`; built here when missing.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("locate the test executable");
    let debug = exe.parent().and_then(std::path::Path::parent).expect("target directory");
    let path = debug.join("examples").join("mirror_between_registries");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", "mirror_between_registries"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --example");
        assert!(status.success(), "building the example failed");
    }
    path
}

#[test]
fn the_example_mirrors_a_signed_release_between_registries_through_the_public_api() {
    let k = keys();
    let store = SigStore::start(Mode::Serve);
    let spec = ReleaseSpec {
        components: 5,
        verification_keys: vec![("test".into(), k.gpg.export(&k.rsa))],
        ..ReleaseSpec::default()
    };
    let src = source_with(ReleaseSpec { stores: vec![("local".into(), store.url())], ..spec });
    let digest = src.release.release_digest.clone();
    let identity = "quay.io/openshift-release-dev/ocp-release:4.99.0-x86_64";
    store.put(&digest, 1, k.gpg.sign(&k.rsa, &atomic_payload(&digest, identity), true));
    let dest = Registry::start();
    let home = temp_dir();
    let to = format!("{}/mirror/ocp/release", dest.host());
    let out = Command::new(example())
        .args([src.release.release_ref().as_str(), to.as_str(), "--insecure"])
        .env("HOME", home.path())
        .output()
        .expect("run the example");
    assert_success(&out);
    assert_complete_in(&src.release, &dest.client(), "mirror/ocp/release");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(report["release"]["digest"], digest.as_str());
    assert_eq!(report["signature"]["signatures"][0]["keyring"], "verifier-public-key-test");
    assert_eq!(report["transfer"]["images"], 6, "the release and its 5 components");
}

#[test]
fn a_program_embedding_the_library_gets_warnings_and_retries_as_events_through_its_sink() {
    use std::sync::{Arc, Mutex};

    use release_mirror::events::Event;
    use release_mirror::job::SignaturePolicy;
    use release_mirror::mirror::Target;
    use release_mirror::reference::ImageRef;
    use release_mirror::Job;

    use crate::faults::bed;
    use crate::support::proxy::{Action, Fault};

    crate::support::install_crypto();
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    b.proxy.add(Fault::new(Action::Status { code: 503, retry_after: None }).on("GET", "/manifests/"));
    let dest = Registry::start();
    let release = ImageRef::parse(&b.release.release_ref()).expect("release reference");
    let to = ImageRef::parse_repository(&format!("{}/mirror/ocp/release", dest.host())).expect("repository");
    let mut job = Job::new(release, Target { to, release_image: None, skip_release_image: false, release_repo: None });
    job.http.insecure = true;
    job.signatures = SignaturePolicy::Skip;
    let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = {
        let seen = seen.clone();
        Arc::new(move |event: Event| seen.lock().expect("events").push(event))
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let report = runtime.block_on(release_mirror::run(&job, sink)).expect("the run succeeds");
    report.into_result().expect("nothing failed after the copy");
    assert_complete_in(&b.release, &dest.client(), "mirror/ocp/release");
    let seen = seen.lock().expect("events");
    let warned = seen.iter().any(|e| matches!(e, Event::Warning(w) if w.starts_with("--skip-release-image-signature")));
    assert!(warned, "the skipped signature check is a warning event: {seen:#?}");
    let host = b.proxy.host();
    let retried =
        seen.iter().any(|e| matches!(e, Event::Retry { host: h, why, .. } if *h == host && why.contains("(503)")));
    assert!(retried, "the 503 from {host} is a retry event: {seen:#?}");
    let started = seen.iter().find_map(|e| match e {
        Event::TransferStarted { blobs, .. } => Some(*blobs),
        _ => None,
    });
    let stored = seen.iter().filter(|e| matches!(e, Event::BlobDone { stored: true, .. })).count();
    assert_eq!(started, Some(stored), "every blob announced was stored: {seen:#?}");
}
