//! Hostile input: payload tar entries that escape or are huge, image-references that are
//! huge, deep or name escaping components, escaping versions and names, oversized and
//! unknown manifests, oversized signature bodies, malformed kubeconfigs. Each is refused
//! with a clear error (or ignored where harmless), nothing is written outside the target,
//! and nothing panics.

mod commands;
mod graph;
mod image;
mod record;
mod updateservice;

use std::path::Path;
use std::process::Output;

use image::{image_references, layer, manifest_entries, push_release, with_image_references, Entry};

use crate::faults::{args, bed, Bed, DEST_REPO};
use crate::support::proxy::{Action, Fault};
use crate::support::registry::Registry;
use crate::support::sigstore::{Mode, SigStore};
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, run, run_in, stderr, stdout, temp_dir};

const TAG: &str = "hostile";

/// Exit code 1, 2, 3 or 5 as `code` says, every needle in stderr, no panic.
fn assert_refused(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stdout:\n{}\nstderr:\n{err}", stdout(out));
    assert!(!err.contains("panicked"), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    }
}

/// Mirror with `args` into a fresh registry (`--to=…/mirror/ocp/release`, `--insecure`, the
/// GPG check skipped): exit 1 with `needle` in stderr, no panic, and nothing copied.
fn assert_refused_with_nothing_copied(mut args: Vec<String>, needle: &str) {
    let dest = Registry::start();
    args.extend([
        format!("--to={}/mirror/ocp/release", dest.host()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ]);
    assert_refused(&run(args), 1, &[needle]);
    assert!(dest.client().catalog().is_empty(), "nothing is copied");
}

/// Exit code 1, no panic, and stderr ending with exactly `refusal` (the error and its causes).
fn assert_refused_with(out: &Output, refusal: &str, case: &str) {
    assert_refused(out, 1, &[]);
    let err = stderr(out);
    assert!(err.ends_with(refusal), "{case}: stderr does not end with\n{refusal}--- stderr\n{err}");
}

/// Push a release image made of these entries (one layer) next to the bed's release.
fn push_hostile(b: &Bed, entries: &[Entry], arch: &str) -> String {
    push_hostile_digest(b, entries, arch).0
}

/// [`push_hostile`], and the release image's digest.
fn push_hostile_digest(b: &Bed, entries: &[Entry], arch: &str) -> (String, String) {
    let repo = &b.release.release_repo;
    let digest = push_release(&b.registry.client(), repo, TAG, arch, &[layer(entries)]);
    (format!("--from={}/{repo}:{TAG}", b.proxy.host()), digest)
}

/// Every component is at the destination under its tag, and the release image as `digest`.
fn assert_mirrored(b: &Bed, dest: &Registry, digest: &str) {
    let client = dest.client();
    let tag = format!("{}-{}", b.release.version, b.release.arch);
    assert_eq!(client.get_manifest(DEST_REPO, &tag).expect("release tag").2, digest);
    for image in &b.release.images {
        let (_, _, stored) = client.get_manifest(DEST_REPO, &b.release.mirror_tag(&image.name)).expect("component");
        assert_eq!(stored, image.digest, "{}", image.name);
        assert!(image.blobs.iter().all(|blob| client.blob_exists(DEST_REPO, blob)), "{}", image.name);
    }
}

/// Mirror `from` into a fresh registry; the bed's proxy is the source.
fn mirror(b: &Bed, from: String, to: &str, extra: &[&str]) -> Output {
    let mut a = args(&b.release, to.to_string(), extra);
    a[0] = from;
    run(a)
}

/// Nothing is in `dir` (or it was never made); a directory that cannot be read fails the test.
fn is_empty(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => panic!("read {}: {e}", dir.display()),
    }
}

#[test]
fn escaping_linked_and_huge_tar_entries_are_ignored_and_nothing_is_written_outside() {
    let b = bed(ReleaseSpec::default());
    let outside = temp_dir();
    let o = outside.path().display().to_string();
    let mut entries = vec![
        Entry::File(format!("release-manifests/../../../../../../../../../..{o}/dotdot"), b"x".to_vec()),
        Entry::File(format!("{o}/absolute"), b"x".to_vec()),
        Entry::File("../release-manifests/image-references".into(), b"not json".to_vec()),
        Entry::Symlink("release-manifests/out".into(), o.clone()),
        Entry::File("release-manifests/out/through-link".into(), b"x".to_vec()),
        Entry::Hardlink("release-manifests/passwd.yaml".into(), "/etc/passwd".into()),
        Entry::Zeros("release-manifests/huge.bin".into(), 64 << 20),
        Entry::Zeros("release-manifests/huge.yaml".into(), 20 << 20),
    ];
    entries.extend(manifest_entries(&b.release));
    let (from, digest) = push_hostile_digest(&b, &entries, "amd64");
    let dest = Registry::start();
    let home = temp_dir();
    let mut a = args(&b.release, format!("--to={}/{DEST_REPO}", dest.host()), &["-q"]);
    a[0] = from;
    assert_success(&run_in(home.path(), a));
    assert_mirrored(&b, &dest, &digest);
    assert!(is_empty(outside.path()), "written outside: {:?}", std::fs::read_dir(outside.path()).unwrap().count());
    assert!(is_empty(home.path()), "written into the working directory");
}

/// A tool that followed links would find a valid image-references through either link and
/// mirror the release; links are never read, so there is none, and the image is refused.
#[test]
fn an_image_references_that_is_only_a_link_is_not_followed() {
    let b = bed(ReleaseSpec::default());
    let valid = image_references(&b.release, "4.99.0", &[]);
    let others: Vec<Entry> = manifest_entries(&b.release)
        .into_iter()
        .filter(|e| !matches!(e, Entry::File(path, _) if path == "release-manifests/image-references"))
        .collect();
    let links = [
        Entry::Symlink("release-manifests/image-references".into(), "../payload/image-references".into()),
        Entry::Hardlink("release-manifests/image-references".into(), "payload/image-references".into()),
    ];
    for link in links {
        let kind = if matches!(link, Entry::Symlink(..)) { "symbolic" } else { "hard" };
        let mut entries = vec![Entry::File("payload/image-references".into(), valid.clone()), link];
        entries.extend(others.iter().cloned());
        let from = push_hostile(&b, &entries, "amd64");
        let dest = Registry::start();
        let out = mirror(&b, from.clone(), &format!("--to={}/{DEST_REPO}", dest.host()), &[]);
        let image = from.trim_start_matches("--from=");
        let refusal = format!(
            "error: release image {image} has no release-manifests/image-references: it is not an OpenShift release image\n"
        );
        assert_refused_with(&out, &refusal, &format!("{kind} link"));
        assert!(dest.client().catalog().is_empty(), "{kind} link: nothing copied");
    }
}

#[test]
fn an_image_references_over_the_size_limit_is_refused() {
    let b = bed(ReleaseSpec::default());
    let mut huge = image_references(&b.release, "4.99.0", &[]);
    huge.resize(17 << 20, b' ');
    let from = push_hostile(&b, &with_image_references(&b.release, huge), "amd64");
    let dest = Registry::start();
    let out = mirror(&b, from, &format!("--to={}/{DEST_REPO}", dest.host()), &[]);
    assert_refused(&out, 1, &["release-manifests/image-references is 17825792 bytes, over the limit of 16777216"]);
    assert!(dest.client().catalog().is_empty());
}

#[test]
fn a_deeply_nested_image_references_is_refused_without_overflowing() {
    let b = bed(ReleaseSpec::default());
    let nest = 200_000;
    let deep = format!(r#"{{"kind":"ImageStream","status":{}{}}}"#, "[".repeat(nest), "]".repeat(nest)).into_bytes();
    let from = push_hostile(&b, &with_image_references(&b.release, deep), "amd64");
    let out = mirror(&b, from, "--to=127.0.0.1:1/x", &[]);
    assert_refused(&out, 1, &["invalid release-manifests/image-references"]);
}

#[test]
fn components_with_escaping_names_or_repositories_are_refused() {
    let b = bed(ReleaseSpec::default());
    let digest = b.release.images[0].digest.clone();
    let host = b.proxy.host();
    let cases = [
        ("../../../etc", format!("{host}/ocp/x@{digest}"), "component name \"../../../etc\" is not usable in a tag"),
        ("a/b", format!("{host}/ocp/x@{digest}"), "component name \"a/b\" is not usable in a tag"),
        ("escape", format!("{host}/ocp/../../../etc@{digest}"), "invalid image reference"),
        ("absolute", format!("{host}//etc/passwd@{digest}"), "invalid image reference"),
    ];
    for (name, spec, want) in cases {
        let refs = image_references(&b.release, "4.99.0", &[(name, spec)]);
        let from = push_hostile(&b, &with_image_references(&b.release, refs), "amd64");
        let media = temp_dir();
        let out = mirror(&b, from, &format!("--to-dir={}", media.path().display()), &[]);
        assert_refused(&out, 1, &[want]);
        assert!(is_empty(media.path()), "{name}: nothing written");
    }
}

#[test]
fn an_escaping_version_or_architecture_never_becomes_a_path() {
    let b = bed(ReleaseSpec::default());
    let outside = temp_dir();
    let escape = format!("../../../../../../../..{}/v", outside.path().display());
    for (version, arch) in [(escape.as_str(), "amd64"), ("4.99.0", "../../../../x"), ("4.99.0", "a/b")] {
        let refs = image_references(&b.release, version, &[]);
        let from = push_hostile(&b, &with_image_references(&b.release, refs), arch);
        let media = temp_dir();
        let out = mirror(&b, from.clone(), &format!("--to-dir={}", media.path().display()), &[]);
        let tag = format!("{version}-{}", if arch == "amd64" { "x86_64" } else { arch });
        let rule = format!("tag \"{tag}\" must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}");
        let refusal = format!(
            "error: failed to inspect file://openshift/release:{tag} at the destination\n  caused by: invalid name in \
             the disk tree {}: {rule}\n",
            media.path().display()
        );
        assert_refused_with(&out, &refusal, &format!("{version} {arch}"));
        let dest = Registry::start();
        let out = mirror(&b, from, &format!("--to={}/{DEST_REPO}", dest.host()), &[]);
        let (to, host) = (format!("{}/{DEST_REPO}:{tag}", dest.host()), dest.host());
        let refusal = format!(
            "error: failed to inspect {to} at the destination\n  caused by: refusing a request to registry {host}: {rule}\n"
        );
        assert_refused_with(&out, &refusal, &format!("{version} {arch}"));
        assert!(dest.client().list_tags(DEST_REPO).is_empty(), "{version} {arch}: no tag written");
        assert!(is_empty(outside.path()), "{version} {arch}: written outside");
    }
}

#[test]
fn a_manifest_over_4_mib_is_refused() {
    let b = bed(ReleaseSpec::default());
    let victim = b.release.component("cli").digest.clone();
    let mut body = b"{\"schemaVersion\":2,\"padding\":\"".to_vec();
    body.resize(5 << 20, b'a');
    body.extend_from_slice(b"\"}");
    let content_type = "application/vnd.docker.distribution.manifest.v2+json".to_string();
    b.proxy.add(Fault::new(Action::Reply { content_type, body }).on("GET", &format!("/manifests/{victim}")).always());
    let dest = Registry::start();
    let out = run(args(&b.release, format!("--to={}/{DEST_REPO}", dest.host()), &[]));
    let want =
        format!("manifest ocp/ocp-v4.0-art-dev:{victim} from registry {} is larger than the limit", b.proxy.host());
    assert_refused(&out, 1, &[&want, "4194304 bytes"]);
    assert!(dest.client().catalog().is_empty());
}

#[test]
fn unknown_manifest_media_types_are_refused() {
    let b = bed(ReleaseSpec::default());
    let tag = format!("/manifests/{}", b.release.release_tag);
    let cases = [
        (
            "application/vnd.example.unknown+json",
            r#"{"schemaVersion":2,"mediaType":"application/vnd.example.unknown+json"}"#,
            "unsupported manifest media type \"application/vnd.example.unknown+json\"",
        ),
        (
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            r#"{"schemaVersion":1,"name":"ocp/release","tag":"x","fsLayers":[]}"#,
            "manifest schemaVersion is 1",
        ),
        ("text/html", "<html>maintenance</html>", "not valid JSON"),
    ];
    for (content_type, body, want) in cases {
        b.proxy.clear_faults();
        let reply = Action::Reply { content_type: content_type.to_string(), body: body.as_bytes().to_vec() };
        b.proxy.add(Fault::new(reply).on("GET", &tag).always());
        let media = temp_dir();
        let out = run(args(&b.release, format!("--to-dir={}", media.path().display()), &[]));
        assert_refused(&out, 1, &[want]);
        assert!(is_empty(media.path()), "{content_type}: nothing written");
    }
}

#[test]
fn a_signature_store_body_over_1_mib_is_refused() {
    let store = SigStore::start(Mode::Serve);
    let key = crate::support::gpg::keys().gpg.export(&crate::support::gpg::keys().ed25519);
    let dir = temp_dir();
    let keyring = dir.path().join("key.asc");
    std::fs::write(&keyring, key).expect("write keyring");
    let b = bed(ReleaseSpec::default());
    store.put(&b.release.release_digest, 1, vec![0xa3; (1 << 20) + 1]);
    let dest = Registry::start();
    let mut a = args(&b.release, format!("--to={}/{DEST_REPO}", dest.host()), &[]);
    a.retain(|x| x != "--skip-release-image-signature");
    a.push(format!("--release-image-signature-store={}", store.url()));
    a.push(format!("--release-image-signature-key={}", keyring.display()));
    let out = run(a);
    assert_refused(&out, 3, &["is larger than 1048576 bytes: not a signature"]);
    assert!(dest.client().catalog().is_empty(), "nothing copied");
}

#[test]
fn escaping_references_on_the_command_line_are_usage_errors() {
    let cases: [&[&str]; 4] = [
        &["--from=q.io/ocp/release:1", "--to=127.0.0.1:5000/../../etc"],
        &["--from=q.io/ocp/release:../../x", "--to=m.io/x"],
        &["--from=q.io/ocp/release:1", "--to=m.io/x", "--to-release-image=m.io/r:a/b"],
        &["--from=q.io/ocp/release:1", "--to=file://../../x", "--to-dir=/nonexistent"],
    ];
    for case in cases {
        assert_refused(&run(case), 2, &["invalid image reference"]);
    }
}

#[test]
fn malformed_kubeconfigs_are_refused_clearly() {
    let home = temp_dir();
    let garbage = home.path().join("garbage");
    std::fs::write(&garbage, [0xff, 0xfe, 0x00, 0x9c, b':', b'{']).expect("write");
    let wrong_types = home.path().join("wrong-types");
    std::fs::write(&wrong_types, "apiVersion: v1\nkind: Config\nclusters: 7\ncontexts: {a: [1]}\nusers: x\n")
        .expect("write");
    let laughs = home.path().join("laughs");
    let mut bomb = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (i, prev) in ('b'..='j').zip('a'..='i') {
        bomb.push_str(&format!(
            "{i}: &{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
    }
    std::fs::write(&laughs, bomb).expect("write");
    for file in [&garbage, &wrong_types, &laughs] {
        let out = run_in(
            home.path(),
            [
                "--from=127.0.0.1:1/ocp/release:1".to_string(),
                "--to=127.0.0.1:1/x".to_string(),
                "--apply-release-image-signature".to_string(),
                format!("--kubeconfig={}", file.display()),
            ],
        );
        assert_refused(&out, 5, &[&format!("kubeconfig {}", file.display())]);
    }
}
