//! What the API stand-in makes of a request body: a v1 ConfigMap decoded from JSON or YAML
//! (protobuf answers 500: not implemented), checked as the API server checks names, keys
//! and binary data, and JSON merge patches (RFC 7386) applied.

use serde_json::{json, Value};

use super::apiserver_api::{not_implemented, status, Call, Reply};

/// The body as a ConfigMap for namespace `ns` (and, for an update, named `name`).
pub(super) fn decode(call: &Call, ns: &str, name: Option<&str>) -> Result<Value, Reply> {
    let unknown =
        |e: String| status(400, "BadRequest", &format!("the body of the request was in an unknown format: {e}"), None);
    let mut object: Value = match call.media_type().as_str() {
        "application/yaml" => serde_saphyr::from_slice(call.body).map_err(|e| unknown(e.to_string()))?,
        "application/vnd.kubernetes.protobuf" => return Err(not_implemented("protobuf bodies")),
        _ => serde_json::from_slice(call.body).map_err(|e| unknown(e.to_string()))?,
    };
    if object["kind"] != "ConfigMap" || object["apiVersion"] != "v1" {
        let message =
            format!("the body kind {} / apiVersion {} is not v1 ConfigMap", object["kind"], object["apiVersion"]);
        return Err(status(400, "BadRequest", &message, None));
    }
    match object["metadata"]["namespace"].as_str() {
        None | Some("") => object["metadata"]["namespace"] = json!(ns),
        Some(n) if n != ns => {
            let message = "the namespace of the provided object does not match the namespace sent on the request";
            return Err(status(400, "BadRequest", message, None));
        }
        Some(_) => {}
    }
    if let (Some(url), Some(sent)) = (name, object["metadata"]["name"].as_str()) {
        if url != sent {
            let message = format!("the name of the object ({sent}) does not match the name on the URL ({url})");
            return Err(status(400, "BadRequest", &message, None));
        }
    }
    Ok(object)
}

/// The checks the API server applies to a ConfigMap's name and keys.
pub(super) fn validate(object: &Value, name: &str) -> Result<(), Reply> {
    let invalid = |what: String| status(422, "Invalid", &format!("ConfigMap \"{name}\" is invalid: {what}"), None);
    let dns = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    if !dns(name) {
        return Err(invalid(format!("metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain")));
    }
    for field in ["data", "binaryData"] {
        for (key, value) in object[field].as_object().into_iter().flatten() {
            let ok = key.len() <= 253 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
            if !ok || key.is_empty() {
                return Err(invalid(format!("{field}[{key}]: Invalid value: a valid config key")));
            }
            let base64 = field == "data" || value.as_str().is_some_and(is_base64);
            if !base64 {
                return Err(invalid(format!("{field}[{key}]: illegal base64 data")));
            }
        }
    }
    Ok(())
}

fn is_base64(text: &str) -> bool {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).is_ok()
}

/// RFC 7386 JSON merge patch.
pub(super) fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    for (key, value) in fields {
        if value.is_null() {
            if let Some(map) = target.as_object_mut() {
                map.remove(key);
            }
        } else {
            merge_patch(&mut target[key], value);
        }
    }
}
