//! With tarballs made here (no fixtures): graph data refused before anything is pushed, the
//! dry run, the default tarball location on the update service, a base in the destination
//! registry, a tree without a graph-data image, and the UpdateService file beside the
//! signature ConfigMaps.

use std::io::Write as _;
use std::path::Path;

use super::{args, bed, bed_with, Bed, BASE_REPO};
use crate::support::gpg::{atomic_payload, keys};
use crate::support::registry::Registry;
use crate::support::sigstore::{Mode, SigStore};
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, run, serve_on_loopback, sha256_digest, stderr, stdout, temp_dir};

/// One raw tar entry whose name is written as given.
fn entry(name: &str, kind: tar::EntryType, body: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(kind);
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    if kind == tar::EntryType::Symlink {
        header.set_link_name("/etc/shadow").expect("link name");
    }
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(body);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("gzip")
}

/// A tarball with `version` (unless `None`), one channel, one blocked edge and `extra`.
pub(super) fn tarball(version: Option<&str>, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut tar = Vec::new();
    if let Some(v) = version {
        tar.extend(entry("version", tar::EntryType::Regular, v.as_bytes()));
    }
    tar.extend(entry("channels/stable-4.99.yaml", tar::EntryType::Regular, b"name: stable-4.99\nversions: []\n"));
    tar.extend(entry("blocked-edges/4.99.1-X.yaml", tar::EntryType::Regular, b"to: 4.99.1\nfrom: .*\n"));
    tar.extend(entry("raw/metadata.json", tar::EntryType::Regular, b"{}"));
    for e in extra {
        tar.extend_from_slice(e);
    }
    tar.extend([0u8; 1024]);
    gzip(&tar)
}

/// 2 GiB of zeros as a valid gzip of 2048 members of 1 MiB each (a few KB on disk; gzip -dc
/// gives the 2 GiB), written without holding more than one member.
fn two_gib_of_zeros(path: &Path) {
    let member = gzip(&vec![0u8; 1 << 20]);
    let mut file = std::fs::File::create(path).expect("create");
    for _ in 0..2048 {
        file.write_all(&member).expect("write");
    }
}

pub(super) fn osus_args(b: &Bed, dest: &Registry, tarball: &Path) -> Vec<String> {
    let host = dest.host();
    args(
        b,
        &[
            format!("--to={host}/ocp/release"),
            format!("--to-release-repo={host}/ocp/release-images"),
            format!("--graph-data-image={host}/ocp/graph-data"),
            format!("--graph-data={}", tarball.display()),
        ],
    )
}

#[test]
fn hostile_graph_data_is_refused_with_nothing_pushed() {
    let b = bed(1);
    let dir = temp_dir();
    let regular = tar::EntryType::Regular;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("dotdot", tarball(Some("1.1.0\n"), &[entry("../escape", regular, b"x")]), "leaves the data folder"),
        ("absolute", tarball(Some("1.1.0\n"), &[entry("/etc/cron.d/x", regular, b"x")]), "has an absolute path"),
        ("symlink", tarball(Some("1.1.0\n"), &[entry("channels/l.yaml", tar::EntryType::Symlink, b"")]), "is a link"),
        ("no-version", tarball(None, &[]), "has no `version` file"),
        ("version-2", tarball(Some("2.0.0\n"), &[]), "its `version` is 2.0.0"),
        ("not-gzip", b"version\n1.1.0\n".to_vec(), "is not gzip-compressed"),
    ];
    for (name, bytes, why) in cases {
        let path = dir.path().join(format!("{name}.tar.gz"));
        std::fs::write(&path, bytes).expect("write");
        assert_refused(&b, &path, why);
    }
    let zeros = dir.path().join("zeros.tar.gz");
    two_gib_of_zeros(&zeros);
    assert_refused(&b, &zeros, "unpacks to more than 134217728 bytes");
}

fn assert_refused(b: &Bed, path: &Path, why: &str) {
    let dest = Registry::start();
    let out = run(osus_args(b, &dest, path));
    assert_eq!(out.status.code(), Some(1), "{} was not refused as input: {}", path.display(), stdout(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("the graph data {} is refused", path.display())), "{err}");
    assert!(err.contains(why), "{}: wanted {why:?} in {err}", path.display());
    assert!(dest.client().catalog().is_empty(), "{}: something was pushed", path.display());
}

#[test]
fn the_dry_run_shows_the_image_it_would_build_and_pushes_nothing() {
    let (b, dest, dir) = (bed(1), Registry::start(), temp_dir());
    let path = dir.path().join("graph-data.tar.gz");
    std::fs::write(&path, tarball(Some("1.1.0\n"), &[])).expect("write");
    let mut args = osus_args(&b, &dest, &path);
    args.push("--dry-run".into());
    let out = run(args);
    assert_success(&out);
    let text = stdout(&out);
    let base = format!("{}/base/ubi@sha256:", b.source.host());
    let line =
        text.lines().find(|l| l.starts_with("Would build graph-data image ")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(&format!("{}/ocp/graph-data@sha256:", dest.host())), "{line}");
    assert!(line.contains(&format!(" on {base}")) && line.contains("(graph-data layer "), "{line}");
    assert!(text.contains("  kind: UpdateService\n"), "{text}");
    assert!(dest.client().catalog().is_empty(), "a dry run pushes nothing");
}

#[test]
fn without_graph_data_the_tarball_comes_from_the_update_services_own_endpoint() {
    let (b, dest) = (bed(1), Registry::start());
    let body = tarball(Some("1.1.0\n"), &[]);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let port = serve_on_loopback("graph-data endpoint", move |mut stream| {
        let mut request = [0u8; 2048];
        let n = std::io::Read::read(&mut stream, &mut request).unwrap_or(0);
        let line = String::from_utf8_lossy(&request[..n]).lines().next().unwrap_or_default().to_string();
        log.lock().unwrap().push(line);
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&body);
    });
    let host = dest.host();
    let out = run(args(
        &b,
        &[
            format!("--to={host}/ocp/release"),
            format!("--to-release-repo={host}/ocp/release-images"),
            format!("--graph-data-image={host}/ocp/graph-data"),
            format!("--update-service=http://127.0.0.1:{port}/api/upgrades_info/v1/graph"),
        ],
    ));
    assert_success(&out);
    assert_eq!(*seen.lock().unwrap(), ["GET /api/upgrades_info/graph-data HTTP/1.1"]);
    assert!(dest.client().get_manifest("ocp/graph-data", "latest").is_some(), "the image was pushed");
}

#[test]
fn the_update_service_is_written_beside_the_signature_config_maps() {
    let k = keys();
    let store = SigStore::start(Mode::Serve);
    let spec = ReleaseSpec {
        verification_keys: vec![("test".into(), k.gpg.export(&k.rsa))],
        stores: vec![("local".into(), store.url())],
        ..ReleaseSpec::default()
    };
    let b = bed_with(1, spec);
    let digest = b.releases[0].release_digest.clone();
    let identity = "quay.io/openshift-release-dev/ocp-release:4.99.0-x86_64";
    store.put(&digest, 1, k.gpg.sign(&k.rsa, &atomic_payload(&digest, identity), true));
    let (dest, dir, config) = (Registry::start(), temp_dir(), temp_dir());
    let path = dir.path().join("graph-data.tar.gz");
    std::fs::write(&path, tarball(Some("1.1.0\n"), &[])).expect("write");
    let mut args = osus_args(&b, &dest, &path);
    args.retain(|a| a != "--skip-release-image-signature");
    args.push(format!("--release-image-signature-to-dir={}", config.path().display()));
    let out = run(args);
    assert_success(&out);
    let file = config.path().join("update-service.yaml");
    let written = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let image = dest.client().get_manifest("ocp/graph-data", "latest").expect("pushed").2;
    let resource: serde_json::Value = serde_saphyr::from_str(&written).expect("YAML");
    assert_eq!(resource["kind"], "UpdateService");
    assert_eq!(resource["metadata"]["namespace"], "openshift-update-service");
    assert_eq!(resource["spec"]["graphDataImage"], format!("{}/ocp/graph-data@{image}", dest.host()));
    assert_eq!(resource["spec"]["releases"], format!("{}/ocp/release-images", dest.host()));
    assert_eq!(resource["spec"]["replicas"], 2);
    let text = stdout(&out);
    assert!(text.contains(&format!("create this UpdateService (written to {}):", file.display())), "{text}");
    let signature = std::fs::read_dir(config.path()).expect("folder").count();
    assert_eq!(signature, 2, "the ConfigMap and the UpdateService side by side");
}

#[test]
fn without_a_release_repo_the_image_is_pushed_and_no_update_service_is_printed() {
    let (b, dest, dir) = (bed(1), Registry::start(), temp_dir());
    let path = dir.path().join("graph-data.tarball");
    std::fs::write(&path, tarball(Some("1.1.0\n"), &[])).expect("write");
    let mut args = osus_args(&b, &dest, &path);
    args.retain(|a| !a.starts_with("--to-release-repo="));
    let out = run(args);
    assert_success(&out);
    assert!(dest.client().get_manifest("ocp/graph-data", "latest").is_some(), "the image was pushed");
    assert!(!stdout(&out).contains("UpdateService"), "{}", stdout(&out));
    assert!(stderr(&out).contains("no UpdateService written: the update service reads every tag"), "{}", stderr(&out));
    assert!(dest.client().list_tags("ocp/release").iter().any(|t| t == "4.99.0-x86_64"), "the release stays in --to");
}

#[test]
fn uploading_a_tree_without_a_graph_data_image_says_so_when_it_cannot_build_one() {
    let (b, dir) = (bed(1), temp_dir());
    assert_success(&run(args(&b, &[format!("--to-dir={}", dir.path().display())])));
    let dest = Registry::start();
    let host = dest.host();
    let out = run([
        format!("--from-dir={}", dir.path().display()),
        format!("--to={host}/ocp/release"),
        format!("--to-release-repo={host}/ocp/release-images"),
        format!("--graph-data-image={host}/ocp/graph-data"),
        // Nothing listens there: the disconnected side cannot download the graph data.
        "--update-service=http://127.0.0.1:1/api/upgrades_info/v1/graph".into(),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    let wanted = format!("{} records no graph-data image (build one into the tree", dir.path().display());
    assert!(err.contains(&wanted), "{err}");
    assert!(
        err.contains("failed to download the graph data from http://127.0.0.1:1/api/upgrades_info/graph-data"),
        "{err}"
    );
    assert!(dest.client().catalog().is_empty(), "nothing uploaded");
}

#[test]
fn a_base_in_the_destination_registry_is_mounted_not_copied() {
    let (b, dest, dir) = (bed(1), Registry::start(), temp_dir());
    let base_layers = super::push_base(&dest);
    let path = dir.path().join("graph-data.tar.gz");
    std::fs::write(&path, tarball(Some("1.1.0\n"), &[])).expect("write");
    let mut args = osus_args(&b, &dest, &path);
    args.retain(|a| !a.starts_with("--graph-data-base="));
    args.push(format!("--graph-data-base={}/{BASE_REPO}:latest", dest.host()));
    let out = run(args);
    assert_success(&out);
    assert!(stderr(&out).contains("(2 blobs copied)"), "the config and the graph layer only: {}", stderr(&out));
    let client = dest.client();
    let layer = client.get_blob("ocp/graph-data", &sha256_digest(&base_layers[0])).expect("the base layer, mounted");
    assert!(layer == base_layers[0], "mounted byte for byte");
}
