//! What the user sees on stderr while a run goes: the library's events rendered as indicatif
//! bars on a terminal (unless `TERM=dumb`), one plain `info:` / `warning:` / `debug:` line
//! per event otherwise, nothing but warnings with `-q`. Debug lines and retries need `-v`.
//! `-o json` changes stdout only. Stdout is left for data; no colour is used. A closed
//! stderr (`… 2>&1 | head -1`) loses the lines, never the run.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use release_mirror::events::{Event, EventSink};

/// Renders a run's events on stderr.
pub enum Renderer {
    Bars(Bars),
    Lines { verbose: bool },
    Quiet,
}

/// The bars of a terminal: one per blob in flight, above a total.
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    blobs: Mutex<HashMap<u64, ProgressBar>>,
    verbose: bool,
}

impl Renderer {
    /// Quiet with `-q`; bars when stderr is a terminal (and `TERM` is not `dumb`); lines
    /// otherwise. `verbose` is the count of `-v`.
    pub fn new(quiet: bool, verbose: u8) -> Renderer {
        let verbose = verbose > 0;
        if quiet {
            return Renderer::Quiet;
        }
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        if !std::io::stderr().is_terminal() || dumb {
            return Renderer::Lines { verbose };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(style("{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"));
        overall.set_prefix("total");
        Renderer::Bars(Bars { multi, overall, blobs: Mutex::default(), verbose })
    }

    /// Remove the bars (before the summary or the error is printed).
    pub fn clear(&self) {
        if let Renderer::Bars(bars) = self {
            bars.clear();
        }
    }
}

impl EventSink for Renderer {
    fn emit(&self, event: Event) {
        match self {
            Renderer::Bars(bars) => bars.show(event),
            Renderer::Lines { verbose } => {
                if let Some(text) = line_for(&event, *verbose) {
                    line(&text);
                }
            }
            Renderer::Quiet => {
                if let Event::Warning(message) = event {
                    line(&format!("warning: {message}"));
                }
            }
        }
    }
}

impl Bars {
    fn show(&self, event: Event) {
        match event {
            Event::TransferStarted { bytes, .. } => {
                self.overall.set_length(bytes);
                self.overall.enable_steady_tick(Duration::from_millis(200));
            }
            Event::BlobStarted { id, label, size } => {
                let bar = self.multi.insert_before(&self.overall, ProgressBar::new(size));
                bar.set_style(style("{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}"));
                bar.set_prefix(label);
                self.blobs().insert(id, bar);
            }
            Event::BlobProgress { id, bytes } => {
                if let Some(bar) = self.blobs().get(&id) {
                    bar.inc(bytes);
                }
                self.overall.inc(bytes);
            }
            Event::BlobDone { id, .. } => {
                if let Some(bar) = self.blobs().remove(&id) {
                    bar.finish_and_clear();
                }
            }
            Event::TransferFinished => self.clear(),
            other => {
                if let Some(text) = line_for(&other, self.verbose) {
                    // A terminal gone away is not worth failing the run for.
                    let _ = self.multi.println(text);
                }
            }
        }
    }

    fn blobs(&self) -> std::sync::MutexGuard<'_, HashMap<u64, ProgressBar>> {
        self.blobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn clear(&self) {
        for (_, bar) in self.blobs().drain() {
            bar.finish_and_clear();
        }
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }
}

/// The line an event prints without bars, or `None` when it prints none (blob progress;
/// debug lines and retries without `-v`; a resume after a cut, which `-v` shows as a retry).
pub fn line_for(event: &Event, verbose: bool) -> Option<String> {
    match event {
        Event::TransferStarted { blobs, bytes } => {
            Some(format!("info: copying {blobs} blobs ({})", HumanBytes(*bytes)))
        }
        Event::Info(message) => Some(format!("info: {message}")),
        Event::Warning(message) => Some(format!("warning: {message}")),
        Event::Debug(message) if verbose => Some(format!("debug: {message}")),
        Event::Retry { host, why, wait } if verbose => {
            Some(format!("debug: {host}: {why}; retrying in {} ms", wait.as_millis()))
        }
        Event::Resumed { what, after, why, stalled: true } => {
            Some(format!("warning: {what} {why} after {after} bytes; resuming"))
        }
        _ => None,
    }
}

/// Write one line to stderr. A closed or full stderr loses it: the run goes on, as a closed
/// stdout does not fail it either.
pub fn line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}").and_then(|()| err.flush());
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_lines_and_retries_need_verbose() {
        let retry =
            Event::Retry { host: "r:5000".into(), why: "try 1 failed (503)".into(), wait: Duration::from_millis(250) };
        assert_eq!(line_for(&retry, false), None);
        assert_eq!(line_for(&retry, true).as_deref(), Some("debug: r:5000: try 1 failed (503); retrying in 250 ms"));
        assert_eq!(line_for(&Event::Debug("d".into()), false), None);
        assert_eq!(line_for(&Event::Debug("d".into()), true).as_deref(), Some("debug: d"));
    }

    #[test]
    fn a_stalled_download_warns_and_a_cut_one_does_not() {
        let resumed =
            |stalled| Event::Resumed { what: "blob a@sha256:1".into(), after: 7, why: "stalled".into(), stalled };
        assert_eq!(
            line_for(&resumed(true), false).as_deref(),
            Some("warning: blob a@sha256:1 stalled after 7 bytes; resuming")
        );
        assert_eq!(line_for(&resumed(false), true), None);
    }

    #[test]
    fn the_transfer_start_says_how_much() {
        let start = Event::TransferStarted { blobs: 3, bytes: 3 << 20 };
        assert_eq!(line_for(&start, false).as_deref(), Some("info: copying 3 blobs (3.00 MiB)"));
        assert_eq!(line_for(&Event::BlobProgress { id: 0, bytes: 1 }, true), None);
    }
}
