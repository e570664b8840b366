//! Reliability, second round: what a hostile review broke, one submodule per area — the
//! `--to-dir` tree (dry runs, overlapping runs, repair, output locations), signals and what
//! is printed (hosts, closed stdout, secrets, SIGHUP), and stalls. Shared helpers here.

mod signals;
mod stalls;
mod tree;

use std::collections::BTreeMap;
use std::path::Path;

use crate::faults::bed;
use crate::support::spec::ReleaseSpec;

pub const TMP: &str = ".release-mirror-tmp-";

/// Every file and symlink under `root` with its bytes (or link target), by relative path.
pub fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).expect("below root").display().to_string();
            let kind = entry.file_type().expect("file type");
            if kind.is_symlink() {
                out.insert(rel, std::fs::read_link(&path).expect("link").display().to_string().into_bytes());
            } else if kind.is_dir() {
                out.insert(rel, Vec::new());
                todo.push(path);
            } else {
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

pub fn blobs_dir(tree: &Path) -> std::path::PathBuf {
    tree.join("v2/openshift/release/blobs")
}

/// Send `signal` (`STOP`, `CONT`) to process `pid` with kill(1).
pub fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill").args([format!("-{signal}"), pid.to_string()]).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
}

/// A run of the tool in `home` with both outputs captured, to be stopped by a signal.
pub fn spawn(home: &Path, args: Vec<String>) -> std::process::Child {
    crate::support::command(home)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// Send `sig` to the run and wait for it: it stops with exit 130. Its output.
pub fn stop(child: std::process::Child, sig: &str) -> std::process::Output {
    signal(child.id(), sig);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", crate::support::stderr(&out));
    out
}

pub fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).expect("below root").display().to_string()
}

/// A release signed by the test key, its signature in a local store.
pub fn signed_bed() -> (crate::faults::Bed, crate::support::sigstore::SigStore) {
    let k = crate::support::gpg::keys();
    let store = crate::support::sigstore::SigStore::start(crate::support::sigstore::Mode::Serve);
    let b = bed(ReleaseSpec {
        verification_keys: vec![("test".into(), k.gpg.export(&k.rsa))],
        stores: vec![("local".into(), store.url())],
        ..ReleaseSpec::default()
    });
    let digest = &b.release.release_digest;
    let identity = "quay.io/openshift-release-dev/ocp-release:4.99.0-x86_64";
    store.put(digest, 1, k.gpg.sign(&k.rsa, &crate::support::gpg::atomic_payload(digest, identity), true));
    (b, store)
}

pub fn signed_args(b: &crate::faults::Bed, to: String, extra: &[String]) -> Vec<String> {
    let mut a = vec![format!("--from={}", b.release.release_ref()), to, "--insecure".into()];
    a.extend(extra.iter().cloned());
    a
}
