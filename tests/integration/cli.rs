//! The command line itself: help, version, exit codes of usage errors.

use crate::support::{assert_success, run, stdout};

#[test]
fn help_lists_the_flag_groups_and_examples() {
    let out = run(["--help"]);
    assert_success(&out);
    let text = stdout(&out);
    for needle in
        ["Usage: kubectl release-mirror", "--from <REF>", "--to <REPO>", "--to-dir <DIR>", "--dry-run", "Examples:"]
    {
        assert!(text.contains(needle), "help lacks {needle:?}:\n{text}");
    }
}

#[test]
fn version_matches_cargo() {
    let out = run(["--version"]);
    assert_success(&out);
    assert_eq!(stdout(&out).trim(), format!("kubectl release-mirror {}", env!("CARGO_PKG_VERSION")));
}
