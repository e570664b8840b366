//! Authentication and download quirks: tokens that expire in seconds, tokens per
//! repository (a mount asking pull and push in one token), a registry that challenges only
//! at `/v2/`, and blobs served from a CDN on a signed URL.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{assert_arrived, bed, TO_REPO};
use crate::support::assert_success;
use crate::support::proxy::{Action, Fault, LogEntry, Proxy, Quirk, TokenPolicy};

const USER: &str = "mirror";
const PASSWORD: &str = "Pa55-tokens-4e1b";

fn policy() -> TokenPolicy {
    TokenPolicy::new(USER, PASSWORD)
}

/// A layer of the release (the installer's own), to cut or stall.
fn victim(b: &super::Bed) -> String {
    b.docker.component("installer").blobs.last().expect("a layer").clone()
}

/// A layer's download stalls (so it is resumed after the 3 s stall timeout), and tokens end:
/// unannounced, at known requests (the resume of that layer, the first blob upload); announced
/// as living 1 s, 2.5 s after they were issued, while the stall and a 3 s hold of the first
/// upload session's answer make the tokens the run began with older than that.
fn expiring(announce: bool) -> super::Bed {
    let mut b = bed();
    let tokens = if announce {
        let refused_after = Some(Duration::from_millis(2500));
        TokenPolicy { lifetime: Some(Duration::from_secs(1)), refused_after, ..policy() }
    } else {
        TokenPolicy { announce: false, ..policy() }
    };
    b.src.require_tokens(tokens.clone());
    b.dst.require_tokens(tokens);
    b.credentials(USER, PASSWORD);
    b.src.add(Fault::new(Action::StallResponse(1024)).on("GET", &victim(&b)));
    if announce {
        b.dst.add(Fault::new(Action::HoldResponse(Duration::from_secs(3))).on("POST", "/blobs/uploads/"));
    } else {
        b.src.revoke_tokens_at("GET", &victim(&b), 2);
        b.dst.revoke_tokens_at("PUT", "/blobs/uploads/", 1);
    }
    b
}

fn run_expiring(b: &super::Bed) {
    assert_success(&b.mirror(&["-v", "--stall-timeout=3"]));
    assert_success(&b.upload(&["-v", "--stall-timeout=3"]));
    b.assert_identical();
}

#[test]
fn tokens_expiring_unannounced_are_renewed_on_401_mid_blob_and_mid_upload() {
    let b = expiring(false);
    run_expiring(&b);
    // Mid-blob: the download resumed after the stall (the token it began with had expired)
    // with a token earned anew on a 401, and carried on from where it stopped.
    let gets: Vec<LogEntry> = b.src.requests("GET", &victim(&b));
    let (first, last) = (&gets[0], gets.last().expect("a resume"));
    assert_eq!((last.status, last.header("range")), (206, Some("bytes=1024-")), "{gets:#?}");
    assert_ne!(first.header("authorization"), last.header("authorization"), "a new token: {gets:#?}");
    assert_answered_again(&b.src.log());
    // Mid-upload: the blob of the held session met an expired token; sent again, it was stored.
    let log = b.dst.log();
    let refused = log.iter().find(|e| e.method == "PUT" && e.status == 401).expect("a PUT met the expiry");
    let digest = refused.path.split("digest=").nth(1).expect("its digest");
    let repo = refused.path.split("/blobs/").next().expect("its repository");
    let same = |e: &&LogEntry| e.method == "PUT" && e.path.starts_with(repo) && e.path.contains(digest);
    let stored = log.iter().filter(same).filter(|e| e.status == 201).count();
    assert_eq!(stored, 1, "{digest} stored once after the 401");
    assert!(b.dst.token_requests().len() > 2, "tokens were asked for again");
}

/// Every request refused for its expired token (not the first challenge at `/v2/`) was sent
/// again and answered.
fn assert_answered_again(log: &[LogEntry]) {
    let expired: Vec<(usize, &LogEntry)> =
        log.iter().enumerate().filter(|(_, e)| e.status == 401 && e.path != "/v2/" && e.method != "PUT").collect();
    assert!(!expired.is_empty(), "no token expired in the middle of the run");
    for (i, e) in expired {
        let again = log[i + 1..].iter().find(|n| n.method == e.method && n.path == e.path);
        assert!(again.is_some_and(|n| n.status < 300), "{} {} was not answered after the 401", e.method, e.path);
    }
}

#[test]
fn tokens_announcing_a_short_life_are_renewed_before_it_ends() {
    let b = expiring(true);
    run_expiring(&b);
    for proxy in [&b.src, &b.dst] {
        let refused: Vec<LogEntry> = proxy.log().into_iter().filter(|e| e.status == 401 && e.path != "/v2/").collect();
        assert!(refused.is_empty(), "a token was used past its announced life: {refused:#?}");
        let asked = proxy.token_requests();
        let scopes: BTreeSet<&Vec<String>> = asked.iter().map(|(s, _)| s).collect();
        assert!(asked.len() > scopes.len(), "renewed: {} tokens for {} scope sets", asked.len(), scopes.len());
    }
}

#[test]
fn tokens_per_repository_and_a_mount_asks_pull_and_push_in_one_token() {
    let mut b = bed();
    b.src.require_tokens(policy());
    b.dst.require_tokens(policy());
    b.credentials(USER, PASSWORD);
    b.both_ways();
    // Across registries: every token names one repository.
    for (scopes, status) in b.src.token_requests().iter().chain(b.dst.token_requests().iter()) {
        assert_eq!((scopes.len(), *status), (1, 200), "{scopes:?}");
    }
    // Within one registry every blob is mounted, with a token for both repositories.
    let mark = b.src.log().len();
    let out = b.mirror_to(&format!("{}/{TO_REPO}", b.src.host()), &["-o", "json"]);
    assert_success(&out);
    assert_arrived(&b.source.client(), &b.docker, TO_REPO);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(summary["transfer"]["bytesCopied"], 0, "{summary}");
    let mounts: Vec<LogEntry> = b.src.log()[mark..].iter().filter(|e| e.path.contains("mount=")).cloned().collect();
    assert!(!mounts.is_empty() && mounts.iter().all(|e| e.status == 201), "{mounts:#?}");
    let both = vec![format!("repository:{TO_REPO}:pull,push"), "repository:ocp/ocp-v4.0-art-dev:pull".to_string()];
    assert!(
        b.src.token_requests().iter().any(|(s, status)| *s == both && *status == 200),
        "{:#?}",
        b.src.token_requests()
    );
}

#[test]
fn a_registry_that_challenges_only_at_v2_is_pinged_first() {
    let mut b = bed();
    let hidden = TokenPolicy { challenge_only_at_v2: true, ..policy() };
    b.src.require_tokens(hidden.clone());
    b.dst.require_tokens(hidden);
    b.credentials(USER, PASSWORD);
    b.both_ways();
    for proxy in [&b.src, &b.dst] {
        let log = proxy.log();
        assert_eq!((log[0].path.as_str(), log[0].status), ("/v2/", 401), "asked /v2/ first");
        let anonymous: Vec<&LogEntry> = log
            .iter()
            .filter(|e| e.path != "/v2/" && !e.path.starts_with("/token") && e.header("authorization").is_none())
            .collect();
        assert!(anonymous.is_empty(), "no request went unauthenticated (and hidden): {anonymous:#?}");
    }
}

#[test]
fn blobs_redirected_to_a_cdn_go_without_credentials_and_over_reused_connections() {
    let mut b = bed();
    let cdn = Proxy::start("127.0.0.1", &b.source.host());
    cdn.quirk(Quirk::SignedUrlsOnly);
    b.src.quirk(Quirk::BlobsFromCdn { cdn: cdn.url(), status: 302 });
    b.src.require_tokens(policy());
    b.credentials(USER, PASSWORD);
    // A layer's first download is cut: its resume asks the registry again.
    let cut = victim(&b);
    cdn.add(Fault::new(Action::CutResponse(1024)).on("GET", &cut));
    b.both_ways();
    let redirected: Vec<LogEntry> = b.src.requests("GET", "/blobs/sha256:");
    assert!(redirected.iter().all(|e| e.status == 302 && e.header("authorization").is_some()), "{redirected:#?}");
    let fetched = cdn.log();
    assert_eq!(fetched.len(), redirected.len(), "each redirect followed once");
    for e in &fetched {
        assert_eq!(e.header("authorization"), None, "credentials went to the CDN: {e:#?}");
        assert!(e.path.contains("X-Signature=") && matches!(e.status, 200 | 206), "{e:#?}");
    }
    let cut_gets: Vec<(u16, Option<&str>)> =
        fetched.iter().filter(|e| e.path.contains(&cut)).map(|e| (e.status, e.header("range"))).collect();
    assert_eq!(cut_gets, [(200, None), (206, Some("bytes=1024-"))], "resumed through a fresh redirect");
    let connections: BTreeSet<u64> = fetched.iter().map(|e| e.conn).collect();
    assert!(
        connections.len() <= 8 && connections.len() * 4 < fetched.len(),
        "{} connections for {} downloads",
        connections.len(),
        fetched.len()
    );
}

#[test]
fn a_token_service_answering_only_access_token_as_azure_does_is_understood() {
    let mut b = bed();
    let azure = TokenPolicy { access_token_only: true, ..policy() };
    b.src.require_tokens(azure.clone());
    b.dst.require_tokens(azure);
    b.credentials(USER, PASSWORD);
    b.both_ways();
    for proxy in [&b.src, &b.dst] {
        // Every token asked for the service the challenge named, and was granted; every other
        // request after the first challenge went through with one.
        let asked = proxy.token_requests();
        assert!(!asked.is_empty() && asked.iter().all(|(_, status)| *status == 200), "{asked:?}");
        let refused: Vec<LogEntry> = proxy.log().into_iter().filter(|e| e.status == 401 && e.path != "/v2/").collect();
        let first_tries = refused.iter().filter(|e| e.header("authorization").is_none()).count();
        assert_eq!(first_tries, refused.len(), "a token was refused: {refused:#?}");
    }
}
