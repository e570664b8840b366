//! The library's handle on the caller's [`EventSink`]: the short calls the run makes
//! (`info`, `warn`, `debug`, `blob`, …), each sent on as one typed [`Event`]. It prints
//! nothing; what the user sees is the caller's business (see [`crate::events`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::events::{Event, EventSink};

/// Sends a run's events to its sink. Cheap to clone: clones share the sink and the blob ids.
#[derive(Clone)]
pub struct Progress {
    sink: Arc<dyn EventSink>,
    next_blob: Arc<AtomicU64>,
}

/// One blob transfer: its progress, and its end ([`BlobProgress::finish`] when stored; a
/// transfer dropped unfinished ends as failed).
pub(crate) struct BlobProgress {
    sink: Arc<dyn EventSink>,
    id: u64,
    stored: bool,
}

impl Progress {
    /// Send the events to `sink`.
    pub fn new(sink: Arc<dyn EventSink>) -> Progress {
        Progress { sink, next_blob: Arc::default() }
    }

    /// The copy begins: `blobs` blobs, `bytes` bytes.
    pub(crate) fn start_transfer(&self, blobs: usize, bytes: u64) {
        self.sink.emit(Event::TransferStarted { blobs, bytes });
    }

    /// What the run is doing.
    pub(crate) fn info(&self, message: &str) {
        self.sink.emit(Event::Info(message.to_string()));
    }

    /// Detail for `-v`.
    pub(crate) fn debug(&self, message: &str) {
        self.sink.emit(Event::Debug(message.to_string()));
    }

    /// Something the user should know even with `-q`.
    pub(crate) fn warn(&self, message: &str) {
        self.sink.emit(Event::Warning(message.to_string()));
    }

    /// A request to `host` failed (`why`) and is tried again after `wait`.
    pub(crate) fn retry(&self, host: &str, why: &str, wait: Duration) {
        self.sink.emit(Event::Retry { host: host.to_string(), why: why.to_string(), wait });
    }

    /// The download `what` broke off after `after` bytes and goes on from there.
    pub(crate) fn resumed(&self, what: String, after: u64, why: String, stalled: bool) {
        self.sink.emit(Event::Resumed { what, after, why, stalled });
    }

    /// Track one blob transfer of `size` bytes, shown as `label`.
    pub(crate) fn blob(&self, label: &str, size: u64) -> BlobProgress {
        let id = self.next_blob.fetch_add(1, Ordering::Relaxed);
        self.sink.emit(Event::BlobStarted { id, label: label.to_string(), size });
        BlobProgress { sink: self.sink.clone(), id, stored: false }
    }

    /// Every transfer has ended.
    pub(crate) fn finish(&self) {
        self.sink.emit(Event::TransferFinished);
    }
}

impl BlobProgress {
    /// `n` more bytes moved.
    pub(crate) fn inc(&self, n: u64) {
        self.sink.emit(Event::BlobProgress { id: self.id, bytes: n });
    }

    /// The blob is stored.
    pub(crate) fn finish(mut self) {
        self.stored = true;
    }
}

impl Drop for BlobProgress {
    fn drop(&mut self) {
        self.sink.emit(Event::BlobDone { id: self.id, stored: self.stored });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn collecting() -> (Progress, Arc<Mutex<Vec<Event>>>) {
        let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
        let store = seen.clone();
        let sink = move |e: Event| store.lock().expect("events lock").push(e);
        (Progress::new(Arc::new(sink)), seen)
    }

    #[test]
    fn a_blob_sends_its_start_progress_and_end_under_one_id() {
        let (progress, seen) = collecting();
        let first = progress.blob("aaaaaaaaaaaa", 10);
        let second = progress.blob("bbbbbbbbbbbb", 5);
        first.inc(4);
        first.finish();
        drop(second);
        let seen = seen.lock().expect("events lock");
        assert_eq!(
            *seen,
            [
                Event::BlobStarted { id: 0, label: "aaaaaaaaaaaa".into(), size: 10 },
                Event::BlobStarted { id: 1, label: "bbbbbbbbbbbb".into(), size: 5 },
                Event::BlobProgress { id: 0, bytes: 4 },
                Event::BlobDone { id: 0, stored: true },
                Event::BlobDone { id: 1, stored: false },
            ]
        );
    }

    #[test]
    fn messages_keep_their_kind() {
        let (progress, seen) = collecting();
        progress.info("i");
        progress.warn("w");
        progress.debug("d");
        let seen = seen.lock().expect("events lock");
        assert_eq!(*seen, [Event::Info("i".into()), Event::Warning("w".into()), Event::Debug("d".into())]);
    }
}
