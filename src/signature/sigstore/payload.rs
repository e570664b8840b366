//! The simple-signing payload of a cosign signature, parsed as strictly as containers/image's
//! `ParanoidUnmarshalJSONObjectExactFields` does, and only after its signature verified:
//! `{"critical":{"identity":{"docker-reference":…},"image":{"docker-manifest-digest":…},
//! "type":"cosign container image signature"},"optional":null|{…}}`.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::digest::Digest;

/// The only `critical.type` a cosign signature may have.
pub(crate) const COSIGN_TYPE: &str = "cosign container image signature";

/// What a verified payload claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    pub(crate) docker_reference: String,
    pub(crate) manifest_digest: Digest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Top {
    critical: Critical,
    // Present, possibly null: with `deserialize_with`, a missing key is refused.
    #[serde(rename = "optional", deserialize_with = "Optional::deserialize")]
    _optional: Optional,
}

/// `optional`: null, or an object whose `creator` is a string and whose `timestamp` is an
/// integral number (either may be null, a no-op for Go's decoder), each key at most once;
/// other keys are ignored.
struct Optional;

impl<'de> Deserialize<'de> for Optional {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Optional, D::Error> {
        d.deserialize_option(OptionalVisitor)
    }
}

struct OptionalVisitor;

impl<'de> Visitor<'de> for OptionalVisitor {
    type Value = Optional;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null or an object")
    }

    fn visit_none<E: de::Error>(self) -> Result<Optional, E> {
        Ok(Optional)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Optional, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Optional, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let wrong = |what: &str| de::Error::custom(format!("optional.{key} is not {what}"));
            match key.as_str() {
                "creator" => {
                    map.next_value::<Option<String>>().map_err(|_| wrong("a string"))?;
                }
                "timestamp" => {
                    let t = map.next_value::<Option<f64>>().map_err(|_| wrong("a number"))?;
                    if t.is_some_and(|t| t.fract() != 0.0 || t >= i64::MAX as f64 || t < i64::MIN as f64) {
                        return Err(wrong("an integer"));
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key optional.{key}")));
            }
        }
        Ok(Optional)
    }
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
pub(crate) fn parse(payload: &[u8]) -> Result<Claim, String> {
    let top: Top = serde_json::from_slice(payload).map_err(|e| format!("the payload is not the expected JSON: {e}"))?;
    if top.critical.kind != COSIGN_TYPE {
        return Err(format!("critical.type is {:?}, not {COSIGN_TYPE:?}", top.critical.kind));
    }
    let manifest_digest = top
        .critical
        .image
        .digest
        .parse::<Digest>()
        .map_err(|_| format!("docker-manifest-digest {:?} is not a sha256 digest", top.critical.image.digest))?;
    Ok(Claim { docker_reference: top.critical.identity.reference, manifest_digest })
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
        assert!(parse(payload("", r#"{"timestamp":"now"}"#).as_bytes()).unwrap_err().contains("optional.timestamp"));
        assert!(parse(payload("", r#"{"timestamp":1.5}"#).as_bytes()).unwrap_err().contains("not an integer"));
        assert!(parse(payload("", r#"{"creator":7}"#).as_bytes()).unwrap_err().contains("optional.creator"));
        assert!(parse(payload("", r#"{"creator":"a","creator":"b"}"#).as_bytes()).unwrap_err().contains("duplicate"));
        assert!(parse(payload("", "[]").as_bytes()).is_err());
    }

    #[test]
    fn takes_optional_values_as_go_decodes_them() {
        // containers/image reads the timestamp as a float64 that must be integral, and Go's
        // decoder leaves a field untouched, without error, for a JSON null.
        for optional in [r#"{"timestamp":1.0}"#, r#"{"timestamp":1e3}"#, r#"{"creator":null,"timestamp":null}"#, "{}"] {
            assert!(parse(payload("", optional).as_bytes()).is_ok(), "{optional}");
        }
    }

    #[test]
    fn refuses_a_digest_that_does_not_parse() {
        let bad = payload("", "null").replace(D, "sha256:XYZ");
        assert!(parse(bad.as_bytes()).unwrap_err().contains("docker-manifest-digest"));
    }
}
