//! Signatures that must be refused before anything is copied: wrong digest, unknown or
//! revoked key, tampered bytes, payloads the CVO would reject, stores that end or never answer.

use std::process::Output;

use super::*;

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

pub(super) fn rsa_key() -> String {
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
