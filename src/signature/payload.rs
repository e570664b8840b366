//! The signed payload of a release signature: the "atomic container signature" JSON,
//! checked field by field as the cluster-version operator decodes it.

use serde_json::{Map, Value};

use super::error::SignatureError;

/// The payload type every release signature must carry.
const SIGNATURE_TYPE: &str = "atomic container signature";
const OBJECT: &str = "an object";
const STRING: &str = "a string";

/// The checked content of a signature's literal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Payload {
    pub(crate) identity: String,
    pub(crate) digest: String,
    pub(crate) creator: Option<String>,
    pub(crate) timestamp: Option<i64>,
}

/// Checks a signature's literal data as the CVO does: JSON with no unknown field anywhere,
/// `critical.type` exactly [`SIGNATURE_TYPE`], the signed digest equal to `expected_digest`,
/// a non-empty identity. `optional` may be absent or null, or hold `creator` (a string)
/// and `timestamp` (an integer): the CVO decodes it into that struct, unknown fields refused.
pub(crate) fn check_payload(data: &[u8], expected_digest: &str) -> Result<Payload, SignatureError> {
    let value: Value = serde_json::from_slice(data).map_err(|source| SignatureError::PayloadNotJson { source })?;
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
    let digest = field(image, "critical.image", "docker-manifest-digest", STRING, Value::as_str)?;
    let reference = field(identity, "critical.identity", "docker-reference", STRING, Value::as_str)?;
    if typ != SIGNATURE_TYPE {
        return Err(SignatureError::WrongType { found: typ.to_string() });
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
    Ok(Payload { identity: reference.to_string(), digest: digest.to_string(), creator, timestamp })
}

fn field_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn only_fields(map: &Map<String, Value>, parent: &str, known: &[&str]) -> Result<(), SignatureError> {
    match map.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(SignatureError::PayloadUnknownField { field: field_path(parent, key) }),
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
    let value = map.get(key).ok_or_else(|| SignatureError::PayloadMissingField { field: path() })?;
    get(value).ok_or_else(|| SignatureError::PayloadFieldType { field: path(), expected })
}

fn optional_fields(value: Option<&Value>) -> Result<(Option<String>, Option<i64>), SignatureError> {
    let optional = match value {
        None | Some(Value::Null) => return Ok((None, None)),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(SignatureError::PayloadFieldType { field: "optional".into(), expected: OBJECT }),
    };
    only_fields(optional, "optional", &["creator", "timestamp"])?;
    let creator = match optional.get("creator") {
        None | Some(Value::Null) => None,
        Some(_) => Some(field(optional, "optional", "creator", STRING, Value::as_str)?.to_string()),
    };
    let timestamp =
        match optional.get("timestamp") {
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
    use super::*;

    const CI_DIGEST: &str = "sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55";
    const E3F1: &str = "sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7";

    fn payload(critical_extra: &str, optional: &str) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"type":"atomic container signature","image":{{"docker-manifest-digest":"{CI_DIGEST}"}},"identity":{{"docker-reference":"quay.io/x/y:1"}}{critical_extra}}}{optional}}}"#
        )
        .into_bytes()
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
            assert_eq!(err.to_string(), format!("signature payload has unknown field `{field}`"));
        }
    }

    #[test]
    fn payload_with_wrong_type_is_rejected() {
        let data = String::from_utf8(payload("", "")).expect("utf8").replace("atomic ", "");
        let err = check_payload(data.as_bytes(), CI_DIGEST).expect_err("wrong type");
        assert_eq!(err.to_string(), r#"signature type is "container signature", want "atomic container signature""#);
    }

    #[test]
    fn payload_with_empty_identity_is_rejected() {
        let data = String::from_utf8(payload("", "")).expect("utf8").replace("quay.io/x/y:1", "");
        let err = check_payload(data.as_bytes(), CI_DIGEST).expect_err("empty identity");
        assert!(matches!(err, SignatureError::EmptyIdentity));
    }

    #[test]
    fn payload_with_other_digest_is_rejected() {
        let err = check_payload(&payload("", ""), E3F1).expect_err("digest mismatch");
        assert_eq!(err.to_string(), format!("signed digest {CI_DIGEST} does not match release digest {E3F1}"));
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
