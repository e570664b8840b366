//! What the library tells its caller while a run goes: typed [`Event`]s sent to the
//! [`EventSink`] the caller passes to [`crate::run::run`]. The library never writes to stderr
//! or stdout itself; the command line renders events (bars on a terminal, `info:` /
//! `warning:` / `debug:` lines otherwise, only warnings with `-q`), and another program may
//! log, collect or drop them.
//!
//! Events are sent from whichever task produced them, often several at once, and a blob's
//! progress many times a second: a sink returns quickly and never blocks on I/O that can
//! stall (a closed stderr is not an error worth failing a run for).

use std::sync::Arc;
use std::time::Duration;

/// One thing that happened during a run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The copy begins.
    TransferStarted {
        /// Blobs to move.
        blobs: usize,
        /// Bytes to move.
        bytes: u64,
    },
    /// The transfer of one blob begins.
    BlobStarted {
        /// Names this transfer in the events that follow.
        id: u64,
        /// Short name: the first 12 hex digits of the blob's digest.
        label: String,
        /// Bytes in the blob.
        size: u64,
    },
    /// More of a blob has moved.
    BlobProgress {
        /// The transfer ([`Event::BlobStarted`]).
        id: u64,
        /// Bytes moved since the last event.
        bytes: u64,
    },
    /// The transfer of a blob ended.
    BlobDone {
        /// The transfer ([`Event::BlobStarted`]).
        id: u64,
        /// Stored; `false` when it failed (it may be tried again, under a new id).
        stored: bool,
    },
    /// Every transfer has ended (the copy succeeded or failed): nothing moves any more.
    TransferFinished,
    /// A request failed and is tried again.
    Retry {
        /// The registry (`host[:port]`).
        host: String,
        /// What failed: `try 1 failed (503)`, a connection error, a cut download.
        why: String,
        /// How long the run waits before the next try.
        wait: Duration,
    },
    /// A download broke off and is asked for again from where it stopped.
    Resumed {
        /// `blob repo@digest`.
        what: String,
        /// Bytes received before the break.
        after: u64,
        /// Why it broke off.
        why: String,
        /// The source went silent or crawled (the link may be worth a look), rather than
        /// the connection being cut.
        stalled: bool,
    },
    /// What the run is doing (a release read, a blob copied, a signature verified).
    Info(String),
    /// Detail for `-v`.
    Debug(String),
    /// Something the user should know even when they asked for quiet: a check skipped, a
    /// step that failed without failing the run.
    Warning(String),
}

/// Where a run sends its [`Event`]s.
pub trait EventSink: Send + Sync {
    /// Take one event. Called from any task, often concurrently.
    fn emit(&self, event: Event);
}

/// A closure is a sink: `Arc::new(|event| log(event))`.
impl<F: Fn(Event) + Send + Sync> EventSink for F {
    fn emit(&self, event: Event) {
        self(event);
    }
}

/// A sink that drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl EventSink for Discard {
    fn emit(&self, _event: Event) {}
}

/// A sink that drops every event, ready to pass to [`crate::run::run`].
pub fn discard() -> Arc<dyn EventSink> {
    Arc::new(Discard)
}
