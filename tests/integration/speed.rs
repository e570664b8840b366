//! What makes a copy from a distant registry fast, shown by what the source saw: transfers
//! that widen when each blob waits on round trips, and reruns that ask it nothing.

use std::time::Duration;

use crate::faults::{args, bed};
use crate::support::proxy::{Action, Fault, LogEntry};
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, run, stderr};

/// The components' blobs (the release's own two are read before the copy, at once).
const COMPONENTS: &str = "/ocp-v4.0-art-dev/blobs/";

/// Every blob download waits `delay` before its first byte, as from a registry far away; the
/// first `together` of the components are forwarded only once all of them have arrived (so a
/// peak of that many is seen whenever the tool sends them at once, however slow the machine).
fn distant(components: usize, delay: Duration, together: usize) -> crate::faults::Bed {
    let b = bed(ReleaseSpec { components, ..ReleaseSpec::default() });
    b.proxy.add(Fault::new(Action::together(together)).on("GET", COMPONENTS).times(together));
    b.proxy.add(Fault::new(Action::Delay(delay)).on("GET", "/blobs/").always());
    b
}

#[test]
fn blob_transfers_widen_past_six_when_round_trips_bound_them_and_stay_fixed_when_given() {
    // The first seven downloads wait for each other: the seventh is sent only once the
    // adaptive rule has widened past six (its first step, 6 -> 9, is taken after two samples
    // with work waiting, whatever they measured).
    let b = distant(60, Duration::from_millis(400), 7);
    let dest = Registry::start();
    let out = run(args(&b.release, format!("--to={}/adaptive", dest.host()), &["-v"]));
    assert_success(&out);
    let first: Vec<LogEntry> = b.proxy.requests("GET", COMPONENTS).into_iter().take(7).collect();
    let (last_in, first_out) = (first.iter().map(|e| e.at).max(), first.iter().map(|e| e.done).min());
    assert!(first.len() == 7 && last_in < first_out, "seven downloads in flight at once: {first:#?}");
    let adaptive = b.proxy.peak_in_flight("GET", "/blobs/");
    assert!(adaptive > 6, "peak {adaptive} blob downloads at once:\n{}", stderr(&out));
    assert!(adaptive <= 32, "peak {adaptive}");
    assert!(stderr(&out).contains("blob transfers at once: 6 -> 9"), "{}", stderr(&out));

    let b = distant(60, Duration::from_millis(400), 2);
    let out = run(args(&b.release, format!("--to={}/fixed", dest.host()), &["-v", "--max-per-registry=6"]));
    assert_success(&out);
    let fixed = b.proxy.peak_in_flight("GET", "/blobs/");
    assert!((2..=6).contains(&fixed), "peak {fixed} blob downloads at once with --max-per-registry=6");
    assert!(!stderr(&out).contains("blob transfers at once"), "{}", stderr(&out));
}

#[test]
fn a_rerun_of_a_complete_mirror_reads_only_the_release_from_the_source() {
    let b = bed(ReleaseSpec { components: 12, ..ReleaseSpec::default() });
    let dest = Registry::start();
    let to = format!("--to={}/mirror/ocp/release", dest.host());
    assert_success(&run(args(&b.release, to.clone(), &["-q"])));
    let before = b.proxy.log().len();
    let out = run(args(&b.release, to, &["-o", "json"]));
    assert_success(&out);
    let rerun: Vec<_> = b.proxy.log().into_iter().skip(before).collect();
    let manifests: Vec<&str> =
        rerun.iter().filter(|e| e.path.contains("/manifests/")).map(|e| e.path.as_str()).collect();
    // The release by its tag, and the probe for a sigstore signature beside it.
    let sig = format!("{}.sig", b.release.release_digest.replace(':', "-"));
    let release = [b.release.release_digest.as_str(), b.release.release_tag.as_str(), sig.as_str()];
    assert!(
        !manifests.is_empty()
            && manifests.iter().all(|p| release.iter().any(|r| p.ends_with(&format!("/manifests/{r}")))),
        "only the release manifest: {manifests:?}"
    );
    let blobs = rerun.iter().filter(|e| e.path.contains("/blobs/")).count();
    assert!(blobs <= b.release.release.blobs.len(), "only the release's blobs (payload): {rerun:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["transfer"]["imagesCompleteBefore"], 13, "{json}");
}

#[test]
fn the_release_config_and_payload_are_read_at_once() {
    // Both reads wait for each other at the proxy: seen at once only if sent at once.
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    b.proxy.add(Fault::new(Action::together(2)).on("GET", "/release/blobs/").times(2));
    let dest = Registry::start();
    let out = run(args(&b.release, format!("--to={}/mirror", dest.host()), &["--dry-run"]));
    assert_success(&out);
    let gets = b.proxy.requests("GET", "/blobs/");
    assert_eq!(gets.len(), 2, "a dry run reads the release's config and payload layer only: {gets:?}");
    assert_eq!(b.proxy.peak_in_flight("GET", "/blobs/"), 2, "{gets:?}");
}
