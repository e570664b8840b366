//! Exit codes (docs/exit-codes.md) and the error markers that select them.

use crate::reference::ReferenceError;

/// Every exit code the tool uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
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
    /// Interrupted (Ctrl-C, SIGTERM, SIGHUP).
    Interrupted = 130,
}

/// A command-line misuse found after parsing (clap reports its own with code 2 too).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// An error that selects its own exit code. Displays as the wrapped error, whose causes
/// follow in the chain.
#[derive(Debug)]
pub struct Coded {
    pub code: Code,
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::error::Error for Coded {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

fn coded(code: Code, err: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
    anyhow::Error::new(Coded { code, inner: Box::new(err) })
}

/// No valid release signature, or none could be checked: nothing was copied ([`Code::Signature`]).
pub fn signature_failure(err: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
    coded(Code::Signature, err)
}

/// The cluster to apply the signature to could not be used; found before anything was
/// copied ([`Code::Cluster`]).
pub fn cluster_unusable(err: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
    coded(Code::Cluster, err)
}

/// The mirror completed, the signature ConfigMap was not applied (the reason was warned about).
#[derive(Debug, thiserror::Error)]
#[error("the release is mirrored, but {object} was not applied to cluster {cluster} (see the warning above)")]
pub struct NotApplied {
    pub object: String,
    pub cluster: String,
}

/// The run was interrupted by a signal; `cancelled_uploads` registry upload sessions that
/// were open were cancelled.
#[derive(Debug, thiserror::Error)]
#[error(
    "interrupted: stopped before finishing; temporary files were removed{}, run the same command again to resume",
    match cancelled_uploads { 0 => String::new(), n => format!(" and {n} open registry upload(s) cancelled") }
)]
pub struct Interrupted {
    pub cancelled_uploads: usize,
}

/// The exit code for an error: the first marker found in its chain, else a mirror failure.
pub fn code_for(err: &anyhow::Error) -> Code {
    for cause in err.chain() {
        if cause.is::<UsageError>() || cause.is::<ReferenceError>() {
            return Code::Usage;
        }
        if cause.is::<Interrupted>() {
            return Code::Interrupted;
        }
        if let Some(coded) = cause.downcast_ref::<Coded>() {
            return coded.code;
        }
        if cause.is::<NotApplied>() {
            return Code::NotApplied;
        }
    }
    Code::MirrorFailed
}

/// An error and its causes on one line (`outer: inner: innermost`), each text once: for
/// warnings and for the reasons listed inside a bigger message.
pub fn one_line(err: &dyn std::error::Error) -> String {
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
        let err = anyhow::Error::new(UsageError("bad".into())).context("outer");
        assert_eq!(code_for(&err), Code::Usage);
        let err = anyhow::anyhow!("disk full");
        assert_eq!(code_for(&err), Code::MirrorFailed);
        assert_eq!(code_for(&anyhow::Error::new(Interrupted { cancelled_uploads: 0 })), Code::Interrupted);
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
        let err = anyhow::Error::new(NotApplied { object: "configmap/x".into(), cluster: "https://c".into() });
        assert_eq!(code_for(&err), Code::NotApplied);
        let err = cluster_unusable(std::io::Error::other("no kubeconfig found")).context("cluster check");
        assert_eq!(code_for(&err), Code::Cluster);
        assert_eq!(render_chain(&err), "error: cluster check\n  caused by: no kubeconfig found");
    }

    #[test]
    fn renders_each_cause_once() {
        let err: anyhow::Result<()> = Err(std::io::Error::other("no space left")).context("failed to write blob x");
        let text = render_chain(&err.unwrap_err());
        assert_eq!(text, "error: failed to write blob x\n  caused by: no space left");
    }
}
