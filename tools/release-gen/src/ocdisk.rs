//! Writing a generated release as oc's disk tree (`v2/<repo>/blobs`, `manifests`, tag
//! symlinks), as `oc adm release mirror --to-dir` lays it out, by plain file operations
//! (independent of the code under test).

use std::fs;
use std::io;
use std::path::Path;

use super::generator::{GeneratedImage, GeneratedRelease};

/// Write every image of `rel` into `dir/v2/<repo>`: blobs, manifests hard-linked to their
/// blob, the release tagged `<version>-<arch>` and each component `<version>-<arch>-<name>`.
pub fn write_oc_tree(dir: &Path, repo: &str, rel: &GeneratedRelease) -> io::Result<()> {
    let root = dir.join("v2").join(repo);
    fs::create_dir_all(root.join("blobs"))?;
    fs::create_dir_all(root.join("manifests"))?;
    write_image(&root, rel, &rel.release, Some(&rel.release_tag))?;
    for image in &rel.images {
        write_image(&root, rel, image, Some(&rel.mirror_tag(&image.name)))?;
    }
    Ok(())
}

fn write_image(root: &Path, rel: &GeneratedRelease, image: &GeneratedImage, tag: Option<&str>) -> io::Result<()> {
    for digest in &image.blobs {
        write_blob(root, rel, digest)?;
    }
    for m in std::iter::once(image).chain(image.children.iter()) {
        let blob = root.join("blobs").join(&m.digest);
        fs::write(&blob, &m.manifest)?;
        let link = root.join("manifests").join(&m.digest);
        if !link.exists() {
            fs::hard_link(&blob, &link)?;
        }
    }
    if let Some(tag) = tag {
        let link = root.join("manifests").join(tag);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&image.digest, link)?;
    }
    Ok(())
}

fn write_blob(root: &Path, rel: &GeneratedRelease, digest: &str) -> io::Result<()> {
    let path = root.join("blobs").join(digest);
    if path.exists() {
        return Ok(());
    }
    if let Some(bytes) = rel.blob(digest) {
        return fs::write(path, bytes);
    }
    match rel.streamed_layer(digest) {
        Some(big) => {
            let mut file = fs::File::create(path)?;
            io::copy(&mut big.reader(), &mut file).map(drop)
        }
        _ => Err(io::Error::other(format!("blob {digest} is not part of the generated release"))),
    }
}
