//! Registry → registry mirroring against real docker-registry processes.

use serde_json::Value;

use crate::support::generator::{generate, GeneratedImage, GeneratedRelease};
use crate::support::http::Client;
use crate::support::registry::{Registry, RegistryOptions};
use crate::support::spec::{Media, ReleaseSpec};
use crate::support::{assert_success, run, run_in, stderr, stdout, temp_dir};

const DEST_REPO: &str = "mirror/ocp/release";

/// A pushed release in its own source registry.
pub struct Source {
    pub registry: Registry,
    pub release: GeneratedRelease,
}

pub fn source_with(spec: ReleaseSpec) -> Source {
    let registry = Registry::start();
    let release = generate(&spec, &registry.host(), "ocp");
    release.push(&registry);
    Source { registry, release }
}

pub fn mirror_args(src: &Source, dest: &Registry, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        format!("--from={}", src.release.release_ref()),
        format!("--to={}/{DEST_REPO}", dest.host()),
        "--insecure".to_string(),
        // Generated releases are unsigned; signatures are tested in signatures.rs.
        "--skip-release-image-signature".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Every image of the release is in `dest` under its planned tag, with the source's bytes
/// and digest, every platform manifest of a list and every blob.
pub fn assert_complete(src: &GeneratedRelease, dest: &Client) {
    assert_complete_in(src, dest, DEST_REPO);
}

/// [`assert_complete`] for the destination repository `repo`.
pub fn assert_complete_in(src: &GeneratedRelease, dest: &Client, repo: &str) {
    let release_tag = format!("{}-{}", src.version, src.arch);
    assert_same_image(dest, repo, &release_tag, &src.release);
    for image in &src.images {
        assert_same_image(dest, repo, &src.mirror_tag(&image.name), image);
    }
}

fn assert_same_image(dest: &Client, repo: &str, tag: &str, image: &GeneratedImage) {
    let (bytes, content_type, digest) =
        dest.get_manifest(repo, tag).unwrap_or_else(|| panic!("tag {tag} missing at the destination"));
    assert_eq!(bytes, image.manifest, "manifest bytes of {tag} differ");
    assert_eq!(content_type, image.media_type, "Content-Type of {tag}");
    assert_eq!(digest, image.digest, "digest of {tag}");
    for child in &image.children {
        let (bytes, content_type, _) = dest.get_manifest(repo, &child.digest).expect("platform manifest present");
        assert_eq!(bytes, child.manifest, "platform manifest {} of {tag}", child.name);
        assert_eq!(content_type, child.media_type, "Content-Type of platform manifest {} of {tag}", child.name);
    }
    for blob in &image.blobs {
        assert!(dest.blob_exists(repo, blob), "blob {blob} of {tag} missing");
    }
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(out)))
}

fn twenty(media: Media) -> ReleaseSpec {
    ReleaseSpec { components: 20, media, multi_arch_components: 1, ..ReleaseSpec::default() }
}

#[test]
fn mirrors_a_twenty_component_docker_release_byte_for_byte() {
    let src = source_with(twenty(Media::Docker));
    let dest = Registry::start();
    let out = run(mirror_args(&src, &dest, &[]));
    assert_success(&out);
    assert_complete(&src.release, &dest.client());
    let text = stdout(&out);
    let release_dest = format!("{}/{DEST_REPO}:4.99.0-x86_64", dest.host());
    assert!(text.starts_with("Success\n"), "{text}");
    assert!(text.contains(&format!("Update image:  {release_dest}")), "{text}");
    assert!(text.contains("kind: ImageDigestMirrorSet"), "{text}");
    assert!(text.contains(&format!("  source: {}/ocp/ocp-v4.0-art-dev", src.registry.host())), "{text}");
    let upgrade = format!(
        "oc adm upgrade --allow-explicit-upgrade --to-image {}/{DEST_REPO}@{}",
        dest.host(),
        src.release.release_digest
    );
    assert!(text.contains(&upgrade), "{text}");
}

#[test]
fn mirrors_a_twenty_component_oci_release_with_a_multi_arch_component() {
    let src = source_with(twenty(Media::Oci));
    assert!(src.release.images.iter().any(|i| i.children.len() == 2), "the generator made a list");
    let dest = Registry::start();
    assert_success(&run(mirror_args(&src, &dest, &["-q"])));
    assert_complete(&src.release, &dest.client());
}

#[test]
fn a_second_run_copies_nothing_and_says_so() {
    let src = source_with(ReleaseSpec { components: 5, ..ReleaseSpec::default() });
    let dest = Registry::start();
    let first = json(&run(mirror_args(&src, &dest, &["-o", "json"])));
    assert!(first["transfer"]["blobsCopied"].as_u64().unwrap() > 0);
    let out = run(mirror_args(&src, &dest, &["-o", "json"]));
    assert_success(&out);
    let second = json(&out);
    assert_eq!(second["transfer"]["blobsCopied"], 0);
    assert_eq!(second["transfer"]["manifestsPushed"], 0);
    assert_eq!(second["transfer"]["imagesCompleteBefore"], second["transfer"]["images"]);
    assert!(stderr(&out).contains("nothing to copy"), "{}", stderr(&out));
}

#[test]
fn a_partial_destination_gets_only_what_it_lacks() {
    let src = source_with(ReleaseSpec { components: 4, ..ReleaseSpec::default() });
    let dest = Registry::start();
    assert_success(&run(mirror_args(&src, &dest, &["--skip-release-image", "-q"])));
    let out = run(mirror_args(&src, &dest, &["-o", "json"]));
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["transfer"]["imagesCompleteBefore"], 4, "components were complete");
    assert_eq!(summary["transfer"]["manifestsPushed"], 1, "only the release manifest");
    assert!(summary["transfer"]["blobsSkipped"].as_u64().unwrap() > 0, "shared layers reused");
    assert_complete(&src.release, &dest.client());
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let src = source_with(ReleaseSpec::default());
    let dest = Registry::start();
    let out = run(mirror_args(&src, &dest, &["--dry-run"]));
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("Dry run: nothing was copied."), "{text}");
    assert!(text.contains(&format!("cli: {}/ocp/ocp-v4.0-art-dev@", src.registry.host())), "{text}");
    let blobs = src.release.all_blob_digests().len();
    assert!(text.contains(&format!("Would copy {blobs} blobs")), "{text}");
    assert_eq!(dest.client().catalog(), Vec::<String>::new(), "the destination stays empty");
}

#[test]
fn same_registry_mirrors_mount_blobs_instead_of_copying() {
    let src = source_with(ReleaseSpec::default());
    let args = vec![
        format!("--from={}", src.release.release_ref()),
        format!("--to={}/{DEST_REPO}", src.registry.host()),
        "--insecure".to_string(),
        "--skip-release-image-signature".to_string(),
        "-o".to_string(),
        "json".to_string(),
    ];
    let out = run(args);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["transfer"]["bytesCopied"], 0, "{summary}");
    assert!(summary["transfer"]["blobsMounted"].as_u64().unwrap() > 0);
    assert_complete(&src.release, &src.registry.client());
}

#[test]
fn to_release_image_and_icsp_instructions() {
    let src = source_with(ReleaseSpec::default());
    let dest = Registry::start();
    let release_image = format!("{}/elsewhere/release:custom", dest.host());
    let out = run(mirror_args(
        &src,
        &dest,
        &[&format!("--to-release-image={release_image}"), "--print-mirror-instructions=icsp"],
    ));
    assert_success(&out);
    let (bytes, _, _) = dest.client().get_manifest("elsewhere/release", "custom").expect("release image");
    assert_eq!(bytes, src.release.release_manifest);
    assert!(dest.client().get_manifest(DEST_REPO, "4.99.0-x86_64").is_none(), "not under --to");
    let text = stdout(&out);
    assert!(text.contains("kind: ImageContentSourcePolicy") && text.contains("imageContentSources:"), "{text}");
    assert!(text.contains(&format!("Update image:  {release_image}")), "{text}");
}

fn auth_file(dir: &std::path::Path, host: &str, user: &str, password: &str) -> std::path::PathBuf {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let path = dir.join("pull-secret.json");
    std::fs::write(&path, format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#)).unwrap();
    path
}

#[test]
fn basic_auth_registries_work_with_a_pull_secret_and_never_leak_it() {
    let password = "s3cret-Pa55word";
    let src = source_with(ReleaseSpec::default());
    let dest = Registry::start_with(RegistryOptions { htpasswd: Some(("mirror".into(), password.into())), tls: false });
    let home = temp_dir();
    let secret = auth_file(home.path(), &dest.host(), "mirror", password);
    let out = run_in(home.path(), mirror_args(&src, &dest, &["-a", secret.to_str().unwrap(), "-v"]));
    assert_success(&out);
    assert_complete(&src.release, &dest.client().with_basic("mirror", password));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains(password), "the password appears in the output");
}

#[test]
fn credentials_come_from_the_default_docker_config() {
    let src = source_with(ReleaseSpec { components: 2, ..ReleaseSpec::default() });
    let dest = Registry::start_with(RegistryOptions { htpasswd: Some(("u".into(), "pw".into())), tls: false });
    let home = temp_dir();
    std::fs::create_dir_all(home.path().join(".docker")).unwrap();
    let file = auth_file(home.path(), &dest.host(), "u", "pw");
    std::fs::rename(file, home.path().join(".docker/config.json")).unwrap();
    assert_success(&run_in(home.path(), mirror_args(&src, &dest, &["-q"])));
    assert_complete(&src.release, &dest.client().with_basic("u", "pw"));
}

#[test]
fn tls_registries_are_verified_against_the_given_certificate_authority() {
    let tls = || Registry::start_with(RegistryOptions { htpasswd: None, tls: true });
    let (source, dest) = (tls(), tls());
    let release = generate(&ReleaseSpec { components: 2, ..ReleaseSpec::default() }, &source.host(), "ocp");
    release.push_with(&source.client());
    let args = |extra: &[String]| {
        let mut a = vec![
            format!("--from={}", release.release_ref()),
            format!("--to={}/{DEST_REPO}", dest.host()),
            "--skip-release-image-signature".to_string(),
        ];
        a.extend(extra.iter().cloned());
        a
    };
    let unverified = run(args(&[]));
    assert_eq!(unverified.status.code(), Some(1));
    // Refused for its certificate (not for being unreachable), the cause named.
    let err = stderr(&unverified);
    assert!(err.contains(&format!("  caused by: cannot reach registry {}\n", source.host())), "{err}");
    assert!(err.ends_with("  caused by: invalid peer certificate: UnknownIssuer\n"), "{err}");

    let dir = temp_dir();
    let bundle = dir.path().join("bundle.pem");
    let pem = [source.ca_path().unwrap(), dest.ca_path().unwrap()].map(|p| std::fs::read(p).unwrap()).concat();
    std::fs::write(&bundle, pem).unwrap();
    assert_success(&run(args(&[format!("--certificate-authority={}", bundle.display()), "-q".into()])));
    assert_complete(&release, &dest.client());
}
