//! Verification of one release signature the way the cluster-version operator judges it.
//!
//! rPGP's `Message::verify` rejects v3 signature packets, so the packets are walked here:
//! decompress, take the literal data and the signature packets, and verify each signature
//! packet against each key of the keyring over the literal bytes.

use pgp::packet::{Signature, SignatureType};

use super::error::SignatureError;
use super::key::{format_date, now_secs, KeyEntry};
use super::keyring::Keyring;
use super::message::read_message;
use super::payload::check_payload;

/// A signature that the cluster would accept for a release digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    /// `critical.identity.docker-reference`.
    pub(crate) identity: String,
    /// `critical.image.docker-manifest-digest` (equal to the expected digest).
    pub(crate) digest: String,
    /// Uppercase hex fingerprint of the primary key that verified, or for a subkey
    /// `"<SUBKEY FINGERPRINT> (subkey of <PRIMARY FINGERPRINT>)"`.
    pub(crate) key_fingerprint: String,
    /// Uppercase hex key ID of the key or subkey that verified.
    pub(crate) key_id: String,
    /// Creation time of the signature packet, unix seconds.
    pub(crate) created: Option<u64>,
    /// `optional.creator`.
    pub(crate) creator: Option<String>,
    /// `optional.timestamp`.
    pub(crate) timestamp: Option<i64>,
    /// Things worth telling that do not invalidate the signature (such as key expiry).
    pub(crate) warnings: Vec<String>,
}

/// Verifies `signature` (raw OpenPGP message bytes) against `keyring` for `expected_digest`.
pub(crate) fn verify(signature: &[u8], keyring: &Keyring, expected_digest: &str) -> Result<Verified, SignatureError> {
    let (literal, signatures) = read_message(signature)?;
    let (entry, sig) = find_signer(&literal, &signatures, keyring)?;
    let now = now_secs();
    check_lifetime(sig, now)?;
    let payload = check_payload(&literal, expected_digest)?;
    let key_fingerprint = match &entry.primary_fingerprint {
        Some(primary) => format!("{} (subkey of {primary})", entry.fingerprint),
        None => entry.fingerprint.clone(),
    };
    Ok(Verified {
        identity: payload.identity,
        digest: payload.digest,
        key_fingerprint,
        key_id: entry.key_id.clone(),
        created: sig.created().map(|t| u64::from(t.as_secs())),
        creator: payload.creator,
        timestamp: payload.timestamp,
        warnings: entry.expiry_warnings(keyring.name(), now),
    })
}

/// The first non-revoked key that verifies a document signature of the message.
fn find_signer<'a>(
    literal: &[u8],
    signatures: &'a [Signature],
    keyring: &'a Keyring,
) -> Result<(&'a KeyEntry, &'a Signature), SignatureError> {
    let documents: Vec<&Signature> = signatures
        .iter()
        .filter(|sig| matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)))
        .collect();
    if documents.is_empty() {
        let typ = signatures.first().and_then(Signature::typ);
        return Err(SignatureError::NotDocumentSignature {
            typ: typ.map_or_else(|| "unknown".to_string(), |t| format!("{t:?}")),
        });
    }
    let mut revoked = None;
    for sig in documents {
        for entry in keyring.entries() {
            if !entry.verifies(sig, literal) {
                continue;
            }
            if !entry.revoked {
                return Ok((entry, sig));
            }
            revoked.get_or_insert(entry);
        }
    }
    Err(match revoked {
        Some(entry) if entry.primary_fingerprint.is_some() => {
            SignatureError::RevokedSubkey { key_id: entry.key_id.clone() }
        }
        Some(entry) => SignatureError::RevokedKey { key_id: entry.key_id.clone() },
        None => SignatureError::NoValidKey { keyring: keyring.name().to_string() },
    })
}

/// Rejects a signature whose own expiration time (not its key's) has passed.
fn check_lifetime(sig: &Signature, now: u64) -> Result<(), SignatureError> {
    let (Some(created), Some(lifetime)) = (sig.created(), sig.signature_expiration_time()) else {
        return Ok(());
    };
    let lifetime = u64::from(lifetime.as_secs());
    let expires = u64::from(created.as_secs()) + lifetime;
    if lifetime > 0 && now > expires {
        return Err(SignatureError::Expired { expired: format_date(expires) });
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    use serde_json::Value;

    use super::*;
    use crate::signature::vectors::*;

    #[test]
    fn the_projects_own_v3_signature_is_verified_without_the_fixtures() {
        let (literal, signatures) = read_message(V3_SIGNATURE).expect("message");
        assert_eq!(signatures.len(), 1);
        assert_eq!(signatures[0].version(), pgp::packet::SignatureVersion::V3, "a version 3 signature packet");
        let keyring = v3_keyring();
        let v = verify(V3_SIGNATURE, &keyring, V3_DIGEST).unwrap_or_else(|e| panic!("v3 rejected: {e}"));
        assert_eq!(v.identity, "quay.io/openshift-release-dev/ocp-release:4.1.0-x86_64");
        assert_eq!((v.key_fingerprint.as_str(), v.key_id.as_str()), (V3_FPR, "0120A081D7E31732"));
        assert_eq!(v.created, Some(1_559_606_400), "a v3 packet's creation time");
        assert_eq!(v.creator.as_deref(), Some("release-mirror v3 test vector"));
        assert!(v.warnings.is_empty(), "{:?}", v.warnings);
        let err = verify(V3_SIGNATURE, &keyring, E3F1).expect_err("signed for another digest");
        assert!(matches!(err, SignatureError::DigestMismatch { .. }), "{err}");
        // The signature really covers the bytes: one changed byte and no key verifies it.
        let mut tampered = literal.clone();
        tampered[10] ^= 1;
        let err = find_signer(&tampered, &signatures, &keyring).expect_err("tampered literal data");
        assert!(matches!(&err, SignatureError::NoValidKey { keyring } if keyring == "key.pub.asc"), "{err}");
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn ocp_4_15_v4_signature_is_valid_for_red_hat_key() {
        let fx = fixtures();
        let digest = "sha256:0da6316466d60a3a4535d5fed3589feb0391989982fba59d47d4c729912d6363";
        let v = accept(&fx, "oc-mirror/internal/e2e/signatures/signature-1", RH_KEY, digest);
        assert_eq!(v.identity, "quay.io/openshift-release-dev/ocp-release:4.15.0-x86_64");
        assert_eq!((v.key_fingerprint.as_str(), v.key_id.as_str()), (RH_FPR, "199E2F91FD431D51"));
        assert_eq!(v.created, Some(1_708_963_212));
        assert!(v.warnings.is_empty());
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn noo_bundle_signatures_are_valid_with_four_identities() {
        let fx = fixtures();
        let digest = "sha256:50b9402635dd4b312a86bed05dcdbda8c00120d3789ec2e9b527045100b3bdb4";
        let dir = "oc-mirror/tests/unit/testdata/noo-bundle-image";
        let ids: std::collections::BTreeSet<String> =
            (1..=4).map(|n| accept(&fx, &format!("{dir}/signature-{n}"), RH_KEY, digest).identity).collect();
        assert_eq!(ids.len(), 4);
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn oc_mirror_integration_sha512_signatures_are_valid() {
        let fx = fixtures();
        let dir = "oc-mirror/tests/integration/keys";
        for hex in [
            "2352c020dacb945a96cf665e553644f3a3c39341b636a4d9ef1653944fd9de1f",
            "f81792339c8b5934191d18a53b18bc1d584e01a9f37d59c0aa6905b00200aa1b",
        ] {
            let sig = format!("{dir}/v0.0.1-sha256-{hex}");
            let v = accept(&fx, &sig, &format!("{dir}/release-pk.asc"), &format!("sha256:{hex}"));
            assert_eq!(v.creator, None);
        }
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn cincinnati_signature_is_valid_for_digest_in_message_json() {
        let fx = fixtures();
        let dir = "cincinnati/cincinnati/src/plugins/internal/graph_builder/dkrv2_openshift_secondary_metadata_scraper/test_fixtures";
        let message = std::fs::read(fx.join(dir).join("signatures/message.json")).expect("read");
        let json: Value = serde_json::from_slice(&message).expect("json");
        let digest = json["critical"]["image"]["docker-manifest-digest"].as_str().expect("digest");
        let key = format!("{dir}/public_keys/hongkliu.asc");
        accept(&fx, &format!("{dir}/signatures/signature-3"), &key, digest);
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn containers_image_valid_signatures_are_accepted() {
        let fx = fixtures();
        for sig in [
            "image.signature",
            "no-optional-fields.signature",
            "dir-img-valid/signature-1",
            "dir-img-valid-2/signature-1",
            "dir-img-valid-2/signature-2",
        ] {
            let key = format!("{CI}/public-key.gpg");
            let v = accept(&fx, &format!("{CI}/{sig}"), &key, CI_DIGEST);
            assert_eq!(v.key_fingerprint, "08CD26E446E2E95249B7A405E932F44B23E8DD43");
        }
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn corrupt_and_unknown_key_signatures_are_rejected() {
        let fx = fixtures();
        let key = format!("{CI}/public-key.gpg");
        for sig in ["corrupt", "corrupt.signature-v3", "unknown-key", "unknown-key.signature-v3"] {
            let sig = if sig.contains('.') { sig.to_string() } else { format!("{sig}.signature") };
            let err = reject(&fx, &format!("{CI}/{sig}"), &key, CI_DIGEST);
            assert!(matches!(err, SignatureError::NoValidKey { .. }), "{sig}: {err}");
        }
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn expired_signature_is_rejected() {
        let fx = fixtures();
        let key = format!("{CI}/public-key.gpg");
        let err = reject(&fx, &format!("{CI}/expired.signature"), &key, CI_DIGEST);
        assert!(matches!(err, SignatureError::Expired { .. }), "{err}");
        assert!(err.to_string().starts_with("signature lifetime expired"));
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn non_json_payload_is_rejected() {
        let fx = fixtures();
        let key = format!("{CI}/public-key.gpg");
        for sig in ["invalid-blob.signature", "invalid-blob.signature-v3"] {
            let err = reject(&fx, &format!("{CI}/{sig}"), &key, CI_DIGEST);
            assert!(matches!(err, SignatureError::PayloadNotJson { .. }), "{sig}: {err}");
        }
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn unsigned_literal_and_encrypted_messages_are_rejected() {
        let fx = fixtures();
        let key = format!("{CI}/public-key.gpg");
        let err = reject(&fx, &format!("{CI}/unsigned-literal.signature"), &key, CI_DIGEST);
        assert!(matches!(err, SignatureError::Unsigned), "{err}");
        let err = reject(&fx, &format!("{CI}/unsigned-encrypted.signature"), &key, CI_DIGEST);
        assert!(matches!(err, SignatureError::Encrypted), "{err}");
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn invalid_reference_is_accepted_because_identity_is_non_empty() {
        let fx = fixtures();
        let key = format!("{CI}/public-key.gpg");
        let v = accept(&fx, &format!("{CI}/invalid-reference.signature"), &key, CI_DIGEST);
        assert_eq!(v.identity, "UPPERCASEISINVALID");
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn valid_signature_for_another_digest_is_rejected() {
        let fx = fixtures();
        let key = format!("{CI}/public-key.gpg");
        let err = reject(&fx, &format!("{CI}/image.signature"), &key, E3F1);
        assert!(matches!(err, SignatureError::DigestMismatch { .. }), "{err}");
    }
}
