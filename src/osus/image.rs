//! The graph-data image's manifest and config, made from the base's (pure): the base's
//! config with the layer's `diff_id` appended, one history entry and the copying `Cmd`; the
//! base's manifest with the new config and the layer appended. The base's layers are named
//! unchanged, so their bytes are carried as they are.

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use serde_json::{json, Value};

use super::layer::{self, Layer};
use crate::digest::Digest;
use crate::manifest::{DOCKER_MANIFEST, OCI_MANIFEST};
use crate::store::RawManifest;

/// The built image: its manifest, and the two blobs it adds to the base's.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    pub(crate) manifest: RawManifest,
    pub(crate) config: Bytes,
    pub(crate) config_digest: Digest,
}

/// The image of `layer` on the base image whose manifest and config are given.
pub(crate) fn build(base_manifest: &RawManifest, base_config: &[u8], layer: &Layer) -> Result<Built> {
    let config = Bytes::from(config(base_config, &layer.diff_id)?);
    let config_digest = Digest::of(&config);
    let media_type = base_manifest.media_type.as_str();
    let layer_type = match media_type {
        DOCKER_MANIFEST => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        OCI_MANIFEST => "application/vnd.oci.image.layer.v1.tar+gzip",
        other => bail!("the base image's manifest is a {other}, not an image manifest"),
    };
    let mut doc: Value = serde_json::from_slice(&base_manifest.bytes).context("the base image's manifest")?;
    let Some(obj) = doc.as_object_mut() else { bail!("the base image's manifest is not a JSON object") };
    let config_type = obj.get("config").and_then(|c| c.get("mediaType")).cloned().unwrap_or(json!(""));
    obj.insert(
        "config".into(),
        json!({"mediaType": config_type, "digest": config_digest.to_string(), "size": config.len()}),
    );
    let descriptor = json!({"mediaType": layer_type, "digest": layer.digest.to_string(), "size": layer.blob.len()});
    match obj.get_mut("layers").and_then(Value::as_array_mut) {
        Some(layers) => layers.push(descriptor),
        None => bail!("the base image's manifest has no layers"),
    }
    let bytes = Bytes::from(serde_json::to_vec_pretty(&doc)?);
    let manifest = RawManifest { digest: Digest::of(&bytes), bytes, media_type: media_type.to_string() };
    Ok(Built { manifest, config, config_digest })
}

/// The list of the built images: the base list with only the entries built on, each
/// pointing at its built image (`built` pairs a base image's digest with its built manifest).
pub(crate) fn list(base: &RawManifest, built: &[(&Digest, &RawManifest)]) -> Result<RawManifest> {
    let mut doc: Value = serde_json::from_slice(&base.bytes).context("the base image's list")?;
    let Some(entries) = doc.get_mut("manifests").and_then(Value::as_array_mut) else {
        bail!("the base image's list has no manifests")
    };
    entries.retain(|e| built.iter().any(|(d, _)| e.get("digest").and_then(Value::as_str) == Some(d.as_str())));
    for entry in entries.iter_mut() {
        let digest = entry.get("digest").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some((_, manifest)) = built.iter().find(|(d, _)| d.as_str() == digest) else { continue };
        entry["digest"] = json!(manifest.digest.to_string());
        entry["size"] = json!(manifest.bytes.len());
        entry["mediaType"] = json!(manifest.media_type);
    }
    let bytes = Bytes::from(serde_json::to_vec_pretty(&doc)?);
    Ok(RawManifest { digest: Digest::of(&bytes), bytes, media_type: base.media_type.clone() })
}

/// The base's config with the layer added and the command set (`Entrypoint`, `Env`, `User`
/// and the rest stay the base's).
fn config(base: &[u8], diff_id: &Digest) -> Result<Vec<u8>> {
    let mut doc: Value = serde_json::from_slice(base).context("the base image's config is not JSON")?;
    let Some(obj) = doc.as_object_mut() else { bail!("the base image's config is not a JSON object") };
    let rootfs = obj.entry("rootfs").or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    match rootfs.get_mut("diff_ids").and_then(Value::as_array_mut) {
        Some(ids) => ids.push(json!(diff_id.to_string())),
        None => bail!("the base image's config has no rootfs.diff_ids"),
    }
    let history = obj.entry("history").or_insert_with(|| json!([]));
    if let Some(entries) = history.as_array_mut() {
        entries.push(json!({
            "created": "1970-01-01T00:00:00Z",
            "created_by": format!("kubectl-release_mirror: graph data in /{}", layer::DATA_DIR),
        }));
    }
    let settings = obj.entry("config").or_insert_with(|| json!({}));
    match settings.as_object_mut() {
        Some(c) => _ = c.insert("Cmd".into(), json!(layer::command())),
        None => bail!("the base image's config has a `config` that is not an object"),
    }
    Ok(serde_json::to_vec(&doc)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osus::tarball::GraphData;

    fn base() -> (RawManifest, Vec<u8>) {
        let config = br#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"history":[{"created_by":"base"}]}"#.to_vec();
        let manifest = json!({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": Digest::of(&config).to_string(), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": format!("sha256:{}", "b".repeat(64)), "size": 7}]
        });
        let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap());
        (RawManifest { digest: Digest::of(&bytes), bytes, media_type: DOCKER_MANIFEST.into() }, config)
    }

    fn layer() -> Layer {
        let mut d = GraphData::default();
        d.files.insert("version".into(), b"1.1.0\n".to_vec());
        layer::build(&d).unwrap()
    }

    #[test]
    fn the_base_layers_come_first_and_the_graph_layer_last() {
        let (manifest, config) = base();
        let layer = layer();
        let built = build(&manifest, &config, &layer).unwrap();
        let doc: Value = serde_json::from_slice(&built.manifest.bytes).unwrap();
        let layers = doc["layers"].as_array().unwrap();
        assert_eq!(layers[0]["digest"], format!("sha256:{}", "b".repeat(64)));
        assert_eq!(layers[1]["digest"], layer.digest.to_string());
        assert_eq!(layers[1]["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip");
        assert_eq!(doc["config"]["digest"], built.config_digest.to_string());
        assert_eq!(built.manifest.digest, Digest::of(&built.manifest.bytes));
    }

    #[test]
    fn the_config_keeps_the_base_and_gains_the_diff_id_a_history_entry_and_the_command() {
        let (manifest, config) = base();
        let layer = layer();
        let built = build(&manifest, &config, &layer).unwrap();
        let doc: Value = serde_json::from_slice(&built.config).unwrap();
        assert_eq!(doc["rootfs"]["diff_ids"], json!(["sha256:aa", layer.diff_id.to_string()]));
        assert_eq!(doc["history"].as_array().unwrap().len(), 2);
        assert_eq!(doc["config"]["Env"], json!(["PATH=/bin"]));
        assert_eq!(doc["config"]["Cmd"], json!(layer::command()));
        assert_eq!(doc["architecture"], "amd64");
    }

    #[test]
    fn the_list_keeps_the_platforms_built_on_and_points_at_the_built_images() {
        let d = |n: &str| Digest::of(n.as_bytes());
        let base = json!({"schemaVersion": 2, "mediaType": crate::manifest::DOCKER_LIST, "manifests": [
            {"mediaType": DOCKER_MANIFEST, "digest": d("amd").to_string(), "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": DOCKER_MANIFEST, "digest": d("s390x").to_string(), "size": 1, "platform": {"os": "linux", "architecture": "s390x"}}]});
        let bytes = Bytes::from(base.to_string());
        let base = RawManifest { digest: Digest::of(&bytes), bytes, media_type: crate::manifest::DOCKER_LIST.into() };
        let (manifest, config) = self::base();
        let built = build(&manifest, &config, &layer()).unwrap().manifest;
        let amd = d("amd");
        let list = list(&base, &[(&amd, &built)]).unwrap();
        let doc: Value = serde_json::from_slice(&list.bytes).unwrap();
        let entries = doc["manifests"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "s390x was not built on");
        assert_eq!(entries[0]["digest"], built.digest.to_string());
        assert_eq!(entries[0]["size"], built.bytes.len());
        assert_eq!(entries[0]["platform"]["architecture"], "amd64");
        assert_eq!(list.media_type, crate::manifest::DOCKER_LIST);
    }

    #[test]
    fn a_list_is_not_a_base_manifest() {
        let (mut manifest, config) = base();
        manifest.media_type = crate::manifest::DOCKER_LIST.into();
        assert!(build(&manifest, &config, &layer()).is_err());
    }
}
