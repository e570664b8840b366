//! The update graph itself: the stand-in's contract checked with an independent client, and
//! the real stable-4.15 graph through the binary's `path` subcommand.

use serde_json::Value;

use super::CHANNEL;
use crate::support::updateservice::UpdateService;
use crate::support::{assert_success, run, stderr};

/// The stand-in keeps the public service's contract, checked with an independent client:
/// 400 `missing_params` without `channel`, 406 for an unacceptable `Accept`, an empty graph
/// for an unknown channel, the stored bytes otherwise.
#[test]
fn the_update_service_stand_in_answers_like_the_public_service() {
    let service = UpdateService::start();
    service.add_graph(CHANNEL, "amd64", r#"{"version":1,"nodes":[],"edges":[]}"#);
    crate::support::install_crypto();
    let http = reqwest::blocking::Client::new();
    let get = |query: &str, accept: &str| {
        let resp = http.get(format!("{}{query}", service.url())).header("Accept", accept).send().expect("GET");
        (resp.status().as_u16(), resp.text().expect("body"))
    };
    let (status, body) = get("?arch=amd64", "application/json");
    assert_eq!(status, 400);
    assert_eq!(body, r#"{"kind":"missing_params","value":"mandatory client parameters missing: channel"}"#);
    let (status, body) = get("?channel=stable-4.99", "text/html");
    assert_eq!(status, 406);
    assert!(body.contains("invalid_content_type"), "{body}");
    assert_eq!(get("?channel=fast-9.9", "application/json"), (200, crate::support::updateservice::EMPTY_GRAPH.into()));
    assert_eq!(get("?channel=stable-4.99&arch=amd64", "application/json").1, r#"{"version":1,"nodes":[],"edges":[]}"#);
}

/// The real update-service answer for stable-4.15 (55 nodes; every 4.14 → 4.15 update
/// conditional), read offline with --graph-file.
fn real_graph() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/oc-mirror/internal/e2e/infra_demo/cincinnati-graph.json");
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn path_finds_the_real_4_14_10_to_4_15_23_path_through_a_conditional_update() {
    let graph = real_graph();
    let flags = |extra: &[&str]| {
        let mut v = vec!["path".to_string(), format!("--graph-file={}", graph.display())];
        v.extend(["--channel=stable-4.15", "--min-version=4.14.10", "--max-version=4.15.23"].map(String::from));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let out = run(flags(&["--shortest-path", "-o", "json"]));
    assert_success(&out);
    let path: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let versions: Vec<&str> =
        path["releases"].as_array().expect("releases").iter().map(|r| r["version"].as_str().unwrap_or("")).collect();
    assert_eq!(versions.len(), 3, "two hops: {versions:?}");
    assert_eq!((versions[0], versions[2]), ("4.14.10", "4.15.23"));
    let hops = path["hops"].as_array().expect("hops");
    assert_eq!(hops.len(), 2);
    let conditional: Vec<&Value> = hops.iter().filter(|h| h["conditional"] == true).collect();
    assert_eq!(conditional.len(), 1, "the minor-version hop is conditional: {hops:?}");
    assert!(conditional[0]["risks"]
        .as_array()
        .is_some_and(|r| !r.is_empty() && r.iter().all(|x| x["url"].is_string())));

    let plain = run(flags(&["--shortest-path", "--no-conditional-updates"]));
    assert_eq!(plain.status.code(), Some(1));
    assert!(stderr(&plain).contains("4.15.23 is not reachable from 4.14.10"), "{}", stderr(&plain));

    let range = run(flags(&["-o", "json"]));
    assert_success(&range);
    let listed: Value = serde_json::from_slice(&range.stdout).expect("JSON");
    let raw: Value = serde_json::from_slice(&std::fs::read(&graph).expect("read")).expect("JSON");
    let key = |v: &str| v.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    let mut want: Vec<&str> = raw["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| {
            n["metadata"]["io.openshift.upgrades.graph.release.channels"]
                .as_str()
                .unwrap_or("")
                .split(',')
                .any(|c| c == "stable-4.15")
        })
        .map(|n| n["version"].as_str().unwrap_or(""))
        .filter(|v| key(v) >= key("4.14.10") && key(v) <= key("4.15.23"))
        .collect();
    want.sort_by_key(|v| key(v));
    let got: Vec<&str> =
        listed["releases"].as_array().expect("releases").iter().map(|r| r["version"].as_str().unwrap_or("")).collect();
    assert_eq!(got, want, "exactly the channel's releases between the bounds");
}
