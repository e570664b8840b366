//! Verification of one release signature the way the cluster-version operator judges it.
//!
//! rPGP's `Message::verify` rejects v3 signature packets, so the packets are walked here:
//! decompress, take the literal data and the signature packets, and verify each signature
//! packet against each key of the keyring over the literal bytes.

use std::io::Read;

use pgp::packet::{Packet, PacketParser, PacketTrait, Signature, SignatureType};
use serde_json::{Map, Value};

use super::error::SignatureError;
use super::keyring::{format_date, now_secs, KeyEntry, Keyring};

/// The payload type every release signature must carry.
const SIGNATURE_TYPE: &str = "atomic container signature";
/// More than any real signature decompresses to.
const MAX_INFLATED: u64 = 4 << 20;
/// Compressed packets nested deeper than this are refused.
const MAX_DEPTH: usize = 2;
const OBJECT: &str = "an object";
const STRING: &str = "a string";

/// A signature that the cluster would accept for a release digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `critical.identity.docker-reference`.
    pub identity: String,
    /// `critical.image.docker-manifest-digest` (equal to the expected digest).
    pub digest: String,
    /// Uppercase hex fingerprint of the primary key that verified, or for a subkey
    /// `"<SUBKEY FINGERPRINT> (subkey of <PRIMARY FINGERPRINT>)"`.
    pub key_fingerprint: String,
    /// Uppercase hex key ID of the key or subkey that verified.
    pub key_id: String,
    /// Creation time of the signature packet, unix seconds.
    pub created: Option<u64>,
    /// `optional.creator`.
    pub creator: Option<String>,
    /// `optional.timestamp`.
    pub timestamp: Option<i64>,
    /// Things worth telling that do not invalidate the signature (such as key expiry).
    pub warnings: Vec<String>,
}

/// The checked content of a signature's literal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub identity: String,
    pub digest: String,
    pub creator: Option<String>,
    pub timestamp: Option<i64>,
}

/// Verifies `signature` (raw OpenPGP message bytes) against `keyring` for `expected_digest`.
pub fn verify(
    signature: &[u8],
    keyring: &Keyring,
    expected_digest: &str,
) -> Result<Verified, SignatureError> {
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

/// The literal data and the signature packets of a signed message.
fn read_message(data: &[u8]) -> Result<(Vec<u8>, Vec<Signature>), SignatureError> {
    let (mut literal, mut signatures) = (None, Vec::new());
    collect_packets(data, 0, &mut literal, &mut signatures)?;
    if signatures.is_empty() {
        return Err(SignatureError::Unsigned);
    }
    Ok((literal.ok_or(SignatureError::NoLiteralData)?, signatures))
}

fn collect_packets(
    data: &[u8],
    depth: usize,
    literal: &mut Option<Vec<u8>>,
    signatures: &mut Vec<Signature>,
) -> Result<(), SignatureError> {
    let framed = reframe(data);
    for packet in PacketParser::new(framed.as_slice()) {
        match packet.map_err(malformed)? {
            Packet::CompressedData(compressed) => {
                if depth >= MAX_DEPTH {
                    return Err(SignatureError::TooDeep { depth: MAX_DEPTH });
                }
                let inflated = inflate(&compressed)?;
                collect_packets(&inflated, depth + 1, literal, signatures)?;
            }
            Packet::LiteralData(data) => {
                if literal.is_some() {
                    return Err(SignatureError::MultipleLiteralData);
                }
                *literal = Some(data.data().to_vec());
            }
            Packet::Signature(sig) => signatures.push(sig),
            Packet::OnePassSignature(_) | Packet::Marker(_) | Packet::Padding(_) => {}
            Packet::PublicKeyEncryptedSessionKey(_)
            | Packet::SymKeyEncryptedSessionKey(_)
            | Packet::SymEncryptedData(_)
            | Packet::SymEncryptedProtectedData(_)
            | Packet::GnupgAeadData(_) => return Err(SignatureError::Encrypted),
            other => {
                return Err(SignatureError::UnexpectedPacket {
                    tag: format!("{:?}", other.tag()),
                })
            }
        }
    }
    Ok(())
}

fn malformed(source: pgp::errors::Error) -> SignatureError {
    SignatureError::MalformedMessage {
        source: source.into(),
    }
}

fn inflate(compressed: &pgp::packet::CompressedData) -> Result<Vec<u8>, SignatureError> {
    let decompressor = compressed.decompress().map_err(malformed)?;
    let mut out = Vec::new();
    decompressor
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .map_err(|source| SignatureError::Decompress { source })?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(SignatureError::TooLarge {
            limit: MAX_INFLATED,
        });
    }
    Ok(out)
}

/// Rewrites every new-format packet with partial body lengths into one with a definite
/// length: Go's OpenPGP starts partial bodies with chunks shorter than the 512 bytes rPGP
/// insists on. Anything not understood is copied verbatim for the parser to judge.
fn reframe(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut pos = 0;
    while pos < input.len() {
        let Some((consumed, packet)) = reframe_packet(&input[pos..]) else {
            out.extend_from_slice(&input[pos..]);
            break;
        };
        out.extend_from_slice(&packet);
        pos += consumed;
    }
    out
}

/// One packet at the start of `input`: (bytes consumed, bytes to emit), or `None` when the
/// rest of the input must be copied as it is (old-format indeterminate length, malformed).
fn reframe_packet(input: &[u8]) -> Option<(usize, Vec<u8>)> {
    let ctb = *input.first()?;
    if ctb & 0x80 == 0 {
        return None;
    }
    if ctb & 0x40 == 0 {
        let len_bytes = match ctb & 0x03 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => return None,
        };
        let len_field = input.get(1..1 + len_bytes)?;
        let len = len_field
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        let end = (1 + len_bytes).checked_add(len)?;
        return Some((end, input.get(..end)?.to_vec()));
    }
    let mut pos = 1;
    let mut body = Vec::new();
    loop {
        let (header_len, chunk_len, partial) = new_format_length(input.get(pos..)?)?;
        let start = pos + header_len;
        let end = start.checked_add(chunk_len)?;
        body.extend_from_slice(input.get(start..end)?);
        pos = end;
        if !partial {
            break;
        }
    }
    let mut packet = vec![ctb];
    packet.extend_from_slice(&encode_length(body.len())?);
    packet.extend_from_slice(&body);
    Some((pos, packet))
}

/// (octets of the length field, length, whether it is a partial body length).
fn new_format_length(field: &[u8]) -> Option<(usize, usize, bool)> {
    let first = usize::from(*field.first()?);
    match first {
        0..=191 => Some((1, first, false)),
        192..=223 => {
            let second = usize::from(*field.get(1)?);
            Some((2, ((first - 192) << 8) + second + 192, false))
        }
        224..=254 => Some((1, 1 << (first & 0x1f), true)),
        _ => {
            let bytes: [u8; 4] = field.get(1..5)?.try_into().ok()?;
            Some((5, usize::try_from(u32::from_be_bytes(bytes)).ok()?, false))
        }
    }
}

fn encode_length(len: usize) -> Option<Vec<u8>> {
    let len = u32::try_from(len).ok()?;
    let mut out = vec![0xff];
    out.extend_from_slice(&len.to_be_bytes());
    Some(out)
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
        Some(entry) if entry.primary_fingerprint.is_some() => SignatureError::RevokedSubkey {
            key_id: entry.key_id.clone(),
        },
        Some(entry) => SignatureError::RevokedKey {
            key_id: entry.key_id.clone(),
        },
        None => SignatureError::NoValidKey {
            keyring: keyring.name().to_string(),
        },
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
        return Err(SignatureError::Expired {
            expired: format_date(expires),
        });
    }
    Ok(())
}

/// Checks a signature's literal data as the CVO does: JSON with no unknown field anywhere,
/// `critical.type` exactly [`SIGNATURE_TYPE`], the signed digest equal to `expected_digest`,
/// a non-empty identity. `optional` may be absent or null, or hold `creator` (a string)
/// and `timestamp` (an integer): the CVO decodes it into that struct, unknown fields refused.
pub fn check_payload(data: &[u8], expected_digest: &str) -> Result<Payload, SignatureError> {
    let value: Value =
        serde_json::from_slice(data).map_err(|source| SignatureError::PayloadNotJson { source })?;
    let root = value.as_object().ok_or(SignatureError::PayloadNotObject)?;
    only_fields(root, "", &["critical", "optional"])?;
    let critical = field(root, "", "critical", OBJECT, Value::as_object)?;
    only_fields(critical, "critical", &["type", "image", "identity"])?;
    let image = field(critical, "critical", "image", OBJECT, Value::as_object)?;
    only_fields(image, "critical.image", &["docker-manifest-digest"])?;
    let identity = field(critical, "critical", "identity", OBJECT, Value::as_object)?;
    only_fields(identity, "critical.identity", &["docker-reference"])?;
    let (creator, timestamp) = optional_fields(root.get("optional"))?;
    let typ = field(critical, "critical", "type", STRING, Value::as_str)?;
    let digest = field(
        image,
        "critical.image",
        "docker-manifest-digest",
        STRING,
        Value::as_str,
    )?;
    let reference = field(
        identity,
        "critical.identity",
        "docker-reference",
        STRING,
        Value::as_str,
    )?;
    if typ != SIGNATURE_TYPE {
        return Err(SignatureError::WrongType {
            found: typ.to_string(),
        });
    }
    if digest != expected_digest {
        return Err(SignatureError::DigestMismatch {
            signed: digest.to_string(),
            expected: expected_digest.to_string(),
        });
    }
    if reference.is_empty() {
        return Err(SignatureError::EmptyIdentity);
    }
    Ok(Payload {
        identity: reference.to_string(),
        digest: digest.to_string(),
        creator,
        timestamp,
    })
}

fn field_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn only_fields(
    map: &Map<String, Value>,
    parent: &str,
    known: &[&str],
) -> Result<(), SignatureError> {
    match map.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(SignatureError::PayloadUnknownField {
            field: field_path(parent, key),
        }),
        None => Ok(()),
    }
}

/// `map[key]`, required, as the JSON type that `get` extracts.
fn field<'a, T: ?Sized>(
    map: &'a Map<String, Value>,
    parent: &str,
    key: &str,
    expected: &'static str,
    get: impl Fn(&'a Value) -> Option<&'a T>,
) -> Result<&'a T, SignatureError> {
    let path = || field_path(parent, key);
    let value = map
        .get(key)
        .ok_or_else(|| SignatureError::PayloadMissingField { field: path() })?;
    get(value).ok_or_else(|| SignatureError::PayloadFieldType {
        field: path(),
        expected,
    })
}

fn optional_fields(value: Option<&Value>) -> Result<(Option<String>, Option<i64>), SignatureError> {
    let optional = match value {
        None | Some(Value::Null) => return Ok((None, None)),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(SignatureError::PayloadFieldType {
                field: "optional".into(),
                expected: OBJECT,
            })
        }
    };
    only_fields(optional, "optional", &["creator", "timestamp"])?;
    let creator = match optional.get("creator") {
        None | Some(Value::Null) => None,
        Some(_) => Some(field(optional, "optional", "creator", STRING, Value::as_str)?.to_string()),
    };
    let timestamp = match optional.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_i64().ok_or(SignatureError::PayloadFieldType {
            field: "optional.timestamp".into(),
            expected: "an integer",
        })?),
    };
    Ok((creator, timestamp))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    const CI_DIGEST: &str =
        "sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55";
    const CI: &str = "containers-image/signature/fixtures";
    const RH_KEY: &str = "cluster-update-keys/keys/verifier-public-key-redhat-release";
    const RH_FPR: &str = "567E347AD0044ADE55BA8A5F199E2F91FD431D51";
    const E3F1: &str = "sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7";

    fn fixtures() -> Option<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
        if dir.is_dir() {
            return Some(dir);
        }
        println!("notice: ../shared/fixtures absent, skipping");
        None
    }

    fn check(fx: &Path, sig: &str, key: &str, digest: &str) -> Result<Verified, SignatureError> {
        let keyring = Keyring::from_file(fx.join(key)).expect("keyring loads");
        let data = std::fs::read(fx.join(sig)).expect("signature readable");
        verify(&data, &keyring, digest)
    }

    fn accept(fx: &Path, sig: &str, key: &str, digest: &str) -> Verified {
        check(fx, sig, key, digest).unwrap_or_else(|e| panic!("{sig} rejected: {e}"))
    }

    fn reject(fx: &Path, sig: &str, key: &str, digest: &str) -> SignatureError {
        match check(fx, sig, key, digest) {
            Ok(v) => panic!("{sig} accepted: {v:?}"),
            Err(err) => err,
        }
    }

    fn payload(critical_extra: &str, optional: &str) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"type":"atomic container signature","image":{{"docker-manifest-digest":"{CI_DIGEST}"}},"identity":{{"docker-reference":"quay.io/x/y:1"}}{critical_extra}}}{optional}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn ocp_4_15_v4_signature_is_valid_for_red_hat_key() {
        let Some(fx) = fixtures() else { return };
        let digest = "sha256:0da6316466d60a3a4535d5fed3589feb0391989982fba59d47d4c729912d6363";
        let v = accept(
            &fx,
            "oc-mirror/internal/e2e/signatures/signature-1",
            RH_KEY,
            digest,
        );
        assert_eq!(
            v.identity,
            "quay.io/openshift-release-dev/ocp-release:4.15.0-x86_64"
        );
        assert_eq!(
            (v.key_fingerprint.as_str(), v.key_id.as_str()),
            (RH_FPR, "199E2F91FD431D51")
        );
        assert_eq!(v.created, Some(1_708_963_212));
        assert!(v.warnings.is_empty());
    }

    #[test]
    fn noo_bundle_signatures_are_valid_with_four_identities() {
        let Some(fx) = fixtures() else { return };
        let digest = "sha256:50b9402635dd4b312a86bed05dcdbda8c00120d3789ec2e9b527045100b3bdb4";
        let dir = "oc-mirror/tests/unit/testdata/noo-bundle-image";
        let ids: std::collections::BTreeSet<String> = (1..=4)
            .map(|n| accept(&fx, &format!("{dir}/signature-{n}"), RH_KEY, digest).identity)
            .collect();
        assert_eq!(ids.len(), 4);
    }

    #[test]
    fn oc_mirror_integration_sha512_signatures_are_valid() {
        let Some(fx) = fixtures() else { return };
        let dir = "oc-mirror/tests/integration/keys";
        for hex in [
            "2352c020dacb945a96cf665e553644f3a3c39341b636a4d9ef1653944fd9de1f",
            "f81792339c8b5934191d18a53b18bc1d584e01a9f37d59c0aa6905b00200aa1b",
        ] {
            let sig = format!("{dir}/v0.0.1-sha256-{hex}");
            let v = accept(
                &fx,
                &sig,
                &format!("{dir}/release-pk.asc"),
                &format!("sha256:{hex}"),
            );
            assert_eq!(v.creator, None);
        }
    }

    #[test]
    fn cincinnati_signature_is_valid_for_digest_in_message_json() {
        let Some(fx) = fixtures() else { return };
        let dir = "cincinnati/cincinnati/src/plugins/internal/graph_builder/dkrv2_openshift_secondary_metadata_scraper/test_fixtures";
        let message = std::fs::read(fx.join(dir).join("signatures/message.json")).expect("read");
        let json: Value = serde_json::from_slice(&message).expect("json");
        let digest = json["critical"]["image"]["docker-manifest-digest"]
            .as_str()
            .expect("digest");
        let key = format!("{dir}/public_keys/hongkliu.asc");
        accept(&fx, &format!("{dir}/signatures/signature-3"), &key, digest);
    }

    #[test]
    fn containers_image_valid_signatures_are_accepted() {
        let Some(fx) = fixtures() else { return };
        for sig in [
            "image.signature",
            "no-optional-fields.signature",
            "dir-img-valid/signature-1",
            "dir-img-valid-2/signature-1",
            "dir-img-valid-2/signature-2",
        ] {
            let key = format!("{CI}/public-key.gpg");
            let v = accept(&fx, &format!("{CI}/{sig}"), &key, CI_DIGEST);
            assert_eq!(
                v.key_fingerprint,
                "08CD26E446E2E95249B7A405E932F44B23E8DD43"
            );
        }
    }

    #[test]
    fn corrupt_and_unknown_key_signatures_are_rejected() {
        let Some(fx) = fixtures() else { return };
        let key = format!("{CI}/public-key.gpg");
        for sig in [
            "corrupt",
            "corrupt.signature-v3",
            "unknown-key",
            "unknown-key.signature-v3",
        ] {
            let sig = if sig.contains('.') {
                sig.to_string()
            } else {
                format!("{sig}.signature")
            };
            let err = reject(&fx, &format!("{CI}/{sig}"), &key, CI_DIGEST);
            assert!(
                matches!(err, SignatureError::NoValidKey { .. }),
                "{sig}: {err}"
            );
        }
    }

    #[test]
    fn expired_signature_is_rejected() {
        let Some(fx) = fixtures() else { return };
        let key = format!("{CI}/public-key.gpg");
        let err = reject(&fx, &format!("{CI}/expired.signature"), &key, CI_DIGEST);
        assert!(matches!(err, SignatureError::Expired { .. }), "{err}");
        assert!(err.to_string().starts_with("signature lifetime expired"));
    }

    #[test]
    fn non_json_payload_is_rejected() {
        let Some(fx) = fixtures() else { return };
        let key = format!("{CI}/public-key.gpg");
        for sig in ["invalid-blob.signature", "invalid-blob.signature-v3"] {
            let err = reject(&fx, &format!("{CI}/{sig}"), &key, CI_DIGEST);
            assert!(
                matches!(err, SignatureError::PayloadNotJson { .. }),
                "{sig}: {err}"
            );
        }
    }

    #[test]
    fn unsigned_literal_and_encrypted_messages_are_rejected() {
        let Some(fx) = fixtures() else { return };
        let key = format!("{CI}/public-key.gpg");
        let err = reject(
            &fx,
            &format!("{CI}/unsigned-literal.signature"),
            &key,
            CI_DIGEST,
        );
        assert!(matches!(err, SignatureError::Unsigned), "{err}");
        let err = reject(
            &fx,
            &format!("{CI}/unsigned-encrypted.signature"),
            &key,
            CI_DIGEST,
        );
        assert!(matches!(err, SignatureError::Encrypted), "{err}");
    }

    #[test]
    fn invalid_reference_is_accepted_because_identity_is_non_empty() {
        let Some(fx) = fixtures() else { return };
        let key = format!("{CI}/public-key.gpg");
        let v = accept(
            &fx,
            &format!("{CI}/invalid-reference.signature"),
            &key,
            CI_DIGEST,
        );
        assert_eq!(v.identity, "UPPERCASEISINVALID");
    }

    #[test]
    fn valid_signature_for_another_digest_is_rejected() {
        let Some(fx) = fixtures() else { return };
        let key = format!("{CI}/public-key.gpg");
        let err = reject(&fx, &format!("{CI}/image.signature"), &key, E3F1);
        assert!(
            matches!(err, SignatureError::DigestMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn short_first_partial_body_length_is_reframed() {
        // Literal data packet (tag 11): a 256-byte partial chunk, then a 4-byte final chunk.
        let mut packet = vec![0xcb, 0xe8, b'b', 0, 0, 0, 0, 0];
        packet.extend(std::iter::repeat_n(b'x', 250));
        packet.extend_from_slice(&[4, b'y', b'y', b'y', b'y']);
        assert!(PacketParser::new(packet.as_slice()).any(|p| p.is_err()));
        let reframed = reframe(&packet);
        let parsed: Vec<Packet> = PacketParser::new(reframed.as_slice())
            .collect::<Result<_, _>>()
            .expect("reframed packet parses");
        let [Packet::LiteralData(literal)] = parsed.as_slice() else {
            panic!("one literal packet expected, got {parsed:?}");
        };
        assert_eq!(literal.data().len(), 254);
    }

    #[test]
    fn payload_with_optional_fields_is_accepted() {
        let data = payload("", r#","optional":{"creator":"me","timestamp":42}"#);
        let p = check_payload(&data, CI_DIGEST).expect("valid payload");
        assert_eq!((p.creator.as_deref(), p.timestamp), (Some("me"), Some(42)));
        assert_eq!(p.identity, "quay.io/x/y:1");
        assert!(check_payload(&payload("", ""), CI_DIGEST).is_ok());
    }

    #[test]
    fn payload_with_unknown_field_is_rejected() {
        for (extra, optional, field) in [
            (r#","foo":1"#, "", "critical.foo"),
            ("", r#","optional":{"foo":1}"#, "optional.foo"),
            ("", r#","optional":{},"foo":1"#, "foo"),
        ] {
            let err = check_payload(&payload(extra, optional), CI_DIGEST).expect_err(field);
            assert_eq!(
                err.to_string(),
                format!("signature payload has unknown field `{field}`")
            );
        }
    }

    #[test]
    fn payload_with_wrong_type_is_rejected() {
        let data = String::from_utf8(payload("", ""))
            .expect("utf8")
            .replace("atomic ", "");
        let err = check_payload(data.as_bytes(), CI_DIGEST).expect_err("wrong type");
        assert_eq!(
            err.to_string(),
            r#"signature type is "container signature", want "atomic container signature""#
        );
    }

    #[test]
    fn payload_with_empty_identity_is_rejected() {
        let data = String::from_utf8(payload("", ""))
            .expect("utf8")
            .replace("quay.io/x/y:1", "");
        let err = check_payload(data.as_bytes(), CI_DIGEST).expect_err("empty identity");
        assert!(matches!(err, SignatureError::EmptyIdentity));
    }

    #[test]
    fn payload_with_other_digest_is_rejected() {
        let err = check_payload(&payload("", ""), E3F1).expect_err("digest mismatch");
        assert_eq!(
            err.to_string(),
            format!("signed digest {CI_DIGEST} does not match release digest {E3F1}")
        );
    }

    #[test]
    fn payload_of_wrong_shape_is_rejected() {
        let cases: [(&[u8], &str); 4] = [
            (b"not json", "signature payload is not JSON"),
            (b"[]", "signature payload is not a JSON object"),
            (
                br#"{"critical":{"type":"atomic container signature"}}"#,
                "signature payload lacks field `critical.image`",
            ),
            (
                br#"{"critical":{"type":1,"image":{},"identity":{}}}"#,
                "signature payload field `critical.type` is not a string",
            ),
        ];
        for (data, want) in cases {
            let err = check_payload(data, CI_DIGEST).expect_err(want);
            assert_eq!(err.to_string(), want);
        }
        let data = payload("", r#","optional":{"timestamp":1.5}"#);
        let err = check_payload(&data, CI_DIGEST).expect_err("float timestamp");
        assert!(matches!(err, SignatureError::PayloadFieldType { .. }));
    }
}
