//! Upload-side quirks: a mount answered with an upload session, chunked uploads with a
//! minimum chunk and a registry that keeps part of a chunk, a body-size limit, and whole
//! blobs refused with 400, 405 or 501 and no minimum named.

use super::{assert_arrived, bed, large_bed, MIB, TO_REPO};
use crate::support::assert_success;
use crate::support::proxy::{LogEntry, Quirk};

/// The hex of `digest` (mount parameters are percent-encoded, `digest=` ones are not).
fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

#[test]
fn a_refused_mount_uploads_each_blob_once_through_the_session_it_opened() {
    let b = bed();
    b.src.quirk(Quirk::MountOpensUpload);
    b.dst.quirk(Quirk::MountOpensUpload);
    // Into the source registry itself, so every blob is planned as a mount.
    let mark = b.src.log().len();
    let out = b.mirror_to(&format!("{}/{TO_REPO}", b.src.host()), &["-o", "json"]);
    assert_success(&out);
    assert_arrived(&b.source.client(), &b.docker, TO_REPO);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let blobs = b.docker.all_blob_digests();
    assert_eq!(summary["transfer"]["blobsMounted"], 0, "{summary}");
    assert_eq!(summary["transfer"]["blobsCopied"], blobs.len(), "{summary}");
    let log = &b.src.log()[mark..];
    let posts: Vec<&LogEntry> = log.iter().filter(|e| e.method == "POST").collect();
    assert_eq!(posts.len(), blobs.len(), "one POST per blob, the mount: no second session {posts:#?}");
    assert!(posts.iter().all(|e| e.path.contains("mount=") && e.status == 202), "{posts:#?}");
    let mut uploaded = 0;
    for digest in &blobs {
        let mounts = posts.iter().filter(|e| e.path.contains(hex(digest))).count();
        let puts: Vec<&LogEntry> = log.iter().filter(|e| e.method == "PUT" && e.path.contains(hex(digest))).collect();
        assert_eq!((mounts, puts.len()), (1, 1), "{digest}: {puts:#?}");
        assert_eq!(puts[0].status, 201);
        uploaded += puts[0].request_bytes;
    }
    assert_eq!(uploaded, b.docker.total_blob_bytes(), "every byte sent once");
    // Disk → registry plans no mount: ordinary uploads through the same quirk.
    assert_success(&b.upload(&["-q"]));
    assert_arrived(&b.dest.client(), &b.oci, super::FROM_DISK_REPO);
}

#[test]
fn a_registry_that_refuses_a_mount_from_the_repository_itself_gets_every_blob_uploaded_once() {
    use crate::support::proxy::{Action, Fault};
    let b = bed();
    // A first mirror asks about no blob of the new repository: each upload starts as a mount
    // from it. Refused here (400), each blob is still sent, once.
    let refuse = Action::Status { code: 400, retry_after: None };
    b.dst.add(Fault::new(refuse).on("POST", "mount=").always());
    let out = b.mirror_to(&format!("{}/{TO_REPO}", b.dst.host()), &["-v", "-o", "json"]);
    assert_success(&out);
    assert_arrived(&b.dest.client(), &b.docker, TO_REPO);
    let log = b.dst.log();
    let refused = log.iter().filter(|e| e.method == "POST" && e.path.contains("mount=")).count();
    let blobs = b.docker.all_blob_digests();
    assert_eq!(refused, blobs.len(), "one mount asked per blob");
    for digest in &blobs {
        let puts = log.iter().filter(|e| e.method == "PUT" && e.status == 201 && e.path.contains(hex(digest))).count();
        assert_eq!(puts, 1, "{digest}");
    }
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(summary["transfer"]["blobsFound"], 0, "{summary}");
    assert_eq!(summary["transfer"]["bytesCopied"], b.docker.total_blob_bytes(), "{summary}");
    assert!(crate::support::stderr(&out).contains("; uploading it"), "the refusal is logged");
}

/// The chunks of each upload session of `log`: `(session, [(content-range start, bytes)])`.
fn chunks(log: &[LogEntry]) -> Vec<(String, Vec<(u64, u64)>)> {
    let mut sessions: Vec<(String, Vec<(u64, u64)>)> = Vec::new();
    for e in log.iter().filter(|e| e.method == "PATCH") {
        let session = e.path.split('?').next().unwrap_or_default().to_string();
        let start = e.header("content-range").and_then(|r| r.split('-').next()?.parse().ok()).expect("Content-Range");
        match sessions.iter_mut().find(|(s, _)| *s == session) {
            Some((_, list)) => list.push((start, e.request_bytes)),
            None => sessions.push((session, vec![(start, e.request_bytes)])),
        }
    }
    sessions
}

#[test]
fn chunked_uploads_keep_the_minimum_and_follow_the_range_the_registry_reports() {
    const MIN: u64 = 512 << 10;
    const KEEP: u64 = 600 << 10;
    let b = large_bed();
    b.dst.quirk(Quirk::ChunkedOnly(MIN));
    b.dst.quirk(Quirk::KeepsPartOfChunks(KEEP));
    let (to, from_disk) = b.both_ways();
    for log in [&to, &from_disk] {
        let monolithic: Vec<&LogEntry> =
            log.iter().filter(|e| e.method == "PUT" && e.path.contains("/uploads/") && e.request_bytes > 0).collect();
        assert!(monolithic.is_empty(), "no blob sent whole: {monolithic:#?}");
        assert!(log.iter().all(|e| e.status != 405 && e.status != 416), "no chunk refused");
        let sessions = chunks(log);
        for (session, list) in &sessions {
            let (_, rest) = list.split_last().expect("a chunk");
            assert!(rest.iter().all(|(_, n)| *n >= MIN), "{session}: a chunk under the minimum {list:?}");
            // Each chunk starts where the registry's Range said the one before ended.
            let mut held = 0;
            for (start, n) in list {
                assert_eq!(*start, held, "{session}: {list:?}");
                held += n.min(&KEEP);
            }
        }
        // A 1.5 MiB layer: 1 MiB of which 600 KiB kept, 1 MiB from there (600 KiB kept), the rest.
        let long = sessions.iter().filter(|(_, list)| list.len() == 3).count();
        assert!(long >= 20, "{long} layers took three chunks: {sessions:#?}");
    }
}

#[test]
fn a_body_limit_turns_uploads_into_chunks_that_fit() {
    let b = large_bed();
    b.dst.quirk(Quirk::BodyLimit(MIB));
    // One upload at a time, so the refusals are counted exactly.
    let (to, from_disk) = b.both_ways_with(&["--max-per-registry=1"]);
    for log in [&to, &from_disk] {
        let refused: Vec<&LogEntry> = log.iter().filter(|e| e.status == 413).collect();
        // The first large layer whole, then in chunks of 8 MiB (all of it), 4 and 2 MiB.
        let methods: Vec<&str> = refused.iter().map(|e| e.method.as_str()).collect();
        assert_eq!(methods, ["PUT", "PATCH", "PATCH", "PATCH"], "{refused:#?}");
        let taken = log.iter().filter(|e| (200..300).contains(&e.status));
        assert!(taken.clone().all(|e| e.request_bytes <= MIB), "every accepted body fits the limit");
        let patches = taken.filter(|e| e.method == "PATCH" && e.request_bytes == MIB).count();
        assert!(patches >= 20, "the large layers went in 1 MiB chunks: {patches}");
    }
}

#[test]
fn a_whole_blob_refused_with_400_405_or_501_is_sent_again_in_chunks_and_remembered() {
    for status in [400, 405, 501] {
        let b = bed();
        b.dst.quirk(Quirk::MonolithicRefused(status));
        // One upload at a time, so the refusals are counted exactly.
        let (to, from_disk) = b.both_ways_with(&["--max-per-registry=1"]);
        for log in [&to, &from_disk] {
            let whole = |e: &&LogEntry| e.method == "PUT" && e.path.contains("/uploads/") && e.request_bytes > 0;
            let refused: Vec<&LogEntry> = log.iter().filter(whole).collect();
            assert_eq!(refused.len(), 1, "{status}: one whole blob refused, then chunks only: {refused:#?}");
            assert_eq!(refused[0].status, status);
            let patched = log.iter().filter(|e| e.method == "PATCH" && e.status == 202).count();
            assert!(patched > 1, "{status}: the blobs went in chunks ({patched} PATCHes)");
        }
    }
}
