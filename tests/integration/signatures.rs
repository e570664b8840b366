//! Release signatures: fetched from a local HTTP store or a file:// store, verified with keys
//! and signatures made by real GnuPG, checked BEFORE anything is copied, and written as the
//! ConfigMap the cluster-version operator reads.

mod v3;

use std::path::Path;
use std::process::Output;

use base64::Engine as _;
use serde_json::Value;

use crate::mirror::{source_with, Source};
use crate::support::gpg::{atomic_payload, keys};
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
    let k = keys();
    let src = release(&[], &[]);
    let digest = digest_of(&src);
    let store = temp_dir();
    let sig_dir = store.path().join(digest.replacen(':', "=", 1));
    std::fs::create_dir_all(&sig_dir).expect("mkdir");
    let signature = k.gpg.sign(&k.ed25519, &atomic_payload(&digest, IDENTITY), false);
    std::fs::write(sig_dir.join("signature-1"), &signature).expect("write signature");
    let key = store.path().join("ed25519.asc");
    std::fs::write(&key, k.gpg.export(&k.ed25519)).expect("write key");
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
    assert_eq!(sig["signatures"][0]["keyFingerprint"], k.ed25519.as_str());
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

/// A release signed by `sign(digest)` as signature-1 of the payload's HTTP store, checked
/// against `keyring`: the run must fail with exit 3 naming `want`, nothing copied.
fn assert_refused_before_copy(keyring: String, sign: impl FnOnce(&str) -> Vec<u8>, want: &str) -> Output {
    let store = SigStore::start(Mode::Serve);
    let src = release(&[("test", keyring)], &[("local", store.url())]);
    let digest = digest_of(&src);
    store.put(&digest, 1, sign(&digest));
    assert_refused(&src, &[], want)
}

fn assert_refused(src: &Source, extra: &[String], want: &str) -> Output {
    let dest = Registry::start();
    let out = mirror(src, &dest, extra);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "stdout:\n{}\nstderr:\n{err}", stdout(&out));
    assert!(err.contains(want), "stderr lacks {want:?}:\n{err}");
    assert!(err.contains("no valid signature for release") || want.contains("--release-image-signature-key"), "{err}");
    assert!(
        dest.client().catalog().is_empty(),
        "copied before the signature was checked: {:?}",
        dest.client().catalog()
    );
    assert!(stdout(&out).is_empty(), "no summary on failure: {}", stdout(&out));
    out
}

fn rsa_signed(payload: impl FnOnce(&str) -> Vec<u8>) -> impl FnOnce(&str) -> Vec<u8> {
    move |digest| keys().gpg.sign(&keys().rsa, &payload(digest), true)
}

fn rsa_key() -> String {
    keys().gpg.export(&keys().rsa)
}

#[test]
fn a_signature_of_another_digest_is_refused_before_copying() {
    let other = format!("sha256:{}", "0".repeat(64));
    let want = format!("signed digest {other} does not match release digest");
    assert_refused_before_copy(rsa_key(), rsa_signed(|_| atomic_payload(&other, IDENTITY)), &want);
}

#[test]
fn a_signature_by_an_unknown_key_is_refused_before_copying() {
    let k = keys();
    let sign = |d: &str| k.gpg.sign(&k.unknown, &atomic_payload(d, IDENTITY), true);
    let want = "signature-1: signature is not valid for any key of keyring verifier-public-key-test";
    assert_refused_before_copy(rsa_key(), sign, want);
}

#[test]
fn a_signature_with_a_tampered_byte_is_refused_before_copying() {
    let k = keys();
    let sign = |d: &str| {
        let mut sig = k.gpg.sign(&k.ed25519, &atomic_payload(d, IDENTITY), false);
        let at = sig.windows(7).position(|w| w == b"quay.io").expect("literal data is not compressed");
        sig[at] = b'Q';
        sig
    };
    assert_refused_before_copy(k.gpg.export(&k.ed25519), sign, "signature is not valid for any key of keyring");
}

#[test]
fn a_non_json_payload_is_refused_before_copying() {
    assert_refused_before_copy(rsa_key(), rsa_signed(|_| b"hello, cluster".to_vec()), "signature payload is not JSON");
}

#[test]
fn a_payload_with_an_extra_field_is_refused_before_copying() {
    let payload = |d: &str| {
        let mut v: Value = serde_json::from_slice(&atomic_payload(d, IDENTITY)).expect("json");
        v["critical"]["extra"] = Value::from("surprise");
        v.to_string().into_bytes()
    };
    assert_refused_before_copy(rsa_key(), rsa_signed(payload), "signature payload has unknown field `critical.extra`");
}

#[test]
fn a_payload_of_the_wrong_type_is_refused_before_copying() {
    let payload = |d: &str| {
        let text = String::from_utf8(atomic_payload(d, IDENTITY)).expect("utf8");
        text.replace("atomic container signature", "container signature").into_bytes()
    };
    let want = r#"signature type is "container signature", want "atomic container signature""#;
    assert_refused_before_copy(rsa_key(), rsa_signed(payload), want);
}

#[test]
fn a_payload_with_an_empty_identity_is_refused_before_copying() {
    let want = "signature identity (docker-reference) is empty";
    assert_refused_before_copy(rsa_key(), rsa_signed(|d| atomic_payload(d, "")), want);
}

#[test]
fn a_signature_by_a_revoked_subkey_is_refused_before_copying() {
    let k = keys();
    let (primary, subkey) = &k.with_revoked_subkey;
    let sign = |d: &str| k.revoked_signer.sign(subkey, &atomic_payload(d, IDENTITY), true);
    let want = format!("signed by revoked subkey {}", &subkey[subkey.len() - 16..]);
    assert_refused_before_copy(k.gpg.export(primary), sign, &want);
}

#[test]
fn a_404_on_signature_1_ends_the_store_and_is_refused_before_copying() {
    let store = SigStore::start(Mode::Serve);
    let src = release(&[("test", rsa_key())], &[("local", store.url())]);
    let digest = digest_of(&src);
    store.put(&digest, 2, keys().gpg.sign(&keys().rsa, &atomic_payload(&digest, IDENTITY), true));
    let out = assert_refused(&src, &[], "signature-1: not found (end of this store)");
    assert!(stderr(&out).contains(&format!("store {}:", store.url())), "{}", stderr(&out));
    assert_eq!(store.requests(), [path_of(&digest, 1)], "signature-2 is never asked for");
}

#[test]
fn a_store_that_never_answers_times_out_each_n_and_is_refused_before_copying() {
    let store = SigStore::start(Mode::Hang);
    let src = release(&[("test", rsa_key())], &[("local", store.url())]);
    let extra = ["--release-image-signature-store-timeout=0.3".to_string()];
    let out = assert_refused(&src, &extra, "signature-1: fetch failed: no answer from");
    let err = stderr(&out);
    assert!(err.contains("within 0.3 s"), "{err}");
    assert!(err.contains("signature-9: fetch failed"), "every N is tried after a timeout: {err}");
}

#[test]
fn one_keyring_satisfied_of_two_is_not_enough() {
    let k = keys();
    let store = SigStore::start(Mode::Serve);
    let keyrings = [("a-rsa", rsa_key()), ("b-ed25519", k.gpg.export(&k.ed25519))];
    let src = release(&keyrings, &[("local", store.url())]);
    let digest = digest_of(&src);
    store.put(&digest, 1, k.gpg.sign(&k.rsa, &atomic_payload(&digest, IDENTITY), true));
    let want = format!("from keyring(s) verifier-public-key-b-ed25519 (key {})", k.ed25519);
    let out = assert_refused(&src, &[], &want);
    assert!(stderr(&out).contains("signature-1: valid for keyring verifier-public-key-a-rsa"), "{}", stderr(&out));
}

#[test]
fn a_payload_without_keys_asks_for_keys_or_skip() {
    let src = release(&[], &[]);
    let out = assert_refused(&src, &[], "--release-image-signature-key");
    assert!(stderr(&out).contains("--skip-release-image-signature"), "{}", stderr(&out));
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
