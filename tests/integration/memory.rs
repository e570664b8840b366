//! Memory stays flat whatever the blob size: blobs stream, they are never buffered.
//!
//! The peak is the child's `ru_maxrss` as `wait4` reports it when the child is reaped, the
//! high-water mark of the whole run, not samples taken while it runs. The standard library
//! has no `wait4`/`getrusage(RUSAGE_CHILDREN)`, and the project has no `unsafe` and no libc
//! binding of its own, so GNU time (`/usr/bin/time`, which scripts/test installs) runs the
//! plugin, reaps it with `wait4` and writes its `ru_maxrss` (`%M`, KiB) to a file, leaving
//! the plugin's own stderr alone.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::mirror::{mirror_args, source_with};
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{command, stderr, temp_dir};

const GNU_TIME: &str = "/usr/bin/time";

/// `plugin` (a [`command`]) run under GNU time, which writes the peak RSS to `report`.
fn under_time(plugin: &Command, report: &Path) -> Command {
    assert!(Path::new(GNU_TIME).is_file(), "{GNU_TIME} is missing: scripts/test installs it (Debian package time)");
    let mut timed = Command::new(GNU_TIME);
    timed.env_clear();
    for (key, value) in plugin.get_envs() {
        if let Some(value) = value {
            timed.env(key, value);
        }
    }
    if let Some(dir) = plugin.get_current_dir() {
        timed.current_dir(dir);
    }
    timed.args(["--format=%M", "--output"]).arg(report).arg(plugin.get_program()).args(plugin.get_args());
    timed
}

/// The peak RSS in KiB from GNU time's report (its last line; a failed command gets a
/// "Command exited with non-zero status" line before it).
fn peak_rss_kib(report: &Path) -> u64 {
    let text = std::fs::read_to_string(report).unwrap_or_else(|e| panic!("{}: {e}", report.display()));
    let last = text.lines().last().unwrap_or_default();
    last.trim().parse().unwrap_or_else(|_| panic!("no peak RSS in GNU time's report: {text:?}"))
}

#[test]
fn peak_memory_stays_under_64_mib_while_mirroring_a_512_mib_layer() {
    let spec = ReleaseSpec { components: 3, big_layer: Some(512 * 1024 * 1024), ..ReleaseSpec::default() };
    let src = source_with(spec);
    let dest = Registry::start();
    let home = temp_dir();
    let report = home.path().join("peak-rss");
    let mut plugin = command(home.path());
    plugin.args(mirror_args(&src, &dest, &["-q"]));
    let out = under_time(&plugin, &report).stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "the mirror failed ({}):\n{}", out.status, stderr(&out));
    let big = &src.release.big_layer.as_ref().expect("a big layer").digest;
    assert!(dest.client().blob_exists("mirror/ocp/release", big), "the 512 MiB layer arrived");
    let peak = peak_rss_kib(&report);
    eprintln!("peak RSS while mirroring a 512 MiB layer: {peak} KiB");
    assert!(peak > 4 * 1024, "{peak} KiB is no plugin run: the wrong process was measured");
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB is over 64 MiB");
}
