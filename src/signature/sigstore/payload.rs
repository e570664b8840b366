//! The simple-signing payload of a cosign signature, parsed as strictly as containers/image's
//! `ParanoidUnmarshalJSONObjectExactFields` does, and only after its signature verified:
//! `{"critical":{"identity":{"docker-reference":…},"image":{"docker-manifest-digest":…},
//! "type":"cosign container image signature"},"optional":null|{…}}`.

use serde::Deserialize;

use crate::digest::Digest;

/// The only `critical.type` a cosign signature may have.
pub const COSIGN_TYPE: &str = "cosign container image signature";

/// What a verified payload claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub docker_reference: String,
    pub manifest_digest: Digest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Top {
    critical: Critical,
    // Present, possibly null: a missing key is refused (no serde default for it).
    #[serde(deserialize_with = "Option::deserialize")]
    optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: Image,
    identity: Identity,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    reference: String,
}

/// Parse a payload whose signature already verified.
pub fn parse(payload: &[u8]) -> Result<Claim, String> {
    let top: Top = serde_json::from_slice(payload).map_err(|e| format!("the payload is not the expected JSON: {e}"))?;
    if top.critical.kind != COSIGN_TYPE {
        return Err(format!("critical.type is {:?}, not {COSIGN_TYPE:?}", top.critical.kind));
    }
    if let Some(optional) = &top.optional {
        check_optional(optional)?;
    }
    let manifest_digest = top
        .critical
        .image
        .digest
        .parse::<Digest>()
        .map_err(|_| format!("docker-manifest-digest {:?} is not a sha256 digest", top.critical.image.digest))?;
    Ok(Claim { docker_reference: top.critical.identity.reference, manifest_digest })
}

/// `optional.creator` a string and `optional.timestamp` an integer when present; other keys
/// are ignored.
fn check_optional(optional: &serde_json::Map<String, serde_json::Value>) -> Result<(), String> {
    if let Some(creator) = optional.get("creator") {
        if !creator.is_string() {
            return Err("optional.creator is not a string".into());
        }
    }
    if let Some(timestamp) = optional.get("timestamp") {
        if !timestamp.is_i64() {
            return Err("optional.timestamp is not an integer".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:7d27ba1da0f64410102468d138f9ec8f61f2cc23bb58ff4cd63243a4434e3d99";

    fn payload(critical_extra: &str, optional: &str) -> String {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"quay.io/a/b:1"}},"image":{{"docker-manifest-digest":"{D}"}},"type":"cosign container image signature"{critical_extra}}},"optional":{optional}}}"#
        )
    }

    #[test]
    fn reads_what_cosign_writes() {
        let claim = parse(payload("", "null").as_bytes()).unwrap();
        assert_eq!(claim.docker_reference, "quay.io/a/b:1");
        assert_eq!(claim.manifest_digest.as_str(), D);
        let with_optional = payload("", r#"{"creator":"cosign","timestamp":1700000000,"anything":[1]}"#);
        assert!(parse(with_optional.as_bytes()).is_ok());
    }

    #[test]
    fn refuses_an_extra_field_anywhere_in_critical_or_at_the_top() {
        let err = parse(payload(r#","extra":1"#, "null").as_bytes()).unwrap_err();
        assert!(err.contains("unknown field `extra`"), "{err}");
        let top = payload("", "null").replacen('{', r#"{"more":true,"#, 1);
        assert!(parse(top.as_bytes()).unwrap_err().contains("unknown field `more`"));
        let image = payload("", "null").replace(r#""image":{"#, r#""image":{"x":"y","#);
        assert!(parse(image.as_bytes()).is_err());
    }

    #[test]
    fn refuses_a_missing_optional_and_a_duplicate_key() {
        let missing = payload("", "null").replace(r#","optional":null"#, "");
        assert!(parse(missing.as_bytes()).unwrap_err().contains("missing field `optional`"));
        let twice = payload(r#","type":"cosign container image signature""#, "null");
        assert!(parse(twice.as_bytes()).unwrap_err().contains("duplicate field"));
    }

    #[test]
    fn refuses_another_type_and_wrongly_typed_fields() {
        let atomic = payload("", "null").replace(COSIGN_TYPE, "atomic container signature");
        assert!(parse(atomic.as_bytes()).unwrap_err().contains("critical.type"));
        let number = payload("", "null").replace(r#""quay.io/a/b:1""#, "7");
        assert!(parse(number.as_bytes()).is_err());
        assert!(parse(payload("", r#"{"timestamp":"now"}"#).as_bytes()).unwrap_err().contains("timestamp"));
        assert!(parse(payload("", r#"{"timestamp":1.5}"#).as_bytes()).is_err());
        assert!(parse(payload("", r#"{"creator":null}"#).as_bytes()).unwrap_err().contains("creator"));
        assert!(parse(payload("", "[]").as_bytes()).is_err());
    }

    #[test]
    fn refuses_a_digest_that_does_not_parse() {
        let bad = payload("", "null").replace(D, "sha256:XYZ");
        assert!(parse(bad.as_bytes()).unwrap_err().contains("docker-manifest-digest"));
    }
}
