//! Streaming the release image's layers to find `release-manifests/`. Layers are never
//! buffered whole nor written anywhere: each is streamed through gzip and tar, its digest
//! checked as it passes, and only the few small files we need are kept in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::TryStreamExt as _;
use std::io::{BufRead, BufReader, Read};
use std::path::Component as PathPart;

use tokio_util::io::{StreamReader, SyncIoBridge};

use super::verification::{mentions_annotation, parse_verification, VerificationConfig};
use super::ReleaseError;
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::signature::sigstore::{mentions_policy, parse_policies, ImagePolicy};
use crate::store::{verified, BlobCheck, ImageStore};

const MANIFESTS_DIR: &str = "release-manifests";
/// The largest payload file we read into memory.
pub(crate) const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The payload files the mirror needs.
#[derive(Debug, Default)]
pub(crate) struct PayloadFiles {
    pub(crate) image_references: Option<Vec<u8>>,
    pub(crate) release_metadata: Option<Vec<u8>>,
    pub(crate) verification: Option<VerificationConfig>,
    /// The `openshift` ClusterImagePolicies, by file name (sigstore signatures).
    pub(crate) image_policies: BTreeMap<String, Vec<ImagePolicy>>,
    /// Small layers read whole, kept so the mirror need not fetch them again.
    pub(crate) blobs: Vec<(Digest, Bytes)>,
}

/// What one layer held (a later layer overrides an earlier one).
#[derive(Debug, Default)]
struct LayerFiles {
    files: BTreeMap<String, Option<Vec<u8>>>,
    verification: Option<VerificationConfig>,
    /// Files holding a ClusterImagePolicy named `openshift`, by file name.
    policies: BTreeMap<String, Vec<ImagePolicy>>,
    /// The whole layer, when it was small and read to its end.
    blob: Option<(Digest, Bytes)>,
}

/// Read `release-manifests/` out of the layers of the release image. Layers are read from
/// the last to the first, and reading stops as soon as every file we need is decided (found,
/// or deleted by a whiteout) by a later layer: a release's payload is in its top layer, and
/// the base layers under it (tens of MiB) need not be streamed on every run.
pub(crate) async fn read_payload<S: ImageStore>(
    store: &S,
    repo: &str,
    layers: &[Descriptor],
    check: BlobCheck,
) -> Result<PayloadFiles, ReleaseError> {
    let mut merged = Merged::default();
    for layer in layers.iter().rev() {
        if merged.complete() {
            break;
        }
        merged.add_lower(read_layer(store, repo, layer, check).await?);
    }
    Ok(merged.out)
}

async fn read_layer<S: ImageStore>(
    store: &S,
    repo: &str,
    layer: &Descriptor,
    check: BlobCheck,
) -> Result<LayerFiles, ReleaseError> {
    let blob = store
        .get_blob(repo, &layer.digest)
        .await
        .map_err(|e| ReleaseError::Layer { digest: layer.digest.to_string(), source: Box::new(e) })?;
    let kept = Arc::new(Mutex::new(Vec::new()));
    let keep = (layer.size <= KEEP_BYTES).then(|| kept.clone());
    let stream = verified(blob.stream, layer.digest.clone(), layer.size, check).inspect_ok(move |chunk| {
        if let Some(keep) = &keep {
            keep.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(chunk);
        }
    });
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    let digest = layer.digest.to_string();
    let mut files = tokio::task::spawn_blocking(move || scan_layer(reader))
        .await
        .map_err(|e| ReleaseError::Io { digest: digest.clone(), source: std::io::Error::other(e) })?
        .map_err(|source| ReleaseError::Io { digest, source })?;
    let bytes = std::mem::take(&mut *kept.lock().unwrap_or_else(|p| p.into_inner()));
    // Only a layer read to its end (and so digest-checked) is kept.
    if bytes.len() as u64 == layer.size && layer.size > 0 {
        files.blob = Some((layer.digest.clone(), Bytes::from(bytes)));
    }
    Ok(files)
}

/// Release layers up to this size are kept in memory once read, so the mirror copies them
/// without fetching them again.
pub(crate) const KEEP_BYTES: u64 = 64 * 1024 * 1024;

/// The payload files seen so far, reading from the top layer down: the first layer (from the
/// top) to mention a file decides it.
#[derive(Default)]
struct Merged {
    out: PayloadFiles,
    references: bool,
    metadata: bool,
    verification: bool,
    /// Policy file names an upper layer decided (holds, or deletes with a whiteout).
    policy_files: std::collections::BTreeSet<String>,
}

impl Merged {
    fn complete(&self) -> bool {
        self.references && self.metadata && self.verification
    }

    /// Add the files of the next layer down.
    fn add_lower(&mut self, found: LayerFiles) {
        self.out.blobs.extend(found.blob);
        for (name, policies) in found.policies {
            if self.policy_files.insert(name.clone()) {
                self.out.image_policies.insert(name, policies);
            }
        }
        for (name, body) in found.files {
            let (slot, decided) = match name.as_str() {
                "image-references" => (&mut self.out.image_references, &mut self.references),
                "release-metadata" => (&mut self.out.release_metadata, &mut self.metadata),
                _ => {
                    if body.is_none() {
                        // A whiteout hides a lower layer's policy file of that name.
                        self.policy_files.insert(name);
                    }
                    continue;
                }
            };
            if !*decided {
                *slot = body;
                *decided = true;
            }
        }
        if !self.verification && found.verification.is_some() {
            self.out.verification = found.verification;
            self.verification = true;
        }
    }
}

/// Walk one (gzip'd) tar stream, then drain it so the digest check at its end runs.
fn scan_layer(reader: impl Read) -> std::io::Result<LayerFiles> {
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let magic = reader.fill_buf()?.get(..4).map(<[u8]>::to_vec).unwrap_or_default();
    if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(std::io::Error::other("zstd-compressed layers are not supported"));
    }
    let mut found = LayerFiles::default();
    let scanned = if magic.starts_with(&[0x1f, 0x8b]) {
        let mut gz = flate2::bufread::MultiGzDecoder::new(&mut reader);
        scan_tar(&mut gz, &mut found).and_then(|()| std::io::copy(&mut gz, &mut std::io::sink()).map(drop))
    } else {
        scan_tar(&mut reader, &mut found)
    };
    // Read to the end either way: a digest mismatch, found only there, explains a
    // corrupt gzip or tar stream better than the decoder's own complaint.
    let drained = std::io::copy(&mut reader, &mut std::io::sink());
    match (scanned, drained) {
        (_, Err(digest_error)) => Err(digest_error),
        (Err(e), Ok(_)) => Err(e),
        (Ok(()), Ok(_)) => Ok(found),
    }
}

fn scan_tar(reader: &mut dyn Read, found: &mut LayerFiles) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let Some(name) = payload_file_name(&entry.path()?) else { continue };
        if let Some(removed) = name.strip_prefix(".wh.") {
            found.files.insert(removed.to_string(), None);
            continue;
        }
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let size = entry.size();
        let wanted = matches!(name.as_str(), "image-references" | "release-metadata");
        let maybe_config = name.ends_with(".yaml") || name.ends_with(".yml");
        if !(wanted || maybe_config) {
            continue;
        }
        if size > MAX_FILE_BYTES {
            if wanted {
                return Err(std::io::Error::other(format!(
                    "{MANIFESTS_DIR}/{name} is {size} bytes, over the limit of {MAX_FILE_BYTES}"
                )));
            }
            continue;
        }
        let mut body = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut body)?;
        if wanted {
            found.files.insert(name, Some(body));
            continue;
        }
        if mentions_policy(&body) {
            let policies =
                parse_policies(&body).map_err(|e| std::io::Error::other(format!("{MANIFESTS_DIR}/{name}: {e}")))?;
            if !policies.is_empty() {
                found.policies.insert(name.clone(), policies);
            }
        }
        if mentions_annotation(&body) {
            found.verification = parse_verification(&body)
                .map_err(|e| std::io::Error::other(format!("{MANIFESTS_DIR}/{name}: {e}")))?
                .or(found.verification.take());
        }
    }
    Ok(())
}

/// `release-manifests/<name>` → `name`, for plain names directly in that folder only.
fn payload_file_name(path: &std::path::Path) -> Option<String> {
    let mut parts = path.components().filter(|p| !matches!(p, PathPart::CurDir));
    match (parts.next(), parts.next(), parts.next()) {
        (Some(PathPart::Normal(dir)), Some(PathPart::Normal(file)), None) if dir == MANIFESTS_DIR => {
            file.to_str().map(str::to_string)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, body) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *body).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn keeps_only_direct_release_manifest_files() {
        assert_eq!(
            payload_file_name(Path::new("release-manifests/image-references")).as_deref(),
            Some("image-references")
        );
        assert_eq!(payload_file_name(Path::new("./release-manifests/x.yaml")).as_deref(), Some("x.yaml"));
        assert_eq!(payload_file_name(Path::new("release-manifests/../etc/passwd")), None);
        assert_eq!(payload_file_name(Path::new("other/image-references")), None);
        assert_eq!(payload_file_name(Path::new("/release-manifests/image-references")), None);
    }

    #[test]
    fn finds_image_references_in_a_gzipped_layer() {
        let layer = gzip(&tar_of(&[
            ("usr/bin/tool", b"binary"),
            ("release-manifests/image-references", b"{\"kind\":\"ImageStream\"}"),
            ("release-manifests/release-metadata", b"{}"),
        ]));
        let found = scan_layer(&layer[..]).unwrap();
        assert_eq!(found.files["image-references"].as_deref(), Some(&b"{\"kind\":\"ImageStream\"}"[..]));
        assert!(found.files.contains_key("release-metadata"));
    }

    #[test]
    fn reads_plain_tar_and_whiteouts() {
        let layer = tar_of(&[("release-manifests/.wh.image-references", b"")]);
        let found = scan_layer(&layer[..]).unwrap();
        assert_eq!(found.files.get("image-references"), Some(&None));
    }

    fn files(entries: &[(&str, Option<&[u8]>)]) -> LayerFiles {
        let files = entries.iter().map(|(n, b)| (n.to_string(), b.map(<[u8]>::to_vec))).collect();
        LayerFiles { files, verification: None, policies: BTreeMap::new(), blob: None }
    }

    #[test]
    fn an_upper_layer_decides_over_the_layers_below() {
        let mut m = Merged::default();
        m.add_lower(files(&[("image-references", Some(b"top"))]));
        assert!(!m.complete(), "release-metadata and the verification config are undecided");
        m.add_lower(files(&[("image-references", Some(b"base")), ("release-metadata", Some(b"meta"))]));
        assert_eq!(m.out.image_references.as_deref(), Some(&b"top"[..]));
        assert_eq!(m.out.release_metadata.as_deref(), Some(&b"meta"[..]));
    }

    #[test]
    fn an_upper_whiteout_hides_a_lower_file() {
        let mut m = Merged::default();
        m.add_lower(files(&[("release-metadata", None)]));
        m.add_lower(files(&[("release-metadata", Some(b"old"))]));
        assert_eq!(m.out.release_metadata, None);
    }

    #[test]
    fn reading_stops_once_every_file_is_decided() {
        let mut m = Merged::default();
        let mut top = files(&[("image-references", Some(b"r")), ("release-metadata", Some(b"m"))]);
        top.verification = Some(VerificationConfig::default());
        m.add_lower(top);
        assert!(m.complete());
    }

    const POLICY_FILE: &str = "release-manifests/0000_90_openshift-cluster-image-policy.yaml";

    fn policy_yaml(name: &str) -> String {
        use base64::Engine as _;
        let pem = crate::signature::sigstore::tests_support::P256_PEM;
        let key = base64::engine::general_purpose::STANDARD.encode(pem);
        format!(
            "apiVersion: config.openshift.io/v1\nkind: ClusterImagePolicy\nmetadata:\n  name: {name}\nspec:\n  scopes:\n  \
             - quay.io/openshift-release-dev/ocp-release\n  policy:\n    rootOfTrust:\n      policyType: PublicKey\n      \
             publicKey:\n        keyData: {key}\n"
        )
    }

    #[test]
    fn keeps_the_openshift_cluster_image_policy_of_the_payload() {
        let yaml = policy_yaml("openshift");
        let other = policy_yaml("someone-else");
        let layer = gzip(&tar_of(&[
            (POLICY_FILE, yaml.as_bytes()),
            ("release-manifests/0000_99_other.yaml", other.as_bytes()),
        ]));
        let found = scan_layer(&layer[..]).unwrap();
        let kept: Vec<&str> = found.policies.keys().map(String::as_str).collect();
        assert_eq!(kept, ["0000_90_openshift-cluster-image-policy.yaml"]);
        let mut m = Merged::default();
        m.add_lower(found);
        let policy = &m.out.image_policies["0000_90_openshift-cluster-image-policy.yaml"][0];
        assert_eq!(policy.scopes, ["quay.io/openshift-release-dev/ocp-release"]);
    }

    #[test]
    fn an_upper_whiteout_hides_a_lower_policy() {
        let yaml = policy_yaml("openshift");
        let lower = scan_layer(&tar_of(&[(POLICY_FILE, yaml.as_bytes())])[..]).unwrap();
        let upper =
            scan_layer(&tar_of(&[("release-manifests/.wh.0000_90_openshift-cluster-image-policy.yaml", b"")])[..]);
        let mut m = Merged::default();
        m.add_lower(upper.unwrap());
        m.add_lower(lower);
        assert!(m.out.image_policies.is_empty());
    }

    #[test]
    fn a_policy_that_does_not_parse_stops_the_read_naming_the_file() {
        let yaml = policy_yaml("openshift").replace("keyData: ", "keyData: not-base64!");
        let err = scan_layer(&tar_of(&[(POLICY_FILE, yaml.as_bytes())])[..]).unwrap_err();
        assert!(err.to_string().starts_with(&format!("{POLICY_FILE}: ")), "{err}");
    }

    #[test]
    #[ignore = "needs ../shared/fixtures"]
    fn reads_the_real_4_22_policy_out_of_a_payload_layer() {
        let path = crate::signature::vectors::fixtures().join("sigstore/cluster-image-policy-release-4.22.yaml");
        let yaml = std::fs::read(&path).unwrap();
        let found = scan_layer(&gzip(&tar_of(&[(POLICY_FILE, &yaml)]))[..]).unwrap();
        let policy = &found.policies["0000_90_openshift-cluster-image-policy.yaml"][0];
        assert!(policy.enforced_by_default());
        assert_eq!(policy.scopes.len(), 3);
    }

    #[test]
    fn refuses_zstd_layers_with_a_clear_message() {
        let err = scan_layer(&[0x28u8, 0xb5, 0x2f, 0xfd, 0, 0][..]).unwrap_err();
        assert!(err.to_string().contains("zstd"));
    }
}
