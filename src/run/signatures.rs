//! The run's signature steps: verify before the copy (exit 3 when no valid signature), find
//! the signature a to-disk run carried across, and write the ConfigMap file.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::report::SignatureReport;
use crate::disk;
use crate::exit::signature_failure;
use crate::job::SignatureCheck;
use crate::progress::Progress;
use crate::release::Release;
use crate::signature::{self, Accepted, GateOptions};

/// `--skip-release-image-signature`: say what that costs.
pub(crate) fn warn_skipped(progress: &Progress) {
    progress.warn(
        "--skip-release-image-signature: the release signature is not verified and no signature \
         ConfigMap is written; a cluster refuses to update to a release it cannot verify",
    );
}

/// Fetches and verifies the release signatures; exit code 3 when none is valid.
pub(crate) async fn verify(
    check: &SignatureCheck,
    from_dir: Option<&Path>,
    release: &Release,
    http: &crate::http::Settings,
    progress: &Progress,
) -> Result<Vec<Accepted>> {
    progress.info(&format!("verifying the signature of release {}", release.digest));
    let stores = match (check.stores.is_empty(), from_dir) {
        (true, Some(dir)) => local_store(dir, release, progress),
        _ => None,
    };
    let options = GateOptions {
        key_files: check.keys.clone(),
        stores: stores.unwrap_or_else(|| check.stores.clone()),
        timeout: check.store_timeout,
        http: http.clone(),
    };
    let accepted = signature::check_release(&options, release.verification.as_ref(), &release.digest)
        .await
        .map_err(signature_failure)?;
    for a in &accepted {
        let v = &a.verified;
        progress.info(&format!(
            "valid signature {} for keyring {}: identity {}, key {}",
            a.url, a.keyring, v.identity, v.key_fingerprint
        ));
        for warning in &v.warnings {
            progress.warn(warning);
        }
    }
    Ok(accepted)
}

/// On the far side of the gap the internet stores are out of reach: with `--from-dir` and
/// no `--release-image-signature-store`, the signature ConfigMap the to-disk run wrote
/// (`<from-dir>/config/signature-sha256-<16hex>.yaml`, or oc's `.json`) is the store.
fn local_store(from_dir: &Path, release: &Release, progress: &Progress) -> Option<Vec<String>> {
    let config = from_dir.join("config");
    let yaml = disk::layout::signature_file_name(&release.digest);
    let json = yaml.replace(".yaml", ".json");
    let path = [yaml, json].into_iter().map(|name| config.join(name)).find(|p| p.is_file())?;
    progress.info(&format!("reading release signatures from {}", path.display()));
    Some(vec![format!("file://{}", path.display())])
}

/// A signature ConfigMap file, prepared before the copy and written after it.
#[derive(Debug, Clone)]
pub(crate) struct ConfigMapFile {
    pub(crate) path: PathBuf,
    yaml: String,
    /// The file is there already with exactly this content: it is left alone (a complete
    /// tree on read-only media can be run again).
    pub(crate) unchanged: bool,
}

/// Before anything is copied: the release's ConfigMap file, its folder made (inside the
/// `--to-dir` tree no component may be a symbolic link) and proven writable, so a bad
/// location fails the run before the first byte moves. Nothing is touched in a dry run.
pub(crate) fn prepare_config_map(
    dir: Option<&Path>,
    to_dir: Option<&Path>,
    release: &Release,
    accepted: &[Accepted],
    dry_run: bool,
) -> Result<Option<ConfigMapFile>> {
    let Some(dir) = dir else { return Ok(None) };
    let config_map = signature::build_config_map(&release.digest, &signature::distinct_signatures(accepted));
    let yaml = config_map.to_yaml()?;
    let path = dir.join(disk::layout::signature_file_name(&release.digest));
    if dry_run {
        return Ok(Some(ConfigMapFile { path, yaml, unchanged: false }));
    }
    let made = match to_dir.filter(|root| dir.starts_with(root)) {
        Some(root) => disk::ensure_dir(root, dir).map_err(anyhow::Error::new),
        None => std::fs::create_dir_all(dir).map_err(anyhow::Error::new),
    };
    made.with_context(|| format!("cannot create folder {} for the signature configmap", dir.display()))?;
    // A file that is a link, a FIFO or too large is replaced, never read.
    let unchanged = disk::read_small(&path, yaml.len()).ok().flatten().is_some_and(|old| old == yaml.as_bytes());
    if !unchanged {
        tempfile::Builder::new().prefix(".release-mirror-probe-").tempfile_in(dir).with_context(|| {
            format!("cannot write the signature configmap into {}: nothing was copied", dir.display())
        })?;
    }
    Ok(Some(ConfigMapFile { path, yaml, unchanged }))
}

/// After the copy: write the prepared file (unless unchanged, or in a dry run) and describe it.
pub(crate) fn write_config_map(
    file: Option<&ConfigMapFile>,
    release: &Release,
    accepted: &[Accepted],
    dry_run: bool,
) -> Result<SignatureReport> {
    let name = signature::config_map_name(&release.digest);
    let Some(file) = file else {
        return Ok(SignatureReport::new(accepted, name, None));
    };
    if !dry_run && !file.unchanged {
        disk::write_file_atomic(&file.path, file.yaml.as_bytes())
            .with_context(|| format!("cannot write signature configmap {}", file.path.display()))?;
    }
    let mut report = SignatureReport::new(accepted, name, Some(file.path.display().to_string()));
    report.unchanged = file.unchanged;
    Ok(report)
}

/// Writes `yaml` to `dir/<file_name>` atomically (mode 0644), creating `dir`.
#[cfg(test)]
fn write_yaml(dir: &Path, file_name: &str, yaml: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name);
    disk::write_file_atomic(&path, yaml.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_configmap_parses_back_with_mode_0644() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let hex = "81154f5c03294534e1eaf0319bef7a601134f891689ccede5d705ef659aa8c92";
        let digest = format!("sha256:{hex}").parse().expect("digest");
        let yaml = signature::build_config_map(&digest, &[b"sig"]).to_yaml().expect("yaml");
        let path = write_yaml(&dir.path().join("config"), "x.yaml", &yaml).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let value: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml parses");
        assert_eq!(value["binaryData"][format!("sha256-{hex}-1")], "c2ln");
        assert_eq!(value["metadata"]["labels"]["release.openshift.io/verification-signatures"], "");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}
