//! The commands printed for the admin to paste are shell-quoted: a hostile folder name
//! reaches the shell as one word and runs nothing.

use crate::mirror::{source_with, Source};
use crate::support::gpg::ed25519_file_store;
use crate::support::spec::ReleaseSpec;
use crate::support::{assert_success, run, stdout, temp_dir};

const IDENTITY: &str = "quay.io/openshift-release-dev/ocp-release:4.99.0-x86_64";

/// What `sh` makes of `word`, run in `dir`.
fn as_shell_reads_it(dir: &std::path::Path, word: &str) -> String {
    let out = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {word}")).current_dir(dir).output();
    String::from_utf8_lossy(&out.expect("run sh").stdout).into_owned()
}

#[test]
fn the_printed_oc_apply_line_is_one_shell_word_whatever_the_folder_is_called() {
    let src: Source = source_with(ReleaseSpec::default());
    let digest = src.release.release_digest.clone();
    let (store, key, _) = ed25519_file_store(&digest, IDENTITY);
    let media = temp_dir();
    let tree = media.path().join("usb disk;$(touch pwned)");
    let out = run([
        format!("--from={}", src.release.release_ref()),
        format!("--to-dir={}", tree.display()),
        "--insecure".into(),
        format!("--release-image-signature-store=file://{}", store.path().display()),
        format!("--release-image-signature-key={}", key.display()),
    ]);
    assert_success(&out);
    let text = stdout(&out);
    let line = text.lines().find_map(|l| l.trim().strip_prefix("oc apply -f ")).expect("an oc apply line");
    let config_map = tree.join("config").join(format!("signature-sha256-{}.yaml", &digest[7..23]));
    assert!(config_map.is_file(), "{text}");
    assert_eq!(as_shell_reads_it(media.path(), line), config_map.display().to_string(), "{text}");
    assert!(!media.path().join("pwned").exists(), "pasting the line ran a command substitution");
}
