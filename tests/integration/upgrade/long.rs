//! A long path: ten releases in one run. Each blob and each image's manifest is read from the
//! source once; the destination's tags are listed, and it is asked about each tag it has and
//! each blob at most once; the run logs what it planned and how long the plan took.

use std::collections::{BTreeMap, BTreeSet};

use super::blob_gets;
use crate::mirror::assert_complete_in;
use crate::support::generator::GeneratedRelease;
use crate::support::proxy::{Action, Fault, Proxy};
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, run, stderr};

const TEN: [&str; 10] =
    ["4.99.0", "4.99.1", "4.99.2", "4.99.3", "4.99.4", "4.99.5", "4.99.6", "4.99.7", "4.99.8", "4.99.9"];
const COMPONENTS: usize = 6;
const REPO: &str = "mirror/ocp/release";

/// Ten releases (25 % of the components change per release) in a registry behind a proxy
/// that counts what is read.
fn ten_releases() -> (Registry, Proxy, Vec<GeneratedRelease>) {
    let registry = Registry::start();
    let proxy = Proxy::in_front_of(&registry);
    let spec = ReleaseSpec { components: COMPONENTS, ..ReleaseSpec::default() };
    let releases = super::pushed_series(&spec, &TEN, &registry, &proxy);
    (registry, proxy, releases)
}

fn flags(releases: &[GeneratedRelease], to: &str, extra: &[&str]) -> Vec<String> {
    let mut flags: Vec<String> = releases.iter().map(|r| format!("--from={}", r.release_ref())).collect();
    flags.extend([format!("--to={to}/{REPO}"), "--insecure".into(), "--skip-release-image-signature".into()]);
    flags.extend(extra.iter().map(|s| s.to_string()));
    flags
}

/// Requests with `method` whose path holds `part`, counted by path; those seen more than once.
fn repeated(proxy: &Proxy, method: &str, part: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in proxy.requests(method, part) {
        *counts.entry(e.path).or_insert(0) += 1;
    }
    counts.into_iter().filter(|(_, n)| *n > 1).collect()
}

#[test]
fn ten_releases_in_one_run_read_each_blob_and_manifest_once_and_log_the_plan() {
    let (_registry, proxy, releases) = ten_releases();
    let dest = Registry::start();
    let out = run(flags(&releases, &dest.host(), &[]));
    assert_success(&out);
    for r in &releases {
        assert_complete_in(r, &dest.client(), REPO);
    }
    let unique: BTreeSet<String> = releases
        .iter()
        .flat_map(|r| std::iter::once(&r.release).chain(&r.images))
        .flat_map(|i| i.blobs.clone())
        .collect();
    let gets = blob_gets(&proxy);
    assert_eq!(gets.keys().cloned().collect::<BTreeSet<_>>(), unique, "every blob of the ten is read");
    let twice: Vec<_> = gets.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "blobs read more than once: {twice:?}");
    assert_eq!(repeated(&proxy, "GET", "/manifests/"), BTreeMap::new(), "manifests read more than once");
    let images = TEN.len() * (COMPONENTS + 1);
    let planned = format!("info: planned {images} images, {} blobs to copy (", unique.len());
    assert!(stderr(&out).contains(&planned), "wanted {planned:?} in {}", stderr(&out));

    let again = run(flags(&releases, &dest.host(), &[]));
    assert_success(&again);
    let noop = format!("info: planned {images} images, 0 blobs to copy (0 B) in ");
    assert!(stderr(&again).contains(&noop), "wanted {noop:?} in {}", stderr(&again));
}

#[test]
fn planning_ten_releases_lists_the_tags_and_asks_about_each_tag_digest_and_blob_at_most_once() {
    let (_registry, _proxy, releases) = ten_releases();
    let dest = Registry::start();
    let at_dest = Proxy::in_front_of(&dest);
    let asked = |what: &str| at_dest.requests("HEAD", what);
    let tag_heads = || asked("/manifests/").iter().filter(|e| !e.path.contains("/manifests/sha256:")).count();
    let out = run(flags(&releases[..5], &at_dest.host(), &[]));
    assert_success(&out);
    assert_eq!(at_dest.requests("GET", "/tags/list").len(), 1, "one list of the repository's tags");
    // A repository the registry does not know: no tag, no image to reuse and no blob is
    // asked about; each blob's upload starts as a mount from the repository itself.
    assert_eq!(tag_heads(), 0, "tags the list does not have");
    assert!(asked("/manifests/sha256:").is_empty(), "manifests of a repository without tags");
    assert!(asked("/blobs/").is_empty(), "blobs of a repository the registry does not know");
    let opened = at_dest.requests("POST", "/blobs/uploads/");
    let from_itself = format!("from={}", REPO.replace('/', "%2F"));
    assert!(!opened.is_empty() && opened.iter().all(|e| e.path.contains(&from_itself)), "{opened:#?}");

    // All ten over the first five: an image new in release 6 and kept by 7 to 10 is asked
    // about once, not once per release.
    let out = run(flags(&releases, &at_dest.host(), &[]));
    assert_success(&out);
    assert!(!asked("/manifests/sha256:").is_empty(), "images the first five lacked were asked about");
    assert!(!asked("/blobs/").is_empty(), "the blobs of a repository with tags were asked about");
    assert_eq!(repeated(&at_dest, "HEAD", "/blobs/"), BTreeMap::new(), "a blob asked about twice");
    assert_eq!(repeated(&at_dest, "HEAD", "/manifests/sha256:"), BTreeMap::new(), "a digest asked about twice");
    for r in &releases {
        assert_complete_in(r, &dest.client(), REPO);
    }

    let before = at_dest.log().len();
    let again = run(flags(&releases, &at_dest.host(), &[]));
    assert_success(&again);
    let rerun: Vec<_> = at_dest.log().into_iter().skip(before).collect();
    let heads = |part: &str| rerun.iter().filter(|e| e.method == "HEAD" && e.path.contains(part)).count();
    // Unchanged components are in all ten releases under ten tags: each tag is asked about;
    // every tag names its image, so no manifest digest and no blob is asked about.
    let tags = heads("/manifests/") - heads("/manifests/sha256:");
    assert_eq!(tags, TEN.len() * (COMPONENTS + 1), "one question per tag");
    assert_eq!((heads("/manifests/sha256:"), heads("/blobs/")), (0, 0), "a complete mirror: {rerun:?}");
}

#[test]
fn a_registry_that_does_not_list_tags_is_asked_tag_by_tag() {
    let page = Action::Reply { content_type: "text/html".into(), body: b"<html>tags</html>".to_vec() };
    assert_asked_tag_by_tag(page);
}

#[test]
fn a_tag_list_over_the_size_limit_is_not_read_and_each_tag_is_asked_about() {
    // Valid JSON saying "no tags", padded past the 4 MiB a manifest may have.
    let mut body = br#"{"name":"ocp/release","tags":[]}"#.to_vec();
    body.resize(4 * 1024 * 1024 + 1, b' ');
    assert_asked_tag_by_tag(Action::Reply { content_type: "application/json".into(), body });
}

/// A mirror of the ten into a registry whose tag list is answered with `page`: complete,
/// every tag asked about one by one.
fn assert_asked_tag_by_tag(page: Action) {
    let (_registry, _proxy, releases) = ten_releases();
    let dest = Registry::start();
    let at_dest = Proxy::in_front_of(&dest);
    at_dest.add(Fault::new(page).on("GET", "/tags/list").always());
    let out = run(flags(&releases, &at_dest.host(), &[]));
    assert_success(&out);
    for r in &releases {
        assert_complete_in(r, &dest.client(), REPO);
    }
    let tags =
        at_dest.requests("HEAD", "/manifests/").iter().filter(|e| !e.path.contains("/manifests/sha256:")).count();
    assert_eq!(tags, TEN.len() * (COMPONENTS + 1), "every tag asked about");
}
