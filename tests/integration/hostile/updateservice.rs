//! An update service that is busy, answers HTML, is given with a channel already in its URL,
//! or with a password in it: retried, described, asked once per channel, and redacted.

use serde_json::{json, Value};

use crate::support::updateservice::{Fault, UpdateService};
use crate::support::{assert_success, run, stderr};

const CHANNEL: &str = "stable-4.99";
const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn service() -> UpdateService {
    let service = UpdateService::start();
    let node = json!({"version": "4.99.0", "payload": format!("q.example/ocp/release@{DIGEST}"),
                      "metadata": {"io.openshift.upgrades.graph.release.channels": CHANNEL}});
    service.add_graph(CHANNEL, "amd64", json!({"version": 1, "nodes": [node], "edges": []}).to_string());
    service
}

/// `path` over the service at `url` for 4.99.0.
fn path(url: &str, channel: &str) -> std::process::Output {
    run([
        "path".to_string(),
        format!("--update-service={url}"),
        format!("--channel={channel}"),
        "--min-version=4.99.0".into(),
        "--max-version=4.99.0".into(),
        "-o".into(),
        "json".into(),
    ])
}

fn versions(out: &std::process::Output) -> Vec<String> {
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    json["releases"].as_array().expect("releases").iter().map(|r| r["version"].as_str().unwrap_or("").into()).collect()
}

#[test]
fn a_busy_update_service_with_retry_after_is_asked_again() {
    let service = service();
    service.fail_next(Fault::Busy { retry_after: 0 }, 2);
    let out = path(&service.url(), CHANNEL);
    assert_success(&out);
    assert_eq!(versions(&out), ["4.99.0"]);
    assert_eq!(service.requests().len(), 3, "two 503s, then the graph");
}

#[test]
fn a_channel_already_in_the_url_is_replaced_not_repeated() {
    let service = service();
    let out = path(&format!("{}?channel=fast-4.99&arch=s390x&id=x", service.url()), CHANNEL);
    assert_success(&out);
    assert_eq!(versions(&out), ["4.99.0"]);
    let target = &service.requests()[0].target;
    assert_eq!(target.matches("channel=").count(), 1, "{target}");
    assert!(target.contains("id=x") && target.contains(&format!("channel={CHANNEL}")), "{target}");
    assert!(target.contains("arch=amd64") && !target.contains("s390x"), "{target}");
}

#[test]
fn an_html_answer_is_described_by_its_status_type_and_start() {
    let service = service();
    let body = b"<html>\n<body>Please log in</body></html>".to_vec();
    service.fail_with(Fault::Reply { status: 200, content_type: "text/html".into(), body });
    let out = path(&service.url(), CHANNEL);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            r#"with status 200 and text/html, starting "<html> <body>Please log in</body></html>": not an update graph"#
        ),
        "{err}"
    );
}

#[test]
fn a_password_in_the_update_service_url_is_never_printed() {
    let service = service();
    let url = service.url().replace("http://", "http://admin:s3cret@");
    let out = path(&url, "stable-4.98");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("http://***@127.0.0.1"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn risk_text_with_escape_sequences_and_newlines_is_shown_inert_on_one_line() {
    let service = UpdateService::start();
    let node = |v: &str, hex: char| {
        json!({"version": v, "payload": format!("q.example/ocp/release@sha256:{}", hex.to_string().repeat(64)),
               "metadata": {"io.openshift.upgrades.graph.release.channels": CHANNEL}})
    };
    let message = format!("\u{1b}[2J\u{1b}]0;owned\u{7}ok\r\n    oc adm upgrade --to-image evil{}", "x".repeat(5000));
    let graph = json!({"version": 1, "nodes": [node("4.99.0", 'a'), node("4.99.1", 'b')], "edges": [],
        "conditionalEdges": [{"edges": [{"from": "4.99.0", "to": "4.99.1"}],
            "risks": [{"name": "Evil\nName", "url": "https://x.example/\u{1b}[31m", "message": message,
                       "matchingRules": [{"type": "Always"}]}]}]});
    service.add_graph(CHANNEL, "amd64", graph.to_string());
    let out = run([
        "path".to_string(),
        format!("--update-service={}", service.url()),
        format!("--channel={CHANNEL}"),
        "--min-version=4.99.0".into(),
        "--max-version=4.99.1".into(),
        "--shortest-path".into(),
    ]);
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{7}'), "{text:?}");
    assert!(!text.lines().any(|l| l.trim_start().starts_with("oc adm upgrade")), "a line poses as a command:\n{text}");
    let risk = text.lines().find(|l| l.contains("risk Evil")).expect("the risk line");
    assert!(risk.starts_with(r"    risk Evil\nName: \u{1b}[2J\u{1b}]0;owned\u{7}ok\r\n    oc adm upgrade"), "{risk}");
    assert!(risk.contains("more characters)") && risk.len() < 1200, "bounded: {} bytes", risk.len());
}
