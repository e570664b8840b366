//! oc's on-disk layout, as pure path logic:
//!
//! ```text
//! DIR/v2/<repo>/blobs/sha256:<hex>      layers, configs and manifest bodies
//! DIR/v2/<repo>/manifests/sha256:<hex>  the manifest body (a hard link to the blob)
//! DIR/v2/<repo>/manifests/<tag>         symlink whose target is the text "sha256:<hex>"
//! DIR/config/signature-sha256-<16hex>.yaml
//! ```

use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::reference::{check_repository, check_tag};

/// Prefix of every temporary file we create; a rerun sweeps leftovers with this prefix.
pub(crate) const TEMP_PREFIX: &str = ".release-mirror-tmp-";

/// Paths of one tree.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// `DIR/v2/<repo>`; the repository name is validated so it cannot leave the tree.
    pub(crate) fn repo_dir(&self, repo: &str) -> Result<PathBuf, String> {
        check_repository(repo)?;
        Ok(self.root.join("v2").join(repo))
    }

    pub(crate) fn blobs_dir(&self, repo: &str) -> Result<PathBuf, String> {
        Ok(self.repo_dir(repo)?.join("blobs"))
    }

    pub(crate) fn manifests_dir(&self, repo: &str) -> Result<PathBuf, String> {
        Ok(self.repo_dir(repo)?.join("manifests"))
    }

    pub(crate) fn blob(&self, repo: &str, digest: &Digest) -> Result<PathBuf, String> {
        Ok(self.blobs_dir(repo)?.join(digest.as_str()))
    }

    /// `manifests/<digest>` or `manifests/<tag>`; anything else is refused.
    pub(crate) fn manifest(&self, repo: &str, reference: &str) -> Result<PathBuf, String> {
        match Reference::parse(reference)? {
            Reference::Digest(d) => Ok(self.manifests_dir(repo)?.join(d.as_str())),
            Reference::Tag(t) => Ok(self.manifests_dir(repo)?.join(t)),
        }
    }
}

/// A manifest reference: a digest or a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reference {
    Digest(Digest),
    Tag(String),
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, String> {
        if text.starts_with("sha256:") {
            return text.parse().map(Reference::Digest).map_err(|e| e.to_string());
        }
        check_tag(text)?;
        Ok(Reference::Tag(text.to_string()))
    }
}

/// What a tag symlink must contain: the digest's text, naming a file in the same folder.
pub(crate) fn tag_link_target(digest: &Digest) -> String {
    digest.to_string()
}

/// Read a tag symlink's target; only `sha256:<hex>` (a sibling file) is accepted.
pub(crate) fn parse_tag_link(target: &Path) -> Result<Digest, String> {
    let text = target.to_str().ok_or("the target is not UTF-8")?;
    text.parse::<Digest>()
        .map_err(|_| format!("it points to {text:?}; a tag must point at a sha256:<hex> manifest in its own folder"))
}

/// The file name of the signature ConfigMap: `signature-sha256-<first 16 hex>.yaml`.
pub(crate) fn signature_file_name(digest: &Digest) -> String {
    format!("signature-{}-{}.yaml", digest.algorithm(), &digest.hex()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        "sha256:81154f5c03294534e1eaf0319bef7a601134f891689ccede5d705ef659aa8c92".parse().unwrap()
    }

    #[test]
    fn lays_out_blobs_manifests_and_tags_like_oc() {
        let l = Layout::new("/m");
        let d = digest();
        assert_eq!(l.blob("openshift/release", &d).unwrap(), Path::new(&format!("/m/v2/openshift/release/blobs/{d}")));
        assert_eq!(
            l.manifest("openshift/release", d.as_str()).unwrap(),
            Path::new(&format!("/m/v2/openshift/release/manifests/{d}"))
        );
        assert_eq!(
            l.manifest("openshift/release", "4.15.0-x86_64").unwrap(),
            Path::new("/m/v2/openshift/release/manifests/4.15.0-x86_64")
        );
    }

    #[test]
    fn names_the_signature_file_after_the_first_16_hex_digits() {
        assert_eq!(signature_file_name(&digest()), "signature-sha256-81154f5c03294534.yaml");
    }

    #[test]
    fn refuses_names_that_would_leave_the_tree() {
        let l = Layout::new("/m");
        for repo in ["../etc", "/abs", "a/../../b", "a//b", ""] {
            assert!(l.repo_dir(repo).is_err(), "{repo}");
        }
        for tag in ["..", "../x", "a/b", "/etc/passwd", "", "sha256:zz"] {
            assert!(l.manifest("a", tag).is_err(), "{tag}");
        }
    }

    #[test]
    fn accepts_only_sibling_digests_as_tag_link_targets() {
        let d = digest();
        assert_eq!(parse_tag_link(Path::new(&tag_link_target(&d))).unwrap(), d);
        for bad in ["../blobs/x", "/etc/passwd", "sha256:abc", &format!("../manifests/{d}"), &format!("./{d}")] {
            let err = parse_tag_link(Path::new(bad)).unwrap_err();
            assert!(err.contains("must point at"), "{err}");
        }
    }
}
