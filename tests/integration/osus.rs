//! The disconnected update service: the graph-data image built from the real graph-data
//! download on a small base pushed to the test bed, read back from the registry (and by
//! skopeo), the release repository holding release images only, registry → registry and
//! registry → disk → registry, and hostile tarballs refused before anything is pushed.

mod lists;
mod synthetic;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::generator::{generate, GeneratedRelease};
use crate::support::http::Client;
use crate::support::registry::Registry;
use crate::support::spec::{series, ReleaseSpec};
use crate::support::{assert_success, run, sha256_digest, stderr, stdout, temp_dir};

const PREFIX: &str = "var/lib/cincinnati-graph-data/";
const BASE_REPO: &str = "base/ubi";
const COMMAND: [&str; 3] =
    ["/bin/bash", "-c", "exec cp -rp /var/lib/cincinnati-graph-data/* /var/lib/cincinnati/graph-data"];

/// The real graph-data download (`#[ignore = "needs ../shared/fixtures"]` tests only).
fn fixture_tarball() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/graph-data/oc-mirror-testdata/graph-assets/graph-data.tar.gz");
    assert!(path.is_file(), "{} is absent: this test needs the real-world vectors", path.display());
    path
}

/// Regular files of a gzip tar by name (without `./` and `prefix`).
pub fn files_of(gz: &[u8], prefix: &str) -> BTreeMap<String, Vec<u8>> {
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(gz).read_to_end(&mut tar).expect("gunzip");
    let mut out = BTreeMap::new();
    for entry in tar::Archive::new(&tar[..]).entries().expect("tar") {
        let mut entry = entry.expect("entry");
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = entry.path().expect("path").display().to_string();
        let name = name.trim_start_matches("./").strip_prefix(prefix).unwrap_or(&name).to_string();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).expect("body");
        out.insert(name, body);
    }
    out
}

/// A small base image with one shell-less layer, pushed as `base/ubi:latest`; returns its
/// layers' bytes.
pub fn push_base(registry: &Registry) -> Vec<Vec<u8>> {
    let (manifest, layers) = push_base_image(registry, "amd64");
    registry.client().put_manifest(BASE_REPO, "latest", DOCKER_MANIFEST, &manifest);
    layers
}

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A base image for `arch` with one layer, pushed by digest: its manifest and layers.
pub fn push_base_image(registry: &Registry, arch: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut tar = tar::Builder::new(Vec::new());
    let body = format!("NAME=test-base-{arch}\n");
    let body = body.as_bytes();
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "etc/os-release", body).expect("tar");
    let tar = tar.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    let layer = gz.finish().expect("gzip");
    let config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&tar)]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "test base"}]
    })
    .to_string();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": sha256_digest(config.as_bytes()), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": sha256_digest(&layer), "size": layer.len()}]
    })
    .to_string();
    let client = registry.client();
    for blob in [config.as_bytes().to_vec(), layer.clone()] {
        client.push_blob(BASE_REPO, &sha256_digest(&blob), || blob.clone().into());
    }
    client.put_manifest(BASE_REPO, &sha256_digest(manifest.as_bytes()), DOCKER_MANIFEST, manifest.as_bytes());
    (manifest.into_bytes(), vec![layer])
}

/// Three releases in a source registry that also holds the base image.
pub struct Bed {
    pub source: Registry,
    pub releases: Vec<GeneratedRelease>,
    pub base_layers: Vec<Vec<u8>>,
}

pub fn bed(count: usize) -> Bed {
    bed_with(count, ReleaseSpec::default())
}

/// [`bed`] with releases made from `spec`.
pub fn bed_with(count: usize, spec: ReleaseSpec) -> Bed {
    let source = Registry::start();
    let versions = ["4.99.0", "4.99.1", "4.99.2"];
    let releases: Vec<GeneratedRelease> = series(&ReleaseSpec { components: 4, ..spec }, &versions[..count], 0.5)
        .iter()
        .map(|spec| {
            let release = generate(spec, &source.host(), "ocp");
            release.push(&source);
            release
        })
        .collect();
    let base_layers = push_base(&source);
    Bed { source, releases, base_layers }
}

/// `--from` for each release, the base, `--insecure`, no signatures.
pub fn args(bed: &Bed, extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = bed.releases.iter().map(|r| format!("--from={}", r.release_ref())).collect();
    args.push(format!("--graph-data-base={}/{BASE_REPO}:latest", bed.source.host()));
    args.push("--insecure".into());
    args.push("--skip-release-image-signature".into());
    args.extend(extra.iter().cloned());
    args
}

/// The flags of a registry destination with a release repository and a graph-data image.
fn osus_to(dest: &Registry) -> Vec<String> {
    let host = dest.host();
    vec![
        format!("--to={host}/ocp/release"),
        format!("--to-release-repo={host}/ocp/release-images"),
        format!("--graph-data-image={host}/ocp/graph-data"),
    ]
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// The digest of the graph-data image the JSON report names.
fn image_digest(report: &Value) -> String {
    let image = report["graphDataImage"]["image"].as_str().expect("graphDataImage.image");
    image.rsplit_once('@').expect("by digest").1.to_string()
}

/// The release repository holds exactly one `<version>-x86_64` tag per release.
fn assert_release_repo_holds_only_releases(dest: &Client, releases: &[GeneratedRelease]) {
    let mut wanted: Vec<String> = releases.iter().map(|r| format!("{}-{}", r.version, r.arch)).collect();
    wanted.sort();
    assert_eq!(dest.list_tags("ocp/release-images"), wanted, "release tags only");
    for r in releases {
        let (_, _, digest) =
            dest.get_manifest("ocp/release-images", &format!("{}-{}", r.version, r.arch)).expect("tag");
        assert_eq!(digest, r.release_digest);
        let components = dest.list_tags("ocp/release");
        assert!(components.iter().all(|t| t != &format!("{}-{}", r.version, r.arch)), "{components:?}");
        assert!(components.iter().any(|t| t.starts_with(&format!("{}-{}-", r.version, r.arch))), "{components:?}");
    }
}

/// Read back from `dest`: base layers first byte for byte, the graph layer's files equal the
/// tarball's under the data folder, the config's diff_ids and `Cmd`.
fn assert_graph_image(dest: &Client, digest: &str, base_layers: &[Vec<u8>], tarball: &[u8]) {
    let (bytes, media_type, served) = dest.get_manifest("ocp/graph-data", digest).expect("graph-data manifest");
    assert_eq!(served, digest);
    assert_eq!(media_type, "application/vnd.docker.distribution.manifest.v2+json");
    let manifest: Value = serde_json::from_slice(&bytes).expect("manifest parses");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), base_layers.len() + 1);
    for (descriptor, base) in layers.iter().zip(base_layers) {
        let blob = dest.get_blob("ocp/graph-data", descriptor["digest"].as_str().unwrap()).expect("base layer");
        assert!(&blob == base, "base layer {} is not the base's byte for byte", descriptor["digest"]);
    }
    let last = layers.last().unwrap();
    assert_eq!(last["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip");
    let blob = dest.get_blob("ocp/graph-data", last["digest"].as_str().unwrap()).expect("graph layer");
    assert_eq!(files_of(&blob, PREFIX), files_of(tarball, ""), "the tarball's files under {PREFIX}");
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: Value = serde_json::from_slice(&dest.get_blob("ocp/graph-data", config_digest).expect("config"))
        .expect("config parses");
    assert_eq!(config["config"]["Cmd"], serde_json::json!(COMMAND));
    assert_eq!(config["config"]["Env"], serde_json::json!(["PATH=/usr/bin:/bin"]), "the base's settings stay");
    let diff_ids = config["rootfs"]["diff_ids"].as_array().expect("diff_ids");
    assert_eq!(diff_ids.len(), layers.len());
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut tar).expect("gunzip");
    assert_eq!(diff_ids.last().unwrap(), &sha256_digest(&tar));
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn registry_to_registry_builds_the_graph_data_image_and_names_it_by_digest_in_the_update_service() {
    let (b, dest) = (bed(3), Registry::start());
    let tarball = fixture_tarball();
    let mut extra = osus_to(&dest);
    extra.push(format!("--graph-data={}", tarball.display()));
    let out = run(args(&b, &extra));
    assert_success(&out);
    let client = dest.client();
    let digest = client.get_manifest("ocp/graph-data", "latest").expect("tagged latest").2;
    assert_graph_image(&client, &digest, &b.base_layers, &std::fs::read(&tarball).unwrap());
    assert_release_repo_holds_only_releases(&client, &b.releases);
    let text = stdout(&out);
    let host = dest.host();
    assert!(text.contains(&format!("Built graph-data image {host}/ocp/graph-data@{digest} on ")), "{text}");
    assert!(text.contains("  kind: UpdateService\n"), "{text}");
    assert!(text.contains(&format!("  graphDataImage: {host}/ocp/graph-data@{digest}\n")), "{text}");
    assert!(text.contains(&format!("    releases: {host}/ocp/release-images\n    replicas: 2\n")), "{text}");
    assert!(text.contains("oc patch clusterversion/version --type=merge"), "{text}");
    for r in &b.releases {
        let upgrade = format!("--to-image {host}/ocp/release-images@{}\n", r.release_digest);
        assert!(text.contains(&upgrade), "the upgrade commands name the release repository: {text}");
    }
    let release_source = format!("{}/{}", b.source.host(), b.releases[0].release_repo);
    assert!(
        text.contains(&format!("  - mirrors:\n    - {host}/ocp/release-images\n    source: {release_source}\n")),
        "{text}"
    );

    let skopeo = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &format!("docker://{host}/ocp/graph-data@{digest}")])
        .output()
        .expect("run skopeo");
    assert!(skopeo.status.success(), "skopeo: {}", String::from_utf8_lossy(&skopeo.stderr));
    let inspected: Value = serde_json::from_slice(&skopeo.stdout).expect("skopeo JSON");
    assert_eq!(inspected["Digest"], digest.as_str());
    assert_eq!(inspected["Layers"].as_array().map(Vec::len), Some(b.base_layers.len() + 1));

    // The same inputs again: the same digest, nothing copied.
    let mut again = args(&b, &extra);
    again.push("-o=json".into());
    let out = run(again);
    assert_success(&out);
    let report = json_of(&out);
    assert_eq!(image_digest(&report), digest, "the same inputs give the same digest");
    assert_eq!(report["graphDataImage"]["action"], "present");
    assert_eq!(report["updateService"]["graphDataImage"], format!("{host}/ocp/graph-data@{digest}"));
    assert_eq!(report["updateService"]["releases"], format!("{host}/ocp/release-images"));
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn registry_to_disk_to_registry_uploads_the_recorded_graph_data_image_beside_the_release_repo() {
    let b = bed(2);
    let dir = temp_dir();
    let tarball = fixture_tarball();
    let out = run(args(
        &b,
        &[
            format!("--to-dir={}", dir.path().display()),
            "--graph-data-image=file://openshift/graph-data".into(),
            format!("--graph-data={}", tarball.display()),
            "-o=json".into(),
        ],
    ));
    assert_success(&out);
    let written = json_of(&out);
    let digest = image_digest(&written);
    assert_eq!(written["updateService"], Value::Null, "no UpdateService for a disk image");
    let record = std::fs::read_to_string(dir.path().join("release-mirror/releases.json")).expect("record");
    assert!(record.contains(&format!("\"graphDataImage\": \"file://openshift/graph-data@{digest}\"")), "{record}");
    let upload = written["uploadCommands"][0].as_str().unwrap_or_default();
    assert!(upload.contains("--graph-data-image=REGISTRY/GRAPH-DATA-REPO"), "{upload}");

    let dest = Registry::start();
    let mut upload = osus_to(&dest);
    upload.extend([format!("--from-dir={}", dir.path().display()), "--insecure".into()]);
    upload.push("--skip-release-image-signature".into());
    let out = run(&upload);
    assert_success(&out);
    let client = dest.client();
    assert_eq!(client.get_manifest("ocp/graph-data", "latest").expect("uploaded").2, digest, "the tree's image");
    assert_graph_image(&client, &digest, &b.base_layers, &std::fs::read(&tarball).unwrap());
    assert_release_repo_holds_only_releases(&client, &b.releases);
    let text = stdout(&out);
    assert!(text.contains(&format!("  graphDataImage: {}/ocp/graph-data@{digest}\n", dest.host())), "{text}");
    assert!(stderr(&out).contains("uploading the graph-data image"), "{}", stderr(&out));
}
