//! Exit codes (docs/exit-codes.md) and the error markers that select them.

use crate::reference::ReferenceError;

/// Every exit code the tool uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Everything asked for was done.
    Success = 0,
    /// The mirror failed: a registry, disk or payload error.
    MirrorFailed = 1,
    /// Bad flags or references.
    Usage = 2,
    /// No valid release signature (nothing was copied).
    Signature = 3,
    /// The release is mirrored, but the signature ConfigMap could not be applied to the cluster.
    NotApplied = 4,
    /// With --apply-release-image-signature: the cluster could not be used (kubeconfig, context,
    /// connection, credentials, the ConfigMap exists without --overwrite); nothing was copied.
    Cluster = 5,
    /// `--to-dir`: the plan does not fit in the free space of the target filesystem; no blob
    /// was written.
    NoSpace = 6,
    /// Interrupted (Ctrl-C, SIGTERM, SIGHUP).
    Interrupted = 130,
}

/// Why a run failed. Each kind has exactly one exit code, chosen in [`Failure::code`]: a new
/// kind does not compile until it has one. The kind is attached where the failure is known
/// ([`Failure::mark`]); [`failure_of`] reads it back, the one place that decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A registry, disk, payload or update-graph error.
    Mirror,
    /// Bad flags or references, found after parsing.
    Usage,
    /// No valid release signature; nothing was copied.
    Signature,
    /// Mirrored, but the signature ConfigMap was not applied.
    NotApplied,
    /// The cluster to apply to could not be used; nothing was copied.
    Cluster,
    /// The tree would not fit on its filesystem; found before any blob was written.
    NoSpace,
    /// Stopped by a signal.
    Interrupted,
}

impl Failure {
    /// The exit code of this kind of failure (docs/exit-codes.md).
    pub const fn code(self) -> Code {
        match self {
            Failure::Mirror => Code::MirrorFailed,
            Failure::Usage => Code::Usage,
            Failure::Signature => Code::Signature,
            Failure::NotApplied => Code::NotApplied,
            Failure::Cluster => Code::Cluster,
            Failure::NoSpace => Code::NoSpace,
            Failure::Interrupted => Code::Interrupted,
        }
    }

    /// `err`, marked as this kind of failure. It displays as `err`, whose causes follow.
    pub(crate) fn mark(self, err: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
        anyhow::Error::new(Marked { failure: self, inner: Box::new(err) })
    }
}

/// An error marked with its kind of failure; displays as the wrapped error.
#[derive(Debug)]
struct Marked {
    failure: Failure,
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl std::fmt::Display for Marked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::error::Error for Marked {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

/// The kind of failure `err` is: the first mark in its chain; a malformed reference is a
/// usage error wherever it was found; anything else is a mirror failure.
pub(crate) fn failure_of(err: &anyhow::Error) -> Failure {
    for cause in err.chain() {
        if let Some(marked) = cause.downcast_ref::<Marked>() {
            return marked.failure;
        }
        if cause.is::<ReferenceError>() {
            return Failure::Usage;
        }
    }
    Failure::Mirror
}

/// The exit code for an error.
pub fn code_for(err: &anyhow::Error) -> Code {
    failure_of(err).code()
}

/// A failed run: the error with its causes, and its kind (which gives the exit code).
#[derive(Debug)]
pub struct RunError {
    failure: Failure,
    error: anyhow::Error,
}

impl RunError {
    /// Its kind of failure.
    pub fn failure(&self) -> Failure {
        self.failure
    }

    /// The error and its chain of causes.
    pub fn error(&self) -> &anyhow::Error {
        &self.error
    }

    /// The error, to add context or print.
    pub fn into_error(self) -> anyhow::Error {
        self.error
    }
}

impl From<anyhow::Error> for RunError {
    fn from(error: anyhow::Error) -> RunError {
        RunError { failure: failure_of(&error), error }
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let inner: &(dyn std::error::Error + 'static) = self.error.as_ref();
        inner.source()
    }
}

/// A command-line misuse found after parsing (clap reports its own with code 2 too).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub String);

/// A usage error ([`Failure::Usage`], exit 2) saying `msg`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    Failure::Usage.mark(UsageError(msg.into()))
}

/// No valid release signature, or none could be checked: nothing was copied ([`Failure::Signature`]).
pub fn signature_failure(err: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
    Failure::Signature.mark(err)
}

/// The cluster to apply the signature to could not be used; found before anything was
/// copied ([`Failure::Cluster`]).
pub(crate) fn cluster_unusable(err: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
    Failure::Cluster.mark(err)
}

/// `--to-dir`: the plan does not fit on the target filesystem; found before any blob was
/// written ([`Failure::NoSpace`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "not enough space in {}: the transfer needs {needed} bytes ({}), the filesystem has {available} bytes \
     ({}) free; nothing was written: free some space or choose another --to-dir",
    dir.display(), indicatif::HumanBytes(*needed), indicatif::HumanBytes(*available)
)]
pub(crate) struct NoSpace {
    /// The `--to-dir` folder.
    pub(crate) dir: std::path::PathBuf,
    /// Bytes the plan writes there, in whole blocks.
    pub(crate) needed: u64,
    /// Bytes free for the writer.
    pub(crate) available: u64,
}

/// The mirror completed, the signature ConfigMap was not applied (the reason was warned about).
#[derive(Debug, thiserror::Error)]
#[error("the release is mirrored, but {object} was not applied to cluster {cluster} (see the warning above)")]
pub(crate) struct NotApplied {
    /// The object, `configmap/sha256-…`.
    pub(crate) object: String,
    /// The cluster's server URL.
    pub(crate) cluster: String,
}

/// The run was interrupted by a signal; `cancelled_uploads` registry upload sessions that
/// were open were cancelled.
#[derive(Debug, thiserror::Error)]
#[error(
    "interrupted: stopped before finishing; temporary files were removed{}, run the same command again to resume",
    match cancelled_uploads { 0 => String::new(), n => format!(" and {n} open registry upload(s) cancelled") }
)]
pub(crate) struct Interrupted {
    /// Open registry upload sessions cancelled on the way out.
    pub(crate) cancelled_uploads: usize,
}

/// An error and its causes on one line (`outer: inner: innermost`), each text once: for
/// warnings and for the reasons listed inside a bigger message.
pub(crate) fn one_line(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// The error and its causes, each once: `error: …` then `  caused by: …` lines.
pub fn render_chain(err: &anyhow::Error) -> String {
    let mut out = format!("error: {err}");
    let mut last = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !last.contains(&text) {
            out.push_str(&format!("\n  caused by: {text}"));
        }
        last = text;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn usage_markers_anywhere_in_the_chain_give_code_2() {
        let err = usage("bad").context("outer");
        assert_eq!(code_for(&err), Code::Usage);
        let err = anyhow::anyhow!("disk full");
        assert_eq!(code_for(&err), Code::MirrorFailed);
        let interrupted = Failure::Interrupted.mark(Interrupted { cancelled_uploads: 0 });
        assert_eq!(RunError::from(interrupted).failure().code(), Code::Interrupted);
    }

    #[test]
    fn signature_failures_give_code_3_and_render_their_causes_once() {
        let inner = std::io::Error::other("no valid signature");
        let err = signature_failure(inner).context("release check");
        assert_eq!(code_for(&err), Code::Signature);
        assert_eq!(render_chain(&err), "error: release check\n  caused by: no valid signature");
    }

    #[test]
    fn cluster_markers_give_codes_4_and_5() {
        let err = Failure::NotApplied.mark(NotApplied { object: "configmap/x".into(), cluster: "https://c".into() });
        assert_eq!(code_for(&err), Code::NotApplied);
        let err = cluster_unusable(std::io::Error::other("no kubeconfig found")).context("cluster check");
        assert_eq!(code_for(&err), Code::Cluster);
        assert_eq!(render_chain(&err), "error: cluster check\n  caused by: no kubeconfig found");
    }

    /// Every kind of failure, with a match that stops compiling when a kind is added.
    fn every_failure() -> Vec<Failure> {
        let all = vec![
            Failure::Mirror,
            Failure::Usage,
            Failure::Signature,
            Failure::NotApplied,
            Failure::Cluster,
            Failure::NoSpace,
            Failure::Interrupted,
        ];
        for f in &all {
            match f {
                Failure::Mirror
                | Failure::Usage
                | Failure::Signature
                | Failure::NotApplied
                | Failure::Cluster
                | Failure::NoSpace
                | Failure::Interrupted => {}
            }
        }
        all
    }

    #[test]
    fn every_kind_of_failure_has_its_own_documented_exit_code() {
        let doc = include_str!("../docs/exit-codes.md");
        let mut codes: Vec<u8> = every_failure().into_iter().map(|f| f.code() as u8).collect();
        for code in &codes {
            assert!(doc.contains(&format!("| {code} |")), "exit code {code} has no row in docs/exit-codes.md");
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), every_failure().len(), "two kinds of failure share an exit code");
    }

    #[test]
    fn renders_each_cause_once() {
        let err: anyhow::Result<()> = Err(std::io::Error::other("no space left")).context("failed to write blob x");
        let text = render_chain(&err.unwrap_err());
        assert_eq!(text, "error: failed to write blob x\n  caused by: no space left");
    }
}
