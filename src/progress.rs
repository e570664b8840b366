//! What the user sees on stderr while a run goes: indicatif bars on a terminal, one plain
//! line per event otherwise, nothing but warnings with `-q`. Stdout is left for data.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Clone)]
pub enum Progress {
    Bars { multi: MultiProgress, overall: ProgressBar },
    Lines { verbose: u8 },
    Quiet,
}

/// Progress of one blob transfer.
pub struct BlobProgress {
    bar: Option<ProgressBar>,
    overall: Option<ProgressBar>,
}

impl Progress {
    /// Bars when stderr is a terminal (and `TERM` is not `dumb`), lines otherwise.
    pub fn new(quiet: bool, verbose: u8) -> Progress {
        if quiet {
            return Progress::Quiet;
        }
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        if !std::io::stderr().is_terminal() || dumb {
            return Progress::Lines { verbose };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(style("{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"));
        overall.set_prefix("total");
        Progress::Bars { multi, overall }
    }

    /// Set the total number of bytes the run will move.
    pub fn start_transfer(&self, blobs: usize, bytes: u64) {
        match self {
            Progress::Bars { overall, .. } => {
                overall.set_length(bytes);
                overall.enable_steady_tick(Duration::from_millis(200));
            }
            Progress::Lines { .. } => eprintln!("info: copying {blobs} blobs ({})", HumanBytes(bytes)),
            Progress::Quiet => {}
        }
    }

    /// A line of information (hidden with `-q`).
    pub fn info(&self, message: &str) {
        match self {
            Progress::Bars { multi, .. } => {
                let _ = multi.println(format!("info: {message}"));
            }
            Progress::Lines { .. } => eprintln!("info: {message}"),
            Progress::Quiet => {}
        }
    }

    /// Detail shown only with `-v`.
    pub fn debug(&self, message: &str) {
        if let Progress::Lines { verbose } = self {
            if *verbose > 0 {
                eprintln!("debug: {message}");
            }
        }
    }

    /// A warning: always shown, even with `-q`.
    pub fn warn(&self, message: &str) {
        match self {
            Progress::Bars { multi, .. } => {
                let _ = multi.println(format!("warning: {message}"));
            }
            _ => eprintln!("warning: {message}"),
        }
    }

    /// Track one blob transfer.
    pub fn blob(&self, label: &str, size: u64) -> BlobProgress {
        match self {
            Progress::Bars { multi, overall } => {
                let bar = multi.insert_before(overall, ProgressBar::new(size));
                bar.set_style(style("{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}"));
                bar.set_prefix(label.to_string());
                BlobProgress { bar: Some(bar), overall: Some(overall.clone()) }
            }
            _ => BlobProgress { bar: None, overall: None },
        }
    }

    /// Remove the bars before the summary is printed.
    pub fn finish(&self) {
        if let Progress::Bars { multi, overall } = self {
            overall.finish_and_clear();
            let _ = multi.clear();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

impl BlobProgress {
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
        if let Some(o) = &self.overall {
            o.inc(n);
        }
    }

    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
