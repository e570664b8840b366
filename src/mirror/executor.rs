//! Carrying out a plan: blobs first (largest first, `limit` at a time, each digest-checked
//! as it streams), then platform manifests, then tagged manifests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use futures_util::{stream, StreamExt, TryStreamExt};
use indicatif::HumanBytes;

use super::plan::{BlobAction, BlobTask, ManifestTask, Plan};
use super::stores::Stores;
use crate::progress::Progress;
use crate::registry;
use crate::store::{BlobReader, ImageStore, StoreError};

/// What a run moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub blobs_copied: u64,
    pub bytes_copied: u64,
    pub blobs_mounted: u64,
    pub manifests_pushed: u64,
}

#[derive(Default)]
struct Counters {
    blobs_copied: AtomicU64,
    bytes_copied: AtomicU64,
    blobs_mounted: AtomicU64,
    manifests_pushed: AtomicU64,
}

/// Run the plan against the stores.
pub async fn execute(
    plan: &Plan,
    sources: &Stores,
    dests: &Stores,
    limit: usize,
    progress: &Progress,
) -> Result<Totals> {
    let counters = Arc::new(Counters::default());
    progress.start_transfer(plan.blobs.len(), plan.bytes_to_copy());
    stream::iter(&plan.blobs)
        .map(|task| copy_blob(task, sources, dests, progress, &counters))
        .buffer_unordered(limit)
        .try_collect::<()>()
        .await?;
    for group in [&plan.children, &plan.tagged] {
        stream::iter(group)
            .map(|task| push_manifest(task, dests, progress, &counters))
            .buffer_unordered(limit)
            .try_collect::<()>()
            .await?;
    }
    progress.finish();
    Ok(Totals {
        blobs_copied: counters.blobs_copied.load(Ordering::Relaxed),
        bytes_copied: counters.bytes_copied.load(Ordering::Relaxed),
        blobs_mounted: counters.blobs_mounted.load(Ordering::Relaxed),
        manifests_pushed: counters.manifests_pushed.load(Ordering::Relaxed),
    })
}

/// Copy one blob, starting it over on a transient failure (a connection cut mid-body, a 5xx
/// on the upload, bytes that arrived corrupted, a stall) while the blob's one retry budget
/// (`--retries` tries, shared with resumed downloads) lasts.
async fn copy_blob(
    task: &BlobTask,
    sources: &Stores,
    dests: &Stores,
    progress: &Progress,
    counters: &Counters,
) -> Result<()> {
    let policy = dests.transport().retry_policy();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match copy_blob_once(task, sources, dests, progress, counters).await {
            Ok(()) => return Ok(()),
            Err(e) if is_transient(&e) && dests.transport().take_retry(task.digest.as_str()) => {
                dests.transport().count_retry();
                let wait = policy.delay(attempt, None, registry::jitter());
                progress.debug(&format!("{e:#}; copying blob {} again in {} ms", task.digest, wait.as_millis()));
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Failures that another try cannot fix: access, absence, unsafe or malformed input.
fn is_transient(err: &anyhow::Error) -> bool {
    let permanent = err.chain().any(|c| c.downcast_ref::<StoreError>().is_some_and(StoreError::is_permanent));
    !permanent
}

async fn copy_blob_once(
    task: &BlobTask,
    sources: &Stores,
    dests: &Stores,
    progress: &Progress,
    counters: &Counters,
) -> Result<()> {
    let dst = dests.get(&task.to)?;
    let what = || format!("failed to copy blob {} from {} to {}", task.digest, task.from.name(), task.to.name());
    if task.action == BlobAction::Mount
        && dst.mount_blob(&task.to.repository, &task.digest, &task.from.repository).await.with_context(what)?
    {
        counters.blobs_mounted.fetch_add(1, Ordering::Relaxed);
        progress.debug(&format!("mounted {} from {}", task.digest, task.from.name()));
        return Ok(());
    }
    let blob = match sources.remembered(&task.digest) {
        Some(bytes) => {
            let size = bytes.len() as u64;
            BlobReader { size, stream: Box::pin(futures_util::stream::once(async move { Ok(bytes) })) }
        }
        None => {
            let src = sources.get(&task.from)?;
            src.get_blob(&task.from.repository, &task.digest).await.with_context(what)?
        }
    };
    let size = if task.size > 0 { task.size } else { blob.size };
    let bar = Arc::new(progress.blob(&task.digest.hex()[..12], size));
    let counted = {
        let bar = bar.clone();
        blob.stream.inspect_ok(move |chunk| bar.inc(chunk.len() as u64))
    };
    dst.put_blob(&task.to.repository, &task.digest, BlobReader { size, stream: Box::pin(counted) })
        .await
        .map_err(|e| blame_corrupt_source(e, task, sources, what))?;
    if let Ok(bar) = Arc::try_unwrap(bar) {
        bar.finish();
    }
    counters.blobs_copied.fetch_add(1, Ordering::Relaxed);
    counters.bytes_copied.fetch_add(size, Ordering::Relaxed);
    progress.info(&format!("copied {} {} to {}", task.digest, HumanBytes(size), task.to.name()));
    Ok(())
}

/// A copy that failed because the source's bytes did not match their digest is reported as
/// that, first, naming where they came from (the tree's file for a disk source), instead of
/// as a failure to reach or write the destination. A corrupt file in a tree is permanent.
fn blame_corrupt_source(
    err: StoreError,
    task: &BlobTask,
    sources: &Stores,
    what: impl Fn() -> String,
) -> anyhow::Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>().filter(|io| io.kind() == std::io::ErrorKind::InvalidData) {
            let mismatch = std::io::Error::new(std::io::ErrorKind::InvalidData, io.to_string());
            let file = sources.disk().filter(|_| task.from.registry().is_none());
            let (place, permanent, hint) = match file.and_then(|d| d.blob_path(&task.from.repository, &task.digest)) {
                Some(path) => {
                    (path.display().to_string(), true, "; rerun the to-disk side with --verify to repair the tree")
                }
                None => (task.from.name(), false, ""),
            };
            return anyhow::Error::new(StoreError::new(mismatch, permanent))
                .context(format!("the source's copy of blob {} ({place}) is corrupt{hint}", task.digest));
        }
        cause = c.source();
    }
    anyhow::Error::new(err).context(what())
}

async fn push_manifest(task: &ManifestTask, dests: &Stores, progress: &Progress, counters: &Counters) -> Result<()> {
    let dst = dests.get(&task.to)?;
    dst.put_manifest(&task.to.repository, &task.reference, &task.manifest).await.with_context(|| {
        format!("failed to store manifest {} as {}:{}", task.manifest.digest, task.to.name(), task.reference)
    })?;
    counters.manifests_pushed.fetch_add(1, Ordering::Relaxed);
    let sep = if task.reference.starts_with("sha256:") { '@' } else { ':' };
    progress.info(&format!("stored {}{sep}{} ({})", task.to.name(), task.reference, task.manifest.digest));
    Ok(())
}
