//! Atomic writes into the tree: a temp file in the destination folder, fsync, rename.
//! Folders are 0755 and files 0644 so the media can be read by another user.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::layout::TEMP_PREFIX;
use super::pipe::{write_stream, WriteFailure};
use super::DiskError;
use crate::store::ByteStream;

pub(crate) const DIR_MODE: u32 = 0o755;
pub(crate) const FILE_MODE: u32 = 0o644;

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> DiskError + 'a {
    move |source| DiskError::Io { action, path: path.to_path_buf(), source }
}

/// Create `dir` and its missing parents below `root`, each 0755, refusing any existing
/// component that is a symbolic link (it could lead outside the tree).
pub(crate) fn ensure_dir(root: &Path, dir: &Path) -> Result<(), DiskError> {
    let rel = dir.strip_prefix(root).map_err(|_| DiskError::Unsafe {
        path: dir.to_path_buf(),
        reason: format!("it is outside {}", root.display()),
    })?;
    if !root.exists() {
        fs::create_dir_all(root).map_err(io("create directory", root))?;
    }
    let mut current = root.to_path_buf();
    for part in rel.components() {
        current.push(part);
        match fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(DiskError::Unsafe { path: current, reason: "it is a symbolic link".into() })
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(DiskError::Unsafe { path: current, reason: "it is not a directory".into() }),
            Err(_) => match fs::create_dir(&current) {
                Ok(()) => fs::set_permissions(&current, fs::Permissions::from_mode(DIR_MODE))
                    .map_err(io("set permissions of", &current))?,
                // Another run made it in between: a folder is what was wanted.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && is_real_dir(&current) => {}
                Err(e) => return Err(io("create directory", &current)(e)),
            },
        }
    }
    Ok(())
}

fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// `.release-mirror-tmp-<pid>-`: the owner's process id in every temp file's name, so a
/// sweep removes only what a process that is gone left behind.
fn temp_prefix() -> String {
    format!("{TEMP_PREFIX}{}-", std::process::id())
}

fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile, DiskError> {
    tempfile::Builder::new().prefix(&temp_prefix()).tempfile_in(dir).map_err(io("create a temporary file in", dir))
}

fn commit(tmp: tempfile::NamedTempFile, path: &Path) -> Result<(), DiskError> {
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(FILE_MODE)).map_err(io("set permissions of", path))?;
    tmp.persist(path).map_err(|e| DiskError::Write { path: path.to_path_buf(), source: e.error })?;
    Ok(())
}

/// Write `bytes` to `path` atomically; the folder must exist.
pub(crate) fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<(), DiskError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = temp_in(dir)?;
    tmp.write_all(bytes).map_err(|source| DiskError::Write { path: path.to_path_buf(), source })?;
    tmp.as_file().sync_all().map_err(|source| DiskError::Write { path: path.to_path_buf(), source })?;
    commit(tmp, path)
}

/// Stream `size` bytes (0: unknown) into `path` atomically. The stream is expected to end
/// in an error when its content is wrong (see `digest::verified`): then nothing is committed.
pub(crate) async fn write_stream_atomic(path: &Path, mut stream: ByteStream, size: u64) -> Result<u64, DiskError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = temp_in(dir)?;
    let file = tmp.as_file().try_clone().map_err(io("open", tmp.path()))?;
    let write_err = |source| DiskError::Write { path: path.to_path_buf(), source };
    let (file, written) = match write_stream(file, &mut stream, size).await {
        Ok(done) => done,
        Err(WriteFailure::Source(source)) => return Err(DiskError::Source { path: path.to_path_buf(), source }),
        Err(WriteFailure::Write(source)) => return Err(write_err(source)),
    };
    tokio::task::spawn_blocking(move || file.sync_all())
        .await
        .map_err(|e| write_err(std::io::Error::other(e)))?
        .map_err(write_err)?;
    commit(tmp, path)?;
    Ok(written)
}

/// Point the tag symlink `path` at `target` atomically (a temp link renamed over it).
pub(crate) fn replace_symlink(path: &Path, target: &str) -> Result<(), DiskError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp: PathBuf = dir.join(format!("{}link", temp_prefix()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(io("create symbolic link", &tmp))?;
    fs::rename(&tmp, path).map_err(|source| {
        let _ = fs::remove_file(&tmp);
        DiskError::Write { path: path.to_path_buf(), source }
    })
}

/// Hard-link `existing` as `link` (replacing nothing); copy when the file system cannot link.
pub(crate) fn link_or_copy(existing: &Path, link: &Path) -> Result<(), DiskError> {
    if link.exists() {
        return Ok(());
    }
    match fs::hard_link(existing, link) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(_) => {
            let bytes = fs::read(existing).map_err(io("read", existing))?;
            write_file_atomic(link, &bytes)
        }
    }
}

/// Remove temp files that a run which is no longer alive left in `dir` (not recursive);
/// those of a live process (another run writing to the same tree) are left alone.
/// Returns how many were removed.
pub(crate) fn sweep_temp_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)).is_some_and(owner_is_gone))
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

/// `rest` is a temp file's name after the prefix: `<pid>-…`. A name without a pid (an
/// older version's) has no live owner.
fn owner_is_gone(rest: &str) -> bool {
    match rest.split_once('-').and_then(|(pid, _)| pid.parse::<u32>().ok()) {
        Some(pid) => pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists(),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_only_the_final_file_with_0644() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_file_atomic(&path, b"hello").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_stream_commits_nothing() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let items = vec![Ok(bytes::Bytes::from_static(b"part")), Err(std::io::Error::other("digest mismatch"))];
        let stream: ByteStream = Box::pin(futures_util::stream::iter(items));
        assert!(rt.block_on(write_stream_atomic(&path, stream, 0)).is_err());
        assert!(!path.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "the temp file is removed");
    }

    #[test]
    fn ensure_dir_makes_0755_folders_and_refuses_symlinked_components() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("v2/a/b");
        ensure_dir(root.path(), &dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o755);
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("v2/evil")).unwrap();
        let err = ensure_dir(root.path(), &root.path().join("v2/evil/blobs")).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn runs_creating_the_same_folders_at_once_all_succeed() {
        for _ in 0..50 {
            let root = tempfile::tempdir().unwrap();
            let dir = root.path().join("release-mirror/a/b");
            std::thread::scope(|s| {
                let made: Vec<_> = (0..4).map(|_| s.spawn(|| ensure_dir(root.path(), &dir))).collect();
                for m in made {
                    m.join().unwrap().expect("a folder another run made is fine");
                }
            });
        }
    }

    #[test]
    fn replacing_a_symlink_points_it_at_the_new_target() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("tag");
        replace_symlink(&link, "sha256:a").unwrap();
        replace_symlink(&link, "sha256:b").unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("sha256:b"));
        assert_eq!(sweep_temp_files(dir.path()), 0);
    }

    #[test]
    fn a_sweep_removes_only_temp_files_whose_process_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let name = |owner: &str| format!("{TEMP_PREFIX}{owner}-abc");
        // pid 1 is always alive; 4194305 is above Linux's pid_max, so never alive.
        for owner in ["1", "4194305", &std::process::id().to_string()] {
            fs::write(dir.path().join(name(owner)), b"x").unwrap();
        }
        fs::write(dir.path().join(format!("{TEMP_PREFIX}oldstyle")), b"x").unwrap();
        fs::write(dir.path().join("sha256:keep"), b"x").unwrap();
        assert_eq!(sweep_temp_files(dir.path()), 2, "the dead owner's and the old-style one");
        let mut left: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        let mut want = vec![name("1"), name(&std::process::id().to_string()), "sha256:keep".to_string()];
        want.sort();
        assert_eq!(left, want);
    }
}
