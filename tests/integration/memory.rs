//! Memory stays flat whatever the blob size: blobs stream, they are never buffered.

use std::process::Stdio;
use std::time::Duration;

use crate::mirror::{mirror_args, source_with};
use crate::support::registry::Registry;
use crate::support::spec::ReleaseSpec;
use crate::support::{command, temp_dir};

/// Peak resident set size of a running process, from `/proc/<pid>/status` (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn peak_memory_stays_under_64_mib_while_mirroring_a_512_mib_layer() {
    let spec = ReleaseSpec { components: 3, big_layer: Some(512 * 1024 * 1024), ..ReleaseSpec::default() };
    let src = source_with(spec);
    let dest = Registry::start();
    let home = temp_dir();
    let mut child = command(home.path())
        .args(mirror_args(&src, &dest, &["-q"]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        // VmHWM only grows, so the last reading before exit is the peak of the run.
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());
    let big = &src.release.big_layer.as_ref().expect("a big layer").digest;
    assert!(dest.client().blob_exists("mirror/ocp/release", big), "the 512 MiB layer arrived");
    eprintln!("peak RSS while mirroring a 512 MiB layer: {} KiB", peak);
    assert!(peak > 0, "the process was measured");
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB is over 64 MiB");
}
