use std::io::Write as _;

use super::*;

/// One raw tar entry: the name is written as given (no `..` or absolute-path check).
pub(crate) fn entry(name: &str, kind: EntryType, body: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(kind);
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    if kind == EntryType::Symlink {
        header.set_link_name("/etc/passwd").expect("link name");
    }
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(body);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

pub(crate) fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(tar).expect("gzip");
    enc.finish().expect("gzip")
}

/// A valid tarball with `extra` entries appended.
pub(crate) fn tarball(version: &str, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut tar = Vec::new();
    tar.extend(entry("./", EntryType::Directory, b""));
    tar.extend(entry("version", EntryType::Regular, version.as_bytes()));
    tar.extend(entry("channels", EntryType::Directory, b""));
    tar.extend(entry("channels/stable-4.15.yaml", EntryType::Regular, b"name: stable-4.15\nversions: []\n"));
    tar.extend(entry("blocked-edges/4.15.0-X.yaml", EntryType::Regular, b"to: 4.15.0\nfrom: .*\n"));
    for e in extra {
        tar.extend_from_slice(e);
    }
    tar.extend([0u8; 1024]);
    gzip(&tar)
}

#[test]
fn a_valid_tarball_gives_its_files_and_folders_without_the_root() {
    let data = check(&tarball("1.1.0\n", &[])).expect("valid");
    assert_eq!(data.version, "1.1.0");
    let files: Vec<&str> = data.files.keys().map(String::as_str).collect();
    assert_eq!(files, ["blocked-edges/4.15.0-X.yaml", "channels/stable-4.15.yaml", "version"]);
    let dirs: Vec<&str> = data.dirs.iter().map(String::as_str).collect();
    assert_eq!(dirs, ["blocked-edges", "channels"], "an unlisted parent is a folder too");
    assert_eq!(data.files["version"], b"1.1.0\n");
}

#[test]
fn hostile_entries_are_refused_by_name() {
    let cases = [
        (entry("../evil", EntryType::Regular, b"x"), "leaves the data folder"),
        (entry("channels/../../evil", EntryType::Regular, b"x"), "leaves the data folder"),
        (entry("/etc/evil", EntryType::Regular, b"x"), "absolute path"),
        (entry("channels/link.yaml", EntryType::Symlink, b""), "is a link"),
        (entry("channels/hard.yaml", EntryType::Link, b""), "is a link"),
        (entry("dev", EntryType::Char, b""), "is a char"),
        (entry("version", EntryType::Regular, b"1.0.0"), "appears twice"),
    ];
    for (bad, why) in cases {
        let err = check(&tarball("1.1.0\n", &[bad])).expect_err(why).to_string();
        assert!(err.contains(why), "{err} (wanted {why})");
    }
}

#[test]
fn the_version_must_be_there_and_of_major_one() {
    let no_version = {
        let mut tar = entry("channels/a.yaml", EntryType::Regular, b"");
        tar.extend(entry("blocked-edges/b.yaml", EntryType::Regular, b""));
        gzip(&tar)
    };
    assert!(matches!(check(&no_version), Err(TarballError::NoVersion)));
    let err = check(&tarball("2.0.0\n", &[])).expect_err("major 2");
    assert!(err.to_string().contains("2.0.0: only major version 1"), "{err}");
    assert!(matches!(check(&tarball("one\n", &[])), Err(TarballError::BadVersion { .. })));
    assert!(check(&tarball("1.2.0", &[])).is_ok(), "no newline is fine");
}

#[test]
fn channels_and_blocked_edges_must_both_be_there() {
    let mut tar = entry("version", EntryType::Regular, b"1.1.0\n");
    tar.extend(entry("channels/a.yaml", EntryType::Regular, b""));
    let err = check(&gzip(&tar)).expect_err("no blocked-edges");
    assert_eq!(err.to_string(), "it has no `blocked-edges/` folder");
}

#[test]
fn not_gzip_is_refused_before_unpacking() {
    assert!(matches!(check(b"version\n1.1.0"), Err(TarballError::NotGzip)));
    let mut truncated = tarball("1.1.0\n", &[]);
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(check(&truncated), Err(TarballError::Unreadable(_))));
}

#[test]
fn the_unpacked_size_is_bounded_inside_an_entry_and_after_the_archive() {
    let big = entry("channels/big.yaml", EntryType::Regular, &vec![b'a'; 64 * 1024]);
    let err = check_bounded(&tarball("1.1.0\n", &[big]), 32 * 1024).expect_err("too large");
    assert!(matches!(err, TarballError::TooLarge { limit: 32768 }), "{err}");
    // Zeros end a tar at once; what follows still counts.
    let zeros = gzip(&vec![0u8; 64 * 1024]);
    assert!(matches!(check_bounded(&zeros, 32 * 1024), Err(TarballError::TooLarge { .. })));
}
