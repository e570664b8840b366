//! Bounded reads of the small files a tree holds (its record, its graph, signature files,
//! ConfigMaps): a regular file only, never through a symbolic link, and never more than a
//! limit, so a record linked to `/dev/zero` or a FIFO is refused instead of read forever.

use std::fs;
use std::io::Read as _;
use std::path::Path;

use super::DiskError;

/// The bytes of `path`, or `None` when it does not exist. A symbolic link, a folder, a
/// FIFO or a device is refused, and so is a file larger than `limit` bytes.
pub fn read_small(path: &Path, limit: usize) -> Result<Option<Vec<u8>>, DiskError> {
    let unsafe_file = |reason: &str| DiskError::Unsafe { path: path.to_path_buf(), reason: reason.into() };
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(DiskError::Io { action: "read", path: path.to_path_buf(), source }),
    };
    if meta.file_type().is_symlink() {
        return Err(unsafe_file("it is a symbolic link, expected a regular file"));
    }
    if !meta.is_file() {
        return Err(unsafe_file("it is not a regular file"));
    }
    if meta.len() > limit as u64 {
        return Err(DiskError::TooLarge { path: path.to_path_buf(), limit });
    }
    let io = |source| DiskError::Io { action: "read", path: path.to_path_buf(), source };
    let file = fs::File::open(path).map_err(io)?;
    // Replaced between the check and the open: the open file is checked again.
    if !file.metadata().map_err(io)?.is_file() {
        return Err(unsafe_file("it is not a regular file"));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit as u64 + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() > limit {
        return Err(DiskError::TooLarge { path: path.to_path_buf(), limit });
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_regular_file_is_read_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        assert!(read_small(&path, 10).expect("missing").is_none());
        fs::write(&path, b"hello").expect("write");
        assert_eq!(read_small(&path, 5).expect("read").as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn links_devices_fifos_and_files_over_the_limit_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("big");
        fs::write(&big, vec![b'x'; 11]).expect("write");
        let err = read_small(&big, 10).expect_err("too large").to_string();
        assert!(err.contains("larger than the limit of 10 bytes"), "{err}");
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
        let err = read_small(&link, 10).expect_err("a link").to_string();
        assert!(err.contains("symbolic link"), "{err}");
        let err = read_small(Path::new("/dev/zero"), 10).expect_err("a device").to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(made.success());
        let err = read_small(&fifo, 10).expect_err("a fifo").to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
