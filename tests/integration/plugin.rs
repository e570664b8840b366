//! The plugin as people install and use it: kubectl discovery, help, completion, manual page,
//! the krew manifest, the JSON summary's schema and Ctrl-C.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::mirror::{mirror_args, source_with};
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, bin, command, run, stdout, temp_dir};

/// A PATH holding only the plugin (and the system folders kubectl needs).
fn path_with_plugin(dir: &Path) -> String {
    std::os::unix::fs::symlink(bin(), dir.join("kubectl-release_mirror")).unwrap();
    format!("{}:/usr/local/bin:/usr/bin:/bin", dir.display())
}

#[test]
fn kubectl_discovers_the_plugin_and_runs_it_as_release_mirror() {
    let kubectl = which("kubectl").unwrap_or_else(|()| {
        panic!(
            "kubectl is not on PATH, and plugin discovery can only be tested with it: scripts/test installs it \
             when missing (Debian package kubernetes-client)"
        )
    });
    let home = temp_dir();
    let path = path_with_plugin(home.path());
    let kubectl_cmd = |args: &[&str]| {
        Command::new(&kubectl).args(args).env_clear().env("PATH", &path).env("HOME", home.path()).output().unwrap()
    };
    let list = kubectl_cmd(&["plugin", "list"]);
    assert!(stdout(&list).contains(&format!("{}/kubectl-release_mirror", home.path().display())), "{}", stdout(&list));
    let help = kubectl_cmd(&["release-mirror", "--help"]);
    assert_success(&help);
    let text = stdout(&help);
    assert!(text.contains("Mirror an OpenShift release into a restricted or air-gapped network"), "{text}");
    assert!(text.contains("Usage: kubectl release-mirror"), "{text}");
    for heading in ["Source:", "Destination:", "Signatures:", "Registry:", "Cluster:", "Output:", "Examples:"] {
        assert!(text.contains(heading), "help lacks {heading}");
    }
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn completion_scripts_cover_the_flags_for_each_shell() {
    for (shell, marker) in
        [("bash", "complete -F"), ("zsh", "#compdef kubectl-release_mirror"), ("fish", "complete -c")]
    {
        let out = run(["completion", shell]);
        assert_success(&out);
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell}: {text}");
        for flag in ["from-dir", "to-dir", "apply-release-image-signature", "print-mirror-instructions"] {
            assert!(text.contains(flag), "{shell} completion lacks {flag}");
        }
    }
    let out = run(["completion", "powershell"]);
    assert_success(&out);
    assert_eq!(run(["completion", "tcsh"]).status.code(), Some(2));
}

#[test]
fn the_manual_page_is_generated_from_the_same_definitions() {
    let out = run(["man"]);
    assert_success(&out);
    let roff = stdout(&out);
    assert!(roff.contains(".TH kubectl-release_mirror 1"), "{roff}");
    assert!(roff.contains("\\-\\-from\\-dir"), "flags appear in the page");
    assert!(roff.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn the_json_summary_follows_the_documented_schema() {
    let src = source_with(ReleaseSpec { components: 3, ..ReleaseSpec::default() });
    let dest = Registry::start();
    let out = run(mirror_args(&src, &dest, &["-o", "json"]));
    assert_success(&out);
    let s: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(s["schemaVersion"], 3);
    assert_eq!(s["releases"].as_array().map(Vec::len), Some(1), "one release, in upgrade order");
    assert_eq!(s["releases"][0]["digest"], s["release"]["digest"]);
    assert_eq!(s["releases"][0]["upgradeCommand"], s["upgradeCommand"]);
    assert_eq!(s["upgradePath"], Value::Null);
    assert_eq!(s["dryRun"], false);
    assert_eq!(s["release"]["digest"], src.release.release_digest.as_str());
    assert_eq!(s["release"]["version"], "4.99.0");
    assert_eq!(s["release"]["architecture"], "x86_64");
    assert_eq!(s["release"]["destination"], format!("{}/mirror/ocp/release:4.99.0-x86_64", dest.host()).as_str());
    let mappings = s["mappings"].as_array().unwrap();
    assert_eq!(mappings.len(), 4);
    let cli = mappings.iter().find(|m| m["name"] == "cli").expect("cli mapping");
    assert_eq!(cli["digest"], src.release.component("cli").digest.as_str());
    assert!(cli["source"].as_str().unwrap().ends_with(&src.release.component("cli").digest));
    assert_eq!(cli["destination"], format!("{}/mirror/ocp/release:4.99.0-x86_64-cli", dest.host()).as_str());
    let t = &s["transfer"];
    for field in [
        "images",
        "imagesCompleteBefore",
        "blobsToCopy",
        "bytesToCopy",
        "blobsSkipped",
        "bytesSkipped",
        "blobsCopied",
        "bytesCopied",
        "blobsMounted",
        "blobsFound",
        "manifestsPushed",
    ] {
        assert!(t[field].is_u64(), "transfer.{field} missing: {t}");
    }
    assert_eq!(t["bytesCopied"], t["bytesToCopy"]);
    let mirrors = s["mirrors"].as_array().expect("mirrors");
    assert!(!mirrors.is_empty(), "the mirrors are listed: {s}");
    assert!(mirrors.iter().all(|m| m["mirrors"].is_array() && m["source"].is_string()));
    assert!(s["upgradeCommand"].as_str().unwrap().starts_with("oc adm upgrade --allow-explicit-upgrade --to-image "));
    assert!(s["signature"].is_null(), "skipped signatures give null");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("schemaVersion"), "data goes to stdout only");
}

#[test]
fn ctrl_c_stops_cleanly_with_130_and_the_rerun_resumes() {
    interrupt_then_resume("INT");
}

#[test]
fn sigterm_stops_cleanly_with_130_and_the_rerun_resumes() {
    interrupt_then_resume("TERM");
}

/// A to-disk run stopped by `signal` mid-transfer exits 130 and leaves no temporary file;
/// the blobs it finished are intact, and the rerun skips exactly those and copies the rest.
fn interrupt_then_resume(signal: &str) {
    let spec = ReleaseSpec { components: 4, big_layer: Some(192 * 1024 * 1024), ..ReleaseSpec::default() };
    let src = source_with(spec);
    let media = temp_dir();
    let home = temp_dir();
    let args = [
        format!("--from={}", src.release.release_ref()),
        format!("--to-dir={}", media.path().display()),
        "--insecure".into(),
        "--skip-release-image-signature".into(),
        "-q".into(),
    ];
    let mut child = command(home.path()).args(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let blobs = media.path().join("v2/openshift/release/blobs");
    let all = src.release.all_blob_digests();
    // Mid-transfer, with some blobs finished (for the rerun to skip) and one being written.
    let finished = || all.iter().filter(|d| blobs.join(d).is_file()).count();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(temp_in(&blobs) && finished() >= 3) {
        assert!(child.try_wait().unwrap().is_none(), "finished before it could be interrupted");
        assert!(Instant::now() < deadline, "no transfer started");
        std::thread::sleep(Duration::from_millis(2));
    }
    let kill = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!temp_in(&blobs), "temporary files were removed");
    // oc's layout keeps the manifests in the blob folder too; the transfer counts layers and configs.
    let manifests = src.release.all_manifest_digests();
    let before = stored_blobs(&blobs);
    assert!(before.iter().all(|d| all.contains(d) || manifests.contains(d)), "only the release's: {before:?}");
    let stored: Vec<&String> = all.iter().filter(|d| before.contains(*d)).collect();
    assert!(stored.len() < all.len(), "the run was stopped before the end: {} of {} blobs", stored.len(), all.len());

    let mut rerun = args.to_vec();
    rerun.retain(|a| a != "-q");
    rerun.extend(["-o".to_string(), "json".to_string()]);
    let out = crate::support::run_in(home.path(), &rerun);
    assert_success(&out);
    let summary: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let t = &summary["transfer"];
    assert_eq!(t["blobsSkipped"], stored.len(), "the blobs stored before the signal are skipped: {t}");
    assert_eq!(t["blobsCopied"], all.len() - stored.len(), "the others are copied: {t}");
    assert!(!temp_in(&blobs));
    let every: BTreeSet<String> = all.iter().chain(&manifests).cloned().collect();
    assert_eq!(stored_blobs(&blobs), every, "every blob and manifest is there");
    let big = &src.release.big_layer.as_ref().expect("a big layer").digest;
    let bytes = std::fs::read(blobs.join(big)).expect("the big blob is stored");
    assert_eq!(crate::support::sha256_digest(&bytes), *big, "the big blob is intact after the resume");
}

/// The blobs of a `--to-dir` tree's blob folder, each checked against its name.
fn stored_blobs(dir: &Path) -> BTreeSet<String> {
    let names = std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()));
    let stored: BTreeSet<String> = names.into_iter().flatten().filter(|n| n.starts_with("sha256:")).collect();
    for digest in &stored {
        let bytes = std::fs::read(dir.join(digest)).expect("read a stored blob");
        assert_eq!(crate::support::sha256_digest(&bytes), *digest, "a stored blob is intact");
    }
    stored
}

fn temp_in(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with(".release-mirror-tmp-")))
        .unwrap_or(false)
}

/// krew's rules for a plugin manifest, as the krew index validates them.
#[test]
fn plugin_yaml_is_a_valid_krew_manifest() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let m: Value = serde_saphyr::from_str(&text).expect("plugin.yaml is YAML");
    assert_eq!(m["apiVersion"], "krew.googlecontainertools.github.com/v1alpha2");
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(m["metadata"]["name"], "release-mirror");
    let spec = &m["spec"];
    assert_eq!(spec["version"], format!("v{}", env!("CARGO_PKG_VERSION")).as_str(), "leading v, Cargo's version");
    let short = spec["shortDescription"].as_str().unwrap();
    assert!(!short.contains('\n') && short.len() <= 60, "one short line: {short:?}");
    let description = spec["description"].as_str().unwrap();
    assert!(!description.contains(" --") && !description.contains(" -a "), "no flag lists in the description");
    let platforms = spec["platforms"].as_array().unwrap();
    let mut seen = Vec::new();
    for p in platforms {
        let labels = &p["selector"]["matchLabels"];
        let (os, arch) = (labels["os"].as_str().unwrap(), labels["arch"].as_str().unwrap());
        seen.push(format!("{os}/{arch}"));
        assert_eq!(p["bin"], "kubectl-release_mirror");
        let sha = p["sha256"].as_str().unwrap();
        assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{sha}");
        let uri = p["uri"].as_str().unwrap();
        assert!(uri.starts_with("https://") && uri.ends_with(&format!("-{os}-{arch}.tar.gz")), "{uri}");
        assert!(uri.contains(&format!("/v{}/", env!("CARGO_PKG_VERSION"))), "{uri}");
        let files: Vec<&str> = p["files"].as_array().unwrap().iter().map(|f| f["from"].as_str().unwrap()).collect();
        assert_eq!(files, ["kubectl-release_mirror", "LICENSE"]);
    }
    for want in ["linux/amd64", "linux/arm64"] {
        assert!(seen.iter().any(|s| s == want), "{want} missing from {seen:?}");
    }
    assert!(seen.iter().any(|s| s.starts_with("darwin/")), "a darwin platform");
    assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join("LICENSE").is_file(), "the archives ship LICENSE");
}
