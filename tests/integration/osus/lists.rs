//! Bases that are manifest lists: the image of the releases' platform, a list of built
//! images for releases of several architectures, and such a list carried to disk and up.

use super::synthetic::{osus_args, tarball};
use super::{args, bed, push_base_image, Bed, BASE_REPO, DOCKER_MANIFEST};
use crate::support::generator::generate;
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, run, sha256_digest, stdout, temp_dir};

/// Mirror `b`'s releases into `dest` with a graph-data image built on the list `BASE_REPO:list`.
fn run_on_the_list_base(b: &Bed, dest: &Registry) -> std::process::Output {
    let dir = temp_dir();
    let path = dir.path().join("graph-data.tar.gz");
    std::fs::write(&path, tarball(Some("1.1.0\n"), &[])).expect("write");
    let mut args = osus_args(b, dest, &path);
    args.retain(|a| !a.starts_with("--graph-data-base="));
    args.push(format!("--graph-data-base={}/{BASE_REPO}:list", b.source.host()));
    run(args)
}

#[test]
fn a_base_that_is_a_list_gives_an_image_on_the_releases_platform() {
    let b = bed(1);
    let (arm, _) = push_base_image(&b.source, "arm64");
    let (amd, amd_layers) = push_base_image(&b.source, "amd64");
    let entry = |manifest: &[u8], arch: &str| {
        serde_json::json!({"mediaType": DOCKER_MANIFEST, "digest": sha256_digest(manifest), "size": manifest.len(),
                           "platform": {"os": "linux", "architecture": arch}})
    };
    let list = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [entry(&arm, "arm64"), entry(&amd, "amd64")]
    })
    .to_string();
    let list_type = "application/vnd.docker.distribution.manifest.list.v2+json";
    b.source.client().put_manifest(BASE_REPO, "list", list_type, list.as_bytes());
    let dest = Registry::start();
    let out = run_on_the_list_base(&b, &dest);
    assert_success(&out);
    let text = stdout(&out);
    let base = format!(" on {}/{BASE_REPO}@{} ", b.source.host(), sha256_digest(&amd));
    assert!(text.contains(&base), "the amd64 image of the list is the base: {text}");
    let client = dest.client();
    let (bytes, _, _) = client.get_manifest("ocp/graph-data", "latest").expect("pushed");
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).expect("manifest");
    let first = manifest["layers"][0]["digest"].as_str().expect("a layer").to_string();
    assert_eq!(first, sha256_digest(&amd_layers[0]));
}

const LIST_TYPE: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// An x86_64 and an aarch64 release, and a base list `base/ubi:list` of amd64, s390x and
/// arm64 images: the list's bytes and the amd64 and arm64 base layers.
fn two_arch_bed() -> (Bed, String, [Vec<u8>; 2]) {
    let mut b = bed(1);
    let arm = generate(
        &ReleaseSpec { arch: "arm64".into(), components: 2, ..ReleaseSpec::default() },
        &b.source.host(),
        "ocp",
    );
    arm.push(&b.source);
    b.releases.push(arm);
    let (s390x, _) = push_base_image(&b.source, "s390x");
    let (arm_base, arm_layers) = push_base_image(&b.source, "arm64");
    let (amd_base, amd_layers) = push_base_image(&b.source, "amd64");
    let entry = |manifest: &[u8], arch: &str| {
        serde_json::json!({"mediaType": DOCKER_MANIFEST, "digest": sha256_digest(manifest), "size": manifest.len(),
                           "platform": {"os": "linux", "architecture": arch}})
    };
    let list = serde_json::json!({"schemaVersion": 2, "mediaType": LIST_TYPE,
        "manifests": [entry(&amd_base, "amd64"), entry(&s390x, "s390x"), entry(&arm_base, "arm64")]})
    .to_string();
    b.source.client().put_manifest(BASE_REPO, "list", LIST_TYPE, list.as_bytes());
    (b, list, [amd_layers[0].clone(), arm_layers[0].clone()])
}

/// The list at `digest` in `ocp/graph-data`: amd64 then arm64, each on its base layer.
fn assert_two_arch_list(client: &crate::support::http::Client, digest: &str, base_layers: &[Vec<u8>; 2]) {
    let (bytes, media_type, _) = client.get_manifest("ocp/graph-data", digest).expect("the list");
    assert_eq!(media_type, LIST_TYPE);
    let built: serde_json::Value = serde_json::from_slice(&bytes).expect("list");
    let entries = built["manifests"].as_array().expect("manifests");
    let archs: Vec<&str> = entries.iter().map(|e| e["platform"]["architecture"].as_str().unwrap()).collect();
    assert_eq!(archs, ["amd64", "arm64"], "the releases' platforms, in the base's order; s390x left out");
    for (entry, base_layer) in entries.iter().zip(base_layers) {
        let (child, _, _) = client.get_manifest("ocp/graph-data", entry["digest"].as_str().unwrap()).expect("child");
        let child: serde_json::Value = serde_json::from_slice(&child).expect("child manifest");
        assert_eq!(child["layers"][0]["digest"], sha256_digest(base_layer), "each platform on its own base");
        assert_eq!(child["layers"].as_array().map(Vec::len), Some(2));
        let config = client.get_blob("ocp/graph-data", child["config"]["digest"].as_str().unwrap()).expect("config");
        let config: serde_json::Value = serde_json::from_slice(&config).expect("config");
        assert_eq!(config["architecture"], entry["platform"]["architecture"]);
    }
}

#[test]
fn releases_of_two_architectures_get_a_list_built_on_both_images_of_the_base() {
    let (b, list, base_layers) = two_arch_bed();
    let dest = Registry::start();
    let out = run_on_the_list_base(&b, &dest);
    assert_success(&out);
    let client = dest.client();
    let digest = client.get_manifest("ocp/graph-data", "latest").expect("pushed").2;
    assert!(
        stdout(&out).contains(&format!(
            "/ocp/graph-data@{digest} on {}/{BASE_REPO}@{}",
            b.source.host(),
            sha256_digest(list.as_bytes())
        )),
        "{}",
        stdout(&out)
    );
    assert_two_arch_list(&client, &digest, &base_layers);
}

#[test]
fn a_list_graph_data_image_goes_to_disk_and_up_again_whole() {
    let (b, _, base_layers) = two_arch_bed();
    let (dir, tarball_dir) = (temp_dir(), temp_dir());
    let path = tarball_dir.path().join("graph-data.tar.gz");
    std::fs::write(&path, tarball(Some("1.1.0\n"), &[])).expect("write");
    let mut to_disk = args(
        &b,
        &[
            format!("--to-dir={}", dir.path().display()),
            "--graph-data-image=file://openshift/graph-data".into(),
            format!("--graph-data={}", path.display()),
            "-o=json".into(),
        ],
    );
    to_disk.retain(|a| !a.starts_with("--graph-data-base="));
    to_disk.push(format!("--graph-data-base={}/{BASE_REPO}:list", b.source.host()));
    let out = run(to_disk);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let image = report["graphDataImage"]["image"].as_str().expect("image").to_string();
    let digest = image.rsplit_once('@').expect("by digest").1.to_string();
    let dest = Registry::start();
    let host = dest.host();
    let out = run([
        format!("--from-dir={}", dir.path().display()),
        format!("--to={host}/ocp/release"),
        format!("--to-release-repo={host}/ocp/release-images"),
        format!("--graph-data-image={host}/ocp/graph-data"),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ]);
    assert_success(&out);
    let client = dest.client();
    assert_eq!(client.get_manifest("ocp/graph-data", "latest").expect("uploaded").2, digest, "the tree's list");
    assert_two_arch_list(&client, &digest, &base_layers);
}
