//! Upgrade paths: several releases in one run, chosen from an update graph served by the
//! update-service stand-in (or listed with --from), mirrored through one plan from a real
//! registry behind a counting proxy, round-tripped through disk. `graph` holds the tests of
//! the update service stand-in and of the real graph fixture.

mod graph;
mod long;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::mirror::assert_complete_in;
use crate::support::apiserver::ApiServer;
use crate::support::generator::{generate, GeneratedRelease};
use crate::support::gpg::{atomic_payload, keys};
use crate::support::proxy::Proxy;
use crate::support::registry::Registry;
use crate::support::sigstore::{Mode, SigStore};
use crate::support::spec::{series, ReleaseSpec};
use crate::support::updateservice::{Fault, UpdateService};
use crate::support::{assert_success, run, run_in, stderr, stdout, temp_dir};

const CHANNEL: &str = "stable-4.99";
const VERSIONS: [&str; 4] = ["4.99.0", "4.99.1", "4.99.2", "4.100.0"];
const REPO: &str = "mirror/ocp/release";

/// Four releases sharing most blobs (25 % of 12 components change per release), pushed to
/// one registry behind a proxy that counts what is fetched; the graph names them.
struct Bed {
    registry: Registry,
    proxy: Proxy,
    releases: Vec<GeneratedRelease>,
    service: UpdateService,
}

/// A series of releases (25 % of the components changed per release), named after the
/// proxy in front of `registry` and pushed there.
fn pushed_series(base: &ReleaseSpec, versions: &[&str], registry: &Registry, proxy: &Proxy) -> Vec<GeneratedRelease> {
    series(base, versions, 0.25)
        .iter()
        .map(|spec| {
            let release = generate(spec, &proxy.host(), "ocp");
            release.push(registry);
            release
        })
        .collect()
}

fn bed(base: ReleaseSpec) -> Bed {
    let registry = Registry::start();
    let proxy = Proxy::in_front_of(&registry);
    let releases = pushed_series(&ReleaseSpec { components: 12, ..base }, &VERSIONS, &registry, &proxy);
    let service = UpdateService::start();
    service.add_graph(CHANNEL, "amd64", graph(&releases).to_string());
    Bed { registry, proxy, releases, service }
}

/// 4.99.0 → 4.99.1 → 4.99.2 and 4.99.0 → 4.99.2 plain; 4.99.2 → 4.100.0 conditional only.
/// Nodes listed out of order, as the service does.
fn graph(releases: &[GeneratedRelease]) -> Value {
    let order = [2, 0, 3, 1];
    let nodes: Vec<Value> = order
        .iter()
        .map(|&i| {
            let r = &releases[i];
            json!({"version": r.version, "payload": r.release_digest_ref(),
                   "metadata": {"io.openshift.upgrades.graph.release.channels": format!("candidate-4.99,{CHANNEL}")}})
        })
        .collect();
    let at = |i: usize| order.iter().position(|&o| o == i).expect("node");
    json!({
        "version": 1,
        "nodes": nodes,
        "edges": [[at(0), at(1)], [at(1), at(2)], [at(0), at(2)]],
        "conditionalEdges": [{
            "edges": [{"from": "4.99.2", "to": "4.100.0"}],
            "risks": [{"url": "https://issues.example/RISK-1", "name": "NodeDrainStall",
                       "message": "Nodes may stall draining.", "matchingRules": [{"type": "Always"}]}]
        }]
    })
}

fn args(b: &Bed, dest: &Registry, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        format!("--update-service={}", b.service.url()),
        format!("--channel={CHANNEL}"),
        format!("--to={}/{REPO}", dest.host()),
        "--insecure".to_string(),
        "--skip-release-image-signature".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Blob GETs at the source proxy, by digest.
fn blob_gets(proxy: &Proxy) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for entry in proxy.log().into_iter().filter(|e| e.method == "GET" && e.path.contains("/blobs/")) {
        let digest = entry.path.rsplit('/').next().unwrap_or_default().to_string();
        *out.entry(digest).or_insert(0) += 1;
    }
    out
}

#[test]
fn a_shortest_path_takes_the_conditional_hop_skips_a_release_and_fetches_each_blob_once() {
    let b = bed(ReleaseSpec::default());
    let dest = Registry::start();
    let out = run(args(&b, &dest, &["--min-version=4.99.0", "--max-version=4.100.0", "--shortest-path"]));
    assert_success(&out);
    for i in [0, 2, 3] {
        assert_complete_in(&b.releases[i], &dest.client(), REPO);
    }
    let tags = dest.client().list_tags(REPO);
    assert!(!tags.iter().any(|t| t.starts_with("4.99.1-")), "4.99.1 is not on the path: {tags:?}");
    let gets = blob_gets(&b.proxy);
    assert!(!gets.is_empty(), "blobs came through the proxy");
    let twice: Vec<_> = gets.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "blobs fetched more than once: {twice:?}");
    let text = stdout(&out);
    assert!(text.contains("Upgrade sequence (channel stable-4.99, 2 hops, 1 conditional), from 4.99.0:"), "{text}");
    assert!(text.contains("  4.99.0 -> 4.99.2\n"), "{text}");
    assert!(text.contains("  4.99.2 -> 4.100.0 (conditional update"), "{text}");
    assert!(text.contains("risk NodeDrainStall: Nodes may stall draining. (https://issues.example/RISK-1)"), "{text}");
    let upgrade_to = |i: usize| {
        format!(
            "oc adm upgrade --allow-explicit-upgrade --to-image {}/{REPO}@{}",
            dest.host(),
            b.releases[i].release_digest
        )
    };
    let (first, last) =
        (text.find(&upgrade_to(2)).expect("4.99.2 command"), text.find(&upgrade_to(3)).expect("4.100.0 command"));
    assert!(first < last, "commands in upgrade order: {text}");
    assert!(!text.contains(&upgrade_to(0)), "no command to go to the release the cluster runs: {text}");
    assert!(text.contains("  4.99.0\n    (the cluster's current release)\n"), "{text}");

    let again =
        run(args(&b, &dest, &["--min-version=4.99.0", "--max-version=4.100.0", "--shortest-path", "-o", "json"]));
    assert_success(&again);
    let summary: Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(summary["schemaVersion"], 3);
    let versions: Vec<&str> =
        summary["releases"].as_array().expect("releases").iter().map(|r| r["version"].as_str().unwrap_or("")).collect();
    assert_eq!(versions, ["4.99.0", "4.99.2", "4.100.0"]);
    assert_eq!(summary["transfer"]["blobsToCopy"], 0, "a rerun copies nothing");
    assert_eq!(summary["upgradePath"]["hops"][1]["conditional"], true);
    assert_eq!(summary["upgradePath"]["hops"][1]["risks"][0]["name"], "NodeDrainStall");
    let asked = b.service.requests();
    assert!(asked.iter().all(|r| r.accept.as_deref() == Some("application/json")), "{asked:?}");
    assert!(asked[0].target.contains("channel=stable-4.99") && asked[0].target.contains("arch=amd64"), "{asked:?}");
}

#[test]
fn the_releases_of_a_path_are_read_at_once() {
    use crate::support::proxy::{Action, Fault};
    let b = bed(ReleaseSpec::default());
    // The three reads wait for each other at the proxy: seen at once only if sent at once.
    b.proxy.add(Fault::new(Action::together(3)).on("GET", "/release/manifests/").times(3));
    let dest = Registry::start();
    let froms: Vec<String> = b.releases[..3].iter().map(|r| format!("--from={}", r.release_ref())).collect();
    let mut a: Vec<String> = vec![format!("--to={}/{REPO}", dest.host()), "--insecure".into(), "--dry-run".into()];
    a.extend(froms);
    a.push("--skip-release-image-signature".into());
    let out = run(a);
    assert_success(&out);
    assert_eq!(b.proxy.peak_in_flight("GET", "/release/manifests/"), 3, "{:?}", b.proxy.requests("GET", "/release/"));
}

#[test]
fn to_release_image_with_several_releases_is_a_usage_error_before_any_copy() {
    let b = bed(ReleaseSpec::default());
    let dest = Registry::start();
    let flags = [
        "--min-version=4.99.0".to_string(),
        "--max-version=4.99.2".into(),
        format!("--to-release-image={}/x/release:one", dest.host()),
    ];
    let out = run(args(&b, &dest, &flags.iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--to-release-image names one image, but this run mirrors 3 releases"),
        "{}",
        stderr(&out)
    );
    assert!(b.proxy.log().is_empty() && dest.client().catalog().is_empty());
}

#[test]
fn no_path_fails_before_any_copy_and_names_the_reachable_releases() {
    let b = bed(ReleaseSpec::default());
    let dest = Registry::start();
    let flags = ["--min-version=4.99.0", "--max-version=4.100.0", "--shortest-path", "--no-conditional-updates"];
    let out = run(args(&b, &dest, &flags));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("4.100.0 is not reachable from 4.99.0 in channel stable-4.99 using plain updates only"),
        "{err}"
    );
    assert!(err.contains("reachable: 4.99.1, 4.99.2"), "{err}");
    assert!(err.contains("drop --no-conditional-updates"), "{err}");
    assert!(b.proxy.log().is_empty(), "no registry request before the failure");
    assert!(dest.client().catalog().is_empty(), "nothing copied");
}

#[test]
fn a_range_selects_every_channel_release_between_the_bounds_in_version_order() {
    let b = bed(ReleaseSpec::default());
    let out = run([
        "path".to_string(),
        format!("--update-service={}", b.service.url()),
        format!("--channel={CHANNEL}"),
        "--min-version=4.99.1".into(),
        "--max-version=4.100.0".into(),
        "-o".into(),
        "json".into(),
    ]);
    assert_success(&out);
    let path: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let got: Vec<(&str, &str)> = path["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .map(|r| (r["version"].as_str().unwrap_or(""), r["payload"].as_str().unwrap_or("")))
        .collect();
    let want: Vec<(String, String)> =
        b.releases[1..].iter().map(|r| (r.version.clone(), r.release_digest_ref())).collect();
    assert_eq!(got, want.iter().map(|(v, p)| (v.as_str(), p.as_str())).collect::<Vec<_>>());
    assert_eq!(path["hops"], json!([]));
    assert!(b.proxy.log().is_empty(), "path touches no registry");
}

#[test]
fn a_bare_version_resolves_through_fast_then_stable_and_mirrors_that_release() {
    let b = bed(ReleaseSpec::default());
    let dest = Registry::start();
    let out = run([
        "4.99.1".to_string(),
        format!("--update-service={}", b.service.url()),
        format!("--to={}/{REPO}", dest.host()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ]);
    assert_success(&out);
    assert_complete_in(&b.releases[1], &dest.client(), REPO);
    assert_eq!(dest.client().list_tags(REPO).iter().filter(|t| t.ends_with("-x86_64")).count(), 1);
    let channels: Vec<String> = b.service.requests().iter().map(|r| r.target.clone()).collect();
    assert!(channels[0].contains("channel=fast-4.99") && channels[1].contains("channel=stable-4.99"), "{channels:?}");
    assert_eq!(channels.len(), 2, "stops at the first channel that has it");
}

/// The bed with its releases naming a signature store, the first `signed` of them signed by
/// the test key there.
fn signed_bed(signed: usize) -> (Bed, SigStore) {
    let k = keys();
    let store = SigStore::start(Mode::Serve);
    let b = bed(ReleaseSpec {
        verification_keys: vec![("test".into(), k.gpg.export(&k.rsa))],
        stores: vec![("local".into(), store.url())],
        ..ReleaseSpec::default()
    });
    for r in &b.releases[..signed] {
        let identity = format!("quay.io/openshift-release-dev/ocp-release:{}-x86_64", r.version);
        store.put(&r.release_digest, 1, k.gpg.sign(&k.rsa, &atomic_payload(&r.release_digest, &identity), true));
    }
    (b, store)
}

#[test]
fn from_repeated_verifies_every_release_first_and_writes_one_configmap_each() {
    let (b, _store) = signed_bed(2);
    let (dest, dir) = (Registry::start(), temp_dir());
    let mut flags: Vec<String> = b.releases[..3].iter().map(|r| format!("--from={}", r.release_ref())).collect();
    flags.extend([format!("--to={}/{REPO}", dest.host()), "--insecure".into()]);
    flags.push(format!("--release-image-signature-to-dir={}", dir.path().display()));
    let refused = run(&flags);
    assert_eq!(refused.status.code(), Some(3), "4.99.2 is unsigned: {}", stderr(&refused));
    assert!(dest.client().catalog().is_empty(), "nothing copied before every signature is valid");
    flags.remove(2);
    let out = run(&flags);
    assert_success(&out);
    for r in &b.releases[..2] {
        assert_complete_in(r, &dest.client(), REPO);
        let file = dir.path().join(format!("signature-sha256-{}.yaml", &r.release_digest[7..23]));
        assert!(file.is_file(), "{} missing", file.display());
        assert!(stdout(&out).contains(&format!("oc apply -f {}", file.display())), "{}", stdout(&out));
    }
    assert!(stdout(&out).contains("Releases in upgrade order:"), "{}", stdout(&out));
}

#[test]
fn apply_creates_one_signature_configmap_per_release_in_the_cluster() {
    let (b, _store) = signed_bed(2);
    let (api, home, dest) = (ApiServer::start(), temp_dir(), Registry::start());
    let kubeconfig = api.kubeconfig(home.path(), "kubeconfig", "standin");
    let mut flags: Vec<String> = b.releases[..2].iter().map(|r| format!("--from={}", r.release_ref())).collect();
    flags.extend([
        format!("--to={}/{REPO}", dest.host()),
        "--insecure".into(),
        "--apply-release-image-signature".into(),
        format!("--kubeconfig={}", kubeconfig.display()),
    ]);
    let out = run_in(home.path(), &flags);
    assert_success(&out);
    for r in &b.releases[..2] {
        let name = r.release_digest.replacen(':', "-", 1);
        assert!(stdout(&out).contains(&format!("configmap/{name} created\n")), "{}", stdout(&out));
        let stored = api.state().config_maps.get(&("openshift-config-managed".to_string(), name.clone())).cloned();
        let stored = stored.unwrap_or_else(|| panic!("configmap/{name} is in the cluster"));
        assert_eq!(stored["metadata"]["labels"]["release.openshift.io/verification-signatures"], "");
        assert!(stored["binaryData"][format!("{name}-1")].is_string(), "{stored}");
    }
    let posts = api.writes().iter().filter(|w| w.method == "POST").count();
    assert_eq!(posts, 2, "one create per release");
}

#[test]
fn three_releases_round_trip_through_disk_and_upload_with_no_from() {
    let b = bed(ReleaseSpec::default());
    let media = temp_dir();
    let to_disk = run([
        format!("--update-service={}", b.service.url()),
        format!("--channel={CHANNEL}"),
        "--min-version=4.99.0".into(),
        "--max-version=4.100.0".into(),
        "--shortest-path".into(),
        format!("--to-dir={}", media.path().display()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ]);
    assert_success(&to_disk);
    let record: Value = serde_json::from_slice(
        &std::fs::read(media.path().join("release-mirror/releases.json")).expect("the tree records its releases"),
    )
    .expect("JSON");
    let sources: Vec<&str> =
        record["releases"].as_array().expect("releases").iter().map(|r| r["source"].as_str().unwrap_or("")).collect();
    let want: Vec<String> = [0, 2, 3].iter().map(|&i| b.releases[i].release_digest_ref()).collect();
    assert_eq!(sources, want.iter().map(String::as_str).collect::<Vec<_>>(), "original pullspecs, upgrade order");
    let graph = std::fs::read(media.path().join("release-mirror/graph.json")).expect("graph saved");
    assert_eq!(serde_json::from_slice::<Value>(&graph).expect("JSON"), graph_of(&b));
    drop(b.service);

    let dest = Registry::start();
    let up = run([
        format!("--from-dir={}", media.path().display()),
        format!("--to={}/{REPO}", dest.host()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ]);
    assert_success(&up);
    for i in [0, 2, 3] {
        assert_complete_in(&b.releases[i], &dest.client(), REPO);
    }
    let text = stdout(&up);
    assert!(text.contains("Upgrade sequence (channel stable-4.99, 2 hops, 1 conditional), from 4.99.0:"), "{text}");
    assert!(text.contains("risk NodeDrainStall"), "{text}");
    let _ = &b.registry;
}

#[test]
fn several_signed_releases_go_to_disk_with_their_signatures_and_each_is_verified_offline_on_upload() {
    let (b, store) = signed_bed(3);
    let media = temp_dir();
    let mut to_disk: Vec<String> = b.releases[..3].iter().map(|r| format!("--from={}", r.release_ref())).collect();
    to_disk.extend([format!("--to-dir={}", media.path().display()), "--insecure".into()]);
    assert_success(&run(&to_disk));
    // Each release's signature ConfigMap is in the tree, beside the blobs.
    let config_map = |r: &GeneratedRelease| {
        let hex = &r.release_digest["sha256:".len().."sha256:".len() + 16];
        media.path().join(format!("config/signature-sha256-{hex}.yaml"))
    };
    for r in &b.releases[..3] {
        assert!(config_map(r).is_file(), "{} missing", config_map(r).display());
    }
    // From here on the online store is out of reach: every signature request fails.
    for r in &b.releases {
        for n in 1..=9 {
            store.put_status(&r.release_digest, n, 503);
        }
    }
    let online = store.requests().len();
    let upload = |dest: &Registry| {
        let dir = format!("--from-dir={}", media.path().display());
        run([dir, format!("--to={}/{REPO}", dest.host()), "--insecure".into()])
    };
    let dest = Registry::start();
    let out = upload(&dest);
    assert_success(&out);
    for r in &b.releases[..3] {
        assert_complete_in(r, &dest.client(), REPO);
        let reading = format!("reading release signatures from {}", config_map(r).display());
        assert!(stderr(&out).contains(&reading), "{} verified from the tree: {}", r.version, stderr(&out));
    }
    assert_eq!(store.requests().len(), online, "the online store was never asked");

    // Without the second release's ConfigMap, the upload refuses before copying anything.
    std::fs::remove_file(config_map(&b.releases[1])).expect("remove a ConfigMap");
    let dest = Registry::start();
    let out = upload(&dest);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains(&b.releases[1].release_digest), "{}", stderr(&out));
    assert!(dest.client().catalog().is_empty(), "nothing copied");
}

fn graph_of(b: &Bed) -> Value {
    graph(&b.releases)
}

#[test]
fn update_service_failures_are_named_and_nothing_is_copied() {
    let b = bed(ReleaseSpec::default());
    let dest = Registry::start();
    let flags = ["--min-version=4.99.0", "--max-version=4.100.0"];
    for (fault, want) in [
        (Fault::Status(503), "refused the request for channel \"stable-4.99\", arch \"amd64\" (503)"),
        (Fault::InvalidJson, "the update graph for channel stable-4.99 (arch amd64) from"),
        // Cincinnati's own error body, as its graph endpoint sends for a bad parameter.
        (
            Fault::Reply {
                status: 400,
                content_type: "application/json".into(),
                body: br#"{"kind":"invalid_params","value":"channel 'stable 4.99' is not valid"}"#.to_vec(),
            },
            "(400: invalid_params: channel 'stable 4.99' is not valid)",
        ),
    ] {
        b.service.fail_with(fault);
        let out = run(args(&b, &dest, &flags));
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains(want), "{}", stderr(&out));
    }
    b.service.clear_fault();
    let unknown = run(args(&b, &dest, &["--min-version=4.99.0", "--max-version=4.100.0", "--arch=arm64"]));
    assert_eq!(unknown.status.code(), Some(1), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("channel stable-4.99 has no releases for architecture arm64"),
        "{}",
        stderr(&unknown)
    );
    assert!(dest.client().catalog().is_empty() && b.proxy.log().is_empty());
}

#[test]
fn an_update_service_that_never_answers_is_given_up_at_the_answer_timeout_and_the_rerun_goes_on() {
    let b = bed(ReleaseSpec::default());
    let dest = Registry::start();
    // The hidden --update-service-timeout lowers the 120 s the service has for its answer.
    let flags = ["--min-version=4.99.0", "--max-version=4.100.0", "--update-service-timeout=1", "--dry-run"];
    // Only the first graph request hangs (kept open, never answered).
    b.service.fail_next(Fault::Hang, 1);
    let out = run(args(&b, &dest, &flags));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let want = b.service.url();
    assert!(stderr(&out).contains(&want) && stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(b.proxy.log().is_empty(), "no release was read");
    let asked = b.service.requests().len();
    // The fault is spent: the same run now gets its graph and plans the path.
    let again = run(args(&b, &dest, &flags));
    assert_success(&again);
    assert!(b.service.requests().len() > asked, "asked again");
    assert!(stdout(&again).contains("4.100.0"), "{}", stdout(&again));
}
