//! Registries that are not the CNCF distribution registry (docs/registries.md): each test
//! puts the quirk proxy ([`Quirk`], `TokenPolicy`) in front of real registries and mirrors
//! the 20-component release (one multi-arch list) through it, registry → registry with
//! Docker media types and disk → registry with OCI ones; both must arrive byte for byte,
//! and the requests that show how the tool coped are counted.

mod tokens;
mod uploads;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use base64::Engine as _;

use crate::mirror::assert_complete_in;
use crate::support::generator::{generate, GeneratedRelease};
use crate::support::http::Client;
use crate::support::ocdisk::write_oc_tree;
use crate::support::proxy::{LogEntry, Proxy, Quirk, RetryAfter};
use crate::support::registry::Registry;
use crate::support::spec::{Media, ReleaseSpec};
use crate::support::{assert_success, run_in, sha256_digest, stderr, temp_dir};

/// Where registry → registry runs put the release, and disk → registry runs.
const TO_REPO: &str = "mirror/ocp/release";
const FROM_DISK_REPO: &str = "mirror/disk/release";
const TREE_REPO: &str = "openshift/release";
const MIB: u64 = 1 << 20;

/// The release of the issue: 20 components, one of them a manifest list.
fn twenty(media: Media) -> ReleaseSpec {
    ReleaseSpec { components: 20, media, multi_arch_components: 1, ..ReleaseSpec::default() }
}

/// The same with layers of 1.5 MiB, each several chunks long (the generator's `big_layer`
/// goes on the first component, which is the list here, so every layer is made large).
fn twenty_large(media: Media) -> ReleaseSpec {
    ReleaseSpec { layer_size: 3 * MIB as usize / 2, ..twenty(media) }
}

/// A source and a destination registry, each behind its own proxy; the Docker release in
/// the source (its references name the source proxy), the OCI one in an oc-style tree.
pub struct Bed {
    pub source: Registry,
    pub src: Proxy,
    pub dest: Registry,
    pub dst: Proxy,
    pub docker: GeneratedRelease,
    pub oci: GeneratedRelease,
    pub tree: tempfile::TempDir,
    pub home: tempfile::TempDir,
    /// `--registry-config=…` when the proxies want credentials.
    pub secret: Option<String>,
}

/// A bed of releases made by `spec`, the source repositories under `prefix`.
fn bed_of(spec: fn(Media) -> ReleaseSpec, prefix: &str) -> Bed {
    let (source, dest) = (Registry::start(), Registry::start());
    let (src, dst) = (Proxy::in_front_of(&source), Proxy::in_front_of(&dest));
    let docker = generate(&spec(Media::Docker), &src.host(), prefix);
    docker.push(&source);
    let oci = generate(&spec(Media::Oci), "quay.example", "openshift-release-dev");
    let tree = temp_dir();
    write_oc_tree(tree.path(), TREE_REPO, &oci).expect("write the oc-style tree");
    Bed { source, src, dest, dst, docker, oci, tree, home: temp_dir(), secret: None }
}

pub fn bed() -> Bed {
    bed_of(twenty, "ocp")
}

/// A bed whose every layer takes several chunks.
pub fn large_bed() -> Bed {
    bed_of(twenty_large, "ocp")
}

impl Bed {
    /// The same quirks on both proxies.
    pub fn quirk(&self, quirk: Quirk) {
        self.src.quirk(quirk.clone());
        self.dst.quirk(quirk);
    }

    /// Registry → registry into `dest/TO_REPO` (through the proxies).
    pub fn mirror(&self, extra: &[&str]) -> Output {
        self.mirror_to(&format!("{}/{TO_REPO}", self.dst.host()), extra)
    }

    pub fn mirror_to(&self, to: &str, extra: &[&str]) -> Output {
        let from = format!("--from={}", self.docker.release_ref());
        self.run(vec![from, format!("--to={to}")], extra)
    }

    /// Disk → registry into `dest/FROM_DISK_REPO`.
    pub fn upload(&self, extra: &[&str]) -> Output {
        let args = vec![
            format!("--from-dir={}", self.tree.path().display()),
            format!("--from=file://{TREE_REPO}:{}", self.oci.release_tag),
            format!("--to={}/{FROM_DISK_REPO}", self.dst.host()),
        ];
        self.run(args, extra)
    }

    fn run(&self, mut args: Vec<String>, extra: &[&str]) -> Output {
        args.extend(["--insecure".to_string(), "--skip-release-image-signature".to_string()]);
        args.extend(self.secret.iter().cloned());
        args.extend(extra.iter().map(|s| s.to_string()));
        run_in(self.home.path(), args)
    }

    /// Both releases are in the destination registry (read directly, past the proxy) with
    /// their exact manifests, and every blob's bytes match its digest.
    pub fn assert_identical(&self) {
        self.assert_identical_in(TO_REPO, FROM_DISK_REPO);
    }

    pub fn assert_identical_in(&self, docker_repo: &str, oci_repo: &str) {
        let client = self.dest.client();
        assert_arrived(&client, &self.docker, docker_repo);
        assert_arrived(&client, &self.oci, oci_repo);
    }

    /// Both directions succeed and arrive whole; the destination proxy's log of each run.
    pub fn both_ways(&self) -> (Vec<LogEntry>, Vec<LogEntry>) {
        self.both_ways_with(&[])
    }

    pub fn both_ways_with(&self, extra: &[&str]) -> (Vec<LogEntry>, Vec<LogEntry>) {
        let extra: Vec<&str> = std::iter::once("-v").chain(extra.iter().copied()).collect();
        let mark = self.dst.log().len();
        assert_success(&self.mirror(&extra));
        let between = self.dst.log().len();
        assert_success(&self.upload(&extra));
        self.assert_identical();
        let log = self.dst.log();
        (log[mark..between].to_vec(), log[between..].to_vec())
    }

    /// A pull secret for both proxies, `user:password` for each.
    pub fn credentials(&mut self, user: &str, password: &str) {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let auths: serde_json::Map<String, serde_json::Value> = [self.src.host(), self.dst.host()]
            .into_iter()
            .map(|host| (host, serde_json::json!({ "auth": auth })))
            .collect();
        let path: PathBuf = self.home.path().join("pull-secret.json");
        std::fs::write(&path, serde_json::json!({ "auths": auths }).to_string()).expect("write the pull secret");
        self.secret = Some(format!("--registry-config={}", path.display()));
    }
}

/// `release` is in `repo` of the registry behind `client`: manifests byte for byte, and
/// every blob's bytes match its digest.
pub fn assert_arrived(client: &Client, release: &GeneratedRelease, repo: &str) {
    assert_complete_in(release, client, repo);
    for digest in release.all_blob_digests() {
        let bytes = client.get_blob(repo, &digest).unwrap_or_else(|| panic!("blob {digest} missing in {repo}"));
        assert_eq!(sha256_digest(&bytes), digest, "blob {digest} in {repo} is not its bytes");
    }
}

/// `N registry requests were retried` from the end of a run.
fn retried(out: &Output) -> u64 {
    let err = stderr(out);
    let line = err.lines().find(|l| l.ends_with("registry requests were retried")).unwrap_or_default();
    line.trim_start_matches("info: ").split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// The waits announced after a first failed try (`try 1 failed (429); retrying in N ms`).
fn first_backoffs(out: &Output) -> Vec<u64> {
    let err = stderr(out);
    let waits = err.lines().filter_map(|l| l.split_once("try 1 failed (429); retrying in ")).map(|(_, rest)| rest);
    waits.filter_map(|rest| rest.strip_suffix(" ms")?.parse().ok()).collect()
}

fn statuses(log: &[LogEntry], method: &str, part: &str) -> Vec<u16> {
    log.iter().filter(|e| e.method == method && e.path.contains(part)).map(|e| e.status).collect()
}

#[test]
fn a_registry_refusing_head_on_manifests_is_asked_with_get() {
    let b = bed();
    b.quirk(Quirk::ManifestHeadRefused);
    let (to, from_disk) = b.both_ways();
    let mark = b.dst.log().len();
    let again = b.mirror(&["-o", "json"]);
    assert_success(&again);
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(summary["transfer"]["manifestsPushed"], 0, "the destination was recognised complete");
    let rerun = b.dst.log()[mark..].to_vec();
    for (log, fresh) in [(&to, true), (&from_disk, true), (&rerun, false)] {
        // The first HEADs (as many as are sent at once) are refused; then the run asks with GET.
        // A fresh destination lists no tags, so nothing is asked about its manifests at all.
        let heads = statuses(log, "HEAD", "/manifests/");
        let at_once = release_mirror::mirror::Concurrency::Adaptive.metadata();
        assert!((fresh || !heads.is_empty()) && heads.len() <= at_once && heads.iter().all(|s| *s == 405), "{heads:?}");
    }
    let gets = statuses(&rerun, "GET", "/manifests/");
    assert!(gets.len() > 20 && gets.iter().all(|s| *s == 200), "every check of the rerun by GET: {gets:?}");
}

#[test]
fn without_docker_content_digest_digests_are_computed() {
    let b = bed();
    b.quirk(Quirk::NoContentDigest);
    b.both_ways();
    // A rerun finds everything in place: the digests of the HEAD-less answers were computed.
    let again = b.mirror(&["-o", "json"]);
    assert_success(&again);
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(summary["transfer"]["manifestsPushed"], 0, "{summary}");
    assert_eq!(summary["transfer"]["blobsCopied"], 0, "{summary}");
}

#[test]
fn relative_locations_are_resolved_against_the_request() {
    let b = bed();
    b.quirk(Quirk::RelativeLocations);
    b.quirk(Quirk::ChunkedOnly(512 << 10));
    let (to, _) = b.both_ways();
    let posts: Vec<&LogEntry> = to.iter().filter(|e| e.method == "POST").collect();
    assert!(!posts.is_empty() && posts.iter().all(|e| e.status == 202), "{posts:#?}");
    // Every PATCH and PUT went to a session the registry named, resolved against the request.
    let sent = to.iter().filter(|e| e.method == "PATCH" || (e.method == "PUT" && e.path.contains("/blobs/uploads/")));
    for e in sent {
        assert!(e.path.starts_with(&format!("/v2/{TO_REPO}/blobs/uploads/")), "{e:#?}");
        assert!(matches!(e.status, 201 | 202), "{e:#?}");
    }
}

#[test]
fn path_locations_are_resolved_against_the_registry() {
    let b = bed();
    b.quirk(Quirk::PathLocations);
    let (to, from_disk) = b.both_ways();
    for log in [&to, &from_disk] {
        let puts: Vec<&LogEntry> = log.iter().filter(|e| e.method == "PUT" && e.path.contains("/uploads/")).collect();
        assert!(!puts.is_empty() && puts.iter().all(|e| e.status == 201), "{puts:#?}");
    }
}

/// Each 429 is followed by the same request again, no sooner than `wait`. (No upper bound: a
/// loaded machine may be late; how long the run meant to wait is in its log.)
fn assert_waited(log: &[LogEntry], wait: Duration) -> usize {
    let limited: Vec<(usize, &LogEntry)> = log.iter().enumerate().filter(|(_, e)| e.status == 429).collect();
    for (i, e) in &limited {
        let next = log[i + 1..].iter().find(|n| n.method == e.method && n.path == e.path);
        let next = next.unwrap_or_else(|| panic!("{} {} never asked again", e.method, e.path));
        let gap = next.at - e.at;
        assert!(gap >= wait, "{} {} asked again after {gap:?}", e.method, e.path);
    }
    limited.len()
}

#[test]
fn retry_after_as_an_http_date_is_waited_out() {
    let b = bed();
    b.quirk(Quirk::RateLimited { every: 25, retry_after: RetryAfter::Date(2) });
    let out = b.mirror(&["-v"]);
    assert_success(&out);
    assert_success(&b.upload(&["-q"]));
    b.assert_identical();
    // Measured from the answer's own Date, the wait is the two seconds the date says.
    let limited = assert_waited(&b.src.log(), Duration::from_millis(1950))
        + assert_waited(&b.dst.log(), Duration::from_millis(1950));
    assert!(limited >= 4, "the limit was met {limited} times");
    assert!(stderr(&out).contains("(429); retrying in 2000 ms"), "{}", stderr(&out));
}

#[test]
fn a_429_without_retry_after_backs_off_and_goes_on() {
    let b = bed();
    b.quirk(Quirk::RateLimited { every: 10, retry_after: RetryAfter::None });
    let out = b.mirror(&["-v"]);
    assert_success(&out);
    assert_success(&b.upload(&["-q"]));
    b.assert_identical();
    // The first backoff: 200 ms ± 25 %, as planned in the log and as waited at the proxy.
    let src = assert_waited(&b.src.log(), Duration::from_millis(150));
    let dst = assert_waited(&b.dst.log()[..], Duration::from_millis(150));
    assert!(src > 0 && dst > 0, "{src} and {dst} times limited");
    let planned = first_backoffs(&out);
    assert!(!planned.is_empty() && planned.iter().all(|ms| (150..=250).contains(ms)), "{planned:?}");
    assert!(retried(&out) >= src as u64, "{}", stderr(&out));
}

#[test]
fn a_registry_behind_a_path_prefix_with_404_at_v2() {
    // Artifactory's "repository path" method behind a proxy that routes only its repository
    // key: the key is the first part of every repository name, as a container runtime sees it.
    let b = bed_of(twenty, "docker-local/ocp");
    b.quirk(Quirk::PathPrefix("docker-local".into()));
    let to = format!("{}/docker-local/{TO_REPO}", b.dst.host());
    assert_success(&b.mirror_to(&to, &["-q"]));
    let upload = [
        format!("--from-dir={}", b.tree.path().display()),
        format!("--from=file://{TREE_REPO}:{}", b.oci.release_tag),
        format!("--to={}/docker-local/{FROM_DISK_REPO}", b.dst.host()),
    ];
    assert_success(&b.run(upload.to_vec(), &["-q"]));
    b.assert_identical_in(&format!("docker-local/{TO_REPO}"), &format!("docker-local/{FROM_DISK_REPO}"));
    for proxy in [&b.src, &b.dst] {
        let pings: Vec<u16> = proxy.log().iter().filter(|e| e.path == "/v2/").map(|e| e.status).collect();
        assert!(!pings.is_empty() && pings.iter().all(|s| *s == 404), "the ping met a 404 and the run went on");
    }
}
