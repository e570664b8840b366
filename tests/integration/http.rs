//! One HTTP setup for every client (docs/usage.md "Connection"): the registry, the update
//! service and signature stores are each reached over HTTPS through a TLS front
//! (`support::tlsfront`) with a private CA or a self-signed certificate given as its own CA;
//! `--certificate-authority` reaches all three, `HTTPS_PROXY` is honoured by all three, an
//! `https` URL is never followed to plain `http`, and the update service's answer is bounded.

use std::path::Path;
use std::process::Output;

use serde_json::json;

use crate::mirror::assert_complete_in;
use crate::support::connect::ConnectProxy;
use crate::support::generator::{generate, GeneratedRelease};
use crate::support::gpg::{atomic_payload, keys};
use crate::support::proxy::{Proxy, Quirk};
use crate::support::registry::Registry;
use crate::support::sigstore::{Mode, SigStore};
use crate::support::spec::ReleaseSpec;
use crate::support::tlsfront::{Certs, TlsFront};
use crate::support::updateservice::{Fault, UpdateService, GRAPH_PATH};
use crate::support::{assert_success, command, stderr, stdout, temp_dir};

const CHANNEL: &str = "stable-4.99";
const REPO: &str = "mirror/ocp/release";

/// A signed release in a real registry, its graph in the update-service stand-in and its
/// signature in a store, each behind its own HTTPS front with the same certificate.
struct Bed {
    certs: Certs,
    _registry: Registry,
    registry_front: TlsFront,
    release: GeneratedRelease,
    service: UpdateService,
    service_front: TlsFront,
    store: SigStore,
    store_front: TlsFront,
    /// The release's signature, as the store serves it.
    signature: Vec<u8>,
}

fn bed(certs: Certs) -> Bed {
    let (registry, service, store) = (Registry::start(), UpdateService::start(), SigStore::start(Mode::Serve));
    let registry_front = TlsFront::start(&registry.host(), &certs);
    let service_front = TlsFront::start(&service.base().replace("http://", ""), &certs);
    let store_front = TlsFront::start(&store.url().replace("http://", "").replace("/signatures", ""), &certs);
    let k = keys();
    let spec = ReleaseSpec {
        verification_keys: vec![("test".into(), k.gpg.export(&k.rsa))],
        stores: vec![("https".into(), format!("{}/signatures", store_front.url()))],
        ..ReleaseSpec::default()
    };
    let release = generate(&spec, &registry_front.host(), "ocp");
    release.push(&registry);
    let identity = format!("quay.io/openshift-release-dev/ocp-release:{}-x86_64", release.version);
    let signature = k.gpg.sign(&k.rsa, &atomic_payload(&release.release_digest, &identity), true);
    store.put(&release.release_digest, 1, signature.clone());
    service.add_graph(CHANNEL, "amd64", graph(&[(&release.version, &release.release_digest_ref())]).to_string());
    Bed { certs, _registry: registry, registry_front, release, service, service_front, store, store_front, signature }
}

/// A graph of `releases` (version, payload) in [`CHANNEL`], each an update to the next.
fn graph(releases: &[(&str, &str)]) -> serde_json::Value {
    let channels = json!({ "io.openshift.upgrades.graph.release.channels": CHANNEL });
    let nodes: Vec<_> =
        releases.iter().map(|(v, p)| json!({ "version": v, "payload": p, "metadata": channels })).collect();
    let edges: Vec<_> = (1..releases.len()).map(|i| json!([i - 1, i])).collect();
    json!({ "version": 1, "nodes": nodes, "edges": edges, "conditionalEdges": [] })
}

impl Bed {
    fn service_url(&self) -> String {
        format!("{}{GRAPH_PATH}", self.service_front.url())
    }

    /// The release chosen from the HTTPS graph, verified with the HTTPS store, copied from
    /// the HTTPS registry to `to` (`--to=…` or `--to-dir=…`).
    fn mirror(&self, to: String, extra: &[String]) -> Vec<String> {
        let version = &self.release.version;
        let mut args = vec![
            format!("--update-service={}", self.service_url()),
            format!("--channel={CHANNEL}"),
            format!("--min-version={version}"),
            format!("--max-version={version}"),
            to,
        ];
        args.extend(extra.iter().cloned());
        args
    }
}

fn ca_flag(path: &Path) -> String {
    format!("--certificate-authority={}", path.display())
}

fn run_with(env: &[(&str, String)], args: &[String]) -> Output {
    let home = temp_dir();
    let mut cmd = command(home.path());
    cmd.envs(env.iter().map(|(k, v)| (k, v))).args(args);
    cmd.output().expect("run the plugin")
}

fn path_args(service: &str, extra: &[String]) -> Vec<String> {
    let mut args = vec![
        "path".to_string(),
        format!("--update-service={service}"),
        format!("--channel={CHANNEL}"),
        "--min-version=4.99.0".into(),
        "--max-version=4.99.1".into(),
    ];
    args.extend(extra.iter().cloned());
    args
}

fn two_release_graph() -> String {
    let payload = |n: char| format!("quay.example/ocp/release@sha256:{}", n.to_string().repeat(64));
    graph(&[("4.99.0", &payload('a')), ("4.99.1", &payload('b'))]).to_string()
}

#[test]
fn path_reads_an_https_update_service_behind_a_private_ca_only_with_certificate_authority() {
    let certs = Certs::private_ca();
    let service = UpdateService::start();
    service.add_graph(CHANNEL, "amd64", two_release_graph());
    let front = TlsFront::start(&service.base().replace("http://", ""), &certs);
    let url = format!("{}{GRAPH_PATH}", front.url());
    let refused = run_with(&[], &path_args(&url, &[]));
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(err.contains(&format!("failed to reach the update service {url}")), "{err}");
    assert!(err.contains("invalid peer certificate: UnknownIssuer"), "the TLS cause is named: {err}");
    assert!(service.requests().is_empty(), "nothing asked of an untrusted server");
    let out = run_with(&[], &path_args(&url, &[ca_flag(&certs.ca())]));
    assert_success(&out);
    assert!(stdout(&out).contains("4.99.0") && stdout(&out).contains("4.99.1"), "{}", stdout(&out));
    assert_eq!(service.requests().len(), 1);
}

#[test]
fn a_mirror_reaches_graph_store_and_registry_behind_a_private_ca_each_through_https_proxy() {
    let b = bed(Certs::private_ca());
    let dir = temp_dir();
    let to = format!("--to-dir={}", dir.path().display());
    let refused = run_with(&[], &b.mirror(to.clone(), &[]));
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("invalid peer certificate: UnknownIssuer"), "{}", stderr(&refused));
    let fronts = [("registry", &b.registry_front), ("update service", &b.service_front), ("store", &b.store_front)];
    let before: Vec<usize> = fronts.iter().map(|(_, f)| f.connections()).collect();
    let proxy = ConnectProxy::start();
    let env = [("HTTPS_PROXY", proxy.url())];
    let out = run_with(&env, &b.mirror(to, &[ca_flag(&b.certs.ca())]));
    assert_success(&out);
    let config = dir.path().join("config");
    let written: Vec<_> = std::fs::read_dir(&config).expect("the ConfigMap folder").flatten().collect();
    assert_eq!(written.len(), 1, "the signature from the HTTPS store was verified and written");
    assert!(stdout(&out).contains(&b.release.version), "{}", stdout(&out));
    // Every connection each server accepted in that run was a tunnel the proxy opened.
    for ((what, front), before) in fronts.iter().zip(before) {
        let tunnels = proxy.tunnels_to(&front.host());
        assert!(tunnels > 0, "the {what} was reached through HTTPS_PROXY");
        assert_eq!(front.connections() - before, tunnels, "every {what} connection came through the proxy");
    }
    // NO_PROXY names the hosts reached directly.
    let (tunnels, direct) = (proxy.tunnels(), b.service_front.connections());
    let env = [("HTTPS_PROXY", proxy.url()), ("NO_PROXY", "127.0.0.1".to_string())];
    let version = &b.release.version;
    let args = [
        "path".to_string(),
        format!("--update-service={}", b.service_url()),
        format!("--channel={CHANNEL}"),
        format!("--min-version={version}"),
        format!("--max-version={version}"),
        ca_flag(&b.certs.ca()),
    ];
    assert_success(&run_with(&env, &args));
    assert_eq!(proxy.tunnels(), tunnels, "no tunnel for a NO_PROXY host");
    assert_eq!(b.service_front.connections(), direct + 1, "reached directly");
}

#[test]
fn http_proxy_carries_plain_http_requests() {
    let (service, proxy) = (UpdateService::start(), ConnectProxy::start());
    service.add_graph(CHANNEL, "amd64", two_release_graph());
    let out = run_with(&[("HTTP_PROXY", proxy.url())], &path_args(&service.url(), &[]));
    assert_eq!(out.status.code(), Some(1), "the proxy answers 405: {}", stderr(&out));
    let want = format!("GET {}?channel={CHANNEL}&arch=amd64 HTTP/1.1", service.url());
    assert_eq!(proxy.forwarded(), [want], "the request went to the proxy, in absolute form");
    assert!(service.requests().is_empty(), "and not to the service");
}

#[test]
fn a_self_signed_certificate_for_another_address_is_refused_even_when_given() {
    let certs = Certs::self_signed_for("127.0.0.2");
    let service = UpdateService::start();
    service.add_graph(CHANNEL, "amd64", two_release_graph());
    let front = TlsFront::start(&service.base().replace("http://", ""), &certs);
    let url = format!("{}{GRAPH_PATH}", front.url());
    let out = run_with(&[], &path_args(&url, &[ca_flag(&certs.ca())]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("invalid peer certificate: certificate not valid for name \"127.0.0.1\""),
        "{}",
        stderr(&out)
    );
    assert!(service.requests().is_empty());
}

#[test]
fn a_self_signed_certificate_given_as_its_own_ca_is_trusted_by_registry_graph_and_store() {
    let b = bed(Certs::self_signed());
    let (dest, certs) = (Registry::start(), &b.certs);
    let dest_front = TlsFront::start(&dest.host(), certs);
    let to = format!("--to={}/{REPO}", dest_front.host());
    let refused = run_with(&[], &b.mirror(to.clone(), &[]));
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("invalid peer certificate"), "{}", stderr(&refused));
    let out = run_with(&[], &b.mirror(to, &["-q".into(), ca_flag(&certs.ca())]));
    assert_success(&out);
    assert_complete_in(&b.release, &dest.client(), REPO);
    assert_eq!(b.service.requests().len(), 1, "the graph was read over HTTPS, once");
    assert_eq!(b.store.requests().len(), 1, "the signature was read over HTTPS, once");
}

#[test]
fn an_https_update_service_redirecting_to_plain_http_is_refused_and_not_followed() {
    let certs = Certs::private_ca();
    let (plain, redirecting) = (UpdateService::start(), UpdateService::start());
    plain.add_graph(CHANNEL, "amd64", two_release_graph());
    let target = format!("{}?channel={CHANNEL}&arch=amd64", plain.url());
    redirecting.fail_with(Fault::Redirect { status: 302, location: target.clone() });
    let front = TlsFront::start(&redirecting.base().replace("http://", ""), &certs);
    let url = format!("{}{GRAPH_PATH}", front.url());
    let out = run_with(&[], &path_args(&url, &[ca_flag(&certs.ca())]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let from = format!("{url}?channel={CHANNEL}&arch=amd64");
    let want = format!("refusing the redirect from {from} to {target}: it leaves https for plain http");
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    assert_eq!(redirecting.requests().len(), 1);
    assert!(plain.requests().is_empty(), "the plain-http hop was never asked");
    // --insecure allows plain HTTP: then the redirect is followed.
    assert_success(&run_with(&[], &path_args(&url, &["--insecure".into()])));
    assert_eq!(plain.requests().len(), 1);
}

#[test]
fn an_update_service_answer_over_64_mib_is_refused_naming_the_url_and_the_limit() {
    let service = UpdateService::start();
    service.fail_with(Fault::Endless);
    // A password in the URL is not printed.
    let url = service.url().replace("http://", "http://user:s3cret@");
    let out = run_with(&[], &path_args(&url, &[]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let shown = service.url().replace("http://", "http://***@");
    let want = format!("the update service {shown} sent more than 67108864 bytes: not an update graph");
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));
}

#[test]
fn a_signature_store_redirecting_https_to_plain_http_is_refused_and_not_followed() {
    let b = bed(Certs::private_ca());
    let plain = SigStore::start(Mode::Serve);
    let digest = &b.release.release_digest;
    plain.put(digest, 1, b.signature.clone());
    let target = format!("{}{}", plain.url().replace("/signatures", ""), crate::support::sigstore::path_of(digest, 1));
    b.store.put_redirect(digest, 1, &target);
    let dir = temp_dir();
    let out = run_with(&[], &b.mirror(format!("--to-dir={}", dir.path().display()), &[ca_flag(&b.certs.ca())]));
    assert_eq!(out.status.code(), Some(3), "no valid signature: {}", stderr(&out));
    let from = format!("{}{}", b.store_front.url(), crate::support::sigstore::path_of(digest, 1));
    let want = format!("refusing the redirect from {from} to {target}: it leaves https for plain http");
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    assert!(plain.requests().is_empty(), "the plain-http hop was never asked");
}

#[test]
fn a_registry_redirecting_blobs_from_https_to_plain_http_is_refused_and_not_followed() {
    let certs = Certs::private_ca();
    let registry = Registry::start();
    let cdn = Proxy::start("127.0.0.1", &registry.host());
    cdn.quirk(Quirk::SignedUrlsOnly);
    let proxy = Proxy::in_front_of(&registry);
    proxy.quirk(Quirk::BlobsFromCdn { cdn: cdn.url(), status: 307 });
    let front = TlsFront::start(&proxy.host(), &certs);
    let release = generate(&ReleaseSpec::default(), &front.host(), "ocp");
    release.push(&registry);
    let dir = temp_dir();
    let args = [
        format!("--from={}", release.release_ref()),
        format!("--to-dir={}", dir.path().display()),
        "--skip-release-image-signature".into(),
        ca_flag(&certs.ca()),
    ];
    let out = run_with(&[], &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let want = format!("refusing the redirect from {}/v2/ocp/", front.url());
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!(" to {}/cdn/", cdn.url())), "{}", stderr(&out));
    assert!(cdn.log().is_empty(), "the plain-http hop was never asked");
    // The release's config and payload are read at once: one or both may have been asked
    // before the first refusal ended the run, but none was asked twice.
    let asked = proxy.requests("GET", "/blobs/");
    let mut paths: Vec<&str> = asked.iter().map(|e| e.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    assert!(
        !asked.is_empty() && paths.len() == asked.len(),
        "each blob asked over https once, not retried: {asked:#?}"
    );
}

#[test]
fn insecure_takes_unverified_tls_from_registry_graph_and_store_and_stays_on_https() {
    let b = bed(Certs::private_ca());
    let dir = temp_dir();
    let out = run_with(&[], &b.mirror(format!("--to-dir={}", dir.path().display()), &["--insecure".into()]));
    assert_success(&out);
    let written = std::fs::read_dir(dir.path().join("config")).expect("the ConfigMap folder").count();
    assert_eq!(written, 1, "the signature from the HTTPS store was verified and written");
    for (what, front) in
        [("registry", &b.registry_front), ("update service", &b.service_front), ("store", &b.store_front)]
    {
        assert!(front.connections() > 0, "the {what} was reached over TLS");
    }
    assert_eq!((b.service.requests().len(), b.store.requests().len()), (1, 1));
}
