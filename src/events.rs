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
    /// The copy begins: this many blobs and bytes to move.
    TransferStarted { blobs: usize, bytes: u64 },
    /// The transfer of one blob begins. `id` names it in the events that follow; `label` is
    /// short (the first 12 hex digits of its digest).
    BlobStarted { id: u64, label: String, size: u64 },
    /// `bytes` more of blob `id` have moved.
    BlobProgress { id: u64, bytes: u64 },
    /// The transfer of blob `id` ended: `stored`, or failed (it may be tried again, under a
    /// new id).
    BlobDone { id: u64, stored: bool },
    /// Every transfer has ended (the copy succeeded or failed): nothing moves any more.
    TransferFinished,
    /// A request to `host` failed (`why`) and is tried again after `wait`.
    Retry { host: String, why: String, wait: Duration },
    /// A download (`what`: `blob repo@digest`) broke off after `after` bytes (`why`) and is
    /// asked for again from there. `stalled` when the source went silent or crawled (the
    /// link may be worth a look), not when the connection was cut.
    Resumed { what: String, after: u64, why: String, stalled: bool },
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
