//! Carrying out a plan: blobs first (each digest-checked as it streams; how many at once is
//! [`Streams`]' call), then platform manifests, then tagged manifests; what goes beside the
//! streamed blobs (blobs held in memory, the signature images they complete) is
//! [`Beside`]'s call.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use futures_util::{stream, StreamExt, TryStreamExt};
use indicatif::HumanBytes;

use super::beside::{Beside, WHILE_STREAMING};
use super::plan::{BlobAction, BlobTask, ManifestTask, Plan};
use super::stores::{AnyStore, Stores};
use super::streams::{Concurrency, Sample, Streams};
use crate::progress::Progress;
use crate::store::{BlobReader, ImageStore, StoreError};

/// What a run moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Totals {
    pub(crate) blobs_copied: u64,
    pub(crate) bytes_copied: u64,
    pub(crate) blobs_mounted: u64,
    /// Blobs sent to the copy unasked ([`BlobTask::unasked`]) that the destination had.
    pub(crate) blobs_found: u64,
    pub(crate) manifests_pushed: u64,
}

#[derive(Default)]
struct Counters {
    blobs_copied: AtomicU64,
    bytes_copied: AtomicU64,
    blobs_mounted: AtomicU64,
    blobs_found: AtomicU64,
    manifests_pushed: AtomicU64,
    /// Blob bytes received so far, copies that later failed included: what the link moved.
    moved: AtomicU64,
}

/// Run the plan against the stores.
pub(crate) async fn execute(
    plan: &Plan,
    sources: &Stores,
    dests: &Stores,
    concurrency: Concurrency,
    progress: &Progress,
) -> Result<Totals> {
    let counters = Arc::new(Counters::default());
    progress.start_transfer(plan.blobs.len(), plan.bytes_to_copy());
    let run = Transfers { sources, dests, progress, counters: &counters };
    let limit = concurrency.metadata();
    let beside = Beside::of(plan, sources, concurrency);
    // Few units beside at once while blobs stream (the destination's work is shared), as many
    // as manifest reads once they are done.
    let gate = tokio::sync::Semaphore::new(WHILE_STREAMING);
    let streamed = async {
        let done = run.copy_all(&beside.streamed, concurrency).await;
        gate.add_permits(limit.saturating_sub(WHILE_STREAMING));
        done
    };
    let units = beside.units.iter().map(|unit| async {
        let _permit = gate.acquire().await.context("the copy was stopped")?;
        for task in &unit.blobs {
            run.copy(task).await?;
        }
        match unit.manifest {
            Some(task) => push_manifest(task, dests, progress, &counters).await,
            None => Ok(()),
        }
    });
    let beside_stream = stream::iter(units).buffer_unordered(limit).try_collect::<()>();
    futures_util::future::try_join(streamed, beside_stream).await?;
    push_all(&plan.children, dests, progress, &counters, limit).await?;
    push_all(beside.tagged.iter().copied(), dests, progress, &counters, limit).await?;
    progress.finish();
    Ok(Totals {
        blobs_copied: counters.blobs_copied.load(Ordering::Relaxed),
        bytes_copied: counters.bytes_copied.load(Ordering::Relaxed),
        blobs_mounted: counters.blobs_mounted.load(Ordering::Relaxed),
        blobs_found: counters.blobs_found.load(Ordering::Relaxed),
        manifests_pushed: counters.manifests_pushed.load(Ordering::Relaxed),
    })
}

async fn push_all<'t>(
    tasks: impl IntoIterator<Item = &'t ManifestTask>,
    dests: &Stores,
    progress: &Progress,
    counters: &Counters,
    limit: usize,
) -> Result<()> {
    stream::iter(tasks)
        .map(|task| push_manifest(task, dests, progress, counters))
        .buffer_unordered(limit)
        .try_collect()
        .await
}

/// How often the number of transfers is reconsidered.
const TICK: Duration = Duration::from_secs(1);

/// What every blob transfer of a run shares.
#[derive(Clone, Copy)]
struct Transfers<'a> {
    sources: &'a Stores,
    dests: &'a Stores,
    progress: &'a Progress,
    counters: &'a Arc<Counters>,
}

impl Transfers<'_> {
    /// Copy the blobs (sorted largest first) in slots: slot `i` runs while `i` is below the
    /// allowed number. Two slots in three take the largest blob left and the third the
    /// smallest, so small blobs' round trips overlap with large blobs filling the link
    /// instead of all coming at the end, one after another.
    async fn copy_all(self, blobs: &[&BlobTask], concurrency: Concurrency) -> Result<()> {
        let queue = Mutex::new(blobs.iter().copied().collect::<VecDeque<_>>());
        let mut streams = Streams::new(concurrency);
        let (allow, allowed) = tokio::sync::watch::channel(streams.limit());
        let most = concurrency.transfers().1.min(blobs.len());
        let drained = tokio::sync::Notify::new();
        let slots = (0..most).map(|i| self.slot(i, &queue, &drained, allowed.clone()));
        let work = futures_util::future::try_join_all(slots);
        let adapt = async {
            let (mut at, mut moved, mut retried) = (Instant::now(), 0, self.dests.retries().retried());
            let mut peak = streams.limit();
            loop {
                tokio::time::sleep(TICK).await;
                let (now, bytes, retries) =
                    (Instant::now(), self.counters.moved.load(Ordering::Relaxed), self.dests.retries().retried());
                let queued = queue.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|b| b.size).sum();
                let sample = Sample {
                    bytes: bytes - moved,
                    elapsed: now - at,
                    queued,
                    retries: retries.saturating_sub(retried),
                };
                (at, moved, retried) = (now, bytes, retries);
                let before = streams.limit();
                let limit = streams.observe(sample);
                if limit != before {
                    peak = peak.max(limit);
                    self.progress.debug(&format!("blob transfers at once: {before} -> {limit} (peak {peak})"));
                    let _ = allow.send(limit);
                }
            }
        };
        tokio::select! {
            done = work => done.map(|_| ()),
            () = adapt => Ok(()),
        }
    }

    async fn slot(
        self,
        i: usize,
        queue: &Mutex<VecDeque<&BlobTask>>,
        drained: &tokio::sync::Notify,
        mut allowed: tokio::sync::watch::Receiver<usize>,
    ) -> Result<()> {
        loop {
            while i >= *allowed.borrow_and_update() {
                // A slot not allowed to run ends as soon as the queue is empty: it is told,
                // so the run does not wait out a tick for it.
                let told = drained.notified();
                tokio::pin!(told);
                told.as_mut().enable();
                if queue.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                    return Ok(());
                }
                tokio::select! {
                    _ = allowed.changed() => {}
                    () = told => {}
                    () = tokio::time::sleep(TICK) => {}
                }
            }
            let next = {
                let mut queue = queue.lock().unwrap_or_else(|p| p.into_inner());
                let next = if i % 3 == 2 { queue.pop_back() } else { queue.pop_front() };
                if queue.is_empty() {
                    drained.notify_waiters();
                }
                next
            };
            let Some(task) = next else { return Ok(()) };
            self.copy(task).await?;
        }
    }

    async fn copy(self, task: &BlobTask) -> Result<()> {
        copy_blob(task, self.sources, self.dests, self.progress, self.counters).await
    }
}

/// Copy one blob, starting it over on a transient failure (a connection cut mid-body, a 5xx
/// on the upload, bytes that arrived corrupted, a stall) while the blob's one retry budget
/// (`--retries` tries, shared with resumed downloads) lasts.
async fn copy_blob(
    task: &BlobTask,
    sources: &Stores,
    dests: &Stores,
    progress: &Progress,
    counters: &Arc<Counters>,
) -> Result<()> {
    let retries = dests.retries();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match copy_blob_once(task, sources, dests, progress, counters).await {
            Ok(()) => return Ok(()),
            Err(e) if is_transient(&e) && retries.take(task.digest.as_str()) => {
                retries.count();
                let wait = retries.policy().delay(attempt, None, crate::store::jitter());
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
    counters: &Arc<Counters>,
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
    if already_there(task, &dst, progress).await {
        counters.blobs_found.fetch_add(1, Ordering::Relaxed);
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
        let counters = counters.clone();
        blob.stream.inspect_ok(move |chunk| {
            bar.inc(chunk.len() as u64);
            counters.moved.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        })
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

/// Whether a blob the plan did not ask about is at the destination already, found by
/// starting its upload as a mount from the destination repository itself: a registry that
/// has it answers 201; one that lacks it, or does not mount, opens the upload session the
/// copy then uses (202), so no request is added. Any other answer is left to the upload.
async fn already_there(task: &BlobTask, dst: &AnyStore, progress: &Progress) -> bool {
    if !task.unasked || task.action != BlobAction::Copy {
        return false;
    }
    let repo = &task.to.repository;
    match dst.mount_blob(repo, &task.digest, repo).await {
        Ok(found) => {
            if found {
                progress.debug(&format!("{} was at {} already", task.digest, task.to.name()));
            }
            found
        }
        Err(e) => {
            progress.debug(&format!("asking {} for {} as a mount: {e:#}; uploading it", task.to.name(), task.digest));
            false
        }
    }
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
            let file = sources.get(&task.from).ok().and_then(|s| s.blob_file(&task.from.repository, &task.digest));
            let (place, permanent, hint) = match file {
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
