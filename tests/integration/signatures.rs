//! Release signatures: fetched from a local HTTP store or a file:// store, verified with keys
//! and signatures made by real GnuPG, checked BEFORE anything is copied, and written as the
//! ConfigMap the cluster-version operator reads.

mod refusals;
use refusals::rsa_key;
mod v3;

use std::path::Path;
use std::process::Output;

use base64::Engine as _;
use serde_json::Value;

use crate::mirror::{source_with, Source};
use crate::support::gpg::{atomic_payload, ed25519_file_store, keys};
use crate::support::registry::Registry;
use crate::support::sigstore::{path_of, Mode, SigStore};
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, run, stderr, stdout, temp_dir};

const IDENTITY: &str = "quay.io/openshift-release-dev/ocp-release:4.99.0-x86_64";

/// A release whose payload names these keyrings and stores.
fn release(keys: &[(&str, String)], stores: &[(&str, String)]) -> Source {
    let owned = |pairs: &[(&str, String)]| pairs.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
    source_with(ReleaseSpec { verification_keys: owned(keys), stores: owned(stores), ..ReleaseSpec::default() })
}

fn mirror(src: &Source, dest: &Registry, extra: &[String]) -> Output {
    let mut args =
        vec![format!("--from={}", src.release.release_ref()), format!("--to={}/mirror/ocp/release", dest.host())];
    args.push("--insecure".into());
    args.extend(extra.iter().cloned());
    run(args)
}

fn digest_of(src: &Source) -> String {
    src.release.release_digest.clone()
}

fn config_map_path(dir: &Path, digest: &str) -> std::path::PathBuf {
    dir.join(format!("signature-sha256-{}.yaml", &digest["sha256:".len().."sha256:".len() + 16]))
}

/// The ConfigMap file parsed, checked against DESIGN §5, and its decoded signatures in order.
fn read_config_map(path: &Path, digest: &str) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cm: Value = serde_saphyr::from_str(&text).expect("the ConfigMap is YAML");
    let name = digest.replacen(':', "-", 1);
    assert_eq!(cm["apiVersion"], "v1", "{text}");
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["name"], name.as_str());
    assert_eq!(cm["metadata"]["namespace"], "openshift-config-managed");
    assert_eq!(cm["metadata"]["labels"]["release.openshift.io/verification-signatures"], "");
    let data = cm["binaryData"].as_object().expect("binaryData");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).expect("stat").permissions());
    assert_eq!(mode & 0o777, 0o644);
    (1..=data.len())
        .map(|n| {
            let b64 = data[&format!("{name}-{n}")].as_str().expect("base64 text");
            base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")
        })
        .collect()
}

#[test]
fn rsa_signature_from_the_payload_http_store_is_verified_and_written_as_the_configmap() {
    let k = keys();
    let store = SigStore::start(Mode::Serve);
    let src = release(&[("test", k.gpg.export(&k.rsa))], &[("local", store.url())]);
    let digest = digest_of(&src);
    let signature = k.gpg.sign(&k.rsa, &atomic_payload(&digest, IDENTITY), true);
    store.put(&digest, 1, signature.clone());
    let (dest, dir) = (Registry::start(), temp_dir());
    let out = mirror(&src, &dest, &[format!("--release-image-signature-to-dir={}", dir.path().display())]);
    assert_success(&out);
    let path = config_map_path(dir.path(), &digest);
    assert_eq!(read_config_map(&path, &digest), [signature]);
    let text = stdout(&out);
    assert!(text.contains(&format!("Configmap {} created", path.display())), "{text}");
    assert!(text.contains(&format!("oc apply -f {}", path.display())), "{text}");
    assert!(text.contains("Release signature: valid for keyring verifier-public-key-test"), "{text}");
    assert!(!dest.client().catalog().is_empty(), "the release was mirrored");
}

#[test]
fn ed25519_uncompressed_signature_from_a_file_store_goes_to_the_to_dir_config() {
    let src = release(&[], &[]);
    let digest = digest_of(&src);
    let (store, key, signature) = ed25519_file_store(&digest, IDENTITY);
    let media = temp_dir();
    let out = run([
        format!("--from={}", src.release.release_ref()),
        format!("--to-dir={}", media.path().display()),
        "--insecure".into(),
        format!("--release-image-signature-store=file://{}", store.path().display()),
        format!("--release-image-signature-key={}", key.display()),
        "-o".into(),
        "json".into(),
    ]);
    assert_success(&out);
    let path = config_map_path(&media.path().join("config"), &digest);
    assert_eq!(read_config_map(&path, &digest), [signature]);
    let summary: Value = serde_json::from_slice(&out.stdout).expect("json summary");
    let sig = &summary["signature"];
    assert_eq!(sig["file"], path.display().to_string().as_str());
    assert_eq!(sig["configMapName"], digest.replacen(':', "-", 1).as_str());
    assert_eq!(sig["signatures"][0]["keyring"], "ed25519.asc");
    assert_eq!(sig["signatures"][0]["identity"], IDENTITY);
    assert_eq!(sig["signatures"][0]["keyFingerprint"], keys().ed25519.as_str());
    assert!(sig["signatures"][0]["created"].as_str().is_some_and(|c| c.ends_with('Z')), "{sig}");
}

#[test]
fn every_keyring_needs_a_signature_a_subkey_may_sign_and_a_5xx_moves_to_the_next_n() {
    let k = keys();
    let (primary, subkey) = &k.with_subkey;
    let store = SigStore::start(Mode::Serve);
    let keyrings = [("a-rsa", k.gpg.export(&k.rsa)), ("b-subkey", k.gpg.export(primary))];
    let src = release(&keyrings, &[("local", store.url())]);
    let digest = digest_of(&src);
    let by_rsa = k.gpg.sign(&k.rsa, &atomic_payload(&digest, IDENTITY), true);
    let by_subkey = k.gpg.sign(subkey, &atomic_payload(&digest, IDENTITY), false);
    store.put_status(&digest, 1, 500);
    store.put(&digest, 2, by_rsa.clone());
    store.put(&digest, 3, by_subkey.clone());
    let (dest, dir) = (Registry::start(), temp_dir());
    let out = mirror(&src, &dest, &[format!("--release-image-signature-to-dir={}", dir.path().display())]);
    assert_success(&out);
    assert_eq!(read_config_map(&config_map_path(dir.path(), &digest), &digest), [by_rsa, by_subkey]);
    assert!(stdout(&out).contains(&format!("(subkey of {primary})")), "{}", stdout(&out));
    assert_eq!(store.requests().len(), 3, "stops once every keyring is satisfied: {:?}", store.requests());
}

#[test]
fn skipping_mirrors_an_unsigned_release_with_a_warning_and_no_configmap() {
    let src = release(&[], &[]);
    let media = temp_dir();
    let out = run([
        format!("--from={}", src.release.release_ref()),
        format!("--to-dir={}", media.path().display()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
    ]);
    assert_success(&out);
    assert!(stderr(&out).contains("warning: --skip-release-image-signature"), "{}", stderr(&out));
    assert!(!media.path().join("config").exists(), "no ConfigMap when skipping");
    assert!(!stdout(&out).contains("Configmap"), "{}", stdout(&out));
}

#[test]
fn a_dry_run_verifies_and_says_what_it_would_write_without_writing() {
    let k = keys();
    let store = SigStore::start(Mode::Serve);
    let src = release(&[("test", rsa_key())], &[("local", store.url())]);
    let digest = digest_of(&src);
    store.put(&digest, 1, k.gpg.sign(&k.rsa, &atomic_payload(&digest, IDENTITY), true));
    let (dest, dir) = (Registry::start(), temp_dir());
    let target = dir.path().join("sigs");
    let out =
        mirror(&src, &dest, &["--dry-run".into(), format!("--release-image-signature-to-dir={}", target.display())]);
    assert_success(&out);
    let path = config_map_path(&target, &digest);
    assert!(stdout(&out).contains(&format!("Would create Configmap {}", path.display())), "{}", stdout(&out));
    assert!(!target.exists(), "a dry run writes nothing");
    assert!(dest.client().catalog().is_empty());
}

/// `../shared/fixtures`, the real-world vectors. The tests that use it are
/// `#[ignore = "needs ../shared/fixtures"]` (scripts/test runs them where the folder exists);
/// run without it, they fail here rather than pass without checking anything.
fn fixtures() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    assert!(dir.is_dir(), "{} is absent: this test needs the real-world vectors", dir.display());
    dir
}

fn verify_signature(digest: &str, signature: &Path, key: &Path) -> Output {
    run([
        "verify-signature".to_string(),
        format!("--digest={digest}"),
        format!("--signature={}", signature.display()),
        format!("--key={}", key.display()),
    ])
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn verify_signature_accepts_the_real_ocp_4_15_0_signature_for_the_red_hat_key() {
    let fx = fixtures();
    let digest = "sha256:0da6316466d60a3a4535d5fed3589feb0391989982fba59d47d4c729912d6363";
    let signature = fx.join("oc-mirror/internal/e2e/signatures/signature-1");
    let key = fx.join("cluster-update-keys/keys/verifier-public-key-redhat-release");
    let out = verify_signature(digest, &signature, &key);
    assert_success(&out);
    let text = stdout(&out);
    for line in [
        "Identity:        quay.io/openshift-release-dev/ocp-release:4.15.0-x86_64",
        &format!("Digest:          {digest}"),
        "Key fingerprint: 567E347AD0044ADE55BA8A5F199E2F91FD431D51",
        "Created:         2024-02-26T16:00:12Z",
    ] {
        assert!(text.contains(line), "lacks {line:?}:\n{text}");
    }
    let other = format!("sha256:{}", "1".repeat(64));
    let out = verify_signature(&other, &signature, &key);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not match release digest"), "{}", stderr(&out));
}

#[test]
#[ignore = "needs ../shared/fixtures"]
fn verify_signature_accepts_an_expired_key_with_a_warning() {
    let fx = fixtures();
    let lg = fx.join("library-go/pkg/verify/testdata");
    let digest = "sha256:edd9824f0404f1a139688017e7001370e2f3fbc088b94da84506653b473fe140";
    let signature = lg.join(format!("signatures/sha256={}/signature-1", &digest[7..]));
    let out = verify_signature(digest, &signature, &lg.join("keyrings/simple.txt"));
    assert_success(&out);
    assert!(stderr(&out).contains("expired on 2021-04-21"), "{}", stderr(&out));
    assert!(stderr(&out).contains("key expiry is not enforced"), "{}", stderr(&out));
}

#[test]
fn verify_signature_checks_a_gnupg_signature_offline() {
    let k = keys();
    let dir = temp_dir();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let (signature, key) = (dir.path().join("signature-1"), dir.path().join("key.asc"));
    std::fs::write(&signature, k.gpg.sign(&k.ed25519, &atomic_payload(&digest, IDENTITY), true)).expect("write");
    std::fs::write(&key, k.gpg.export(&k.ed25519)).expect("write");
    let out = verify_signature(&digest, &signature, &key);
    assert_success(&out);
    assert!(stdout(&out).contains(&format!("Key fingerprint: {}", k.ed25519)), "{}", stdout(&out));
    std::fs::write(&key, k.gpg.export(&k.rsa)).expect("write");
    let out = verify_signature(&digest, &signature, &key);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("not valid for any key of keyring key.asc"), "{}", stderr(&out));
}

/// The far side of the air gap cannot reach the payload's stores: the upload reads the
/// signature ConfigMap the to-disk run wrote: ours (YAML), or one `oc adm release mirror`
/// wrote, which is JSON (library-go's ConfigMapAsBytes) under the same `.yaml` name, or the
/// same JSON named `.json`.
#[test]
fn the_upload_side_verifies_with_the_configmap_carried_on_the_media() {
    let k = keys();
    let store = SigStore::start(Mode::Serve);
    let src = release(&[("test", k.gpg.export(&k.rsa))], &[("online", store.url())]);
    let digest = digest_of(&src);
    let signature = k.gpg.sign(&k.rsa, &atomic_payload(&digest, IDENTITY), true);
    store.put(&digest, 1, signature.clone());
    let media = temp_dir();
    let out = run([
        format!("--from={}", src.release.release_ref()),
        format!("--to-dir={}", media.path().display()),
        "--insecure".into(),
    ]);
    assert_success(&out);
    // From here on the online store is out of reach: every signature request fails.
    for n in 1..=9 {
        store.put_status(&digest, n, 503);
    }
    let online_requests = store.requests().len();
    let yaml = config_map_path(&media.path().join("config"), &digest);
    let upload = |dest: &Registry| {
        run([
            format!("--from-dir={}", media.path().display()),
            "--from=file://openshift/release:4.99.0-x86_64".into(),
            format!("--to={}/mirror/ocp/release", dest.host()),
            "--insecure".into(),
        ])
    };
    let uploads_from = |path: &Path| {
        let dest = Registry::start();
        let out = upload(&dest);
        assert_success(&out);
        let reading = format!("reading release signatures from {}", path.display());
        assert!(stderr(&out).contains(&reading), "{}", stderr(&out));
        assert!(!dest.client().catalog().is_empty(), "uploaded");
    };
    uploads_from(&yaml);

    // oc's file: Go's JSON encoding of the corev1.ConfigMap, field order and all.
    let name = digest.replacen(':', "-", 1);
    let oc_json = format!(
        "{{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{{\"name\":\"{name}\",\"namespace\":\
         \"openshift-config-managed\",\"creationTimestamp\":null,\"labels\":{{\"release.openshift.io/\
         verification-signatures\":\"\"}}}},\"binaryData\":{{\"{name}-1\":\"{}\"}}}}\n",
        base64::engine::general_purpose::STANDARD.encode(&signature)
    );
    let parsed: Value = serde_json::from_str(&oc_json).expect("oc's ConfigMap is JSON");
    let b64 = parsed["binaryData"][format!("{name}-1")].as_str().expect("the signature");
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(b64).expect("base64"), signature);
    std::fs::write(&yaml, &oc_json).expect("write oc's file");
    uploads_from(&yaml);
    std::fs::rename(&yaml, yaml.with_extension("json")).expect("rename to .json");
    uploads_from(&yaml.with_extension("json"));
    assert_eq!(store.requests().len(), online_requests, "the online store was never asked");

    std::fs::remove_file(yaml.with_extension("json")).expect("remove");
    let dest = Registry::start();
    let out = upload(&dest);
    assert_eq!(out.status.code(), Some(3), "without the ConfigMap the offline stores fail: {}", stderr(&out));
    assert!(dest.client().catalog().is_empty());
}

/// Push a cosign-style signature image for `digest` as `sha256-<hex>.sig` into `repo`.
fn push_cosign_signature(client: &crate::support::http::Client, repo: &str, digest: &str) -> Vec<u8> {
    use crate::support::sha256_digest;
    let payload = format!(
        r#"{{"critical":{{"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}}}}"#
    );
    let config = br#"{"architecture":"","config":{},"os":"","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    for blob in [payload.as_bytes().to_vec(), config.clone()] {
        let d = sha256_digest(&blob);
        client.push_blob(repo, &d, move || reqwest::blocking::Body::from(blob.clone()));
    }
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{}","size":{},"annotations":{{"dev.cosignproject.cosign/signature":"MEUCIQ=="}}}}]}}"#,
        sha256_digest(&config),
        config.len(),
        sha256_digest(payload.as_bytes()),
        payload.len()
    );
    let tag = format!("sha256-{}.sig", &digest["sha256:".len()..]);
    client.put_manifest(repo, &tag, "application/vnd.oci.image.manifest.v1+json", manifest.as_bytes());
    manifest.into_bytes()
}

#[test]
fn a_sigstore_signature_of_the_release_is_mirrored_beside_it_through_disk_too() {
    let src = release(&[], &[]);
    let digest = digest_of(&src);
    let manifest = push_cosign_signature(&src.registry.client(), &src.release.release_repo, &digest);
    let tag = format!("sha256-{}.sig", &digest["sha256:".len()..]);
    let skip = "--skip-release-image-signature".to_string();
    let dest = Registry::start();
    let out = mirror(&src, &dest, std::slice::from_ref(&skip));
    assert_success(&out);
    let (bytes, _, _) = dest.client().get_manifest("mirror/ocp/release", &tag).expect("signature mirrored");
    assert_eq!(bytes, manifest, "byte for byte");
    assert!(
        stdout(&out).contains(&format!("Sigstore signature: {}/mirror/ocp/release:{tag}", dest.host())),
        "{}",
        stdout(&out)
    );

    let media = temp_dir();
    let to_disk = [format!("--from={}", src.release.release_ref()), format!("--to-dir={}", media.path().display())];
    assert_success(&run(to_disk.iter().cloned().chain(["--insecure".into(), skip.clone()])));
    let second = Registry::start();
    let out = run([
        format!("--from-dir={}", media.path().display()),
        "--from=file://openshift/release:4.99.0-x86_64".into(),
        format!("--to={}/mirror/ocp/release", second.host()),
        "--insecure".into(),
        skip,
    ]);
    assert_success(&out);
    let (bytes, _, _) = second.client().get_manifest("mirror/ocp/release", &tag).expect("carried across");
    assert_eq!(bytes, manifest);
}
