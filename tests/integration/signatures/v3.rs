//! Version 3 signature packets without `../shared/fixtures`. Red Hat's older release
//! signatures are v3, and GnuPG can no longer make one (`--force-v3-sigs` is gone), so the
//! test bed builds the packets itself: the one-pass signature, literal data and signature
//! packets of a signed message, the signature made by rPGP with an RSA key GnuPG generated,
//! compressed as GnuPG compresses (ZIP). GnuPG then checks the result independently.
//!
//! `tests/data/v3/` holds such a vector, the project's own, for the unit tests (which have
//! no GnuPG): `key.sec.asc` and `key.pub.asc` (a throw-away test key), `signature-1` (a
//! compressed v3 signed message of [`payload`]). [`the_checked_in_v3_vector_is_what_its_key_makes`]
//! rebuilds it from the key and compares; `REMAKE_V3_VECTOR=1` makes a new key and vector
//! there instead, and checks nothing (run it again without the variable to compare).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use pgp::composed::{Deserializable as _, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{PacketTrait as _, Signature, SignatureConfig, SignatureType};
use pgp::types::{KeyDetails as _, Password, SigningKey as _, Timestamp};
use sha2::Digest as _;

use super::{digest_of, mirror, read_config_map, release, verify_signature, IDENTITY};
use crate::support::gpg::Gpg;
use crate::support::registry::Registry;
use crate::support::sigstore::{Mode, SigStore};
use crate::support::{assert_success, stderr, stdout, temp_dir};

/// The release digest and identity the checked-in vector signs (the same constants are in
/// `src/signature/vectors.rs`).
pub const DIGEST: &str = "sha256:3f0d4f2c8f6e7a1b9c5d2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a0b2c4d6e8f0a1b";
const VECTOR_IDENTITY: &str = "quay.io/openshift-release-dev/ocp-release:4.1.0-x86_64";
/// Creation time of the vector's signature and literal data (2019-06-04, the 4.1 era).
const CREATED: u32 = 1_559_606_400;

fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v3")
}

/// The atomic container signature JSON, written out so that the vector never depends on a
/// serialiser's key order.
pub fn payload(digest: &str, identity: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{identity}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"atomic container signature"}},"optional":{{"creator":"release-mirror v3 test vector"}}}}"#
    )
    .into_bytes()
}

/// A new-format OpenPGP packet: tag, length (RFC 9580 §4.2.1), body.
fn packet(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xc0 | tag];
    match body.len() {
        n if n < 192 => out.push(n as u8),
        n if n < 8384 => out.extend([(((n - 192) >> 8) + 192) as u8, ((n - 192) & 0xff) as u8]),
        n => {
            out.push(0xff);
            out.extend(u32::try_from(n).expect("packet under 4 GiB").to_be_bytes());
        }
    }
    out.extend_from_slice(body);
    out
}

/// The packets of a signed message (one-pass signature v3, literal data, signature v3) of
/// `data`, signed by the primary key of `secret` (armored, without passphrase) at `created`.
pub fn v3_packets(secret: &str, data: &[u8], created: u32) -> Vec<u8> {
    let (key, _) = SignedSecretKey::from_armor_single(secret.as_bytes()).expect("parse the secret key");
    let signer = &key.primary_key;
    let (typ, hash_alg) = (SignatureType::Binary, HashAlgorithm::Sha256);
    // A v3 signature hashes the data, then its type and creation time (RFC 4880 §5.2.4):
    // no hashed subpackets, no trailer. rPGP's own signer refuses v3 for a v4 key, so the
    // hash is made here and only the RSA operation is rPGP's.
    let mut hasher = sha2::Sha256::new();
    hasher.update(data);
    hasher.update([u8::from(typ)]);
    hasher.update(created.to_be_bytes());
    let hash = hasher.finalize();
    let raw = signer.sign(&Password::empty(), hash_alg, &hash).expect("RSA signature");
    let config =
        SignatureConfig::v3(typ, signer.algorithm(), hash_alg, Timestamp::from_secs(created), signer.legacy_key_id());
    let signature = Signature::from_config(config, [hash[0], hash[1]], raw).expect("v3 signature packet");
    assert_eq!(signature.version(), pgp::packet::SignatureVersion::V3);

    let mut one_pass = vec![3, u8::from(typ), u8::from(hash_alg), u8::from(signer.algorithm())];
    one_pass.extend_from_slice(signer.legacy_key_id().as_ref());
    one_pass.push(1); // the last (only) one-pass signature
    let mut literal = vec![b'b', 0];
    literal.extend(created.to_be_bytes());
    literal.extend_from_slice(data);

    let mut out = packet(4, &one_pass);
    out.extend(packet(11, &literal));
    signature.to_writer_with_header(&mut out).expect("serialise the signature packet");
    out
}

/// [`v3_packets`] in a compressed data packet (ZIP, GnuPG's default), as a store serves it.
pub fn v3_message(secret: &str, data: &[u8], created: u32) -> Vec<u8> {
    let mut deflate = flate2::write::DeflateEncoder::new(vec![1u8], flate2::Compression::default());
    deflate.write_all(&v3_packets(secret, data, created)).expect("deflate");
    packet(8, &deflate.finish().expect("deflate"))
}

/// The packets inside the compressed data packet of `message` (the only packet there).
fn inflate(message: &[u8]) -> Vec<u8> {
    let (tag, rest) = (message[0], &message[1..]);
    assert_eq!(tag, 0xc0 | 8, "a new-format compressed data packet");
    let (len, body) = match rest[0] {
        n if n < 192 => (usize::from(n), &rest[1..]),
        n if n < 224 => (((usize::from(n) - 192) << 8) + usize::from(rest[1]) + 192, &rest[2..]),
        _ => (u32::from_be_bytes(rest[1..5].try_into().expect("4 bytes")) as usize, &rest[5..]),
    };
    assert_eq!(body.len(), len, "one packet, nothing after it");
    assert_eq!(body[0], 1, "ZIP compression");
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(&body[1..]).read_to_end(&mut out).expect("inflate");
    out
}

/// A key GnuPG generated: (armored secret key, armored public key, fingerprint).
fn new_key() -> (String, String, String) {
    let gpg = Gpg::new();
    // Made the day before the signature: GnuPG refuses a signature older than its key.
    let uid = "Release v3 test vector <v3@release.test>";
    gpg.run(&["--faked-system-time", "20190603T000000!", "--quick-gen-key", uid, "rsa2048", "sign", "never"], b"");
    let fingerprint = gpg.fingerprints(uid).remove(0);
    let secret = gpg.run(&["--armor", "--export-secret-keys", &fingerprint], b"").stdout;
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("armored text");
    (text(secret), gpg.export(&fingerprint), fingerprint)
}

fn read(name: &str) -> Vec<u8> {
    let path = vector_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_text(name: &str) -> String {
    String::from_utf8(read(name)).expect("text")
}

/// The checked-in vector is exactly what the key makes (so the unit tests' v3 signature is a
/// real one, and the way it was made stays reproducible).
#[test]
fn the_checked_in_v3_vector_is_what_its_key_makes() {
    if std::env::var_os("REMAKE_V3_VECTOR").is_some() {
        let (secret, public, _) = new_key();
        let dir = vector_dir();
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("key.sec.asc"), &secret).expect("write");
        std::fs::write(dir.join("key.pub.asc"), public).expect("write");
        std::fs::write(dir.join("signature-1"), v3_message(&secret, &payload(DIGEST, VECTOR_IDENTITY), CREATED))
            .expect("write");
        // Compared now, the vector would only be compared with itself: the check is the next
        // run's, without the variable.
        return;
    }
    let secret = read_text("key.sec.asc");
    let rebuilt = v3_packets(&secret, &payload(DIGEST, VECTOR_IDENTITY), CREATED);
    assert_eq!(inflate(&read("signature-1")), rebuilt, "tests/data/v3/signature-1 is not what key.sec.asc makes");
    let (key, _) = SignedSecretKey::from_armor_single(secret.as_bytes()).expect("secret key");
    let public = pgp::composed::SignedPublicKey::from_armor_single(read("key.pub.asc").as_slice()).expect("key").0;
    assert_eq!(key.to_public_key().primary_key, public.primary_key, "key.pub.asc is the public half");
}

/// GnuPG, an independent implementation, reads the vector as a good version 3 signature.
#[test]
fn gnupg_reads_the_v3_vector_as_a_good_version_3_signature() {
    let gpg = Gpg::new();
    gpg.run(&["--import"], &read("key.pub.asc"));
    let listed = gpg.run(&["--list-packets"], &read("signature-1"));
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains(":compressed packet: algo=1"), "{text}");
    assert!(text.contains(":onepass_sig packet:") && text.contains("version 3, sigclass 0x00"), "{text}");
    assert!(text.contains(":signature packet: algo 1") && text.contains("version 3, created 1559606400"), "{text}");
    assert!(!text.contains("version 4"), "no v4 packet in the message: {text}");
    let verified = gpg.run(&["--status-fd", "1", "--verify"], &read("signature-1"));
    let status = String::from_utf8_lossy(&verified.stdout);
    let fingerprint = gpg.fingerprints("v3@release.test").remove(0);
    assert!(status.contains(&format!("[GNUPG:] VALIDSIG {fingerprint} 2019-06-04 1559606400")), "{status}");
}

#[test]
fn verify_signature_accepts_the_v3_vector_and_refuses_it_for_another_digest() {
    let dir = temp_dir();
    let (signature, key) = (dir.path().join("signature-1"), dir.path().join("key.asc"));
    std::fs::write(&signature, read("signature-1")).expect("write");
    std::fs::write(&key, read("key.pub.asc")).expect("write");
    let out = verify_signature(DIGEST, &signature, &key);
    assert_success(&out);
    let text = stdout(&out);
    for line in [
        format!("Identity:        {VECTOR_IDENTITY}"),
        format!("Digest:          {DIGEST}"),
        "Created:         2019-06-04T00:00:00Z".to_string(),
        "Creator:         release-mirror v3 test vector".to_string(),
    ] {
        assert!(text.contains(&line), "lacks {line:?}:\n{text}");
    }
    let other = format!("sha256:{}", "2".repeat(64));
    let out = verify_signature(&other, &signature, &key);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let want = format!(
        "error: signature {} is not valid for release {other}\n  caused by: signed digest {DIGEST} does not match \
         release digest {other}\n",
        signature.display()
    );
    assert_eq!(stderr(&out), want);
}

/// A release whose store serves a v3 signature (made now, with the vector's key) is verified
/// and its signature carried into the ConfigMap byte for byte.
#[test]
fn a_v3_signature_from_the_store_is_verified_and_written_as_the_configmap() {
    let store = SigStore::start(Mode::Serve);
    let src = release(&[("v3", read_text("key.pub.asc"))], &[("local", store.url())]);
    let digest = digest_of(&src);
    let signature = v3_message(&read_text("key.sec.asc"), &payload(&digest, IDENTITY), CREATED);
    store.put(&digest, 1, signature.clone());
    let (dest, dir) = (Registry::start(), temp_dir());
    let out = mirror(&src, &dest, &[format!("--release-image-signature-to-dir={}", dir.path().display())]);
    assert_success(&out);
    assert!(stdout(&out).contains("Release signature: valid for keyring verifier-public-key-v3"), "{}", stdout(&out));
    let path = super::config_map_path(dir.path(), &digest);
    assert_eq!(read_config_map(&path, &digest), [signature]);
}
