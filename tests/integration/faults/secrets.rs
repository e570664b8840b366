//! Credentials: the bearer-token flow end to end through the proxy's token front, no password
//! or token in any output at any verbosity, and none sent along a redirect to another host.

use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::{args, assert_clear_failure, bed, DEST_REPO};
use crate::mirror::assert_complete;
use crate::support::proxy::{Action, Fault, LogEntry, Proxy};
use crate::support::registry::{Registry, RegistryOptions};
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, run_in, stderr, stdout, temp_dir};

const PULL_PASSWORD: &str = "pull-Pa55-7c1e9";
const PULL_TOKEN: &str = "tok-pull-3f9a0b71d2";
const PUSH_PASSWORD: &str = "push-Pa55-51aa0";
const PUSH_TOKEN: &str = "tok-push-88e2c4a6f0";

/// A pull secret with `(host, user, password)` entries.
fn auth_file(dir: &Path, entries: &[(&str, &str, &str)]) -> PathBuf {
    let auths: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(host, user, password)| {
            let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            (host.to_string(), serde_json::json!({ "auth": auth }))
        })
        .collect();
    let path = dir.join("pull-secret.json");
    std::fs::write(&path, serde_json::json!({ "auths": auths }).to_string()).expect("write pull secret");
    path
}

fn to(host: &str) -> String {
    format!("--to={host}/{DEST_REPO}")
}

/// The proxy served tokens to the basic credentials asked, and every request after the
/// challenge carried `Bearer <token>`.
fn assert_token_flow(log: &[LogEntry], token: &str, actions: &str) {
    let asked: Vec<&LogEntry> = log.iter().filter(|e| e.path.starts_with("/token")).collect();
    assert!(!asked.is_empty(), "no token was asked for: {log:#?}");
    for e in &asked {
        assert_eq!(e.status, 200, "{e:#?}");
        assert!(e.header("authorization").is_some_and(|a| a.starts_with("Basic ")), "{e:#?}");
    }
    assert!(asked.iter().any(|e| e.path.contains("service=proxy") && e.path.contains(actions)), "{asked:#?}");
    let bearer = format!("Bearer {token}");
    let served = log.iter().filter(|e| e.path.starts_with("/v2/") && e.status != 401);
    for e in served {
        assert_eq!(e.header("authorization"), Some(bearer.as_str()), "{e:#?}");
    }
}

#[test]
fn the_bearer_token_flow_works_on_both_sides() {
    let b = bed(ReleaseSpec::default());
    b.proxy.require_bearer("puller", PULL_PASSWORD, PULL_TOKEN);
    let dest = Registry::start();
    let front = Proxy::in_front_of(&dest);
    front.require_bearer("pusher", PUSH_PASSWORD, PUSH_TOKEN);
    let home = temp_dir();
    let secret =
        auth_file(home.path(), &[(&b.proxy.host(), "puller", PULL_PASSWORD), (&front.host(), "pusher", PUSH_PASSWORD)]);
    let secret = format!("--registry-config={}", secret.display());
    assert_success(&run_in(home.path(), args(&b.release, to(&front.host()), &[&secret, "-q"])));
    assert_complete(&b.release, &dest.client());
    assert_token_flow(&b.proxy.log(), PULL_TOKEN, "pull");
    assert_token_flow(&front.log(), PUSH_TOKEN, "push");
}

#[test]
fn no_password_or_token_appears_in_any_output() {
    let wrong = "wrong-Pa55-0d6b2";
    let b = bed(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    b.proxy.require_bearer("puller", PULL_PASSWORD, PULL_TOKEN);
    let dest =
        Registry::start_with(RegistryOptions { htpasswd: Some(("pusher".into(), PUSH_PASSWORD.into())), tls: false });
    let home = temp_dir();
    let dir = |name: &str| {
        let d = home.path().join(name);
        std::fs::create_dir_all(&d).expect("create dir");
        d
    };
    let file = |d: PathBuf, pull: &str, push: &str| {
        let path = auth_file(&d, &[(&b.proxy.host(), "puller", pull), (&dest.host(), "pusher", push)]);
        format!("--registry-config={}", path.display())
    };
    let good = file(dir("good"), PULL_PASSWORD, PUSH_PASSWORD);
    let bad_push = file(dir("bad-push"), PULL_PASSWORD, wrong);
    let bad_pull = file(dir("bad-pull"), wrong, PUSH_PASSWORD);
    let mut all = String::new();
    let mut go = |extra: &[&str]| {
        let out = run_in(home.path(), args(&b.release, to(&dest.host()), extra));
        all.push_str(&stdout(&out));
        all.push_str(&stderr(&out));
        out
    };
    assert_clear_failure(&go(&[&bad_push, "-v", "-v"]), &["rejected the credentials", "pull-secret.json"]);
    assert_clear_failure(&go(&[&bad_pull, "-v", "-o", "json"]), &["rejected the credentials", "pull-secret.json"]);
    assert_success(&go(&[&good, "--dry-run", "-v", "-o", "json"]));
    assert_success(&go(&[&good, "-v", "-v"]));
    assert_success(&go(&[&good, "-v", "-o", "json"]));
    assert_complete(&b.release, &dest.client().with_basic("pusher", PUSH_PASSWORD));
    let encoded = |user: &str, pw: &str| base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
    let secrets = [
        PULL_PASSWORD.to_string(),
        PUSH_PASSWORD.to_string(),
        PULL_TOKEN.to_string(),
        wrong.to_string(),
        encoded("puller", PULL_PASSWORD),
        encoded("pusher", PUSH_PASSWORD),
        encoded("pusher", wrong),
    ];
    for secret in secrets {
        assert!(!all.contains(&secret), "{secret:?} appears in the output:\n{all}");
    }
}

#[test]
fn credentials_are_not_sent_along_a_redirect_to_another_host() {
    let b = bed(ReleaseSpec::default());
    b.proxy.require_bearer("puller", PULL_PASSWORD, PULL_TOKEN);
    // Blobs served from "object storage" on another host (127.0.0.2), as registries on
    // cloud storage do with a 307.
    let storage = Proxy::start("127.0.0.2", &b.registry.host());
    b.proxy.add(Fault::new(Action::Redirect(storage.url())).on("GET", "/blobs/sha256:").always());
    let dest = Registry::start();
    let home = temp_dir();
    let secret = auth_file(home.path(), &[(&b.proxy.host(), "puller", PULL_PASSWORD)]);
    let secret = format!("--registry-config={}", secret.display());
    assert_success(&run_in(home.path(), args(&b.release, to(&dest.host()), &[&secret, "-q"])));
    assert_complete(&b.release, &dest.client());
    let bearer = format!("Bearer {PULL_TOKEN}");
    let redirected = b.proxy.requests("GET", "/blobs/sha256:");
    assert!(redirected.iter().any(|e| e.status == 307 && e.header("authorization") == Some(bearer.as_str())));
    let fetched = storage.log();
    assert!(fetched.iter().any(|e| e.path.contains("/blobs/sha256:") && e.status == 200), "{fetched:#?}");
    for e in &fetched {
        assert_eq!(e.header("authorization"), None, "credentials followed the redirect: {e:#?}");
    }
}
